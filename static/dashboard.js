// The supervisor dashboard: the dashboard socket's history first, then live metrics.
import { LineChart } from "/static/chart.js";
import { $, api, el, number, percent as spacedPercent, reconnecting, scrollHints, setStatus, shownText } from "/static/lib.js";

const project = new URLSearchParams(location.search).get("project");

const chart = new LineChart($("chart"), [
  // A series' name is its key here; its label says, in the legend, what it measures. Drawn in
  // this order, each on top of the ones before: until the window is full the rolling accuracy
  // is the accuracy, and its dots then show on the accuracy's line.
  { name: "accuracy", label: "annotators' items (hardest)", color: "#2f6fdb", width: 3 },
  { name: "rolling accuracy", label: "annotators' items, rolling", color: "#1d232b", line: "dotted", width: 3 },
  { name: "accuracy on random draws", label: "traffic (estimate)", color: "#d9730d", line: "dashed" },
], { yLabel: "accuracy against labels tested", xLabel: "labels", empty: "No labels yet" });

// A figure never breaks between its number and its unit, in a line of words either ("88.2 %").
const percent = (value) => spacedPercent(value).replace(" %", "\u00a0%");

let charted = 0; // labels up to which the chart is exact
let fetching = false;
let task = "classify"; // the metrics say: "classify", "multilabel" (label sets) or "spans"

// A multilabel project's accuracy is the exact match of whole sets; it has set figures, a
// per-label F1 and threshold, and no confusion matrix. A span project's is the exact match of
// an item's whole set of spans; it has span figures (F1, precision, recall, token accuracy)
// and a per-label F1. A node marked data-<task> shows for that task alone (or those tasks).
function setTask(next) {
  if (!next || next === task) return;
  task = next;
  const sets = task === "multilabel";
  const spans = task === "spans";
  for (const node of document.querySelectorAll("[data-multilabel], [data-classify], [data-spans]")) {
    node.hidden = !((sets && "multilabel" in node.dataset) || (spans && "spans" in node.dataset)
      || (task === "classify" && "classify" in node.dataset));
  }
  $("multilabel").hidden = !sets;
  $("spans").hidden = !spans;
  $("confusion-card").hidden = task !== "classify";
  if (spans) {
    $("accuracy-name").textContent = "Exact match on annotators' items";
    $("unbiased-name").textContent = "Exact match on traffic (estimate)";
    $("unbiased-name").closest(".figure").title = "The exact match of an item's whole set of spans on items "
      + "drawn at random for annotators, each scored before the model learned it: the model as it is now.";
    $("chart-title").textContent = "Exact match against the spans given";
    $("per-class-title").textContent = "Per label";
    chart.relabel({
      "rolling accuracy": "exact match on annotators' items, rolling",
      accuracy: "exact match on annotators' items (hardest)",
      "accuracy on random draws": "exact match on traffic (estimate)",
    }, "exact match against the spans learned", "items", "No items labelled yet");
    return;
  }
  if (!sets) return;
  $("accuracy-name").textContent = "Exact match on annotators' items";
  $("unbiased-name").textContent = "Exact match on traffic (estimate)";
  $("unbiased-name").closest(".figure").title = "The exact match of whole sets on items drawn at random "
    + "for annotators, each scored before the model learned it, the recent draws weighted most (a draw "
    + "counts half as much 15 draws later): the model as it is now. “All draws” under Exact match below "
    + "counts every draw since the start alike, so it lags behind while the model improves.";
  $("chart-title").textContent = "Exact match against label sets";
  $("per-class-title").textContent = "Per label";
  chart.relabel({
    "rolling accuracy": "exact match on annotators' items, rolling",
    accuracy: "exact match on annotators' items (hardest)",
    "accuracy on random draws": "exact match on traffic (estimate)",
  }, "exact match against label sets learned", "label sets", "No label sets yet");
}

// Pushes are coalesced (a few a second at most), so several labels may land in one push:
// the chart then takes the curve from the server again instead of drawing a straight line.
async function catchUp() {
  if (fetching) return;
  fetching = true;
  try {
    history(await api(`/api/projects/${encodeURIComponent(project)}/history`));
  } finally {
    fetching = false;
  }
}

