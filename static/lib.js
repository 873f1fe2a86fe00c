// Small helpers shared by the pages: elements, the status pill, the API, sockets that come
// back, number formats; and what the annotate and review pages share besides the label-set
// picker (labelset.js): answers, an item's first moments, the hello.

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

/**
 * An item's data as annotators and reviewers see it: text as text, other data as a table. Each
 * text takes its own direction (`dir="auto"`: right to left for Hebrew or Arabic), and shows its
 * bidi controls as marks (`shownText`).
 */
export function renderData(data) {
  if (typeof data.text === "string" && Object.keys(data).length === 1) {
    return el("p", { class: "text", dir: "auto", "data-testid": "text" }, ...shownText(data.text));
  }
  const rows = Object.entries(data).map(([key, value]) => el("tr", {},
    el("th", { scope: "row", dir: "auto" }, ...shownText(key)),
    el("td", { dir: "auto" }, ...(value === null ? ["–"] : shownText(String(value))))));
  return el("table", { class: "fields", "data-testid": "fields" }, el("tbody", {}, ...rows));
}

/**
 * The bidi embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069), by their
 * short names. In an item they would reorder what is read: "evil\u202Eexe.txt" shows as "evil"
 * and "txt.exe".
 */
const BIDI_CONTROLS = {
  "\u202A": "LRE", "\u202B": "RLE", "\u202C": "PDF", "\u202D": "LRO", "\u202E": "RLO",
  "\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI", "\u2069": "PDI",
};

/**
 * `text` as an item shows it: text, with each bidi control in it shown as a mark of its name
 * ("⟨RLO⟩"), which reorders nothing. A span project's text is drawn so too; its spans keep
 * their offsets into the text as it is, which the editor reads from its tokens, never from the
 * page.
 */
