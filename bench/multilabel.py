"""Multi-label label efficiency: which uncertainty combination saves annotators the most work?

An oracle annotator (the data sets' true label sets) labels a pool one item at a time, in the
order the routing chooses; every 25 labels the model is scored on a held-out set it never
learned (micro-F1). Each combination of per-label uncertainties (`multilabel_strategies`) is
compared with random sampling on the same pools, seeds and model. Routing is the service's:
`RoutingQueue` re-scores 32 candidates per lease (the 16 best by their last score, 16 at
random), `RoutingPolicy` draws the first 20 labels at random (warm-up) and 20% after that from
a random sample set aside at arrival (exploration); ``plain`` variants have neither.

Data sets: scikit-learn's ``make_multilabel_classification`` in three configurations, and
generated support tickets (each about one to three topics, words drawn from per-topic
vocabularies that share some words). Then the label path's speed: `MultiLabelModel.learn`
(predict, score, learn) against raw River doing the same per-label work, a dict of
pipelines.

    python bench/multilabel.py --seeds 3

Writes ``bench/results/multilabel[-<tag>].json`` and prints the tables BENCHMARKS.md quotes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from label_efficiency import labels_to_reach
from server import machine_line, rivers_own

from streamloop.online.multilabel import MultiLabelModel
from streamloop.online.multilabel_metrics import MultiLabelMetrics
from streamloop.online.presets import build_front, logistic
from streamloop.online.routing import RoutingPolicy, default_rehearsal
from streamloop.streams.queue import QueuedItem, RoutingQueue

RESULTS = Path(__file__).resolve().parent / "results"
STEP = 25
REFERENCE = 200  # random's micro-F1 at this many labels is the target
COMBINATIONS = ("mean_margin", "min_margin", "entropy")

Rows = list[dict[str, Any]]
Sets = list[list[str]]


@dataclass(frozen=True)
class Variant:
    name: str
    strategy: str  # a combination, or "random"
    exploration: float = 0.0
    warmup: int = 0
    candidates: int = 32


VARIANTS = {
    v.name: v
    for v in [
        Variant("random", "random"),
        *(Variant(f"{c}", c, exploration=0.2, warmup=20) for c in COMBINATIONS),
        *(Variant(f"{c} plain", c) for c in COMBINATIONS),
    ]
}


# Data sets: (rows, label sets, labels, input kind).


def _sklearn(classes: int, cardinality: int, features: int) -> Callable[[int, int], Any]:
    def make(seed: int, n: int) -> tuple[Rows, Sets, list[str], str]:
        from sklearn.datasets import make_multilabel_classification

        x, y = make_multilabel_classification(
            n_samples=n,
            n_features=features,
            n_classes=classes,
            n_labels=cardinality,
            random_state=seed,
        )
        labels = [f"l{k}" for k in range(classes)]
        rows = [{f"f{j}": float(v) for j, v in enumerate(row)} for row in x]
        sets = [[labels[k] for k in range(classes) if row[k]] for row in y]
        return rows, sets, labels, "tabular"

    return make


_TOPICS = {
    "billing": "invoice charge charged refund payment card billing price plan subscription",
    "login": "login password reset account locked signin username twofactor code session",
    "crash": "crash crashes freeze error exception stack trace restart frozen bug",
    "performance": "slow latency timeout loading lag speed seconds spinner hangs delay",
    "ui": "button screen layout menu dark mode font icon click page",
    "shipping": "delivery package shipped tracking courier arrived late address parcel box",
    "security": "phishing breach suspicious hacked token leak permission unauthorised alert vpn",
    "docs": "documentation guide tutorial example manual readme link typo docs article",
}
# Words two topics share, as real tickets do ("charged" on a locked account, "error" on a page).
_SHARED = {
    "billing": "account error page",
    "login": "error page alert",
    "crash": "slow page screen",
    "performance": "crash error page",
    "ui": "error slow login",
    "shipping": "refund account late",
    "security": "login account password",
    "docs": "page example error",
}
_FILLER = (
    "the a and to is it my we please hi thanks when after since again still cannot app today "
    "yesterday help issue problem team support this that with from"
)
# Some topics are rarer than others.
_TOPIC_WEIGHTS = (3.0, 3.0, 2.0, 2.0, 2.0, 1.0, 0.7, 0.7)


def tickets(seed: int, n: int) -> tuple[Rows, Sets, list[str], str]:
    """Support tickets: 0-3 topics each (mostly 1-2), words from their topics, filler and noise."""
    rng = random.Random(seed)
    labels = list(_TOPICS)
    vocabulary = {t: _TOPICS[t].split() + _SHARED[t].split() for t in labels}
    filler = _FILLER.split()
    every = [w for words in vocabulary.values() for w in words]
    rows, sets = [], []
    for _ in range(n):
        k = rng.choice((0, 1, 1, 1, 2, 2, 2, 3))
        chosen: set[str] = set()
        while len(chosen) < k:
            chosen.add(rng.choices(labels, _TOPIC_WEIGHTS)[0])
        given = [t for t in labels if t in chosen]
        words = []
        for _ in range(rng.randint(6, 18)):
            r = rng.random()
            if given and r < 0.4:
                words.append(rng.choice(vocabulary[rng.choice(given)]))
            elif r < 0.9:
                words.append(rng.choice(filler))
            else:
                words.append(rng.choice(every))  # a stray word of any topic
        rows.append({"text": " ".join(words)})
        sets.append(given)
    return rows, sets, labels, "text"


DATASETS: dict[str, Callable[[int, int], tuple[Rows, Sets, list[str], str]]] = {
    "mlc-5x2": _sklearn(classes=5, cardinality=2, features=20),
    "mlc-10x3": _sklearn(classes=10, cardinality=3, features=40),
    "mlc-8x1": _sklearn(classes=8, cardinality=1, features=30),
    "tickets-8": tickets,
}


@dataclass
class Split:
    pool: Rows
    pool_sets: Sets
    holdout: Rows
    holdout_sets: Sets
    labels: list[str]
    input_kind: str


def split(dataset: str, seed: int, pool: int, holdout: int) -> Split:
    rows, sets, labels, kind = DATASETS[dataset](seed, pool + holdout)
    return Split(rows[holdout:], sets[holdout:], rows[:holdout], sets[:holdout], labels, kind)


def held_out(model: MultiLabelModel, data: Split) -> tuple[float, float]:
    """(micro-F1, macro-F1) of the model on the held-out set."""
    metrics = MultiLabelMetrics(data.labels)
    for prediction, truth in zip(model.predict_many(data.holdout), data.holdout_sets, strict=True):
        metrics.update(truth, prediction.labels)
    report = metrics.report()
    return report["micro_f1"] or 0.0, report["macro_f1"] or 0.0


def run(data: Split, variant: Variant, seed: int, budget: int, preset: str) -> dict[str, Any]:
    """One learning curve, driving the service's queue and routing policy."""
    model = MultiLabelModel(
        labels=data.labels,
        input_kind=data.input_kind,
        preset=preset,
        strategy=variant.strategy,
        seed=seed,
        rehearsal=default_rehearsal(preset),
    )
    policy = RoutingPolicy(variant.strategy, variant.exploration, variant.warmup)
    queue = RoutingQueue(len(data.pool) + 1, random.Random(seed))
    # As the service's ingest does: an exploration share of arrivals is a random sample.
    sample_rng = random.Random(seed + 3)
    for i, row in enumerate(data.pool):
        sampled = variant.strategy != "random" and sample_rng.random() < variant.exploration
        queue.push(QueuedItem(i, str(i), row, 1.0, drawn_at_random=sampled))
    rng = random.Random(seed + 1)
    micro: list[float] = []
    macro: list[float] = []

    def scorer(items: Any) -> list[float]:
        return [p.uncertainty for p in model.predict_many([i.data for i in items])]

    labelled = 0
    while labelled < budget:
        lease = queue.lease(
            holder="a",
            annotator="a",
            now=0.0,
            duration=1e9,
            scorer=scorer,
            candidates=variant.candidates,
            explore=policy.explore(model.version, rng),
            random_counts=policy.random_counts(model.version),
        )
        if lease is None:
            break
        queue.remove(lease.item.item_id)
        model.learn(lease.item.data, data.pool_sets[lease.item.item_id])
        labelled += 1
        if labelled % STEP == 0:
            mi, ma = held_out(model, data)
            micro.append(mi)
            macro.append(ma)
    return {"micro_f1": micro, "macro_f1": macro}


