// The review desk: items whose annotators disagreed, or that a supervisor flagged, one at a
// time over the review socket. The reviewer sees who said what and which label the model
// learned, and settles on a label (any of the project's): that is what the model learns from
// the item from now on. As on the annotator app, a choice is one deliberate act (its number
// key, or a click), and one waiting for its ack is sent again, with its label_id, after a
// reconnect. In a multilabel project each annotator said a set of labels, and the reviewer
// settles on a set: toggled, then sent by Enter or Submit (0 or "None of these" for none). In an
// item's first moments nothing settles it: the second press of a double one is not an answer
// to the item that appeared in between. In a span project each said a text's spans: the
// reviewer starts from the spans most of them gave (or, when no span has a majority, from the
// first answer that has spans, so that no one's work is dropped by an Enter pressed by reflex),
// or from any one's answer, edits them in the text (spans.js) and settles on them by Enter or
// Settle.
import { LabelSet, SET_KEYS } from "/static/labelset.js";
import { SpanEditor } from "/static/spans.js";
import { BRIEF_SPANS, normalSpans, spanWords, spansText } from "/static/spantext.js";
import { HUES } from "/static/spanview.js";
import { showGuidelines } from "/static/guidelines.js";
import {
  $, FirstLook, answerField, answerText, backoff, el, hello, join, reconnecting, renderData, setStatus,
  shownText,
} from "/static/lib.js";

const params = new URLSearchParams(location.search);
const project = params.get("project");
const reviewer = params.get("reviewer");

const REASONS = {
  disagreement: "Annotators disagreed",
  flagged: "Flagged by a supervisor",
};
const SOURCES = { production: "from production", review: "a reviewer", annotator: "" };

const state = {
  send: null, // sends on the open connection; .reconnect() starts a fresh session
  labels: [],
  task: "classify", // or "multilabel": an answer is then a set of labels; or "spans"
  current: null, // {item, reason, said, expiresAt}
  pending: null, // the resolve sent and not yet acked: {message, item, answer}
  next: null, // what the server sent while a resolve was waiting: a review or idle message
  done: 0,
  retry: null,
  retryAttempt: 0,
};

// The item on screen takes no answer in its first moments (a double press's second press).
const firstLook = new FirstLook($("item"));
// A multilabel project's toggles, Submit and None of these (used once hello says the task).
const picker = new LabelSet({
  group: $("labels"), actions: $("set-actions"), submit: resolve, say: notice, firstLook,
  submitText: "Settle", enterVerb: "settle on",
});
// A span project's editor, made once hello says the task (it takes over the picker's places).
let editor = null;

function notice(text, kind = "") {
  $("notice").textContent = text;
  $("notice").dataset.kind = kind;
  $("notice").hidden = !text;
}

