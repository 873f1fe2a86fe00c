"""The accuracy estimate and drift, through a real ``streamloop serve``, as a client sees them.

Events go in over HTTP, three before each label; an oracle annotator labels what the service
routes, over the annotate WebSocket; every 25 labels the benchmark reads ``/metrics`` (the
estimate and the drift state) and the truth: the current model's accuracy on 1,000 held-out
items scored through ``POST .../predict``. Streams and data are ``bench/estimate_study.py``'s;
on the drift streams a fifth of the items change class after 150 labels, and an item's label is
the concept it arrived under.

    python bench/estimate_service.py              # 3 seeds, about 13 minutes on 2 cores
    python bench/estimate_service.py --plot-only  # the plot again, from the saved results
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import estimate_study as es
import httpx
import orjson
from server import Server, held_out_accuracy, machine_line
from websockets.asyncio.client import connect

STREAMS = ["hyperplane2/lr", "clusters10/lr", "segment/nb"]
DRIFT_STREAMS = list(es.DRIFT_STREAMS)


async def run(base: str, stream: str, seed: int, budget: int, drift: bool) -> dict[str, Any]:
    found = es.STREAMS.get(stream) or es.DRIFT_STREAMS[stream]
    data = es._data(stream, seed, budget, 3, drift)
    name = f"{stream.split('/')[0]}-{seed}-{'d' if drift else 's'}"
    arrived: list[str] = []  # each event's label, under the concept it arrived in
    checkpoints: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        spec = {
            "name": name,
            "labels": data.classes,
            "input": "tabular",
            "model": found.preset,
            "seed": seed,
        }
        (await http.post("/api/projects", json=spec)).raise_for_status()

        async def arrive(k: int, drifted: bool) -> None:
            start = len(arrived)
            source = data.labels_after if drifted and data.labels_after else data.labels
            events = [{"id": str(i), "data": data.events[i]} for i in range(start, start + k)]
            arrived.extend(source[i] for i in range(start, start + k))
            response = await http.post(f"/api/projects/{name}/events", json={"events": events})
            response.raise_for_status()

        await arrive(es.PREFILL, False)
        url = base.replace("http", "ws") + f"/ws/projects/{name}/annotate?annotator=oracle"
        async with connect(url, max_size=None) as ws:
            labelled, pending = 0, []
            while labelled < budget:
                drifted = drift and labelled >= es.DRIFT_AT
                await arrive(3, drifted)
                while not pending:
                    message = orjson.loads(await ws.recv())
                    if message["type"] == "item":
                        pending.append(message["item"]["id"])
                    elif message["type"] == "error":
                        raise RuntimeError(message)
                item = pending.pop(0)
                frame = {"type": "label", "item_id": item, "label": arrived[int(item)]}
                await ws.send(orjson.dumps(frame | {"label_id": f"{name}-{item}"}).decode())
                while True:
                    message = orjson.loads(await ws.recv())
                    if message["type"] == "item":
                        pending.append(message["item"]["id"])
                    elif message["type"] == "ack":
                        break
                    elif message["type"] == "error":
                        raise RuntimeError(message)
                labelled += 1
                if labelled % es.STEP == 0 and labelled >= es.FIRST_CHECKPOINT:
                    metrics = (await http.get(f"/api/projects/{name}/metrics")).json()
                    holdout = data.holdout_after if drifted and data.holdout_after else None
                    truth = await held_out_accuracy(
                        http, name, data.holdout, holdout or data.holdout_labels
                    )
                    checkpoints.append(
                        {
                            "labels": labelled,
                            "truth": truth,
                            "estimate": metrics["unbiased_accuracy"],
                            "prequential": metrics["accuracy"],
                            "drift": metrics["drift"],
                        }
                    )
    return {"stream": stream, "seed": seed, "drift": drift, "checkpoints": checkpoints}


def _score(runs: list[dict]) -> dict[str, float]:
    errors, covered, widths, preq = [], [], [], []
    for r in runs:
        for c in r["checkpoints"]:
            if r["drift"] and c["labels"] <= es.DRIFT_AT:
                continue
            e = c["estimate"]
            if e["estimate"] is None:
                continue
            errors.append(e["estimate"] - c["truth"])
            covered.append(e["low"] <= c["truth"] <= e["high"])
            widths.append(e["high"] - e["low"])
            if c["prequential"] is not None:
                preq.append(c["prequential"] - c["truth"])
    return {
        "mae": statistics.fmean(abs(e) for e in errors),
        "bias": statistics.fmean(errors),
        "coverage": statistics.fmean(covered),
        "width": statistics.fmean(widths),
        "prequential_mae": statistics.fmean(abs(e) for e in preq),
        "checkpoints": len(errors),
    }


def _drift_row(runs: list[dict]) -> dict[str, Any]:
    delays, curve = [], []
    for r in runs:
        drifts = [d for d in r["checkpoints"][-1]["drift"]["drifts"] if d > es.DRIFT_AT]
        delays.append(drifts[0] - es.DRIFT_AT if drifts else None)
    for points in zip(*[[c["truth"] for c in r["checkpoints"]] for r in runs], strict=True):
        curve.append(statistics.fmean(points))
    # labels_to_recover expects a curve from 25 labels: pad the first checkpoint (25).
    recover = es.labels_to_recover([curve[0], *curve], es.DRIFT_AT)
    return {"delays": delays, "recover": recover}


def plot(runs: list[dict]) -> Path:
    """Per stream, every run's truth (solid) and estimate with its interval (dashed, band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    streams = list(dict.fromkeys(r["stream"] for r in runs))
    fig, axes = plt.subplots(1, len(streams), figsize=(4 * len(streams), 3.4), sharey=True)
    for ax, stream in zip(axes, streams, strict=True):
        for n, r in enumerate(r for r in runs if r["stream"] == stream):
            points = [c for c in r["checkpoints"] if c["estimate"]["estimate"] is not None]
            x = [c["labels"] for c in points]
            color = f"C{n}"
            ax.plot(x, [c["truth"] for c in points], color=color, lw=1.5)
            ax.plot(x, [c["estimate"]["estimate"] for c in points], color=color, ls="--", lw=1)
            ax.fill_between(
                x,
                [c["estimate"]["low"] for c in points],
                [c["estimate"]["high"] for c in points],
                color=color,
                alpha=0.12,
            )
        if any(r["drift"] for r in runs if r["stream"] == stream):
            ax.axvline(es.DRIFT_AT, color="#c0392b", lw=1, ls=":")
        ax.set_title(stream, fontsize=10)
        ax.set_xlabel("labels")
    axes[0].set_ylabel("held-out accuracy (solid), estimate (dashed)")
    fig.tight_layout()
    path = es.RESULTS / "estimate_service.png"
    fig.savefig(path, dpi=110)
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--drift-budget", type=int, default=450)
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()
    if args.plot_only:
        saved = json.loads((es.RESULTS / "estimate_service.json").read_text())
        print(plot(saved["runs"]))
        return
    print(machine_line())
    started = time.perf_counter()
    server = Server(tempfile.mkdtemp(prefix="streamloop-bench-"))
    try:
        jobs = [(s, seed, args.budget, False) for s in STREAMS for seed in range(args.seeds)]
        jobs += [
            (s, seed, args.drift_budget, True) for s in DRIFT_STREAMS for seed in range(args.seeds)
        ]
        runs = []
        for stream, seed, budget, drift in jobs:
            runs.append(await run(str(server.base), stream, seed, budget, drift))
    finally:
        server.stop()
    lines = [f"# estimate_service (python bench/estimate_service.py --seeds {args.seeds})", ""]
    lines.append("| stream | MAE | bias | 95% coverage | width | prequential `accuracy` MAE |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    out: dict[str, Any] = {"runs": runs, "scores": {}, "drift": {}}
    for stream in [*STREAMS, *DRIFT_STREAMS]:
        mine = [r for r in runs if r["stream"] == stream]
        s = _score(mine)
        out["scores"][stream] = s
        lines.append(
            f"| {stream} | {s['mae']:.3f} | {s['bias']:+.3f} | {s['coverage']:.0%} | "
            f"{s['width']:.3f} | {s['prequential_mae']:.3f} |"
        )
    stationary = [r for r in runs if not r["drift"]]
    alarms = sum(1 for r in stationary if r["checkpoints"][-1]["drift"]["drifts_total"])
    lines.append(f"\nStationary runs with a drift shown: {alarms}/{len(stationary)}")
    lines.append(
        "\n| drift stream | labels to recover | drift confirmed, labels after the change |"
    )
    lines.append("|---|---:|---|")
    for stream in DRIFT_STREAMS:
        row = _drift_row([r for r in runs if r["stream"] == stream])
        out["drift"][stream] = row
        shown = " ".join("-" if d is None else str(d) for d in row["delays"])
        lines.append(f"| {stream} | {row['recover']} | {shown} |")
    lines.append(f"\n{time.perf_counter() - started:.0f} s")
    text = "\n".join(lines)
    print(text)
    (es.RESULTS / "estimate_service.txt").write_text(text + "\n")
    (es.RESULTS / "estimate_service.json").write_text(json.dumps(out, default=str))
    print(plot(runs))


if __name__ == "__main__":
    asyncio.run(main())
