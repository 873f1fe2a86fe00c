"""Challengers (issue 23): what they cost on the label path, a challenger overtaking the model
serving and promoted, and rules that would promote one automatically.

    python bench/challengers.py cost --labels 400
    python bench/challengers.py service --annotators 20 --labels 2000
    python bench/challengers.py service --annotators 50 --labels 1500 --pace 1
    python bench/challengers.py overtake --seeds 5
    python bench/challengers.py rules

``cost``: in process, no I/O, `OnlineModel.learn` then a full `settle` per label, with no
challenger, each preset alone and the three; and the ack path alone (``learn(defer=True)``).
``service``: bench/labels.py's run (a real ``streamloop serve``, annotators over WebSockets)
with the project created with ``challengers``. ``overtake``: a logistic regression serving and
three challengers learning streams of generated or shipped data sets, each model's rolling
accuracy, its estimate and its accuracy on held-out rows recorded every `CHECK` labels; the
first seed's run promotes by the rule given (``--rule``) as it goes, and is plotted.
``rules``: candidate auto-promotion rules replayed on those records.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import labels as service_bench
import orjson
from server import Server, machine_line

from streamloop.online import OnlineModel

RESULTS = Path(__file__).parent / "results"
SERVING = "logistic_regression"
THREE = ["naive_bayes", "hoeffding_tree", "adaptive_random_forest"]
SETS: dict[str, list[str]] = {
    "none": [],
    "naive_bayes": ["naive_bayes"],
    "hoeffding_tree": ["hoeffding_tree"],
    "adaptive_random_forest": ["adaptive_random_forest"],
    "naive_bayes+hoeffding_tree": ["naive_bayes", "hoeffding_tree"],
    "three": THREE,
}
#: The service's default for a logistic regression (`routing.DEFAULT_REHEARSAL`); challengers
#: take the project's.
REHEARSAL = 3
#: Labels between two looks at every model's figures in `overtake`.
CHECK = 25
#: The share of labels that are random draws (the service's default exploration).
EXPLORATION = 0.2
Z_95 = 1.959963984540054


# -- cost in process -----------------------------------------------------------------------


def cost(labels: int, repeats: int) -> list[dict[str, Any]]:
    results = []
    for task in ("text", "tabular"):
        kind, names = ("tabular", service_bench.CLASSES) if task == "tabular" else ("text", None)
        rows = [(service_bench.data(n, task), service_bench.answer(n, task)) for n in range(labels)]
        for set_name, challengers in SETS.items():
            best: dict[str, float] = {}
            for _ in range(repeats):
                figures = _time_learning(
                    rows, kind, list(names or service_bench.LABELS), challengers
                )
                best = {k: min(v, best.get(k, math.inf)) for k, v in figures.items()}
            result = {"task": task, "challengers": set_name, "labels": labels} | {
                k: round(v, 1) for k, v in best.items()
            }
            print(orjson.dumps(result).decode(), flush=True)
            results.append(result)
    return results


def _time_learning(
    rows: Sequence[tuple[dict[str, Any], str]],
    kind: str,
    labels: list[str],
    challengers: list[str],
) -> dict[str, float]:
    """µs per label: learn + settle at once; and learn(defer=True) then settle() apart."""

    def build() -> OnlineModel:
        return OnlineModel(
            labels=labels,
            input_kind=kind,
            preset=SERVING,
            strategy="margin",
            rehearsal=REHEARSAL,
            challengers=challengers,
        )

    drawn = [random.Random(n).random() < EXPLORATION for n in range(len(rows))]
    model = build()
    started = time.perf_counter()
    for (x, y), d in zip(rows, drawn, strict=True):
        model.learn(x, y, drawn_at_random=d)
    whole = time.perf_counter() - started
    model = build()
    acked = settled = 0.0
    for (x, y), d in zip(rows, drawn, strict=True):
        t0 = time.perf_counter()
        model.learn(x, y, drawn_at_random=d, defer=True)
        t1 = time.perf_counter()
        model.settle()
        acked += t1 - t0
        settled += time.perf_counter() - t1
    n = len(rows)
    return {
        "learn_and_settle_us": 1e6 * whole / n,
        "ack_path_us": 1e6 * acked / n,
        "settle_us": 1e6 * settled / n,
    }


# -- through the service -------------------------------------------------------------------


async def service_run(
    annotators: int, labels: int, pace: float | None, task: str, challengers: list[str]
) -> dict[str, Any]:
    """bench/labels.py's `run`, the project created with ``challengers``; also how far the
    challengers lag when the last ack arrives, and how long they take to catch up."""
    with tempfile.TemporaryDirectory() as data_dir:
        server = Server(data_dir)
        port = server.port
        try:
            async with httpx.AsyncClient(base_url=server.base, timeout=120) as http:
                project: dict[str, Any] = {
                    "name": "bench",
                    "labels": service_bench.LABELS,
                    "task": "classify",
                    "challengers": challengers,
                }
                if task == "tabular":
                    project |= {"labels": service_bench.CLASSES, "input": "tabular"}
                (await http.post("/api/projects", json=project)).raise_for_status()
                total = labels + annotators * 2
                for start in range(0, total, 250):
                    events = [
                        {"id": f"evt-{n}", "data": service_bench.data(n, task)}
                        for n in range(start, min(total, start + 250))
                    ]
                    (
                        await http.post("/api/projects/bench/events", json={"events": events})
                    ).raise_for_status()
                latencies: list[float] = []
                quota = labels // annotators
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        service_bench.annotator(
                            f"ws://127.0.0.1:{port}/ws/projects/bench/annotate?annotator=a{i}",
                            quota,
                            latencies,
                            pace,
                            task,
                        )
                        for i in range(annotators)
                    )
                )
                elapsed = time.perf_counter() - started
                # The metrics report reads each challenger's version: how far it lags.
                metrics = (await http.get("/api/projects/bench/metrics")).json()
                lag = _lag(metrics)
                caught_up = None
                waited = time.perf_counter()
                while challengers and max(lag.values(), default=0) > 0:
                    await asyncio.sleep(0.2)
                    lag_now = _lag((await http.get("/api/projects/bench/metrics")).json())
                    if max(lag_now.values(), default=0) == 0:
                        caught_up = round(time.perf_counter() - waited, 2)
                        break
                    if time.perf_counter() - waited > 120:
                        break
                server_side = service_bench.ack_buckets((await http.get("/metrics")).text)
        finally:
            server.stop()
    latencies.sort()
    return {
        "task": task,
        "challengers": challengers,
        "annotators": annotators,
        "pace": pace,
        "labels": len(latencies),
        "labels_per_second": round(len(latencies) / elapsed, 1),
        "ack_p50_ms": round(1000 * statistics.median(latencies), 2),
        "ack_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
        "challenger_lag_at_end": lag,
        "caught_up_after_s": caught_up,
        "server_ack_within_ms": server_side,
    }


def _lag(metrics: dict[str, Any]) -> dict[str, int]:
    models = metrics.get("models") or {}
    serving = next((m for m in models.values() if m.get("serving")), None)
    if serving is None:
        return {}
    return {
        name: int(serving["model_version"]) - int(m["model_version"])
        for name, m in models.items()
        if not m.get("serving")
    }


# -- overtaking ----------------------------------------------------------------------------

Stream = tuple[list[dict[str, Any]], list[str], list[dict[str, Any]], list[str], str]


def _shuffled_split(
    rows: list[dict[str, Any]], ys: list[str], seed: int, stream: int, test: int, kind: str
) -> Stream:
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    s, t = order[:stream], order[stream : stream + test]
    return (
        [rows[i] for i in s],
        [ys[i] for i in s],
        [rows[i] for i in t],
        [ys[i] for i in t],
        kind,
    )


def _sklearn_rows(x: Any, y: Any, prefix: str = "x") -> tuple[list[dict[str, Any]], list[str]]:
    rows = [{f"{prefix}{j}": float(v) for j, v in enumerate(r)} for r in x]
    return rows, [f"c{int(c)}" for c in y]


def bananas(seed: int) -> Stream:
    from datasets import DATASETS

    rows, ys = DATASETS["bananas"]()
    return _shuffled_split(rows, ys, seed, 1000, 300, "tabular")


def phishing(seed: int) -> Stream:
    from datasets import DATASETS

    rows, ys = DATASETS["phishing"]()
    return _shuffled_split(rows, ys, seed, 1000, 250, "tabular")


def moons(seed: int) -> Stream:
    from sklearn.datasets import make_moons

    x, y = make_moons(2000, noise=0.25, random_state=seed)
    rows, ys = _sklearn_rows(x, y)
    return _shuffled_split(rows, ys, seed, 1000, 300, "tabular")


def linear(seed: int) -> Stream:
    """Four classes a linear model separates best: the control where nothing should win."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        2000,
        n_features=10,
        n_informative=6,
        n_redundant=2,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=1.0,
        random_state=seed,
    )
    rows, ys = _sklearn_rows(x, y)
    return _shuffled_split(rows, ys, seed, 1000, 300, "tabular")


