"""Item data is checked before any model sees it."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamloop.online.inputs import MAX_MAGNITUDE, model_input, numeric_rows


def test_text_keeps_only_the_text_field() -> None:
    assert model_input("text", {"text": "Hello", "id": 3}) == {"text": "Hello"}


def test_empty_text_is_allowed() -> None:
    assert model_input("text", {"text": ""}) == {"text": ""}


def test_tabular_numbers_become_floats() -> None:
    out = model_input("tabular", {"count": 3, "ratio": Fraction(1, 4), "size": 2.5})

    assert out == {"count": 3.0, "ratio": 0.25, "size": 2.5}
    assert all(type(value) is float for value in out.values())


def test_tabular_keeps_booleans_and_strings_and_drops_missing_values() -> None:
    out = model_input("tabular", {"new": True, "colour": "red", "note": None})

    assert out == {"new": True, "colour": "red"}
    assert out["new"] is True


@pytest.mark.parametrize(
    ("input_kind", "data", "message"),
    [
        ("text", {}, "string field 'text', got nothing"),
        ("text", {"text": None}, "string field 'text', got nothing"),
        ("text", {"text": ["a"]}, "string field 'text', got list"),
        ("text", "just a string", "must be an object"),
        ("tabular", {"size": float("nan")}, "'size' must be finite"),
        ("tabular", {"size": float("-inf")}, "'size' must be finite"),
        ("tabular", {"tags": ["a", "b"]}, "'tags' must be a number, boolean or string"),
        ("tabular", {"nested": {"a": 1}}, "'nested' must be a number, boolean or string"),
        ("tabular", {1: 2.0}, "field names must be strings"),
        ("image", {}, "unknown input kind"),
    ],
)
def test_bad_data_is_refused(input_kind: str, data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_input(input_kind, data)


def test_rows_of_numbers_become_one_matrix_of_what_model_input_reads() -> None:
    rows = [{"a": 1, "b": -2.5}, {"a": 10**20, "b": 0}, {"a": 1e150, "b": -1e150}]
    block = numeric_rows(rows)
    assert block is not None
    fields, matrix = block
    assert fields == ("a", "b")
    assert matrix.tolist() == [list(model_input("tabular", row).values()) for row in rows]


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [{}],
        [{"a": 1.0}, {"b": 1.0}],  # other fields
        [{"a": 1.0, "b": 2.0}, {"b": 2.0, "a": 1.0}],  # the same fields in another order
        [{"a": 1.0}, {"a": True}],  # a boolean
        [{"a": 1.0}, {"a": None}],  # a missing value
        [{"a": 1.0}, {"a": "1.0"}],  # a string, even one of a number
        [{"a": 1.0}, {"a": float("nan")}],
        [{"a": 1.0}, {"a": -float("inf")}],
        [{"a": 1.0}, {"a": 1.1e150}],  # beyond the bound
        [{"a": 1.0}, {"a": 10**400}],  # beyond any float
        [{"a": 1.0}, {"a": Fraction(1, 3)}],  # a number of another type: model_input's walk
        [{"a": 1.0}, [("a", 1.0)]],  # not an object
        [{1: 1.0}],  # a name that is not a string
    ],
)
def test_other_batches_are_left_to_model_input(rows: list[Any]) -> None:
    assert numeric_rows(rows) is None


def _walked(data: dict[Any, Any]) -> dict[str, Any]:
    """What `model_input` gives a tabular row, field by field, as its contract says."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        if not isinstance(name, str):
            raise ValueError("field names must be strings")
        if value is None:
            continue
        if isinstance(value, bool | str):
            out[name] = value
            continue
        number = float(value)  # an integer beyond any float raises OverflowError
        if not abs(number) <= MAX_MAGNITUDE:
            raise ValueError(f"field {name!r} must be")
        out[name] = number
    return out


@settings(max_examples=400, deadline=None)
@given(
    data=st.dictionaries(
        st.one_of(st.text(max_size=3), st.integers(0, 3)),
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(10**6), 10**6),
            st.sampled_from([1e150, -1e150, 1e151, -1e151, 10**400, -(10**400), 2**63]),
            st.booleans(),
            st.none(),
            st.sampled_from(["red", ""]),
        ),
        max_size=6,
    )
)
def test_a_row_is_read_as_its_fields_one_by_one_would_be(data: dict[Any, Any]) -> None:
    # The usual row (plain numbers named by strings) is read in one pass; any row gives what
    # the walk of each field in order gives: the same values and types, or the same error,
    # naming the first bad field.
    try:
        want = _walked(data)
    except (ValueError, OverflowError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            model_input("tabular", data)
        return
    got = model_input("tabular", data)
    assert list(got.items()) == list(want.items())
    assert [type(value) for value in got.values()] == [type(value) for value in want.values()]


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(
        st.text(max_size=3),
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(10**6), 10**6),
            st.sampled_from([1e150, -1e150, 1e151, -1e151]),
        ),
        max_size=6,
    )
)
def test_rows_of_numbers_are_read_as_floats_or_refused_at_their_first_bad_field(
    data: dict[str, Any],
) -> None:
    # The usual row (numbers only) is read in one pass; the first field out of bounds is still
    # the one named, as the walk of each field names it.
    bad = [name for name, value in data.items() if not abs(float(value)) <= MAX_MAGNITUDE]
    if bad:
        with pytest.raises(ValueError, match=f"field {re.escape(repr(bad[0]))} must be"):
            model_input("tabular", data)
        return
    out = model_input("tabular", data)
    assert list(out.items()) == [(name, float(value)) for name, value in data.items()]
    assert all(type(value) is float for value in out.values())