function history(message) {
  charted = message.accuracy.at(-1)?.[0] ?? 0;
  chart.set("accuracy", message.accuracy.map(([n, accuracy]) => [n, accuracy]));
  chart.set("rolling accuracy", message.accuracy.map(([n, , rolling]) => [n, rolling]));
  chart.set("accuracy on random draws", message.unbiased);
}

function render(m) {
  setTask(m.task);
  for (const key of ["model_version", "labels_total", "queue_depth", "leased", "annotators_online", "events_total", "shed_total"]) {
    $(key).textContent = number(m[key]);
  }
  $("model_version_why").textContent = versionText(m);
  $("accuracy").textContent = percent(m.accuracy);
  $("rolling_accuracy").textContent = percent(m.rolling_accuracy);
  $("labels_per_minute").textContent = m.labels_per_minute.toFixed(1);
  const unbiased = m.unbiased_accuracy;
  $("unbiased").textContent = percent(unbiased?.estimate);
  // A multilabel project's estimate weighs recent draws most, unlike its "all draws" figures.
  $("unbiased_basis").hidden = task !== "multilabel" || unbiased?.estimate === null || !unbiased;
  $("unbiased_interval").textContent = unbiased?.estimate === null || !unbiased
    ? "no random draws yet"
    : `95\u00a0% from ${percent(unbiased.low)} to ${percent(unbiased.high)}, ${unbiased.samples} draws`;
  renderDrift(m.drift, m.exploration, m.unbiased_accuracy?.samples ?? 0);
  if (m.labels_total > charted + 1) {
    catchUp();
  } else if (m.labels_total === charted + 1) {
    charted = m.labels_total;
    chart.add("accuracy", [m.labels_total, m.accuracy]);
    chart.add("rolling accuracy", [m.labels_total, m.rolling_accuracy]);
    if (unbiased && unbiased.estimate !== null) {
      chart.add("accuracy on random draws", [m.labels_total, unbiased.estimate]);
    }
  }
  renderModels(m.models);
  renderPerClass(m.per_class, m.multilabel?.thresholds);
  if (m.confusion) renderConfusion(m.confusion);
  if (task === "multilabel") renderSets(m);
  if (task === "spans") renderSpans(m);
  renderAnnotators(m.annotators ?? {});
  $("skips_total").textContent = number(Object.values(m.annotators ?? {}).reduce((sum, a) => sum + (a.skips ?? 0), 0));
  renderSkipReasons(m.skip_reasons ?? {});
  renderProgress(m.progress);
  renderAgreement(m);
}

// The reasons given for skips, most given first (skips without a reason aside). A reason is an
// annotator's words: each takes its own direction, its bidi controls shown as marks.
function renderSkipReasons(reasons) {
  const given = Object.entries(reasons).sort((a, b) => b[1] - a[1]);
  if (!given.length) {
    $("skip_reasons").replaceChildren("no reason given yet");
    return;
  }
  $("skip_reasons").replaceChildren(...given.flatMap(([reason, count], n) => [
    n ? " · " : "", `${number(count)} “`, el("span", { dir: "auto" }, ...shownText(reason)), "”",
  ]));
}

// Items labelled, and how far to the target when the project has one.
function renderProgress(progress) {
  const labels = progress?.labels ?? 0;
  const target = progress?.target ?? null;
  $("progress").textContent = target ? `${percent(Math.min(1, labels / target))}` : number(labels);
  $("progress_bar").hidden = !target;
  if (target) $("progress_bar").value = Math.min(1, labels / target);
  $("progress_detail").textContent = target
    ? `${number(labels)} of ${number(target)} items labelled${labels >= target ? ": target reached" : ""}`
    : "items labelled; no target set";
}

// What a test counts, by task: a label, a label set, an item's spans.
const TESTED = { classify: ["label", "labels"], multilabel: ["label set", "label sets"], spans: ["item", "items"] };

/**
 * Why the model version is what it is, beside it: "3 labels tested + 1 correction". Each label
 * learned adds a version: the labels that tested the model (`labels_total`), and the
 * corrections, an annotator's or a reviewer's, learned untested (the model had seen the item);
 * so does each rebuild that quarantines or releases an annotator, which replays only the
 * labels that count.
 */