def tickets(seed: int) -> Stream:
    """Support texts of four classes, each two words of its class's 30 (6 shared with another
    class) among two words from a common 200: close models, where a rule might flap."""
    rng = random.Random(seed)
    classes = ["billing", "bug", "account", "other"]
    vocab = {c: [f"{c[:3]}{w}" for w in range(24)] for c in classes}
    for i, c in enumerate(classes):  # each class borrows 6 words of the next
        vocab[c] += vocab[classes[(i + 1) % 4]][:6]
    common = [f"w{w}" for w in range(200)]
    rows, ys = [], []
    for _ in range(2000):
        c = rng.choice(classes)
        words = rng.sample(vocab[c], 2) + rng.sample(common, 2)
        rng.shuffle(words)
        rows.append({"text": " ".join(words)})
        ys.append(c)
    return _shuffled_split(rows, ys, seed, 1000, 300, "text")


STREAMS: dict[str, Callable[[int], Stream]] = {
    "bananas": bananas,
    "moons": moons,
    "phishing": phishing,
    "linear": linear,
    "tickets": tickets,
}


def paired(serving: OnlineModel, challenger: OnlineModel) -> dict[str, float] | None:
    """The challenger's accuracy minus the serving model's on the random draws their shadows
    never learned (the same draws, the same folds), with its 95% interval: a paired
    comparison, where the two estimates' own intervals each carry the draws' noise."""
    diffs = []
    for k, held in enumerate(serving._held):
        xs = [x for _n, x, _y in held]
        theirs = challenger._shadow_predict_many(k, xs)
        ours = serving._shadow_predict_many(k, xs)
        for (_n, _x, y), c, s in zip(held, theirs, ours, strict=True):
            diffs.append(float(c.label == y) - float(s.label == y))
    if len(diffs) < 10:
        return None
    mean = statistics.fmean(diffs)
    half = Z_95 * statistics.pstdev(diffs) / math.sqrt(len(diffs))
    return {"diff": mean, "low": mean - half, "high": mean + half, "n": len(diffs)}


