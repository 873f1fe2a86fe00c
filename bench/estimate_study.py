"""Which figure tells a supervisor the current model's accuracy on traffic, and when it drifted?

An in-process simulation of the loop (issue 15), reusing the service's own ``OnlineModel``,
``RoutingPolicy`` and ``RoutingQueue`` as ``bench/label_efficiency.py`` does. Production events
arrive between labels (``--events-per-label`` each, scored at arrival as ingest does, an
exploration share of them set aside as the random sample); an oracle annotator labels what the
default policy routes (margin, 20-label warm-up, 20% exploration, the preset's rehearsal). At
every 25 labels from the 50th, candidate estimators of the current model's accuracy (see
``bench/estimators.py``) are compared with the truth: that model's accuracy on held-out items.

Part ``estimate``: five stationary streams (binary and multiclass; logistic regression,
Hoeffding tree, naive Bayes), every candidate, including cross-fitted shadow models (`CrossFit`),
and what an audit share (random draws kept out of learning) and the drift machinery cost
learning on a stationary stream.
Part ``drift``: two streams whose concept changes abruptly after 150 labels (a fifth of the
items change class; each event keeps the label of the concept it arrived under). River's
detectors listen to the errors, residuals and log losses of labelled items, and a two-stage
test (``bench/drift_tests.py``) to the random draws' errors: their delay, and their false
alarms on the stationary streams of part ``estimate``. The responses (more exploration for a
while, ageing out the items that arrived before the detection, a rehearsal memory restarted;
a random sample served newest first) are measured one by one at the true drift, late, and
triggered by the test: labels to come back within 5 points of the pre-drift accuracy.

    python bench/estimate_study.py            # both parts, 5 seeds, ~6 minutes on 2 cores

Writes ``bench/results/estimate_study.json``, ``estimate_study.txt`` (the tables) and
``estimate_study-*.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import estimators as est
from datasets import DATASETS
from drift_tests import WarnConfirm

from streamloop.online import OnlineModel
from streamloop.online.routing import Ranking, RoutingPolicy, default_rehearsal, exploration_now
from streamloop.streams.queue import QueuedItem, RoutingQueue

RESULTS = Path(__file__).resolve().parent / "results"
STEP = 25
FIRST_CHECKPOINT = 50
HOLDOUT = 1000
PREFILL = 100  # events waiting before the first label
WINDOW = 500  # recent production events the confidence term covers
DRIFT_AT = 150

# -- streams ---------------------------------------------------------------------------------


@dataclass
class Data:
    events: list[dict[str, Any]]
    labels: list[str]
    holdout: list[dict[str, Any]]
    holdout_labels: list[str]
    classes: list[str]
    # The concept after the drift (drift streams only): the same items, some relabelled.
    labels_after: list[str] | None = None
    holdout_after: list[str] | None = None


def _rows(x: np.ndarray) -> list[dict[str, float]]:
    return [{f"x{j}": float(v) for j, v in enumerate(row)} for row in x]


def _hyperplane(seed: int, n: int, drift: bool) -> Data:
    """Binary: which side of a hyperplane, 5% of labels flipped; the drift rotates the
    hyperplane by 0.2 pi, which moves a fifth of the items to the other class."""
    rng = np.random.default_rng(seed)
    d = 10
    x = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    w /= np.linalg.norm(w)
    noise = rng.random(n) < 0.05
    y = (x @ w > 0) ^ noise
    u = rng.normal(size=d)
    u -= (u @ w) * w
    u /= np.linalg.norm(u)
    angle = 0.2 * math.pi
    y2 = (x @ (math.cos(angle) * w + math.sin(angle) * u) > 0) ^ noise
    return _split(
        _rows(x), [f"c{int(v)}" for v in y], [f"c{int(v)}" for v in y2] if drift else None
    )


def _clusters(seed: int, n: int, drift: bool, classes: int = 10) -> Data:
    """Gaussian clusters, one per class (scikit-learn's generator), 2% of labels random; the
    drift swaps two classes (with ten classes, a fifth of the items change class)."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n,
        n_features=20,
        n_informative=10,
        n_redundant=0,
        n_classes=classes,
        n_clusters_per_class=1,
        class_sep=2.0,
        flip_y=0.02,
        random_state=seed,
    )
    swap = {0: 1, 1: 0}
    y2 = [swap.get(int(v), int(v)) for v in y]
    return _split(_rows(x), [f"c{int(v)}" for v in y], [f"c{v}" for v in y2] if drift else None)


def _split(rows: list, labels: list[str], after: list[str] | None) -> Data:
    # Synthetic rows are drawn independently: the first HOLDOUT are the held-out set.
    return Data(
        events=rows[HOLDOUT:],
        labels=labels[HOLDOUT:],
        holdout=rows[:HOLDOUT],
        holdout_labels=labels[:HOLDOUT],
        classes=sorted(set(labels)),
        labels_after=None if after is None else after[HOLDOUT:],
        holdout_after=None if after is None else after[:HOLDOUT],
    )


def _shipped(name: str, seed: int) -> Data:
    rows, labels = _load(name)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return _split([rows[i] for i in order], [labels[i] for i in order], None)


@cache
def _load(name: str) -> tuple[list, list]:
    if name == "segment":
        from river import datasets

        pairs = [({str(k): v for k, v in x.items()}, str(y)) for x, y in datasets.ImageSegments()]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return DATASETS[name]()


@dataclass(frozen=True)
class Stream:
    name: str
    preset: str
    make: Callable[[int, int, bool], Data]
    kind: str


STREAMS = {
    s.name: s
    for s in [
        Stream("hyperplane2/lr", "logistic_regression", _hyperplane, "binary, synthetic"),
        Stream("clusters10/lr", "logistic_regression", _clusters, "10 classes, synthetic"),
        Stream("bananas/tree", "hoeffding_tree", lambda s, n, d: _shipped("bananas", s), "binary"),
        Stream("segment/nb", "naive_bayes", lambda s, n, d: _shipped("segment", s), "7 classes"),
        Stream(
            "clusters5/tree",
            "hoeffding_tree",
            lambda s, n, d: _clusters(s, n, d, classes=5),
            "5 classes, synthetic",
        ),
    ]
}
DRIFT_STREAMS = {
    s.name: s
    for s in [
        Stream("hyperplane2-drift/lr", "logistic_regression", _hyperplane, "binary"),
        Stream("clusters10-drift/lr", "logistic_regression", _clusters, "10 classes"),
    ]
}

