"""How an item's data becomes model features: the River fronts of every pipeline.

Each front is deterministic and holds no state whose pickled form depends on string hashing,
so that equal learning histories give equal snapshots in any process.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
from river import base, feature_extraction, preprocessing

__all__ = [
    "TEXT_FIELD",
    "DenseHasher",
    "OneHot",
    "OrderedTFIDF",
    "batchable",
    "tabular_front",
    "text_bucket_front",
    "text_count_front",
    "text_tfidf_front",
]

TEXT_FIELD = "text"
"""The field of a text item's data that holds its text."""

# Enough buckets that a short text's words rarely share one, few enough that a tree keeps a
# small statistic per bucket in every leaf.
_TEXT_BUCKETS = 64


class OrderedTFIDF(feature_extraction.TFIDF):
    """TF-IDF that records document frequencies in the order terms first appear.

    River's TF-IDF counts the set of a text's terms, so new terms enter its frequency table in
    hash order, which differs between processes. Counting the terms in text order gives the same
    table, in the same order, everywhere.

    Examples
    --------
    >>> tfidf = OrderedTFIDF(on="text")
    >>> tfidf.learn_one({"text": "beta alpha beta"})
    >>> list(tfidf.dfs.items())
    [('beta', 1), ('alpha', 1)]
    """

    def learn_one(self, x: dict[base.typing.FeatureName, Any]) -> None:
        terms = self.process_text(x)  # type: ignore[no-untyped-call]  # River leaves it untyped
        self.dfs.update(dict.fromkeys(terms, 1))
        self.n += 1


class DenseHasher(base.Transformer):
    """Fold sparse features into a fixed set of buckets and emit every bucket, zeros included.

    A tree learns only from the values it sees. In a sparse bag of words an absent word is not
    a zero, it is missing, so a tree can never split on a word being absent. Folding words into
    buckets that are always present lets it. Buckets come from CRC-32, not `hash`, so they are
    the same in every process.

    Parameters
    ----------
    n_buckets
        How many features every output has.

    Examples
    --------
    >>> hasher = DenseHasher(n_buckets=4)
    >>> out = hasher.transform_one({"spam": 2, "eggs": 1})
    >>> len(out), sum(out.values())
    (4, 3.0)
    >>> out == hasher.transform_one({"eggs": 1, "spam": 2})
    True
    """

    def __init__(self, n_buckets: int = _TEXT_BUCKETS) -> None:
        if n_buckets < 1:
            raise ValueError(f"n_buckets must be at least 1, got {n_buckets}")
        self.n_buckets = n_buckets
        self._names = tuple(f"bucket_{i}" for i in range(n_buckets))

    def transform_one(
        self, x: dict[base.typing.FeatureName, Any]
    ) -> dict[base.typing.FeatureName, Any]:
        counts = [0.0] * self.n_buckets
        for name, value in x.items():
            counts[zlib.crc32(str(name).encode()) % self.n_buckets] += value
        return dict(zip(self._names, counts, strict=True))


def text_tfidf_front() -> Any:
    """L2-normalised TF-IDF of the text field, for linear models.

    A linear model needs features on one scale whatever a text's length.

    Examples
    --------
    >>> front = text_tfidf_front()
    >>> front.learn_one({"text": "Spam, spam and eggs"})
    >>> sorted(front.transform_one({"text": "spam"}))
    ['spam']
    """
    return OrderedTFIDF(on=TEXT_FIELD)


def text_count_front() -> Any:
    """Word counts of the text field, for multinomial naive Bayes, which models counts.

    River's default tokenizer lowercases, strips accents and keeps words of two or more
    characters.

    Examples
    --------
    >>> text_count_front().transform_one({"text": "Spam, spam and eggs"})
    {'spam': 2, 'and': 1, 'eggs': 1}
    """
    return feature_extraction.BagOfWords(on=TEXT_FIELD)


def text_bucket_front() -> Any:
    """Word counts of the text field folded into dense buckets, for trees (see `DenseHasher`).

    Examples
    --------
    >>> len(text_bucket_front().transform_one({"text": "spam and eggs"}))
    64
    """
    return feature_extraction.BagOfWords(on=TEXT_FIELD) | DenseHasher()