export function shownText(text) {
  return text.split(/([\u202A-\u202E\u2066-\u2069])/u).filter((part) => part !== "").map((part) => {
    const name = BIDI_CONTROLS[part];
    if (!name) return part;
    const code = `U+${part.codePointAt(0).toString(16).toUpperCase()}`;
    return el("span", { class: "bidi-control", title: `${code}, a control character that would reorder the text around it` }, `⟨${name}⟩`);
  });
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
// token, an unknown project); "try again later" (a busy server, a slow reader) is not; "going
// away" and "service restart" are a server stopping (uvicorn sends 1012 on shutdown).
const WS_GOING_AWAY = 1001;
const WS_POLICY_VIOLATION = 1008;
const WS_SERVICE_RESTART = 1012;
const WS_TRY_AGAIN_LATER = 1013;

/** Why a connection closed, as the start of the status line (empty: no reason known). A
 * server that said it stopped is said to have stopped until a connection opens again. */
function closedWhy(code, attempt, stopped) {
  if (code === WS_TRY_AGAIN_LATER) return "the server is busy: ";
  if (stopped) return "the server stopped (a restart or a shutdown): ";
  return attempt > 1 ? "the server cannot be reached: " : "";
}

/**
 * A socket to `path` that comes back: after each close it connects again, with backoff, and the
 * status pill says where things stand; a refusal of the connection itself (1008) is final. The
 * page's handlers: `opened()` on each connection, `message(json)` for each message, `lost()`
 * when a connection ends and another will be tried; `status(state, text)` shows the state
 * (default: the pill, as is). Returns `send(message)`, which sends JSON
 * on the open connection and drops it when there is none; `send.reconnect()` ends the
 * connection and opens another at once (a fresh session on the server).
 */
export function reconnecting(path, { connectedText = "connected", opened, message, lost, status = setStatus }) {
  let socket = null;
  let attempt = 0;
  let again = false; // closed by send.reconnect(): connect again without waiting
  let stopped = false; // the server said it was stopping, and no connection opened since
  function connect() {
    status(attempt ? "reconnecting" : "connecting", attempt ? "reconnecting…" : "connecting…");
    socket = new WebSocket(socketUrl(path));
    socket.addEventListener("open", () => {
      attempt = 0;
      stopped = false;
      status("connected", connectedText);
      opened?.();
    });
    socket.addEventListener("message", (event) => message(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (event.code === WS_POLICY_VIOLATION) {
        // A page takes its token from the link's #token=..., never from ?token=.
        const why = /needs an API token/.test(event.reason)
          ? "this needs an API token: open the link you were given, which ends in #token=…"
          : event.reason || "the server turned this connection away";
        status("offline", `refused: ${why}. Reload the page once that is put right.`);
        return;
      }
      lost?.();
      if (again) {
        again = false;
        connect();
        return;
      }
      const delay = backoff(attempt++);
      stopped ||= event.code === WS_GOING_AWAY || event.code === WS_SERVICE_RESTART;
      const why = closedWhy(event.code, attempt, stopped);
      status("reconnecting", `${why}reconnecting in ${Math.ceil(delay / 1000)} s…`);
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

// -- the annotate and review pages: an answer, an item's first moments, the hello -----------

/**
 * An answer in words: a label, or a set of them ("billing, bug"; "none of these" if empty), or
 * spans by label and offsets ("PER 0–3"; "no spans"; spans.js `spansText` quotes the text).
 */
export function answerText(answer) {
  if (!Array.isArray(answer)) return answer;
  if (answer.some((x) => typeof x === "object")) return answer.map((s) => `${s.label} ${s.start}–${s.end}`).join(", ");
  return answer.length ? answer.join(", ") : "none of these";
}

/**
 * The message field an answer goes in: `label` (classify), `labels` (multilabel) or `spans`
 * (a span project's, which is a list too: the task says which).
 */
export const answerField = (answer, task = null) => (task === "spans" ? "spans" : Array.isArray(answer) ? "labels" : "label");

/** Whether two answers are the same (a set's labels are always in the project's order). */
export const sameAnswer = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * For how long an item that has just appeared takes no answer (ms), by key, click or tap. A
 * key pressed twice (Enter Enter, or 2 2) is one gesture to a person, the second press some
 * 100–200 ms after the first; it would answer the next item, which appeared in between,
 * unseen (with preselect on, with the model's own set). `event.repeat` stops only a key held
 * down. No one reads an item and judges it this fast.
 */
export const FIRST_LOOK_MS = 400;

/**
 * The first moments of each item shown in `node`: `start()` when an item appears; `early(event)`
 * is true for an event too soon after that to answer the item. An event's timeStamp is when it
 * happened: a key pressed before the item appeared, and handled after, is early too. `node`
 * says when answers are taken: `data-ready="true"`.
 */
export class FirstLook {
  constructor(node) {
    this.node = node;
    this.since = -Infinity;
    this.timer = null;
  }

  start() {
    this.since = performance.now();
    this.node.dataset.ready = "false";
    clearTimeout(this.timer);
    const ready = () => {
      const left = this.since + FIRST_LOOK_MS - performance.now();
      if (left > 0) this.timer = setTimeout(ready, left);
      else this.node.dataset.ready = "true";
    };
    this.timer = setTimeout(ready, FIRST_LOOK_MS);
  }

  early(event) {
    return event.timeStamp - this.since < FIRST_LOOK_MS;
  }
}

/**
 * A socket's hello, shown: the key hints and actions of the project's task (a multilabel
 * project's answer is a set, with Submit and None of these; a span project's, spans, with
 * Submit and Remove span), and under `role` ("annotator",
 * "reviewer") the name the server knows us by (with auth on, the token's). Returns what the
 * page keeps of it: {labels, task}.
 */
export function hello(message, role) {
  const task = message.project.task ?? "classify";
  $("keys-classify").hidden = task !== "classify";
  $("keys-multilabel").hidden = task !== "multilabel";
  $("keys-spans").hidden = task !== "spans";
  $("touch-spans").hidden = task !== "spans"; // shown on a touch screen only (style.css)
  $("set-actions").hidden = task === "classify";
  $("who").textContent = message[role];
  return { labels: message.project.labels, task };
}