# -- drift detectors, run passively on every run ------------------------------------------------


def _detectors() -> dict[str, tuple[str, Any]]:
    """name -> (feed, detector). Feeds: errors (1 - hit) or residuals (c - h, larger when the
    model is confidently wrong) of random draws (``rand``) or of every label (``all``)."""
    from river.drift import ADWIN, PageHinkley
    from river.drift.binary import DDM, HDDMA, HDDMW

    found: dict[str, tuple[str, Any]] = {}
    for feed in ("rand_err", "rand_res", "all_err", "all_res"):
        for delta in (0.002, 0.05):
            # clock=1: check at every value; River's default (32) would wait 32 random draws.
            found[f"ADWIN(d={delta})/{feed}"] = (feed, ADWIN(delta=delta, clock=1))
        if feed.endswith("err"):
            found[f"DDM/{feed}"] = (feed, DDM())
            found[f"HDDM_A/{feed}"] = (feed, HDDMA())
            found[f"HDDM_W/{feed}"] = (feed, HDDMW())
        for threshold in (2.0, 4.0):
            found[f"PH(l={threshold:g})/{feed}"] = (
                feed,
                PageHinkley(min_instances=10, delta=0.01, threshold=threshold, mode="up"),
            )
    return found


LOSS_CAP = -math.log(0.05)


class DetectorBank:
    """Feeds every detector; keeps the labels at which each signalled a *rise* in error."""

    def __init__(self) -> None:
        self.detectors = _detectors()
        self.values: dict[str, list[float]] = {}
        self.alarms: dict[str, list[int]] = {name: [] for name in self.detectors}

    def update(
        self, labelled: int, hit: bool, confidence: float, p_true: float, drawn_at_random: bool
    ) -> list[str]:
        # Surprise: the log loss of the label, capped at 20x (log 20 = 3.0) and scaled to [0, 1].
        loss = min(-math.log(max(p_true, 0.05)), LOSS_CAP) / LOSS_CAP
        feeds = {"all_err": 1.0 - hit, "all_res": confidence - hit, "all_loss": loss}
        if drawn_at_random:
            feeds |= {"rand_err": 1.0 - hit, "rand_res": confidence - hit, "rand_loss": loss}
        for feed, value in feeds.items():
            self.values.setdefault(feed, []).append(value)
        fired = []
        for name, (feed, detector) in self.detectors.items():
            if feed not in feeds:
                continue
            detector.update(feeds[feed])
            if detector.drift_detected and self._rose(feed, detector):
                self.alarms[name].append(labelled)
                fired.append(name)
        return fired

    def _rose(self, feed: str, detector: Any) -> bool:
        # ADWIN flags any change, and the errors of a model that is learning fall: only a
        # rise counts. The others are one-sided already.
        width = getattr(detector, "width", None)
        if width is None or "ADWIN" not in type(detector).__name__:
            return True
        values = self.values[feed]
        recent = values[-int(width) :] if width else values[-1:]
        before = values[: len(values) - len(recent)][-max(len(recent), 20) :]
        return bool(before) and statistics.fmean(recent) > statistics.fmean(before)


class FreshSampleQueue(RoutingQueue):
    """The service's queue, but exploration takes the *newest* item of the random sample.

    Under a stationary stream the order of arrival says nothing about an item, so the newest
    sampled item is as fair a draw as any; after a drift it is the one that shows the new
    concept, where a uniform pick mostly lands on the backlog from before the drift.
    """

    def _random_sampled(self, annotator: str) -> QueuedItem | None:
        for _seq, item_id in reversed(self._sample):
            if self._eligible(item_id, annotator):
                return self._waiting[item_id]
        return None


# -- one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    name: str
    strategy: str = "margin"
    exploration: float = 0.2
    warmup: int = 20
    rehearsal: int | None = None  # None: the preset's default
    #: Share of the random draws after the warm-up kept out of learning, to audit the model.
    audit: float = 0.0
    #: Drift responses, on a detection by ``trigger`` ("oracle": at the true drift).
    trigger: str | None = None
    boost: float = 0.0  # exploration for ``boost_labels`` labels after a trigger
    boost_labels: int = 100
    age_out: bool = False  # items that arrived before the trigger leave the queue
    restart_memory: bool = False  # the rehearsal memory starts again from the trigger
    trigger_delay: int = 0  # "oracle": respond this many labels after the true drift
    #: Exploration while a warning lasts (the two-stage trigger); 0: the same as ``boost``.
    warn_boost: float = 0.0
    #: Parameters of `WarnConfirm`, as (name, value) pairs.
    test: tuple[tuple[str, Any], ...] = ()
    #: Exploration takes the newest sampled item rather than any (see `FreshSampleQueue`).
    fresh_sample: bool = False
    #: Cross-fitted shadow models to run: "random2", "random4", "all10".
    crossfit: tuple[str, ...] = ()
    #: The service's own answer to drift: exploration, and the share of arrivals sampled,
    #: follow the model's drift state (`exploration_now`), a confirmed drift ages out the queue
    #: (the model restarts its rehearsal memory itself).
    service_drift: bool = False


