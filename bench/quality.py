"""A careless annotator in a team, through a real ``streamloop serve``: what it costs the model,
and how soon gold items single them out (issue 17).

Three annotators label in turn over the annotate WebSocket what the service routes: two always
right, one wrong at random 40% of the time (a uniformly drawn wrong label). Every 50 labels the
benchmark scores the current model on held-out items through ``POST .../predict``. Teams:

- ``careful``: the same three, all always right (the reference);
- ``careless, gold 5%`` and ``careless, gold 10%``: 30 gold items from the pool are stored with
  their true labels, the project's ``gold_share`` is 5% or 10%; gold answers are never learned,
  so the model is the careless team's without quality control. The benchmark records how many
  labels the team had given when the careless annotator's gold interval first lay wholly below
  both others' (``annotators.{name}.gold.high`` under their ``low``): singled out.

- ``careless, overlap 20%``: the project's ``overlap`` is ``{"share": 0.2, "annotators": 2}``:
  a fifth of the items are labelled by two of the three, the first label learned, the second
  recorded. Singled out when, with at least 30 overlapped items, the careless annotator's
  kappa with each of the others is below the two others' kappa with each other.
- ``careless, overlap 20% + review``: the same, and an oracle reviewer settles each item in
  review (the two disagreed) every 50 team labels; a settled label that differs from the one
  learned is learned as a correction.

- ``careless, quarantined at 150``: a supervisor quarantines the careless annotator after 150
  team labels (as if the figures had singled them out): the model is rebuilt without their
  labels, and the two others go on alone.
- ``careless, gold 10%, gold_min_accuracy 0.8``: the project quarantines the careless one by
  itself once their gold interval lies wholly below 0.8.

Labels are counted as the team gives them (gold answers aside): an overlapped item's second
label costs an annotator's time and teaches the model nothing by itself.

    python bench/quality.py             # 3 datasets, 2 seeds; about 6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from datasets import DATASETS
from server import Server, held_out_accuracy, machine_line
from websockets.asyncio.client import ClientConnection, connect

RESULTS = Path(__file__).resolve().parent / "results"
NAMES = ("ana", "bo", "cy")  # cy is the careless one in the careless teams
CARELESS, WRONG = "cy", 0.4
STEP = 50
GOLD_ITEMS = 30
HOLDOUT = 300


@dataclass(frozen=True)
class Team:
    """How a careless team is watched: gold share, overlap share, an oracle reviewer, the
    project's ``gold_min_accuracy``, and a supervisor's quarantine after so many labels."""

    gold: float = 0.0
    overlap: float = 0.0
    reviewed: bool = False
    gold_min: float | None = None
    quarantine_at: int | None = None


#: Each team, None for the careful reference.
TEAMS: dict[str, Team | None] = {
    "careful": None,
    "careless, gold 5%": Team(gold=0.05),
    "careless, gold 10%": Team(gold=0.1),
    "careless, overlap 20%": Team(overlap=0.2),
    "careless, overlap 20% + review": Team(overlap=0.2, reviewed=True),
    "careless, quarantined at 150": Team(quarantine_at=150),
    "careless, gold 10%, gold_min_accuracy 0.8": Team(gold=0.1, gold_min=0.8),
}
#: Overlapped items needed before kappa may single anyone out.
SHARED_ITEMS = 30


def kappa_singles_out(annotators: dict[str, Any]) -> bool:
    """The careless annotator's kappa with each other is below theirs with each other."""
    careful = [a for a in NAMES if a != CARELESS]
    kappa = {a: annotators.get(a, {}).get("kappa", {}) for a in NAMES}
    theirs = kappa[careful[0]].get(careful[1])
    mine = [kappa[CARELESS].get(a) for a in careful]
    if theirs is None or any(k is None for k in mine):
        return False
    return all(k < theirs for k in mine if k is not None)


