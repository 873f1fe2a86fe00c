"""Preset pipelines: one per preset and input kind, deterministic given a seed."""

from __future__ import annotations

from typing import Any

import pytest

from streamloop.online import INPUT_KINDS, PRESETS, build_pipeline, snapshot


@pytest.mark.parametrize("input_kind", INPUT_KINDS)
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_learns_every_input_kind(
    preset: str, input_kind: str, make_items: Any
) -> None:
    pipeline = build_pipeline(preset, input_kind)
    items = make_items(input_kind, ("spam", "ham"), 20)
    for data, label in items:
        pipeline.learn_one(data, label)

    probabilities = pipeline.predict_proba_one(items[0][0])

    assert set(probabilities) <= {"spam", "ham"}
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_presets_and_input_kinds_are_the_documented_ones() -> None:
    assert PRESETS == (
        "logistic_regression",
        "naive_bayes",
        "hoeffding_tree",
        "adaptive_random_forest",
    )
    assert INPUT_KINDS == ("text", "tabular")


def test_naive_bayes_reads_text_as_word_counts() -> None:
    pipeline = build_pipeline("naive_bayes", "text")
    front = next(iter(pipeline.steps.values()))

    assert front.transform_one({"text": "Spam, SPAM and eggs"}) == {
        "spam": 2,
        "and": 1,
        "eggs": 1,
    }


@pytest.mark.parametrize("input_kind", INPUT_KINDS)
def test_same_seed_gives_the_same_forest(input_kind: str, make_items: Any) -> None:
    items = make_items(input_kind, ("spam", "ham"), 60)

    def trained(seed: int) -> bytes:
        pipeline = build_pipeline("adaptive_random_forest", input_kind, seed=seed)
        for data, label in items:
            pipeline.learn_one(data, label)
        return snapshot.dumps(pipeline)

    assert trained(seed=1) == trained(seed=1)
    assert trained(seed=1) != trained(seed=2)


@pytest.mark.parametrize(
    ("preset", "input_kind", "message"),
    [
        ("svm", "text", "unknown preset 'svm'"),
        ("naive_bayes", "image", "unknown input kind 'image'"),
    ],
)
def test_unknown_choices_are_refused(preset: str, input_kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_pipeline(preset, input_kind)