class CrossFit:
    """Shadow models that each leave out one fold of the labels, to score them unseen.

    ``scope="random"``: the folds split the random draws only (each shadow learns every routed
    label and all draws but its fold's); ``scope="all"``: every label. Each held-out item is then
    scored by a model that never learned it, yet learned nearly everything the production model
    did, and is as current as it. Costs K more models learning each label; no label is lost.
    """

    def __init__(self, k: int, scope: str, make: Callable[[], OnlineModel]) -> None:
        self.k, self.scope = k, scope
        self.models = [make() for _ in range(k)]
        self.held: list[list[tuple[dict[str, Any], str, bool, int]]] = [[] for _ in range(k)]
        self._count = 0

    def learn(self, row: dict[str, Any], truth: str, drawn_at_random: bool, labelled: int) -> None:
        fold = None
        if self.scope == "all" or drawn_at_random:
            fold = self._count % self.k
            self._count += 1
            self.held[fold].append((row, truth, drawn_at_random, labelled))
        for k, model in enumerate(self.models):
            if k != fold:
                model.learn(row, truth)

    def score(
        self, folds: int | None = None, since: int | None = None, at_least: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hits, confidences, drawn at random) of the held-out items, each by its shadow;
        only those labelled after ``since`` if there are ``at_least`` of them."""
        if since is not None:
            recent = sum(1 for fold in self.held for item in fold if item[3] > since)
            if recent < at_least:
                since = None
        hits, confidences, drawn = [], [], []
        for k in range(folds or self.k):
            items = [item for item in self.held[k] if since is None or item[3] > since]
            if not items:
                continue
            predictions = self.models[k].predict_many([item[0] for item in items])
            for (_, truth, d, _), p in zip(items, predictions, strict=True):
                hits.append(p.label == truth)
                confidences.append(max(p.probabilities.values()))
                drawn.append(d)
        return np.array(hits, dtype=float), np.array(confidences), np.array(drawn, dtype=bool)


@dataclass
class Log:
    hits: list[bool] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    random: list[bool] = field(default_factory=list)
    audit: list[bool] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    truths: list[str] = field(default_factory=list)
    labelled_at: list[int] = field(default_factory=list)


def simulate(
    stream: Stream,
    seed: int,
    config: Config,
    budget: int,
    events_per_label: int,
    drift_at: int | None = None,
) -> dict[str, Any]:
    """One run. River's detectors listen passively; the two-stage test (`WarnConfirm`) drives
    the responses when ``config.trigger`` is "two-stage", and its drift alarms restart the
    estimate's window in every run."""
    data = _data(stream.name, seed, budget, events_per_label, drift_at is not None)
    rehearsal = default_rehearsal(stream.preset) if config.rehearsal is None else config.rehearsal
    model = OnlineModel(
        labels=data.classes,
        input_kind="tabular",
        preset=stream.preset,
        strategy="margin",
        seed=seed,
        rehearsal=rehearsal,
    )
    base_policy = RoutingPolicy(config.strategy, config.exploration, config.warmup)
    policy = base_policy
    queue = (FreshSampleQueue if config.fresh_sample else RoutingQueue)(10**6, random.Random(seed))
    sample_rng, rng, audit_rng = (
        random.Random(seed + 3),
        random.Random(seed + 1),
        random.Random(seed + 5),
    )
    arrivals: list[dict[str, Any]] = []
    arrival_conf: list[float] = []
    arrival_label: list[str] = []
    log = Log()
    bank = DetectorBank()

    def shadow() -> OnlineModel:
        return OnlineModel(
            labels=data.classes,
            input_kind="tabular",
            preset=stream.preset,
            strategy="margin",
            seed=seed,
            rehearsal=rehearsal,
            shadows=0,
        )

    crossfits = {
        name: CrossFit(k, scope, shadow)
        for name, k, scope in [
            ("random2", 2, "random"),
            ("random4", 4, "random"),
            ("random10", 10, "random"),
            ("all10", 10, "all"),
        ]
        if name in config.crossfit
    }
    drifted = False
    boost_until = -1
    triggers: list[int] = []
    alarms: list[int] = []  # the two-stage test's drifts, whether or not the loop responds
    warnings: list[int] = []
    two_stage = WarnConfirm(**dict(config.test))

    def arrive(k: int) -> None:
        start = len(arrivals)
        rows = data.events[start : start + k]
        if len(rows) < k:
            raise SystemExit(f"{stream.name}: not enough events for {budget} labels")
        source = data.labels_after if drifted and data.labels_after else data.labels
        predictions = model.predict_many(rows)
        for offset, (row, p) in enumerate(zip(rows, predictions, strict=True)):
            i = start + offset
            arrivals.append(row)
            arrival_conf.append(max(p.probabilities.values()))
            arrival_label.append(source[i])
            # As serve's ingest does: an exploration share of arrivals is a random sample.
            # The share follows the exploration now, so more exploration samples more arrivals.
            share = policy.exploration if config.service_drift else config.exploration
            sampled = config.strategy != "random" and sample_rng.random() < share
            queue.push(QueuedItem(i, str(i), row, p.uncertainty, drawn_at_random=sampled))

    def scorer(items: Any) -> Ranking:
        return policy.score(model, [i.data for i in items])

    def explore_more(until: int) -> None:
        nonlocal policy, boost_until
        share = config.warn_boost or config.boost
        if share:
            policy = RoutingPolicy(config.strategy, share, config.warmup)
            boost_until = until

    def respond(labelled: int) -> None:
        nonlocal policy, boost_until
        triggers.append(labelled)
        if config.boost:
            policy = RoutingPolicy(config.strategy, config.boost, config.warmup)
            boost_until = labelled + config.boost_labels
        if config.age_out:
            for item_id in list(queue.item_ids()):
                if item_id < len(arrivals):
                    queue.remove(item_id)
        if config.restart_memory:
            # A study shortcut: the service would expose this as a method of OnlineModel.
            for m in [model, *(s for c in crossfits.values() for s in c.models)]:
                m._memory.clear()
                m._memory_seen = 0

    arrive(PREFILL)
    warning_mark: int | None = None
    labelled = 0
    checkpoints: list[dict[str, Any]] = []
    while labelled < budget:
        if drift_at is not None and labelled == drift_at and not drifted:
            drifted = True
        if (
            drift_at is not None
            and config.trigger == "oracle"
            and labelled == drift_at + config.trigger_delay
        ):
            respond(labelled)
        if config.service_drift:  # as ProjectRuntime._answer_drift does
            state = model.drift_state
            share = exploration_now(config.exploration, state)
            policy = RoutingPolicy(config.strategy, share, config.warmup)
            if state == "warning" and warning_mark is None:
                warning_mark = queue.arrivals
            elif state == "none":
                warning_mark = None
            if model.drift["drifts_total"] > len(alarms):
                alarms.append(labelled)
                queue.age_out(before=queue.arrivals if warning_mark is None else warning_mark)
                warning_mark = None
        arrive(events_per_label)
        if labelled == boost_until:
            policy = base_policy
        lease = queue.lease(
            holder="a",
            annotator="a",
            now=0.0,
            duration=1e9,
            scorer=scorer,
            candidates=32,
            explore=policy.explore(model.version, rng),
            random_counts=policy.random_counts(model.version),
        )
        if lease is None:
            raise SystemExit(f"{stream.name}: the queue ran dry")
        queue.remove(lease.item.item_id)
        row, truth = lease.item.data, arrival_label[lease.item.item_id]
        before = model.predict(row)
        hit = before.label == truth
        confidence = max(before.probabilities.values())
        audited = (
            lease.drawn_at_random
            and model.version >= config.warmup
            and config.audit > 0
            and audit_rng.random() < config.audit
        )
        if not audited:
            model.learn(row, truth, drawn_at_random=lease.drawn_at_random)
            for crossfit in crossfits.values():
                crossfit.learn(dict(row), truth, lease.drawn_at_random, labelled + 1)
        labelled += 1
        if before.label is not None:
            log.hits.append(hit)
            log.confidences.append(confidence)
            log.random.append(lease.drawn_at_random)
            log.audit.append(audited)
            log.rows.append(dict(row))
            log.truths.append(truth)
            log.labelled_at.append(labelled)
            p_true = before.probabilities[truth]
            bank.update(labelled, hit, confidence, p_true, lease.drawn_at_random)
            if config.service_drift:
                change = None
            else:
                change = two_stage.update(labelled, not hit) if lease.drawn_at_random else None
            responds = config.trigger == "two-stage"
            if change == "warning":
                warnings.append(labelled)
                if responds:  # a warning only buys more random draws, while it lasts
                    explore_more(labelled + two_stage.patience)
            elif change == "drift":
                alarms.append(labelled)
                if responds:
                    respond(labelled)
            elif change == "none" and responds and labelled < boost_until:
                policy, boost_until = base_policy, -1
        if labelled % STEP == 0:
            checkpoints.append(
                _checkpoint(
                    model, data, drifted, log, arrivals, arrival_conf, labelled, alarms, crossfits
                )
            )
    return {
        "stream": stream.name,
        "seed": seed,
        "config": config.name,
        "checkpoints": checkpoints,
        "alarms": bank.alarms,
        "triggers": triggers,
        "drift_alarms": alarms,
        "warnings": warnings,
        "random_draws": int(sum(log.random)),
        "audited": int(sum(log.audit)),
    }


