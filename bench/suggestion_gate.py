"""Suggestion gate: after how many labels, and on what evidence, should a suggestion be shown?

The annotator app shows the model's suggestion for an item only when the server calls the
model's track record trusted (`streamloop.online.suggestion.track_record`): at least
``SUGGEST_AFTER`` tested answers in its rolling window, and the lower end of the 95% Wilson
interval of their accuracy above chance (for one label an item, the larger of 1 / labels and the
commonest label's share so far; for sets and spans, where right means the whole answer, the
commonest exact answer's share of the window: `suggestion.chance`, as the service reckons it).
Annotators copy what they are shown, so a suggestion shown should be right much more often than
a guess; but a gate that stays shut hides useful ones.

Each data set's items are labelled one at a time by an oracle (their true answers), through the
model a project gets by default (`ProjectSpec`'s defaults, built by `streams.learner.new_model`:
logistic regression with rehearsal 3; the task's default strategy), in two orders:

- ``random``: the items in a random order, as a stream would bring them;
- ``routed``: leased as the service's pool routing leases them (`RoutingQueue`,
  `RoutingPolicy` with the default strategy, 20% exploration, a 20-label random warm-up),
  so mostly the items the model is least sure of, the population the track record is
  measured on in the service.

Before each label, each candidate gate decides on the model's record so far whether the
suggestion would be shown; the label then tests the prediction (right or wrong) and trains the
model. Candidates: ``always`` (the old behaviour); ``wilson@N``, the Wilson lower bound above
chance from N tested answers, N in 5, 10, 20, 40; ``point@N``, the rolling accuracy itself above
chance from N answers. ``wilson@SUGGEST_AFTER`` is checked against the real `track_record` at
every step.

    python bench/suggestion_gate.py --seeds 5     # about 6 minutes on 2 shared cores
    python bench/suggestion_gate.py --tables-only # the tables again, from the saved results

The data sets: the demo's generated tickets (one topic; topic sets; entity spans), scikit-learn's
digits, wine and breast_cancer, River's phishing and its Agrawal generator (function 0: two
classes, two to one). Writes ``bench/results/suggestion_gate.json`` (every run's steps) and
``bench/results/suggestion_gate.txt`` (the tables BENCHMARKS.md quotes).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import DATASETS as TABULAR
from server import machine_line

from streamloop.demo import EntitiesGenerator, TicketGenerator, TopicsGenerator
from streamloop.online.estimate import wilson_interval
from streamloop.online.routing import Ranking, RoutingPolicy
from streamloop.online.suggestion import SUGGEST_AFTER, chance, track_record
from streamloop.online.tasks import AnyModel
from streamloop.store.records import ProjectRecord
from streamloop.streams import arrivals
from streamloop.streams.learner import new_model
from streamloop.streams.queue import QueuedItem, RoutingQueue
from streamloop.ws.payloads import ProjectSpec

RESULTS = Path(__file__).resolve().parent / "results"
WINDOWS = (50, 100, 200)
ORDERS = ("random", "routed")


@dataclass(frozen=True)
class Gate:
    """Show the suggestion once ``after`` answers were tested and their accuracy (its Wilson
    lower bound, or the share itself) is above chance; ``after`` 0 and no test: always."""

    name: str
    after: int
    wilson: bool = True

    def shows(self, right: int, of: int, chance: float) -> bool:
        if self.name == "always":
            return True
        if of < max(1, self.after):
            return False
        if not self.wilson:
            return right / of > chance
        interval = wilson_interval(right, of)
        return interval is not None and interval[1] > chance


GATES = (
    Gate("always", 0, wilson=False),
    *(Gate(f"wilson@{n}", n) for n in (5, 10, 20, 40)),
    Gate("point@1", 1, wilson=False),
    Gate("point@10", 10, wilson=False),
)
#: The gate the service uses now, checked against `track_record` at every step.
SERVICE_GATE = f"wilson@{SUGGEST_AFTER}"


@dataclass(frozen=True)
class DataSet:
    task: str
    input: str
    #: (rows, answers, the project's labels) for a seed: ``size`` items at most, in random order.
    load: Callable[[int, int], tuple[list[dict[str, Any]], list[Any], list[str]]]


def _generated(kind: Any) -> Callable[[int, int], tuple[list[Any], list[Any], list[str]]]:
    def load(seed: int, size: int) -> tuple[list[Any], list[Any], list[str]]:
        stream = iter(kind(seed=seed))
        items = [next(stream) for _ in range(size)]
        return [data for _, data, _ in items], [truth for _, _, truth in items], list(kind.labels)

    return load


def _shuffled(rows: list[dict[str, Any]], answers: list[str], seed: int, size: int) -> Any:
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    order = order[:size]
    return [rows[i] for i in order], [answers[i] for i in order], sorted(set(answers))


def _tabular(name: str) -> Callable[[int, int], Any]:
    def load(seed: int, size: int) -> Any:
        rows, answers = TABULAR[name]()
        return _shuffled(rows, answers, seed, size)

    return load


def _digits(seed: int, size: int) -> Any:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rows = [{f"pixel_{n}": float(v) for n, v in enumerate(row)} for row in bunch.data]
    return _shuffled(rows, [str(t) for t in bunch.target], seed, size)


def _agrawal(seed: int, size: int) -> Any:
    from river.datasets import synth

    # Function 0 (a rule on age and salary) gives two classes two to one: a test of the
    # "commonest label" chance.
    items = list(synth.Agrawal(classification_function=0, seed=seed).take(size))
    return [dict(x) for x, _ in items], [str(y) for _, y in items], ["0", "1"]


DATA_SETS: dict[str, DataSet] = {
    "tickets": DataSet("classify", "text", _generated(TicketGenerator)),
    "ticket-topics": DataSet("multilabel", "text", _generated(TopicsGenerator)),
    "ticket-entities": DataSet("spans", "text", _generated(EntitiesGenerator)),
    "digits": DataSet("classify", "tabular", _digits),
    "wine": DataSet("classify", "tabular", _tabular("wine")),
    "breast_cancer": DataSet("classify", "tabular", _tabular("breast_cancer")),
    "phishing": DataSet("classify", "tabular", _tabular("phishing")),
    "agrawal": DataSet("classify", "tabular", _agrawal),
}


def default_project(name: str, data: DataSet, labels: Sequence[str], seed: int) -> ProjectRecord:
    """The project the API makes from just a name, labels, input and task: every other
    setting is `ProjectSpec`'s default."""
    spec = ProjectSpec(name=name, labels=list(labels), input=data.input, task=data.task, seed=seed)
    fields = spec.model_dump(
        include={
            "model",
            "strategy",
            "exploration",
            "lease_seconds",
            "warmup",
            "rehearsal",
            "routing",
            "labels_per_annotator_hour",
            "diversity",
        }
    )
    return ProjectRecord(
        id=0,
        name=name,
        labels=tuple(labels),
        input=data.input,
        task=data.task,
        seed=seed,
        created_at=datetime.now(UTC),
        **fields,
    )


