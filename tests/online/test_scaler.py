"""`ArrayScaler` learns exactly as River's StandardScaler and scales as `ReadOnlyScaler` does."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import preprocessing

from streamloop.online.features import ReadOnlyScaler
from streamloop.online.scaler import ArrayScaler

_NAMES = ["a", "b", "c", "d", "e"]
_NUMBERS = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6), st.integers(-1000, 1000), st.booleans()
)
# Rows with any subset of the fields, in any order: dictionaries keep hypothesis's order.
_ROWS = st.lists(
    st.lists(st.tuples(st.sampled_from(_NAMES), _NUMBERS), max_size=6).map(dict), max_size=25
)


def _statistics(scaler: ArrayScaler, names: list[str]) -> list[tuple[float, float, float]]:
    means, variances = scaler.statistics(names)
    counts = [scaler.counts[scaler.slots[n]] for n in names]
    return [
        (float(c), float(m), float(v)) for c, m, v in zip(counts, means, variances, strict=True)
    ]


@settings(max_examples=200, deadline=None)
@given(learned=_ROWS, scored=_ROWS)
def test_it_learns_rivers_numbers_exactly_and_scales_as_the_older_scaler(
    learned: list[dict[str, Any]], scored: list[dict[str, Any]]
) -> None:
    mine, rivers, older = ArrayScaler(), preprocessing.StandardScaler(), ReadOnlyScaler()
    for row in learned:
        for scaler in (mine, rivers, older):
            scaler.learn_one(row)
        names = sorted(rivers.counts)
        assert _statistics(mine, names) == [
            (float(rivers.counts[n]), rivers.means[n], rivers.vars[n]) for n in names
        ]

    for row in scored:
        got, want = mine.transform_one(row), older.transform_one(row)
        assert list(got) == list(want)
        # A square root, not River's ``** 0.5``: equal to the last bit or so.
        assert list(got.values()) == pytest.approx(list(want.values()), rel=1e-12, abs=0.0)


def test_scoring_changes_nothing_a_snapshot_holds() -> None:
    learned = [{"a": 1.0, "b": 2.0}, {"b": 4.0, "c": True}, {"a": 3.0, "b": 1.0}]
    quiet, asked = ArrayScaler(), ArrayScaler()
    for row in learned:
        quiet.learn_one(row)
        asked.learn_one(row)
        # Scoring other fields, in another order, unseen ones included, between lessons.
        asked.transform_one({"c": 1.0, "unseen": 2.0, "a": 0.5})

    assert pickle.dumps(asked) == pickle.dumps(quiet)
    assert pickle.loads(pickle.dumps(asked)).transform_one({"a": 3.0}) == asked.transform_one(
        {"a": 3.0}
    )


def test_a_field_first_scored_then_learned_is_scaled_by_what_was_learned() -> None:
    scaler = ArrayScaler()
    scaler.learn_one({"a": 1.0})
    assert scaler.transform_one({"a": 1.0, "b": 5.0}) == {"a": 0.0, "b": 0.0}
    for b in (1.0, 3.0):
        scaler.learn_one({"a": 1.0, "b": b})

    assert scaler.transform_one({"a": 1.0, "b": 5.0}) == {"a": 0.0, "b": 3.0}