@cache
def _data_cached(name: str, seed: int, n: int, drift: bool) -> Data:
    stream = STREAMS.get(name) or DRIFT_STREAMS[name]
    return stream.make(seed, n, drift)


def _data(name: str, seed: int, budget: int, per_label: int, drift: bool) -> Data:
    return _data_cached(name, seed, HOLDOUT + PREFILL + per_label * budget + 50, drift)


def _max_conf(predictions: list) -> np.ndarray:
    return np.array([max(p.probabilities.values()) for p in predictions])


def _checkpoint(
    model: OnlineModel,
    data: Data,
    drifted: bool,
    log: Log,
    arrivals: list,
    arrival_conf: list[float],
    labelled: int,
    alarms: list[int],
    crossfits: dict[str, CrossFit],
) -> dict[str, Any]:
    holdout_labels = data.holdout_after if drifted and data.holdout_after else data.holdout_labels
    predicted = model.predict_many(data.holdout)
    truth = float(np.mean([p.label == t for p, t in zip(predicted, holdout_labels, strict=True)]))
    point: dict[str, Any] = {"labels": labelled, "truth": truth}
    if labelled < FIRST_CHECKPOINT:
        return point
    c_now = _max_conf(model.predict_many(arrivals[-WINDOW:]))
    c_arrival = np.array(arrival_conf[-WINDOW:])
    hits = np.array(log.hits, dtype=float)
    conf = np.array(log.confidences)
    rand = np.array(log.random, dtype=bool)
    audit = np.array(log.audit, dtype=bool)
    h_r, c_r = hits[rand], conf[rand]
    found: dict[str, est.Estimate | None] = {}
    u = model.sampled_accuracy.report()
    if u["estimate"] is not None:
        found["today (random draws, EW, Wilson)"] = (
            u["estimate"],
            u["low"],
            u["high"],
            u["samples"],
        )
    found["self: mean confidence now"] = est.self_estimate(c_now)
    found["self: mean confidence at arrival"] = est.self_estimate(c_arrival)
    found["ppi: random draws, all"] = est.ppi(c_now, h_r, c_r)
    for half_life in (20, 40):
        found[f"ppi: random draws, half-life {half_life}"] = est.ppi(
            c_now, h_r, c_r, half_life=half_life
        )
    found["ppi: random draws, last 30"] = est.ppi(c_now, h_r, c_r, window=30)
    found["ppi++: random draws, power-tuned"] = est.ppi(c_now, h_r, c_r, power_tuning=True)
    found["ppi: random draws, conf at arrival"] = est.ppi(c_arrival, h_r, c_r, half_life=40)
    found["ppi: every label (routed too)"] = est.ppi(c_now, hits, conf, half_life=100)
    found["binned ppi: random draws"] = est.binned_ppi(c_now, h_r, c_r, half_life=40)
    for half_life in (100, None):
        name = "all" if half_life is None else f"half-life {half_life}"
        found[f"binned ppi: every label, {name}"] = est.binned_ppi(
            c_now, hits, conf, half_life=half_life
        )
    # Re-scoring the stored random draws with the current model, which has learned them.
    learned_random = rand & ~audit
    if learned_random.any():
        rows = [r for r, keep in zip(log.rows, learned_random, strict=True) if keep]
        truths = [t for t, keep in zip(log.truths, learned_random, strict=True) if keep]
        again = model.predict_many(rows)
        h_again = np.array([p.label == t for p, t in zip(again, truths, strict=True)], dtype=float)
        found["re-scored draws: hits (learned them)"] = est.proportion(h_again)
        found["ppi: re-scored draws (learned them)"] = est.ppi(c_now, h_again, _max_conf(again))
    if audit.any():
        rows = [r for r, keep in zip(log.rows, audit, strict=True) if keep]
        truths = [t for t, keep in zip(log.truths, audit, strict=True) if keep]
        again = model.predict_many(rows)
        h_audit = np.array([p.label == t for p, t in zip(again, truths, strict=True)], dtype=float)
        found["audit: current model's hits"] = est.proportion(h_audit)
        found["ppi: audit, current model"] = est.ppi(c_now, h_audit, _max_conf(again))
    for name, crossfit in crossfits.items():
        h_x, c_x, d_x = crossfit.score()
        if crossfit.scope == "random":
            found[f"cross-fit {name}: hits"] = est.proportion(h_x)
            found[f"cross-fit {name}: ppi"] = est.ppi(c_now, h_x, c_x)
            found[f"cross-fit {name}: binned ppi"] = est.binned_ppi(c_now, h_x, c_x)
            found[f"cross-fit {name}: binned ppi, 3 bins"] = est.binned_ppi(c_now, h_x, c_x, bins=3)
            found[f"cross-fit {name}: binned ppi, min 20"] = est.binned_ppi(
                c_now, h_x, c_x, min_samples=20
            )
            if name == "random2":
                # One shadow only, which left out half the draws: scored on that half.
                h_1, _, _ = crossfit.score(folds=1)
                found["cross-fit random2, one shadow: hits"] = est.proportion(h_1)
        else:
            found[f"cross-fit {name}: hits on random draws"] = est.proportion(h_x[d_x])
            found[f"cross-fit {name}: binned ppi, every label"] = est.binned_ppi(c_now, h_x, c_x)
            found[f"cross-fit {name}: binned ppi, random draws"] = est.binned_ppi(
                c_now, h_x[d_x], c_x[d_x]
            )
    restart = alarms[-1] if alarms else None
    if "random10" in crossfits:
        # The estimate's window restarted at the last alarm: only draws labelled since count,
        # once there are 10 of them (until then, every draw).
        h_x, c_x, _ = crossfits["random10"].score(since=restart, at_least=10)
        found["cross-fit random10: binned ppi, min 20, restarted at alarm"] = est.binned_ppi(
            c_now, h_x, c_x, min_samples=20
        )
    service = model.accuracy_estimate(arrivals[-WINDOW:])
    if service["estimate"] is not None:
        found["the service's accuracy_estimate"] = (
            service["estimate"],
            service["low"],
            service["high"],
            service["samples"],
        )
    point["estimates"] = {k: v for k, v in found.items() if v is not None}
    point["random_draws"] = int(rand.sum())
    return point


