"""Span label efficiency: which sequence uncertainty saves annotators the most work?

An oracle annotator (the generated corpus's true spans) labels a pool of texts one at a time,
in the order the routing chooses; every 25 labels the model is scored on held-out texts it
never learned (span F1, exact match of start, end and label). Each strategy
(`span_strategies`) is compared with random sampling on the same pools, seeds and model.
Routing is the service's: `RoutingQueue` re-scores 32 candidates per lease (the 16 best by
their last score, 16 at random), `RoutingPolicy` draws the first 20 labels at random (warm-up)
and 20% after that from a random sample set aside at arrival (exploration); ``plain`` variants
have neither. Data: `span_corpus`'s three domains (news, commerce, clinical).

Two more parts: ``--design`` compares the tagger's own choices (learning rate, transition
scores, the previous tag as a feature) on texts labelled in random order; the speed part times
learning a 40-token text and re-scoring a lease's 32 candidates against raw River doing the
same per-token work.

    python bench/spans.py --seeds 5 --jobs 2
    python bench/spans.py --design --seeds 3 --jobs 2

Writes ``bench/results/spans[-design].json`` and prints the tables BENCHMARKS.md quotes.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from label_efficiency import labels_to_reach
from server import machine_line

from streamloop.online.routing import RoutingPolicy, default_rehearsal
from streamloop.online.span_corpus import DOMAINS, corpus
from streamloop.online.span_metrics import SpanMetrics
from streamloop.online.span_strategies import SPAN_STRATEGIES
from streamloop.online.spans import SpanModel
from streamloop.online.token_features import token_features
from streamloop.online.tokens import Span, bio_tags, tokenize
from streamloop.streams.queue import QueuedItem, RoutingQueue

RESULTS = Path(__file__).resolve().parent / "results"
STEP = 25
REFERENCE = 200  # random's F1 at this many labels is the target
STRATEGIES = tuple(s for s in SPAN_STRATEGIES if s != "random")
PRESET = "logistic_regression"  # the per-token classifiers', for the default rehearsal

Items = list[tuple[dict[str, Any], list[Span]]]


@dataclass(frozen=True)
class Variant:
    name: str
    strategy: str  # a strategy, or "random"
    exploration: float = 0.0
    warmup: int = 0
    candidates: int = 32


VARIANTS = {
    v.name: v
    for v in [
        Variant("random", "random"),
        *(Variant(s, s, exploration=0.2, warmup=20) for s in STRATEGIES),
        *(Variant(f"{s} plain", s) for s in STRATEGIES),
    ]
}


def split(domain: str, seed: int, pool: int, holdout: int) -> tuple[Items, Items]:
    """(pool, held-out texts) of a domain; the seed draws both."""
    items = corpus(domain, pool + holdout, seed)
    return items[holdout:], items[:holdout]


def held_out_f1(model: SpanModel, holdout: Items) -> float:
    metrics = SpanMetrics(model.labels)
    predictions = model.predict_many([data for data, _ in holdout])
    for (_, spans), prediction in zip(holdout, predictions, strict=True):
        metrics.update(spans, prediction.spans)
    return metrics.report()["f1"] or 0.0


def run(domain: str, seed: int, name: str, pool: int, holdout: int, budget: int) -> dict[str, Any]:
    """One learning curve, driving the service's queue and routing policy."""
    variant = VARIANTS[name]
    items, held = split(domain, seed, pool, holdout)
    started = time.perf_counter()
    model = SpanModel(
        labels=DOMAINS[domain],
        strategy=variant.strategy,
        seed=seed,
        rehearsal=default_rehearsal(PRESET),
    )
    policy = RoutingPolicy(variant.strategy, variant.exploration, variant.warmup)
    queue = RoutingQueue(len(items) + 1, random.Random(seed))
    # As the service's ingest does: an exploration share of arrivals is a random sample.
    sample_rng = random.Random(seed + 3)
    for i, (data, _) in enumerate(items):
        sampled = variant.strategy != "random" and sample_rng.random() < variant.exploration
        queue.push(QueuedItem(i, str(i), data, 1.0, drawn_at_random=sampled))
    rng = random.Random(seed + 1)

    def scorer(queued: Sequence[QueuedItem]) -> list[float]:
        return [p.uncertainty for p in model.predict_many([q.data for q in queued])]

    curve: list[float] = []
    tokens = 0
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
        data, spans = items[lease.item.item_id]
        model.learn(data, spans, drawn_at_random=lease.drawn_at_random)
        tokens += len(tokenize(data["text"]))
        labelled += 1
        if labelled % STEP == 0:
            curve.append(held_out_f1(model, held))
    return {
        "domain": domain,
        "seed": seed,
        "variant": name,
        "f1": curve,
        "tokens_labelled": tokens,
        "seconds": time.perf_counter() - started,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for domain in dict.fromkeys(r["domain"] for r in runs):
        by_variant: dict[str, list[dict[str, Any]]] = {}
        for r in runs:
            if r["domain"] == domain:
                by_variant.setdefault(r["variant"], []).append(r)
        mean = {
            name: [statistics.fmean(c) for c in zip(*[r["f1"] for r in rs], strict=True)]
            for name, rs in by_variant.items()
        }
        target = mean["random"][REFERENCE // STEP - 1]
        summary[domain] = {
            "random_f1_at_reference": target,
            "variants": {
                name: {
                    "mean_f1": curve,
                    "labels_to_random_reference": labels_to_reach(curve, target),
                    "mean_tokens_labelled": statistics.fmean(
                        r["tokens_labelled"] for r in by_variant[name]
                    ),
                }
                for name, curve in mean.items()
            },
        }
    return summary


def _at(curve: list[float], labels: int) -> str:
    index = labels // STEP - 1
    return f"{curve[index]:.3f}" if index < len(curve) else "-"


def report(summary: dict[str, Any], budget: int) -> tuple[str, str]:
    """The tables, and the routed strategy that saves the most labels across the domains."""
    lines = []
    for domain, result in summary.items():
        lines += [
            f"\n{domain}: random's F1 at {REFERENCE} labels = "
            f"{result['random_f1_at_reference']:.3f}\n",
            "| policy | F1 @100 | @200 | @300 | labels to match random@200 | tokens per text |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in result["variants"].items():
            reach = row["labels_to_random_reference"]
            cells = "never" if reach is None else (f"{reach:.0f}" if reach > STEP else f"≤{STEP}")
            curve = row["mean_f1"]
            per_text = row["mean_tokens_labelled"] / budget
            lines.append(
                f"| {name} | {_at(curve, 100)} | {_at(curve, 200)} | {_at(curve, 300)} | "
                f"{cells} | {per_text:.1f} |"
            )
    # Labels saved against random's 200, summed over the domains; "never" saves nothing and
    # costs the rest of the budget.
    domains = list(summary)
    lines += [
        "\n| policy | " + " | ".join(domains) + " | labels saved, total |",
        "|---|" + "---:|" * (len(domains) + 1),
    ]
    saved: dict[str, float] = {}
    for name in next(iter(summary.values()))["variants"]:
        cells, total = [], 0.0
        for domain in domains:
            reach = summary[domain]["variants"][name]["labels_to_random_reference"]
            total += REFERENCE - (budget if reach is None else reach)
            cells.append("never" if reach is None else f"{reach:.0f}")
        saved[name] = total
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {total:.0f} |")
    best = max((s for s in STRATEGIES if s in saved), key=lambda s: saved[s], default="-")
    return "\n".join(lines), best


# The tagger's design, on texts labelled in random order.


@dataclass(frozen=True)
class Design:
    name: str
    learning_rate: float = SpanModel._LEARNING_RATE
    transition_weight: float = SpanModel._TRANSITION_WEIGHT
    relative: bool = SpanModel._RELATIVE_TRANSITIONS
    previous_tag: bool = SpanModel._PREVIOUS_TAG


DESIGNS = {
    d.name: d
    for d in [
        Design("default"),
        Design("learning rate 0.1", learning_rate=0.1),
        Design("learning rate 1.0", learning_rate=1.0),
        Design("no transition scores (BIO constraints only)", transition_weight=0.0),
        Design("P(tag given previous), full weight", transition_weight=1.0, relative=False),
        Design("P(tag given previous) / P(tag), full weight", transition_weight=1.0),
        Design("previous tag as a feature (MEMM)", previous_tag=True),
    ]
}
DESIGN_CHECKPOINTS = (50, 100, 200, 300)


def design_run(domain: str, seed: int, name: str, pool: int, holdout: int) -> dict[str, Any]:
    design = DESIGNS[name]
    tagger = type(
        "Tagger",
        (SpanModel,),
        {
            "_LEARNING_RATE": design.learning_rate,
            "_TRANSITION_WEIGHT": design.transition_weight,
            "_RELATIVE_TRANSITIONS": design.relative,
            "_PREVIOUS_TAG": design.previous_tag,
        },
    )
    model = tagger(labels=DOMAINS[domain], seed=seed, rehearsal=default_rehearsal(PRESET))
    items, held = split(domain, seed, pool, holdout)
    started = time.perf_counter()
    curve = []
    for n, (data, spans) in enumerate(items[: max(DESIGN_CHECKPOINTS)], 1):
        model.learn(data, spans)
        if n in DESIGN_CHECKPOINTS:
            curve.append(held_out_f1(model, held))
    elapsed = time.perf_counter() - started
    predict_started = time.perf_counter()
    model.predict_many([data for data, _ in held])
    predict_ms = 1e3 * (time.perf_counter() - predict_started) / len(held)
    return {
        "domain": domain,
        "seed": seed,
        "design": name,
        "f1": curve,
        "seconds": elapsed,
        "predict_ms": predict_ms,
    }


def design_report(runs: list[dict[str, Any]]) -> str:
    domains = list(dict.fromkeys(r["domain"] for r in runs))
    header = " | ".join(
        f"{d} @{DESIGN_CHECKPOINTS[1]} / @{DESIGN_CHECKPOINTS[-1]}" for d in domains
    )
    lines = [
        f"| design | {header} | mean @50 / @100 / @300 | predict ms/text |",
        "|---|" + "---:|" * (len(domains) + 2),
    ]
    for name in DESIGNS:
        cells = []
        means = []
        for domain in domains:
            rs = [r for r in runs if r["design"] == name and r["domain"] == domain]
            if not rs:
                continue
            curve = [statistics.fmean(c) for c in zip(*[r["f1"] for r in rs], strict=True)]
            means.append(curve)
            cells.append(f"{curve[1]:.3f} / {curve[-1]:.3f}")
        if not cells:
            continue
        overall = [statistics.fmean(c) for c in zip(*means, strict=True)]
        speed = statistics.fmean(r["predict_ms"] for r in runs if r["design"] == name)
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {overall[0]:.3f} / {overall[1]:.3f} / "
            f"{overall[-1]:.3f} | {speed:.2f} |"
        )
    return "\n".join(lines)


# Speed.


def _texts_of(domain: str, tokens: int, count: int, seed: int) -> Items:
    """``count`` texts of exactly ``tokens`` tokens, with their spans, cut from the domain's
    texts run together (a span cut in two is left out)."""
    joined, spans = "", []
    for data, found in corpus(domain, 40 * count, seed):
        joined += " " if joined else ""
        spans += [Span(s.start + len(joined), s.end + len(joined), s.label) for s in found]
        joined += data["text"]
    cuts = tokenize(joined)
    texts: Items = []
    for n in range(count):
        first, last = cuts[n * tokens].start, cuts[(n + 1) * tokens - 1].end
        inside = [
            Span(s.start - first, s.end - first, s.label)
            for s in spans
            if first <= s.start and s.end <= last
        ]
        texts.append(({"text": joined[first:last]}, inside))
    return texts


def raw_tag_and_learn(classifiers: dict[str, Any], text: str, spans: Sequence[Span]) -> None:
    """Raw River doing a spans label's per-token work: each tag's classifier predicts every
    token of the text, then learns it, on the model's token features; no decoding."""
    tokens = tokenize(text)
    features = token_features(tokens)
    for x in features:
        for classifier in classifiers.values():
            classifier.predict_proba_one(x)
    for x, tag in zip(features, bio_tags(tokens, list(spans)), strict=True):
        for name, classifier in classifiers.items():
            classifier.learn_one(x, name == tag)


def speed(domain: str, trained: int, repeats: int) -> dict[str, Any]:
    """ms to learn a 40-token text (predict, score, learn) and to score a lease's 32
    candidates, against raw River: the same feature dicts fed to a dict of the same River
    classifiers, token by token (each tag's probability, then each tag learned), with no
    decoding, metrics or uncertainty. Both start from a model taught ``trained`` texts."""
    model = SpanModel(labels=DOMAINS[domain])
    for data, spans in corpus(domain, trained, 0):
        model.learn(data, spans)
    raw = pickle.loads(model.pipeline_pickle())["classifiers"]  # each tag's River classifier
    texts = _texts_of(domain, 40, repeats + 32, seed=99)
    learned, candidates = texts[:repeats], [data for data, _ in texts[repeats:]]

    started = time.perf_counter()
    for data, spans in learned:
        model.learn(data, spans)
    ours_learn = (time.perf_counter() - started) / repeats

    started = time.perf_counter()
    for data, spans in learned:
        raw_tag_and_learn(raw, data["text"], spans)
    raw_learn = (time.perf_counter() - started) / repeats

    rounds = max(1, repeats // 10)
    started = time.perf_counter()
    for _ in range(rounds):
        model.predict_many(candidates)
    ours_score = (time.perf_counter() - started) / rounds

    started = time.perf_counter()
    for _ in range(rounds):
        for data in candidates:
            for x in token_features(tokenize(data["text"])):
                for classifier in raw.values():
                    classifier.predict_proba_one(x)
    raw_score = (time.perf_counter() - started) / rounds
    return {
        "domain": domain,
        "tags": len(model.tags),
        "tokens": 40,
        "trained_on": trained,
        "learn_ms": 1e3 * ours_learn,
        "raw_learn_ms": 1e3 * raw_learn,
        "score_32_ms": 1e3 * ours_score,
        "raw_score_32_ms": 1e3 * raw_score,
    }


def print_speeds(speeds: list[dict[str, Any]]) -> None:
    print(
        "| domain | tags | learn a 40-token text, ms | raw River | score 32 candidates "
        "(40 tokens each), ms | raw River |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for s in speeds:
        print(
            f"| {s['domain']} | {s['tags']} | {s['learn_ms']:.2f} | {s['raw_learn_ms']:.2f} | "
            f"{s['score_32_ms']:.1f} | {s['raw_score_32_ms']:.1f} |"
        )


def _run(job: tuple[Any, ...]) -> dict[str, Any]:
    kind, *arguments = job
    return design_run(*arguments) if kind == "design" else run(*arguments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--holdout", type=int, default=250)
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    parser.add_argument("--design", action="store_true", help="the tagger's design instead")
    parser.add_argument("--speed-repeats", type=int, default=200, help="0: no speed test")
    parser.add_argument("--speed-only", action="store_true", help="only the speed test")
    parser.add_argument("--tag", default="", help="suffix for the output file")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    RESULTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    speeds = []
    if args.speed_repeats:
        speeds = [speed(domain, 300, args.speed_repeats) for domain in args.domains]
        print_speeds(speeds)
        print(flush=True)
    if args.speed_only:
        return
    seeds = range(args.seeds)
    if args.design:
        jobs: list[tuple[Any, ...]] = [
            ("design", domain, seed, name, args.pool, args.holdout)
            for domain in args.domains
            for seed in seeds
            for name in DESIGNS
        ]
    else:
        jobs = [
            ("run", domain, seed, name, args.pool, args.holdout, args.budget)
            for domain in args.domains
            for seed in seeds
            for name in args.variants
        ]
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(_run, jobs))
    meta: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "seeds": list(seeds),
        "pool": args.pool,
        "holdout": args.holdout,
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(sum(r["seconds"] for r in runs), 1),
    }
    name = "spans-design" if args.design else "spans"
    out = RESULTS / f"{name}{'-' + args.tag if args.tag else ''}.json"
    if args.design:
        meta["designs"] = {n: asdict(d) for n, d in DESIGNS.items()}
        out.write_text(json.dumps({"meta": meta, "speed": speeds, "runs": runs}, indent=1))
        print(json.dumps(meta))
        print(design_report(runs))
        return
    summary = summarise(runs)
    tables, best = report(summary, args.budget)
    meta |= {
        "budget": args.budget,
        "variants": {n: asdict(VARIANTS[n]) for n in args.variants},
        "best": best,
    }
    out.write_text(
        json.dumps({"meta": meta, "summary": summary, "speed": speeds, "runs": runs}, indent=1)
    )
    print(json.dumps(meta))
    print(tables)
    print(f"\nsaves the most labels across the domains, as a project runs it: {best}")


if __name__ == "__main__":
    main()
