"""One-vs-rest logistic regression with its weights in one array; scoring many items at once.

`OneVsRestLogistic` learns exactly what River's ``OneVsRestClassifier(LogisticRegression())``
learns, the same SGD step for each label's binary model, up to the order of a sum's terms; but
one label costs a single pass over the item's features for every label at once, where River
walks the features once per label (ten labels: ten passes). A project's model is taught each
label about twenty times (rehearsal, and the accuracy estimate's shadow models), so this is
most of what learning a label costs.

River's mini-batch path builds pandas frames through narwhals, which costs more than it saves
on the few dozen candidates a lease re-scores. Here a batch becomes three flat arrays (row,
column, value) with one column per feature that any row has; River's own weight vectors hand
over those columns as arrays (`VectorDict.to_numpy`), and each label's logits are one weighted
count per row. The answers are River's one at a time, up to the order of a sum's terms.

Two fronts are read directly: the tabular one (`features.tabular_front`: numbers scaled by the
read-only scaler, strings one-hot) and any front whose ``transform_one`` gives numbers (TF-IDF),
which runs as River runs it. Other pipelines return ``None`` from `linear_scorer`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, cast

import numpy as np
from river import base, linear_model, multiclass, optim

from streamloop.online.features import (
    NUMBER_TYPES,
    BoundedVocabulary,
    OneHot,
    ReadOnlyScaler,
    SelectValues,
)

__all__ = ["LinearScorer", "OneVsRestLogistic", "linear_scorer"]

#: Beyond this logit, River's sigmoid is exactly 0 or 1 (`river.utils.math.sigmoid`).
LOGIT_BOUND = 30.0
#: Up to this many cells (rows by columns), a batch is one dense matrix product.
_DENSE_CELLS = 250_000

#: A batch's features: the row of each value, its column (an index into the names), the
#: value, and the names of the columns in order.
_Sparse = tuple["np.ndarray[Any, Any]", "np.ndarray[Any, Any]", "np.ndarray[Any, Any]", list[Any]]


class OneVsRestLogistic(base.Classifier):
    """A logistic regression per label, one label against the rest, in one weight matrix.

    Each label's model is River's ``LogisticRegression(optimizer=optim.SGD(learning_rate))``
    with its defaults (log loss, zero initial weights, the intercept's own rate of 0.01, no
    regularisation), kept as a column of one matrix whose rows are the features in the order
    they were first learned. A label seen for the first time gets a column of zeros, as River's
    ``OneVsRestClassifier`` clones an untrained model for it.

    Parameters
    ----------
    learning_rate
        The weights' SGD step.
    intercept_rate
        The intercepts' SGD step.

    Examples
    --------
    >>> model = OneVsRestLogistic(learning_rate=0.5)
    >>> model.learn_one({"refund": 1.0}, "billing")
    >>> model.learn_one({"crash": 1.0}, "bug")
    >>> model.predict_one({"refund": 1.0})
    'billing'
    >>> sorted(model.predict_proba_one({"crash": 1.0}).items())
    [('billing', 0.4...), ('bug', 0.5...)]
    """

    def __init__(self, learning_rate: float = 0.01, intercept_rate: float = 0.01) -> None:
        self.learning_rate = learning_rate
        self.intercept_rate = intercept_rate
        #: Each label seen, to its column.
        self.labels: dict[Any, int] = {}
        #: Each feature learned, to its row.
        self.features: dict[Any, int] = {}
        self._weights = np.zeros((0, 0))
        self._intercepts = np.zeros(0)

    @property
    def _multiclass(self) -> bool:
        return True

    def weights_of(self, names: Sequence[Any]) -> np.ndarray[Any, Any]:
        """The weights of the named features (rows; zeros for features never learned), by
        label (columns, in `labels` order)."""
        rows = [self.features.get(name, -1) for name in names]
        known = self._weights[: len(self.features), : len(self.labels)]
        padded = np.vstack([known, np.zeros((1, len(self.labels)))])  # row -1: never learned
        return padded[rows]

    @property
    def intercepts(self) -> np.ndarray[Any, Any]:
        return self._intercepts[: len(self.labels)]

    def learn_one(self, x: dict[Any, Any], y: Any) -> None:
        if y not in self.labels:
            self._grow(labels=len(self.labels) + 1)
            self.labels[y] = len(self.labels)
        features = self.features
        for name in x:
            if name not in features:
                features[name] = len(features)
        if len(features) > self._weights.shape[0]:
            self._grow(features=len(features))
        rows = np.fromiter(map(features.__getitem__, x), dtype=np.intp, count=len(x))
        values = np.fromiter(x.values(), dtype=np.float64, count=len(x))
        count = len(self.labels)
        weights = self._weights[:, :count]
        logits = values @ weights[rows] + self._intercepts[:count]
        # River's log loss gradient, one label at a time: -y / (e^(y z) + 1), y in {-1, 1},
        # with its two approximations beyond |y z| = 18.
        signs = np.full(count, -1.0)
        signs[self.labels[y]] = 1.0
        z = logits * signs
        gradients = np.where(
            z > 18.0,
            np.exp(-np.maximum(z, 18.0)) * -signs,
            np.where(z < -18.0, -signs, -signs / (np.exp(np.clip(z, -18.0, 18.0)) + 1.0)),
        )
        self._intercepts[:count] -= self.intercept_rate * gradients
        weights[rows] -= np.outer(values, gradients) * self.learning_rate

    def predict_proba_one(
        self, x: dict[Hashable, Any], **kwargs: Any
    ) -> dict[base.typing.ClfTarget, float]:
        if not self.labels:
            return {}
        features = self.features
        known = [(features[name], value) for name, value in x.items() if name in features]
        count = len(self.labels)
        logits = self._intercepts[:count].copy()
        if known:
            rows = np.fromiter((row for row, _ in known), dtype=np.intp, count=len(known))
            values = np.fromiter((v for _, v in known), dtype=np.float64, count=len(known))
            logits += values @ self._weights[rows, :count]
        scores = [_sigmoid(logit) for logit in logits.tolist()]
        total = 0.0
        for score in scores:
            total += score
        if not total:
            return dict.fromkeys(self.labels, 1.0 / count)
        return {label: score / total for label, score in zip(self.labels, scores, strict=True)}

    def _grow(self, *, features: int = 0, labels: int = 0) -> None:
        """Room for at least this many features and labels: doubled, so growing is rare."""
        rows, columns = self._weights.shape
        new_rows = max(rows, 2 * rows if features > rows else rows, features, 8)
        new_columns = max(columns, labels)
        if (new_rows, new_columns) == (rows, columns):
            return
        grown = np.zeros((new_rows, new_columns))
        grown[:rows, :columns] = self._weights
        self._weights = grown
        intercepts = np.zeros(new_columns)
        intercepts[: len(self._intercepts)] = self._intercepts
        self._intercepts = intercepts


def _sigmoid(logit: float) -> float:
    """River's sigmoid (`river.utils.math.sigmoid`): exactly 0 and 1 beyond a logit of 30."""
    if logit < -LOGIT_BOUND:
        return 0.0
    if logit > LOGIT_BOUND:
        return 1.0
    return 1.0 / (1.0 + math.exp(-logit))