# -- the parts ------------------------------------------------------------------------------

#: The responses, on the two-stage test: a warning explores more while it lasts; a drift
#: explores more for 100 labels, ages out the queue and restarts the rehearsal memory.
RESPONSES: dict[str, Any] = {
    "trigger": "two-stage",
    "boost": 0.5,
    "warn_boost": 1.0,
    "age_out": True,
    "restart_memory": True,
}
AT_DRIFT: dict[str, Any] = {"fresh_sample": True, "trigger": "oracle"}

ESTIMATE_CONFIGS = {
    c.name: c
    for c in [
        Config("default", crossfit=("random4", "random10", "all10")),
        # Half the random draws after the warm-up are audits: 10% of labels are not learned.
        Config("default+audit10", audit=0.5),
        # Exploration takes the newest sampled item, and the drift responses are on: what they
        # cost a stationary stream (label efficiency, the estimate, false alarms).
        Config("default+fresh+responses", fresh_sample=True, crossfit=("random10",), **RESPONSES),
    ]
}

DRIFT_CONFIGS = {
    c.name: c
    for c in [
        Config("random", strategy="random"),
        Config("default (today)", crossfit=("random10",)),
        Config("default, rehearsal 0", rehearsal=0),
        Config("fresh sample", fresh_sample=True),
        # Each response alone, then all three, at the true drift: what each is worth.
        Config("at drift: explore 0.5 x100", boost=0.5, **AT_DRIFT),
        Config("at drift: age out queue", age_out=True, **AT_DRIFT),
        Config("at drift: restart memory", restart_memory=True, **AT_DRIFT),
        Config("at drift: all three", **(RESPONSES | AT_DRIFT)),
        # ... when the detection comes late.
        Config("50 late: all three", trigger_delay=50, **(RESPONSES | AT_DRIFT)),
        Config("100 late: all three", trigger_delay=100, **(RESPONSES | AT_DRIFT)),
        # The loop on its own: the two-stage test triggers them.
        Config("two-stage: all three", fresh_sample=True, crossfit=("random10",), **RESPONSES),
    ]
}


def _job(args: tuple) -> dict[str, Any]:
    stream_name, seed, config, budget, per_label, drift_at = args
    stream = STREAMS.get(stream_name) or DRIFT_STREAMS[stream_name]
    started = time.perf_counter()
    run = simulate(stream, seed, config, budget, per_label, drift_at)
    run["seconds"] = round(time.perf_counter() - started, 2)
    return run


# -- summaries ------------------------------------------------------------------------------


def score_estimates(runs: list[dict], drift_at: int | None = None) -> dict[str, dict[str, Any]]:
    """Per estimator: MAE, bias, coverage, mean width, over every checkpoint of the runs."""
    rows: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for point in run["checkpoints"]:
            if "estimates" not in point:
                continue
            if drift_at is not None and point["labels"] <= drift_at:
                continue
            for name, (value, low, high, samples) in point["estimates"].items():
                r = rows.setdefault(name, {"err": [], "cov": [], "width": [], "n": []})
                r["err"].append(value - point["truth"])
                r["cov"].append(float(low <= point["truth"] <= high))
                r["width"].append(high - low)
                r["n"].append(samples)
    # The floor: a fresh random sample as large as the random draws, scored by the current
    # model (what a perfect audit of that size would do): its expected error, not a run.
    floor: dict[str, list[float]] = {"err": [], "cov": [], "width": [], "n": []}
    for run in runs:
        for point in run["checkpoints"]:
            if "random_draws" not in point or (
                drift_at is not None and point["labels"] <= drift_at
            ):
                continue
            t, n = point["truth"], max(1, point["random_draws"])
            floor["err"].append(math.sqrt(2 / math.pi * t * (1 - t) / n))
            floor["width"].append(2 * est.Z_95 * math.sqrt(t * (1 - t) / n))
            floor["n"].append(n)
    summary = {
        name: {
            "mae": statistics.fmean(abs(e) for e in r["err"]),
            "bias": statistics.fmean(r["err"]),
            "coverage": statistics.fmean(r["cov"]),
            "width": statistics.fmean(r["width"]),
            "samples": statistics.fmean(r["n"]),
            "checkpoints": len(r["err"]),
            "worst_abs_error": max(abs(e) for e in r["err"]),
        }
        for name, r in rows.items()
    }
    if floor["err"]:
        summary[FLOOR] = {
            "mae": statistics.fmean(floor["err"]),
            "bias": 0.0,
            "coverage": 0.95,
            "width": statistics.fmean(floor["width"]),
            "samples": statistics.fmean(floor["n"]),
            "checkpoints": len(floor["err"]),
            "worst_abs_error": None,
        }
    return summary


def mean_curve(runs: list[dict]) -> list[float]:
    return [
        statistics.fmean(c)
        for c in zip(*[[p["truth"] for p in r["checkpoints"]] for r in runs], strict=True)
    ]


