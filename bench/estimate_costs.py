"""What do cheaper cross-fitted estimators cost and lose against K=10 (issue 15)?

Reuses ``bench/estimate_study.py`` (its simulation, streams, ``CrossFit``, ``score``-style
metrics) and ``bench/estimators.py``. One run per stream and seed carries every variant's shadow
models side by side (shadows never touch the production model, so every variant sees the same
labels); a second run without shadows gives the wall time of the loop alone.

Variants (all scored with confidence-binned PPI over the random draws' held-out scores):

- ``all10``: folds over every label, scored on random draws (BENCHMARKS.md's headline, K=10);
- ``random{2,4,10}``: folds over the random draws only; each shadow learns every routed label
  and all random draws but its fold's (``CrossFit(scope="random")``);
- ``draws{2,4,10}``: shadows that learn *only* the random draws (never a routed label), folds
  over the draws: each shadow learns every draw but its fold's.
- ``unrehearsed4``: the service's K=4, its shadows re-learning no earlier label (rehearsal
  0) while the production model keeps the preset's: what the estimate loses if its shadows
  learn each label once (issue 22: rehearsal is three quarters of the shadows' cost). Only
  the ``logistic_regression`` streams rehearse, so run it on those:
  ``--streams hyperplane2/lr clusters10/lr --seeds 10 --tag=-unrehearsed``.

Cost: ``OnlineModel.learn`` calls and the ``learn_one`` calls inside them (1 + rehearsal) per
label, and seconds spent learning (and scoring held-out items at checkpoints), against the
production model's learning and the whole run without shadows.

    python bench/estimate_costs.py --seeds 3          # 5 streams, 3 seeds, 2 workers

Writes ``bench/results/estimate_costs.json`` and ``estimate_costs.txt``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import estimate_study as es
import estimators as est

from streamloop.online import OnlineModel

# -- instrumentation: time and count learning per bucket (the production model is "main") ----

COUNTS: dict[str, dict[str, float]] = {}
_CURRENT = ["main"]


def _bucket(name: str) -> dict[str, float]:
    return COUNTS.setdefault(name, {"learn": 0, "learn_one": 0, "learn_s": 0.0, "score_s": 0.0})


_original_learn = OnlineModel.learn


def _timed_learn(self: OnlineModel, *args: Any, **kwargs: Any) -> Any:
    b = _bucket(_CURRENT[0])
    b["learn"] += 1
    b["learn_one"] += 1 + (min(self._rehearsal, len(self._memory)) if self._rehearsal else 0)
    started = time.perf_counter()
    try:
        return _original_learn(self, *args, **kwargs)
    finally:
        b["learn_s"] += time.perf_counter() - started


OnlineModel.learn = _timed_learn  # type: ignore[method-assign]


class DrawsOnly(es.CrossFit):
    """Shadows that learn only the random draws: folds over the draws, routed labels ignored."""

    def learn(self, row: dict[str, Any], truth: str, drawn_at_random: bool, labelled: int) -> None:
        if drawn_at_random:
            super().learn(row, truth, drawn_at_random, labelled)


def _without_rehearsal(model: OnlineModel) -> OnlineModel:
    """A shadow that learns each label once: it re-learns no earlier label (rehearsal 0)."""
    model._rehearsal = 0
    return model


_PlainCrossFit = es.CrossFit  # the module's name is replaced by `CostedCrossFit` below


class CostedCrossFit(es.CrossFit):
    """``es.CrossFit``, timed; a ``scope="random"`` one also carries twins of the same K that
    ride the same run: draws-only shadows, and (K=4, the service's) shadows that do not
    rehearse."""

    def __init__(self, k: int, scope: str, make: Any) -> None:
        super().__init__(k, scope, make)
        self.bucket = f"{scope}{k}"
        self.twins: list[Any] = []
        if scope == "random":
            self.twins.append(DrawsOnly(k, "random", make))
            self.twins[-1].bucket = f"draws{k}"
        if scope == "random" and k == 4:
            self.twins.append(_PlainCrossFit(k, "random", lambda: _without_rehearsal(make())))
            self.twins[-1].bucket = f"unrehearsed{k}"

    def learn(self, row: dict[str, Any], truth: str, drawn_at_random: bool, labelled: int) -> None:
        _CURRENT[0] = self.bucket
        try:
            super().learn(row, truth, drawn_at_random, labelled)
            for twin in self.twins:
                _CURRENT[0] = twin.bucket
                twin.learn(row, truth, drawn_at_random, labelled)
        finally:
            _CURRENT[0] = "main"

    def score(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().score(*args, **kwargs)
        finally:
            _bucket(self.bucket)["score_s"] += time.perf_counter() - started


_original_checkpoint = es._checkpoint


def _checkpoint(model, data, drifted, log, arrivals, arrival_conf, labelled, alarms, crossfits):
    point = _original_checkpoint(
        model, data, drifted, log, arrivals, arrival_conf, labelled, alarms, crossfits
    )
    if "estimates" not in point:
        return point
    c_now = es._max_conf(model.predict_many(arrivals[-es.WINDOW :]))
    for twin in (twin for crossfit in crossfits.values() for twin in crossfit.twins):
        started = time.perf_counter()
        h_x, c_x, _ = twin.score()
        _bucket(twin.bucket)["score_s"] += time.perf_counter() - started
        found = {
            f"cross-fit {twin.bucket}: binned ppi": est.binned_ppi(c_now, h_x, c_x),
            f"cross-fit {twin.bucket}: binned ppi, min 20": est.binned_ppi(
                c_now, h_x, c_x, min_samples=20
            ),
        }
        point["estimates"].update({k: v for k, v in found.items() if v is not None})
    return point


es.CrossFit = CostedCrossFit  # simulate() builds its shadows from the module's name
es._checkpoint = _checkpoint

CONFIGS = {
    "shadows": es.Config("shadows", crossfit=("random2", "random4", "random10", "all10")),
    "none": es.Config("none"),
}

# (row label, estimator name in the checkpoints, cost bucket)
VARIANTS = [
    (
        "K=10, folds over all labels (headline)",
        "cross-fit all10: binned ppi, random draws",
        "all10",
    ),
    ("K=10, folds over draws", "cross-fit random10: binned ppi", "random10"),
    ("K=10, folds over draws, min 20", "cross-fit random10: binned ppi, min 20", "random10"),
    ("K=4, folds over draws", "cross-fit random4: binned ppi", "random4"),
    ("K=4, folds over draws, min 20", "cross-fit random4: binned ppi, min 20", "random4"),
    (
        "K=4, folds over draws, shadows without rehearsal",
        "cross-fit unrehearsed4: binned ppi",
        "unrehearsed4",
    ),
    ("K=2, folds over draws", "cross-fit random2: binned ppi", "random2"),
    ("K=2, folds over draws, min 20", "cross-fit random2: binned ppi, min 20", "random2"),
    ("draws-only K=10", "cross-fit draws10: binned ppi", "draws10"),
    ("draws-only K=10, min 20", "cross-fit draws10: binned ppi, min 20", "draws10"),
    ("draws-only K=4", "cross-fit draws4: binned ppi", "draws4"),
    ("draws-only K=4, min 20", "cross-fit draws4: binned ppi, min 20", "draws4"),
    ("draws-only K=2", "cross-fit draws2: binned ppi", "draws2"),
    ("draws-only K=2, min 20", "cross-fit draws2: binned ppi, min 20", "draws2"),
    ("no shadows: ppi, random draws, half-life 20", "ppi: random draws, half-life 20", None),
    ("no shadows: today (random draws, EW, Wilson)", "today (random draws, EW, Wilson)", None),
    ("floor: fresh sample as large as the draws", es.FLOOR, None),
]
PHASES = {"all": (50, 10**9), "50-175": (50, 175), "200-400": (200, 400)}


def _job(args: tuple) -> dict[str, Any]:
    stream_name, seed, config, budget, per_label = args
    COUNTS.clear()
    _CURRENT[0] = "main"
    started = time.perf_counter()
    run = es.simulate(es.STREAMS[stream_name], seed, config, budget, per_label, None)
    run["seconds"] = time.perf_counter() - started
    run["counts"] = {k: dict(v) for k, v in COUNTS.items()}
    return run


def _errors(runs: list[dict], name: str, low: int, high: int) -> dict[str, list[float]]:
    r: dict[str, list[float]] = {"err": [], "cov": [], "width": []}
    for run in runs:
        for p in run["checkpoints"]:
            if "estimates" not in p or not low <= p["labels"] <= high:
                continue
            t = p["truth"]
            if name == es.FLOOR:
                n = max(1, p["random_draws"])
                r["err"].append(math.sqrt(2 / math.pi * t * (1 - t) / n))
                r["cov"].append(0.95)
                r["width"].append(2 * est.Z_95 * math.sqrt(t * (1 - t) / n))
                continue
            if name not in p["estimates"]:
                continue
            value, lo, hi, _ = p["estimates"][name]
            r["err"].append(value - t)
            r["cov"].append(float(lo <= t <= hi))
            r["width"].append(hi - lo)
    return r


def summarise(by_stream: dict[str, dict[str, list[dict]]]) -> dict[str, Any]:
    """Per variant: metrics per stream and their mean over streams (as estimate_study does)."""
    out: dict[str, Any] = {}
    streams = list(by_stream)
    for label, name, bucket in VARIANTS:
        row: dict[str, Any] = {"estimator": name, "bucket": bucket, "per_stream": {}}
        for s in streams:
            runs = by_stream[s]["shadows"]
            cell: dict[str, Any] = {}
            for phase, (low, high) in PHASES.items():
                r = _errors(runs, name, low, high)
                if not r["err"]:
                    continue
                err = r["err"]
                cell[phase] = {
                    "mae": statistics.fmean(abs(e) for e in err),
                    "bias": 0.0 if name == es.FLOOR else statistics.fmean(err),
                    "coverage": statistics.fmean(r["cov"]),
                    "width": statistics.fmean(r["width"]),
                    "checkpoints": len(err),
                }
            if bucket is not None:
                labels = sum(run["checkpoints"][-1]["labels"] for run in runs)
                main = [run["counts"]["main"] for run in runs]
                mine = [run["counts"].get(bucket, {}) for run in runs]
                base_s = sum(run["seconds"] for run in by_stream[s]["none"])
                cell["cost"] = {
                    "extra_learn_per_label": sum(m.get("learn", 0) for m in mine) / labels,
                    "extra_learn_one_per_label": sum(m.get("learn_one", 0) for m in mine) / labels,
                    "learn_one_vs_main": sum(m.get("learn_one", 0) for m in mine)
                    / sum(m["learn_one"] for m in main),
                    "learn_time_vs_main": sum(m.get("learn_s", 0) for m in mine)
                    / sum(m["learn_s"] for m in main),
                    "extra_seconds_per_run": sum(
                        m.get("learn_s", 0) + m.get("score_s", 0) for m in mine
                    )
                    / len(runs),
                    "wall_vs_no_shadows": (
                        base_s + sum(m.get("learn_s", 0) + m.get("score_s", 0) for m in mine)
                    )
                    / base_s,
                }
            row["per_stream"][s] = cell
        mean: dict[str, Any] = {}
        for key in [*PHASES, "cost"]:
            cells = [row["per_stream"][s].get(key) for s in streams]
            if all(c is not None for c in cells):
                mean[key] = {m: statistics.fmean(c[m] for c in cells) for m in cells[0]}
        row["mean"] = mean
        out[label] = row
    return out


def report(summary: dict[str, Any], streams: list[str]) -> list[str]:
    lines = [
        "| variant | MAE | bias | 95% cov. | width | MAE 50-175 | width 50-175 | MAE 200-400 "
        "| width 200-400 | cov. 50-175 / 200-400 | extra learn / label | extra learn_one / label "
        "| learn time vs main | run wall vs no shadows |",
        "|---|" + "---:|" * 13,
    ]
    for label, row in summary.items():
        m = row["mean"]
        a, e, late = m.get("all"), m.get("50-175"), m.get("200-400")
        if a is None:
            continue
        c = m.get("cost")
        cost = (
            f"{c['extra_learn_per_label']:.2f} | {c['extra_learn_one_per_label']:.1f} | "
            f"x{c['learn_time_vs_main']:.2f} | x{c['wall_vs_no_shadows']:.2f}"
            if c
            else "0 | 0 | - | x1.00"
        )
        e, late = e or {}, late or {}
        lines.append(
            f"| {label} | {a['mae']:.3f} | {a['bias']:+.3f} | {a['coverage']:.0%} | "
            f"{a['width']:.3f} | {es.fmt(e.get('mae'))} | {es.fmt(e.get('width'))} | "
            f"{es.fmt(late.get('mae'))} | {es.fmt(late.get('width'))} | "
            f"{es.fmt(e.get('coverage'), '.0%')} / {es.fmt(late.get('coverage'), '.0%')} | {cost} |"
        )
    lines += [
        "",
        "MAE per stream (all checkpoints):",
        "",
        "| variant | " + " | ".join(streams) + " |",
        "|---|" + "---:|" * len(streams),
    ]
    for label, row in summary.items():
        cells = [row["per_stream"][s].get("all", {}).get("mae") for s in streams]
        lines.append(f"| {label} | " + " | ".join(es.fmt(c) for c in cells) + " |")
    lines += [
        "",
        "Coverage per stream (all checkpoints):",
        "",
        "| variant | " + " | ".join(streams) + " |",
        "|---|" + "---:|" * len(streams),
    ]
    for label, row in summary.items():
        cells = [row["per_stream"][s].get("all", {}).get("coverage") for s in streams]
        lines.append(f"| {label} | " + " | ".join(es.fmt(c, ".0%") for c in cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", nargs="+", default=list(es.STREAMS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--events-per-label", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tag", default="", help="suffix of the output files' names")
    args = parser.parse_args()
    started = time.perf_counter()
    jobs = [
        (s, seed, config, args.budget, args.events_per_label)
        for s in args.streams
        for seed in range(args.seeds)
        for config in CONFIGS.values()
    ]
    jobs.sort(key=lambda j: ("nb" not in j[0], "tree" not in j[0], j[2].name != "shadows"))
    with Pool(args.workers) as pool:
        runs = pool.map(_job, jobs, chunksize=1)
    by_stream: dict[str, dict[str, list[dict]]] = {}
    for run in runs:
        by_stream.setdefault(run["stream"], {}).setdefault(run["config"], []).append(run)
    # Shadows must not touch the production model: same truths with and without them.
    same = all(
        [p["truth"] for p in a["checkpoints"]] == [p["truth"] for p in b["checkpoints"]]
        for v in by_stream.values()
        for a, b in zip(
            sorted(v["shadows"], key=lambda r: r["seed"]),
            sorted(v["none"], key=lambda r: r["seed"]),
            strict=True,
        )
    )
    summary = summarise(by_stream)
    seconds = time.perf_counter() - started
    command = " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    text = [
        f"# estimate_costs ({command})",
        "",
        f"{len(by_stream)} streams x {args.seeds} seeds, {args.budget} labels, checkpoints every "
        f"{es.STEP} from {es.FIRST_CHECKPOINT}; all estimators are confidence-binned PPI "
        "(bins = production-confidence quintiles, merged to >= 10, or 20, effective labels) "
        "over the random draws' cross-fitted scores; metrics per stream, then mean over streams.",
        f"Production model identical with and without shadows: {same}.",
        "Costs: extra OnlineModel.learn calls per label; extra pipeline learn_one calls per "
        "label (with rehearsal); shadow learning seconds / production model's learning seconds; "
        "(run without shadows + this variant's learning and scoring seconds) / run without "
        "shadows.",
        "",
        *report(summary, list(by_stream)),
        "",
        f"{seconds:.0f} s on {es.platform.machine()}, {es.os.cpu_count()} cores",
    ]
    es.RESULTS.mkdir(exist_ok=True)
    (es.RESULTS / f"estimate_costs{args.tag}.txt").write_text("\n".join(text) + "\n")
    (es.RESULTS / f"estimate_costs{args.tag}.json").write_text(
        json.dumps(
            {
                "meta": {
                    "command": command,
                    "seeds": list(range(args.seeds)),
                    "streams": list(by_stream),
                    "budget": args.budget,
                    "seconds": round(seconds, 1),
                    "production_model_unchanged_by_shadows": same,
                    "run_seconds": {
                        s: {c: [round(r["seconds"], 2) for r in rs] for c, rs in v.items()}
                        for s, v in by_stream.items()
                    },
                },
                "variants": summary,
            },
            default=float,
        )
    )
    print("\n".join(text))


if __name__ == "__main__":
    main()
