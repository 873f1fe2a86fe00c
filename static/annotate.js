// The annotator app: one item at a time, labelled by keyboard (or mouse), over the annotate
// socket. Nothing an annotator does is lost to a flaky network or a server restart: every
// label waits in an outbox (kept in localStorage too) until its ack, and the outbox is sent
// again, with the original label_ids, after each reconnect. A label is one deliberate act: its
// number key, or a click; Space and Enter never label, so a stray key teaches the model nothing.
// In a multilabel project the answer is a set: the keys toggle labels, and the set goes by one
// deliberate act, Enter or Submit (or 0, "none of these", for the empty set). In an item's
// first moments nothing answers it: the second press of a double one is not an answer to the
// item that appeared in between. In a span project the answer is the text's spans: the model's
// come already in it, to keep, change or remove; words are selected and labelled by mouse,
// touch or keys (spans.js), and the whole set goes by Enter or Submit.
import { DEFAULT_THRESHOLD, LabelSet, SET_KEYS, probabilityText, sharePercent } from "/static/labelset.js";
import { SpanEditor } from "/static/spans.js";
import { BRIEF_SPANS, spansText } from "/static/spantext.js";
import { expandable } from "/static/spanview.js";
import { describe, showGuidelines } from "/static/guidelines.js";
import { recentRows } from "/static/recent.js";
import { SkipChooser } from "/static/skipping.js";
import {
  $, FirstLook, answerField, answerText, backoff, el, hello, join, reconnecting, renderData, sameAnswer,
  setStatus,
} from "/static/lib.js";

const params = new URLSearchParams(location.search);
const project = params.get("project");
const annotator = params.get("annotator");

const state = {
  send: null, // sends a message on the open connection, if there is one
  labels: [],
  task: "classify", // or "multilabel": an answer is then a set of labels; or "spans"
  preselect: false, // multilabel: the model's predicted labels come already selected
  hideSuggestion: false, // the project shows annotators no suggestion (against anchoring)
  thresholds: {}, // multilabel: the labels with a threshold of their own (the others have 0.5)
  current: null, // {item, expiresAt}
  stashed: null, // the item put aside while correcting
  skipped: null, // the item just skipped ({item, expiresAt}), until the next item comes
  correcting: null, // the history entry being corrected
  history: [], // this annotator's answers (the server's recent ones too), newest last: {item, answer, labelId, acked, comment}
  project: null, // the project as the hello (or a later project frame) gave it
  connection: "connecting", // the socket's state, as the status pill shows it
  statusText: "connecting…",
  queueEmpty: false, // the server said it has no item for us (an idle frame), and sent none since
  retry: null, // the timer that sends refused labels again
  retryAttempt: 0, // refusals in a row: the backoff's exponent
  retrying: new Set(), // label_ids the server asked to be sent again
};
// The item on screen takes no answer in its first moments (a double press's second press).
const firstLook = new FirstLook($("item"));
// A multilabel project's toggles, Submit and None of these (used once hello says the task).
const picker = new LabelSet({ group: $("labels"), actions: $("set-actions"), submit: choose, say: notice, firstLook });
// A span project's editor, made once hello says the task (it takes over the picker's places).
let editor = null;
// The reasons row a skip opens (skipping.js).
const skipper = new SkipChooser({ row: $("skip-reasons"), skip: (reason) => skipWith(reason) });
// A comment on the item, sent with its answer: C (or Comment) opens the box, Esc goes back to
// the item and keeps what was written.
const comment = {
  reset(text = "") { $("comment").value = text ?? ""; $("comment-row").hidden = !text; },
  text() { return $("comment-row").hidden ? "" : $("comment").value.trim(); },
  open() { $("comment-row").hidden = false; $("comment").focus(); },
};
// Enter (or Esc) goes back to the item, keeping the comment; Shift+Enter starts a new line.
$("comment").addEventListener("keydown", (event) => {
  if (event.key === "Escape" || (event.key === "Enter" && !event.shiftKey)) {
    event.preventDefault();
    $("content").focus();
  }
});
// How many of one's answers the page keeps to correct, and how many the recent list shows.
const HISTORY = 50;
const RECENT_SHOWN = 20;

