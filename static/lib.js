// Small helpers shared by the pages: elements, the status pill, the API, sockets that come
// back, number formats.

/** The page's element with this id. */
export const $ = (id) => document.getElementById(id);

/**
 * Build an element: el("td", {class: "num"}, "42"). Children may be nodes or strings.
 * `style` takes an object of properties ({width: "40%", "--shade": 0.3}), set one by one: the
 * pages' Content-Security-Policy refuses style attributes, not properties set from a script.
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "style") setStyle(node, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function setStyle(node, properties) {
  if (typeof properties !== "object") throw new TypeError("el(): style takes an object of properties");
  for (const [property, value] of Object.entries(properties)) node.style.setProperty(property, String(value));
}

/** An item's data as annotators and reviewers see it: text as text, other data as a table. */
export function renderData(data) {
  if (typeof data.text === "string" && Object.keys(data).length === 1) {
    return el("p", { class: "text", "data-testid": "text" }, data.text);
  }
  const rows = Object.entries(data).map(([key, value]) =>
    el("tr", {}, el("th", { scope: "row" }, key), el("td", {}, value === null ? "–" : String(value))));
  return el("table", { class: "fields", "data-testid": "fields" }, el("tbody", {}, ...rows));
}

/** The connection pill (#status): its state, which the stylesheet colours, and its words. */
export function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

/**
 * The API token for this tab, when the server has auth on. A link carries it in its fragment
 * (`#token=...`), which browsers never send to a server, so it stays out of every log; it is
 * then kept in this tab's sessionStorage and removed from the address bar.
 */
export function token() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("token");
  if (given) {
    sessionStorage.setItem("streamloop.token", given);
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  }
  return sessionStorage.getItem("streamloop.token");
}

/** JSON from the API; throws an Error carrying the contract's error code and message. */
export async function api(path, options = {}) {
  const secret = token();
  const response = await fetch(path, {
    ...options,
    headers: {
      "content-type": "application/json",
      ...(secret ? { authorization: `Bearer ${secret}` } : {}),
      ...(options.headers ?? {}),
    },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(body?.error?.message ?? `HTTP ${response.status}`);
    error.code = body?.error?.code ?? "http_error";
    error.status = response.status;
    throw error;
  }
  return body;
}

/** A socket's URL; with auth on it carries the token, the one way a browser socket can. */
export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const secret = token();
  const withToken = secret ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(secret)}` : path;
  return `${scheme}://${location.host}${withToken}`;
}