async def review_all(base: str, name: str, truth: dict[str, str]) -> int:
    """An oracle reviewer settles every item in review; how many."""
    settled = 0
    url = f"{base.replace('http', 'ws')}/ws/projects/{name}/review?reviewer=rev"
    async with connect(url) as ws:
        while True:
            message = orjson.loads(await ws.recv())
            if message["type"] == "idle":
                return settled
            if message["type"] == "review":
                item = str(message["item"]["id"])
                await ws.send(
                    orjson.dumps(
                        {
                            "type": "resolve",
                            "item_id": item,
                            "label": truth[item],
                            "label_id": f"rev-{item}",
                        }
                    )
                )
                settled += 1
            elif message["type"] == "error":
                raise RuntimeError(message)


async def _next_item(ws: ClientConnection) -> str | None:
    while True:
        message = orjson.loads(await ws.recv())
        if message["type"] == "item":
            return str(message["item"]["id"])
        if message["type"] == "idle":
            return None
        if message["type"] == "error":
            raise RuntimeError(message)


async def _label(ws: ClientConnection, item: str, label: str, label_id: str) -> None:
    await ws.send(
        orjson.dumps({"type": "label", "item_id": item, "label": label, "label_id": label_id})
    )
    while True:
        message = orjson.loads(await ws.recv())
        if message["type"] == "ack":
            return
        if message["type"] == "error":
            raise RuntimeError(message)


async def run(base: str, dataset: str, seed: int, team: str, budget: int) -> dict[str, Any]:
    rows, labels = DATASETS[dataset]()
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held, gold, pool = (
        order[:HOLDOUT],
        order[HOLDOUT : HOLDOUT + GOLD_ITEMS],
        order[HOLDOUT + GOLD_ITEMS :],
    )
    classes = sorted(set(labels))
    truth = {f"e{i}": labels[i] for i in pool} | {f"g{i}": labels[i] for i in gold}
    setup = TEAMS[team]
    careless = setup is not None
    watch = setup or Team()
    share, overlap, reviewed = watch.gold, watch.overlap, watch.reviewed
    quarantined_at: int | None = None
    rng = random.Random(seed + 1)
    name = f"{dataset}-{seed}-{list(TEAMS).index(team)}".replace("_", "-")
    curve: list[tuple[int, float]] = []
    singled_out: int | None = None
    settled = 0
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        spec: dict[str, Any] = {
            "name": name,
            "labels": classes,
            "input": "tabular",
            "seed": seed,
        }
        if share:
            spec["gold_share"] = share
        if overlap:
            spec["overlap"] = {"share": overlap, "annotators": 2}
        if watch.gold_min is not None:
            spec["gold_min_accuracy"] = watch.gold_min
        (await http.post("/api/projects", json=spec)).raise_for_status()
        events = [{"id": f"e{i}", "data": rows[i]} for i in pool]
        for start in range(0, len(events), 500):
            chunk = {"events": events[start : start + 500]}
            (await http.post(f"/api/projects/{name}/events", json=chunk)).raise_for_status()
        if share:
            items = [{"id": f"g{i}", "data": rows[i], "label": labels[i]} for i in gold]
            (
                await http.post(f"/api/projects/{name}/gold", json={"items": items})
            ).raise_for_status()
        sockets = [
            await connect(f"{base.replace('http', 'ws')}/ws/projects/{name}/annotate?annotator={a}")
            for a in NAMES
        ]
        try:
            labelled = answered = 0
            # No events arrive during a run: a socket told it is idle has nothing more coming.
            idle: set[str] = set()
            while labelled < budget and len(idle) < len(NAMES):
                for annotator, ws in zip(NAMES, sockets, strict=True):
                    if annotator in idle:
                        continue
                    item = await _next_item(ws)
                    if item is None:
                        idle.add(annotator)
                        continue
                    label = truth[item]
                    if careless and annotator == CARELESS and rng.random() < WRONG:
                        label = rng.choice([c for c in classes if c != label])
                    await _label(ws, item, label, f"{annotator}-{item}")
                    if item.startswith("g"):
                        answered += 1
                    else:
                        labelled += 1
                    if labelled % STEP == 0 and not item.startswith("g"):
                        if reviewed:
                            settled += await review_all(base, name, truth)
                        accuracy = await held_out_accuracy(
                            http, name, [rows[i] for i in held], [labels[i] for i in held]
                        )
                        curve.append((labelled, accuracy))
                due = watch.quarantine_at
                if due is not None and quarantined_at is None and labelled >= due:
                    path = f"/api/projects/{name}/annotators/{CARELESS}/quarantine"
                    (await http.post(path, json={})).raise_for_status()
                if careless and quarantined_at is None:
                    report = (await http.get(f"/api/projects/{name}/metrics")).json()
                    if report["annotators"].get(CARELESS, {}).get("state") == "quarantined":
                        # Offered nothing from now on: the others carry on.
                        quarantined_at = labelled
                        idle.add(CARELESS)
                if careless and singled_out is None:
                    report = (await http.get(f"/api/projects/{name}/metrics")).json()
                    gold_of = {a: report["annotators"].get(a, {}).get("gold") for a in NAMES}
                    if all(gold_of.values()) and gold_of[CARELESS]["high"] < min(
                        gold_of[a]["low"] for a in NAMES if a != CARELESS
                    ):
                        singled_out = labelled
                    shared = report["agreement"]["items"]
                    if (
                        overlap
                        and shared >= SHARED_ITEMS
                        and kappa_singles_out(report["annotators"])
                    ):
                        singled_out = labelled
            final = (await http.get(f"/api/projects/{name}/metrics")).json()
        finally:
            for ws in sockets:
                await ws.close()
    return {
        "labelled": labelled,
        "drifts": final["drift"]["drifts_total"],
        "aged_out": final["aged_out_total"],
        "dataset": dataset,
        "seed": seed,
        "team": team,
        "curve": curve,
        "singled_out": singled_out,
        "gold_answers": answered,
        "learned": final["model_version"],
        "reviewed": settled,
        "quarantined_at": quarantined_at,
        "alpha": final["agreement"],
    }


