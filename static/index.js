// Home: every project with its live figures, and a form to create one.
import { $, api, el, number, percent } from "/static/lib.js";

const REFRESH_MS = 2000;

async function refresh() {
  try {
    // One request: each project comes with the figures this table shows, its `summary` (null
    // for a token that may not read metrics).
    const { projects } = await api("/api/projects");
    $("empty").hidden = projects.length > 0;
    $("projects").tBodies[0].replaceChildren(...projects.map((p) => {
      const m = p.summary ?? {};
      const name = encodeURIComponent(p.name);
      return el("tr", { "data-project": p.name },
        el("td", {}, el("b", {}, p.name), el("br"), el("small", { "data-settings": p.name }, settings(p))),
        el("td", {}, p.labels.join(", ")),
        el("td", { class: "num" }, number(m.model_version)),
        el("td", { class: "num" }, percent(m.accuracy_estimate)),
        el("td", { class: "num" }, number(m.queue_depth)),
        el("td", { class: "num" }, number(m.annotators_online)),
        el("td", { class: "num" }, m.labels_per_minute?.toFixed(1) ?? "–"),
        el("td", { class: "actions" },
          el("a", { href: `/static/annotate.html?project=${name}` }, "annotate"), " ",
          el("a", { href: `/static/review.html?project=${name}` }, "review"), " ",
          el("a", { href: `/static/dashboard.html?project=${name}` }, "dashboard")));
    }));
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

// A project's settings in a line: input, task (with preselect), model, strategy.
function settings(p) {
  const task = p.task === "multilabel" ? `multilabel${p.preselect ? " (preselect)" : ""}` : p.task ?? "classify";
  return `${p.input} · ${task} · ${p.model} · ${p.strategy}`;
}

// The strategies of each task (a multilabel one combines its labels' uncertainties); the
// first is the task's default. Multilabel projects take fewer models: the server names which.
const STRATEGIES = {
  classify: ["margin", "entropy", "least_confidence", "random"],
  multilabel: ["min_margin", "mean_margin", "entropy", "random"],
};
const MULTILABEL_MODELS = new Set(["logistic_regression", "naive_bayes", "hoeffding_tree"]);

function taskChanged() {
  const form = $("create");
  const task = form.elements.task.value;
  form.elements.strategy.replaceChildren(...STRATEGIES[task].map((s) => el("option", {}, s)));
  for (const option of form.elements.model.options) {
    option.disabled = task === "multilabel" && !MULTILABEL_MODELS.has(option.value);
  }
  if (form.elements.model.selectedOptions[0]?.disabled) form.elements.model.value = "logistic_regression";
  for (const node of form.querySelectorAll("[data-multilabel]")) node.hidden = task !== "multilabel";
}
$("create").elements.task.addEventListener("change", taskChanged);

function fieldError(field, message) {
  const slot = document.querySelector(`.field-error[data-for="${field}"]`);
  if (slot) slot.textContent = message;
  document.querySelector(`[name="${field}"]`)?.setAttribute("aria-invalid", message ? "true" : "false");
}

// The name's rule is the server's alone: a name it refuses comes back as its 422's message.
function validate(spec) {
  const problems = {};
  if (spec.labels.length < 2) problems.labels = "Give at least two labels.";
  else if (new Set(spec.labels).size !== spec.labels.length) problems.labels = "Labels must differ.";
  if (!(spec.exploration >= 0 && spec.exploration <= 1)) problems.exploration = "Between 0 and 1.";
  if (!(spec.lease_seconds > 0)) problems.lease_seconds = "More than 0 seconds.";
  return problems;
}

$("create").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const spec = {
    name: form.get("name").trim(),
    labels: form.get("labels").split(",").map((l) => l.trim()).filter(Boolean),
    input: form.get("input"),
    model: form.get("model"),
    strategy: form.get("strategy"),
    exploration: Number(form.get("exploration")),
    lease_seconds: Number(form.get("lease_seconds")),
    routing: form.get("routing"),
  };
  if (form.get("task") === "multilabel") Object.assign(spec, { task: "multilabel", preselect: form.has("preselect") });
  const problems = validate(spec);
  for (const field of ["labels", "exploration", "lease_seconds"]) fieldError(field, problems[field] ?? "");
  $("create-error").hidden = true;
  if (Object.keys(problems).length) {
    document.querySelector('[aria-invalid="true"]')?.focus();
    return;
  }
  try {
    await api("/api/projects", { method: "POST", body: JSON.stringify(spec) });
    event.target.reset();
    location.href = `/static/dashboard.html?project=${encodeURIComponent(spec.name)}`;
  } catch (error) {
    // The server's own words, in the contract's shape: shown as they come.
    $("create-error").textContent = error.code === "project_exists"
      ? `A project named “${spec.name}” exists already.` : error.message;
    $("create-error").hidden = false;
  }
});

refresh();
