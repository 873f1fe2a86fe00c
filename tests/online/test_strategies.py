"""Uncertainty strategies: 1.0 for a blind guess, 0.0 for certainty, ordered in between."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamloop.online import DEFAULT_STRATEGY, STRATEGIES, uncertainty
from streamloop.online.strategies import uncertainties

LABELS = ("a", "b", "c", "d", "e", "f")


def _probabilities(*values: float) -> dict[str, float]:
    return dict(zip(LABELS, values, strict=False))


def test_default_strategy_is_margin() -> None:
    assert DEFAULT_STRATEGY == "margin"
    assert DEFAULT_STRATEGY in STRATEGIES


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_uniform_probabilities_score_one(strategy: str, k: int) -> None:
    assert uncertainty(strategy, _probabilities(*[1.0 / k] * k)) == pytest.approx(1.0)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_one_hot_probabilities_score_zero(strategy: str, k: int) -> None:
    assert uncertainty(strategy, _probabilities(*[1.0] + [0.0] * (k - 1))) == 0.0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_surer_predictions_score_lower(strategy: str) -> None:
    scores = [
        uncertainty(strategy, _probabilities(*values))
        for values in [(0.34, 0.33, 0.33), (0.5, 0.3, 0.2), (0.7, 0.2, 0.1), (0.95, 0.04, 0.01)]
    ]

    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_scores_stay_within_zero_and_one(strategy: str) -> None:
    rng = random.Random(0)
    for _ in range(500):
        k = rng.randint(2, 6)
        weights = [rng.expovariate(1.0) ** rng.choice([1, 4]) for _ in range(k)]
        total = sum(weights)

        score = uncertainty(strategy, _probabilities(*[w / total for w in weights]))

        assert 0.0 <= score <= 1.0


def test_scores_match_their_definitions() -> None:
    probabilities = _probabilities(0.5, 0.3, 0.2)

    assert uncertainty("margin", probabilities) == pytest.approx(1 - (0.5 - 0.3))
    entropy = -sum(p * math.log(p) for p in (0.5, 0.3, 0.2)) / math.log(3)
    assert uncertainty("entropy", probabilities) == pytest.approx(entropy)
    assert uncertainty("least_confidence", probabilities) == pytest.approx((1 - 0.5) * 3 / 2)


def test_margin_ignores_label_order() -> None:
    assert uncertainty("margin", {"a": 0.1, "b": 0.6, "c": 0.3}) == pytest.approx(0.7)


def test_random_reports_the_default_strategy_score() -> None:
    probabilities = _probabilities(0.6, 0.3, 0.1)

    assert uncertainty("random", probabilities) == uncertainty(DEFAULT_STRATEGY, probabilities)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_labels_is_unsure_and_one_label_is_certain(strategy: str) -> None:
    assert uncertainty(strategy, {}) == 1.0
    assert uncertainty(strategy, {"a": 1.0}) == 0.0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rounding_never_leaves_the_range(strategy: str) -> None:
    # Probabilities that sum to a hair over 1, as floating point sums do.
    score = uncertainty(strategy, {"a": 1 / 3 + 1e-16, "b": 1 / 3, "c": 1 / 3})

    assert 0.0 <= score <= 1.0


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'vibes'"):
        uncertainty("vibes", {"a": 0.5, "b": 0.5})


@settings(max_examples=200, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    rows=st.integers(1, 3).flatmap(
        lambda k: st.lists(
            st.lists(
                st.sampled_from([0.0, 0.0, 1.0, 1.0, 2.0, 0.5, 1e-9, 3.7]) | st.floats(0, 5),
                min_size=k,
                max_size=k,
            ).filter(any),
            min_size=1,
            max_size=6,
        )
    )
    | st.lists(
        st.lists(st.floats(0, 1), min_size=5, max_size=5).filter(any), min_size=1, max_size=6
    ),
)
def test_scores_of_a_matrix_are_each_rows_score(strategy: str, rows: list[list[float]]) -> None:
    # The batch path scores a matrix at once: ties, zeros, two labels or five, as one by one.
    probabilities = [[p / math.fsum(row) for p in row] for row in rows]
    labels = [f"l{n}" for n in range(len(rows[0]))]
    got = uncertainties(strategy, np.array(probabilities)).tolist()
    want = [uncertainty(strategy, dict(zip(labels, row, strict=True))) for row in probabilities]
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("k", [0, 1])
def test_a_matrix_of_no_label_or_one_scores_as_one_row(k: int) -> None:
    assert (
        uncertainties("margin", np.full((3, k), 1.0)).tolist()
        == [uncertainty("margin", dict.fromkeys(range(k), 1.0))] * 3
    )
    with pytest.raises(ValueError, match="unknown strategy"):
        uncertainties("confidence", np.full((3, k), 1.0))
