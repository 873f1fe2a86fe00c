"""The tabular vocabulary bound: what a model keeps of fields and string values, and the rest."""

from __future__ import annotations

import json
import pickle
import zlib
from typing import Any

import numpy as np
import pytest

from streamloop.online import PRESETS, OnlineModel
from streamloop.online import model as model_module
from streamloop.online.features import (
    HASHED_BUCKETS,
    HASHED_PREFIX,
    MAX_FEATURES,
    MAX_VALUES,
    BoundedVocabulary,
)
from streamloop.online.linear import LinearScorer, linear_scorer
from streamloop.online.model import SHADOWS

LABELS = ("spam", "ham", "eggs")
#: Every feature a tabular model can ever learn: kept fields and values, and the buckets.
FEATURE_BOUND = MAX_FEATURES + 2 * HASHED_BUCKETS
WIDE_FIELDS = 2_000


def _wide_event(n: int) -> dict[str, Any]:
    # Every event brings thousands of fields and values no other event has: the shape of the
    # issue's 40,000-field events (fewer fields per event, as validation now caps them).
    strings = {f"s{n}_{i}": f"value{n}_{i}" for i in range(WIDE_FIELDS // 2)}
    numbers = {f"n{n}_{i}": float(i % 7) for i in range(WIDE_FIELDS // 2)}
    return {"shared": f"id{n}"} | strings | numbers


def _model(preset: str) -> OnlineModel:
    return OnlineModel(labels=LABELS, input_kind="tabular", preset=preset, strategy="margin")


@pytest.mark.parametrize("preset", PRESETS)
def test_events_with_thousands_of_new_fields_leave_the_model_bounded(preset: str) -> None:
    model = _model(preset)
    seen: set[Any] = set()
    sizes = {}
    for n in range(30):
        event = _wide_event(n)
        model.learn(event, LABELS[n % 3])
        # What the classifier learned from this label: the work of learning it.
        features = model.features(event)
        assert len(features) <= FEATURE_BOUND
        seen.update(features)
        if n in (9, 29):
            sizes[n] = len(model.snapshot())

    assert len(seen) <= FEATURE_BOUND
    # Once the first labels have filled the vocabulary, new fields no longer grow the model.
    # Unbounded, each label here added 40 (forest) to 390 (tree) KiB to the snapshot; bounded,
    # only a forest grows a little, by the trees it starts in the background.
    # The snapshot holds the model and its SHADOWS (the accuracy estimate's), each bounded.
    assert sizes[29] - sizes[9] < (1 + SHADOWS) * 64 * 1024, sizes
    assert sizes[29] < (1 + SHADOWS) * 320 * 1024, sizes


def test_what_a_model_keeps_is_bounded_by_number_fields_and_string_values_together() -> None:
    vocabulary = BoundedVocabulary()
    for n in range(10):
        vocabulary.learn_one(_wide_event(n))

    assert vocabulary.kept == MAX_FEATURES
    values = sum(map(len, vocabulary.strings.values()))
    assert vocabulary.kept == len(vocabulary.numbers) + values
    # The first event's fields, in its order, until the budget ran out.
    assert list(vocabulary.strings) == list(_wide_event(0))[:MAX_FEATURES]


def test_a_string_field_keeps_at_most_its_share_of_values() -> None:
    vocabulary = BoundedVocabulary()
    for n in range(MAX_VALUES * 3):
        vocabulary.learn_one({"user": f"u{n}", "colour": ("red", "blue")[n % 2]})

    assert list(vocabulary.strings["user"]) == [f"u{n}" for n in range(MAX_VALUES)]
    assert list(vocabulary.strings["colour"]) == ["red", "blue"]
    out = vocabulary.transform_one({"user": f"u{MAX_VALUES}", "colour": "red"})
    assert out["colour"] == "red"
    assert "user" not in out
    folded = _crc("user\0u" + str(MAX_VALUES))
    assert list(out) == [f"{HASHED_PREFIX}string_{folded}", "colour"]


def _crc(text: str) -> int:
    return zlib.crc32(text.encode()) % HASHED_BUCKETS


def test_buckets_are_fixed_across_processes() -> None:
    # CRC-32 of the UTF-8 text, not hash(), so this holds under any PYTHONHASHSEED.
    vocabulary = BoundedVocabulary(max_features=0, buckets=64)

    out = vocabulary.transform_one({"colour": "red", "size": 2.0, "weight": 3.0})

    assert zlib.crc32(b"colour\0red") % 64 == 8
    assert (zlib.crc32(b"size") % 64, zlib.crc32(b"weight") % 64) == (42, 1)
    assert out == {
        "~hashed:string_8": 1.0,
        "~hashed:number_42": 2.0,
        "~hashed:number_1": 3.0,
    }


def test_folded_numbers_add_up_and_folded_strings_count() -> None:
    vocabulary = BoundedVocabulary(max_features=0, buckets=1)

    out = vocabulary.transform_one({"a": 2.0, "b": True, "c": "x", "d": "y"})

    assert out == {"~hashed:number_0": 3.0, "~hashed:string_0": 2.0}


def test_fields_named_like_buckets_are_always_folded() -> None:
    vocabulary = BoundedVocabulary(buckets=1)
    event = {f"{HASHED_PREFIX}number_0": 5.0, "x": 1.0}
    vocabulary.learn_one(event)

    assert (vocabulary.numbers, vocabulary.strings) == ({"x": None}, {})
    assert vocabulary.transform_one(event) == {"~hashed:number_0": 5.0, "x": 1.0}


def test_while_there_is_room_unlearned_fields_and_values_pass_as_they_are() -> None:
    vocabulary = BoundedVocabulary(max_features=2, max_values=2)
    vocabulary.learn_one({"colour": "red"})
    event = {"colour": "blue", "size": 2.0, "shape": "round"}

    assert vocabulary.transform_one(event) == event
    vocabulary.learn_one(event)  # red, blue: full
    assert vocabulary.transform_one(event) == {
        "colour": "blue",
        f"{HASHED_PREFIX}number_{_crc('size')}": 2.0,
        f"{HASHED_PREFIX}string_{_crc(chr(0).join(['shape', 'round']))}": 1.0,
    }


def test_scoring_never_changes_what_is_kept() -> None:
    vocabulary = BoundedVocabulary(max_features=4, max_values=2)
    vocabulary.learn_one({"colour": "red", "size": 1.0})
    before = pickle.dumps(vocabulary)

    vocabulary.transform_one({"colour": "blue", "new": "x", "other": 2.0})

    assert pickle.dumps(vocabulary) == before


def test_a_lone_surrogate_is_folded_too() -> None:
    vocabulary = BoundedVocabulary(max_features=0)

    out = vocabulary.transform_one({"text\ud800": "\udfff"})

    assert list(out.values()) == [1.0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_features": -1}, "must not be negative"),
        ({"max_values": -1}, "must not be negative"),
        ({"buckets": 0}, "at least 1"),
    ],
)
def test_bad_bounds_are_refused(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BoundedVocabulary(**arguments)


def test_a_full_vocabulary_scores_a_batch_as_one_at_a_time(
    make_items: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model("logistic_regression")
    items = make_items("tabular", LABELS, 200, seed=3)
    for n, (data, label) in enumerate(items):
        # An identifier with more values than a field keeps, and then events that fill the
        # vocabulary: scoring goes through every kind of bucket.
        model.learn(data | {"user": f"u{n}"}, label)
    for n in range(3):
        model.learn(_wide_event(n), LABELS[n])
    vocabulary = model._pipeline.steps["TabularFront"].vocabulary  # type: ignore[attr-defined]
    assert vocabulary.kept == MAX_FEATURES
    rows = [
        dict(data) | {"user": f"u{n * 7}", "unseen": float(n), "unseen_text": f"t{n % 3}"}
        for n, (data, _) in enumerate(make_items("tabular", LABELS, 40, seed=4))
    ]
    before = model.snapshot()
    batches = []

    def spy(pipeline: Any) -> LinearScorer | None:
        scorer = linear_scorer(pipeline)
        batches.append(scorer is not None)
        return scorer

    monkeypatch.setattr(model_module, "linear_scorer", spy)

    many = model.predict_many(rows)

    assert batches == [True], "the batch path was not taken"
    ones = [model.predict(row) for row in rows]
    assert [p.label for p in many] == [p.label for p in ones]
    for batch, one in zip(many, ones, strict=True):
        assert list(batch.probabilities.values()) == pytest.approx(
            list(one.probabilities.values()), abs=1e-12
        )
    assert model.snapshot() == before


def test_replaying_labels_past_the_bound_gives_identical_bytes() -> None:
    events = [(_wide_event(n) | {"user": f"u{n}"}, LABELS[n % 3]) for n in range(8)]
    for preset in PRESETS:
        first, second = _model(preset), _model(preset)
        for data, label in events:
            first.learn(data, label)
        for data, label in json.loads(json.dumps(events)):
            second.learn(data, label)

        assert first.snapshot() == second.snapshot(), preset
        restored = OnlineModel.restore(first.snapshot())
        assert restored.snapshot() == first.snapshot()
        probabilities = [restored.predict(data).probabilities for data, _ in events]
        assert probabilities == [first.predict(data).probabilities for data, _ in events]


def test_the_bound_holds_for_numbers_only_events() -> None:
    model = _model("naive_bayes")
    for n in range(10):
        model.learn({f"n{n}_{i}": float(i) for i in range(WIDE_FIELDS)}, LABELS[n % 3])
    classifier = model._pipeline.steps["GaussianNB"]  # type: ignore[attr-defined]

    learned = {name for per_class in classifier.gaussians.values() for name in per_class}
    assert len(learned) <= FEATURE_BOUND
    assert np.isfinite(list(model.predict({"n0_1": 1.0}).probabilities.values())).all()


def test_a_batch_of_rows_without_fields_gets_a_prediction_for_each() -> None:
    # A pandas frame built from empty rows alone has no rows at all.
    model = _model("logistic_regression")
    model.learn({"x": 1.0}, "spam")

    many = model.predict_many([{}, {"unknown": None}] * 10)

    assert many == [model.predict({})] * 20