def summarise(results: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for dataset, by_variant in results.items():
        mean = {
            name: [statistics.fmean(c) for c in zip(*[r["micro_f1"] for r in runs], strict=True)]
            for name, runs in by_variant.items()
        }
        macro = {
            name: [statistics.fmean(c) for c in zip(*[r["macro_f1"] for r in runs], strict=True)]
            for name, runs in by_variant.items()
        }
        target = mean["random"][REFERENCE // STEP - 1]
        summary[dataset] = {
            "random_micro_f1_at_reference": target,
            "variants": {
                name: {
                    "mean_micro_f1": curve,
                    "mean_macro_f1": macro[name],
                    "labels_to_random_reference": labels_to_reach(curve, target),
                }
                for name, curve in mean.items()
            },
        }
    return summary


def _at(curve: list[float], labels: int) -> str:
    index = labels // STEP - 1
    return f"{curve[index]:.3f}" if index < len(curve) else "-"


def report(summary: dict[str, Any], budget: int) -> tuple[str, str]:
    """The tables, and the combination that saves the most labels across the data sets."""
    lines = []
    for dataset, result in summary.items():
        lines += [
            f"\n{dataset}: random's micro-F1 at {REFERENCE} labels = "
            f"{result['random_micro_f1_at_reference']:.3f}\n",
            "| policy | micro-F1 @100 | @200 | @300 | macro-F1 @300 | labels to match random@200 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in result["variants"].items():
            reach = row["labels_to_random_reference"]
            cells = "never" if reach is None else (f"{reach:.0f}" if reach > STEP else f"≤{STEP}")
            curve = row["mean_micro_f1"]
            lines.append(
                f"| {name} | {_at(curve, 100)} | {_at(curve, 200)} | {_at(curve, 300)} | "
                f"{_at(row['mean_macro_f1'], 300)} | {cells} |"
            )
    # Labels saved against random's 200, summed over the data sets; "never" saves nothing
    # and costs the rest of the budget.
    datasets = list(summary)
    lines += [
        "\n| policy | " + " | ".join(datasets) + " | labels saved, total |",
        "|---|" + "---:|" * (len(datasets) + 1),
    ]
    saved: dict[str, float] = {}
    for name in next(iter(summary.values()))["variants"]:
        cells, total = [], 0.0
        for dataset in datasets:
            reach = summary[dataset]["variants"][name]["labels_to_random_reference"]
            total += REFERENCE - (budget if reach is None else reach)
            cells.append("never" if reach is None else f"{reach:.0f}")
        saved[name] = total
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {total:.0f} |")
    best = max((c for c in COMBINATIONS if c in saved), key=lambda c: saved[c], default="-")
    return "\n".join(lines), best


# The label path's speed.


def speed(dataset: str, preset: str, n: int) -> dict[str, Any]:
    """µs per label set: `MultiLabelModel.learn` (check, predict, score, learn) against raw
    River doing the same per-label work: a dict of pipelines, each predicting then learning
    the item; and, closer to what the model does, one front shared by a dict of classifiers."""
    rows, sets, labels, kind = DATASETS[dataset](0, n)
    model = MultiLabelModel(labels=labels, input_kind=kind, preset=preset)
    started = time.perf_counter()
    for row, given in zip(rows, sets, strict=True):
        model.learn(row, given)
    ours = time.perf_counter() - started

    def binary() -> Any:
        if preset == "logistic_regression":
            return logistic(kind)
        from river import naive_bayes

        return naive_bayes.MultinomialNB() if kind == "text" else naive_bayes.GaussianNB()

    raw = {label: rivers_own(build_front(preset, kind)) | binary() for label in labels}
    started = time.perf_counter()
    for row, given in zip(rows, sets, strict=True):
        for label, steps in raw.items():
            with contextlib.suppress(ArithmeticError):
                steps.predict_proba_one(row)
            steps.learn_one(row, label in given)
    pipelines = time.perf_counter() - started

    front, binaries = rivers_own(build_front(preset, kind)), {label: binary() for label in labels}
    started = time.perf_counter()
    for row, given in zip(rows, sets, strict=True):
        x = front.transform_one(row)
        for classifier in binaries.values():
            with contextlib.suppress(ArithmeticError):
                classifier.predict_proba_one(x)
        front.learn_one(row)
        x = front.transform_one(row)
        for label, classifier in binaries.items():
            classifier.learn_one(x, label in given)
    shared = time.perf_counter() - started
    return {
        "dataset": dataset,
        "preset": preset,
        "labels": len(labels),
        "items": n,
        "ours_us": 1e6 * ours / n,
        "raw_river_us": 1e6 * pipelines / n,
        "raw_river_shared_front_us": 1e6 * shared / n,
    }


def measure_speeds(items: int) -> list[dict[str, Any]]:
    if not items:
        return []
    return [
        speed(dataset, preset, items)
        for dataset, preset in [
            ("tickets-8", "logistic_regression"),
            ("tickets-8", "naive_bayes"),
            ("mlc-10x3", "logistic_regression"),
            ("mlc-10x3", "naive_bayes"),
        ]
    ]


def print_speeds(speeds: list[dict[str, Any]]) -> None:
    print(
        "| data set | preset | labels | streamloop µs/label set | raw River, a pipeline per "
        "label | raw River, one shared front |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for s in speeds:
        print(
            f"| {s['dataset']} | {s['preset']} | {s['labels']} | {s['ours_us']:.0f} | "
            f"{s['raw_river_us']:.0f} | {s['raw_river_shared_front_us']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--holdout", type=int, default=500)
    parser.add_argument("--preset", default="logistic_regression")
    parser.add_argument("--speed-items", type=int, default=1500, help="0: no speed test")
    parser.add_argument("--tag", default="", help="suffix for the output file")
    parser.add_argument("--speed-only", action="store_true", help="only the speed test")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    RESULTS.mkdir(exist_ok=True)
    if args.speed_only:
        print_speeds(measure_speeds(args.speed_items))
        return
    started = time.perf_counter()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for dataset in args.datasets:
        results[dataset] = {}
        for seed in range(args.seeds):
            data = split(dataset, seed, args.pool, args.holdout)
            for name in args.variants:
                curve = run(data, VARIANTS[name], seed, args.budget, args.preset)
                results[dataset].setdefault(name, []).append(curve)
        print(f"{dataset}: done at {time.perf_counter() - started:.0f} s", file=sys.stderr)
    summary = summarise(results)
    tables, best = report(summary, args.budget)
    speeds = measure_speeds(args.speed_items)
    meta = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "seeds": list(range(args.seeds)),
        "preset": args.preset,
        "pool": args.pool,
        "holdout": args.holdout,
        "budget": args.budget,
        "variants": {name: asdict(VARIANTS[name]) for name in args.variants},
        "seconds": round(time.perf_counter() - started, 1),
        "best": best,
    }
    out = RESULTS / f"multilabel{'-' + args.tag if args.tag else ''}.json"
    out.write_text(
        json.dumps({"meta": meta, "summary": summary, "speed": speeds, "runs": results}, indent=1)
    )
    print(json.dumps(meta))
    print(tables)
    print(f"\nsaves the most labels across the data sets: {best}\n")
    print_speeds(speeds)


if __name__ == "__main__":
    main()
