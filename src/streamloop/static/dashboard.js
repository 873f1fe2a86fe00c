// A minimal live dashboard: the metrics object pushed by the dashboard socket.
const project = new URLSearchParams(location.search).get("project") ?? "support-tickets";
document.getElementById("project").textContent = project;

const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)} %`);
const FIGURES = [
  ["Model version", (m) => m.model_version],
  ["Labels", (m) => m.labels_total],
  ["Accuracy (prequential)", (m) => pct(m.accuracy)],
  [`Rolling accuracy`, (m) => pct(m.rolling_accuracy)],
  ["Queue depth", (m) => m.queue_depth],
  ["Events", (m) => m.events_total],
  ["Annotators online", (m) => m.annotators_online],
  ["Labels / minute", (m) => m.labels_per_minute.toFixed(1)],
];

function render(m) {
  document.getElementById("figures").replaceChildren(...FIGURES.map(([name, value]) => {
    const div = document.createElement("div");
    div.className = "figure";
    const b = document.createElement("b");
    b.textContent = value(m);
    div.append(b, name);
    return div;
  }));
  const rows = Object.entries(m.per_class).map(([label, c]) => {
    const tr = document.createElement("tr");
    for (const text of [label, pct(c.precision), pct(c.recall), c.support]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  document.querySelector("#classes tbody").replaceChildren(...rows);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/projects/${encodeURIComponent(project)}/dashboard`);
  const status = document.getElementById("status");
  socket.addEventListener("open", () => { status.textContent = "live"; });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "metrics") render(message);
    else if (message.type === "error") status.textContent = `error: ${message.message}`;
  });
  socket.addEventListener("close", () => {
    status.textContent = "reconnecting…";
    setTimeout(connect, 1000);
  });
}

connect();
