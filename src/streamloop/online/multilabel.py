"""A multi-label project's online model: one binary classifier per label on a shared front.

Binary relevance: each label gets its own River binary classifier, which learns from every
item whether that label applies, so each label has its own probability and none of them sum
to anything. The feature front (the same vectoriser or tabular front as the single-label
preset) is shared: it learns each item once, whatever the number of labels.
"""

from __future__ import annotations

import logging
import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any, cast

import numpy as np
from river import naive_bayes, tree

from streamloop.online.base import ModelBase
from streamloop.online.inputs import NumericRows, model_input
from streamloop.online.linear import LinearScorer, binary_scorer
from streamloop.online.multilabel_metrics import MultiLabelMetrics
from streamloop.online.multilabel_strategies import (
    DEFAULT_MULTILABEL_STRATEGY,
    MULTILABEL_STRATEGIES,
    multilabel_uncertainties,
    multilabel_uncertainty,
)
from streamloop.online.presets import INPUT_KINDS, PRESETS, build_front, logistic

__all__ = [
    "DEFAULT_THRESHOLD",
    "MULTILABEL_PRESETS",
    "UNSUPPORTED_PAIRS",
    "MultiLabelLearned",
    "MultiLabelModel",
    "MultiLabelPrediction",
]

log = logging.getLogger(__name__)

#: The presets a multi-label model can use. ``adaptive_random_forest`` is left out: a forest
#: per label multiplies a forest's cost by the number of labels. Measured (BENCHMARKS.md,
#: "Multi-label"): one 10-tree forest takes about 2 ms to predict and learn an item and 150 ms
#: to snapshot after 600 items, so ten labels would take 20 ms a label set and 1.5 s a snapshot.
MULTILABEL_PRESETS: tuple[str, ...] = ("logistic_regression", "naive_bayes", "hoeffding_tree")
#: Pairs of a supported preset and an input kind that are refused all the same, and why. A
#: Hoeffding tree splits a text's hashed word buckets only once one bucket's gain beats the
#: others' by its Hoeffding bound: with each label's words spread over many buckets, the first
#: split came after about 3,300 items in our tests. Until then each label's tree predicts its
#: base rate for every item, which is useless to route by.
UNSUPPORTED_PAIRS: dict[tuple[str, str], str] = {
    ("hoeffding_tree", "text"): (
        "a Hoeffding tree per label learns nothing from text in its first few thousand labels"
    ),
}
#: A label is predicted when its probability is above its threshold.
DEFAULT_THRESHOLD = 0.5
#: What a label's probability is when its classifier cannot say: a blind guess.
_UNSURE = 0.5


# Not frozen, as `streamloop.online.model.Prediction`: one is made for every event scored and
# every candidate re-scored. Nothing assigns to a prediction's fields.
@dataclass(slots=True)
class MultiLabelPrediction:
    """What a multi-label model made of one item.

    Attributes
    ----------
    labels
        The labels predicted to apply (each above its threshold), in the project's order; empty
        when none does, ``None`` when the model has nothing to go on yet.
    probabilities
        Every project label, in the project's order, to the probability that it applies; each
        is in [0, 1] and they need not sum to 1.
    uncertainty
        How unsure the prediction is, in [0, 1], by the project's strategy.
    model_version
        The version that made the prediction: how many label sets it had learned.
    """

    labels: tuple[str, ...] | None
    probabilities: dict[str, float]
    uncertainty: float
    model_version: int

    def as_json(self) -> dict[str, Any]:
        """The prediction as the contract gives it (events, ``/predict``)."""
        return {
            "labels": None if self.labels is None else list(self.labels),
            "probabilities": self.probabilities,
            "uncertainty": self.uncertainty,
            "model_version": self.model_version,
        }


@dataclass(frozen=True, slots=True)
class MultiLabelLearned:
    """The outcome of learning one item's label set.

    Attributes
    ----------
    predicted
        The set the model predicted for the item just before learning it (``None``: no
        prediction yet).
    correct
        Whether that set was exactly the one given.
    model_version
        The first version that includes this label set.
    """

    predicted: tuple[str, ...] | None
    correct: bool
    model_version: int