const outboxKey = `streamloop:outbox:${project}:${annotator}`;
const outbox = new Map(JSON.parse(localStorage.getItem(outboxKey) ?? "[]"));
// The session's count lasts as long as the tab: leaving the page and coming back keeps it.
const doneKey = `streamloop:done:${project}:${annotator}`;
let done = Number(sessionStorage.getItem(doneKey) ?? 0);

function saveOutbox() {
  localStorage.setItem(outboxKey, JSON.stringify([...outbox]));
  $("pending").textContent = outbox.size;
  status(state.connection, state.statusText);
}

function countDone() {
  sessionStorage.setItem(doneKey, String(++done));
  $("done").textContent = done;
}

// A notice says what just happened; one of a passing kind goes once it stops being true: "still
// being saved" at the ack, a word on the item before at the next answer or skip.
function notice(text, kind = "") {
  $("notice").textContent = text;
  $("notice").dataset.kind = kind;
  $("notice").hidden = !text;
}

function endNotice(...kinds) {
  if (kinds.includes($("notice").dataset.kind)) notice("");
}

// The status line: the connection's state, and while there is none, the answers kept on this
// device until there is.
function status(connection, text) {
  state.connection = connection;
  state.statusText = text;
  const kept = outbox.size && connection !== "connected"
    ? ` · ${outbox.size} answer${outbox.size === 1 ? "" : "s"} kept on this device, sent once connected` : "";
  setStatus(connection, `${text}${kept}`);
  idle();
}

function send(message) {
  state.send?.(message);
}

/** Whether this page answered the item, and the answer waits in the outbox. */
function answeredHere(itemId) {
  return [...outbox.values()].some((message) => message.type === "label" && message.item_id === itemId);
}

function flushOutbox() {
  for (const message of outbox.values()) send(message);
}

// -- showing an item ----------------------------------------------------------------------

// The model's suggestion is shown only once its record says it beats a guess (the server's
// `track_record.trusted`: after a handful of labels a model is often "sure" and wrong, and an
// annotator shown a suggestion tends to copy it), and never in a project that hides it. Its
// words are its record on the items annotators answered lately, not its own probability.
const suggesting = (item) => !state.hideSuggestion && item.track_record?.trusted === true;

function recordText({ right, of }) {
  return `right on ${right} of the last ${of} item${of === 1 ? "" : "s"} answered`;
}

function renderSuggestion(item) {
  if (state.hideSuggestion) return [el("span", { class: "quiet" }, "No model suggestion in this project: answer from the item alone.")];
  if (state.correcting) return []; // the answer being corrected is the annotator's own
  if (!suggesting(item)) {
    const record = item.track_record;
    const so = record?.of ? ` (so far ${recordText(record)})` : "";
    return [el("span", { class: "quiet", "data-testid": "no-suggestion" },
      `No suggestion yet: the model shows one once it is right clearly more often than a guess${so}.`)];
  }
  const track = el("span", { class: "track", "data-testid": "track-record" }, ` · ${recordText(item.track_record)}`);
  if (state.task === "multilabel") return renderSetSuggestion(item, track);
  if (state.task === "spans") return renderSpanSuggestion(item, track);
  return [el("span", {}, "Model suggests "), el("b", { "data-testid": "suggested" }, item.prediction), track];
}

// A set's suggestion: the labels the model predicts; on each toggle, the label's own
// probability (and its threshold, when not the default), and a badge on those suggested.
function renderSetSuggestion(item, track) {
  return [
    el("span", {}, state.preselect ? "Selected as the model predicts: " : "Model suggests "),
    el("b", { "data-testid": "suggested" }, answerText(item.labels)), track,
  ];
}

