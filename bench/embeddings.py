"""Sentence embeddings against TF-IDF: labels needed, and what the encoder costs (issue 23).

Label efficiency: ``streamloop:sentence_minilm`` (all-MiniLM-L6-v2 and a logistic regression
per label) against the ``logistic_regression`` preset (TF-IDF and a logistic regression per
label), each an `OnlineModel` (no shadow models: they do not change what the model learns),
taught a pool of labelled texts in random order; after every 5 labels, its accuracy on a
held-out test set of the same distribution. Three generated data sets where the wording
varies, each text built from a template of its class, its slots filled with synonyms, and
typos (a letter dropped, doubled or swapped) in about one word in ten:

- ``intents``: support requests, 5 intents (refund, bug, account access, delivery, cancel),
  6 paraphrase templates each, 3-6 synonyms a slot;
- ``reviews``: product reviews, 3 sentiments, praise and complaints in many words, some
  negated ("not bad at all" is positive);
- ``topics``: headlines, 5 topics (sport, politics, health, technology, finance), each a
  different vocabulary that one topic's few labels do not cover.

Costs (``--costs``): loading the encoder in a fresh process (the first project's start-up),
its resident memory, items per second scored by `OnlineModel.predict_many` on 500 new texts
(embedding included) and on the same texts again (embedded), labels per second, and the
snapshot's size; TF-IDF's beside them.

    python bench/embeddings.py                    # both, 3 seeds
    python bench/embeddings.py --seeds 0 --datasets intents
    python bench/embeddings.py --costs-only

Writes ``bench/results/embeddings-<name>.json`` and ``.txt`` (``--name``, default ``run``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server import machine_line

from streamloop.online import OnlineModel
from streamloop.online.embeddings import embed

RESULTS = Path(__file__).resolve().parent / "results"
EMBEDDINGS = "streamloop:sentence_minilm"
TFIDF = "logistic_regression"
MODELS = (EMBEDDINGS, TFIDF)
CHECKPOINTS = (10, 20, 50, 100, 200)
TARGET = 0.8
POOL = 200
TEST = 300
STEP = 5

Rows = list[tuple[str, str]]

# A class is templates whose {slots} are drawn from synonyms; the slots are shared by classes.
INTENTS: dict[str, Any] = {
    "slots": {
        "money": ["my money", "a refund", "my cash", "the payment", "a reimbursement"],
        "back": ["back", "returned", "refunded", "reimbursed"],
        "charged": ["charged", "billed", "debited", "invoiced"],
        "twice": ["twice", "two times", "double", "again"],
        "app": ["the app", "the application", "your software", "the program", "the website"],
        "crash": ["crashes", "freezes", "stops working", "closes itself", "hangs"],
        "open": ["open it", "start it", "launch it", "use it", "click save"],
        "login": ["log in", "sign in", "access my account", "get into my profile"],
        "password": ["password", "passcode", "login details", "credentials"],
        "parcel": ["my parcel", "the package", "my order", "the delivery", "my shipment"],
        "late": ["late", "delayed", "not here yet", "lost", "overdue"],
        "cancel": ["cancel", "end", "stop", "terminate"],
        "plan": ["my subscription", "the membership", "my plan", "the contract"],
    },
    "classes": {
        "refund": [
            "i want {money} {back}",
            "please give me {money} {back}",
            "i was {charged} {twice} and need {money} {back}",
            "how do i get {money} {back}",
            "you {charged} me {twice}, i expect {money}",
            "still waiting for {money} after being {charged}",
        ],
        "bug": [
            "{app} {crash} when i {open}",
            "every time i {open}, {app} {crash}",
            "{app} {crash} again",
            "why does {app} keep {crash}",
            "i cannot {open} because {app} {crash}",
            "since the update {app} {crash}",
        ],
        "access": [
            "i cannot {login}",
            "forgot my {password} and cannot {login}",
            "unable to {login} with my {password}",
            "how do i reset my {password}",
            "my {password} does not work",
            "locked out, i need to {login}",
        ],
        "delivery": [
            "{parcel} is {late}",
            "where is {parcel}, it is {late}",
            "{parcel} has not arrived and is {late}",
            "tracking says {parcel} is {late}",
            "when will {parcel} arrive",
            "{parcel} is {late} by a week",
        ],
        "cancel": [
            "i want to {cancel} {plan}",
            "please {cancel} {plan}",
            "how can i {cancel} {plan}",
            "{cancel} {plan} now",
            "i no longer need {plan}, {cancel} it",
            "do not renew {plan}",
        ],
    },
}

REVIEWS: dict[str, Any] = {
    "slots": {
        "good": ["great", "excellent", "superb", "fantastic", "wonderful", "brilliant", "solid"],
        "bad": ["terrible", "awful", "dreadful", "horrible", "useless", "poor", "lousy"],
        "meh": ["okay", "average", "fine", "decent", "mediocre", "so-so"],
        "thing": ["phone", "blender", "jacket", "headset", "lamp", "kettle", "backpack"],
        "aspect": ["quality", "battery", "build", "sound", "finish", "value", "design"],
        "love": ["love", "adore", "really like", "am delighted with", "enjoy"],
        "hate": ["hate", "regret buying", "am disappointed by", "cannot stand", "dislike"],
        "broke": ["broke", "fell apart", "stopped working", "died", "cracked"],
        "days": ["a week", "two days", "a month", "three uses"],
    },
    "classes": {
        "positive": [
            "{good} {thing}, i {love} it",
            "the {aspect} is {good}",
            "i {love} this {thing}",
            "not {bad} at all, {good} {aspect}",
            "{good} {aspect} and {good} {aspect}, would buy again",
            "five stars, the {thing} is {good}",
        ],
        "negative": [
            "{bad} {thing}, i {hate} it",
            "the {aspect} is {bad}",
            "it {broke} after {days}",
            "not {good} at all, {bad} {aspect}",
            "i {hate} this {thing}, it {broke}",
            "one star, the {thing} is {bad}",
        ],
        "neutral": [
            "the {thing} is {meh}",
            "{meh} {aspect}, nothing special",
            "it is {meh} for the price",
            "{meh} {thing}, does the job",
            "neither {good} nor {bad}, just {meh}",
            "the {aspect} is {meh} i guess",
        ],
    },
}

TOPICS: dict[str, Any] = {
    "slots": {
        "team": ["the home side", "the champions", "the national team", "the club", "united"],
        "win": ["beat", "defeated", "thrashed", "edged past", "overcame"],
        "match": ["the final", "the derby", "the cup tie", "the semi-final", "the game"],
        "minister": ["the minister", "the senator", "the president", "parliament", "the mayor"],
        "law": ["a bill", "new legislation", "the budget", "a reform", "tax plans"],
        "vote": ["votes on", "rejects", "passes", "debates", "vetoes"],
        "doctors": ["doctors", "researchers", "scientists", "nurses", "health officials"],
        "illness": ["the flu", "cancer", "diabetes", "a new virus", "heart disease"],
        "treat": ["a vaccine", "a treatment", "a cure", "a new drug", "therapy"],
        "firm": ["a startup", "the tech giant", "the chipmaker", "a software company"],
        "gadget": ["a smartphone", "an ai model", "a laptop", "a chip", "an app"],
        "launch": ["unveils", "launches", "releases", "announces", "ships"],
        "market": ["stocks", "shares", "the markets", "bond yields", "the currency"],
        "rise": ["rally", "slump", "surge", "tumble", "climb"],
        "money": ["interest rates", "inflation", "earnings", "profits", "the economy"],
    },
    "classes": {
        "sport": [
            "{team} {win} rivals in {match}",
            "{team} {win} the visitors to reach {match}",
            "late goal as {team} {win} their rivals",
            "{match} ends as {team} {win} the favourites",
            "coach praises {team} after {match}",
            "injury blow for {team} before {match}",
        ],
        "politics": [
            "{minister} {vote} {law}",
            "{minister} under pressure over {law}",
            "opposition attacks {minister} on {law}",
            "election looms as {minister} {vote} {law}",
            "{minister} resigns after row over {law}",
            "protests as {minister} {vote} {law}",
        ],
        "health": [
            "{doctors} test {treat} for {illness}",
            "{doctors} warn of rising {illness}",
            "{treat} for {illness} shows promise",
            "{doctors} say {treat} cuts {illness} deaths",
            "hospitals struggle with {illness}",
            "new study links diet to {illness}",
        ],
        "technology": [
            "{firm} {launch} {gadget}",
            "{firm} {launch} {gadget} to rival apple",
            "review: {gadget} from {firm}",
            "{firm} recalls {gadget} over battery fault",
            "hackers target {gadget} from {firm}",
            "{firm} bets on {gadget}",
        ],
        "finance": [
            "{market} {rise} as {money} shifts",
            "{market} {rise} after central bank moves {money}",
            "investors fear {money} as {market} {rise}",
            "{money} figures make {market} {rise}",
            "banks warn on {money}",
            "{market} {rise} on {money} data",
        ],
    },
}

DATASETS: dict[str, dict[str, Any]] = {"intents": INTENTS, "reviews": REVIEWS, "topics": TOPICS}


def typo(word: str, rng: random.Random) -> str:
    """A letter dropped, doubled or swapped with the next."""
    if len(word) < 4:
        return word
    at = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:at] + word[at + 1 :]
    if kind == 1:
        return word[:at] + word[at] + word[at:]
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def generate(spec: dict[str, Any], count: int, rng: random.Random, typos: float = 0.1) -> Rows:
    """``count`` texts, classes in turn, shuffled: a template, synonyms in its slots, typos."""
    labels = list(spec["classes"])
    rows: Rows = []
    for n in range(count):
        label = labels[n % len(labels)]
        template = rng.choice(spec["classes"][label])
        text = template.format_map(
            {slot: rng.choice(words) for slot, words in spec["slots"].items()}
        )
        words = [typo(word, rng) if rng.random() < typos else word for word in text.split()]
        rows.append((" ".join(words), label))
    rng.shuffle(rows)
    return rows


def accuracy(model: OnlineModel, test: Rows) -> float:
    predicted = model.predict_many([{"text": text} for text, _ in test])
    return sum(p.label == y for p, (_, y) in zip(predicted, test, strict=True)) / len(test)


def curve(model_name: str, labels: list[str], pool: Rows, test: Rows, seed: int) -> list[float]:
    """Accuracy on ``test`` after every `STEP` labels of ``pool``, in its (random) order."""
    model = OnlineModel(
        labels=labels, input_kind="text", preset=model_name, strategy="margin", seed=seed, shadows=0
    )
    accuracies = []
    for n, (text, label) in enumerate(pool, start=1):
        model.learn({"text": text}, label)
        if n % STEP == 0:
            accuracies.append(accuracy(model, test))
    return accuracies


def labels_to_reach(accuracies: list[float], target: float) -> int | None:
    return next(((n + 1) * STEP for n, a in enumerate(accuracies) if a >= target), None)


def efficiency(datasets: list[str], seeds: list[int]) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for dataset in datasets:
        spec = DATASETS[dataset]
        for seed in seeds:
            rng = random.Random(seed)
            pool, test = generate(spec, POOL, rng), generate(spec, TEST, rng)
            unseen = len({t for t, _ in test} - {t for t, _ in pool}) / len(test)
            embed(sorted({text for text, _ in pool + test}))  # once, in one call
            for model_name in MODELS:
                accuracies = curve(model_name, list(spec["classes"]), pool, test, seed)
                run = {
                    "dataset": dataset,
                    "seed": seed,
                    "model": model_name,
                    "test_texts_unseen": round(unseen, 3),
                    "at": {n: accuracies[n // STEP - 1] for n in CHECKPOINTS},
                    "labels_to_reach": labels_to_reach(accuracies, TARGET),
                    "curve": accuracies,
                }
                runs.append(run)
                print(json.dumps({k: v for k, v in run.items() if k != "curve"}), flush=True)
    return {"runs": runs, "summary": summarise(runs)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for run in runs:
        entry = summary.setdefault(run["dataset"], {}).setdefault(run["model"], {"runs": []})
        entry["runs"].append(run)
    for by_model in summary.values():
        for name, entry in list(by_model.items()):
            group = entry.pop("runs")
            reached = [r["labels_to_reach"] for r in group]
            by_model[name] = {
                "at": {
                    n: round(statistics.mean(r["at"][n] for r in group), 3) for n in CHECKPOINTS
                },
                "labels_to_reach": reached,
            }
    return summary


_LOAD = """
import json, os, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
start = time.perf_counter()
import streamloop.online.embeddings as e
from streamloop.online import OnlineModel
imported, before = time.perf_counter() - start, rss()
torch_before = "torch" in sys.modules
start = time.perf_counter()
e.embed(["warming up"])
print(json.dumps({"import_s": imported, "torch_imported_by_import": torch_before,
                  "load_s": time.perf_counter() - start, "rss_before_mb": before,
                  "rss_loaded_mb": rss()}))
