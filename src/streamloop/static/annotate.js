// A minimal annotator: one item at a time, label by click or number key, skip with "s".
// Unacknowledged labels are re-sent with their label_id after a reconnect.
const params = new URLSearchParams(location.search);
const project = params.get("project") ?? "support-tickets";
const annotator = params.get("annotator") ?? `annotator-${Math.random().toString(16).slice(2, 6)}`;
const $ = (id) => document.getElementById(id);
$("project").textContent = project;

let socket;
let labels = [];
let current = null;
let done = 0;
let backoff = 500;
const unacked = new Map();

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function show(item) {
  current = item;
  $("idle").hidden = true;
  $("item").hidden = false;
  $("content").textContent = typeof item.data.text === "string"
    ? item.data.text : JSON.stringify(item.data, null, 1);
  const p = item.prediction ? item.probabilities[item.prediction] : null;
  $("suggestion").textContent = item.prediction
    ? `Model suggests: ${item.prediction} (${(100 * p).toFixed(0)} %)` : "The model has not learned yet.";
  $("labels").replaceChildren(...labels.map((label, i) => {
    const button = document.createElement("button");
    button.textContent = `${i + 1} · ${label}`;
    button.classList.toggle("suggested", label === item.prediction);
    button.addEventListener("click", () => choose(label));
    return button;
  }));
  $("labels").querySelector("button")?.focus();
}

function choose(label) {
  if (!current) return;
  const message = { type: "label", item_id: current.id, label, label_id: crypto.randomUUID() };
  unacked.set(message.label_id, message);
  send(message);
  current = null;
  $("item").hidden = true;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({ annotator });
  socket = new WebSocket(`${scheme}://${location.host}/ws/projects/${encodeURIComponent(project)}/annotate?${query}`);
  socket.addEventListener("open", () => {
    backoff = 500;
    setStatus("connected", `connected as ${annotator}`);
    for (const message of unacked.values()) send(message);
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "hello") labels = message.project.labels;
    else if (message.type === "item") show(message.item);
    else if (message.type === "idle") { $("idle").hidden = false; $("item").hidden = true; }
    else if (message.type === "ack") {
      if (unacked.delete(message.label_id) && !message.duplicate) $("done").textContent = ++done;
    } else if (message.type === "error") setStatus("connected", `error: ${message.message}`);
  });
  socket.addEventListener("close", () => {
    setStatus("reconnecting", "reconnecting…");
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  });
}

document.addEventListener("keydown", (event) => {
  if (!current) return;
  const n = Number.parseInt(event.key, 10);
  if (n >= 1 && n <= labels.length) choose(labels[n - 1]);
  else if (event.key === "s") { send({ type: "skip", item_id: current.id }); current = null; }
});

connect();