// The model's spans are in the answer already, marked in the text. One line of text, wrapped
// as text is; a long text's many spans are named by the first few, and the line opens to all
// of them, so that it never pushes the labels and Submit out of sight.
function renderSpanSuggestion(item, track) {
  if (!item.spans.length) return [el("span", {}, "The model found no span here"), track];
  const line = ["Model suggests ",
    el("b", { "data-testid": "suggested" }, spansText(item.spans, item.data.text, BRIEF_SPANS)),
    ", marked dashed in the text: keep, change or remove them", track];
  if (item.spans.length <= BRIEF_SPANS) return [el("span", {}, ...line)];
  return [expandable(line, spansText(item.spans, item.data.text))];
}

// The editor starts from the model's spans, or from the answer being corrected.
function showSpans(item) {
  const { correcting } = state;
  editor.show($("content"), {
    text: item.data.text,
    labels: state.labels,
    tokens: item.tokens ?? null,
    spans: correcting ? correcting.answer : suggesting(item) ? item.spans ?? [] : [],
    origin: correcting ? null : "suggested",
  });
  if (correcting) {
    $("correcting").textContent = `Correcting your answer: ${said(correcting)}. Change it and submit, or keep it as it was (Esc).`;
  }
}

/** An answer of this session in words. */
function said(entry) {
  return state.task === "spans" ? spansText(entry.answer, entry.item.data.text) : answerText(entry.answer);
}

const threshold = (label) => state.thresholds[label] ?? DEFAULT_THRESHOLD;

function probabilityHint(label, p) {
  const t = sharePercent(threshold(label));
  return {
    text: probabilityText(p, threshold(label)),
    title: `The model's probability that “${label}” applies; it suggests the label when this is above ${t}.`,
  };
}

function showSet(item) {
  const { correcting } = state;
  const shown = !correcting && suggesting(item);
  const pressed = correcting ? correcting.answer : state.preselect && shown ? item.labels ?? [] : [];
  const hints = shown && item.labels && item.probabilities
    ? Object.fromEntries(Object.entries(item.probabilities).map(([label, p]) => [label, probabilityHint(label, p)]))
    : {};
  const mark = {
    labels: shown ? item.labels ?? [] : [],
    text: "suggested",
    title: "The model suggests this label: its probability is above the label's threshold.",
  };
  picker.show(state.labels, { pressed, hints, mark });
  if (correcting) {
    $("correcting").textContent = `Correcting your answer “${answerText(correcting.answer)}”: change it and submit, or keep it as it was (Esc).`;
  }
}

function show(item, expiresAt) {
  state.current = { item, expiresAt };
  $("idle").hidden = true;
  $("waiting").hidden = true;
  $("expired").hidden = true;
  $("item").hidden = false;
  $("item").inert = false;
  $("item").classList.remove("expired");
  skipper.row.hidden = true;
  comment.reset(state.correcting?.comment);
  $("item").dataset.itemId = item.id;
  $("content").replaceChildren(renderData(item.data));
  $("suggestion").replaceChildren(...renderSuggestion(item));
  $("correcting").hidden = !state.correcting;
  if (state.task === "multilabel") showSet(item);
  else if (state.task === "spans") showSpans(item);
  else showChoices(item);
  describeLabels();
  firstLook.start();
  actions();
  // Focus on the item itself, never on a label button: a key meant for something else must
  // not label the item that just appeared. A tall item (many fields) opens at its top.
  $("content").focus({ preventScroll: true });
  const top = $("item").getBoundingClientRect().top;
  if (top < 0 || top > innerHeight / 2) $("item").scrollIntoView({ block: "start" });
  tick();
}

// Each label button says what its label means (the project's label_descriptions), on hover
// and to a screen reader; the guidelines panel lists them all, for a touch screen.
function describeLabels() {
  for (const button of $("labels").querySelectorAll("button[data-label]")) {
    const description = describe(state.project, button.dataset.label);
    if (!description || button.title.startsWith(description)) continue;
    button.title = button.title ? `${description}\n${button.title}` : description;
    button.setAttribute("aria-description", description);
  }
}