class LinearScorer:
    """Scores rows as the pipeline's ``predict_proba_one`` does, a batch at a time.

    Build it with `linear_scorer`; it reads the pipeline's state when asked, so it stays right
    as the model learns.
    """

    def __init__(
        self,
        front: Callable[[Sequence[dict[str, Any]]], _Sparse],
        classifier: multiclass.OneVsRestClassifier | OneVsRestLogistic,
    ) -> None:
        self._front = front
        self._classifier = classifier

    def predict_proba(self, rows: Sequence[dict[str, Any]]) -> list[dict[Any, float]]:
        """Each row's label probabilities, as the classifier's ``predict_proba_one`` gives
        them (every label the classifier has seen, normalised to sum to 1)."""
        if not rows:
            return []
        classifier = self._classifier
        labels = list(
            classifier.labels
            if isinstance(classifier, OneVsRestLogistic)
            else classifier.classifiers
        )
        if not labels:
            return [{} for _ in rows]
        at, found, values, columns = self._front(rows)
        weights, intercepts = _weights(classifier, columns)
        if len(rows) * len(columns) <= _DENSE_CELLS:
            dense = np.zeros((len(rows), len(columns)))
            dense[at, found] = values  # a row names each column once
            logits = dense @ weights + intercepts
        else:  # many rows of many words: one weighted count per label instead
            logits = np.empty((len(rows), len(labels)))
            for k in range(len(labels)):
                terms = values * weights[found, k]
                logits[:, k] = np.bincount(at, weights=terms, minlength=len(rows)) + intercepts[k]
        inside = 1.0 / (1.0 + np.exp(-np.clip(logits, -LOGIT_BOUND, LOGIT_BOUND)))
        probabilities = np.where(
            logits < -LOGIT_BOUND, 0.0, np.where(logits > LOGIT_BOUND, 1.0, inside)
        )
        out: list[dict[Any, float]] = []
        uniform = 1.0 / len(labels)
        # Summed one term at a time, left to right, as River's one-vs-rest sums its votes.
        for scores in probabilities.tolist():
            total = 0.0
            for score in scores:
                total += score
            if total:
                out.append({label: s / total for label, s in zip(labels, scores, strict=True)})
            else:
                out.append(dict.fromkeys(labels, uniform))
        return out