"""


def costs(seed: int = 0) -> dict[str, Any]:
    loads = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", _LOAD], capture_output=True, text=True, check=True
        )
        loads.append(json.loads(done.stdout))
    rng = random.Random(1000 + seed)
    spec = INTENTS
    labels = list(spec["classes"])
    teach = generate(spec, 100, rng)
    texts = [f"{text} (ticket {n})" for n, (text, _) in enumerate(generate(spec, 500, rng))]
    out: dict[str, Any] = {"encoder_load": loads, "loadavg_before": os.getloadavg()}
    for model_name in MODELS:
        model = OnlineModel(
            labels=labels, input_kind="text", preset=model_name, strategy="margin", seed=seed
        )
        embed([text for text, _ in teach])
        start = time.perf_counter()
        for text, label in teach:
            model.learn({"text": text}, label)
        learn_s = time.perf_counter() - start
        rows = [{"text": text} for text in texts]
        new_s = _timed(lambda rows=rows, model=model: model.predict_many(rows))
        again_s = min(
            _timed(lambda rows=rows, model=model: model.predict_many(rows)) for _ in [0] * 3
        )
        one_s = _timed(lambda rows=rows, model=model: [model.predict(r) for r in rows[:100]])
        out[model_name] = {
            "labels_per_s_with_4_shadows": round(len(teach) / learn_s, 1),
            "new_500_items_per_s": round(len(rows) / new_s, 1),
            "embedded_500_items_per_s": round(len(rows) / again_s, 1),
            "embedded_one_at_a_time_per_s": round(100 / one_s, 1),
            "snapshot_bytes": len(model.snapshot()),
        }
        print(json.dumps({model_name: out[model_name]}), flush=True)
    out["loadavg_after"] = os.getloadavg()
    return out


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def report(results: dict[str, Any]) -> str:
    lines = [results["machine"], ""]
    if "efficiency" in results:
        lines.append(
            f"accuracy on {TEST} held-out texts after n labels (mean over seeds), and labels "
            f"to reach {TARGET} (each seed; - = not within {POOL})"
        )
        header = f"{'dataset':<9} {'model':<28}" + "".join(f"{n:>7}" for n in CHECKPOINTS)
        lines.append(header + "   to reach")
        for dataset, by_model in results["efficiency"]["summary"].items():
            for name, entry in by_model.items():
                at = "".join(f"{entry['at'][n]:>7.3f}" for n in CHECKPOINTS)
                reach = " ".join("-" if r is None else str(r) for r in entry["labels_to_reach"])
                lines.append(f"{dataset:<9} {name:<28}{at}   {reach}")
        lines.append("")
    if "costs" in results:
        lines.append(json.dumps(results["costs"], indent=1))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--costs-only", action="store_true")
    parser.add_argument("--no-costs", action="store_true")
    parser.add_argument("--name", default="run")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine_line()}
    print(results["machine"], flush=True)
    if not args.costs_only:
        results["efficiency"] = efficiency(args.datasets, args.seeds)
    if not args.no_costs:
        results["costs"] = costs()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"embeddings-{args.name}.json").write_text(json.dumps(results, indent=1))
    text = report(results)
    (RESULTS / f"embeddings-{args.name}.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