function showChoices(item) {
  const chosen = state.correcting?.answer;
  $("labels").replaceChildren(...state.labels.map((label, i) => el("button", {
    type: "button",
    class: ["label", label === item.prediction && suggesting(item) && !chosen ? "suggested" : "", label === chosen ? "chosen" : ""].join(" "),
    "data-label": label,
    // A click does not leave the button focused, where a later Space or Enter would find it.
    onmousedown: (event) => event.preventDefault(),
    onclick: (event) => { if (!firstLook.early(event)) choose(label); },
    "aria-keyshortcuts": SET_KEYS[i] ?? null,
  }, ...(SET_KEYS[i] ? [el("kbd", {}, SET_KEYS[i].toUpperCase()), " "] : []), label,
  label === item.prediction && suggesting(item) && !chosen ? el("span", { class: "badge" }, "suggested") : null)));
  if (state.correcting) {
    $("correcting").textContent = `Correcting your label “${chosen}”: choose the right one, or keep it as it was (Esc).`;
  }
}

function clearItem() {
  picker.freeze();
  editor?.freeze();
  state.current = null;
  skipper.row.hidden = true;
  $("item").hidden = true;
  $("lease").hidden = true;
}

// A lease ran out: the item stays on screen, read-only, under the card that says so, with its
// Continue focused (Enter), so that nothing vanishes mid-read.
function expire() {
  picker.freeze();
  editor?.freeze();
  state.current = null;
  skipper.row.hidden = true;
  $("item").inert = true;
  $("item").classList.add("expired");
  $("lease").hidden = true;
  $("expired").hidden = false;
  $("resume").focus();
}

// The buttons for what the keys S, U and Esc do, for a touch screen: Skip while an item is
// being answered, Keep my answer while one is corrected, Undo once there is an answer.
function actions() {
  $("skip").hidden = Boolean(state.correcting);
  $("cancel-undo").hidden = !state.correcting;
  $("undo").hidden = Boolean(state.correcting);
  for (const id of ["undo", "idle-undo"]) $(id).disabled = !state.history.length;
  showRecent();
}

// Between two items: the empty-queue card only once the server has said so (its idle frame)
// on a live connection; until then the next item is on its way, and a quiet line holds the
// place (style.css shows it only when the wait is long enough to notice). Without a
// connection, the line says so: no item comes until it is back.
function idle() {
  if (state.current || !$("expired").hidden || !$("item").hidden) return;
  const online = state.connection === "connected";
  $("idle").hidden = !(online && state.queueEmpty);
  $("waiting").hidden = online && state.queueEmpty;
  $("waiting").dataset.state = online ? "waiting" : "offline";
  $("waiting").textContent = online ? "The next item is on its way…"
    : "Not connected: the next item comes once the server is back. Nothing you answered is lost.";
}

// -- labelling ----------------------------------------------------------------------------

/**
 * Answer the item on screen: a label, or (multilabel) a set of them, in the project's order, or
 * (spans) its spans, in text order.
 */
function choose(answer) {
  if (!state.current) return;
  const { item } = state.current;
  const field = answerField(answer, state.task);
  let message;
  const note = comment.text();
  if (state.correcting) {
    const entry = state.correcting;
    if (sameAnswer(answer, entry.answer) && note === (entry.comment ?? "")) { cancelCorrection(); return; }
    message = { type: "correct", corrects: entry.labelId, [field]: answer, label_id: crypto.randomUUID() };
    entry.answer = answer;
    entry.labelId = message.label_id;
    entry.acked = false;
    entry.comment = note;
  } else {
    message = { type: "label", item_id: item.id, [field]: answer, label_id: crypto.randomUUID() };
    state.history.push({ item, answer, labelId: message.label_id, acked: false, comment: note });
    state.history = state.history.slice(-HISTORY);
  }
  if (note) message.comment = note;
  endNotice("passing", "refused");
  outbox.set(message.label_id, message);
  saveOutbox();
  send(message);
  const wasCorrecting = Boolean(state.correcting);
  state.correcting = null;
  clearItem();
  actions();
  if (wasCorrecting) restoreStashed(); else idle();
}

