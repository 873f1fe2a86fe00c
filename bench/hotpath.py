"""The hot path in one process: streamloop's model work against raw River, and routing cost.

Everything here runs in this process, with no I/O, so it isolates what streamloop adds on top
of River from what the network and the disk add (bench/labels.py and bench/events.py measure
those, with the same raw River figure in the same run):

- ``model``: predict-then-learn and prediction rates of raw River pipelines (the pipelines
  the presets build, with River's own TF-IDF for streamloop's: `server.rivers_own`) against
  `OnlineModel` doing the same work (which also keeps
  prequential metrics, the accuracy curve, per-annotator figures and rehearsal).
- ``batch``: scoring a batch of rows from the model's weights as arrays (`linear_scorer`),
  per row, against River's ``predict_proba_one`` one at a time, by batch size; and learning a
  label with River's one-vs-rest against the preset's one-pass learner (`OneVsRestLogistic`),
  alone and as `OnlineModel` teaches it (rehearsal 3 and the four shadow models).
- ``text-batch``: where a text model's `predict_many` should score rows as one batch: its
  CPU time per call, one row at a time against one batch, by batch size, for texts of about
  3, 12 and 48 words (the best of five draws each; the machine's speed moves between runs).
- ``multilabel-batch``: the same for a multi-label model (`MultiLabelModel`, a logistic
  regression per label), text and tabular, from one row on.
- ``snapshot``: the CPU time to snapshot a model (`OnlineModel.snapshot`, the canonical
  pickle the learner takes while it holds learning) and to restore it, and its size, after
  ``--rows`` labels from 20 annotators (rehearsal, held-out rows and shadows as served): a
  tabular (64 numbers, 10 classes) and a text model, the best of five.
- ``routing``: the time to choose the next item for an annotator (a lease, with its re-scoring
  of a bounded candidate set by the model) with 1 thousand to 1 million items waiting, and the
  resident memory of the process holding them.

    python bench/hotpath.py model
    python bench/hotpath.py batch
    python bench/hotpath.py text-batch
    python bench/hotpath.py multilabel-batch
    python bench/hotpath.py snapshot --rows 3000
    python bench/hotpath.py routing --sizes 1000 100000 1000000
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
from river import multiclass
from server import machine_line, rivers_own

from streamloop.online import MultiLabelModel, OnlineModel
from streamloop.online.linear import BATCH_FROM, linear_scorer
from streamloop.online.presets import build_front, build_pipeline, logistic
from streamloop.streams.queue import QueuedItem, RoutingQueue

WORDS = {
    "billing": ["invoice", "charged", "refund", "payment", "card", "price"],
    "bug": ["crash", "error", "broken", "blank", "exception", "freeze"],
    "other": ["hello", "question", "feedback", "thanks", "idea", "meeting"],
}
TEXT_LABELS = list(WORDS)


def text_rows(count: int) -> list[tuple[dict[str, Any], str]]:
    rows = []
    for n in range(count):
        label = TEXT_LABELS[n % 3]
        words = WORDS[label]
        rows.append(({"text": f"{words[n % 6]} {words[(n * 7 + 3) % 6]} {n}"}, label))
    return rows


def tabular_rows(
    count: int, features: int = 64, classes: int = 10
) -> list[tuple[dict[str, Any], str]]:
    rng = random.Random(0)
    centres = [[rng.gauss(0, 1) for _ in range(features)] for _ in range(classes)]
    rows = []
    for n in range(count):
        c = n % classes
        rows.append(({f"f{i}": centres[c][i] + rng.gauss(0, 1) for i in range(features)}, f"c{c}"))
    return rows


def rate(work: Callable[[], int]) -> float:
    """Operations per second of one call of ``work`` (which returns how many it did)."""
    gc.collect()
    started = time.perf_counter()
    done = work()
    return done / (time.perf_counter() - started)


def _raw_predict_then_learn(pipeline: Any, rows: list[tuple[dict[str, Any], str]]) -> int:
    for x, y in rows:
        pipeline.predict_proba_one(x)
        pipeline.learn_one(x, y)
    return len(rows)


def _our_learn(model: OnlineModel, rows: list[tuple[dict[str, Any], str]]) -> int:
    for n, (x, y) in enumerate(rows):
        model.learn(x, y, annotator=f"a{n % 20}", drawn_at_random=n % 5 == 0)
    return len(rows)


def model_figures(
    kind: str, rows: list[tuple[dict[str, Any], str]], labels: list[str]
) -> dict[str, Any]:
    warm, timed = rows[:200], rows[200:]

    trained = rivers_own(build_pipeline("logistic_regression", kind))
    for x, y in warm:
        trained.learn_one(x, y)
    raw_learn_rate = rate(lambda: _raw_predict_then_learn(trained, timed))
    ours_learn_rates = {}
    for rehearsal in (0, 3):
        model = OnlineModel(
            labels=labels,
            input_kind=kind,
            preset="logistic_regression",
            strategy="margin",
            rehearsal=rehearsal,
        )
        for x, y in warm:
            model.learn(x, y)
        ours_learn_rates[rehearsal] = rate(lambda: _our_learn(model, timed))  # noqa: B023
    xs = [x for x, _ in timed]

    raw_predict = rate(lambda: sum(1 for x in xs if trained.predict_proba_one(x) is not None))
    ours_predict = rate(lambda: sum(1 for x in xs if model.predict(x) is not None))
    ours_predict_many = rate(
        lambda: sum(len(model.predict_many(xs[i : i + 256])) for i in range(0, len(xs), 256))
    )
    figures: dict[str, Any] = {
        "kind": kind,
        "rows": len(timed),
        "raw_predict_then_learn_per_s": round(raw_learn_rate),
        "ours_learn_per_s_rehearsal_0": round(ours_learn_rates[0]),
        "ours_learn_per_s_rehearsal_3": round(ours_learn_rates[3]),
        "raw_predict_proba_one_per_s": round(raw_predict),
        "ours_predict_per_s": round(ours_predict),
        "ours_predict_many_256_per_s": round(ours_predict_many),
    }
    if kind == "tabular":
        import pandas as pd

        # The preset's front (type selection, one-hot for strings) has no batch path in
        # River; for all-numeric rows the same scaler and classifier do, so time those.
        from river import linear_model, multiclass, preprocessing

        numeric = preprocessing.StandardScaler() | multiclass.OneVsRestClassifier(
            linear_model.LogisticRegression()
        )
        for x, y in rows:
            numeric.learn_one(x, y)
        frames = [pd.DataFrame(xs[i : i + 256]) for i in range(0, len(xs), 256)]
        figures["raw_numeric_predict_proba_one_per_s"] = round(
            rate(lambda: sum(1 for x in xs if numeric.predict_proba_one(x) is not None))
        )
        figures["raw_numeric_predict_proba_many_256_per_s"] = round(
            rate(lambda: sum(len(numeric.predict_proba_many(f)) for f in frames))
        )
    return figures


def routing_figures(size: int, leases: int, candidates: int) -> dict[str, Any]:
    rng = random.Random(size)
    model = OnlineModel(
        labels=TEXT_LABELS, input_kind="text", preset="logistic_regression", strategy="margin"
    )
    for x, y in text_rows(300):
        model.learn(x, y)
    queue = RoutingQueue(capacity=size + 1, rng=random.Random(1))
    rss_before = _rss_mib()
    rows = text_rows(size)
    for n, (x, _y) in enumerate(rows):
        queue.push(QueuedItem(n, f"evt-{n}", x, rng.random()))
    del rows
    gc.collect()
    rss_after = _rss_mib()

    def scorer(items: Any) -> list[float]:
        return [p.uncertainty for p in model.predict_many([i.data for i in items])]

    times = []
    for n in range(min(leases, size // 2)):
        started = time.perf_counter()
        lease = queue.lease(
            holder=f"h{n}",
            annotator="a",
            now=0.0,
            duration=60.0,
            scorer=scorer,
            candidates=candidates,
        )
        times.append(time.perf_counter() - started)
        assert lease is not None
        queue.remove(lease.item.item_id)  # labelled: the queue shrinks by one, as in use
    times.sort()
    return {
        "waiting": size,
        "leases": leases,
        "candidates": candidates,
        "lease_p50_us": round(1e6 * statistics.median(times), 1),
        "lease_p99_us": round(1e6 * times[int(0.99 * (len(times) - 1))], 1),
        "queue_rss_mib": round(rss_after - rss_before, 1),
    }


def _per_call(work: Callable[[], Any], calls: int, repeats: int = 5) -> float:
    """The best of ``repeats`` timings of ``work``, in µs per call (``calls`` calls each)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, (time.perf_counter() - started) / calls)
    return round(1e6 * best, 1)