def overtake_run(stream_name: str, seed: int, rule: str | None) -> dict[str, Any]:
    """Every model's figures every `CHECK` labels, by name; with ``rule``, promotes as it goes
    (the figures of a model do not depend on which one serves: each learns the same labels in
    the same order, and here the stream, not the model serving, picks the items)."""
    xs, ys, test_x, test_y, kind = STREAMS[stream_name](seed)
    labels = sorted(set(ys) | set(test_y))
    model = OnlineModel(
        labels=labels,
        input_kind=kind,
        preset=SERVING,
        strategy="margin",
        rehearsal=REHEARSAL,
        seed=seed,
        challengers=THREE,
    )
    rng = random.Random(seed)
    names = [SERVING, *THREE]
    trace: dict[str, Any] = {
        "stream": stream_name,
        "seed": seed,
        "kind": kind,
        "labels": [],
        "serving": [],
        "promotions": [],
        "models": {
            name: {"rolling": [], "estimate": [], "low": [], "high": [], "test": []}
            for name in names
        },
        "paired": {},  # "a>b": [(diff, low, high)]: a's accuracy minus b's
    }
    state = RuleState(rule) if rule else None
    for n, (x, y) in enumerate(zip(xs, ys, strict=True), start=1):
        model.learn(x, y, drawn_at_random=rng.random() < EXPLORATION, defer=True)
        model.settle()
        if n % CHECK:
            continue
        everyone = {model.preset: model, **model.challengers}
        trace["labels"].append(n)
        trace["serving"].append(model.preset)
        for name, m in everyone.items():
            figures = trace["models"][name]
            figures["rolling"].append(m.metrics.accuracies()[1])
            estimate = m.accuracy_estimate()  # type: ignore[attr-defined]
            figures["estimate"].append(estimate.get("estimate"))
            figures["low"].append(estimate.get("low"))
            figures["high"].append(estimate.get("high"))
            hits = sum(m.predict(tx).label == ty for tx, ty in zip(test_x, test_y, strict=True))  # type: ignore[attr-defined]
            figures["test"].append(hits / len(test_y))
        for a in names:
            for b in names:
                if a != b and (a == SERVING or b == SERVING or a < b):
                    p = paired(everyone[b], everyone[a])  # type: ignore[arg-type]
                    trace["paired"].setdefault(f"{a}>{b}", []).append(
                        None if p is None else [p["diff"], p["low"], p["high"]]
                    )
        if state is not None:
            chosen = state.look(trace, len(trace["labels"]) - 1)
            if chosen is not None:
                order = [name for name in names if name != chosen]
                model = model.promoted(chosen, order)
                trace["promotions"].append([n, chosen])
    return trace