def labels_to_recover(curve: list[float], drift_at: int, tolerance: float = 0.05) -> int | None:
    """Labels after the drift from which the curve stays within ``tolerance`` of its
    pre-drift accuracy (checkpoint resolution, 25 labels)."""
    pre = curve[drift_at // STEP - 1]
    after = curve[drift_at // STEP :]
    first = len(after)
    while first > 0 and after[first - 1] >= pre - tolerance:
        first -= 1
    return None if first == len(after) else (first + 1) * STEP


def detector_row(stationary: list[list[int]], drifting: list[list[int]], drift_at: int) -> dict:
    """False alarms and delays of one detector: its alarm labels in each run."""
    delays = []
    for alarms in drifting:
        after = [a - drift_at for a in alarms if a > drift_at]
        delays.append(after[0] if after else None)
    found = [d for d in delays if d is not None]
    return {
        "stationary_runs_with_alarm": sum(1 for a in stationary if a),
        "stationary_alarms": sum(len(a) for a in stationary),
        "stationary_runs": len(stationary),
        "drift_runs_alarm_before_drift": sum(1 for a in drifting if any(x <= drift_at for x in a)),
        "drift_runs": len(drifting),
        "detected": len(found),
        "detected_within_100": sum(1 for d in found if d <= 100),
        "median_delay": statistics.median(found) if found else None,
        "delays": delays,
    }


def detector_table(
    stationary: list[dict],
    drifting: list[dict],
    drift_at: int,
    key: Callable[[dict], list[int]] | None = None,
) -> dict[str, Any]:
    if key is not None:
        return {
            "": detector_row([key(r) for r in stationary], [key(r) for r in drifting], drift_at)
        }
    return {
        name: detector_row(
            [r["alarms"][name] for r in stationary], [r["alarms"][name] for r in drifting], drift_at
        )
        for name in stationary[0]["alarms"]
    }


def detector_lines(table: dict[str, Any]) -> list[str]:
    lines = [
        "| detector/feed | stationary runs with an alarm | alarms before the drift | detected "
        "| within 100 labels | median delay | delays |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, d in table.items():
        delays = " ".join("-" if x is None else str(x) for x in d["delays"])
        lines.append(
            f"| {name} | {d['stationary_runs_with_alarm']}/{d['stationary_runs']} | "
            f"{d['drift_runs_alarm_before_drift']}/{d['drift_runs']} | "
            f"{d['detected']}/{d['drift_runs']} | {d['detected_within_100']}/{d['drift_runs']} | "
            f"{fmt(d['median_delay'], '.0f')} | {delays} |"
        )
    return lines


def phase_report(runs_by_stream: dict[str, list[dict]], names: list[str]) -> str:
    """MAE early (50-175 labels) and late (200-400), per stream, with the floor."""
    lines = []
    for label, low, high in [("labels 50-175", 50, 175), ("labels 200-400", 200, 400)]:
        streams = list(runs_by_stream)
        lines += [
            f"\n### mean absolute error, {label}\n",
            "| estimator | " + " | ".join(streams) + " | mean |",
            "|---|" + "---:|" * (len(streams) + 1),
        ]
        for name in names:
            cells = []
            for stream in streams:
                errors = []
                for run in runs_by_stream[stream]:
                    for p in run["checkpoints"]:
                        if "estimates" not in p or not low <= p["labels"] <= high:
                            continue
                        if name == FLOOR:
                            t, n = p["truth"], max(1, p["random_draws"])
                            errors.append(math.sqrt(2 / math.pi * t * (1 - t) / n))
                        elif name in p["estimates"]:
                            errors.append(abs(p["estimates"][name][0] - p["truth"]))
                cells.append(statistics.fmean(errors) if errors else None)
            known = [c for c in cells if c is not None]
            mean = statistics.fmean(known) if len(known) == len(cells) else None
            lines.append(f"| {name} | " + " | ".join(fmt(c) for c in cells) + f" | {fmt(mean)} |")
    return "\n".join(lines)


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def estimate_report(by_stream: dict[str, dict[str, Any]], names: list[str]) -> str:
    lines = []
    for metric, label, spec in [
        ("mae", "mean absolute error", ".3f"),
        ("bias", "bias (estimate - truth)", "+.3f"),
        ("coverage", "95% interval coverage", ".0%"),
        ("width", "mean interval width", ".3f"),
    ]:
        streams = list(by_stream)
        lines += [
            f"\n### {label}\n",
            "| estimator | " + " | ".join(streams) + " | mean |",
            "|---|" + "---:|" * (len(streams) + 1),
        ]
        for name in names:
            cells = [by_stream[s].get(name, {}).get(metric) for s in streams]
            known = [c for c in cells if c is not None]
            mean = statistics.fmean(known) if len(known) == len(cells) else None
            lines.append(
                f"| {name} | " + " | ".join(fmt(c, spec) for c in cells) + f" | {fmt(mean, spec)} |"
            )
    return "\n".join(lines)


DRIFT_STYLE: dict[str, dict[str, Any]] = {
    "random": {"color": "black", "linewidth": 2.5},
    "default (today)": {"color": "tab:red", "linewidth": 2.5},
    "at drift: all three": {"color": "tab:green", "linewidth": 2.5},
    "100 late: all three": {"color": "tab:green", "linewidth": 1.5, "linestyle": "--"},
    "two-stage: all three": {"color": "tab:blue", "linewidth": 2.5, "linestyle": ":"},
}


def plot(estimate_runs: dict, drift_runs: dict, chosen: list[str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    streams = list(estimate_runs)
    fig, axes = plt.subplots(1, len(streams), figsize=(4.2 * len(streams), 3.8), sharey=False)
    for ax, stream in zip(np.atleast_1d(axes), streams, strict=True):
        runs = estimate_runs[stream]["default"]
        points = [[p for p in r["checkpoints"] if "estimates" in p] for r in runs]
        xs = [p["labels"] for p in points[0]]
        truth = [statistics.fmean(run[i]["truth"] for run in points) for i in range(len(xs))]
        ax.plot(xs, truth, color="black", linewidth=2.5, label="truth (held-out)")
        for name, color in zip(
            chosen, ["tab:red", "tab:blue", "tab:green", "tab:orange"], strict=False
        ):
            values = [
                statistics.fmean(run[i]["estimates"][name][0] for run in points)
                for i in range(len(xs))
            ]
            lows = [
                statistics.fmean(run[i]["estimates"][name][1] for run in points)
                for i in range(len(xs))
            ]
            highs = [
                statistics.fmean(run[i]["estimates"][name][2] for run in points)
                for i in range(len(xs))
            ]
            ax.plot(xs, values, color=color, label=name)
            ax.fill_between(xs, lows, highs, color=color, alpha=0.12)
        ax.set_title(stream, fontsize=10)
        ax.set_xlabel("labels")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("accuracy (mean over seeds)")
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = RESULTS / "estimate_study-estimates.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
    if drift_runs:
        streams = list(drift_runs)
        fig, axes = plt.subplots(1, len(streams), figsize=(6.5 * len(streams), 4.2))
        for ax, stream in zip(np.atleast_1d(axes), streams, strict=True):
            for name, runs in drift_runs[stream].items():
                curve = mean_curve(runs)
                xs = [(i + 1) * STEP for i in range(len(curve))]
                ax.plot(xs, curve, label=name, **DRIFT_STYLE.get(name, {"linewidth": 1.0}))
            ax.axvline(DRIFT_AT, color="grey", linestyle=":")
            ax.set_title(f"{stream}: held-out accuracy (drift at {DRIFT_AT})", fontsize=10)
            ax.set_xlabel("labels")
            ax.grid(alpha=0.3)
        np.atleast_1d(axes)[-1].legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = RESULTS / "estimate_study-drift.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


FLOOR = "floor: as many fresh labels as random draws"
HEADLINE = [
    FLOOR,
    "today (random draws, EW, Wilson)",
    "self: mean confidence now",
    "self: mean confidence at arrival",
    "ppi: random draws, all",
    "ppi: random draws, half-life 20",
    "ppi: random draws, half-life 40",
    "ppi: random draws, last 30",
    "ppi++: random draws, power-tuned",
    "ppi: random draws, conf at arrival",
    "ppi: every label (routed too)",
    "binned ppi: random draws",
    "binned ppi: every label, half-life 100",
    "binned ppi: every label, all",
    "re-scored draws: hits (learned them)",
    "ppi: re-scored draws (learned them)",
    "cross-fit random4: hits",
    "cross-fit random4: ppi",
    "cross-fit random4: binned ppi",
    "cross-fit random10: hits",
    "cross-fit random10: ppi",
    "cross-fit random10: binned ppi",
    "cross-fit random10: binned ppi, 3 bins",
    "cross-fit random10: binned ppi, min 20",
    "cross-fit all10: hits on random draws",
    "cross-fit all10: binned ppi, every label",
    "cross-fit all10: binned ppi, random draws",
]
AUDIT = [
    "audit: current model's hits",
    "ppi: audit, current model",
    "ppi: random draws, half-life 40",
    "binned ppi: every label, half-life 100",
]
PHASES = [
    FLOOR,
    "today (random draws, EW, Wilson)",
    "ppi: random draws, half-life 20",
    "re-scored draws: hits (learned them)",
    "cross-fit random4: binned ppi",
    "cross-fit random10: binned ppi, min 20",
    "cross-fit all10: binned ppi, random draws",
]
FRESH = [
    "today (random draws, EW, Wilson)",
    "ppi: random draws, half-life 20",
    "cross-fit random10: binned ppi, min 20",
    "cross-fit random10: binned ppi, min 20, restarted at alarm",
]
PLOTTED = [
    "today (random draws, EW, Wilson)",
    "self: mean confidence now",
    "ppi: random draws, half-life 20",
    "cross-fit random10: binned ppi, min 20",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", nargs="+", choices=["estimate", "drift"], default=["estimate", "drift"]
    )
    parser.add_argument("--streams", nargs="+", default=list(STREAMS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--drift-budget", type=int, default=550)
    parser.add_argument("--events-per-label", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--raw", action="store_true", help="also keep every checkpoint of every run (megabytes)"
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    jobs = []
    if "estimate" in args.parts:
        for stream in args.streams:
            for seed in range(args.seeds):
                for config in ESTIMATE_CONFIGS.values():
                    jobs.append((stream, seed, config, args.budget, args.events_per_label, None))
    if "drift" in args.parts:
        for stream in DRIFT_STREAMS:
            for seed in range(args.seeds):
                for config in DRIFT_CONFIGS.values():
                    jobs.append(
                        (stream, seed, config, args.drift_budget, args.events_per_label, DRIFT_AT)
                    )
    # The slowest first, so the two workers finish together.
    jobs.sort(key=lambda j: ("nb" not in j[0], "tree" not in j[0], -j[3]))
    with Pool(args.workers) as pool:
        runs = pool.map(_job, jobs, chunksize=1)
    estimate_runs: dict[str, dict[str, list]] = {}
    drift_runs: dict[str, dict[str, list]] = {}
    for run in runs:
        target = drift_runs if run["stream"] in DRIFT_STREAMS else estimate_runs
        target.setdefault(run["stream"], {}).setdefault(run["config"], []).append(run)
    out: dict[str, Any] = {
        "meta": {
            "command": " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
            "seeds": list(range(args.seeds)),
            "budget": args.budget,
            "events_per_label": args.events_per_label,
            "window": WINDOW,
            "holdout": HOLDOUT,
            "streams": {
                s: {"preset": STREAMS[s].preset, "kind": STREAMS[s].kind} for s in estimate_runs
            },
            "machine": (
                f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
            ),
        }
    }
    text = [f"# estimate_study ({out['meta']['command']})"]
    if estimate_runs:
        by_stream = {s: score_estimates(v["default"]) for s, v in estimate_runs.items()}
        audit_scores = {s: score_estimates(v["default+audit10"]) for s, v in estimate_runs.items()}
        out["estimates"] = by_stream
        out["estimates_audit_runs"] = audit_scores
        text.append(
            f"\n## Estimators, default policy, checkpoints every {STEP} labels from "
            f"{FIRST_CHECKPOINT} to {args.budget}, {args.seeds} seeds"
        )
        text.append(estimate_report(by_stream, HEADLINE))
        text.append("\n## The same, early and late")
        text.append(phase_report({s: v["default"] for s, v in estimate_runs.items()}, PHASES))
        text.append(
            "\n## Runs with an audit share (half the random draws after the warm-up, "
            "10% of labels, not learned)"
        )
        text.append(estimate_report(audit_scores, AUDIT))
        fresh_scores = {
            s: score_estimates(v["default+fresh+responses"]) for s, v in estimate_runs.items()
        }
        out["estimates_fresh_responses_runs"] = fresh_scores
        text.append("\n## Runs with a fresh sample and the drift responses on (stationary streams)")
        text.append(estimate_report(fresh_scores, FRESH))
        cost: dict[str, Any] = {}
        for s, v in estimate_runs.items():
            base = mean_curve(v["default"])
            cost[s] = {"default": {"mean": statistics.fmean(base[1:]), "final": base[-1]}}
            for name in ("default+audit10", "default+fresh+responses"):
                curve = mean_curve(v[name])
                cost[s][name] = {
                    "mean": statistics.fmean(curve[1:]),
                    "final": curve[-1],
                    "mean_gap_to_default": statistics.fmean(
                        c - b for c, b in zip(curve[1:], base[1:], strict=True)
                    ),
                    "labels_audited": statistics.fmean(r["audited"] for r in v[name]),
                    "runs_with_warning": sum(1 for r in v[name] if r["warnings"]),
                    "runs_with_drift_alarm": sum(1 for r in v[name] if r["drift_alarms"]),
                }
        out["stationary_cost"] = cost
        text.append(
            "\n### What they cost learning on stationary streams (held-out accuracy, mean over "
            "seeds; 'mean' over checkpoints 50..400; same seeds as default)\n"
        )
        text.append(
            "| stream | default mean / final | audit10 mean / final (gap) | fresh+responses mean / "
            "final (gap) | runs warned / drift-alarmed |"
        )
        text.append("|---|---:|---:|---:|---:|")
        for s, c in cost.items():
            a, f = c["default+audit10"], c["default+fresh+responses"]
            text.append(
                f"| {s} | {c['default']['mean']:.3f} / {c['default']['final']:.3f} | "
                f"{a['mean']:.3f} / {a['final']:.3f} ({a['mean_gap_to_default']:+.3f}) | "
                f"{f['mean']:.3f} / {f['final']:.3f} ({f['mean_gap_to_default']:+.3f}) | "
                f"{f['runs_with_warning']} / {f['runs_with_drift_alarm']} "
                f"of {len(estimate_runs[s]['default'])} |"
            )
    if drift_runs and estimate_runs:
        stationary = [r for v in estimate_runs.values() for r in v["default"]]
        detectors: dict[str, Any] = {}
        for sample in ("default (today)", "fresh sample"):
            drifting = [r for v in drift_runs.values() for r in v[sample]]
            for name, row in detector_table(stationary, drifting, DRIFT_AT).items():
                detectors[f"{name} [{sample}]"] = row
        live_stationary = [r for v in estimate_runs.values() for r in v["default+fresh+responses"]]
        for sample, runs_name, stat in [
            ("passive, fresh sample", "fresh sample", stationary),
            ("live: warnings explore more", "two-stage: all three", live_stationary),
        ]:
            drifting = [r for v in drift_runs.values() for r in v[runs_name]]
            for kind in ("warnings", "drift_alarms"):
                row = detector_table(stat, drifting, DRIFT_AT, key=lambda r, k=kind: r[k])[""]
                detectors[f"two-stage {kind.replace('_alarms', '')} [{sample}]"] = row
        out["detectors"] = detectors
        text.append(
            f"\n## Drift detectors: {len(stationary)} stationary runs (default policy), "
            f"{len(drifting)} drift runs (drift after {DRIFT_AT} labels)\n"
        )
        shown = {
            k: v
            for k, v in sorted(
                detectors.items(),
                key=lambda kv: (
                    not kv[0].startswith("two-stage"),
                    kv[1]["stationary_runs_with_alarm"] > 0,
                    -kv[1]["detected_within_100"],
                ),
            )
            if k.startswith("two-stage")
            or v["detected"]
            or v["stationary_runs_with_alarm"]
            or k.split("/")[0] in ("ADWIN(d=0.002)", "DDM", "HDDM_A", "HDDM_W")
        }
        text += detector_lines(shown)
    if drift_runs:
        recovery = {}
        text.append(
            "\n## Drift responses (trigger: the two-stage test); labels after the drift to come "
            "back within 5 points of the pre-drift accuracy (mean curve; per run in the JSON)\n"
        )
        streams = list(drift_runs)
        text.append("| policy | " + " | ".join(f"{s} recover | {s} final" for s in streams) + " |")
        text.append("|---|" + "---:|---:|" * len(streams))
        for name in DRIFT_CONFIGS:
            cells = []
            for s in streams:
                curve = mean_curve(drift_runs[s][name])
                rec = labels_to_recover(curve, DRIFT_AT)
                per_run = [
                    labels_to_recover([p["truth"] for p in r["checkpoints"]], DRIFT_AT)
                    for r in drift_runs[s][name]
                ]
                recovery.setdefault(s, {})[name] = {
                    "labels_to_recover": rec,
                    "per_run": per_run,
                    "pre_drift": curve[DRIFT_AT // STEP - 1],
                    "final": curve[-1],
                    "curve": curve,
                    "triggers": [r["triggers"] for r in drift_runs[s][name]],
                    "warnings": [r["warnings"] for r in drift_runs[s][name]],
                }
                cells += [fmt(rec, "d") if rec is not None else "never", f"{curve[-1]:.3f}"]
            text.append(f"| {name} | " + " | ".join(cells) + " |")
        out["drift_recovery"] = recovery
        drift_est = {
            s: score_estimates(v["two-stage: all three"], DRIFT_AT) for s, v in drift_runs.items()
        }
        drift_est_today = {
            s: score_estimates(v["default (today)"], DRIFT_AT) for s, v in drift_runs.items()
        }
        out["estimates_after_drift"] = {"+all three": drift_est, "default (today)": drift_est_today}
        text.append("\n## Estimators after the drift (checkpoints after label 150)")
        names = [
            "today (random draws, EW, Wilson)",
            "self: mean confidence now",
            "ppi: random draws, half-life 20",
            "cross-fit random10: binned ppi, min 20",
            "cross-fit random10: binned ppi, min 20, restarted at alarm",
        ]
        text.append("\n### default policy, no response")
        text.append(estimate_report(drift_est_today, names))
        text.append(
            "\n### fresh sample, the two-stage test and the responses (two-stage: all three)"
        )
        text.append(estimate_report(drift_est, names))
    out["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    text.append(f"\n{out['meta']['seconds']} s, {out['meta']['machine']}")
    if args.raw:
        out["runs"] = {"estimate": estimate_runs, "drift": drift_runs}
    (RESULTS / "estimate_study.json").write_text(json.dumps(out, indent=None, default=str))
    (RESULTS / "estimate_study.txt").write_text("\n".join(text) + "\n")
    if estimate_runs:
        plot(estimate_runs, drift_runs, PLOTTED)
    print("\n".join(text))


if __name__ == "__main__":
    main()