function sentence(text) {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

// -- showing an item ----------------------------------------------------------------------

// What one said: a label, or a set of them, each label on its own, or "none of these"; or
// spans, each as its label and its words (the first few of many, then how many more).
function renderAnswer(x) {
  if (Array.isArray(x.spans)) {
    if (!x.spans.length) return [el("i", { class: "said-label" }, "no spans")];
    const text = state.current.item.data.text;
    const named = x.spans.slice(0, BRIEF_SPANS).flatMap((span, i) => [i ? ", " : null,
      el("b", { class: "said-label", "data-hue": state.labels.indexOf(span.label) % HUES }, span.label),
      ` “${spanWords(span, text)}”`]);
    return x.spans.length > BRIEF_SPANS ? [...named, `, and ${x.spans.length - BRIEF_SPANS} more`] : named;
  }
  if (!Array.isArray(x.labels)) return [el("b", { class: "said-label" }, x.label)];
  if (!x.labels.length) return [el("i", { class: "said-label" }, "none of these")];
  return x.labels.flatMap((label, i) => [i ? ", " : null, el("b", { class: "said-label" }, label)]);
}

// A production label has no annotator: its source names it.
function renderSaid(said) {
  return said.map((x) => {
    const who = x.annotator || x.source;
    const from = x.annotator && SOURCES[x.source] ? el("small", {}, ` (${SOURCES[x.source]})`) : null;
    const answer = Array.isArray(x.spans) ? x.spans : Array.isArray(x.labels) ? x.labels : x.label;
    const spans = Array.isArray(x.spans);
    return el("li", {
      "data-annotator": who,
      "data-label": Array.isArray(answer) ? null : answer,
      "data-labels": Array.isArray(answer) && !spans ? JSON.stringify(answer) : null,
      "data-spans": spans ? JSON.stringify(normalSpans(answer)) : null,
      class: x.learned ? "learned" : "",
    }, el("b", {}, who), from, " said ", ...renderAnswer(x),
    x.learned ? " " : null,
    x.learned ? el("span", { class: "tag", title: "what the model learned from this item" }, "learned") : null,
    x.comment ? el("span", { class: "said-comment", "data-testid": "said-comment" },
      " · commented “", el("span", { dir: "auto" }, ...shownText(x.comment)), "”") : null,
    spans ? " " : null,
    spans ? el("button", {
      type: "button", class: "secondary start-from", "data-testid": "start-from",
      onmousedown: (event) => event.preventDefault(),
      onclick: () => startFrom(x.spans, `${who}'s spans`),
    }, "Start from these") : null);
  });
}

function show(message) {
  const { item, reason, labels: said } = message;
  state.current = { item, reason, said, expiresAt: Date.parse(message.lease_expires_at) };
  $("idle").hidden = true;
  $("expired").hidden = true;
  $("saving").hidden = true;
  $("item").hidden = false;
  $("item").dataset.itemId = item.id;
  $("item").dataset.reason = reason;
  $("reason").textContent = REASONS[reason] ?? reason;
  $("content").replaceChildren(renderData(item.data));
  $("said").replaceChildren(...renderSaid(said));
  if (state.task === "multilabel") showSet(said);
  else if (state.task === "spans") showSpans(said);
  else showChoices(said);
  firstLook.start();
  $("skip").disabled = false;
  // Focus on the item, never on a button: a key meant for something else must not settle it.
  $("content").focus();
  tick();
}

// A set's toggles start with none selected, so that the reviewer judges afresh: each says how
// many said it, and a badge marks the labels of the set the model learned, which a line under
// what was said names in full.
function showSet(said) {
  const learnedFrom = said.find((x) => x.learned);
  const learned = learnedFrom?.labels ?? [];
  const hints = Object.fromEntries(state.labels.map((label) => {
    const count = said.filter((x) => x.labels?.includes(label)).length;
    return [label, `${count} of ${said.length} said it`];
  }));
  picker.show(state.labels, {
    hints,
    hintTitle: "how many of those who answered said this label",
    mark: { labels: learned, text: "learned", title: "In the set the model learned from this item" },
  });
  $("learned-note").hidden = !learnedFrom;
  if (learnedFrom) {
    const who = learnedFrom.annotator ? `${learnedFrom.annotator}'s set`
      : learnedFrom.source === "review" ? "a reviewer's set" : `the set from ${learnedFrom.source}`;
    $("learned-note").replaceChildren("The model learned ", who, ": ",
      el("b", { "data-testid": "learned-set" }, answerText(learned)),
      ". The set you settle on replaces it.");
  }
}

/**
 * The spans more than half of `said` gave (never two that overlap: two answers of a majority
 * each share one); of two answers, the spans both gave.
 */
function majoritySpans(said) {
  const key = (s) => `${s.start}:${s.end}:${s.label}`;
  const count = new Map();
  for (const x of said) for (const s of new Map((x.spans ?? []).map((y) => [key(y), y])).values()) {
    count.set(key(s), { span: s, n: (count.get(key(s))?.n ?? 0) + 1 });
  }
  return normalSpans([...count.values()].filter(({ n }) => 2 * n > said.length).map(({ span }) => span));
}

// The editor starts from the spans most answers gave (what is hardly in dispute); when those
// are none while some answer has spans, from the first such answer, and the page says so: an
// empty start would make a reflexive Enter settle on "no spans", dropping everyone's work. Any
// one answer can be taken as the start instead. The model learned the one marked so.
function showSpans(said) {
  const most = majoritySpans(said);
  const first = said.find((x) => x.spans?.length);
  if (most.length || !first) startFrom(most, "the spans most answers gave");
  else startFrom(first.spans, `${first.annotator || first.source}'s spans: no span is in most answers`);
  const learnedFrom = said.find((x) => x.learned);
  $("learned-note").hidden = !learnedFrom;
  if (learnedFrom) {
    const who = learnedFrom.annotator ? `${learnedFrom.annotator}'s spans`
      : learnedFrom.source === "review" ? "a reviewer's spans" : `the spans from ${learnedFrom.source}`;
    $("learned-note").replaceChildren("The model learned ", who, ": ",
      el("b", { "data-testid": "learned-set" }, spansText(learnedFrom.spans ?? [], state.current.item.data.text, BRIEF_SPANS)),
      ". The spans you settle on replace them.");
  }
}

function startFrom(spans, what) {
  if (!state.current || state.pending) return;
  const { item } = state.current;
  editor.show($("content"), { text: item.data.text, labels: state.labels, tokens: item.tokens ?? null, spans });
  $("start-note").textContent = `Starting from ${what}.`;
  $("start-note").hidden = false;
  editor.announce(`Starting from ${what}.`);
}

function showChoices(said) {
  const given = new Set(said.map((x) => x.label));
  const learned = said.find((x) => x.learned)?.label;
  $("labels").replaceChildren(...state.labels.map((label, i) => el("button", {
    type: "button",
    class: ["label", label === learned ? "suggested" : "", given.has(label) ? "given" : ""].join(" "),
    "data-label": label,
    onmousedown: (event) => event.preventDefault(), // not left focused for a later Space or Enter
    onclick: (event) => { if (!firstLook.early(event)) resolve(label); },
    "aria-keyshortcuts": SET_KEYS[i] ?? null,
  }, ...(SET_KEYS[i] ? [el("kbd", {}, SET_KEYS[i].toUpperCase()), " "] : []), label)));
}

function clearItem() {
  picker.freeze();
  editor?.freeze();
  state.current = null;
  $("item").hidden = true;
  $("lease").hidden = true;
}

function idle() {
  clearItem();
  $("expired").hidden = true;
  $("idle").hidden = false;
}

// -- settling, skipping -------------------------------------------------------------------

/** Settle on an answer: a label, or (multilabel) a set of them, in the project's order. */
function resolve(answer) {
  if (!state.current || state.pending) return;
  const { item } = state.current;
  const message = { type: "resolve", item_id: item.id, [answerField(answer, state.task)]: answer, label_id: crypto.randomUUID() };
  state.pending = { message, item, answer };
  if (state.task === "multilabel") {
    picker.freeze(); // the toggles stay as sent, until the ack
  } else if (state.task === "spans") {
    editor.freeze(); // the spans stay as sent, until the ack
  } else {
    for (const button of $("labels").querySelectorAll("button")) {
      button.disabled = true;
      button.classList.toggle("chosen", button.dataset.label === answer);
    }
  }
  $("skip").disabled = true;
  $("saving").textContent = `Saving “${shownAnswer(answer, item)}”…`;
  $("saving").hidden = false;
  state.send?.(message);
}

/** An answer in words; spans with their words. */
function shownAnswer(answer, item) {
  return state.task === "spans" ? spansText(answer, item.data.text, BRIEF_SPANS) : answerText(answer);
}

/** The resolve waiting is answered (acked or refused for good): on to what came meanwhile. */
function settled() {
  state.pending = null;
  clearTimeout(state.retry);
  state.retry = null;
  const next = state.next;
  state.next = null;
  clearItem();
  if (next?.type === "review") show(next);
  else if (next?.type === "idle") idle();
  // else: the server sends the next item, or idle, after its reply
}

function skip() {
  if (!state.current || state.pending) return;
  state.send?.({ type: "skip", item_id: state.current.item.id });
  clearItem();
}

function resume() {
  $("expired").hidden = true;
  // The server offers nothing more to a session whose lease ran out: a new one starts afresh.
  state.send?.reconnect();
}

// -- the lease's time left ------------------------------------------------------------------

function tick() {
  const expiresAt = state.pending ? null : state.current?.expiresAt;
  $("lease").hidden = !expiresAt;
  if (!expiresAt) return;
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  $("lease-left").textContent = left >= 60 ? `${Math.floor(left / 60)} min ${left % 60} s` : `${left} s`;
  $("lease").classList.toggle("urgent", left < 20);
}
setInterval(tick, 1000);

// -- the socket -----------------------------------------------------------------------------

function refused(message) {
  const mine = state.pending && message.label_id === state.pending.message.label_id;
  if (mine && message.retryable === true) {
    notice(`${sentence(message.message)} Your choice is kept and sent again.`, "retrying");
    if (!state.retry) {
      state.retry = setTimeout(() => {
        state.retry = null;
        if (state.pending) state.send?.(state.pending.message);
      }, backoff(state.retryAttempt++));
    }
    return;
  }
  if (mine) {
    notice(`Your choice “${shownAnswer(state.pending.answer, state.pending.item)}” was not saved: ${message.message}`, "refused");
    const hadNext = Boolean(state.next);
    settled();
    if (!hadNext) idle(); // nothing more comes until the desk has an item for us
    return;
  }
  notice(message.message, "refused");
  // A refused skip leaves nothing on screen: say so, until the desk offers something.
  if (!state.current && !state.pending && $("expired").hidden) idle();
}

function acked(message) {
  if (!state.pending || message.label_id !== state.pending.message.label_id) return;
  state.retryAttempt = 0;
  $("done").textContent = ++state.done;
  if ($("notice").dataset.kind === "retrying") notice("");
  settled();
}

function onMessage(message) {
  switch (message.type) {
    case "project":
      showGuidelines(message.project);
      break;
    case "hello":
      Object.assign(state, hello(message, "reviewer"));
      showGuidelines(message.project);
      if (state.task === "spans") {
        editor ??= new SpanEditor({
          group: $("labels"), actions: $("set-actions"), submit: resolve, say: notice, firstLook,
          submitText: "Settle", enterVerb: "settle on", doing: "settling",
        });
      }
      break;
    case "review":
      // Offered again after a reconnect while our choice for it is on its way: the choice
      // stands. Anything else waits for the ack.
      if (state.pending) {
        if (message.item.id !== state.pending.item.id) state.next = message;
      } else {
        show(message);
      }
      break;
    case "idle":
      if (state.pending) state.next = message;
      else idle();
      break;
    case "ack":
      acked(message);
      break;
    case "lease_expired":
      if (state.current?.item.id === message.item_id && !state.pending) {
        clearItem();
        $("idle").hidden = true;
        $("expired").hidden = false;
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
  const query = new URLSearchParams({ reviewer });
  state.send = reconnecting(`/ws/projects/${encodeURIComponent(project)}/review?${query}`, {
    opened() {
      clearTimeout(state.retry);
      state.retry = null;
      if ($("notice").dataset.kind === "retrying") notice("");
      if (state.pending) state.send(state.pending.message);
    },
    message: onMessage,
    lost() {
      // The server hands the lease back when we go; what it offers next replaces the item.
      if (state.current) state.current.expiresAt = null;
      tick();
    },
  });
}

// Space and Enter would press a label button reached with Tab: there they do nothing but say
// which key settles. All three events, as browsers press a button on any of them.
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
    notice(`${key ? `Press ${key.toUpperCase()}` : "Click or tap it"} to settle on “${button.dataset.label}”: Space and Enter never do.`);
  }, { capture: true });
}