class MultiLabelModel(ModelBase):
    """A multi-label project's model: a feature front, a binary classifier per label, its
    prequential metrics and its version.

    The version counts the label sets learned (an empty set counts), so version 0 is
    untrained. Learning is prequential: each item is predicted first, the prediction is scored
    against the label set, and only then is the set learned.

    Parameters
    ----------
    labels
        The project's labels (one or more, distinct), in the order reports list them.
    input_kind
        One of `INPUT_KINDS`.
    preset
        One of `MULTILABEL_PRESETS`, except the pairs in `UNSUPPORTED_PAIRS`.
    strategy
        One of `MULTILABEL_STRATEGIES`: how `MultiLabelPrediction.uncertainty` is scored.
    thresholds
        Labels to their own threshold, in (0, 1); the others have `DEFAULT_THRESHOLD`.
    seed
        Seeds the model's random choices (rehearsal's draws).
    window
        How many of the latest label sets the rolling micro-F1 covers.
    rehearsal
        Earlier label sets re-learned after each new one, from a reservoir of ``memory``.

    Raises
    ------
    ValueError
        If any argument is invalid; a preset other than `MULTILABEL_PRESETS`, or a pair in
        `UNSUPPORTED_PAIRS`, is refused.

    Examples
    --------
    >>> model = MultiLabelModel(
    ...     labels=["bug", "billing", "ui"], input_kind="text", preset="naive_bayes"
    ... )
    >>> model.predict({"text": "app crashes"}).labels is None
    True
    >>> model.learn({"text": "the app crashes on start"}, ["bug"])
    MultiLabelLearned(predicted=None, correct=False, model_version=1)
    >>> model.learn({"text": "charged twice, and the button is hidden"}, ["billing", "ui"])
    MultiLabelLearned(predicted=('bug',), correct=False, model_version=2)
    >>> _ = model.learn({"text": "thanks, all good"}, [])  # none applies
    >>> _ = model.learn({"text": "app crashes when charged"}, ["bug", "billing"])
    >>> after = model.predict({"text": "charged twice"})
    >>> after.labels, round(after.probabilities["billing"], 2)
    (('billing', 'ui'), 0.82)
    >>> model.predict({"text": "app crashes"}).labels
    ('bug',)
    >>> MultiLabelModel.restore(model.snapshot()).version
    4
    """

    _kind = "multi-label model"

    def __init__(
        self,
        *,
        labels: Sequence[str],
        input_kind: str,
        preset: str,
        strategy: str = DEFAULT_MULTILABEL_STRATEGY,
        thresholds: Mapping[str, float] | None = None,
        seed: int = 0,
        window: int = 200,
        rehearsal: int = 0,
        memory: int = 1000,
        challengers: Sequence[str] = (),
    ) -> None:
        if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
            raise ValueError("labels must be a sequence of strings")
        if len(set(labels)) != len(labels) or not labels:
            raise ValueError(f"labels must be one or more distinct strings, got {list(labels)}")
        if preset not in MULTILABEL_PRESETS:
            known = "a preset" if preset in PRESETS else "an unknown preset"
            raise ValueError(
                f"{preset!r} is {known} that multi-label projects do not support; expected one "
                f"of: {', '.join(MULTILABEL_PRESETS)}"
            )
        if input_kind not in INPUT_KINDS:
            raise ValueError(
                f"unknown input kind {input_kind!r}; expected one of: {', '.join(INPUT_KINDS)}"
            )
        why = UNSUPPORTED_PAIRS.get((preset, input_kind))
        if why is not None:
            raise ValueError(
                f"multi-label projects do not support {preset!r} with {input_kind} items: {why}"
            )
        if strategy not in MULTILABEL_STRATEGIES:
            raise ValueError(
                f"unknown strategy {strategy!r}; expected one of: "
                f"{', '.join(MULTILABEL_STRATEGIES)}"
            )
        if rehearsal < 0 or memory < 1:
            raise ValueError(f"rehearsal must be 0 or more and memory 1 or more, got {rehearsal}")
        self._front: Any = build_front(preset, input_kind)
        self._binaries: dict[str, Any] = {label: _binary(preset, input_kind) for label in labels}
        self._thresholds = _thresholds(tuple(labels), thresholds or {})
        self._start(
            labels=tuple(labels),
            input_kind=input_kind,
            preset=preset,
            strategy=strategy,
            seed=seed,
            rehearsal=rehearsal,
            memory=memory,
        )
        self._metrics = MultiLabelMetrics(self._labels, window)
        #: The same figures over the random draws alone: unbiased for the stream.
        self._sampled_metrics = MultiLabelMetrics(self._labels, window)
        if challengers:  # only then: models without them pickle as before they existed
            self._challengers = {
                name: MultiLabelModel(
                    labels=labels,
                    input_kind=input_kind,
                    preset=name,
                    strategy=strategy,
                    thresholds=thresholds,
                    seed=seed,
                    window=window,
                    rehearsal=rehearsal,
                    memory=memory,
                )
                for name in challengers
            }

    @property
    def thresholds(self) -> dict[str, float]:
        """Every label to its threshold, in the project's order."""
        return dict(zip(self._labels, self._thresholds, strict=True))

    @property
    def metrics(self) -> MultiLabelMetrics:
        """The prequential metrics of every label set learned."""
        return self._metrics

    @property
    def sampled_metrics(self) -> MultiLabelMetrics:
        """The prequential metrics of the label sets of items drawn at random: unbiased for
        the stream, as `sampled_accuracy` is for the exact-match ratio."""
        return self._sampled_metrics

    def predict(self, data: Mapping[str, Any]) -> MultiLabelPrediction:
        """Predict one item without changing the model.

        Raises
        ------
        ValueError
            If the data does not fit the model's input kind.
        """
        return self._predict(model_input(self._input_kind, data))

    def predict_many(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        numbers: Callable[[], NumericRows | None] | None = None,
    ) -> list[MultiLabelPrediction]:
        """Predict several items; the same as `predict` on each, but that a batch scored as
        one by logistic regressions takes its sums in another order: its probabilities agree
        to rounding relative to the terms summed (within 1e-12 for items of the scale the
        model learned), as `OnlineModel.predict_many`'s. ``numbers``, when given, gives
        `inputs.numeric_rows` of ``rows`` when asked (items scored again and again, read once
        by whoever keeps them).

        Raises
        ------
        ValueError
            If any row does not fit the model's input kind; then nothing is returned.
        """
        scorer = self._batch_scorer(len(rows))
        found = self._numbers_scores(scorer, rows, numbers)
        if found is not None:
            return self._predictions(found[1])
        inputs = [model_input(self._input_kind, data) for data in rows]
        if scorer is not None:
            return self._predictions(scorer.scores(inputs)[1])
        return [self._predict(x) for x in inputs]

    def _scorer(self) -> LinearScorer | None:
        """The batch scorer of a front shared by logistic regressions (`binary_scorer`)."""
        if self._preset != "logistic_regression":
            return None
        return binary_scorer(self._front, self._binaries)

    def _predictions(self, scores: np.ndarray[Any, Any]) -> list[MultiLabelPrediction]:
        """Each row of ``scores`` (the labels' probabilities, in the project's order) as a
        prediction, as `_predict` makes one."""
        labels, version = self._labels, self._version
        # As `_probability` keeps them: in [0, 1], NaN (a misbehaving estimator's) as 0.
        scores = np.where(scores > 0.0, np.minimum(scores, 1.0), 0.0)
        above = (scores > np.asarray(self._thresholds)).tolist()
        uncertainties = multilabel_uncertainties(self._strategy, scores, self._thresholds)
        return [
            MultiLabelPrediction(
                labels=tuple(compress(labels, applies)),
                probabilities=dict(zip(labels, row, strict=True)),
                uncertainty=uncertainty,
                model_version=version,
            )
            for row, applies, uncertainty in zip(scores.tolist(), above, uncertainties, strict=True)
        ]

    def features(self, data: Mapping[str, Any]) -> dict[Any, float]:
        """The item as the classifiers see it: the front's features, without predicting."""
        transformed: dict[Any, float] = self._front.transform_one(
            model_input(self._input_kind, data)
        )
        return transformed

    def learn(
        self,
        data: Mapping[str, Any],
        labels: Sequence[str],
        *,
        drawn_at_random: bool = False,
        annotator: str | None = None,
        correction: bool = False,
        defer: bool = False,
    ) -> MultiLabelLearned:
        """Test the model on one item's label set, then teach it the set.

        ``labels`` are the labels that apply (none: an empty sequence). ``drawn_at_random``,
        ``annotator`` and ``correction`` are as in `OnlineModel.learn`: a draw counts towards
        the unbiased figures too, an annotator in the per-annotator ones, and a correction is
        learned but not tested. With ``defer`` the challengers learn the set at the next
        `settle`.

        Raises
        ------
        ValueError
            If a label is not one of the project's or is repeated, or the data does not fit;
            the model is then left unchanged.
        """
        given = self._label_set(labels)
        x = model_input(self._input_kind, data)
        prediction = self._predict(x)
        if correction:
            if annotator is not None:
                self._annotators.corrected(annotator)
        else:
            self._test(given, prediction, drawn_at_random, annotator)
        self._teach(x, given, rehearse=not correction)
        self._version += 1
        self._challenge(
            x,
            tuple(label for label in self._labels if label in given),
            drawn_at_random=drawn_at_random,
            annotator=annotator,
            correction=correction,
            defer=defer,
        )
        return MultiLabelLearned(
            predicted=prediction.labels,
            correct=prediction.labels is not None and set(prediction.labels) == given,
            model_version=self._version,
        )

    def _learn_deferred(
        self, x: dict[str, Any], answer: Any, drawn: bool, annotator: str | None, correction: bool
    ) -> None:
        self.learn(
            x, answer, drawn_at_random=drawn, annotator=annotator, correction=correction, defer=True
        )

    def accuracy_estimate(self, traffic: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The exact-match ratio on production traffic, with its 95% interval: the random
        draws' prequential hits (``method`` ``"random_draws"``), the latest weighted most (a
        draw counts half as much 15 draws later), so it follows the model as it learns; the
        unweighted mean over every draw is `sampled_metrics`' ``exact_match``.

        ``traffic`` is accepted for the same call as `OnlineModel.accuracy_estimate`, and not
        used: the cross-fitted correction by traffic is built for single labels only.
        """
        return self._sampled.report() | {"method": "random_draws", "traffic": 0}

    def pipeline_pickle(self) -> bytes:
        """The feature front and the per-label classifiers, pickled as a dict: the model to
        take elsewhere (``{"front": ..., "classifiers": {label: ...}, "thresholds": ...}``).

        Loading it needs River and streamloop installed (its feature classes live here).
        """
        return pickle.dumps(
            {"front": self._front, "classifiers": self._binaries, "thresholds": self.thresholds},
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    def _test(
        self,
        given: frozenset[str],
        prediction: MultiLabelPrediction,
        drawn_at_random: bool,
        annotator: str | None,
    ) -> None:
        predicted = prediction.labels
        self._metrics.update(given, predicted)
        total = self._metrics.labels_total
        self._curve.add(total, *self._metrics.accuracies())
        if predicted is None:
            if annotator is not None:
                self._annotators.labelled(annotator, agreed=False)
            return
        exact = set(predicted) == given
        if drawn_at_random:
            self._sampled.update(exact)
            self._sampled_metrics.update(given, predicted)
            self._unbiased_curve.add(total, self._sampled.estimate())
        # The confidence that the whole set is right, were the labels independent: its gap to
        # the exact-match hit is what the drift test watches, as a single label's confidence.
        confidence = math.prod(max(p, 1.0 - p) for p in prediction.probabilities.values())
        change = self._drift.update(
            total, hit=exact, confidence=confidence, drawn_at_random=drawn_at_random
        )
        if change == "drift":
            self._forget_rehearsal()
        if annotator is not None:
            self._annotators.labelled(annotator, agreed=exact)

    def _label_set(self, labels: Sequence[str]) -> frozenset[str]:
        if isinstance(labels, str) or not isinstance(labels, Sequence | frozenset | set):
            raise ValueError(f"labels must be a list of labels, got {type(labels).__name__}")
        for label in labels:
            if not isinstance(label, str):
                raise ValueError(f"labels must be strings, got {label!r}")
        given = frozenset(labels)
        if len(given) != len(labels):
            raise ValueError(f"labels must not repeat, got {list(labels)}")
        unknown = [label for label in labels if label not in self._binaries]
        if unknown:
            raise ValueError(f"unknown label {unknown[0]!r}; expected some of: {self._labels}")
        return given

    def _teach(self, x: dict[str, Any], labels: frozenset[str], *, rehearse: bool) -> None:
        try:
            self._relearn(x, labels)
            if self._rehearsal and rehearse:
                self._rehearse(x, labels)
        except ArithmeticError:
            # As `OnlineModel._teach`: the set is counted all the same, so versions keep
            # matching the store, and a replay fails the same way.
            log.exception(
                "model version %d: an estimator failed to learn a label set", self._version
            )

    def _relearn(self, x: dict[str, Any], answer: Any) -> None:
        # As a River pipeline does: the front learns the item, then passes it on transformed.
        self._front.learn_one(x)
        features = self._front.transform_one(x)
        for label, binary in self._binaries.items():
            binary.learn_one(features, label in answer)

    def _predict(self, x: dict[str, Any]) -> MultiLabelPrediction:
        # An untrained model has nothing to say (and asking would build caches, see
        # `OnlineModel._predict`).
        if not self._version:
            return MultiLabelPrediction(
                labels=None,
                probabilities=dict.fromkeys(self._labels, _UNSURE),
                uncertainty=1.0,
                model_version=0,
            )
        features = self._front.transform_one(x)
        probabilities = [_probability(binary, features) for binary in self._binaries.values()]
        return MultiLabelPrediction(
            labels=tuple(
                label
                for label, p, t in zip(self._labels, probabilities, self._thresholds, strict=True)
                if p > t
            ),
            probabilities=dict(zip(self._labels, probabilities, strict=True)),
            uncertainty=multilabel_uncertainty(self._strategy, probabilities, self._thresholds),
            model_version=self._version,
        )


def _probability(binary: Any, features: dict[Any, float]) -> float:
    try:
        if isinstance(binary, naive_bayes.base.BaseNB):
            # River annotates it as a float; it is a dict of class to log-likelihood.
            likelihoods = cast("dict[Any, float]", binary.joint_log_likelihood(features))
            p = _naive_bayes_probability(likelihoods)
        else:
            p = float(binary.predict_proba_one(features).get(True, 0.0))
    except ArithmeticError:
        # Such as multinomial naive Bayes before it has learned a text with a word: unsure.
        return _UNSURE
    if p >= 1.0:
        return 1.0
    # Negative or NaN from a misbehaving estimator counts as 0 ("p > 0" is False for NaN).
    return p if p > 0.0 else 0.0


def _naive_bayes_probability(log_likelihoods: Mapping[Any, float]) -> float:
    # River's `predict_proba_one` normalises through SciPy's logsumexp, which costs about
    # 200 µs a call; with two classes the normalised probability is a logistic function of
    # the difference of their log-likelihoods (equal up to rounding).
    if True not in log_likelihoods:
        return 0.0 if log_likelihoods else _UNSURE
    if False not in log_likelihoods:
        return 1.0
    gap = log_likelihoods[False] - log_likelihoods[True]
    if gap > 0.0:
        odds = math.exp(-gap)
        return odds / (1.0 + odds)
    return 1.0 / (1.0 + math.exp(gap))


def _binary(preset: str, input_kind: str) -> Any:
    if preset == "logistic_regression":
        return logistic(input_kind)
    if preset == "naive_bayes":
        if input_kind == "text":
            return naive_bayes.MultinomialNB()  # type: ignore[no-untyped-call]
        return naive_bayes.GaussianNB()  # type: ignore[no-untyped-call]
    return tree.HoeffdingTreeClassifier()


def _thresholds(labels: tuple[str, ...], given: Mapping[str, float]) -> tuple[float, ...]:
    for label, threshold in given.items():
        if label not in labels:
            raise ValueError(f"threshold for unknown label {label!r}; expected one of: {labels}")
        # NaN fails the comparison too.
        if not (isinstance(threshold, float | int) and 0.0 < threshold < 1.0):
            raise ValueError(f"threshold of {label!r} must be between 0 and 1, got {threshold!r}")
    return tuple(float(given.get(label, DEFAULT_THRESHOLD)) for label in labels)
