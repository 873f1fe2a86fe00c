"""The service's accuracy estimate and drift answer, run as the service runs them.

Reuses ``bench/estimate_study.py``'s streams and loop (the service's model, routing policy and
queue, in process), with the service's own drift handling (``Config.service_drift``): the
model's `DriftMonitor` and shadows, `exploration_now`, the queue's `age_out`. Reports, over 5
seeds: the estimate's error, bias, coverage and width against held-out truth on the five
stationary streams; drift alarms on them; on the two abrupt-drift streams, detection delay and
labels to come back within 5 points of the pre-drift accuracy, against today's default (no
drift handling) and random routing.

    python bench/drift_study.py            # about 6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from multiprocessing import Pool
from typing import Any

import estimate_study as es
from estimate_study import Config

CONFIGS = {
    "service": Config("service", service_drift=True),
    "no drift answer": Config("no drift answer"),
    "random": Config("random", strategy="random"),
}


def _job(args: tuple) -> tuple[str, int, str, bool, dict[str, Any]]:
    stream, seed, name, budget, drift = args
    found = es.STREAMS.get(stream) or es.DRIFT_STREAMS[stream]
    run = es.simulate(found, seed, CONFIGS[name], budget, 3, es.DRIFT_AT if drift else None)
    return stream, seed, name, drift, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    jobs = [(s, seed, "service", 400, False) for s in es.STREAMS for seed in range(args.seeds)]
    jobs += [
        (s, seed, "no drift answer", 400, False) for s in es.STREAMS for seed in range(args.seeds)
    ]
    jobs += [
        (s, seed, name, 550, True)
        for s in es.DRIFT_STREAMS
        for seed in range(args.seeds)
        for name in CONFIGS
    ]
    with Pool(args.workers) as pool:
        runs = pool.map(_job, jobs, chunksize=1)
    by: dict[tuple[str, bool], list] = {}
    for stream, seed, name, drift, run in runs:
        by.setdefault((name, drift), []).append((stream, seed, run))
    lines = [f"# drift_study (python bench/drift_study.py --seeds {args.seeds})", ""]
    out: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    # The estimate, stationary streams, the service's runs.
    stationary = [r for _, _, r in by[("service", False)]]
    scores = es.score_estimates(stationary)
    lines.append("## The estimate on the stationary streams (checkpoints every 25 labels, 50-400)")
    lines.append("\n| estimator | MAE | bias | coverage | width |\n|---|---:|---:|---:|---:|")
    for name in ("the service's accuracy_estimate", es.FLOOR):
        s = scores[name]
        cells = f"{s['mae']:.3f} | {s['bias']:+.3f} | {s['coverage']:.0%} | {s['width']:.3f}"
        lines.append(f"| {name} | {cells} |")
    out["estimate"] = {k: scores[k] for k in ("the service's accuracy_estimate", es.FLOOR)}
    # The same estimator in runs without the drift answer (no warnings, no restarts).
    quiet = es.score_estimates([r for _, _, r in by[("no drift answer", False)]])
    s = quiet["the service's accuracy_estimate"]
    cells = f"{s['mae']:.3f} | {s['bias']:+.3f} | {s['coverage']:.0%} | {s['width']:.3f}"
    lines.append(f"| the same, in runs without the drift answer | {cells} |")
    out["estimate_without_drift_answer"] = s
    per_stream = {}
    for stream in es.STREAMS:
        mine = [r for s, _, r in by[("service", False)] if s == stream]
        per_stream[stream] = es.score_estimates(mine)["the service's accuracy_estimate"]
    lines.append("\n| stream | MAE | bias | coverage |\n|---|---:|---:|---:|")
    for stream, s in per_stream.items():
        lines.append(f"| {stream} | {s['mae']:.3f} | {s['bias']:+.3f} | {s['coverage']:.0%} |")
    out["estimate_per_stream"] = per_stream
    # Stationary cost and false alarms.
    base = {(s, seed): r for s, seed, r in by[("no drift answer", False)]}
    gaps: list[float] = []
    false_alarms = 0
    for s, seed, r in by[("service", False)]:
        b = base[(s, seed)]
        gaps.append(
            statistics.fmean(
                c["truth"] - d["truth"]
                for c, d in zip(r["checkpoints"][1:], b["checkpoints"][1:], strict=True)
            )
        )
        false_alarms += bool(r["drift_alarms"])
    lines.append(
        f"\nStationary runs: {false_alarms}/{len(gaps)} with a drift; held-out accuracy vs "
        f"no drift answer, mean over checkpoints: {statistics.fmean(gaps):+.4f}"
    )
    out["stationary"] = {
        "runs_with_drift": false_alarms,
        "runs": len(gaps),
        "gap": statistics.fmean(gaps),
    }
    # Drift streams.
    lines.append("\n## Abrupt drift after 150 labels\n")
    lines.append(
        "| stream | config | labels to recover | drift confirmed (delays) |\n|---|---|---:|---|"
    )
    out["drift"] = {}
    for stream in es.DRIFT_STREAMS:
        for name in CONFIGS:
            mine = [r for s, _, r in by[(name, True)] if s == stream]
            recover = es.labels_to_recover(es.mean_curve(mine), es.DRIFT_AT)
            delays = [
                next((a - es.DRIFT_AT for a in r["drift_alarms"] if a > es.DRIFT_AT), None)
                for r in mine
            ]
            shown = " ".join("-" if d is None else str(d) for d in delays)
            lines.append(f"| {stream} | {name} | {recover} | {shown} |")
            out["drift"][f"{stream} {name}"] = {"recover": recover, "delays": delays}
    lines.append(f"\n{time.perf_counter() - started:.0f} s")
    text = "\n".join(lines)
    print(text)
    (es.RESULTS / "drift_study.txt").write_text(text + "\n")
    (es.RESULTS / "drift_study.json").write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
