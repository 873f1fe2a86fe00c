"""Does ``streamloop demo`` show its model learning within the first labels?

The demo's projects are made as ``streamloop demo`` makes them (`streamloop.demo.open_demo`), in
a `Service` in this process, and fed its generators' events as the demo feeds them (4 at a
time). One annotator session (prefetch 1, as the annotator app's) answers the items it is
given, in the order given, with the generator's true answers, as a careful person would. The
stream goes on while they label: ``--head-start`` events before the first item (the demo ran
that long before its page was opened), then ``--events-per-label`` between two labels (the
demo sends 4 a second a project: 12 is one label every 3 seconds).

After each label, recorded:

- ``held_out``: the model's figure on ``--held-out`` events of the same generator under
  another seed, never learned: accuracy (``support-tickets``), exact match and micro-F1
  (``ticket-topics``), span F1 (``ticket-entities``);
- ``prequential``: the project's own accuracy figure over the items labelled so far, each
  predicted before it was learned (exact match for the set tasks), as the dashboard shows it;
- ``unbiased``: the dashboard's estimate of accuracy on traffic (None until it has one);
- ``sure``: how sure the suggestion shown with the item just labelled was: its top
  probability (``support-tickets``); the mean over labels of max(p, 1 - p) (``ticket-topics``,
  each label a yes or no); the mean score of its spans (``ticket-entities``, None when it
  suggested none);
- ``right``: whether that suggestion was the true answer.

    python bench/demo_learning.py --seeds 5 --labels 40

Writes ``bench/results/demo_learning.json`` and prints the table BENCHMARKS.md quotes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import machine_line

from streamloop.config import Settings
from streamloop.demo import _DEMO_PROJECTS, DEMO_PROJECTS, open_demo
from streamloop.online.multilabel import MultiLabelPrediction
from streamloop.online.spans import SpanPrediction
from streamloop.streams import AnnotatorSession, ProjectRuntime, Service
from streamloop.streams.notices import ItemOffered

#: A held-out set's generator seed is this plus the run's, far from the seeds the stream uses.
HELD_OUT_SEED = 1_000_000
CHECKPOINTS = (5, 10, 20, 30, 40)


def sent(task: str, truth: Any) -> dict[str, Any]:
    """A true answer as the annotator app sends it."""
    if task == "spans":
        return {"spans": [span.as_json() for span in truth]}
    if task == "multilabel":
        return {"labels": list(truth)}
    return {"label": truth}


def sureness(prediction: Any) -> float | None:
    if isinstance(prediction, SpanPrediction):
        return statistics.fmean(prediction.scores) if prediction.scores else None
    if isinstance(prediction, MultiLabelPrediction):
        return statistics.fmean(max(p, 1 - p) for p in prediction.probabilities.values())
    return max(prediction.probabilities.values())


def _span_keys(spans: Any) -> set[tuple[int, int, str]]:
    return {(span.start, span.end, span.label) for span in spans or ()}


def suggested(prediction: Any) -> Any:
    if isinstance(prediction, SpanPrediction):
        return None if prediction.spans is None else _span_keys(prediction.spans)
    if isinstance(prediction, MultiLabelPrediction):
        return None if prediction.labels is None else set(prediction.labels)
    return prediction.label


def as_compared(task: str, truth: Any) -> Any:
    if task == "spans":
        return _span_keys(truth)
    if task == "multilabel":
        return set(truth)
    return truth


def held_out_figures(runtime: ProjectRuntime, task: str, held: Sequence[Any]) -> dict[str, float]:
    """The model's figures on events it never learned."""
    predictions = [runtime.predict(data) for _, data, _ in held]
    guesses = [suggested(p) for p in predictions]
    truths = [as_compared(task, truth) for _, _, truth in held]
    exact = statistics.fmean(g == t for g, t in zip(guesses, truths, strict=True))
    sure = [s for s in map(sureness, predictions) if s is not None]
    figures = {"sure": statistics.fmean(sure) if sure else None}
    if task == "classify":
        return figures | {"accuracy": exact}
    found = sum(len((g or set()) & t) for g, t in zip(guesses, truths, strict=True))
    given = sum(len(g or set()) for g in guesses)
    wanted = sum(len(t) for t in truths)
    f1 = 2 * found / (given + wanted) if given + wanted else 1.0
    return figures | {"exact_match": exact, "f1": f1}