def batch_figures(
    kind: str, rows: list[tuple[dict[str, Any], str]], labels: list[str]
) -> list[dict[str, Any]]:
    """Scoring per row by batch size, and learning a label, for one input kind."""
    train, scored = rows[:2000], [x for x, _ in rows[2000:2500]]
    river = rivers_own(build_front("logistic_regression", kind)) | multiclass.OneVsRestClassifier(
        logistic(kind)
    )
    preset = build_pipeline("logistic_regression", kind)
    learned = {
        "river_one_vs_rest_learn_us": _per_call(
            lambda: [river.learn_one(x, y) for x, y in train[:500]], 500, repeats=1
        ),
        "preset_learn_us": _per_call(
            lambda: [preset.learn_one(x, y) for x, y in train[:500]], 500, repeats=1
        ),
    }
    for x, y in train[500:]:
        river.learn_one(x, y)
        preset.learn_one(x, y)
    model = OnlineModel(
        labels=labels, input_kind=kind, preset="logistic_regression", strategy="margin", rehearsal=3
    )
    for n, (x, y) in enumerate(train[:1500]):
        model.learn(x, y, drawn_at_random=n % 5 == 0)
    # The best of three passes over the same 300 labels: the machine's speed moves.
    learned["online_model_learn_with_shadows_us"] = _per_call(
        lambda: [model.learn(x, y) for x, y in train[1500:1800]], 300, repeats=3
    )
    out: list[dict[str, Any]] = [{"input": kind, **learned}]
    scorer = linear_scorer(preset)
    assert scorer is not None
    for size in (1, 2, 4, 8, 16, 32, 128, 500):
        batch = scored[:size]
        reps = max(1, 2000 // size)
        out.append(
            {
                "input": kind,
                "batch": size,
                "arrays_us_per_row": _per_call(
                    lambda b=batch, r=reps: [scorer.predict_proba(b) for _ in range(r)],
                    reps * size,
                ),
                "river_one_at_a_time_us_per_row": _per_call(
                    lambda b=batch, r=reps: [
                        [river.predict_proba_one(x) for x in b] for _ in range(r)
                    ],
                    reps * size,
                ),
            }
        )
    return out


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def text_batch_figures(
    sizes: tuple[int, ...] = (4, 8, 12, 16, 24, 32, 64),
) -> list[dict[str, Any]]:
    """Per `predict_many` call of a trained text model, in µs of CPU: each row alone against
    the batch path, for texts of a few words and for longer ones (several joined)."""
    base = text_rows(12_000)
    out = []
    for joined in (1, 4, 16):
        rows = [
            {"text": " ".join(base[(n * joined + k) % len(base)][0]["text"] for k in range(joined))}
            for n in range(3000)
        ]
        model = OnlineModel(
            labels=TEXT_LABELS,
            input_kind="text",
            preset="logistic_regression",
            strategy="margin",
            rehearsal=3,
        )
        for n, row in enumerate(rows[:1000]):
            model.learn(row, base[n * joined % len(base)][1])
        words = statistics.mean(len(row["text"].split()) for row in rows[:200])

        saved = BATCH_FROM["text"]
        try:
            for size in sizes:
                alone, batch = _costs(model, "text", rows, size)
                out.append(
                    {
                        "words_per_text": round(words),
                        "rows": size,
                        "one_at_a_time_us": alone,
                        "batch_us": batch,
                    }
                )
        finally:
            BATCH_FROM["text"] = saved
    return out


def multilabel_batch_figures(
    sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64),
) -> list[dict[str, Any]]:
    """Per `MultiLabelModel.predict_many` call, in µs of CPU, each row alone against the
    batch path (`binary_scorer`): a logistic regression per label on a text and on a tabular
    front (64 numbers), three labels, each item's set the labels of its number's low bits."""
    out = []
    kinds = [
        ("text", [({"text": row[0]["text"]}, n) for n, row in enumerate(text_rows(3000))]),
        ("tabular", [(row[0], n) for n, row in enumerate(tabular_rows(3000))]),
    ]
    for kind, rows in kinds:
        model = MultiLabelModel(
            labels=TEXT_LABELS, input_kind=kind, preset="logistic_regression", rehearsal=3
        )
        for data, n in rows[:1000]:
            model.learn(data, [label for bit, label in enumerate(TEXT_LABELS) if n >> bit & 1])
        saved = BATCH_FROM[kind]
        try:
            for size in sizes:
                alone, batch = _costs(model, kind, [data for data, _ in rows], size)
                out.append(
                    {"input": kind, "rows": size, "one_at_a_time_us": alone, "batch_us": batch}
                )
        finally:
            BATCH_FROM[kind] = saved
    return out