def _rounded(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--datasets", nargs="+", default=["phishing", "bananas", "breast_cancer"])
    args = parser.parse_args()
    print(machine_line())
    started = time.perf_counter()
    server = Server(tempfile.mkdtemp(prefix="streamloop-bench-"))
    runs = []
    try:
        for dataset in args.datasets:
            for seed in range(args.seeds):
                for team in TEAMS:
                    runs.append(await run(str(server.base), dataset, seed, team, args.budget))
    finally:
        server.stop()
    checkpoints = [n for n in range(STEP, args.budget + 1, STEP)]
    ended: list[str] = []
    lines = [
        f"# quality (python bench/quality.py --seeds {args.seeds} --budget {args.budget})",
        "",
        "Held-out accuracy of the model by labels learned (mean over seeds):",
        "",
        "| dataset | team | "
        + " | ".join(str(n) for n in checkpoints)
        + " | careless singled out at |",
        "|---|---|" + "---:|" * len(checkpoints) + "---|",
    ]
    for dataset in args.datasets:
        for team in TEAMS:
            mine = [r for r in runs if r["dataset"] == dataset and r["team"] == team]
            cells = []
            for n in checkpoints:
                found = [a for r in mine for labels, a in r["curve"] if labels == n]
                cells.append(f"{statistics.mean(found):.3f}" if found else "-")
            if team == "careful":
                out = ""
            else:
                out = " ".join(
                    "-" if r["singled_out"] is None else str(r["singled_out"]) for r in mine
                )
            lines.append(f"| {dataset} | {team} | " + " | ".join(cells) + f" | {out} |")
            ended.extend(
                f"{dataset}/{team}/seed {r['seed']}: {r['labelled']} labels "
                f"(model version {r['learned']}, {r['reviewed']} reviewed, careless "
                f"quarantined at {r['quarantined_at'] if r['quarantined_at'] is not None else '-'}"
                f", alpha "
                f"{_rounded(r['alpha']['alpha'])} on {r['alpha']['items']} items), "
                f"{r['drifts']} drifts shown, {r['aged_out']} waiting items aged out"
                for r in mine
            )
    lines += [
        "",
        "Each run's end (a drift shown ages out the items waiting since its warning):",
        "",
    ]
    lines += [f"- {line}" for line in ended]
    lines.append(f"\n{time.perf_counter() - started:.0f} s")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quality.txt").write_text(text + "\n")
    (RESULTS / "quality.json").write_text(json.dumps(runs))


if __name__ == "__main__":
    asyncio.run(main())