function versionText(m) {
  const version = m.model_version ?? 0;
  if (!version) return "untrained: no label learned yet";
  const tested = m.labels_total ?? 0;
  const corrected = Object.values(m.annotators ?? {}).reduce((sum, a) => sum + (a.corrections ?? 0), 0);
  const corrections = Math.max(0, Math.min(version - tested, corrected));
  const rebuilt = version - tested - corrections;
  if (!corrections && !rebuilt) return `one for each ${TESTED[task][0]} learned`;
  const parts = [`${number(tested)} ${TESTED[task][tested === 1 ? 0 : 1]} tested`];
  if (corrections) parts.push(`${number(corrections)} correction${corrections === 1 ? "" : "s"}`);
  if (rebuilt > 0) parts.push(`${number(rebuilt)} from rebuilds`);
  return parts.join(" + ");
}

// -- the project's models: the one serving production and its challengers, side by side ----

let promoting = false; // a promotion asked for and not answered yet
let modelsShown = ""; // the models' names and roles, in order, as the table has them
const modelRows = new Map(); // a model's name: its row's cells that change with each push

/**
 * Every model of the project (`models`, the one serving first): its role, its estimate on
 * traffic with its interval (as the lead figure), its accuracy on annotators' items, rolling,
 * and the labels that tested it; a challenger has a Promote button. The rows are made again
 * only when the models or their roles change, so a button keeps the keyboard's focus while the
 * figures move. A project of one model has no table: a line says so, and how to add challengers.
 */
function renderModels(models) {
  const entries = Object.entries(models ?? {});
  const one = entries.length <= 1;
  $("models-card").hidden = one;
  $("models-one").hidden = entries.length !== 1;
  if (one) {
    if (entries.length) $("models-one").textContent = oneModelText(entries[0][0]);
    return;
  }
  const exact = task === "classify" ? "Accuracy" : "Exact match";
  $("models-estimate-head").textContent = `${exact} on traffic (estimate)`;
  $("models-accuracy-head").textContent = `${exact} on annotators' items`;
  const shown = JSON.stringify(entries.map(([name, model]) => [name, model.serving]));
  if (shown !== modelsShown) {
    modelsShown = shown;
    modelRows.clear();
    $("models").tBodies[0].replaceChildren(...entries.map(([name, model]) => modelRow(name, model.serving)));
  }
  for (const [name, model] of entries) {
    const cells = modelRows.get(name);
    const estimate = model.unbiased_accuracy;
    const drawn = estimate && estimate.estimate !== null && estimate.estimate !== undefined;
    cells.estimate.replaceChildren(percent(estimate?.estimate), el("small", {}, drawn
      ? `95\u00a0% from ${percent(estimate.low)} to ${percent(estimate.high)}, ${number(estimate.samples)} draws`
      : "no random draws yet"));
    cells.accuracy.textContent = percent(model.accuracy);
    cells.rolling.textContent = percent(model.rolling_accuracy);
    cells.labels.textContent = number(model.labels_total);
  }
}

function modelRow(name, serving) {
  const cells = {
    estimate: el("td", { class: "num", "data-model-estimate": name }),
    accuracy: el("td", { class: "num", "data-model-accuracy": name }),
    rolling: el("td", { class: "num", "data-model-rolling": name }),
    labels: el("td", { class: "num", "data-model-labels": name }),
  };
  modelRows.set(name, cells);
  const role = serving
    ? el("span", { class: "serving" }, "serving production")
    : el("span", {}, "challenger", el("button", {
      type: "button", class: "promote", "data-promote": name, disabled: promoting, onclick: () => promote(name),
    }, "Promote", el("span", { class: "visually-hidden" }, ` ${name}`)));
  return el("tr", { "data-model": name, "data-serving": serving ? "true" : "false" },
    el("td", { class: "model" }, el("b", {}, name)),
    el("td", { class: "role", "data-model-role": name }, role),
    cells.estimate, cells.accuracy, cells.rolling, cells.labels);
}

