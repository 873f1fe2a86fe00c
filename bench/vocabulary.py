"""What bounding a tabular model's vocabulary costs in accuracy and saves in memory and time.

A tabular model keeps at most ``max_features`` fields and string values, at most
``max_values`` per string field, and folds the rest into ``buckets`` hashed features
(`streamloop.online.features.BoundedVocabulary`). This runs each tabular preset,
prequentially (predict each row, then learn its label, as the service does), over datasets
with string fields, under several bounds and without one (the front as it was before the
bound), and reports accuracy, the final snapshot's size and the time to learn a label:

- ``agrawal``: River's Agrawal generator (function 8), its education level, car and zip code
  as strings (5, 20 and 9 values);
- ``solar_flare``: River's SolarFlare, three categorical fields; the label says whether the
  region produced any flare;
- ``merchants`` (generated): payments whose merchant (5,000, Zipf-distributed) and country
  (40) carry most of the signal: a field with more values than a field keeps;
- ``tags`` (generated): each event carries a dozen of 20,000 tag fields (Zipf), a tag field
  holding "yes", plus a number: more distinct fields than a model keeps;
- ``wide`` (memory and time only): every event brings 1,000 new string fields, the shape of
  the issue's 40,000-field events under the 1,000-field cap per event.

Prints one JSON line per run, then tables of the means over seeds (the figures in
BENCHMARKS.md). ``--overhead`` instead measures what the bound costs ordinary traffic that
never reaches it: predictions and labels per second of the linear preset on rows of 64
numbers and 4 string fields, with and without the bound.

    python bench/vocabulary.py | tee bench/results/vocabulary.jsonl
    python bench/vocabulary.py --datasets merchants --presets logistic_regression --seeds 0
    python bench/vocabulary.py --overhead
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

import orjson
from server import machine_line

from streamloop.online import PRESETS, OnlineModel
from streamloop.online.features import (
    HASHED_BUCKETS,
    MAX_FEATURES,
    MAX_VALUES,
    composed_tabular_front,
)
from streamloop.online.presets import build_pipeline

Rows = list[tuple[dict[str, Any], str]]

#: Bounds tried, as (max_features, max_values, buckets); None is the front without a bound.
BOUNDS: dict[str, tuple[int, int, int] | None] = {
    "none": None,
    "4000/400": (4000, 400, HASHED_BUCKETS),
    "1000/400": (1000, 400, HASHED_BUCKETS),
    "1000/100 (default)": (MAX_FEATURES, MAX_VALUES, HASHED_BUCKETS),
    "1000/100, 16 buckets": (MAX_FEATURES, MAX_VALUES, 16),
    "1000/25": (1000, 25, HASHED_BUCKETS),
    "250/25": (250, 25, HASHED_BUCKETS),
}


def _zipf(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect(cumulative, rng.random() * cumulative[-1])


def _cumulative(size: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(size)))


def agrawal(seed: int, rows: int) -> Rows:
    from river.datasets import synth

    stream = synth.Agrawal(classification_function=8, seed=seed)
    out = []
    for x, y in stream.take(rows):
        data = {
            name: str(value) if name in {"elevel", "car", "zipcode"} else float(value)
            for name, value in x.items()
        }
        out.append((data, str(y)))
    return out


def solar_flare(seed: int, rows: int) -> Rows:
    from river import datasets

    out = []
    for x, y in datasets.SolarFlare():
        label = "flare" if any(count > 0 for count in y.values()) else "quiet"
        out.append(({name: value for name, value in x.items()}, label))
    random.Random(seed).shuffle(out)
    return out[:rows]


def merchants(seed: int, rows: int) -> Rows:
    rng = random.Random(seed)
    merchant_popularity = _cumulative(5_000, 1.1)
    merchant_risk = [rng.betavariate(0.4, 0.4) for _ in merchant_popularity]
    country_popularity = _cumulative(40, 1.0)
    country_risk = [rng.random() for _ in country_popularity]
    out = []
    for _ in range(rows):
        merchant = _zipf(rng, merchant_popularity)
        country = _zipf(rng, country_popularity)
        risk = 0.7 * merchant_risk[merchant] + 0.3 * country_risk[country]
        data = {
            "merchant": f"m{merchant}",
            "country": f"c{country}",
            "device": rng.choice(["ios", "android", "web", "pos", "atm", "other"]),
            "amount": round(rng.lognormvariate(3.0, 1.0), 2),
            "hour": float(rng.randrange(24)),
        }
        out.append((data, "fraud" if rng.random() < risk else "ok"))
    return out


TAG_LABELS = ("billing", "bug", "other")


def tags(seed: int, rows: int) -> Rows:
    rng = random.Random(seed)
    popularity = _cumulative(20_000, 1.0)
    # Each tag leans towards one label; an event draws most of its tags from its label's.
    leaning = [rng.randrange(len(TAG_LABELS)) for _ in popularity]
    out = []
    for _ in range(rows):
        label = rng.randrange(len(TAG_LABELS))
        data: dict[str, Any] = {"length": float(rng.randrange(10, 500))}
        while len(data) < 13:
            tag = _zipf(rng, popularity)
            if leaning[tag] == label or rng.random() < 0.3:
                data[f"tag_{tag}"] = "yes"
        out.append((data, TAG_LABELS[label]))
    return out


def wide(seed: int, rows: int) -> Rows:
    return [
        ({f"f{seed}_{n}_{i}": f"v{i}" for i in range(1_000)}, TAG_LABELS[n % 3])
        for n in range(rows)
    ]


DATASETS: dict[str, tuple[Callable[[int, int], Rows], int]] = {
    "agrawal": (agrawal, 3_000),
    "solar_flare": (solar_flare, 1_066),
    "merchants": (merchants, 5_000),
    "tags": (tags, 5_000),
    "wide": (wide, 200),
}


def make_model(
    preset: str, labels: list[str], bound: tuple[int, int, int] | None, seed: int
) -> OnlineModel:
    model = OnlineModel(
        labels=labels, input_kind="tabular", preset=preset, strategy="margin", seed=seed
    )
    pipeline = build_pipeline(preset, "tabular", seed=seed)
    classifier = list(pipeline.steps.values())[-1]
    if bound is None:
        # The same steps without the vocabulary, composed as the bounded front below is, so
        # the difference is the bound's alone.
        model._pipeline = composed_tabular_front().steps["TransformerUnion"] | classifier
    else:
        model._pipeline = composed_tabular_front(*bound) | classifier
    return model


def run(dataset: str, preset: str, bound_name: str, seed: int, rows: int) -> dict[str, Any]:
    make, default_rows = DATASETS[dataset]
    data = make(seed, rows or default_rows)
    labels = sorted({label for _, label in data})
    model = make_model(preset, labels, BOUNDS[bound_name], seed)
    correct = 0
    learn_seconds = []
    for x, label in data:
        started = time.perf_counter()
        learned = model.learn(x, label)
        learn_seconds.append(time.perf_counter() - started)
        correct += learned.correct
    vocabulary = model._pipeline.steps.get("BoundedVocabulary")
    return {
        "dataset": dataset,
        "preset": preset,
        "bound": bound_name,
        "seed": seed,
        "rows": len(data),
        "accuracy": correct / len(data),
        "snapshot_kib": len(model.snapshot()) / 1024,
        "learn_ms_mean": 1000 * statistics.fmean(learn_seconds),
        "learn_ms_last_100": 1000 * statistics.fmean(learn_seconds[-100:]),
        "kept": vocabulary.kept if vocabulary is not None else None,
    }


def summarise(results: list[dict[str, Any]]) -> None:
    by_run: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for result in results:
        by_run.setdefault((result["dataset"], result["preset"], result["bound"]), []).append(result)
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        print(f"\n{dataset}: accuracy (mean over seeds) / snapshot KiB / learn ms, last 100 labels")
        presets = list(dict.fromkeys(r["preset"] for r in results if r["dataset"] == dataset))
        print("| bound | " + " | ".join(presets) + " |")
        print("|---|" + "---:|" * len(presets))
        for bound in BOUNDS:
            cells = []
            for preset in presets:
                runs = by_run.get((dataset, preset, bound))
                if not runs:
                    cells.append("-")
                    continue
                accuracy = statistics.fmean(r["accuracy"] for r in runs)
                spread = max(r["accuracy"] for r in runs) - min(r["accuracy"] for r in runs)
                size = statistics.fmean(r["snapshot_kib"] for r in runs)
                learn = statistics.fmean(r["learn_ms_last_100"] for r in runs)
                figure = "" if dataset == "wide" else f"{accuracy:.3f} (±{spread / 2:.3f}) / "
                cells.append(f"{figure}{size:,.0f} / {learn:.2f}")
            print(f"| {bound} | " + " | ".join(cells) + " |")


def overhead(rows: int) -> None:
    rng = random.Random(0)
    labels = ["a", "b", "c"]
    colours = ["red", "green", "blue", "black"]
    data = [
        (
            {f"f{i}": rng.gauss(n % 3, 1.0) for i in range(64)}
            | {f"s{i}": colours[(n + i) % 4] for i in range(4)},
            labels[n % 3],
        )
        for n in range(rows)
    ]
    for bound_name in ("none", "1000/100 (default)"):
        figures: dict[str, Any] = {"overhead": bound_name, "rows": rows}
        best: dict[str, float] = {}
        for _ in range(3):  # the best of three runs: the least disturbed
            model = make_model("logistic_regression", labels, BOUNDS[bound_name], 0)
            started = time.perf_counter()
            for x, label in data:
                model.learn(x, label)
            learned = time.perf_counter()
            for x, _ in data:
                model.predict(x)
            predicted = time.perf_counter()
            for start in range(0, rows, 256):
                model.predict_many([x for x, _ in data[start : start + 256]])
            batched = time.perf_counter()
            for name, seconds in (
                ("learn_per_s", learned - started),
                ("predict_per_s", predicted - learned),
                ("predict_many_256_per_s", batched - predicted),
            ):
                best[name] = max(best.get(name, 0.0), rows / seconds)
        figures |= {name: round(rate) for name, rate in best.items()}
        print(orjson.dumps(figures).decode(), flush=True)
    # The bound's own work per row, timed alone: the least of several runs, steadier than the
    # rates above on a shared machine.
    vocabulary = make_model("logistic_regression", labels, BOUNDS["1000/100 (default)"], 0)
    step = vocabulary._pipeline.steps["BoundedVocabulary"]
    for x, _ in data:
        step.learn_one(x)
    sample = [x for x, _ in data[:1000]]
    for method in ("transform_one", "learn_one"):
        call = getattr(step, method)
        runs = timeit.repeat(lambda call=call: [call(x) for x in sample], number=5, repeat=5)
        seconds = min(runs)
        micros = 1e6 * seconds / (5 * len(sample))
        print(orjson.dumps({"vocabulary": method, "us_per_row": round(micros, 2)}).decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--bounds", nargs="+", default=list(BOUNDS), choices=BOUNDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rows", type=int, default=0, help="rows per dataset; 0: its default")
    parser.add_argument("--overhead", action="store_true", help="the cost below the bound")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    if args.overhead:
        overhead(args.rows or 5_000)
        return
    results = []
    for dataset, preset, bound, seed in itertools.product(
        args.datasets, args.presets, args.bounds, args.seeds
    ):
        result = run(dataset, preset, bound, seed, args.rows)
        results.append(result)
        print(orjson.dumps(result).decode(), flush=True)
    summarise(results)


if __name__ == "__main__":
    main()