def decide(model: AnyModel) -> tuple[list[bool], float]:
    """Each gate's decision on the model's record now, and the chance it was measured against."""
    metrics = model.metrics
    of = min(metrics.labels_total, metrics.window)
    _, rolling = metrics.accuracies()
    right = round((rolling or 0.0) * of)
    guess = chance(metrics)
    shown = [gate.shows(right, of, guess) for gate in GATES]
    service = track_record(metrics, guess)["trusted"]
    assert shown[[g.name for g in GATES].index(SERVICE_GATE)] == service, (right, of, guess)
    return shown, guess


def run(name: str, order: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One oracle's labels; per label, whether each gate shows the suggestion and whether the
    model's prediction (made before learning it) was right."""
    data = DATA_SETS[name]
    rows, answers, labels = data.load(seed, args.pool)
    # Routing needs a pool to choose from: at most half of it is labelled.
    budget = min(args.labels, len(rows) if order == "random" else len(rows) // 2)
    record = default_project(name, data, labels, seed)
    model = new_model(record)
    steps: dict[str, list[Any]] = {"right": [], "chance": [], "random": []}
    steps |= {gate.name: [] for gate in GATES}

    def label(index: int, drawn_at_random: bool) -> None:
        shown, guess = decide(model)
        learned = model.learn(rows[index], answers[index], drawn_at_random=drawn_at_random)
        # No prediction (an untrained model): nothing to show, whatever the gate.
        steps["right"].append(None if learned.predicted is None else learned.correct)
        steps["chance"].append(round(guess, 4))
        steps["random"].append(drawn_at_random)
        for gate, show in zip(GATES, shown, strict=True):
            steps[gate.name].append(show and learned.predicted is not None)

    if order == "random":
        for index in range(budget):
            label(index, True)
        return steps
    policy = RoutingPolicy(record.strategy, exploration=record.exploration, warmup=record.warmup)
    queue = RoutingQueue(len(rows) + 1, random.Random(seed))
    # As ingest does: the exploration share of arrivals is sampled, a fair sample to draw from.
    arrival_rng = random.Random(seed + 3)
    for index, row in enumerate(rows):
        sampled = arrival_rng.random() < record.exploration
        queue.push(QueuedItem(index, str(index), row, 1.0, drawn_at_random=sampled))
    rng = random.Random(seed + 1)

    def scorer(items: Any) -> Ranking:
        return policy.score(model, [item.data for item in items])

    for _ in range(budget):
        lease = queue.lease(
            holder="oracle",
            annotator="oracle",
            now=0.0,
            duration=1e9,
            scorer=scorer,
            candidates=32,
            explore=policy.explore(model.version, rng, share=arrivals.exploration(record, model)),
            random_counts=policy.random_counts(model.version),
        )
        assert lease is not None
        queue.remove(lease.item.item_id)
        label(lease.item.item_id, lease.drawn_at_random)
    return steps


# -- tables ---------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]], gate: str) -> dict[str, Any]:
    """Figures over the seeds' runs, pooled; ``first`` is per run (labels learned before the
    first suggestion shown; None: none within the run)."""
    figures: dict[str, Any] = {"first": [], "labels": min(len(run["right"]) for run in runs)}
    for run in runs:
        first = next((n for n, shown in enumerate(run[gate]) if shown), None)
        figures["first"].append(first)
    for window in WINDOWS:
        items = shown = shown_right = predicted = predicted_right = hidden_right = wrong = 0
        for run in runs:
            for right, show in zip(run["right"][:window], run[gate][:window], strict=True):
                items += 1
                if right is None:
                    continue
                predicted += 1
                predicted_right += right
                if show:
                    shown += 1
                    shown_right += right
                    wrong += not right
                else:
                    hidden_right += right
        figures[window] = {
            "items": items,
            "shown": shown / items,
            "shown_right": shown_right / shown if shown else None,
            "hidden_right": hidden_right / (predicted - shown) if predicted > shown else None,
            "all_right": predicted_right / predicted if predicted else None,
            "wrong_shown": wrong / len(runs),
            "right_hidden": hidden_right / len(runs),
        }
    return figures


def _first(values: list[int | None], labels: int) -> str:
    if all(v is None for v in values):
        return f">{labels}"
    known = sorted(v if v is not None else labels + 1 for v in values)
    middle = statistics.median_low(known)
    low, high = known[0], known[-1]
    text = lambda v: f">{labels}" if v > labels else str(v)  # noqa: E731
    return f"{text(middle)} ({text(low)}-{text(high)})"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}"


def table(results: dict[str, dict[str, list[dict[str, Any]]]], order: str) -> str:
    """One row per data set and gate: when it first shows a suggestion (median over seeds,
    range), how many items it shows one for, how often those are right, and per run, the wrong
    suggestions it shows and the right ones it hides in the first 100 labels."""
    head = (
        "| data set (chance) | gate | first shown after | shown % 1-50 / 1-100 / 1-200 "
        "| right % of shown 1-50 / 1-100 / 1-200 | wrong shown, right hidden in 1-100 |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|"]
    for name, orders in results.items():
        runs = orders.get(order)
        if not runs:
            continue
        final_chance = statistics.fmean(run["chance"][-1] for run in runs)
        labels = min(len(run["right"]) for run in runs)
        for gate in GATES:
            f = summarise(runs, gate.name)
            # A run shorter than a window: that window is the whole run, the longer ones "-".
            windows = [w for n, w in enumerate(WINDOWS) if n == 0 or WINDOWS[n - 1] < labels]
            shown = " / ".join(_pct(f[w]["shown"]) if w in windows else "-" for w in WINDOWS)
            right = " / ".join(_pct(f[w]["shown_right"]) if w in windows else "-" for w in WINDOWS)
            w100 = f[100]
            lines.append(
                f"| {name} ({final_chance:.2f}, {labels} labels) | {gate.name} "
                f"| {_first(f['first'], labels)} | {shown} | {right} "
                f"| {w100['wrong_shown']:.1f}, {w100['right_hidden']:.1f} |"
            )
    return "\n".join(lines)


def overview(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Per gate and order, means over the data sets of figures in the first 100 labels:
    labels before the first suggestion (the median over seeds; a run that showed none counts
    as its length), the share shown, how many points more often the shown suggestions were
    right than all predictions (the data sets where it showed some), how often the hidden
    ones were right (where it hid some), and per run the wrong suggestions shown and the right
    ones hidden."""
    lines = [
        "| order | gate | first shown after | shown % | right % of shown minus of all "
        "| right % of hidden | wrong shown | right hidden |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for order in ORDERS:
        for gate in GATES:
            firsts, shown, gain, hidden_right, wrong, hidden = [], [], [], [], [], []
            for orders in results.values():
                runs = orders.get(order)
                if not runs:
                    continue
                f = summarise(runs, gate.name)
                labels = f["labels"]
                w = f[100]
                firsts.append(
                    statistics.median_low([v if v is not None else labels for v in f["first"]])
                )
                shown.append(w["shown"])
                wrong.append(w["wrong_shown"])
                hidden.append(w["right_hidden"])
                if w["shown_right"] is not None:
                    gain.append(w["shown_right"] - w["all_right"])
                if w["hidden_right"] is not None:
                    hidden_right.append(w["hidden_right"])
            lines.append(
                f"| {order} | {gate.name} | {statistics.fmean(firsts):.1f} "
                f"| {100 * statistics.fmean(shown):.0f} "
                f"| {f'{100 * statistics.fmean(gain):+.1f}' if gain else '-'} "
                f"| {_pct(statistics.fmean(hidden_right) if hidden_right else None)} "
                f"| {statistics.fmean(wrong):.1f} | {statistics.fmean(hidden):.1f} |"
            )
    return "\n".join(lines)


def compact(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """One row per data set and order: when each gate first shows a suggestion (the median over
    seeds), then the service's gate against always showing."""
    names = [gate.name for gate in GATES if gate.name != "always"]
    lines = [
        f"| data set | order | chance | first shown after: {' / '.join(names)} "
        f"| shown % 1-100, {SERVICE_GATE} | right % of shown 1-50, always / {SERVICE_GATE} "
        f"| same, 1-100 | wrong shown, right hidden in 1-100, {SERVICE_GATE} |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, orders in results.items():
        for order, runs in orders.items():
            labels = min(len(run["right"]) for run in runs)
            figures = {gate: summarise(runs, gate) for gate in ["always", *names]}
            firsts = []
            for gate in names:
                first = statistics.median_low(
                    [v if v is not None else labels + 1 for v in figures[gate]["first"]]
                )
                firsts.append(f">{labels}" if first > labels else str(first))
            always, gated = figures["always"], figures[SERVICE_GATE]
            lines.append(
                f"| {name} | {order} | {statistics.fmean(run['chance'][-1] for run in runs):.2f} "
                f"| {' / '.join(firsts)} | {_pct(gated[100]['shown'])} "
                f"| {_pct(always[50]['shown_right'])} / {_pct(gated[50]['shown_right'])} "
                f"| {_pct(always[100]['shown_right'])} / {_pct(gated[100]['shown_right'])} "
                f"| {gated[100]['wrong_shown']:.1f}, {gated[100]['right_hidden']:.1f} |"
            )
    return "\n".join(lines)


def report(results: dict[str, dict[str, list[dict[str, Any]]]], orders: Sequence[str]) -> str:
    without = {name: runs for name, runs in results.items() if name != "agrawal"}
    return "\n\n".join(
        [
            machine_line(),
            "Over the data sets, first 100 labels:",
            overview(results),
            "The same without agrawal (where the model never beats the commonest label):",
            overview(without),
            "Per data set:",
            compact(results),
            *(f"Order: {order}\n\n{table(results, order)}" for order in orders),
        ]
    )


def encoded(run: dict[str, Any]) -> dict[str, Any]:
    """A run as saved: each per-label list of flags as a string ("1" yes, "0" no, "-" no
    prediction), the chance as it was."""
    flag = {True: "1", False: "0", None: "-"}
    return {key: v if key == "chance" else "".join(flag[x] for x in v) for key, v in run.items()}


def decoded(run: dict[str, Any]) -> dict[str, Any]:
    flag = {"1": True, "0": False, "-": None}
    return {key: v if key == "chance" else [flag[x] for x in v] for key, v in run.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--labels", type=int, default=200)
    parser.add_argument("--pool", type=int, default=800, help="items per data set and seed")
    parser.add_argument("--data-sets", nargs="+", default=list(DATA_SETS), choices=DATA_SETS)
    parser.add_argument("--orders", nargs="+", default=list(ORDERS), choices=ORDERS)
    parser.add_argument("--output", type=Path, default=RESULTS / "suggestion_gate.json")
    parser.add_argument(
        "--tables-only", action="store_true", help="print the tables of the results in --output"
    )
    args = parser.parse_args()
    if args.tables_only:
        saved = json.loads(args.output.read_text())
        saved.pop("args")
        results = {
            name: {order: [decoded(run) for run in runs] for order, runs in orders.items()}
            for name, orders in saved.items()
        }
        print(report(results, args.orders))
        return
    print(machine_line(), flush=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in args.data_sets:
        for order in args.orders:
            started = time.perf_counter()
            runs = [run(name, order, seed, args) for seed in range(args.seeds)]
            results.setdefault(name, {})[order] = runs
            print(f"{name} {order}: {time.perf_counter() - started:.1f} s", flush=True)
    saved = {
        name: {order: [encoded(run) for run in runs] for order, runs in orders.items()}
        for name, orders in results.items()
    }
    args.output.write_text(json.dumps({"args": vars(args) | {"output": None}, **saved}))
    text = report(results, args.orders)
    args.output.with_suffix(".txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
