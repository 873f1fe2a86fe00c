"""Scoring many items at once with a one-vs-rest logistic regression, without data frames.

River's mini-batch path builds pandas frames through narwhals, which costs more than it saves
on the few dozen candidates a lease re-scores. Here a batch becomes three flat arrays (row,
column, value) with one column per feature that any row has; River's own weight vectors hand
over those columns as arrays (`VectorDict.to_numpy`), and each label's logits are one weighted
count per row. The answers are River's one at a time, up to the order of a sum's terms.

Two fronts are read directly: the tabular one (`features.tabular_front`: numbers scaled by the
read-only scaler, strings one-hot) and any front whose ``transform_one`` gives numbers (TF-IDF),
which runs as River runs it. Other pipelines return ``None`` from `linear_scorer`.

A multi-label model's front shared by a River logistic regression per label is read the same
way (`binary_scorer`): its scores are each label's probability, never normalised.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any, cast

import numpy as np
from river import compose, linear_model, multiclass, optim

from streamloop.online.features import (
    NUMBER_TYPES,
    BoundedVocabulary,
    OneHot,
    OrderedTFIDF,
    ReadOnlyScaler,
    SelectValues,
    TabularFront,
)
from streamloop.online.one_vs_rest import LOGIT_BOUND, OneVsRestLogistic
from streamloop.online.scaler import ArrayScaler, standardised

__all__ = ["BATCH_FROM", "LinearScorer", "Scores", "binary_scorer", "linear_scorer"]
#: From this many rows on, a linear model scores a batch at once (`linear_scorer`): below it,
#: arranging the arrays costs more than it saves. A text's few words make River's own dot
#: products hard to beat below a dozen rows or so, and about even at 16; at 32 a batch costs a
#: third less for texts of 3 and 12 words, 6% less for 48 (BENCHMARKS.md, round 6).
BATCH_FROM = {"tabular": 2, "text": 32}
#: Up to this many cells (rows by columns), a batch is one dense matrix product.
_DENSE_CELLS = 250_000

#: A batch's features: the row of each value, its column (an index into the names), the
#: value, and the names of the columns in order.
_Sparse = tuple["np.ndarray[Any, Any]", "np.ndarray[Any, Any]", "np.ndarray[Any, Any]", list[Any]]
#: A batch's scores: the classifier's labels, and a row of scores per item, one per label.
Scores = tuple[list[Any], "np.ndarray[Any, Any]"]
#: Rows of numbers only, one field per column in ``fields`` order, to their scaled features
#: in the same columns (``None`` when the front would not keep every field as it is).
_Numbers = Callable[[tuple[str, ...], "np.ndarray[Any, Any]"], "np.ndarray[Any, Any] | None"]
#: What a scorer reads the weights of: a one-vs-rest classifier, or a binary logistic
#: regression per label (a multi-label model's).
_Linear = multiclass.OneVsRestClassifier | OneVsRestLogistic | Mapping[Any, Any]


class LinearScorer:
    """Scores rows as the pipeline's ``predict_proba_one`` does, a batch at a time (or, for a
    multi-label model's binary classifiers, as each one's ``predict_proba_one`` does).

    Build it with `linear_scorer` (or `binary_scorer`); it reads the model's state when asked,
    so it stays right as the model learns.
    """

    def __init__(
        self,
        front: Callable[[Sequence[dict[str, Any]]], _Sparse],
        classifier: _Linear,
        numbers: _Numbers | None = None,
    ) -> None:
        self._front = front
        self._classifier = classifier
        self._numbers = numbers

    def _labels(self) -> list[Any]:
        classifier = self._classifier
        if isinstance(classifier, OneVsRestLogistic):
            return list(classifier.labels)
        return list(classifier if isinstance(classifier, Mapping) else classifier.classifiers)

    def predict_proba(self, rows: Sequence[dict[str, Any]]) -> list[dict[Any, float]]:
        """Each row's label probabilities, as a one-vs-rest classifier's ``predict_proba_one``
        gives them (every label it has seen, normalised to sum to 1). Not for a `binary_scorer`,
        whose labels' probabilities are `scores` as they are."""
        labels, scores = self.scores(rows)
        if not labels:
            return [{} for _ in rows]
        return _normalised(labels, scores)

    def scores(self, rows: Sequence[dict[str, Any]]) -> Scores:
        """The classifier's labels, and each row's score for each (a row per item, a column
        per label): each binary model's probability, before one-vs-rest normalises them."""
        labels = self._labels()
        if not rows or not labels:
            return labels, np.zeros((len(rows), len(labels)))
        at, found, values, columns = self._front(rows)
        weights, intercepts = _weights(self._classifier, columns)
        if len(rows) * len(columns) <= _DENSE_CELLS:
            dense = np.zeros((len(rows), len(columns)))
            dense[at, found] = values  # a row names each column once
            logits = dense @ weights + intercepts
        else:  # many rows of many words: one weighted count per label instead
            logits = np.empty((len(rows), len(labels)))
            for k in range(len(labels)):
                terms = values * weights[found, k]
                logits[:, k] = np.bincount(at, weights=terms, minlength=len(rows)) + intercepts[k]
        return labels, _sigmoid(logits)

    def scores_numbers(
        self, fields: tuple[str, ...], matrix: np.ndarray[Any, Any]
    ) -> Scores | None:
        """`scores` of rows that are all numbers, of the same ``fields`` in the same order,
        given as one matrix (a row per item, a column per field; `inputs.numeric_rows`),
        without walking each value in Python: the same scores, to the bit up to `_DENSE_CELLS`
        cells (beyond, `scores` sums each row's terms in another order). ``None`` when this
        scorer's front cannot read them so (not the tabular front, or a field its vocabulary
        has not kept): `scores` can."""
        scaled = None if self._numbers is None else self._numbers(fields, matrix)
        if scaled is None:
            return None
        labels = self._labels()
        if not labels:
            return labels, np.zeros((len(matrix), 0))
        weights, intercepts = _weights(self._classifier, list(fields))
        return labels, _sigmoid(scaled @ weights + intercepts)