function oneModelText(name) {
  if (task === "spans") return `One model serves this project, ${name} (a tagger over it): a span project has no challengers.`;
  return `One model serves this project, ${name}: no challengers learn beside it to compare and promote. `
    + "Challengers are chosen when a project is created (the home page's form, or challengers in POST /api/projects).";
}

/** The Promote buttons' answer, under the table: how it went, or why not. */
function promoteOutcome(text, failed = false) {
  $("promote-outcome").textContent = text;
  $("promote-outcome").classList.toggle("error", failed);
}

// Promotion changes what production is served from the next request: asked first. The table
// follows from the next metrics push (the server pushes once the roles change).
async function promote(name) {
  if (promoting) return;
  const serving = JSON.parse(modelsShown || "[]").find(([, on]) => on)?.[0] ?? "the model serving";
  const sure = window.confirm(`Serve production with ${name} instead of ${serving}?\n\n`
    + `From the next request, every prediction and every routing decision is ${name}'s. `
    + `${serving} becomes a challenger and goes on learning, so it can be promoted back.`);
  if (!sure) return;
  promoting = true;
  for (const button of document.querySelectorAll("#models button.promote")) button.disabled = true;
  promoteOutcome(`Promoting ${name}…`);
  try {
    const answer = await api(`/api/projects/${encodeURIComponent(project)}/models/${encodeURIComponent(name)}/promote`, {
      method: "POST", body: "{}",
    });
    const others = answer.challengers ?? [];
    promoteOutcome(`${answer.model} serves production now, as model version ${number(answer.model_version)}`
      + `${others.length ? `; challenger${others.length === 1 ? "" : "s"}: ${others.join(", ")}` : ""}.`);
  } catch (error) {
    promoteOutcome(`${name} was not promoted: ${error.message}`, true);
  } finally {
    promoting = false;
    for (const button of document.querySelectorAll("#models button.promote")) button.disabled = false;
  }
}

// Per class, or per label of a multilabel project (with its F1 and its threshold), or of a span
// project (with its F1).
function renderPerClass(perClass, thresholds) {
  const sets = task === "multilabel";
  $("per-class").tBodies[0].replaceChildren(...Object.entries(perClass).map(([label, c]) => el("tr", { "data-label": label },
    el("td", {}, label), el("td", { class: "num" }, percent(c.precision)),
    el("td", { class: "num" }, percent(c.recall)),
    sets || task === "spans" ? el("td", { class: "num", "data-f1": label }, percent(c.f1)) : null,
    el("td", { class: "num", "data-support": label }, number(c.support)),
    sets ? el("td", { class: "num" }, thresholds?.[label]?.toFixed(2) ?? "–") : null)));
}

// The set figures sit beside accuracy; `multilabel` holds the thresholds and the figures over
// random draws.
function renderSets(m) {
  for (const key of ["micro_f1", "macro_f1", "hamming_loss", "exact_match", "rolling_micro_f1", "rolling_exact_match"]) {
    $(key).textContent = percent(m[key]);
  }
  const unbiased = m.multilabel?.unbiased ?? {};
  for (const key of ["micro_f1", "macro_f1", "hamming_loss", "exact_match"]) {
    $(`unbiased_${key}`).textContent = percent(unbiased[key]);
  }
  $("unbiased_labels_total").textContent = number(unbiased.labels_total ?? 0);
  $("ml_window").textContent = m.window ? `${number(m.window)} labels` : "labels";
}

// The span figures sit beside accuracy (the exact match of whole span sets); `spans.unbiased`
// holds the figures over random draws.
function renderSpans(m) {
  for (const key of ["f1", "rolling_f1", "precision", "recall", "macro_f1", "token_accuracy"]) {
    $(`span_${key}`).textContent = percent(m[key]);
  }
  const unbiased = m.spans?.unbiased ?? {};
  for (const key of ["f1", "precision", "recall", "token_accuracy"]) {
    $(`span_unbiased_${key}`).textContent = percent(unbiased[key]);
  }
  $("span_unbiased_labels_total").textContent = number(unbiased.labels_total ?? 0);
  $("span_window").textContent = m.window ? `${number(m.window)} labels` : "labels";
}