def _weights(
    classifier: multiclass.OneVsRestClassifier | OneVsRestLogistic, columns: list[Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The named features' weights (rows) for each label (columns), and the intercepts."""
    if isinstance(classifier, OneVsRestLogistic):
        return classifier.weights_of(columns), classifier.intercepts
    # River's: `linear_scorer` checked that every binary model is a logistic regression.
    binaries = cast("dict[Any, linear_model.LogisticRegression]", classifier.classifiers)
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
    front = _tabular_front(front_steps)
    if front is None:
        front = _generic_front(front_steps)
    return LinearScorer(front, last)


def _logistic_ovr(step: Any) -> bool:
    if type(step) is OneVsRestLogistic:
        return True
    if type(step) is not multiclass.OneVsRestClassifier:
        return False
    binaries = [step.classifier, *step.classifiers.values()]
    return all(
        type(binary) is linear_model.LogisticRegression
        and type(binary.loss) is optim.losses.Log
        and type(binary._weights).__name__ == "VectorDict"
        for binary in binaries
    )


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


def _tabular_front(steps: Sequence[Any]) -> Callable[[Sequence[dict[str, Any]]], _Sparse] | None:
    """`features.tabular_front`, read directly: numbers scaled in one array operation."""
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
    if shapes != [[SelectValues, ReadOnlyScaler], [SelectValues, OneHot]]:
        return None
    (numbers, scaler), (strings, encoder) = branches
    if numbers.strings or not strings.strings:
        return None
    if not encoder.drop_zeros or encoder.drop_first or encoder.categories is not None:
        return None

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
            x = vocabulary.transform_one(row) if vocabulary is not None else row
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


def _scale(scaler: ReadOnlyScaler, sparse: _Sparse, at: np.ndarray[Any, Any]) -> None:
    """Scale the values where ``at`` is true in place, as `ReadOnlyScaler.transform_one` does:
    ``(value - mean) / sqrt(variance)``, and 0.0 for a field of no variance (or never seen)."""
    _rows, column_of, values, columns = sparse
    means = np.array([scaler.means.get(name, 0.0) for name in columns], dtype=np.float64)
    variances = np.array([scaler.vars.get(name, 0.0) for name in columns], dtype=np.float64)
    if not at.any():
        return
    positions = np.flatnonzero(at)
    found = column_of[positions]
    deviations = np.sqrt(variances)[found]
    known = deviations > 0.0
    centred = values[positions] - means[found]
    values[positions] = np.where(known, centred / np.where(known, deviations, 1.0), 0.0)