# -- promotion rules -----------------------------------------------------------------------

#: Candidate rules: the condition a challenger must meet against the model serving at a look,
#: and how many looks in a row (`CHECK` labels apart). All hold a promoted model for `HOLD`.
RULES: dict[str, tuple[str, int]] = {
    "low>est k1": ("low>est", 1),
    "low>est k3": ("low>est", 3),
    "low>high k1": ("low>high", 1),
    "low>high k3": ("low>high", 3),
    "paired k1": ("paired", 1),
    "paired k3": ("paired", 3),
    "paired+0.02 k3": ("paired+0.02", 3),
}
#: Labels after a promotion during which no other is made (the "never back within N").
HOLD = 500


def _compare(trace: dict[str, Any], i: int, challenger: str, serving: str, test: str) -> bool:
    c, s = trace["models"][challenger], trace["models"][serving]
    if test in ("low>est", "low>high"):
        if c["low"][i] is None or s["estimate"][i] is None:
            return False
        bar = s["estimate"][i] if test == "low>est" else s["high"][i]
        return bool(c["low"][i] > bar)
    key = f"{challenger}>{serving}"
    if key in trace["paired"]:
        p = trace["paired"][key][i]
        low = None if p is None else p[1]
    else:  # stored the other way round: a's minus b's, so b's minus a's is its negation
        p = trace["paired"][f"{serving}>{challenger}"][i]
        low = None if p is None else -p[2]
    margin = 0.02 if test == "paired+0.02" else 0.0
    return low is not None and low > margin


class RuleState:
    """A rule applied look after look, the way a server would: it promotes the challenger
    that meets the condition ``k`` looks in a row (the best estimate first among several),
    then none for `HOLD` labels."""

    def __init__(self, rule: str, hold: int = HOLD) -> None:
        self.test, self.k = RULES[rule]
        self.hold = hold
        self.serving = SERVING
        self.streak: dict[str, int] = {}
        self.last = -math.inf

    def look(self, trace: dict[str, Any], i: int) -> str | None:
        n = trace["labels"][i]
        met = [
            name
            for name in trace["models"]
            if name != self.serving and _compare(trace, i, name, self.serving, self.test)
        ]
        self.streak = {name: self.streak.get(name, 0) + 1 for name in met}
        if n - self.last < self.hold:
            return None
        ready = [name for name in met if self.streak[name] >= self.k]
        if not ready:
            return None
        chosen = max(ready, key=lambda name: trace["models"][name]["estimate"][i] or 0.0)
        self.serving, self.last, self.streak = chosen, n, {}
        return chosen


