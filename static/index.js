// Home: every project with its live figures, and a form to create one.
import { $, api, el, number, percent, scrollHints } from "/static/lib.js";

const REFRESH_MS = 2000;

// "exact match, 3 draws": what the estimate measures (as the project's dashboard names it),
// and on how many random draws it rests (the summary's `accuracy_samples`).
function drawsText(p) {
  const measure = p.task === "multilabel" || p.task === "spans" ? "exact match" : "accuracy";
  const samples = p.summary?.accuracy_samples;
  if (samples === null || samples === undefined) return measure;
  return `${measure}, ${number(samples)} draw${samples === 1 ? "" : "s"}`;
}

async function refresh() {
  try {
    // One request: each project comes with the figures this table shows, its `summary` (null
    // for a token that may not read metrics).
    const { projects } = await api("/api/projects");
    $("empty").hidden = projects.length > 0;
    $("projects").tBodies[0].replaceChildren(...projects.map((p) => {
      const m = p.summary ?? {};
      const name = encodeURIComponent(p.name);
      const estimate = m.accuracy_estimate;
      const hasEstimate = estimate !== null && estimate !== undefined;
      // On a phone each row is a card: each figure is named there (data-title), as the head
      // that a card has no room for does.
      return el("tr", { "data-project": p.name },
        el("td", { class: "project" }, el("b", {}, p.name), el("br"), el("small", { "data-settings": p.name }, settings(p))),
        el("td", { class: "labels-list", "data-title": "Labels" }, p.labels.join(", ")),
        el("td", { class: "num", "data-title": "Model version" }, number(m.model_version)),
        el("td", {
          class: "num",
          "data-title": p.task === "multilabel" || p.task === "spans" ? "Exact match on traffic (estimate)" : "Accuracy on traffic (estimate)",
          "data-estimate": p.name,
        }, percent(estimate), hasEstimate
          ? el("small", { class: "draws", "data-draws": p.name }, drawsText(p)) : null),
        el("td", { class: "num", "data-title": "Queue" }, number(m.queue_depth)),
        el("td", { class: "num", "data-title": "Annotators" }, number(m.annotators_online)),
        el("td", { class: "num", "data-title": "Labels / min" }, m.labels_per_minute?.toFixed(1) ?? "–"),
        el("td", { class: "actions" },
          el("a", { href: `/static/annotate.html?project=${name}` }, "annotate"), " ",
          el("a", { href: `/static/review.html?project=${name}` }, "review"), " ",
          el("a", { href: `/static/dashboard.html?project=${name}` }, "dashboard")));
    }));
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

// A project's settings in a line: input, task (with preselect), model (with its challengers),
// strategy.
function settings(p) {
  const task = p.task === "multilabel" ? `multilabel${p.preselect ? " (preselect)" : ""}` : p.task ?? "classify";
  const challengers = p.challengers?.length ? ` (challengers: ${p.challengers.join(", ")})` : "";
  return `${p.input} · ${task} · ${p.model}${challengers} · ${p.strategy}`;
}

// Copies of the server's lists, which no endpoint gives: tests/test_static_constants.py
// reads each as JSON and holds it equal to the server's (streamloop.online: STRATEGIES,
// MULTILABEL_STRATEGIES, SPAN_STRATEGIES, PRESETS, MULTILABEL_PRESETS; streamloop.online.multilabel:
// UNSUPPORTED_PAIRS, here by "model:input"). The strategies of each task (a multilabel one
// combines its labels' uncertainties, a span one reads the tagging of a text's tokens), the
// task's default first.
const STRATEGIES = {
  "classify": ["margin", "entropy", "least_confidence", "random"],
  "multilabel": ["min_margin", "mean_margin", "entropy", "random"],
  "spans": ["least_confidence", "token_entropy", "total_token_entropy", "min_margin", "random"]
};
// The one model a span project takes (a tagger of its own over a logistic regression per tag),
// and the one input: text.
const SPAN_MODELS = ["logistic_regression"];
const SPAN_INPUTS = ["text"];
// The models a multilabel project takes (the form's options are all of them: index.html).
const MULTILABEL_MODELS = ["logistic_regression", "naive_bayes", "hoeffding_tree"];
// A multilabel project's models that the server refuses with one input, and why.
const MULTILABEL_UNSUPPORTED = {
  "hoeffding_tree:text": "a Hoeffding tree per label learns nothing from text in its first few thousand labels"
};

/** Why a model cannot serve a multilabel project with this input, or null if it can (as the
 * server refuses it: `model: ...`). */
function multilabelRefusal(model, input) {
  if (!MULTILABEL_MODELS.includes(model)) return "is not for multilabel projects";
  const why = MULTILABEL_UNSUPPORTED[`${model}:${input}`];
  return why ? `is not for ${input} items in a multilabel project: ${why}` : null;
}

// How many labels the task takes, under the field.
const LABELS_HINT = {
  spans: "one or more, comma separated, in the order annotators see them",
  other: "two or more, comma separated, in the order annotators see them",
};

function taskChanged() {
  const form = $("create");
  const task = form.elements.task.value;
  form.elements.strategy.replaceChildren(...STRATEGIES[task].map((s) => el("option", {}, s)));
  for (const option of form.elements.input.options) {
    option.disabled = task === "spans" && !SPAN_INPUTS.includes(option.value);
    option.title = option.disabled ? "spans are marked in text: a span project's items are text" : "";
  }
  if (form.elements.input.selectedOptions[0]?.disabled) form.elements.input.value = SPAN_INPUTS[0];
  modelsChanged();
  for (const node of form.querySelectorAll("[data-multilabel]")) node.hidden = task !== "multilabel";
  $("labels-hint").textContent = task === "spans" ? LABELS_HINT.spans : LABELS_HINT.other;
}

// Each model `GET /api/models` lists, by name: its description, the tasks and inputs it serves,
// and, for an installed plugin refused by its contract check, which check and why. Empty until
// (or if never) the list comes: the form then offers the presets of index.html, undescribed.
const MODELS = new Map();
// A plugin whose contract check is still under way (its model may take seconds to load) is
// listed refused by this check: not offered yet, and the list is asked for again until it is
// checked, every RECHECK_MS, at most RECHECKS times.
const PENDING = "pending";
const RECHECK_MS = 2000;
const RECHECKS = 60;

/** Why an installed plugin's model cannot serve a project of this task and input, or null if
 * it can (as the server refuses it: a refused plugin, a task or an input it does not serve). */
function pluginRefusal(model, task, input) {
  if (model.refused?.check === PENDING) return "is not offered yet: its contract check is under way";
  if (model.refused) return `is refused by its check: ${model.refused.check}: ${model.refused.why}`;
  if (!model.tasks.includes(task)) return `serves ${model.tasks.join(", ")} projects only, not ${task}`;
  if (!model.input_kinds.includes(input)) {
    return `reads ${model.input_kinds.join(", ") || "no"} items only, not ${input}`;
  }
  return null;
}

/** Why a model cannot serve a project of this task and input, or null if it can. */
function modelRefusal(name, task, input) {
  const model = MODELS.get(name);
  if (model?.source === "plugin") return pluginRefusal(model, task, input);
  if (task === "multilabel") return multilabelRefusal(name, input);
  return task === "spans" && !SPAN_MODELS.includes(name) ? "is not for span projects" : null;
}

// The models the task and input allow; the others are disabled, and a line says why (a line
// each: the task's rule for the presets, then each plugin not offered). Under it, what the
// chosen model is: its description, from the list.
function modelsChanged() {
  const form = $("create");
  const task = form.elements.task.value;
  const input = form.elements.input.value;
  const multilabel = task === "multilabel";
  const spans = task === "spans";
  const plugins = [];
  for (const option of form.elements.model.options) {
    const refusal = modelRefusal(option.value, task, input);
    option.disabled = refusal !== null;
    option.title = refusal ? `${option.value} ${refusal}` : MODELS.get(option.value)?.description ?? "";
    if (refusal && MODELS.get(option.value)?.source === "plugin") plugins.push(`${option.value} ${refusal}.`);
  }
  if (form.elements.model.selectedOptions[0]?.disabled) form.elements.model.value = "logistic_regression";
  const lines = [
    multilabel ? modelNote(input) : spans ? `Spans: text only, and ${SPAN_MODELS.join(", ")} only (a tagger over it).` : "",
    ...plugins,
  ].filter(Boolean);
  $("model-note").replaceChildren(...lines.map((line) => el("span", { class: "line" }, line)));
  $("model-note").hidden = !lines.length;
  const chosen = form.elements.model.value;
  const description = MODELS.get(chosen)?.description;
  $("model-description").textContent = description ? `${chosen}: ${description}` : "";
  $("model-description").hidden = !description;
  challengersChanged();
}

// The most challengers a project may have (streamloop.ws.payloads: MAX_CHALLENGERS): each
// learns every label as the model serving does.
const MAX_CHALLENGERS = 3;

/** Why a model cannot be a challenger beside `chosen` in a project of this task and input, or
 * null if it can (as the server refuses it: `challengers: ...`). */
function challengerRefusal(name, chosen, task, input) {
  if (task === "spans") return "cannot be a challenger: a span project has one model, its tagger";
  if (name === chosen) return "serves production already: it is the model chosen above";
  return modelRefusal(name, task, input);
}

// A tick box for each model the model select offers (presets, then plugins), in its order: the
// ones the task and input allow and that do not serve already, as many as MAX_CHALLENGERS; a
// box no longer allowed is cleared. Why one is not offered is its title, as for the select.
function challengersChanged() {
  const form = $("create");
  const task = form.elements.task.value;
  const input = form.elements.input.value;
  const chosen = form.elements.model.value;
  const boxes = $("challenger-boxes");
  const shown = new Map([...boxes.querySelectorAll("input")].map((box) => [box.value, box]));
  for (const option of form.elements.model.options) {
    if (shown.has(option.value)) continue;
    const box = el("input", { type: "checkbox", name: "challengers", value: option.value });
    box.addEventListener("change", challengersChanged);
    boxes.append(el("label", { class: "box", "data-challenger": option.value }, box,
      el("span", {}, option.value, el("small", { class: "serving", hidden: true }, " (the model serving)"))));
    shown.set(option.value, box);
  }
  const refusals = new Map([...shown.keys()].map((name) => [name, challengerRefusal(name, chosen, task, input)]));
  for (const [name, box] of shown) if (refusals.get(name)) box.checked = false;
  const full = [...shown.values()].filter((box) => box.checked).length >= MAX_CHALLENGERS;
  for (const [name, box] of shown) {
    const refusal = refusals.get(name) ?? (full && !box.checked ? `cannot be chosen: ${MAX_CHALLENGERS} challengers at most` : null);
    box.disabled = refusal !== null;
    const label = box.closest("label");
    label.title = refusal ? `${name} ${refusal}` : MODELS.get(name)?.description ?? "";
    // The one a screen shows no title of: said beside its box.
    label.querySelector(".serving").hidden = name !== chosen || task === "spans";
  }
  const note = task === "spans" ? "Spans: no challengers, a span project has one model (its tagger)."
    : full ? `${MAX_CHALLENGERS} chosen: the most a project may have.` : "";
  $("challengers-note").textContent = note;
  $("challengers-note").hidden = !note;
}

/** The installed plugins as options after the presets, and every model's description: asked
 * once, and again while a plugin's check is under way. Without the list (an old server, a
 * failed request) the form keeps its presets. */
async function loadModels(rechecks = RECHECKS) {
  let models;
  try {
    ({ models } = await api("/api/models"));
  } catch {
    return;
  }
  const select = $("create").elements.model;
  const offered = new Set([...select.options].map((option) => option.value));
  for (const model of models) {
    MODELS.set(model.name, model);
    if (model.source === "plugin" && !offered.has(model.name)) {
      select.append(el("option", { value: model.name, "data-plugin": "" }, model.name));
    }
  }
  modelsChanged();
  if (rechecks > 0 && models.some((model) => model.refused?.check === PENDING)) {
    setTimeout(() => loadModels(rechecks - 1), RECHECK_MS);
  }
}

// What a multilabel project with this input takes not, in a line: "Multilabel with text: no
// adaptive_random_forest, and no hoeffding_tree (why)."
function modelNote(input) {
  // The presets' options (a plugin's model is refused by a line of its own).
  const models = [...$("create").elements.model.options].filter((option) => !option.hasAttribute("data-plugin"))
    .map((option) => option.value);
  const never = models.filter((model) => !MULTILABEL_MODELS.includes(model)).map((model) => `no ${model}`);
  const notWith = MULTILABEL_MODELS.flatMap((model) => {
    const why = MULTILABEL_UNSUPPORTED[`${model}:${input}`];
    return why ? [`no ${model} (${why})`] : [];
  });
  return `Multilabel${notWith.length ? ` with ${input}` : ""}: ${[...never, ...notWith].join(", and ")}.`;
}

$("create").elements.task.addEventListener("change", taskChanged);
$("create").elements.input.addEventListener("change", modelsChanged);
$("create").elements.model.addEventListener("change", modelsChanged);
// The form as the browser may have kept it from before a reload.
if ($("create").elements.task.value === "spans") taskChanged();
modelsChanged();
for (const node of $("create").querySelectorAll("[data-multilabel]")) node.hidden = $("create").elements.task.value !== "multilabel";

/** The fields an error can be shown beside (a `.field-error` slot each). */
const FIELDS = [
  "name", "labels", "task", "input", "model", "challengers", "strategy", "exploration", "lease_seconds", "routing", "thresholds",
  "target", "hide_suggestion", "guidelines", "label_descriptions",
];

function fieldError(field, message) {
  const slot = document.querySelector(`.field-error[data-for="${field}"]`);
  if (slot) slot.textContent = message;
  // A field of several controls (the challengers' boxes): each of them.
  for (const control of document.querySelectorAll(`#create [name="${field}"]`)) {
    control.setAttribute("aria-invalid", message ? "true" : "false");
  }
}

/** The name's rule as the form states it, for the server's pattern a person cannot read. */
const NAME_RULE = "1–64 lowercase letters, digits, - or _";

/**
 * A server's refusal, split by field: "body: Value error, model: not with text ..." gives
 * [["model", "Not with text ..."]]; "thresholds.bug: Input should be less than 1" gives
 * [["thresholds", "bug: Input should be less than 1"]]. A part that names no field of the form
 * comes back whole, with field null.
 */
function serverProblems(message) {
  return message.split(/; (?=(?:body[.:] ?)?[A-Za-z_][\w.-]*: )/).map((part) => {
    const bare = part.replace(/^body(?:: |\.)/, "").replace(/^Value error, /, "");
    const found = /^([a-z_]+)((?:\.[\w-]+)*): (?:Value error, )?([\s\S]+)$/.exec(bare);
    if (!found || !FIELDS.includes(found[1])) return [null, part];
    const [, field, path, text] = found;
    const where = path.slice(1).split(".").map((key) => (/^\d+$/.test(key) ? `#${Number(key) + 1}` : key)).join(".");
    if (field === "name" && /^String should match pattern/.test(text)) return [field, NAME_RULE];
    const sentence = text.charAt(0).toUpperCase() + text.slice(1);
    return [field, where ? `${where}: ${text}` : sentence];
  });
}

/** "bug=0.3, billing=0.7" as {bug: 0.3, billing: 0.7}; a string saying what is wrong otherwise. */
function parseThresholds(text, labels) {
  const thresholds = {};
  for (const part of text.split(",").map((x) => x.trim()).filter(Boolean)) {
    const found = /^(.+?)\s*[=:]\s*([0-9.]+)$/.exec(part);
    if (!found) return `Write each as label=share, as bug=0.3 (not “${part}”).`;
    const [, label, share] = found;
    if (!labels.includes(label)) return `“${label}” is not one of the labels.`;
    const value = Number(share);
    if (!(value > 0 && value < 1)) return `${label}: a threshold is between 0 and 1, not ${share}.`;
    thresholds[label] = value;
  }
  return thresholds;
}

/** "billing: money\nbug: the app" as {billing: "money", bug: "the app"}; a string saying what is wrong otherwise. */
function parseDescriptions(text, labels) {
  const descriptions = {};
  for (const line of text.split(/\r?\n/).map((x) => x.trim()).filter(Boolean)) {
    const found = /^([^:]+?)\s*:\s*(.+)$/.exec(line);
    if (!found) return `Write each line as label: what it means (not “${line}”).`;
    const [, label, description] = found;
    if (!labels.includes(label)) return `“${label}” is not one of the labels.`;
    descriptions[label] = description;
  }
  return descriptions;
}

// The name's rule is the server's alone: a name it refuses comes back as its 422, shown as the
// rule in words (NAME_RULE) rather than its pattern.
// A span project may have one label (its words are that or none); a label of an item's own
// needs two to choose between.
function validate(spec, task) {
  const problems = {};
  if (task === "spans" && !spec.labels.length) problems.labels = "Give at least one label.";
  else if (task !== "spans" && spec.labels.length < 2) problems.labels = "Give at least two labels.";
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
  const challengers = form.getAll("challengers");
  if (challengers.length) spec.challengers = challengers;
  const problems = validate(spec, form.get("task"));
  if (form.get("target")) {
    spec.target = Number(form.get("target"));
    if (!(Number.isInteger(spec.target) && spec.target >= 1)) problems.target = "A whole number, 1 or more.";
  }
  if (form.has("hide_suggestion")) spec.hide_suggestion = true;
  if (form.get("guidelines").trim()) spec.guidelines = form.get("guidelines");
  const descriptions = parseDescriptions(form.get("label_descriptions") ?? "", spec.labels);
  if (typeof descriptions === "string") problems.label_descriptions = descriptions;
  else if (Object.keys(descriptions).length) spec.label_descriptions = descriptions;
  if (form.get("task") === "spans") spec.task = "spans";
  if (form.get("task") === "multilabel") {
    Object.assign(spec, { task: "multilabel", preselect: form.has("preselect") });
    const thresholds = parseThresholds(form.get("thresholds") ?? "", spec.labels);
    if (typeof thresholds === "string") problems.thresholds = thresholds;
    else if (Object.keys(thresholds).length) spec.thresholds = thresholds;
  }
  for (const field of FIELDS) fieldError(field, problems[field] ?? "");
  $("create-error").hidden = true;
  if (Object.keys(problems).length) {
    document.querySelector('#create [aria-invalid="true"]:not(:disabled)')?.focus();
    return;
  }
  try {
    await api("/api/projects", { method: "POST", body: JSON.stringify(spec) });
    event.target.reset();
    location.href = `/static/dashboard.html?project=${encodeURIComponent(spec.name)}`;
  } catch (error) {
    // The server's own words, in the contract's shape: each part that names a field beside
    // that field, the rest under the form.
    const rest = [];
    if (error.code === "project_exists") {
      $("create-error").textContent = `A project named “${spec.name}” exists already.`;
      $("create-error").hidden = false;
    } else {
      const placed = new Map();
      for (const [field, text] of serverProblems(error.message)) {
        if (field) placed.set(field, placed.has(field) ? `${placed.get(field)} ${text}` : text);
        else rest.push(text);
      }
      for (const [field, text] of placed) fieldError(field, text);
      $("create-error").textContent = rest.join("; ");
      $("create-error").hidden = !rest.length;
      document.querySelector('#create [aria-invalid="true"]:not(:disabled)')?.focus();
    }
  }
});

scrollHints();
loadModels();
refresh();