function undo() {
  const entry = state.history.at(-1);
  if (!entry) { notice("Nothing to undo yet.", "passing"); return; }
  correct(entry);
}

/** Bring back one of this annotator's answers (the last, or any in the recent list) to change. */
function correct(entry) {
  if (!entry.acked) { notice("That answer is still being saved; change it once it is.", "saving"); return; }
  if (state.current && !state.correcting) state.stashed = state.current;
  state.correcting = entry;
  notice("");
  show(entry.item, null);
}

function showRecent() {
  const entries = state.history.slice(-RECENT_SHOWN);
  $("recent").hidden = !entries.length;
  $("recent-count").textContent = `(${entries.length})`;
  // Drawn again on each ack and item: the focus stays on the row it was on.
  const focused = document.activeElement?.closest?.("#recent-list li")?.dataset.itemId;
  $("recent-list").replaceChildren(...recentRows(entries, { said, correct, correcting: state.correcting }));
  if (focused) $("recent-list").querySelector(`li[data-item-id="${CSS.escape(focused)}"] button`)?.focus();
}

/** The server's list of this annotator's recent answers, joined with this page's. */
function recalled(labels) {
  const field = state.task === "spans" ? "spans" : state.task === "multilabel" ? "labels" : "label";
  // One entry an item: the page's own (newer, or still on its way) over the server's.
  const known = new Set(state.history.map((entry) => entry.item.id));
  const older = labels.filter((label) => !known.has(label.item.id)).reverse().map((label) => ({
    item: label.item, answer: label[field], labelId: label.label_id, acked: true, comment: label.comment ?? "",
  }));
  state.history = [...older, ...state.history].slice(-HISTORY);
  actions();
}

function cancelCorrection() {
  state.correcting = null;
  clearItem();
  restoreStashed();
}

function restoreStashed() {
  const stashed = state.stashed;
  state.stashed = null;
  if (stashed) show(stashed.item, stashed.expiresAt); else idle();
}

function skip() {
  if (!state.current || state.correcting) return;
  if (state.connection !== "connected") {
    notice("A skip needs the server: answer the item, or skip it once connected again.", "passing");
    return;
  }
  skipper.open();
}

// The item skipped stays known until the next item comes: a skip the server refuses brings
// it back.
function skipWith(reason) {
  if (!state.current || state.correcting) return;
  state.skipped = state.current;
  send({ type: "skip", item_id: state.current.item.id, ...(reason ? { reason } : {}) });
  endNotice("passing", "refused");
  clearItem();
  idle();
}

function resume() {
  $("expired").hidden = true;
  $("item").hidden = true;
  $("item").inert = false;
  $("item").classList.remove("expired");
  send({ type: "resume" });
  idle();
}

// -- the lease's time left ------------------------------------------------------------------

function tick() {
  const expiresAt = state.correcting ? null : state.current?.expiresAt;
  $("lease").hidden = !expiresAt;
  if (!expiresAt) return;
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  $("lease-left").textContent = left >= 60 ? `${Math.floor(left / 60)} min ${left % 60} s` : `${left} s`;
  $("lease").classList.toggle("urgent", left < 20);
}
setInterval(tick, 1000);

// -- the socket -----------------------------------------------------------------------------

// A refusal says itself whether sending the same message again may succeed (`retryable`): the
// page decides from that alone, so a new error code never needs a new page.
function refused(message) {
  if (message.item_id && !message.label_id && state.skipped?.item.id === message.item_id) {
    const { item, expiresAt } = state.skipped;
    state.skipped = null;
    if (!state.current && !state.correcting) show(item, expiresAt);
    notice(`Your skip was not saved: ${sentence(message.message)} Skip it again, or answer it.`, "refused");
    return;
  }
  if (message.retryable === true) {
    notice(`${sentence(message.message)} Your labels are kept and sent again.`, "retrying");
    if (message.label_id) state.retrying.add(message.label_id);
    else for (const labelId of outbox.keys()) state.retrying.add(labelId);
    if (!state.retry) state.retry = setTimeout(retry, backoff(state.retryAttempt++));
    return;
  }
  const entry = state.history.find((h) => h.labelId === message.label_id);
  if (message.label_id && outbox.delete(message.label_id)) {
    // Refused for good (someone else labelled the item, say): never sent again.
    saveOutbox();
    state.history = state.history.filter((h) => h.labelId !== message.label_id);
    actions();
    const what = entry ? said(entry) : "";
    notice(`Your ${Array.isArray(entry?.answer) ? "answer" : "label"} “${what}” was not saved: ${message.message}`, "refused");
  } else {
    notice(message.message, "refused");
  }
}

