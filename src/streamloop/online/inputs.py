"""Checking an item's data before it reaches a model.

Bad data is refused with a `ValueError` naming the problem, before any model state changes, so
one bad item can never corrupt a project's model.
"""

from __future__ import annotations

import contextvars
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from itertools import chain
from typing import Any

import numpy as np

__all__ = [
    "MAX_MAGNITUDE",
    "TEXT_FIELD",
    "NumericRows",
    "Row",
    "as_row",
    "keeping_terms",
    "kept_terms",
    "model_input",
    "numeric_rows",
    "stacked",
]

TEXT_FIELD = "text"
"""The field of a text item's data that holds its text."""

#: Largest magnitude a tabular number may have.
MAX_MAGNITUDE = 1e150


def model_input(input_kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check an item's data and return the part of it a pipeline of this input kind reads.

    Parameters
    ----------
    input_kind
        ``"text"``: the data needs a str ``"text"`` field, and other fields are ignored.
        ``"tabular"``: every field must be a finite number, a boolean or a string; numbers
        become floats, and ``None`` marks a missing value, which is left out.
    data
        The item's data.

    Raises
    ------
    ValueError
        If the data does not fit the input kind.

    Examples
    --------
    >>> model_input("text", {"text": "Hello there", "id": 7})
    {'text': 'Hello there'}
    >>> model_input("tabular", {"size": 3, "colour": "red", "new": True, "age": None})
    {'size': 3.0, 'colour': 'red', 'new': True}
    >>> model_input("tabular", {"size": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: field 'size' must be finite, got nan
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"item data must be an object, got {type(data).__name__}")
    if input_kind == "text":
        return _text(data)
    if input_kind == "tabular":
        return _tabular(data)
    raise ValueError(f"unknown input kind {input_kind!r}")


#: Rows of numbers as a batch reads them (`numeric_rows`): their fields, and a matrix of their
#: values, a row per item, a column per field.
NumericRows = tuple[tuple[str, ...], np.ndarray[Any, Any]]

#: An item's features as a linear head learns them: their names, and an array of their values
#: in that order.
Row = tuple[tuple[Any, ...], np.ndarray[Any, Any]]


def as_row(features: Mapping[Any, Any]) -> Row:
    """Features as a `Row`.

    >>> names, values = as_row({"a": 1.5, "b": True})
    >>> names, values.tolist()
    (('a', 'b'), [1.5, 1.0])
    """
    return tuple(features), np.fromiter(features.values(), np.float64, len(features))


def numeric_rows(rows: Sequence[Mapping[str, Any]]) -> NumericRows | None:
    """Tabular rows of numbers only, each of the same fields in the same order (the usual
    batch from one source), as their fields and one matrix: a row per item, a column per
    field, each value as `model_input` reads it. ``None`` for any other batch, whose rows
    `model_input` then reads one by one (and may refuse).

    Examples
    --------
    >>> fields, matrix = numeric_rows([{"a": 1, "b": 2.5}, {"a": -3.0, "b": 0}])
    >>> fields, matrix.tolist()
    (('a', 'b'), [[1.0, 2.5], [-3.0, 0.0]])
    >>> numeric_rows([{"a": 1}, {"b": 1}]) is None  # not the same fields
    True
    >>> numeric_rows([{"a": 1}, {"a": float("inf")}]) is None  # model_input refuses it
    True
    """
    if not rows or type(rows[0]) is not dict:
        return None
    fields = tuple(rows[0])
    if not fields or set(map(type, fields)) != {str}:
        return None
    # Set and tuple operations run in C: a row's fields and types are not walked in Python.
    if any(type(row) is not dict or tuple(row) != fields for row in rows):
        return None
    if not set(map(type, chain.from_iterable(row.values() for row in rows))) <= {float, int}:
        return None  # strings, booleans, nulls, numpy scalars: model_input's own walk
    size = len(rows) * len(fields)
    try:
        values = np.fromiter(
            chain.from_iterable(row.values() for row in rows), dtype=np.float64, count=size
        )
    except OverflowError:  # an integer beyond any float
        return None
    if not (np.abs(values) <= MAX_MAGNITUDE).all():  # False for NaN too
        return None
    return fields, values.reshape(len(rows), len(fields))


def stacked(blocks: Sequence[NumericRows | None]) -> NumericRows | None:
    """Rows each read alone by `numeric_rows`, as it reads them together (rows read once,
    kept, and scored again later): ``None`` unless every one is numbers, of the same fields
    in the same order.

    Examples
    --------
    >>> fields, matrix = stacked([numeric_rows([{"a": 1}]), numeric_rows([{"a": 2.5}])])
    >>> fields, matrix.tolist()
    (('a',), [[1.0], [2.5]])
    >>> stacked([numeric_rows([{"a": 1}]), numeric_rows([{"b": 1}])]) is None
    True
    >>> stacked([numeric_rows([{"a": 1}]), numeric_rows([{"a": "red"}])]) is None
    True
    """
    if not blocks or blocks[0] is None:
        return None
    fields = blocks[0][0]
    matrices = []
    for block in blocks:
        if block is None or block[0] != fields:
            return None
        matrices.append(block[1])
    return fields, np.concatenate(matrices)


def _text(data: Mapping[str, Any]) -> dict[str, Any]:
    text = data.get(TEXT_FIELD)
    if not isinstance(text, str):
        got = "nothing" if text is None else type(text).__name__
        raise ValueError(f"text items need a string field {TEXT_FIELD!r}, got {got}")
    return {TEXT_FIELD: text}


#: The value types of the usual tabular row, read in one pass (`_tabular`).
_PLAIN_NUMBERS = frozenset({float, int})


def _tabular(data: Mapping[str, Any]) -> dict[str, Any]:
    if (
        type(data) is dict
        and data
        and set(map(type, data.values())) <= _PLAIN_NUMBERS
        and set(map(type, data)) == {str}
    ):
        # The usual row, plain numbers named by strings: the walk below, in C. Each value is
        # within bounds (a NaN makes the sum NaN; an infinity or a huge number fails the max);
        # anything else is left to the walk, which says what is wrong.
        with suppress(OverflowError):  # an integer beyond any float
            x = dict(zip(data, map(float, data.values()), strict=True))
            total = sum(x.values())
            if total == total and max(map(abs, x.values())) <= MAX_MAGNITUDE:
                return x
    x = {}
    for name, value in data.items():
        if type(name) is not str and not isinstance(name, str):
            raise ValueError(f"field names must be strings, got {name!r}")
        kind = type(value)
        if kind is float or kind is int:
            # The common case first, without the costly ABC check below (hot: every field
            # of every event).
            number = float(value)
            if not -MAX_MAGNITUDE <= number <= MAX_MAGNITUDE:  # False for NaN too
                _refuse_number(name, number)
            x[name] = number
        elif value is None:
            continue
        elif isinstance(value, bool | str):
            x[name] = value
        elif isinstance(value, numbers.Real):
            # One numeric type for every source (JSON ints, numpy scalars) keeps equal data
            # equal state; a NaN or infinity would poison the running statistics for good.
            number = float(value)
            if not -MAX_MAGNITUDE <= number <= MAX_MAGNITUDE:
                _refuse_number(name, number)
            x[name] = number
        else:
            raise ValueError(
                f"field {name!r} must be a number, boolean or string, got {type(value).__name__}"
            )
    return x


def _refuse_number(name: str, number: float) -> None:
    if not math.isfinite(number):
        raise ValueError(f"field {name!r} must be finite, got {number}")
    # Squared in running variances, such a value overflows them to inf for good.
    raise ValueError(f"field {name!r} must be within ±{MAX_MAGNITUDE:g}, got {number}")


_KEEPING: contextvars.ContextVar[bool] = contextvars.ContextVar("keeping_terms", default=False)


@contextmanager
def keeping_terms() -> Iterator[None]:
    """Within it, TF-IDF fronts keep the terms of the texts they read
    (`streamloop.online.features.OrderedTFIDF.process_text`): for texts read again and again,
    as the queue's waiting items are, not for events read once."""
    token = _KEEPING.set(True)
    try:
        yield
    finally:
        _KEEPING.reset(token)


def kept_terms() -> bool:
    """Whether this is within `keeping_terms`."""
    return _KEEPING.get()