function renderAnnotators(annotators) {
  $("annotators").tBodies[0].replaceChildren(...Object.entries(annotators).map(([name, a]) =>
    el("tr", { "data-annotator": name }, el("td", {}, name),
      el("td", { class: "status" }, el("span", { class: a.online ? "dot online" : "dot" }), a.online ? " online" : " away"),
      el("td", { class: "state", "data-state": a.state ?? "", "data-annotator": name },
        STATE_TEXT[a.state] ?? a.state ?? "–"),
      el("td", { class: "num", "data-labels": name }, number(a.labels), a.recorded
        ? el("small", { title: "labels recorded, not learned: the later labels of overlapped items" }, ` + ${number(a.recorded)} recorded`)
        : null),
      el("td", { class: "num" }, percent(a.agreement)),
      el("td", { class: "num" }, number(a.corrections)),
      el("td", { class: "num", "data-seconds": name }, seconds(a.seconds_per_label)),
      el("td", { class: "num", "data-skips": name }, number(a.skips)),
      el("td", { class: "num", "data-gold": name }, goldText(a.gold)))));
}

const seconds = (value) => (value === null || value === undefined ? "–" : `${value.toFixed(1)} s`);
const kappaText = (value) => (value === null || value === undefined ? "\u2014" : value.toFixed(2));

// Spans have no chance-corrected agreement (the units that could be marked are not fixed): a
// span project's agreement is the span F1 between annotators (`measure: "span_f1"`), in alpha's
// place, per label and per pair (in kappa's).
function renderAgreement(m) {
  const agreement = m.agreement;
  const spans = agreement?.measure === "span_f1";
  $("alpha-name").textContent = spans ? "Span F1 between annotators" : "Alpha";
  const figure = spans ? agreement.f1 : agreement?.alpha;
  $("alpha").textContent = figure === null || figure === undefined ? "–" : figure.toFixed(2);
  const distance = agreement?.distance === "masi" ? ", sets compared by MASI distance"
    : spans ? `; the same spans ${percent(agreement.exact)} of the time` : "";
  $("alpha_items").textContent = agreement?.items
    ? `on ${number(agreement.items)} item${agreement.items === 1 ? "" : "s"}${distance}` : "no shared items yet";
  const perLabel = Object.entries(agreement?.per_label ?? {});
  $("alpha-per-label").hidden = !perLabel.length;
  const perLabelName = spans ? "Span F1 per label: " : "Alpha per label (applies or not): ";
  $("alpha-per-label").replaceChildren(perLabelName, ...perLabel.flatMap(([label, alpha], i) => [
    i ? " · " : "", el("span", { "data-alpha": label }, `${label} ${kappaText(alpha)}`)]));
  $("review_waiting").textContent = number(m.review?.waiting);
  $("review_leased").textContent = number(m.review?.leased);
  $("overlap_waiting").textContent = number(m.overlap_waiting);
  renderKappa(m.annotators ?? {});
}

/** What the pairs' table holds: Cohen's kappa, or a span project's span F1. */
const pairMeasure = () => (task === "spans" ? "span F1" : "Cohen's kappa");