async def run(project: str, seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One annotator's first ``args.labels`` labels in one demo project."""
    with tempfile.TemporaryDirectory(prefix="streamloop-demo-bench-") as folder:
        service = Service(Settings.from_env({}, data_dir=Path(folder) / "data"))
        await service.start()
        try:
            streams = {r.record.name: (r, s) for r, s in await open_demo(service, seed=seed)}
            runtime, stream = streams[project]
            task = runtime.record.task
            kind = type(stream)
            held_out_stream = iter(kind(seed=HELD_OUT_SEED + seed))
            held = [next(held_out_stream) for _ in range(args.held_out)]
            truths: dict[str, Any] = {}

            async def arrive(count: int) -> None:
                for _ in range(0, count, 4):
                    batch = [next(stream) for _ in range(4)]
                    truths.update((event_id, truth) for event_id, _, truth in batch)
                    await runtime.ingest([(event_id, data) for event_id, data, _ in batch])

            await arrive(args.head_start)
            offered: list[ItemOffered] = []
            session = AnnotatorSession(
                "oracle",
                prefetch=1,
                send=lambda n: offered.append(n) if isinstance(n, ItemOffered) else None,
            )
            runtime.leasing.join(session)
            rows = []
            for n in range(1, args.labels + 1):
                while not session.held:
                    await arrive(4)  # the queue ran dry: wait for the stream
                [lease] = session.held.values()
                [item] = [o for o in offered if o.event_id == lease.item.event_id]
                truth = truths[item.event_id]
                answer = runtime.answer(sent(task, truth))
                await runtime.label(session, item.event_id, answer, f"oracle-{n}")
                runtime.leasing.fill(session)
                metrics = runtime.metrics()
                rows.append(
                    {
                        "labels": n,
                        "drawn_at_random": lease.drawn_at_random,
                        "sure": sureness(item.prediction),
                        "right": suggested(item.prediction) == as_compared(task, truth),
                        "prequential": metrics["accuracy"],
                        "unbiased": metrics["unbiased_accuracy"].get("estimate"),
                        "held_out": held_out_figures(runtime, task, held)
                        if n in CHECKPOINTS or n == args.labels
                        else None,
                    }
                )
                await arrive(args.events_per_label)
            return rows
        finally:
            await service.stop()


def _mean(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    return f"{statistics.fmean(present):.2f}" if present else "-"


def table(results: dict[str, list[list[dict[str, Any]]]]) -> str:
    """Means over seeds at each checkpoint; ``sure`` and ``right`` over the labels since the
    last checkpoint (the suggestions the annotator saw in that stretch)."""
    lines = [
        "| project | labels | held-out accuracy | held-out F1 | held-out sureness | prequential "
        "| unbiased | suggestions right | suggestions' sureness |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for project, runs in results.items():
        previous = 0
        for checkpoint in CHECKPOINTS:
            if checkpoint > len(runs[0]):
                break
            at = [run[checkpoint - 1] for run in runs]
            stretch = [row for run in runs for row in run[previous:checkpoint]]
            held = [row["held_out"] for row in at]
            accuracy = _mean([h.get("accuracy", h.get("exact_match")) for h in held])
            f1 = _mean([h.get("f1") for h in held])
            sure = _mean([h["sure"] for h in held])
            lines.append(
                f"| {project} | {previous + 1}-{checkpoint} | {accuracy} | {f1} | {sure} "
                f"| {_mean([r['prequential'] for r in at])} | {_mean([r['unbiased'] for r in at])} "
                f"| {_mean([float(r['right']) for r in stretch])} "
                f"| {_mean([r['sure'] for r in stretch])} |"
            )
            previous = checkpoint
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--labels", type=int, default=40)
    parser.add_argument("--head-start", type=int, default=120)
    parser.add_argument("--events-per-label", type=int, default=12)
    parser.add_argument("--held-out", type=int, default=300)
    parser.add_argument("--projects", nargs="+", default=list(DEMO_PROJECTS))
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="SETTING=JSON",
        help="change the projects' settings from the demo's (a candidate), as warmup=0",
    )
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "demo_learning.json"
    )
    args = parser.parse_args()
    print(machine_line(), flush=True)
    changes = {k: json.loads(v) for k, v in (setting.split("=", 1) for setting in args.set)}
    for project in args.projects:
        _DEMO_PROJECTS[project].update(changes)
    results = {
        project: [asyncio.run(run(project, seed, args)) for seed in range(args.seeds)]
        for project in args.projects
    }
    args.output.write_text(json.dumps({"args": vars(args) | {"output": None}, **results}))
    print(table(results))


if __name__ == "__main__":
    main()
