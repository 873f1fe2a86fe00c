"""One-vs-rest logistic regression with every label's weights in one matrix.

`OneVsRestLogistic` learns what River's ``OneVsRestClassifier(LogisticRegression())`` learns,
the same SGD step for each label's binary model, up to the order of a sum's terms; but one
label costs a single pass over the item's features for every label at once, where River walks
the features once per label (ten labels: ten passes). A project's model is taught each label
about twenty times (rehearsal, and the accuracy estimate's shadow models), so learning is most
of what a label costs.

Learning an item and predicting one are compiled (`streamloop.online.kernels`), their sums
taken term by term in the item's order; `OneVsRestLogistic.logits_many` sums with numpy's own
reduction. Never a BLAS product: BLAS picks its kernel by CPU, and each kernel adds the terms
in another order, so equal histories would give models (and snapshots) that differ from one
machine to another. (Scoring a batch, `streamloop.online.linear`, does use BLAS: its scores
are within 1e-12 of one at a time, and it never changes what is learned.)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np
from river import base

from streamloop.online.compiled import kernels
from streamloop.online.inputs import as_row

__all__ = ["LOGIT_BOUND", "OneVsRestLogistic", "ShadowHeads"]

#: Beyond this logit, River's sigmoid is exactly 0 or 1 (`river.utils.math.sigmoid`).
LOGIT_BOUND = 30.0


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

    #: Its steps are compiled (`streamloop.online.compiled.uses_compiled`).
    compiled_steps = True

    def __init__(self, learning_rate: float = 0.01, intercept_rate: float = 0.01) -> None:
        # Floats: the compiled steps are compiled for the types they are given.
        self.learning_rate = float(learning_rate)
        self.intercept_rate = float(intercept_rate)
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
        rows = np.fromiter(
            map(self.features.get, names, repeat(-1)), dtype=np.intp, count=len(names)
        )
        found = rows >= 0
        weights = np.zeros((len(names), len(self.labels)))
        weights[found] = self._weights[rows[found], : len(self.labels)]
        return weights

    @property
    def intercepts(self) -> np.ndarray[Any, Any]:
        return self._intercepts[: len(self.labels)]

    def add_labels(self, labels: Sequence[Any]) -> None:
        """Give these labels their columns now, in this order: each then learns from every
        item (as River's binary model per label does), not from the first it is given."""
        for label in labels:
            if label not in self.labels:
                self._grow(labels=len(self.labels) + 1)
                self.labels[label] = len(self.labels)

    def logits_many(self, rows: Sequence[dict[Any, Any]]) -> np.ndarray[Any, Any]:
        """Each row's logit for each label (rows by labels, in `labels` order). Each row is
        summed on its own (numpy's reduction, not BLAS): the same whichever rows come with
        it, on any CPU; it may differ from `predict_proba_one`'s sum in the last bits. Every
        value is read as a float, a feature's the model does not know too."""
        count = len(self.labels)
        sizes = np.fromiter(map(len, rows), np.intp, len(rows))
        total = int(sizes.sum())
        # Each row's features looked up and read in C (`map`, `fromiter`); an unknown one is -1.
        at = np.fromiter(
            map(self.features.get, chain.from_iterable(rows), repeat(-1)), np.intp, total
        )
        values = np.fromiter(chain.from_iterable(x.values() for x in rows), np.float64, total)
        known = at >= 0
        logits = np.tile(self._intercepts[:count], (len(rows), 1))
        if known.any():
            terms = self._weights[at[known], :count] * values[known][:, None]
            # Each row's known terms, added in the row's order.
            found = np.bincount(np.repeat(np.arange(len(rows)), sizes)[known], minlength=len(rows))
            first = np.cumsum(found) - found
            filled = found > 0
            logits[filled] += np.add.reduceat(terms, first[filled], axis=0)
        return logits

    def learn_one(self, x: dict[Any, Any], y: Any) -> None:
        self.learn_row(*as_row(x), y)

    def learn_row(self, names: tuple[Any, ...], values: np.ndarray[Any, Any], y: Any) -> None:
        """`learn_one` of the features ``names`` with ``values`` (an array, in their order)."""
        if y not in self.labels:
            self._grow(labels=len(self.labels) + 1)
            self.labels[y] = len(self.labels)
        rows = _learned_rows(self, names)  # first: it may grow the weights
        kernels().one_vs_rest_step(
            self._weights,
            self._intercepts,
            rows,
            values,
            len(self.labels),
            self.labels[y],
            self.learning_rate,
            self.intercept_rate,
        )

    def __getstate__(self) -> dict[str, Any]:
        return _without_memo(self.__dict__)

    def predict_proba_one(
        self, x: dict[Hashable, Any], **kwargs: Any
    ) -> dict[base.typing.ClfTarget, float]:
        return self.predict_proba_row(*as_row(x))

    def predict_proba_row(
        self, names: tuple[Hashable, ...], values: np.ndarray[Any, Any]
    ) -> dict[base.typing.ClfTarget, float]:
        """`predict_proba_one` of the features ``names`` with ``values`` (in their order)."""
        if not self.labels:
            return {}
        probabilities = kernels().probabilities(
            self._weights, self._intercepts, *_known(self, names, values), len(self.labels)
        )
        return dict(zip(self.labels, probabilities.tolist(), strict=True))

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


def _learned_rows(model: OneVsRestLogistic | ShadowHeads, names: tuple[Any, ...]) -> Any:
    """The rows of the model's weights for the features ``names``, in their order (an index
    array), new names given rows first."""
    rows = _remembered(model, names)
    if rows is not None:
        return rows  # each name has its row already
    features = model.features
    if not features.keys() >= set(names):  # in C: the usual item names known features
        for name in names:
            if name not in features:
                features[name] = len(features)
        if len(features) > model._weights.shape[0]:
            model._grow(features=len(features))
    return _rows(model, names)


def _known(
    model: OneVsRestLogistic | ShadowHeads, names: tuple[Any, ...], values: np.ndarray[Any, Any]
) -> tuple[Any, Any]:
    """The rows and values of the features ``names`` (with ``values``) the model has learned,
    in their order (to predict: features it never learned have no weights)."""
    rows = _remembered(model, names)
    if rows is not None:
        return rows, values
    features = model.features
    if features.keys() >= set(names):
        return _rows(model, names), values
    known = [n for n, name in enumerate(names) if name in features]
    rows = np.fromiter((features[names[n]] for n in known), dtype=np.intp, count=len(known))
    return rows, values[known]


def _rows(model: OneVsRestLogistic | ShadowHeads, names: tuple[Any, ...]) -> Any:
    """The rows of the features ``names``, each learned already. Rows of one source share
    their features in order, so the last item's rows are kept (out of pickled state) and most
    items cost no lookup per feature; a name's row never changes once given."""
    rows = _remembered(model, names)
    if rows is not None:
        return rows
    rows = np.fromiter(map(model.features.__getitem__, names), dtype=np.intp, count=len(names))
    model.__dict__["_rows_memo"] = (names, rows)
    return rows


def _remembered(model: OneVsRestLogistic | ShadowHeads, names: tuple[Any, ...]) -> Any:
    """The rows `_rows` gave last, if it was for these very names; else None."""
    memo = model.__dict__.get("_rows_memo")
    return memo[1] if memo is not None and memo[0] == names else None


def _without_memo(state: dict[str, Any]) -> dict[str, Any]:
    """A model's pickled state: what it learned, not `_learned_rows`' memo."""
    if "_rows_memo" in state:
        state = dict(state)
        del state["_rows_memo"]
    return state


class ShadowHeads:
    """Several copies of a `OneVsRestLogistic` that learn the same features, in one array.

    The accuracy estimate's shadow models of a logistic project (`OnlineModel`) differ
    from the model they shadow only in a few random draws each never learns. Kept as whole
    pipelines they cost four fronts and four heads per step; kept here they share the model's
    front (its features for the step, computed once) and take one step for every copy at once:
    a step costs about what one copy's step costs. Copy ``k`` is the ``k``-th shadow; a step
    can leave one copy out (``skip``), the one whose fold holds the item.

    Each copy learns the weights a `OneVsRestLogistic` with the same rates learning the same
    features would, up to the order of a sum's terms; its steps are compiled, their sums
    taken in order, never BLAS, so equal histories give equal copies on any CPU.

    Examples
    --------
    >>> heads = ShadowHeads(2)
    >>> heads.learn_one({"refund": 1.0}, "billing", skip=1)
    >>> heads.learn_one({"crash": 1.0}, "bug", skip=-1)
    >>> sorted(heads.predict_proba_one(0, {"refund": 1.0}))
    ['billing', 'bug']
    >>> heads.predict_proba_one(1, {"refund": 1.0})
    {'bug': 1.0}
    """

    #: Its steps are compiled (`streamloop.online.compiled.uses_compiled`).
    compiled_steps = True

    def __init__(self, copies: int, learning_rate: float = 0.01, intercept_rate: float = 0.01):
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        self.copies = copies
        # Floats: the compiled steps are compiled for the types they are given.
        self.learning_rate = float(learning_rate)
        self.intercept_rate = float(intercept_rate)
        #: Each label seen by any copy, to its column.
        self.labels: dict[Any, int] = {}
        #: Each feature learned by any copy, to its row.
        self.features: dict[Any, int] = {}
        #: Which labels each copy has seen: a copy predicts only those, as its own
        #: `OneVsRestLogistic` would.
        self._seen = np.zeros((copies, 0), dtype=bool)
        #: Features (rows) by copies by labels: a step reads and writes its features' rows.
        self._weights = np.zeros((0, copies, 0))
        self._intercepts = np.zeros((copies, 0))

    def learn_one(self, x: dict[Any, Any], y: Any, *, skip: int = -1) -> None:
        """Every copy but ``skip`` (-1: none) learns the features ``x`` as label ``y``."""
        self.learn_row(*as_row(x), y, skip=skip)

    def learn_row(
        self, names: tuple[Any, ...], values: np.ndarray[Any, Any], y: Any, *, skip: int = -1
    ) -> None:
        """`learn_one` of the features ``names`` with ``values`` (an array, in their order)."""
        if not -1 <= skip < self.copies:
            raise ValueError(f"skip must be -1 or a copy below {self.copies}, got {skip}")
        if y not in self.labels:
            self.labels[y] = len(self.labels)
            self._grow(labels=len(self.labels))
        rows = _learned_rows(self, names)
        # A copy whose first sight of label y is this step gets its column from here on, as
        # River's one-vs-rest clones an untrained model for it; a copy learns only the columns
        # of labels it saw (the others stay zeros), and ``skip`` learns nothing.
        kernels().heads_step(
            self._weights,
            self._intercepts,
            self._seen,
            rows,
            values,
            len(self.labels),
            self.labels[y],
            skip,
            self.learning_rate,
            self.intercept_rate,
        )

    def __getstate__(self) -> dict[str, Any]:
        return _without_memo(self.__dict__)

    def predict_proba_one(self, copy: int, x: dict[Any, Any]) -> dict[Any, float]:
        """Copy ``copy``'s probabilities for the features ``x``: its labels only."""
        return self.predict_proba_many(copy, [x])[0]

    def predict_proba_many(
        self, copy: int, rows: Sequence[dict[Any, Any]]
    ) -> list[dict[Any, float]]:
        """`predict_proba_one` of each row, the copy's weights gathered once."""
        labels = [label for label, column in self.labels.items() if self._seen[copy, column]]
        if not labels:
            return [{} for _ in rows]
        columns = np.array([self.labels[label] for label in labels], dtype=np.intp)
        # In rows' order, as the compiled step was compiled for (not the columns' order).
        weights = np.ascontiguousarray(self._weights[:, copy, :][:, columns])
        intercepts = self._intercepts[copy, columns]
        probabilities = kernels().probabilities
        out: list[dict[Any, float]] = []
        for x in rows:
            scores = probabilities(weights, intercepts, *_known(self, *as_row(x)), len(labels))
            out.append(dict(zip(labels, scores.tolist(), strict=True)))
        return out

    def _grow(self, *, features: int = 0, labels: int = 0) -> None:
        """Room for at least this many features and labels: doubled, so growing is rare."""
        rows, copies, columns = self._weights.shape
        new_rows = max(rows, 2 * rows if features > rows else rows, features, 8)
        new_columns = max(columns, labels)
        if (new_rows, new_columns) == (rows, columns):
            return
        grown = np.zeros((new_rows, copies, new_columns))
        grown[:rows, :, :columns] = self._weights
        self._weights = grown
        intercepts = np.zeros((copies, new_columns))
        intercepts[:, :columns] = self._intercepts
        self._intercepts = intercepts
        seen = np.zeros((copies, new_columns), dtype=bool)
        seen[:, :columns] = self._seen
        self._seen = seen
