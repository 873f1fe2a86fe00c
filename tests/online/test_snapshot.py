"""Snapshot pickles: equal state, equal bytes, whatever the identity or hash order."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from typing import Any

import pytest
from river import proba

from streamloop.online import INPUT_KINDS, PRESETS, OnlineModel
from streamloop.online.snapshot import dumps, loads


def test_sets_are_written_in_one_order_whatever_their_history() -> None:
    # 0 and 8 share a slot in a small set, so insertion order decides iteration order.
    first, second = {0, 8}, {8, 0}
    assert list(first) != list(second)
    assert pickle.dumps(first) != pickle.dumps(second)

    assert dumps(first) == dumps(second)
    assert loads(dumps(first)) == {0, 8}
    assert type(loads(dumps(frozenset(first)))) is frozenset


def test_equal_strings_give_equal_bytes_however_they_are_shared() -> None:
    name = "".join(["col", "our"])
    shared = {"colour": 1, "again": "colour"}
    separate = {name: 1, "again": "colour"}
    assert pickle.dumps(shared) != pickle.dumps(separate)

    assert dumps(shared) == dumps(separate)


def test_shared_objects_stay_shared() -> None:
    classes = {"spam", "ham"}
    gaussian = proba.Gaussian()

    left, right, first, second = loads(dumps([classes, classes, gaussian, gaussian]))

    assert left is right
    assert first is second


def test_unseeded_distributions_lose_their_random_state() -> None:
    a, b = proba.Gaussian(), proba.Gaussian()
    for value in (1.0, 2.0, 4.0):
        a.update(value)
        b.update(value)
    assert pickle.dumps(a) != pickle.dumps(b)

    assert dumps(a) == dumps(b)
    restored = loads(dumps(a))
    assert (restored.mu, restored.sigma) == (a.mu, a.sigma)
    assert isinstance(restored.sample(), float)


def test_seeded_distributions_keep_their_random_state() -> None:
    gaussian = proba.Gaussian(seed=3)
    gaussian.update(1.0)
    gaussian.update(2.0)

    restored = loads(dumps(gaussian))

    assert [restored.sample() for _ in range(3)] == [gaussian.sample() for _ in range(3)]


_CHILD = """
import hashlib, json, sys
from streamloop.online import OnlineModel
request = json.load(sys.stdin)
digests = {}
for case in request["cases"]:
    model = OnlineModel(
        labels=request["labels"], input_kind=case[1], preset=case[0], strategy="margin"
    )
    for data, label in request["items"][case[1]]:
        model.learn(data, label)
    digests["/".join(case)] = hashlib.sha256(model.snapshot()).hexdigest()
json.dump(digests, sys.stdout)
"""


@pytest.mark.slow
def test_snapshots_are_equal_across_processes(make_items: Any) -> None:
    labels = ["spam", "ham", "eggs"]
    request: dict[str, Any] = {
        "labels": labels,
        "cases": [[preset, kind] for preset in PRESETS for kind in INPUT_KINDS],
        "items": {kind: make_items(kind, labels, 80) for kind in INPUT_KINDS},
    }
    digests = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _CHILD],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONHASHSEED": hash_seed},
            ).stdout
        )
        for hash_seed in ("1", "2")
    ]

    assert digests[0] == digests[1]
    assert len(digests[0]) == len(PRESETS) * len(INPUT_KINDS)
    for preset, kind in request["cases"]:
        model = OnlineModel(labels=labels, input_kind=kind, preset=preset, strategy="margin")
        for data, label in request["items"][kind]:
            model.learn(data, label)
        assert hashlib.sha256(model.snapshot()).hexdigest() == digests[0][f"{preset}/{kind}"]