document.addEventListener("keydown", (event) => {
  if ($("work").hidden || event.target.closest?.("input, select, textarea")) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  const n = SET_KEYS.indexOf(key); // a classify project's label, by the keys a set's toggles use
  if (key === "enter" && !$("expired").hidden) { event.preventDefault(); resume(); }
  else if (state.task === "multilabel" && picker.key(event)) return;
  else if (state.task === "spans" && editor?.key(event)) return;
  else if (state.task === "classify" && n >= 0 && n < state.labels.length) {
    event.preventDefault();
    if (!event.repeat && !firstLook.early(event)) resolve(state.labels[n]);
  } else if (key === "s") skip();
});
$("skip").addEventListener("click", skip);
$("resume").addEventListener("click", resume);

// -- arriving: by a link that carries project and reviewer, or through the form -------------


if (project && reviewer) {
  $("project").textContent = project;
  $("who").textContent = reviewer;
  const name = encodeURIComponent(project);
  $("crumb").replaceChildren(
    el("a", { href: `/static/dashboard.html?project=${name}` }, "dashboard"),
    el("a", { href: `/static/annotate.html?project=${name}` }, "annotate"));
  $("work").hidden = false;
  connect();
} else {
  setStatus("offline", "not connected");
  join(project, reviewer, "reviewer");
}
