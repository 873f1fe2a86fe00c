// Home: every project with its live figures, refreshed every few seconds.
const body = document.querySelector("#projects tbody");

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

async function refresh() {
  const { projects } = await (await fetch("/api/projects")).json();
  document.querySelector("#empty").hidden = projects.length > 0;
  const rows = await Promise.all(projects.map(async (project) => {
    const m = await (await fetch(`/api/projects/${project.name}/metrics`)).json();
    const tr = document.createElement("tr");
    const pct = m.accuracy === null ? "–" : `${(100 * m.accuracy).toFixed(1)} %`;
    tr.append(cell(project.name), cell(project.labels.join(", ")), cell(m.model_version),
      cell(pct), cell(m.queue_depth));
    const actions = document.createElement("td");
    const q = encodeURIComponent(project.name);
    actions.append(link(`/static/annotate.html?project=${q}`, "annotate"), " · ",
      link(`/static/dashboard.html?project=${q}`, "dashboard"));
    tr.append(actions);
    return tr;
  }));
  body.replaceChildren(...rows);
}

refresh();
setInterval(refresh, 3000);
