"""The accuracy estimate with shadow heads against whole shadow models (issue 22).

A logistic project's four shadow models (the accuracy estimate's, `OnlineModel`) used to be
whole pipelines, each with its own front; they are now `ShadowHeads` on the model's own front,
learning in one array. The model itself is the same either way, so both designs ride the same
run: two `OnlineModel`s are taught the same labels, chosen by the first one's uncertainty (a
share drawn at random, as the service explores), and every 25 labels from 50 each one's
`accuracy_estimate` over 300 items of traffic is set against the truth, the model's accuracy on
held-out items. Data sets: the three generated text sets of ``bench/embeddings.py`` and five
tabular sets shipped inside River and scikit-learn (``bench/datasets.py``); five seeds each.

    python bench/shadow_heads.py --seeds 5      # both designs, every data set; 2 workers

Writes ``bench/results/shadow_heads.txt`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import datasets as tabular_sets
import embeddings
from server import machine_line

from streamloop.online import OnlineModel
from streamloop.online import model as model_module
from streamloop.online.routing import default_rehearsal

RESULTS = Path(__file__).resolve().parent / "results"
TEXT = ["intents", "reviews", "topics"]
TABULAR = ["phishing", "bananas", "shuttle", "breast_cancer", "wine"]
BUDGET = 300
CHECK_EVERY = 25
RANDOM_SHARE = 0.3
CANDIDATES = 64
TRAFFIC = 300
TEST = 500


def _data(name: str, seed: int) -> tuple[str, list[tuple[dict[str, Any], str]]]:
    if name in TEXT:
        rows = embeddings.generate(embeddings.DATASETS[name], 2000, random.Random(seed))
        return "text", [({"text": text}, label) for text, label in rows]
    xs, ys = tabular_sets.DATASETS[name]()
    pairs = list(zip(xs, ys, strict=True))
    random.Random(seed).shuffle(pairs)
    return "tabular", pairs[:3000]


def _model(kind: str, labels: list[str], seed: int, heads: bool) -> OnlineModel:
    shared = model_module._shared_front
    if not heads:  # the design before: whole shadow models
        model_module._shared_front = lambda pipeline: None  # type: ignore[assignment]
    try:
        return OnlineModel(
            labels=labels,
            input_kind=kind,
            preset="logistic_regression",
            strategy="margin",
            seed=seed,
            rehearsal=default_rehearsal("logistic_regression"),
        )
    finally:
        model_module._shared_front = shared


def run(job: tuple[str, int]) -> dict[str, Any]:
    name, seed = job
    kind, rows = _data(name, seed)
    labels = sorted({y for _, y in rows})
    size = min(TEST, len(rows) // 3)  # the small sets keep two thirds to label
    test, pool = rows[:size], rows[size:]
    budget = min(BUDGET, len(pool) - 1)
    rng = random.Random(seed)
    models = {"heads": _model(kind, labels, seed, True), "whole": _model(kind, labels, seed, False)}
    spent = dict.fromkeys(models, 0.0)
    checks: list[dict[str, Any]] = []
    waiting = list(range(len(pool)))
    for n in range(1, budget + 1):
        drawn = rng.random() < RANDOM_SHARE
        if drawn:
            at = rng.randrange(len(waiting))
        else:
            sample = rng.sample(range(len(waiting)), min(CANDIDATES, len(waiting)))
            scored = models["heads"].predict_many([pool[waiting[i]][0] for i in sample])
            at = sample[max(range(len(sample)), key=lambda i: scored[i].uncertainty)]
        x, y = pool[waiting.pop(at)]
        for design, model in models.items():
            started = time.perf_counter()
            model.learn(x, y, drawn_at_random=drawn)
            spent[design] += time.perf_counter() - started
        if n >= 50 and n % CHECK_EVERY == 0:
            predicted = models["heads"].predict_many([x for x, _ in test])
            truth = sum(p.label == y for p, (_, y) in zip(predicted, test, strict=True)) / size
            traffic = [pool[i][0] for i in rng.sample(range(len(pool)), min(TRAFFIC, len(pool)))]
            check: dict[str, Any] = {"labels": n, "truth": truth}
            for design, model in models.items():
                report = model.accuracy_estimate(traffic)
                check[design] = [report["estimate"], report["low"], report["high"]]
            checks.append(check)
    same = models["heads"].predict_many([x for x, _ in test]) == models["whole"].predict_many(
        [x for x, _ in test]
    )
    return {
        "data": name,
        "kind": kind,
        "seed": seed,
        "checks": checks,
        "learn_us": {d: spent[d] / budget * 1e6 for d in models},
        "same_model": same,
    }


def score(runs: list[dict[str, Any]], design: str) -> dict[str, float]:
    errors, covered, widths = [], [], []
    for run_ in runs:
        for check in run_["checks"]:
            estimate, low, high = check[design]
            errors.append(estimate - check["truth"])
            covered.append(low <= check["truth"] <= high)
            widths.append(high - low)
    return {
        "mae": statistics.fmean(abs(e) for e in errors),
        "bias": statistics.fmean(errors),
        "coverage": statistics.fmean(covered),
        "width": statistics.fmean(widths),
        "checks": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", nargs="+", default=TEXT + TABULAR)
    args = parser.parse_args()
    jobs = [(name, seed) for name in args.data for seed in range(args.seeds)]
    started = time.perf_counter()
    with Pool(args.workers) as pool:
        runs = pool.map(run, jobs, chunksize=1)
    lines = [
        machine_line(),
        f"# python bench/shadow_heads.py --seeds {args.seeds}: "
        f"{time.perf_counter() - started:.0f} s",
        "",
        "| data | design | MAE | bias | 95% coverage | width | learn µs a label |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    groups = [[name] for name in args.data] + [
        group
        for group in ([n for n in args.data if n in TEXT], [n for n in args.data if n in TABULAR])
        if len(group) > 1
    ]
    for group in groups:
        chosen = [r for r in runs if r["data"] in group]
        if not chosen:
            continue
        label = group[0] if len(group) == 1 else ("all text" if group[0] in TEXT else "all tabular")
        for design in ("whole", "heads"):
            s = score(chosen, design)
            cost = statistics.fmean(r["learn_us"][design] for r in chosen)
            lines.append(
                f"| {label} | {design} | {s['mae']:.3f} | {s['bias']:+.3f} | "
                f"{s['coverage']:.0%} | {s['width']:.3f} | {cost:,.0f} |"
            )
    lines.append("")
    same = all(r["same_model"] for r in runs)
    lines.append(f"The model itself the same in both designs, every run: {same}")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "shadow_heads.txt").write_text(text + "\n")
    (RESULTS / "shadow_heads.json").write_text(json.dumps(runs))


if __name__ == "__main__":
    main()
