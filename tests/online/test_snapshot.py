"""Snapshot pickles: equal state, equal bytes, whatever the identity or hash order."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import struct
import subprocess
import sys
from collections import Counter
from typing import Any

import numpy as np
import pytest
from river import proba

from streamloop.online import INPUT_KINDS, PRESETS, OnlineModel
from streamloop.online.snapshot import _CanonicalPickler, dumps, loads


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


def test_rows_of_floats_come_back_exactly_in_order_and_shared() -> None:
    fields = [f"f{n}" for n in range(9, -1, -1)]  # not sorted: the order must come back
    row = dict(
        zip(
            fields,
            [0.1, -0.0, math.inf, -math.inf, math.nan, 1e-308, 5e-324, 2.5, 1.0, -7.0],
            strict=True,
        )
    )
    other = {name: float(n) for n, name in enumerate(fields)}
    blob = dumps({"memory": [row, other], "held": [row]})

    back = loads(blob)

    first, second = back["memory"]
    assert list(first) == fields and list(second) == fields
    assert all(type(value) is float for value in first.values())
    assert [struct.pack("<d", value) for value in first.values()] == [
        struct.pack("<d", value) for value in row.values()
    ]  # bit for bit: the NaN, the signed zero, the smallest subnormal
    assert second == other
    assert back["held"][0] is first
    assert dumps(back) == blob
    # Written as its fields and one block of doubles: a few calls of the pickler's hook,
    # not two a field (which made a thousand rehearsal rows take tens of milliseconds).
    calls = Counter()

    class Counting(_CanonicalPickler):
        def persistent_id(self, obj: Any) -> Any:
            calls[type(obj)] += 1
            return super().persistent_id(obj)

    wide = {f"f{n}": float(n) for n in range(64)}
    Counting(io.BytesIO()).dump([wide, dict(wide)])
    assert calls[float] == 0 and calls[str] <= 64 + 2


def test_dicts_with_anything_but_floats_are_written_as_dicts() -> None:
    fields = [f"f{n}" for n in range(10)]
    mixed = [
        {**dict.fromkeys(fields, 1.5), "f3": 1},  # an int stays an int
        {**dict.fromkeys(fields, 1.5), "f3": True},
        {**dict.fromkeys(fields, 1.5), "f3": np.float64(1.5)},  # a subclass keeps its type
        {**dict.fromkeys(fields, 1.5), "f3": None},
        dict.fromkeys(fields[:7], 1.5),  # too few to gain
        dict.fromkeys(range(9), 1.5),  # keys equal to the next ones: 1 == 1.0
        dict.fromkeys(map(float, range(9)), 1.5),
    ]

    back = loads(dumps(mixed))

    assert back == mixed
    for came, went in zip(back, mixed, strict=True):
        assert [type(value) for value in came.values()] == [type(v) for v in went.values()]
        assert [type(key) for key in came] == [type(key) for key in went]


def test_a_model_with_rows_of_floats_snapshots_equal_to_itself_restored() -> None:
    model = OnlineModel(
        labels=["spam", "ham"],
        input_kind="tabular",
        preset="logistic_regression",
        strategy="margin",
    )
    for n in range(60):
        model.learn({f"x{k}": math.sin(n * k) for k in range(12)}, ["spam", "ham"][n % 2])

    blob = model.snapshot()
    restored = OnlineModel.restore(blob)

    assert restored.snapshot() == blob
    probe = {f"x{k}": math.cos(k) for k in range(12)}
    assert restored.predict(probe) == model.predict(probe)


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


def test_a_snapshot_with_a_kind_of_object_this_version_does_not_know_is_refused() -> None:
    class Newer(_CanonicalPickler):
        def persistent_id(self, obj: Any) -> Any:
            return (99, 0, ("what", "a", "set", "was")) if obj == "marked" else None

    buffer = io.BytesIO()
    Newer(buffer).dump(["marked"])

    with pytest.raises(pickle.UnpicklingError, match="unknown"):
        loads(buffer.getvalue())