/** A server's message as a sentence, so that another can follow it. */
function sentence(text) {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function retry() {
  state.retry = null;
  const labelIds = [...state.retrying];
  state.retrying.clear();
  for (const labelId of labelIds) {
    const message = outbox.get(labelId);
    if (message) send(message);
  }
}

function acked(message) {
  if (!outbox.delete(message.label_id)) return;
  saveOutbox();
  state.retryAttempt = 0;
  state.retrying.delete(message.label_id);
  const entry = state.history.find((h) => h.labelId === message.label_id);
  if (entry) entry.acked = true;
  if (!message.corrects) {
    countDone();
    const all = Number($("labelled").textContent);
    if (Number.isFinite(all)) $("labelled").textContent = all + 1;
  }
  if (!outbox.size) endNotice("retrying");
  endNotice("saving");
  actions();
}

function welcome(projectRecord) {
  state.project = projectRecord;
  state.preselect = projectRecord.preselect === true;
  state.thresholds = projectRecord.thresholds ?? {};
  state.hideSuggestion = projectRecord.hide_suggestion === true;
  showGuidelines(projectRecord);
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      Object.assign(state, hello(message, "annotator"));
      if (state.task === "spans") {
        editor ??= new SpanEditor({ group: $("labels"), actions: $("set-actions"), submit: choose, say: notice, firstLook });
      }
      welcome(message.project);
      if (typeof message.labelled === "number") $("labelled").textContent = message.labelled;
      send({ type: "recent", limit: HISTORY });
      break;
    case "project":
      welcome(message.project);
      // What the item on screen shows of the project (its suggestion, what labels mean), anew;
      // the answer being made stays.
      if (state.current && !state.correcting) {
        $("suggestion").replaceChildren(...renderSuggestion(state.current.item));
        if (state.task === "classify") showChoices(state.current.item);
        describeLabels();
      }
      break;
    case "recent":
      recalled(message.labels ?? []);
      break;
    case "item": {
      state.queueEmpty = false;
      state.skipped = null;
      const expiresAt = Date.parse(message.lease_expires_at);
      const held = state.correcting ? state.stashed : state.current;
      // The item on screen offered again (after a reconnect): a new lease, and the work on it
      // (toggles, spans, a comment) stays as it is.
      if (held?.item.id === message.item.id) { held.expiresAt = expiresAt; tick(); break; }
      // An item answered here whose answer is still on its way is not shown again: its ack
      // follows, then the next item.
      if (answeredHere(message.item.id)) break;
      if (state.correcting) state.stashed = { item: message.item, expiresAt };
      else show(message.item, expiresAt);
      break;
    }
    case "idle":
      state.queueEmpty = true;
      idle();
      break;
    case "ack":
      acked(message);
      break;
    case "lease_expired":
    case "lease_revoked":
      if (state.current?.item.id === message.item_id && !state.correcting) {
        if (message.type === "lease_expired") expire();
        else { clearItem(); notice("Someone else labelled that item; here is the next one.", "passing"); idle(); }
      } else if (state.stashed?.item.id === message.item_id) {
        state.stashed = null;
      }
      break;
    case "error":
      refused(message);
      break;
    default:
      break;
  }
}

