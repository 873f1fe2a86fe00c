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