def true_overtaking(trace: dict[str, Any]) -> tuple[str | None, int | None]:
    """The model best on held-out rows over the last quarter of the stream, if it beats the
    logistic regression there by more than 0.01, and the first look from which its held-out
    accuracy (mean of 3 looks) stays above the logistic regression's."""
    models = trace["models"]
    tail = max(1, len(trace["labels"]) // 4)
    final = {name: statistics.fmean(m["test"][-tail:]) for name, m in models.items()}
    best = max(final, key=final.__getitem__)
    if best == SERVING or final[best] - final[SERVING] <= 0.01:
        return None, None
    ahead = [
        statistics.fmean(models[best]["test"][max(0, i - 2) : i + 1])
        > statistics.fmean(models[SERVING]["test"][max(0, i - 2) : i + 1])
        for i in range(len(trace["labels"]))
    ]
    first = len(ahead)
    while first and ahead[first - 1]:
        first -= 1
    return best, trace["labels"][first] if first < len(ahead) else None


def evaluate(trace: dict[str, Any], rule: str, hold: int = HOLD) -> dict[str, Any]:
    """Replay ``rule`` on one run's records: its promotions, whether each was to a better
    model (held-out accuracy over the next 10 looks, more than 0.01 worse counts as worse),
    flaps (a promotion back to a model served before), and the delay after the true
    overtaking point."""
    state = RuleState(rule, hold)
    promotions = []
    for i in range(len(trace["labels"])):
        before = state.serving
        chosen = state.look(trace, i)
        if chosen is not None:
            later = slice(i, i + 10)
            gain = statistics.fmean(trace["models"][chosen]["test"][later]) - statistics.fmean(
                trace["models"][before]["test"][later]
            )
            promotions.append(
                {"at": trace["labels"][i], "from": before, "to": chosen, "gain": round(gain, 4)}
            )
    served = [SERVING] + [p["to"] for p in promotions]
    flaps = sum(served[j] in served[:j] for j in range(1, len(served)))
    best, at = true_overtaking(trace)
    first = promotions[0] if promotions else None
    return {
        "promotions": promotions,
        "flaps": flaps,
        "worse": sum(p["gain"] < -0.01 for p in promotions),
        "true_best": best,
        "true_at": at,
        "delay": (first["at"] - at) if first and at is not None and first["to"] == best else None,
        "final_serving": served[-1],
    }


def rules_table(traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for rule in RULES:
        for hold in (0, HOLD):
            outcomes = [evaluate(t, rule, hold) for t in traces]
            should = [o for o in outcomes if o["true_best"] is not None]
            should_not = [o for o in outcomes if o["true_best"] is None]
            delays = [o["delay"] for o in should if o["delay"] is not None]
            rows.append(
                {
                    "rule": rule,
                    "hold": hold,
                    "runs_to_promote": len(should),
                    "promoted_the_best": sum(o["final_serving"] == o["true_best"] for o in should),
                    "delay_median": statistics.median(delays) if delays else None,
                    "delay_range": [min(delays), max(delays)] if delays else None,
                    "runs_not_to_promote": len(should_not),
                    "promoted_anyway": sum(bool(o["promotions"]) for o in should_not),
                    "promotions": sum(len(o["promotions"]) for o in outcomes),
                    "worse_promotions": sum(o["worse"] for o in outcomes),
                    "flaps": sum(o["flaps"] for o in outcomes),
                    "early": sum(
                        o["delay"] is None
                        and o["true_at"] is not None
                        and bool(o["promotions"])
                        and o["promotions"][0]["at"] < o["true_at"]
                        for o in outcomes
                    ),
                }
            )
    return rows


# -- plots ---------------------------------------------------------------------------------

COLOURS = {
    SERVING: "tab:blue",
    "naive_bayes": "tab:green",
    "hoeffding_tree": "tab:orange",
    "adaptive_random_forest": "tab:red",
}


def plot(trace: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = trace["labels"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7.5), sharex=True)
    best, at = true_overtaking(trace)
    for name, m in trace["models"].items():
        colour = COLOURS[name]
        top.plot(n, m["rolling"], color=colour, label=f"{name}: rolling accuracy (200)")
        top.plot(n, m["test"], color=colour, linestyle=":", linewidth=1)
        est = [math.nan if v is None else v for v in m["estimate"]]
        low = [math.nan if v is None else v for v in m["low"]]
        high = [math.nan if v is None else v for v in m["high"]]
        bottom.plot(n, est, color=colour, label=f"{name}: estimate")
        bottom.fill_between(n, low, high, color=colour, alpha=0.12)
    # The model serving, held-out accuracy: it switches at each promotion.
    served = [trace["models"][s]["test"][i] for i, s in enumerate(trace["serving"])]
    top.plot(n, served, color="black", linewidth=2.5, alpha=0.45, label="serving (held-out)")
    for axis in (top, bottom):
        if at is not None:
            axis.axvline(at, color="grey", linestyle="--", linewidth=1)
        for label_n, name in trace["promotions"]:
            axis.axvline(label_n, color=COLOURS[name], linewidth=2)
    title = f"{trace['stream']}, seed {trace['seed']}: logistic regression serving"
    if at is not None:
        title += f"; {best} overtakes at {at} (grey)"
    if trace["promotions"]:
        title += "; promoted at " + ", ".join(f"{p[0]}" for p in trace["promotions"])
    top.set_title(title, fontsize=9)
    top.set_ylabel("accuracy (dotted: held-out rows)")
    bottom.set_ylabel("estimate, 95% interval")
    bottom.set_xlabel("labels")
    top.legend(fontsize=7, loc="lower right")
    bottom.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- entry point ---------------------------------------------------------------------------


def _overtake_job(job: tuple[str, int, str | None]) -> dict[str, Any]:
    started = time.perf_counter()
    trace = overtake_run(*job)
    trace["seconds"] = round(time.perf_counter() - started, 1)
    print(
        f"{job[0]} seed {job[1]}: {trace['seconds']} s, promotions {trace['promotions']}",
        flush=True,
    )
    return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--labels", type=int, default=400)
    c.add_argument("--repeats", type=int, default=2)
    s = sub.add_parser("service")
    s.add_argument("--annotators", type=int, default=20)
    s.add_argument("--labels", type=int, default=2000)
    s.add_argument("--pace", type=float, default=None)
    s.add_argument("--task", choices=["classify", "tabular"], default="classify")
    s.add_argument("--sets", nargs="+", default=["none", "naive_bayes", "three"])
    o = sub.add_parser("overtake")
    o.add_argument("--streams", nargs="+", default=["bananas", "moons", "phishing", "linear"])
    o.add_argument("--seeds", type=int, default=3)
    o.add_argument("--rule", default="paired k3", choices=list(RULES))
    o.add_argument("--jobs", type=int, default=2)
    o.add_argument("--name", default="challengers-overtake")
    r = sub.add_parser("rules")
    r.add_argument("--name", default="challengers-overtake")
    args = parser.parse_args()
    print(machine_line())
    if args.command == "cost":
        cost(args.labels, args.repeats)
    elif args.command == "service":
        for set_name in args.sets:
            result = asyncio.run(
                service_run(args.annotators, args.labels, args.pace, args.task, SETS[set_name])
            )
            print(orjson.dumps(result).decode(), flush=True)
    elif args.command == "overtake":
        jobs = [
            (name, seed, args.rule if seed == 0 else None)
            for name in args.streams
            for seed in range(args.seeds)
        ]
        with ProcessPoolExecutor(args.jobs) as pool:
            traces = list(pool.map(_overtake_job, jobs))
        (RESULTS / f"{args.name}.json").write_bytes(orjson.dumps(traces))
        for trace in traces:
            if trace["seed"] == 0:
                plot(trace, RESULTS / f"challengers-{trace['stream']}.png")
    elif args.command == "rules":
        traces = orjson.loads((RESULTS / f"{args.name}.json").read_bytes())
        for trace in traces:
            best, at = true_overtaking(trace)
            last = {k: round(m["test"][-1], 3) for k, m in trace["models"].items()}
            print(
                orjson.dumps(
                    {
                        "stream": trace["stream"],
                        "seed": trace["seed"],
                        "true_best": best,
                        "true_at": at,
                        "final_test": last,
                        "promoted_live": trace["promotions"],
                    }
                ).decode()
            )
        for row in rules_table(traces):
            print(orjson.dumps(row).decode())


if __name__ == "__main__":
    main()