function connect() {
  const query = new URLSearchParams({ annotator });
  state.send = reconnecting(`/ws/projects/${encodeURIComponent(project)}/annotate?${query}`, {
    opened() {
      // The whole outbox goes again, the labels waiting for a retry with it.
      clearTimeout(state.retry);
      state.retry = null;
      state.retrying.clear();
      // A notice of why the last connection failed is no longer true.
      endNotice("retrying");
      flushOutbox();
    },
    message: onMessage,
    status,
    lost() {
      // The server hands our lease back when we go. The item stays on screen so the work goes
      // on: a label given now waits in the outbox and is sent on reconnecting (it is accepted
      // unless someone else labelled the item meanwhile). Whatever the server sends next
      // replaces it.
      if (state.current) state.current.expiresAt = null;
      // Whether the queue is empty is the next server's to say.
      state.queueEmpty = false;
      tick();
    },
  });
}

// Space and Enter would activate a label button that has focus (reached with Tab, say): on one,
// they do nothing but say which key labels. All three events, as browsers activate a button on
// keydown, keypress or keyup.
const ACTIVATING_KEYS = new Set([" ", "Spacebar", "Enter"]);
for (const type of ["keydown", "keypress", "keyup"]) {
  window.addEventListener(type, (event) => {
    if (state.task === "multilabel") { picker.guard(event, type); return; }
    if (state.task === "spans") { editor?.guard(event, type); return; }
    const button = event.target.closest?.("#labels button");
    if (!button || !ACTIVATING_KEYS.has(event.key)) return;
    event.preventDefault();
    if (type !== "keydown" || event.repeat) return;
    const key = SET_KEYS[state.labels.indexOf(button.dataset.label)];
    notice(`${key ? `Press ${key.toUpperCase()}` : "Click or tap it"} to label “${button.dataset.label}”: Space and Enter never label.`);
  }, { capture: true });
}

// Skip, Undo and Keep my answer, by touch or click, as their keys; a click leaves none focused.
const BUTTONS = {
  skip, undo, "idle-undo": undo, "comment-open": () => comment.open(),
  "cancel-undo": () => { if (state.correcting) cancelCorrection(); },
};
for (const [id, act] of Object.entries(BUTTONS)) {
  $(id).addEventListener("mousedown", (event) => event.preventDefault());
  $(id).addEventListener("click", act);
}

document.addEventListener("keydown", (event) => {
  if ($("work").hidden || event.target.closest?.("input, select, textarea")) return;
  if (skipper.key(event)) return;
  // Enter or Space on one of those buttons, reached with Tab, presses it and nothing else.
  if (ACTIVATING_KEYS.has(event.key) && event.target.closest?.("#item-actions button, #idle-undo")) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  const n = SET_KEYS.indexOf(key); // a classify project's label, by the keys a set's toggles use
  if (key === "enter" && !$("expired").hidden) { event.preventDefault(); resume(); }
  else if (state.task === "multilabel") { if (!picker.key(event)) other(key, event); }
  else if (state.task === "spans") { if (!editor?.key(event)) other(key, event); }
  else if (n >= 0 && n < state.labels.length) {
    event.preventDefault();
    if (!event.repeat && !firstLook.early(event)) choose(state.labels[n]);
  }
  else other(key, event);
});

// The keys every task shares.
function other(key, event) {
  if (key === "s") skip();
  else if (key === "u") undo();
  else if (key === "c" && state.current) { event.preventDefault(); comment.open(); }
  else if (key === "g" && !$("guidelines").hidden) $("guidelines").open = !$("guidelines").open;
  else if (key === "escape" && state.correcting) cancelCorrection();
}
$("resume").addEventListener("click", resume);

// -- arriving: by a link that carries project and annotator, or through the form -------------


if (project && annotator) {
  $("project").textContent = project;
  $("who").textContent = annotator;
  $("crumb").replaceChildren(el("a", { href: `/static/dashboard.html?project=${encodeURIComponent(project)}` }, "dashboard"));
  $("work").hidden = false;
  $("done").textContent = done;
  saveOutbox();
  actions();
  connect();
} else {
  setStatus("offline", "not connected");
  join(project, annotator, "annotator");
}