class ReadOnlyScaler(preprocessing.StandardScaler):
    """A standard scaler whose ``transform_one`` never changes its state.

    River's reads its running statistics from defaultdicts, so scoring an item with a field
    never learned adds an entry: the model would grow with every new field name production
    sends, and a snapshot pickled while the event loop scores could see a dict change size.
    An unseen field scales to 0.0, as River's does.

    Examples
    --------
    >>> scaler = ReadOnlyScaler()
    >>> scaler.learn_one({"a": 1.0})
    >>> scaler.transform_one({"a": 1.0, "unseen": 5.0})
    {'a': 0.0, 'unseen': 0.0}
    >>> sorted(scaler.means)
    ['a']
    """

    def transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        means, variances = self.means, self.vars
        scaled: dict[Hashable, Any] = {}
        for name, value in x.items():
            variance = variances.get(name, 0.0)
            scaled[name] = (value - means.get(name, 0.0)) / variance**0.5 if variance else 0.0
        return scaled

    def transform_many(self, X: pd.DataFrame) -> pd.DataFrame:  # type: ignore[override]
        """Scale a batch of rows; a missing value (NaN) scales to 0.0, as an absent field adds
        nothing to a linear model's dot product."""
        columns = list(X.columns)
        means = np.array([self.means.get(name, 0.0) for name in columns])
        deviations = np.sqrt(np.array([self.vars.get(name, 0.0) for name in columns]))
        known = deviations > 0.0
        scaled = (X.to_numpy(dtype=np.float64) - means) / np.where(known, deviations, 1.0)
        scaled[:, ~known] = 0.0
        return pd.DataFrame(np.nan_to_num(scaled, nan=0.0), columns=columns, index=X.index)


#: What a tabular row's numbers are once `model_input` has read it (booleans count as 0/1).
_NUMERIC = frozenset({float, int, bool})


class SelectValues(base.Transformer):
    """Keep the fields whose values are strings (``strings=True``), or else the numbers.

    `model_input` leaves a tabular row with floats, booleans and strings only, so this plain
    type test does what ``compose.SelectType`` does, without an ABC ``isinstance`` per field
    (the cost of every field of every event scored).

    Examples
    --------
    >>> SelectValues(strings=True).transform_one({"size": 2.0, "colour": "red", "new": True})
    {'colour': 'red'}
    >>> SelectValues(strings=False).transform_one({"size": 2.0, "colour": "red", "new": True})
    {'size': 2.0, 'new': True}
    >>> SelectValues(strings=False).transform_one({"size": None})
    {}
    """

    def __init__(self, strings: bool) -> None:
        self.strings = strings

    def transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        if self.strings:
            return {name: value for name, value in x.items() if type(value) is str}
        return {name: value for name, value in x.items() if type(value) in _NUMERIC}

    def transform_many(self, X: pd.DataFrame) -> pd.DataFrame:
        """The string columns, or else the numeric ones: `batchable` has checked that every
        column is one or the other."""
        keep = [name for name, dtype in X.dtypes.items() if _numeric(dtype) != self.strings]
        return X[keep]


def batchable(X: pd.DataFrame) -> bool:
    """Whether `tabular_front` scores this batch as it would each row: every column numbers
    and booleans (NaN where a row lacks the field), or strings (with gaps)."""
    return all(
        _numeric(dtype) or pd.api.types.infer_dtype(X[name], skipna=True) == "string"
        for name, dtype in X.dtypes.items()
    )


def _numeric(dtype: Any) -> bool:
    return bool(pd.api.types.is_numeric_dtype(dtype))  # booleans included


class OneHot(preprocessing.OneHotEncoder):
    """River's one-hot encoder, whose batch path also takes a batch without string fields."""

    def transform_many(self, X: pd.DataFrame) -> pd.DataFrame:  # type: ignore[override]
        if not len(X.columns):
            return X
        encoded: pd.DataFrame = super().transform_many(X)
        return encoded


def tabular_front() -> Any:
    """Standardise numbers and booleans, one-hot encode strings; other values are dropped.

    Examples
    --------
    >>> front = tabular_front()
    >>> front.learn_one({"size": 2.0, "colour": "red"})
    >>> front.transform_one({"size": 2.0, "colour": "red"})
    {'colour_red': 1, 'size': 0.0}
    """
    numeric = SelectValues(strings=False) | ReadOnlyScaler()
    # drop_zeros keeps the encoder stateless: otherwise it remembers categories in sets, and
    # its zero-filled output would grow with every category ever seen.
    categorical = SelectValues(strings=True) | OneHot(drop_zeros=True)
    return numeric + categorical