def _sigmoid(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """River's logistic function of each logit, 0.0 and 1.0 beyond its bound."""
    inside = 1.0 / (1.0 + np.exp(-np.clip(logits, -LOGIT_BOUND, LOGIT_BOUND)))
    return np.where(logits < -LOGIT_BOUND, 0.0, np.where(logits > LOGIT_BOUND, 1.0, inside))


def _normalised(labels: list[Any], scores: np.ndarray[Any, Any]) -> list[dict[Any, float]]:
    """Each row of scores as River's one-vs-rest gives probabilities: divided by their sum."""
    out: list[dict[Any, float]] = []
    uniform = 1.0 / len(labels)
    # Summed one term at a time, left to right, as River's one-vs-rest sums its votes.
    for row in scores.tolist():
        total = 0.0
        for score in row:
            total += score
        if total:
            out.append({label: s / total for label, s in zip(labels, row, strict=True)})
        else:
            out.append(dict.fromkeys(labels, uniform))
    return out


def _weights(
    classifier: _Linear, columns: list[Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The named features' weights (rows) for each label (columns), and the intercepts."""
    if isinstance(classifier, OneVsRestLogistic):
        return classifier.weights_of(columns), classifier.intercepts
    # River's: `linear_scorer` and `binary_scorer` checked that each is a logistic regression.
    binaries = cast(
        "Mapping[Any, linear_model.LogisticRegression]",
        classifier if isinstance(classifier, Mapping) else classifier.classifiers,
    )
    weights = np.empty((len(columns), len(binaries)))
    for k, binary in enumerate(binaries.values()):
        if columns:
            weights[:, k] = binary._weights.to_numpy(columns)
    return weights, np.array([binary.intercept for binary in binaries.values()])


def linear_scorer(pipeline: Any) -> LinearScorer | None:
    """A `LinearScorer` for the pipeline, or ``None`` if it is not a front then a one-vs-rest
    logistic regression that this module reads.

    Examples
    --------
    >>> from streamloop.online.presets import build_pipeline
    >>> linear_scorer(build_pipeline("naive_bayes", "text")) is None
    True
    >>> model = build_pipeline("logistic_regression", "text")
    >>> model.learn_one({"text": "refund my card"}, "billing")
    >>> model.learn_one({"text": "the app crashed"}, "bug")
    >>> rows = [{"text": "card refund"}, {"text": "it crashed"}]
    >>> fast = linear_scorer(model).predict_proba(rows)
    >>> slow = [model.predict_proba_one(row) for row in rows]
    >>> all(abs(fast[n][k] - slow[n][k]) < 1e-12 for n in range(2) for k in slow[n])
    True
    """
    steps = getattr(pipeline, "steps", None)
    if not isinstance(steps, Mapping) or len(steps) < 2:
        return None
    *front_steps, last = steps.values()
    if not _logistic_ovr(last):
        return None
    return _scorer(front_steps, last)


def binary_scorer(front: Any, binaries: Mapping[Any, Any]) -> LinearScorer | None:
    """A `LinearScorer` of a front shared by a binary classifier per label (a multi-label
    model's), whose `LinearScorer.scores` are each label's probability of applying, as each
    classifier's ``predict_proba_one(front.transform_one(x))[True]`` gives it (up to the order
    of a sum's terms); ``None`` unless every classifier is a River logistic regression.

    Examples
    --------
    >>> from streamloop.online.presets import build_front, logistic
    >>> front = build_front("logistic_regression", "text")
    >>> binaries = {"billing": logistic("text"), "bug": logistic("text")}
    >>> for text, labels in [("refund my card", {"billing"}), ("card crashed", {"billing", "bug"})]:
    ...     front.learn_one({"text": text})
    ...     for label, binary in binaries.items():
    ...         binary.learn_one(front.transform_one({"text": text}), label in labels)
    >>> rows = [{"text": "card refund"}, {"text": "it crashed"}]
    >>> labels, scores = binary_scorer(front, binaries).scores(rows)
    >>> slow = [[b.predict_proba_one(front.transform_one(r))[True] for b in binaries.values()]
    ...         for r in rows]
    >>> labels, bool(np.allclose(scores, slow, rtol=0, atol=1e-12))
    (['billing', 'bug'], True)
    """
    if not binaries or not all(map(_river_logistic, binaries.values())):
        return None
    steps = front.steps.values() if isinstance(front, compose.Pipeline) else [front]
    return _scorer(list(steps), binaries)


def _scorer(front_steps: list[Any], classifier: _Linear) -> LinearScorer:
    tabular = _tabular_parts(front_steps)
    if tabular is None:
        if len(front_steps) == 1 and type(front_steps[0]) is OrderedTFIDF:
            return LinearScorer(_tfidf_front(front_steps[0]), classifier)
        return LinearScorer(_generic_front(front_steps), classifier)
    return LinearScorer(_read_front(*tabular), classifier, _read_numbers(*tabular))


def _logistic_ovr(step: Any) -> bool:
    if type(step) is OneVsRestLogistic:
        return True
    if type(step) is not multiclass.OneVsRestClassifier:
        return False
    return all(map(_river_logistic, [step.classifier, *step.classifiers.values()]))


def _river_logistic(binary: Any) -> bool:
    return (
        type(binary) is linear_model.LogisticRegression
        and type(binary.loss) is optim.losses.Log
        and type(binary._weights).__name__ == "VectorDict"
    )


def _tfidf_front(tfidf: OrderedTFIDF) -> Callable[[Sequence[dict[str, Any]]], _Sparse]:
    """TF-IDF's features of a batch, as its ``transform_one`` gives them one text at a time, to
    the bit: each text's terms counted as River counts them, the weights in arrays.

    River's arithmetic, term by term: ``tf = count / terms``, ``idf = log((1 + n) / (1 + df))
    + 1``, ``tf * idf``, then each divided by the square root of the text's sum of squares
    (each square Python's ``** 2``, which is not always ``x * x``; summed left to right, as
    `np.bincount` does)."""

    def front(rows: Sequence[dict[str, Any]]) -> _Sparse:
        row_of: list[int] = []
        column_of: list[int] = []
        counts: list[int] = []
        lengths: list[int] = []
        names: dict[Any, int] = {}
        for n, row in enumerate(rows):
            terms: Counter[Any] = Counter(tfidf.process_text(row))
            row_of.extend(repeat(n, len(terms)))
            column_of.extend([names.setdefault(term, len(names)) for term in terms])
            counts.extend(terms.values())
            lengths.append(sum(terms.values()))
        at, found, _, columns = sparse = _arrays(row_of, column_of, [], names)
        if not len(at):
            return sparse
        dfs, documents = tfidf.dfs, tfidf.n
        idf = np.fromiter(
            (math.log((1 + documents) / (1 + dfs.get(name, 0))) + 1 for name in columns),
            dtype=np.float64,
            count=len(columns),
        )
        frequencies = np.asarray(counts, dtype=np.float64) / np.asarray(lengths, np.float64)[at]
        values = frequencies * idf[found]
        if tfidf.normalize:
            squares = np.fromiter(map(float.__pow__, values.tolist(), repeat(2)), np.float64)
            norms = np.sqrt(np.bincount(at, weights=squares, minlength=len(rows)))
            values = values / norms[at]
        return at, found, values, columns

    return front


def _generic_front(steps: Sequence[Any]) -> Callable[[Sequence[dict[str, Any]]], _Sparse]:
    """Each row through the front's own ``transform_one``, in order."""

    def front(rows: Sequence[dict[str, Any]]) -> _Sparse:
        row_of: list[int] = []
        column_of: list[int] = []
        values: list[float] = []
        names: dict[Any, int] = {}
        for n, row in enumerate(rows):
            x: dict[Any, Any] = row
            for step in steps:
                x = step.transform_one(x)
            for name, value in x.items():
                column = names.setdefault(name, len(names))
                row_of.append(n)
                column_of.append(column)
                values.append(value)
        return _arrays(row_of, column_of, values, names)

    return front


def _arrays(
    row_of: list[int], column_of: list[int], values: list[float], names: dict[Any, int]
) -> _Sparse:
    return (
        np.asarray(row_of, dtype=np.intp),
        np.asarray(column_of, dtype=np.intp),
        np.asarray(values, dtype=np.float64),
        list(names),
    )


_Tabular = tuple[BoundedVocabulary | None, ArrayScaler | ReadOnlyScaler]


def _tabular_parts(steps: Sequence[Any]) -> _Tabular | None:
    """`features.tabular_front`'s two parts that scoring reads (its vocabulary bound, if it
    has one, and its scaler); ``None`` for any other front."""
    if len(steps) == 1 and type(steps[0]) is TabularFront:  # new projects' (from 0.8.2)
        return steps[0].vocabulary, steps[0].scaler
    if len(steps) == 2 and type(steps[0]) is BoundedVocabulary:
        vocabulary, union = steps
    elif len(steps) == 1:  # models made before the vocabulary bound
        vocabulary, union = None, steps[0]
    else:
        return None
    branches = [
        list(getattr(b, "steps", {}).values()) for b in getattr(union, "transformers", {}).values()
    ]
    shapes = [[type(step) for step in branch] for branch in branches]
    scalers: list[type] = [ArrayScaler, ReadOnlyScaler]  # new projects' and older ones'
    if shapes not in [[[SelectValues, scaler], [SelectValues, OneHot]] for scaler in scalers]:
        return None
    (numbers, scaler), (strings, encoder) = branches
    if numbers.strings or not strings.strings:
        return None
    if not encoder.drop_zeros or encoder.drop_first or encoder.categories is not None:
        return None
    return vocabulary, scaler


def _read_front(
    vocabulary: BoundedVocabulary | None, scaler: ArrayScaler | ReadOnlyScaler
) -> Callable[[Sequence[dict[str, Any]]], _Sparse]:
    """The tabular front's features of a batch, from its vocabulary bound and its scaler."""

    def front(rows: Sequence[dict[str, Any]]) -> _Sparse:
        row_of: list[int] = []
        column_of: list[int] = []
        values: list[Any] = []
        names: dict[Any, int] = {}
        numeric: list[bool] = []  # which values are numbers, to scale
        # Rows of one source share their fields, in order: their columns are found once.
        last_fields: tuple[Any, ...] = ()
        last_columns: list[int] = []
        for n, row in enumerate(rows):
            x = row if vocabulary is None else vocabulary.transform_one(cast("dict[Any, Any]", row))
            if set(map(type, x.values())) <= NUMBER_TYPES:
                fields = tuple(x)
                if fields != last_fields:
                    last_fields = fields
                    last_columns = [names.setdefault(name, len(names)) for name in fields]
                row_of.extend([n] * len(fields))
                column_of.extend(last_columns)
                values.extend(x.values())
                numeric.extend([True] * len(fields))
                continue
            encoded: dict[str, None] = {}
            for name, value in x.items():
                kind = type(value)
                if kind in NUMBER_TYPES:
                    row_of.append(n)
                    column_of.append(names.setdefault(name, len(names)))
                    values.append(value)
                    numeric.append(True)
                elif kind is str:
                    encoded[f"{name}_{value}"] = None  # two fields may name the same one
            for name in encoded:
                # River's union gives the numbers' branch the last word on a shared name.
                if type(x.get(name)) not in NUMBER_TYPES:
                    row_of.append(n)
                    column_of.append(names.setdefault(name, len(names)))
                    values.append(1.0)
                    numeric.append(False)
        sparse = _arrays(row_of, column_of, values, names)
        _scale(scaler, sparse, np.asarray(numeric, dtype=bool))
        return sparse

    return front


def _read_numbers(
    vocabulary: BoundedVocabulary | None, scaler: ArrayScaler | ReadOnlyScaler
) -> _Numbers:
    """The tabular front's features of rows of numbers only, given as one matrix."""

    def numbers(
        fields: tuple[str, ...], matrix: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, Any] | None:
        # The vocabulary passes a row of numbers as it is when it keeps every field (else it
        # drops some, which the row-by-row front does).
        if vocabulary is not None and not vocabulary.numbers.keys() >= set(fields):
            return None
        means, variances = _statistics(scaler, list(fields))
        return standardised(matrix, means, variances)

    return numbers


def _statistics(
    scaler: ArrayScaler | ReadOnlyScaler, columns: list[Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The scaler's means and variances of ``columns`` (0.0 for a field never seen)."""
    if isinstance(scaler, ArrayScaler):
        means, variances = scaler.statistics(columns)
        return means, variances
    means = np.array([scaler.means.get(name, 0.0) for name in columns], dtype=np.float64)
    variances = np.array([scaler.vars.get(name, 0.0) for name in columns], dtype=np.float64)
    return means, variances


def _scale(scaler: ArrayScaler | ReadOnlyScaler, sparse: _Sparse, at: np.ndarray[Any, Any]) -> None:
    """Scale the values where ``at`` is true in place (`standardised`)."""
    _rows, column_of, values, columns = sparse
    means, variances = _statistics(scaler, columns)
    if not at.any():
        return
    positions = np.flatnonzero(at)
    found = column_of[positions]
    values[positions] = standardised(values[positions], means[found], variances[found])