def _costs(
    model: OnlineModel | MultiLabelModel, kind: str, rows: list[dict[str, Any]], size: int
) -> tuple[int, int]:
    """µs of CPU per `predict_many` of ``size`` rows: one row at a time, and as one batch."""
    # The two ways taken in turn, on the same rows, so that both see the same machine.
    best = {10**9: math.inf, 1: math.inf}
    for draw in range(5):
        chosen = rows[1000 + draw * size : 1000 + (draw + 1) * size]
        calls = max(1, 400 // size)
        for batch_from in best:
            BATCH_FROM[kind] = batch_from
            started = time.process_time()
            for _ in range(calls):
                model.predict_many(chosen)
            best[batch_from] = min(best[batch_from], (time.process_time() - started) / calls)
    return round(1e6 * best[10**9]), round(1e6 * best[1])


def snapshot_figures(
    kind: str, rows: list[tuple[dict[str, Any], str]], labels: list[str]
) -> dict[str, Any]:
    """CPU time of a snapshot and of its restore, and its size, once ``rows`` are learned."""
    model = OnlineModel(
        labels=labels,
        input_kind=kind,
        preset="logistic_regression",
        strategy="margin",
        rehearsal=3,  # a project's default
    )
    for n, (data, label) in enumerate(rows):
        model.learn(data, label, annotator=f"a{n % 20}", drawn_at_random=n % 10 == 0)
    taken, restored = [], []
    for _ in range(5):
        started = time.process_time()
        blob = model.snapshot()
        taken.append(time.process_time() - started)
        started = time.process_time()
        OnlineModel.restore(blob)
        restored.append(time.process_time() - started)
    return {
        "input": kind,
        "labels_learned": len(rows),
        "snapshot_ms": round(1e3 * min(taken), 2),
        "restore_ms": round(1e3 * min(restored), 2),
        "snapshot_bytes": len(blob),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", choices=["model", "batch", "text-batch", "multilabel-batch", "snapshot", "routing"]
    )
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--leases", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=32)
    args = parser.parse_args()
    print(machine_line())
    if args.what == "batch":
        kinds = [
            ("text", text_rows(2500), TEXT_LABELS),
            ("tabular", tabular_rows(2500), [f"c{c}" for c in range(10)]),
        ]
        for kind, rows, labels in kinds:
            for line in batch_figures(kind, rows, labels):
                print(orjson.dumps(line).decode(), flush=True)
    elif args.what == "snapshot":
        for kind, rows, labels in [
            ("tabular", tabular_rows(args.rows), [f"c{c}" for c in range(10)]),
            ("text", text_rows(args.rows), TEXT_LABELS),
        ]:
            print(orjson.dumps(snapshot_figures(kind, rows, labels)).decode(), flush=True)
    elif args.what == "text-batch":
        for line in text_batch_figures():
            print(orjson.dumps(line).decode(), flush=True)
    elif args.what == "multilabel-batch":
        for line in multilabel_batch_figures():
            print(orjson.dumps(line).decode(), flush=True)
    elif args.what == "model":
        print(orjson.dumps(model_figures("text", text_rows(args.rows + 200), TEXT_LABELS)).decode())
        tabular = tabular_rows(args.rows + 200)
        print(
            orjson.dumps(model_figures("tabular", tabular, [f"c{c}" for c in range(10)])).decode()
        )
    else:
        for size in args.sizes:
            print(
                orjson.dumps(routing_figures(size, args.leases, args.candidates)).decode(),
                flush=True,
            )


if __name__ == "__main__":
    main()