// Annotators × annotators: the kappa of each pair that shared items, a dash where none.
function renderKappa(annotators) {
  const names = Object.keys(annotators).filter((name) => Object.keys(annotators[name].kappa ?? {}).length).sort();
  $("kappa").setAttribute("aria-label", `${pairMeasure()} of each pair`);
  $("kappa").hidden = names.length === 0;
  $("kappa-box").hidden = names.length === 0;
  $("kappa-none").hidden = names.length > 0;
  if (!names.length) { $("kappa").replaceChildren(); return; }
  const corner = el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Annotator"));
  const head = el("tr", {}, corner, ...names.map((other) => el("th", { scope: "col" }, other)));
  const rows = names.map((name) => el("tr", {}, el("th", { scope: "row" }, name), ...names.map((other) => {
    if (other === name) return el("td", { class: "num self" }, "");
    const value = annotators[name].kappa?.[other];
    const shared = value !== null && value !== undefined;
    return el("td", {
      class: "num",
      "data-pair": `${name}:${other}`,
      style: shared ? { "--shade": Math.max(0, value).toFixed(3) } : undefined,
      title: shared ? `${pairMeasure()} of ${name} and ${other}: ${value.toFixed(3)}` : `${name} and ${other}: no ${pairMeasure()}`,
    }, kappaText(value));
  })));
  $("kappa").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

async function showOverlap() {
  try {
    const { overlap } = await api(`/api/projects/${encodeURIComponent(project)}`);
    $("overlap_setting").textContent = overlap
      ? `${percent(overlap.share)} of items go to ${overlap.annotators} annotators`
      : "overlap is off for this project";
  } catch {
    // The figure stands without its setting.
  }
}

// Whether an annotator's labels count (quarantine rebuilds the model without them).
const STATE_TEXT = {
  active: "counted",
  rebuilding: "rebuilding the model",
  quarantined: "quarantined: not counted",
};

// "80.0 % [49.0–94.3] of 10", or a dash before any gold answer.
function goldText(gold) {
  if (!gold) return "–";
  const share = (value) => (100 * value).toFixed(1);
  return `${share(gold.accuracy)} % [${share(gold.low)}–${share(gold.high)}] of ${gold.answered}`;
}

const DRIFT_TEXT = {
  none: ["none", "random draws agree with the model"],
  warning: ["checking", "labels surprise the model: drawing items at random to confirm"],
  drift: ["drift", "the stream changed: older waiting items set aside, exploring more"],
};

function renderDrift(drift, exploration, draws) {
  if (!drift) return;
  const [word, detail] = DRIFT_TEXT[drift.state] ?? [drift.state, ""];
  $("drift").textContent = word;
  $("drift").closest(".figure").dataset.state = drift.state;
  const since = drift.state === "none" ? "" : ` since label ${number(drift.changed_at)}`;
  // Nothing to agree or disagree before any item was drawn at random.
  const said = drift.state === "none" && !draws ? "no random draws yet to check the model" : detail;
  $("drift_detail").textContent = `${said}${since}; exploring ${percent(exploration)}`;
  chart.mark(drift.drifts.map((at) => ({ x: at, label: "drift" })));
}

function renderConfusion(confusion) {
  const labels = Object.keys(confusion);
  const max = Math.max(1, ...labels.flatMap((t) => labels.map((p) => confusion[t][p])));
  const corner = el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Label given"));
  const head = el("tr", {}, corner, ...labels.map((p) => el("th", { scope: "col" }, p)));
  const rows = labels.map((truth) => el("tr", {}, el("th", { scope: "row" }, truth),
    ...labels.map((predicted) => {
      const count = confusion[truth][predicted];
      const shade = count / max;
      return el("td", {
        class: truth === predicted ? "num hit" : "num",
        style: { "--shade": shade.toFixed(3) },
        title: `${count} labelled ${truth}, predicted ${predicted}`,
      }, number(count));
    })));
  $("confusion").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

function connect() {
  reconnecting(`/ws/projects/${encodeURIComponent(project)}/dashboard`, {
    connectedText: "live",
    message(message) {
      if (message.type === "history") history(message);
      else if (message.type === "metrics") render(message);
      else if (message.type === "error") setStatus("offline", message.message);
    },
  });
}

async function choose() {
  const { projects } = await api("/api/projects");
  const list = el("ul", { class: "choices" }, ...projects.map((p) =>
    el("li", {}, el("a", { href: `?project=${encodeURIComponent(p.name)}` }, p.name))));
  document.querySelector("main").replaceChildren(el("section", { class: "card" }, el("h2", {}, "Choose a project"), list));
  setStatus("offline", "no project chosen");
}

scrollHints();

if (project) {
  $("project").textContent = project;
  const name = encodeURIComponent(project);
  $("crumb").replaceChildren(
    el("a", { href: `/static/annotate.html?project=${name}` }, "annotate"),
    el("a", { href: `/static/review.html?project=${name}` }, "review"));
  $("review-link").href = `/static/review.html?project=${name}`;
  connect();
  showOverlap();
} else {
  choose();
}