export const percent = (value) => (value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)} %`);
export const number = (value) => (value === null || value === undefined ? "–" : value.toLocaleString("en"));

/**
 * Tables wider than their card scroll sideways in their own box: `<div class="wide-table">
 * <div class="scroll-x"><table>…`. This keeps the wrapper's `data-overflow` up to date (the
 * side where more is hidden: "left", "right", "both", or "" when all of it shows), which the
 * stylesheet shows as a shadow on that edge, with a line of text under the table while more is
 * to the right; a box that scrolls can be reached with Tab, to scroll it by the arrow keys.
 */
export function scrollHints(root = document) {
  for (const box of root.querySelectorAll(".wide-table > .scroll-x")) {
    const wrapper = box.parentElement;
    if (wrapper.dataset.watched) continue;
    wrapper.dataset.watched = "true";
    if (!wrapper.nextElementSibling?.classList.contains("scroll-hint")) {
      wrapper.after(el("p", { class: "hint scroll-hint", "aria-hidden": "true" }, "Scroll sideways for more columns →"));
    }
    const update = () => {
      const hidden = box.scrollWidth - box.clientWidth;
      const left = box.scrollLeft > 1;
      const right = hidden - box.scrollLeft > 1;
      wrapper.dataset.overflow = left && right ? "both" : left ? "left" : right ? "right" : "";
      if (hidden > 1) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", `${box.querySelector("table")?.getAttribute("aria-label") ?? "table"}, scrolls sideways`);
      } else {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    };
    box.addEventListener("scroll", update, { passive: true });
    const observer = new ResizeObserver(update);
    observer.observe(box);
    for (const child of box.children) observer.observe(child);
    update();
  }
}

/** Reconnect delays: exponential, capped, with jitter so many clients do not stampede. */
export function backoff(attempt, base = 500, cap = 10000) {
  const delay = Math.min(cap, base * 2 ** attempt);
  return delay / 2 + Math.random() * (delay / 2);
}

// Close codes (RFC 6455): a policy violation is final (the server refused this connection: no
// token, an unknown project); "try again later" (a busy server, a slow reader) is not.
const WS_POLICY_VIOLATION = 1008;
const WS_TRY_AGAIN_LATER = 1013;

/**
 * A socket to `path` that comes back: after each close it connects again, with backoff, and the
 * status pill says where things stand; a refusal of the connection itself (1008) is final. The
 * page's handlers: `opened()` on each connection, `message(json)` for each message, `lost()`
 * when a connection ends and another will be tried. Returns `send(message)`, which sends JSON
 * on the open connection and drops it when there is none; `send.reconnect()` ends the
 * connection and opens another at once (a fresh session on the server).
 */
export function reconnecting(path, { connectedText = "connected", opened, message, lost }) {
  let socket = null;
  let attempt = 0;
  let again = false; // closed by send.reconnect(): connect again without waiting
  function connect() {
    setStatus(attempt ? "reconnecting" : "connecting", attempt ? "reconnecting…" : "connecting…");
    socket = new WebSocket(socketUrl(path));
    socket.addEventListener("open", () => {
      attempt = 0;
      setStatus("connected", connectedText);
      opened?.();
    });
    socket.addEventListener("message", (event) => message(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (event.code === WS_POLICY_VIOLATION) {
        // A page takes its token from the link's #token=..., never from ?token=.
        const why = /needs an API token/.test(event.reason)
          ? "this needs an API token: open the link you were given, which ends in #token=…"
          : event.reason || "the server turned this connection away";
        setStatus("offline", `refused: ${why}. Reload the page once that is put right.`);
        return;
      }
      lost?.();
      if (again) {
        again = false;
        connect();
        return;
      }
      const delay = backoff(attempt++);
      const busy = event.code === WS_TRY_AGAIN_LATER ? "the server is busy: " : "";
      setStatus("reconnecting", `${busy}reconnecting in ${Math.ceil(delay / 1000)} s…`);
      setTimeout(connect, delay);
    });
  }
  connect();
  const send = (outgoing) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(outgoing));
  };
  send.reconnect = () => {
    if (socket?.readyState !== WebSocket.OPEN) return; // one is on its way already
    again = true;
    socket.close();
  };
  return send;
}

// The join form of the annotate and review pages: pick a project and say who you are; the
// page reloads with both in its address (`?project=P&<role>=NAME`).
export async function join(project, name, role) {
  $("join").hidden = false;
  const { projects } = await api("/api/projects");
  $("join-project").replaceChildren(...projects.map((p) => el("option", { value: p.name }, p.name)));
  if (project) $("join-project").value = project;
  $("join-name").value = name ?? localStorage.getItem("streamloop:name") ?? "";
  $("join-name").focus();
  $("join").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem("streamloop:name", $("join-name").value);
    const next = new URLSearchParams({ project: $("join-project").value, [role]: $("join-name").value });
    location.search = next.toString();
  });
}

// -- a multilabel project's answer: a set of labels, toggled, then submitted -----------------

/**
 * The keys that toggle a set's labels, in the project's order: 1–9, then letters clear of the
 * pages' own keys (S skip, U undo); a label beyond these has no key, only its button.
 */
export const SET_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "q", "w", "e", "r", "t", "y", "i", "o", "p"];
/** The key that answers "none of these": the empty set. */
export const NONE_KEY = "0";

/** An answer in words: a label, or a set of them ("billing, bug"; "none of these" if empty). */
export function answerText(answer) {
  if (!Array.isArray(answer)) return answer;
  return answer.length ? answer.join(", ") : "none of these";
}

/** The message field an answer goes in: `label` (classify) or `labels` (multilabel). */
export const answerField = (answer) => (Array.isArray(answer) ? "labels" : "label");

/** Whether two answers are the same (a set's labels are always in the project's order). */
export const sameAnswer = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The threshold a multilabel project's label has unless the project sets its own. */
export const DEFAULT_THRESHOLD = 0.5;

/** A share as a percentage with no more decimals than it needs (0.3: "30 %", 0.325: "32.5 %"). */
export const sharePercent = (share) => `${Number((100 * share).toFixed(2))} %`;

/**
 * A label's probability as its toggle shows it, beside its threshold: whole percents, one
 * more decimal near the threshold, and "> 30 %" or "< 30 %" when even that would round onto
 * the threshold: a probability never reads as equal to its threshold while it is on the other
 * side (a label is predicted when its probability is above its threshold). The threshold is
 * said when it is not the default: "32 % · threshold 30 %".
 */
export function probabilityText(p, threshold = DEFAULT_THRESHOLD) {
  const t = Number((100 * threshold).toFixed(6));
  const places = (String(Number(t.toFixed(2))).split(".")[1] ?? "").length;
  let text = null;
  for (const n of [places, places + 1]) {
    const shown = (100 * p).toFixed(n);
    const value = Number(shown);
    if (p === threshold || (p > threshold ? value > t : value < t)) {
      text = `${shown} %`;
      break;
    }
  }
  text ??= `${p > threshold ? ">" : "<"} ${sharePercent(threshold)}`;
  return threshold === DEFAULT_THRESHOLD ? text : `${text} · threshold ${sharePercent(threshold)}`;
}

/** A click leaves no button focused, where a later Space or Enter would find it. */
const keepFocus = (event) => event.preventDefault();

/**
 * The picker of a multilabel answer: a toggle button per label (aria-pressed, its key shown),
 * in `group`, and in `actions` a Submit button (Enter) and a "None of these" one (0). Toggling
 * sends nothing: the set goes to `submit(labels)`, in the project's order, by one deliberate
 * act, Enter or a press of Submit; the empty set only by "None of these", so that an Enter
 * pressed twice never answers the next item with nothing. `say(text)` tells why a key did
 * nothing.
 */
export class LabelSet {
  constructor({ group, actions, submit, say, submitText = "Submit", enterVerb = "submit" }) {
    this.group = group;
    this.verb = enterVerb; // what Enter does to the selected labels, in a sentence
    this.submit = submit;
    this.say = say;
    this.labels = [];
    this.pressed = new Set();
    this.active = false; // an answer may be given: an item is on screen and not being saved
    this.submitButton = el("button", {
      type: "button", class: "primary", "data-testid": "submit", "aria-keyshortcuts": "Enter",
      onmousedown: keepFocus, onclick: () => this.send(),
    }, `${submitText} `, el("kbd", {}, "Enter"));
    this.noneButton = el("button", {
      type: "button", class: "secondary", "data-testid": "none", "aria-keyshortcuts": NONE_KEY,
      onmousedown: keepFocus, onclick: () => this.none(),
    }, el("kbd", {}, NONE_KEY), " None of these");
    actions.replaceChildren(this.submitButton, this.noneButton);
  }

  /**
   * Toggles for `labels`, those in `pressed` already on. Each toggle has its places, the same
   * on every card: the tick box and under it the key on the left; the name, and under it
   * `hints[label]` (text or {text, title}: the model's probability, say); a badge, `mark.text`,
   * on the labels in `mark.labels` (the model's suggestion), with `mark.title` as its tooltip,
   * on the card's top edge. The badge is text inside the button, so that a screen reader says
   * it with the label's name.
   */
  show(labels, { pressed = [], hints = {}, hintTitle = "", mark = null } = {}) {
    this.labels = labels;
    this.pressed = new Set(pressed.filter((label) => labels.includes(label)));
    const marked = new Set(mark?.labels ?? []);
    this.group.classList.add("set-picker");
    this.group.replaceChildren(...labels.map((label, i) => {
      const hint = hints[label];
      const hinted = hint !== undefined && hint !== null && hint !== "";
      const badge = marked.has(label);
      return el("button", {
        type: "button",
        class: badge ? "label toggle marked" : "label toggle",
        "data-label": label,
        "data-marked": badge ? "true" : null,
        "aria-pressed": this.pressed.has(label) ? "true" : "false",
        "aria-keyshortcuts": SET_KEYS[i],
        onmousedown: keepFocus,
        onclick: () => this.toggle(label),
      }, el("span", { class: "side" },
        el("span", { class: "check", "aria-hidden": "true" }),
        ...(SET_KEYS[i] ? [el("kbd", {}, SET_KEYS[i].toUpperCase())] : [])),
      " ",
      el("span", { class: "name", title: label }, label),
      ...(hinted ? [" ", el("small", { class: "hint-value", title: hint.title ?? hintTitle }, hint.text ?? hint)] : []),
      ...(badge ? [" ", el("span", { class: "badge", title: mark.title ?? "" }, mark.text)] : []));
    }));
    this.active = true;
    this.refresh();
  }

  /** The set as it stands, in the project's order. */
  get chosen() {
    return this.labels.filter((label) => this.pressed.has(label));
  }

  toggle(label) {
    if (!this.active || !this.labels.includes(label)) return;
    if (this.pressed.has(label)) this.pressed.delete(label); else this.pressed.add(label);
    this.refresh();
  }

  refresh() {
    for (const button of this.group.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", this.pressed.has(button.dataset.label) ? "true" : "false");
      button.disabled = !this.active;
    }
    this.submitButton.disabled = !this.active || this.pressed.size === 0;
    this.submitButton.title = this.pressed.size ? "" : "Select a label first, or choose None of these";
    this.noneButton.disabled = !this.active;
  }

  send() {
    if (!this.active) return;
    if (!this.pressed.size) {
      this.say(`Nothing is selected: select labels, or press ${NONE_KEY} for none of these.`);
      return;
    }
    this.submit(this.chosen);
  }

  none() {
    if (this.active) this.submit([]);
  }

  /** No more answers to this item (it is being saved, or gone); the toggles stay as they are. */
  freeze() {
    if (!this.active) return; // never shown (a classify project), or frozen already
    this.active = false;
    this.refresh();
  }

  /** A key for the set, from the page's keydown: true if it was one (and was handled). */
  key(event) {
    if (!this.active) return false;
    const key = event.key.toLowerCase();
    const n = SET_KEYS.indexOf(key);
    let act = null;
    if (key === "enter") act = () => this.send();
    else if (key === NONE_KEY) act = () => this.none();
    else if (n >= 0 && n < this.labels.length) act = () => this.toggle(this.labels[n]);
    if (!act) return false;
    event.preventDefault();
    if (!event.repeat) act(); // a key held down answers, or toggles, once
    return true;
  }

  /**
   * From a capture listener, for a key on a focused button of the picker (reached with Tab): a
   * toggle takes Space as any toggle does; Enter is the page's submit key, never a button's;
   * Space on Submit or None does nothing but say which key does.
   */
  guard(event, type) {
    const button = event.target.closest?.("button");
    if (!button || !(this.group.contains(button) || button === this.submitButton || button === this.noneButton)) return;
    const space = event.key === " " || event.key === "Spacebar";
    if (event.key !== "Enter" && !space) return;
    if (space && this.group.contains(button)) return;
    if (event.key === "Enter") { event.preventDefault(); return; } // the page's keydown submits
    event.preventDefault();
    if (type === "keydown" && !event.repeat) {
      this.say(`Press Enter to ${this.verb} the selected labels, or ${NONE_KEY} for none of these: Space never does.`);
    }
  }
}
