"""Label efficiency: does routing by uncertainty save annotators work, and how much?

An oracle annotator (the datasets' true labels) labels a pool of items one at a time, in the
order the routing policy chooses; every 25 labels the model is scored on a held-out set it never
learned. Each policy is compared with random sampling on the same pools, seeds and model.

Two modes:

``--mode inprocess`` (fast, for exploring) drives the service's own routing code directly:
``OnlineModel``, ``RoutingQueue`` and ``RoutingPolicy``, exactly as a project's loop does.

``--mode service`` plays the annotator against a real ``streamloop serve``: events over HTTP,
labels over the annotate WebSocket, held-out accuracy through ``POST .../predict``.

    python bench/label_efficiency.py --mode inprocess --seeds 5
    python bench/label_efficiency.py --mode service --datasets wine phishing --seeds 2

Writes ``bench/results/label_efficiency-<mode>.json``, one PNG of learning curves per dataset,
and prints the tables that BENCHMARKS.md quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import DATASETS, Rows

from streamloop.online import OnlineModel
from streamloop.online.routing import Ranking, RoutingPolicy, StreamGate
from streamloop.streams.queue import QueuedItem, RoutingQueue

RESULTS = Path(__file__).resolve().parent / "results"
STEP = 25


@dataclass(frozen=True)
class Variant:
    name: str
    strategy: str
    exploration: float = 0.0
    warmup: int = 0
    starvation_boost: float = 0.0
    candidates: int = 32
    rehearsal: int = 0
    batch: int = 1
    diversity: float = 0.0
    #: Candidates' predictions are reused while the model has learned fewer labels than this
    #: since they were made (1: re-scored at every version, as the service did to 0.9.6).
    rescore_every: int = 1
    #: With it, at most one label in this many of those the model had learned then.
    rescore_share: int = 0


VARIANTS = {
    v.name: v
    for v in [
        Variant("random", "random"),
        # Plain uncertainty sampling, as textbooks have it.
        Variant("margin", "margin"),
        Variant("entropy", "entropy"),
        Variant("least_confidence", "least_confidence"),
        # One ingredient at a time.
        Variant("margin+warmup+explore", "margin", exploration=0.05, warmup=20),
        Variant("entropy+warmup+explore", "entropy", exploration=0.05, warmup=20),
        Variant("margin+warmup+explore+guard", "margin", 0.05, 20, starvation_boost=0.5),
        Variant("margin+rehearsal", "margin", rehearsal=3),
        Variant("random+rehearsal", "random", rehearsal=3),
        # The service's default: margin, a 20-label random warm-up, 20% exploration, rehearsal.
        Variant("default", "margin", exploration=0.2, warmup=20, rehearsal=3),
        Variant("default/explore5", "margin", exploration=0.05, warmup=20, rehearsal=3),
        Variant("entropy+default", "entropy", exploration=0.2, warmup=20, rehearsal=3),
        Variant("default/all-candidates", "margin", 0.2, 20, rehearsal=3, candidates=100_000),
        # Eight annotators at once: each leases before any label comes back.
        Variant("random@8", "random", rehearsal=3, batch=8),
        Variant("default@8", "margin", 0.2, 20, rehearsal=3, batch=8),
        Variant("default+diversity@8", "margin", 0.2, 20, rehearsal=3, batch=8, diversity=0.5),
        # Re-scoring less: predictions kept for a few labels (`Leasing._epoch`).
        Variant("default/rescore4", "margin", 0.2, 20, rehearsal=3, rescore_every=4),
        Variant("default/rescore8", "margin", 0.2, 20, rehearsal=3, rescore_every=8),
        Variant("default/rescore16", "margin", 0.2, 20, rehearsal=3, rescore_every=16),
        Variant("default@8/rescore8", "margin", 0.2, 20, rehearsal=3, batch=8, rescore_every=8),
        Variant(
            "default/rescore16/16th",
            "margin",
            0.2,
            20,
            rehearsal=3,
            rescore_every=16,
            rescore_share=16,
        ),
        Variant(
            "default/rescore64/16th",
            "margin",
            0.2,
            20,
            rehearsal=3,
            rescore_every=64,
            rescore_share=16,
        ),
    ]
}


@dataclass
class Split:
    pool: Rows
    pool_labels: list[str]
    holdout: Rows
    holdout_labels: list[str]
    classes: list[str]


def split(rows: Rows, labels: list[str], seed: int, pool_size: int, holdout_size: int) -> Split:
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = min(holdout_size, len(rows) * 3 // 10)
    pool = order[held : held + pool_size]
    return Split(
        pool=[rows[i] for i in pool],
        pool_labels=[labels[i] for i in pool],
        holdout=[rows[i] for i in order[:held]],
        holdout_labels=[labels[i] for i in order[:held]],
        classes=sorted(set(labels)),
    )


def accuracy(predicted: list[str | None], truth: list[str]) -> float:
    return sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)


def checkpoint(
    model: OnlineModel,
    data: Split,
    curve: list[float],
    estimates: list[tuple[float, float, float] | None] | None = None,
    prequential: list[float | None] | None = None,
) -> None:
    """Score the model on the held-out set; note its accuracy estimates too, if asked."""
    predicted = [p.label for p in model.predict_many(data.holdout)]
    curve.append(accuracy(predicted, data.holdout_labels))
    if estimates is not None:
        u = model.sampled_accuracy.report()
        estimates.append(None if u["estimate"] is None else (u["estimate"], u["low"], u["high"]))
    if prequential is not None:
        prequential.append(model.metrics.report()["accuracy"])


def run_inprocess(data: Split, variant: Variant, seed: int, budget: int, preset: str) -> dict:
    """One learning curve, driving the service's routing code as a project's loop does.

    With ``variant.batch`` > 1, that many annotators each lease an item before any of the
    labels comes back, as concurrent annotators do.
    """
    model = OnlineModel(
        labels=data.classes,
        input_kind="tabular",
        preset=preset,
        strategy="margin" if variant.strategy == "random" else variant.strategy,
        seed=seed,
        rehearsal=variant.rehearsal,
    )
    policy = RoutingPolicy(
        variant.strategy,
        variant.exploration,
        variant.warmup,
        variant.starvation_boost,
        variant.diversity,
    )
    queue = RoutingQueue(len(data.pool) + 1, random.Random(seed))
    # As the service's ingest does: an exploration share of arrivals is a random sample.
    sample_rng = random.Random(seed + 3)
    for i, row in enumerate(data.pool):
        sampled = variant.strategy != "random" and sample_rng.random() < variant.exploration
        queue.push(QueuedItem(i, str(i), row, 1.0, drawn_at_random=sampled))
    rng = random.Random(seed + 1)
    curve: list[float] = []
    estimates: list[tuple[float, float, float] | None] = []
    prequential: list[float | None] = []

    kept: dict[int, Any] = {}
    kept_since = [model.version]

    def scorer(items: Any) -> Ranking:
        held = [le.features for le in queue.leases() if le.features is not None]
        rows = [i.data for i in items]
        if variant.rescore_every == 1:
            return policy.score(model, rows, held)
        missing = [i for i in items if i.item_id not in kept]
        if missing:
            made = model.predict_many([i.data for i in missing])
            kept.update(zip([i.item_id for i in missing], made, strict=True))
        return policy.score(model, rows, held, [kept[i.item_id] for i in items])

    def epoch() -> int:
        """The version the kept predictions were made from (the queue draws candidates from
        the whole pool once per epoch, as it does once per version)."""
        kept_for = variant.rescore_every
        if variant.rescore_share:
            kept_for = min(kept_for, max(1, kept_since[0] // variant.rescore_share))
        if model.version - kept_since[0] >= kept_for:
            kept.clear()
            kept_since[0] = model.version
        return kept_since[0]

    labelled = 0
    while labelled < budget:
        leases = []
        for slot in range(min(variant.batch, budget - labelled)):
            lease = queue.lease(
                holder=f"annotator-{slot}",
                annotator=f"annotator-{slot}",
                now=0.0,
                duration=1e9,
                scorer=scorer,
                candidates=variant.candidates,
                explore=policy.explore(model.version, rng),
                random_counts=policy.random_counts(model.version),
                version=epoch(),
            )
            if lease is None:
                break
            if policy.diversity > 0.0:
                lease.features = model.features(lease.item.data)
            leases.append(lease)
        if not leases:
            break
        for lease in leases:
            queue.remove(lease.item.item_id)
            truth = data.pool_labels[lease.item.item_id]
            model.learn(lease.item.data, truth, drawn_at_random=lease.drawn_at_random)
            labelled += 1
            if labelled % STEP == 0:
                checkpoint(model, data, curve, estimates, prequential)
    return {"curve": curve, "unbiased": estimates, "prequential": prequential}


def run_stream(data: Split, variant: Variant, seed: int, budget: int, preset: str) -> dict:
    """The pool arrives as a stream, one event a second; one annotator labels ``budget`` of them.

    ``stream-gate`` decides at arrival (the service's stream mode), ``stream-random`` admits a
    random share of the same size, and ``stream-pool`` queues every event and lets each lease
    pick (the service's pool mode).
    """
    model = OnlineModel(
        labels=data.classes,
        input_kind="tabular",
        preset=preset,
        strategy="margin",
        seed=seed,
        rehearsal=variant.rehearsal,
    )
    per_second = budget / len(data.pool)
    gate = StreamGate(per_second * 3600, exploration=variant.exploration)
    pool_mode = variant.name == "stream-pool"
    policy = RoutingPolicy("margin", variant.exploration, variant.warmup) if pool_mode else None
    queue = RoutingQueue(len(data.pool) + 1, random.Random(seed))
    rng, gate_rng = random.Random(seed + 1), random.Random(seed + 2)
    curve: list[float] = []
    labelled, owed = 0, 0.0

    def scorer(items: Any) -> list[float]:
        return [p.uncertainty for p in model.predict_many([i.data for i in items])]

    for t, row in enumerate(data.pool):
        uncertainty = model.predict(row).uncertainty
        if pool_mode:
            admitted, drawn = True, False
        else:
            admitted, drawn = gate.admit(
                uncertainty,
                now=float(t),
                annotators=1,
                rng=gate_rng,
                warming_up=model.version < variant.warmup,
            )
        if admitted:
            queue.push(QueuedItem(t, str(t), row, uncertainty, drawn_at_random=drawn))
        owed += per_second
        while owed >= 1.0 and labelled < budget:
            explore = policy.explore(model.version, rng) if policy else False
            lease = queue.lease(
                holder="a",
                annotator="a",
                now=0.0,
                duration=1e9,
                scorer=scorer,
                candidates=variant.candidates,
                explore=explore,
                version=model.version,
            )
            if lease is None:
                break
            owed -= 1.0
            queue.remove(lease.item.item_id)
            truth = data.pool_labels[lease.item.item_id]
            model.learn(lease.item.data, truth, drawn_at_random=lease.drawn_at_random)
            labelled += 1
            if labelled % STEP == 0:
                checkpoint(model, data, curve)
    return {"curve": curve, "unbiased": [], "prequential": []}


STREAM_VARIANTS = {
    v.name: v
    for v in [
        Variant("stream-random", "margin", exploration=1.0, rehearsal=3),
        Variant("stream-gate", "margin", exploration=0.05, warmup=20, rehearsal=3),
        Variant("stream-pool", "margin", exploration=0.05, warmup=20, rehearsal=3),
    ]
}


def labels_to_reach(curve: list[float], target: float) -> float | None:
    """Labels from which a mean curve stays at or above ``target`` (linear between checkpoints).

    A curve that touches the target and falls back below it has not reached it.
    """
    first = len(curve)
    while first > 0 and curve[first - 1] >= target:
        first -= 1
    if first == len(curve):
        return None
    n = (first + 1) * STEP
    if first == 0:
        return float(n)
    previous, value = curve[first - 1], curve[first]
    return n - STEP + STEP * (target - previous) / (value - previous)


def summarise(results: dict, pools: dict[str, int], baseline: str = "random") -> dict:
    """Per dataset and variant: mean curve, and the labels needed to match random."""
    summary: dict[str, Any] = {}
    for dataset, by_variant in results.items():
        mean = {
            # Runs that ran out of items end early: the mean covers the checkpoints all reached.
            name: [statistics.fmean(c) for c in zip(*[r["curve"] for r in runs], strict=False)]
            for name, runs in by_variant.items()
        }
        # 200 labels, or half the pool for small datasets: with the whole pool labelled every
        # policy has seen the same items.
        reference_index = min(200 // STEP, max(1, pools[dataset] // 2 // STEP)) - 1
        reference_labels = (reference_index + 1) * STEP
        reference_index = min(reference_index, len(mean[baseline]) - 1)
        target = mean[baseline][reference_index]
        rows = {}
        for name, curve in mean.items():
            reach = labels_to_reach(curve, target)
            runs = by_variant[name]
            rows[name] = {
                "mean_curve": curve,
                # A run ends early when no item is left to lease (stream mode admitted too few).
                "labels_reached": STEP * min(len(r["curve"]) for r in runs),
                "area": statistics.fmean(curve),
                "final": curve[-1],
                "labels_to_random_reference": reach,
                "share_of_reference": None if reach is None else reach / reference_labels,
            }
        summary[dataset] = {
            "reference_labels": reference_labels,
            "random_accuracy_at_reference": target,
            "variants": rows,
        }
    return summary


def estimate_quality(results: dict, variant: str) -> str:
    """How well the unbiased estimate, and the prequential accuracy, track held-out accuracy."""
    lines = [
        f"\n### Accuracy estimates against held-out accuracy ({variant}, every checkpoint)\n",
        "| dataset | unbiased: mean abs. error | 95% interval covers held-out | "
        "prequential: mean error (signed) |",
        "|---|---:|---:|---:|",
    ]
    for dataset, by_variant in results.items():
        errors, covered, total, biased = [], 0, 0, []
        for run in by_variant.get(variant, []):
            for truth, estimate, preq in zip(
                run["curve"], run["unbiased"], run.get("prequential", []), strict=False
            ):
                if preq is not None:
                    biased.append(preq - truth)
                if estimate is None:
                    continue
                value, low, high = estimate
                errors.append(abs(value - truth))
                covered += low <= truth <= high
                total += 1
        if not total:
            continue
        lines.append(
            f"| {dataset} | {statistics.fmean(errors):.3f} | {100 * covered / total:.0f}% | "
            f"{statistics.fmean(biased):+.3f} |"
        )
    return "\n".join(lines)


#: The curves drawn (the tables list every variant), with their line styles.
PLOTTED: dict[str, dict[str, Any]] = {
    "random": {"color": "black", "linewidth": 2.5},
    "stream-random": {"color": "black", "linewidth": 2.5},
    "margin": {"color": "tab:blue", "linestyle": "--"},
    "entropy": {"color": "tab:orange", "linestyle": "--"},
    "margin+warmup+explore": {"color": "tab:green", "linestyle": ":"},
    "margin+rehearsal": {"color": "tab:purple", "linestyle": ":"},
    "random+rehearsal": {"color": "grey", "linestyle": "-."},
    "default": {"color": "tab:red", "linewidth": 2.5},
    "stream-gate": {"color": "tab:green", "linewidth": 2},
    "stream-pool": {"color": "tab:red", "linewidth": 2.5},
}


def report(summary: dict, variants: list[str]) -> str:
    """The tables BENCHMARKS.md quotes: default against random, then one row per policy."""
    lines = [
        "| dataset | reference labels | random's accuracy there | default needs | "
        "random final | default final | random mean | default mean |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for dataset, result in summary.items():
        rows = result["variants"]
        if "default" not in rows or "random" not in rows:
            continue
        default, rnd = rows["default"], rows["random"]
        reach = default["labels_to_random_reference"]
        needs = (
            "never"
            if reach is None
            else (
                f"{reach:.0f} ({100 * default['share_of_reference']:.0f}%)"
                if reach > STEP
                else f"≤{STEP} (≤{100 * STEP / result['reference_labels']:.0f}%)"
            )
        )
        lines.append(
            f"| {dataset} | {result['reference_labels']} | "
            f"{result['random_accuracy_at_reference']:.3f} | {needs} | {rnd['final']:.3f} | "
            f"{default['final']:.3f} | {rnd['area']:.3f} | {default['area']:.3f} |"
        )
    datasets = list(summary)
    lines += ["", "| policy | " + " | ".join(datasets) + " |", "|---|" + "---:|" * len(datasets)]
    for name in variants:
        cells = []
        for dataset in datasets:
            row = summary[dataset]["variants"].get(name)
            reach = None if row is None else row["labels_to_random_reference"]
            cells.append("never" if reach is None else (f"{reach:.0f}" if reach > STEP else "≤25"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict, mode: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for dataset, result in summary.items():
        fig, ax = plt.subplots(figsize=(8.5, 4.2))
        for name, row in result["variants"].items():
            if name not in PLOTTED:
                continue
            xs = [(i + 1) * STEP for i in range(len(row["mean_curve"]))]
            ax.plot(xs, row["mean_curve"], label=name, **PLOTTED[name])
        ax.axhline(result["random_accuracy_at_reference"], color="grey", linestyle=":")
        ax.set_title(f"{dataset}: held-out accuracy by labels ({mode})")
        ax.set_xlabel("labels")
        ax.set_ylabel("held-out accuracy")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(alpha=0.3)
        path = RESULTS / f"curves-{dataset}-{mode}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def table(summary: dict) -> str:
    lines = []
    for dataset, result in summary.items():
        lines.append(
            f"\n### {dataset} (random reaches {result['random_accuracy_at_reference']:.3f} "
            f"with {result['reference_labels']} labels)\n"
        )
        lines.append(
            "| policy | labels to match random | share | mean acc. | final acc. | labels reached |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|")
        for name, row in result["variants"].items():
            reach = row["labels_to_random_reference"]
            share = row["share_of_reference"]
            lines.append(
                f"| {name} | {'never' if reach is None else f'{reach:.0f}'} | "
                f"{'-' if share is None else f'{100 * share:.0f}%'} | "
                f"{row['area']:.3f} | {row['final']:.3f} | {row['labels_reached']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["inprocess", "service", "stream"], default="inprocess")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--pool", type=int, default=1400)
    parser.add_argument("--holdout", type=int, default=1000)
    parser.add_argument("--preset", default="logistic_regression")
    parser.add_argument("--tag", default="", help="suffix for the output files")
    parser.add_argument("--replot", type=Path, help="redraw the plots of a results file")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.replot:
        saved = json.loads(args.replot.read_text())
        plot(saved["summary"], args.replot.stem.removeprefix("label_efficiency-"))
        print(report(saved["summary"], list(saved["meta"]["variants"])))
        return
    variants, baseline = VARIANTS, "random"
    if args.mode == "service":
        from label_efficiency_service import run_service as runner
    elif args.mode == "stream":
        runner, variants, baseline = run_stream, STREAM_VARIANTS, "stream-random"
        args.variants = list(STREAM_VARIANTS)
    else:
        runner = run_inprocess
    started = time.perf_counter()
    results: dict[str, dict[str, list]] = {}
    pools: dict[str, int] = {}
    for dataset in args.datasets:
        rows, labels = DATASETS[dataset]()
        results[dataset] = {}
        for seed in range(args.seeds):
            data = split(rows, labels, seed, args.pool, args.holdout)
            pools[dataset] = len(data.pool)
            budget = min(args.budget, len(data.pool) // STEP * STEP)
            if args.mode == "stream":
                # A stream offers several times more events than can be labelled.
                budget = min(args.budget, len(data.pool) // 4 // STEP * STEP)
                pools[dataset] = 2 * budget  # compare at min(200, budget) labels
            for name in args.variants:
                run = runner(data, variants[name], seed, budget, args.preset)
                results[dataset].setdefault(name, []).append(run)
        print(f"{dataset}: done", file=sys.stderr, flush=True)
    summary = summarise(results, pools, baseline)
    meta = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "mode": args.mode,
        "seeds": list(range(args.seeds)),
        "preset": args.preset,
        "variants": {name: asdict(variants[name]) for name in args.variants},
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }
    name = f"{args.mode}{'-' + args.tag if args.tag else ''}"
    out = RESULTS / f"label_efficiency-{name}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "runs": results}, indent=1))
    plot(summary, name)
    print(json.dumps(meta))
    print(table(summary))
    if args.mode == "inprocess" and "default" in args.variants:
        print(estimate_quality(results, "default"))


if __name__ == "__main__":
    main()
