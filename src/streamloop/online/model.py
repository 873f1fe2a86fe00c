"""A project's online model: predict, learn from each label at once, snapshot and restore."""

from __future__ import annotations

import logging
import math
import pickle
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, cast

import numpy as np
from river import compose, linear_model, multiclass, optim

from streamloop.online.base import ModelBase
from streamloop.online.drift import DriftMonitor
from streamloop.online.estimate import prediction_powered
from streamloop.online.features import OrderedTFIDF, TabularFront
from streamloop.online.inputs import NumericRows, Row, as_row, model_input
from streamloop.online.linear import LinearScorer, linear_scorer
from streamloop.online.metrics import PrequentialMetrics
from streamloop.online.one_vs_rest import OneVsRestLogistic, ShadowHeads
from streamloop.online.plugins import build_model, checked
from streamloop.online.presets import Classifier
from streamloop.online.strategies import STRATEGIES, uncertainties, uncertainty

__all__ = ["Learned", "OnlineModel", "Prediction"]

log = logging.getLogger(__name__)

#: Shadow models for the accuracy estimate: each learns every label but one fold of the random
#: draws, and scores that fold unseen (BENCHMARKS.md: four is the cheapest that keeps the
#: interval's coverage; ten gains 0.006 in error for 2.5 times the learning).
SHADOWS = 4
#: Random draws each shadow keeps to score.
_HELD_PER_FOLD = 100
#: Draws the estimate needs since the last drift before it leaves out those from before.
_FRESH_DRAWS = 10


# Not frozen: one is made for every event scored and every candidate re-scored, and a frozen
# dataclass's `__init__` costs three to four times as much (CPython 3.11: each field set
# through `object.__setattr__`). Nothing assigns to a prediction's fields.
@dataclass(slots=True)
class Prediction:
    """What a model made of one item.

    Attributes
    ----------
    label
        The likeliest label, or ``None`` when the model has nothing to go on yet.
    probabilities
        Every project label, in the project's order, to its probability; they sum to 1.
    uncertainty
        How unsure the prediction is, in [0, 1], by the project's strategy.
    model_version
        The version that made the prediction: how many labels it had learned.
    """

    label: str | None
    probabilities: dict[str, float]
    uncertainty: float
    model_version: int

    def as_json(self) -> dict[str, Any]:
        """The prediction as the contract gives it (events, ``/predict``, items, records)."""
        return {
            "prediction": self.label,
            "probabilities": self.probabilities,
            "uncertainty": self.uncertainty,
            "model_version": self.model_version,
        }


@dataclass(frozen=True, slots=True)
class Learned:
    """The outcome of learning one label.

    Attributes
    ----------
    predicted
        What the model predicted for the item just before learning its label.
    correct
        Whether that prediction was the label.
    model_version
        The first version that includes this label.
    """

    predicted: str | None
    correct: bool
    model_version: int


class OnlineModel(ModelBase):
    """A project's model: a River pipeline, its prequential metrics and its version.

    The version counts the labels learned, so version 0 is untrained. Learning is
    prequential: each item is predicted first, the prediction is scored against the label,
    and only then is the label learned.

    Parameters
    ----------
    labels
        The project's labels (two or more, distinct), in the order reports list them.
    input_kind
        One of `INPUT_KINDS`.
    preset
        One of `PRESETS`, or an installed plugin's model name (`streamloop.online.plugins`).
    strategy
        One of `STRATEGIES`: how `Prediction.uncertainty` is scored.
    seed
        Seeds the pipeline's random choices.
    window
        How many of the latest labels the rolling accuracy covers.

    Raises
    ------
    ValueError
        If any argument is invalid.

    Examples
    --------
    >>> model = OnlineModel(
    ...     labels=["spam", "ham"], input_kind="text", preset="naive_bayes", strategy="margin"
    ... )
    >>> before = model.predict({"text": "cheap pills"})
    >>> before.label, before.probabilities, before.uncertainty
    (None, {'spam': 0.5, 'ham': 0.5}, 1.0)
    >>> model.learn({"text": "cheap pills, buy now"}, "spam")
    Learned(predicted=None, correct=False, model_version=1)
    >>> model.learn({"text": "lunch at noon?"}, "ham")
    Learned(predicted='spam', correct=False, model_version=2)
    >>> model.predict({"text": "buy cheap pills"}).label
    'spam'
    >>> OnlineModel.restore(model.snapshot()).version
    2
    """

    def __init__(
        self,
        *,
        labels: Sequence[str],
        input_kind: str,
        preset: str,
        strategy: str,
        seed: int = 0,
        window: int = 200,
        rehearsal: int = 0,
        memory: int = 1000,
        shadows: int = SHADOWS,
        challengers: Sequence[str] = (),
    ) -> None:
        if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
            raise ValueError("labels must be a sequence of strings")
        if len(set(labels)) != len(labels) or len(labels) < 2:
            raise ValueError(f"labels must be two or more distinct strings, got {list(labels)}")
        if strategy not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {strategy!r}; expected one of: {', '.join(STRATEGIES)}"
            )
        # A preset, or an installed plugin that passed the presets' contract (`plugins`).
        self._pipeline: Classifier = build_model(
            preset, labels=labels, input_kind=input_kind, seed=seed
        )
        self._start(
            labels=tuple(labels),
            input_kind=input_kind,
            preset=preset,
            strategy=strategy,
            seed=seed,
            rehearsal=rehearsal,
            memory=memory,
        )
        self._metrics = PrequentialMetrics(self._labels, window)
        # Cross-fitting: shadow k never learns the random draws of fold k (draw n is in fold
        # n % shadows), and keeps them, numbered, to score them as a model as current as this
        # one would score items it never saw. A logistic model's shadows are heads on its own
        # front, learning in one array (`ShadowHeads`); any other model's are whole models.
        parts = _shared_front(self._pipeline)
        if parts is not None and shadows:
            self._heads = ShadowHeads(shadows, parts[1], parts[2])
        self._shadows = [
            OnlineModel(
                labels=labels,
                input_kind=input_kind,
                preset=preset,
                strategy=strategy,
                seed=seed,
                window=window,
                rehearsal=rehearsal,
                memory=memory,
                shadows=0,
            )
            for _ in range(shadows if parts is None else 0)
        ]
        self._held: list[deque[tuple[int, dict[str, Any], str]]] = [
            deque(maxlen=_HELD_PER_FOLD) for _ in range(shadows)
        ]
        self._draws = 0
        self._fresh_from = 0  # the first draw counted since the last drift
        self._warning_draw = 0  # the draw count when the latest warning began
        if challengers:  # only then: models without them pickle as before they existed
            self._challengers = {
                name: OnlineModel(
                    labels=labels,
                    input_kind=input_kind,
                    preset=name,
                    strategy=strategy,
                    seed=seed,
                    window=window,
                    rehearsal=rehearsal,
                    memory=memory,
                    shadows=shadows,
                )
                for name in challengers
            }

    @property
    def metrics(self) -> PrequentialMetrics:
        """The prequential metrics of every label learned."""
        return self._metrics

    def predict(self, data: Mapping[str, Any]) -> Prediction:
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
    ) -> list[Prediction]:
        """Predict several items; the same as `predict` on each (a batch scored as one, by a
        linear model, within 1e-12: its sums are taken in another order). ``numbers``, when
        given, gives `inputs.numeric_rows` of ``rows`` when asked (items scored again and
        again, read once by whoever keeps them).

        Raises
        ------
        ValueError
            If any row does not fit the model's input kind; then nothing is returned.
        """
        scorer = self._batch_scorer(len(rows))
        found = self._numbers_scores(scorer, rows, numbers)
        if found is not None:
            return self._predictions(*found)
        inputs = [model_input(self._input_kind, data) for data in rows]
        if scorer is not None:
            return self._predictions(*scorer.scores(inputs))
        plugin = checked(self._preset) if ":" in self._preset else None
        if len(inputs) > 1 and self._version and plugin is not None and plugin.batch:
            # A plugin that claims batch scoring, held equal to one at a time by its check.
            import pandas as pd

            frame = self._pipeline.predict_proba_many(pd.DataFrame(inputs))  # type: ignore[attr-defined]
            return [self._prediction(raw) for raw in frame.to_dict(orient="records")]
        return [self._predict(x) for x in inputs]

    def _scorer(self) -> LinearScorer | None:
        return linear_scorer(self._pipeline)

    def features(self, data: Mapping[str, Any]) -> dict[Any, float]:
        """The item as the classifier sees it: the pipeline's features, without predicting."""
        transformed: dict[Any, float] = self._pipeline.transform_one(
            model_input(self._input_kind, data)
        )
        return transformed

    def learn(
        self,
        data: Mapping[str, Any],
        label: str,
        *,
        drawn_at_random: bool = False,
        annotator: str | None = None,
        correction: bool = False,
        defer: bool = False,
    ) -> Learned:
        """Test the model on one labelled item, then teach it the label.

        ``drawn_at_random`` says the item was picked at random (not for its uncertainty), so
        the test counts towards the unbiased estimate too. ``annotator`` is counted in the
        per-annotator figures. A ``correction`` relabels an item the model has already
        learned: it is learned, but not tested (the model has seen the item), so no
        accuracy figure moves.

        With ``defer``, the shadow models (the accuracy estimate's) and the challengers learn
        the label only at the next `settle` (or whatever reads them first: `accuracy_estimate`,
        `snapshot`, a drift's answer), in the order the labels came: the model that predicts
        is taught at once, and whoever waits for it need not wait for the others too.

        Raises
        ------
        ValueError
            If the label is not one of the project's or the data does not fit; the model is
            then left unchanged.
        """
        if label not in self._labels:
            raise ValueError(f"unknown label {label!r}; expected one of: {self._labels}")
        x = model_input(self._input_kind, data)
        prediction = self._predict(x)
        if correction:
            if annotator is not None:
                self._annotators.corrected(annotator)
        else:
            self._test(label, prediction, drawn_at_random, annotator)
        shadows = self._shadow_count
        fold = -1  # the fold whose shadow never learns this item
        if shadows and correction:
            fold = self._relabel_held(x, label)
        elif shadows and drawn_at_random:
            fold = self._draws % shadows
        lesson: Any
        if getattr(self, "_heads", None) is not None:
            lesson = self._teach_with_heads(x, label, rehearse=not correction, fold=fold)
        else:
            self._teach(x, label, rehearse=not correction)
            lesson = (x, label, fold, not correction)
        if shadows and drawn_at_random and not correction:
            held = self._held[fold]
            index = self.__dict__.get("_held_ids")
            if index is not None:  # kept up to date as draws come and go
                if len(held) == held.maxlen:
                    index.pop(id(held[0][1]), None)
                index[id(x)] = fold
            held.append((self._draws, x, label))
            self._draws += 1
        if shadows:
            if defer:
                self.__dict__.setdefault("_lessons", []).append(lesson)
            else:
                self.settle()  # the lessons deferred before come first
                self._teach_shadows(lesson)
        self._version += 1
        self._challenge(
            x,
            label,
            drawn_at_random=drawn_at_random,
            annotator=annotator,
            correction=correction,
            defer=defer,
        )
        return Learned(
            predicted=prediction.label,
            correct=prediction.label == label,
            model_version=self._version,
        )

    def _learn_deferred(
        self, x: dict[str, Any], answer: Any, drawn: bool, annotator: str | None, correction: bool
    ) -> None:
        self.learn(
            x, answer, drawn_at_random=drawn, annotator=annotator, correction=correction, defer=True
        )

    @property
    def _shadow_count(self) -> int:
        heads: ShadowHeads | None = getattr(self, "_heads", None)
        if heads is not None:
            return heads.copies
        return len(getattr(self, "_shadows", ()))  # none in models made before them

    @property
    def shadows_behind(self) -> int:
        """How many labels `learn` deferred that the shadow models have yet to learn."""
        return len(self.__dict__.get("_lessons", ()))

    def settle(self, steps: int | None = None) -> None:
        """Teach the shadow models the labels that `learn` deferred, in order; at most
        ``steps`` steps, when given: a step is one whole shadow model learning a label, or all
        `ShadowHeads` learning one (a caller that must stay responsive settles a little at a
        time: each shadow learns the same labels in the same order whatever the steps, so the
        model ends the same). A step that fails is not taken again."""
        # ``_lessons`` and ``_taught`` (how many shadows learned the first lesson) exist only
        # while lessons wait (`snapshot` settles first), so a settled model pickles as one that
        # never deferred. Each lesson leaves the list once every shadow has learned it.
        lessons = self.__dict__.get("_lessons")
        left = -1 if steps is None else steps
        while lessons and left and getattr(self, "_heads", None) is not None:
            # Heads learn a lesson, every shadow at once, as one step.
            left -= 1
            self._teach_shadows(lessons.pop(0))
        while lessons and left:
            x, label, fold, rehearse = lessons[0]
            k = self.__dict__.get("_taught", 0)
            try:
                if k != fold:
                    left -= 1
                    self._shadows[k]._version += 1
                    self._shadows[k]._teach(x, label, rehearse=rehearse)
            finally:  # a step that failed is not taken again
                if k + 1 < len(self._shadows):
                    self.__dict__["_taught"] = k + 1
                else:
                    del lessons[0]
                    self.__dict__.pop("_taught", None)
        if not lessons:
            self.__dict__.pop("_lessons", None)
        if left:
            self._settle_challengers(left)

    def _teach_shadows(self, lesson: Any) -> None:
        heads: ShadowHeads | None = getattr(self, "_heads", None)
        if heads is not None:
            for (names, values), label, skip in lesson:
                heads.learn_row(names, values, label, skip=skip)
            return
        x, label, fold, rehearse = lesson
        for k, shadow in enumerate(self._shadows):
            if k != fold:
                shadow._teach(x, label, rehearse=rehearse)
                shadow._version += 1

    def _relabel_held(self, x: dict[str, Any], label: str) -> int:
        """A correction of a held-out draw: it keeps the new label, and its shadow still does
        not learn it. Returns the draw's fold, or -1 if the item is not held out."""
        for fold, held in enumerate(self._held):
            for index, (n, held_x, _old) in enumerate(held):
                if held_x == x:
                    held[index] = (n, held_x, label)
                    return fold
        return -1

    def _teach_with_heads(
        self, x: dict[str, Any], label: str, *, rehearse: bool, fold: int
    ) -> list[tuple[Row, str, int]]:
        """`_teach`, for a model whose shadows are `ShadowHeads`: the model learns the label
        and its rehearsal, and the steps its shadows are to take come back, each with the
        features the model's front gave the item then, and the shadow that must not learn it
        (the fold holding that item out, or -1)."""
        steps: list[tuple[Row, str, int]] = []
        self.__dict__["_steps"] = steps  # `_relearn` adds rehearsal's steps
        try:
            steps.append((self._learn_features(x, label), label, fold))
            if self._rehearsal and rehearse:
                self._rehearse(x, label)
        except ArithmeticError:
            log.exception("model version %d: the estimator failed to learn a label", self._version)
        finally:
            del self.__dict__["_steps"]
        return steps

    def _learn_features(self, x: dict[str, Any], label: str) -> Row:
        """The pipeline's `learn_one`, step by step, giving back the features its head
        learned (a River pipeline's front learns an item, then transforms it), as their names
        and an array of their values, as `ShadowHeads` learn them."""
        pipeline: Any = self._pipeline
        if pipeline._plan is None:
            # River's `learn_one` builds the pipeline's plan at the first label; built here
            # too, a model that was read after one label pickles as one that was not.
            pipeline._build_plan()
        front, head = pipeline.steps.values()
        if type(front) is TabularFront and type(head) is OneVsRestLogistic:
            # The same, in one pass, and arrays from the scaler to the head: no dict between.
            row = front.learn_transform_row(cast("dict[Any, Any]", x))
            head.learn_row(*row, label)
            return row
        front.learn_one(x)
        features: dict[Any, float] = front.transform_one(x)
        head.learn_one(features, label)
        return as_row(features)

    def _held_fold(self, x: dict[str, Any]) -> int:
        """The fold whose held-out draws include this very item, or -1."""
        # By identity: rehearsal's memory and the held draws share the item's dict. The index
        # is built once per process (`__getstate__` leaves it out of snapshots: ids are not
        # kept by pickling), then `learn` keeps it up to date.
        index = self.__dict__.get("_held_ids")
        if index is None:
            index = {id(item): k for k, held in enumerate(self._held) for _, item, _ in held}
            self.__dict__["_held_ids"] = index
        fold: int = index.get(id(x), -1)
        return fold

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__
        if "_held_ids" in state:
            state = dict(state)
            del state["_held_ids"]
        return state

    def _teach(self, x: dict[str, Any], label: str, *, rehearse: bool) -> None:
        try:
            self._pipeline.learn_one(x, label)
            if self._rehearsal and rehearse:
                self._rehearse(x, label)
        except ArithmeticError:
            # The estimator could not take this item (a numeric failure inside River). The
            # label is stored and counted all the same, so versions keep matching the store
            # (a replay fails the same way, deterministically); the model goes on without it.
            log.exception("model version %d: the estimator failed to learn a label", self._version)

    def accuracy_estimate(self, traffic: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The current model's accuracy on production traffic, with its 95% interval.

        ``traffic`` is recent production events' data: the current model's confidence over
        them is corrected by the calibration gap that shadow models measure on random draws
        they never learned (`prediction_powered`). Without traffic, the draws stand for it
        (they are a fair sample of it). After a drift only the draws since count, once there
        are a few. With too few draws held out (or a model from before the shadows), the
        random draws' own prequential hits are reported instead (``method``
        ``"random_draws"``).
        """
        self.settle()
        hits: list[bool] = []
        confidences: list[float] = []
        drawn: list[dict[str, Any]] = []
        if self._version and self._shadow_count:
            fresh = self._draws - self._fresh_from >= _FRESH_DRAWS
            for k, held in enumerate(self._held):
                scored = [(x, y) for n, x, y in held if not (fresh and n < self._fresh_from)]
                unseen_all = self._shadow_predict_many(k, [x for x, _ in scored])
                for (x, y), unseen in zip(scored, unseen_all, strict=True):
                    if unseen.label is not None:
                        hits.append(unseen.label == y)
                        confidences.append(max(unseen.probabilities.values()))
                        drawn.append(x)
        report: dict[str, Any] | None = None
        if len(hits) >= _FRESH_DRAWS:
            now = self.predict_many(traffic) if traffic else [self._predict(x) for x in drawn]
            report = prediction_powered(
                [max(p.probabilities.values()) for p in now], hits, confidences
            )
        if report is None:
            report = self._sampled.report() | {"method": "random_draws", "traffic": 0}
        else:
            report["method"] = "cross_fit_prediction_powered"
            report["effective_samples"] = report["samples"]
        return report

    def pipeline_pickle(self) -> bytes:
        """The River pipeline alone, pickled: the model to take elsewhere.

        Loading it needs River and streamloop installed (its feature classes live here).
        """
        return pickle.dumps(self._pipeline, protocol=pickle.HIGHEST_PROTOCOL)

    def _test(
        self, label: str, prediction: Prediction, drawn_at_random: bool, annotator: str | None
    ) -> None:
        predicted = prediction.label
        self._metrics.update(label, predicted)
        total = self._metrics.labels_total
        self._curve.add(total, *self._metrics.accuracies())
        if drawn_at_random and predicted is not None:
            # An untrained model has no accuracy to estimate: its first guesses are left out.
            self._sampled.update(predicted == label)
            self._unbiased_curve.add(total, self._sampled.estimate())
        monitor: DriftMonitor | None = getattr(self, "_drift", None)
        if predicted is not None and monitor is not None:
            change = monitor.update(
                total,
                hit=predicted == label,
                confidence=max(prediction.probabilities.values()),
                drawn_at_random=drawn_at_random,
            )
            if change == "warning":
                self._warning_draw = self._draws
            elif change == "drift":
                self._answer_drift()
        if annotator is not None:
            self._annotators.labelled(annotator, agreed=predicted == label)

    def _answer_drift(self) -> None:
        # What the model itself does about a drift: rehearsal re-learns labels from after it
        # only, and the accuracy estimate counts only draws from after it once it has a few.
        self.settle()  # the shadows first learn what came before the drift
        for model in [self, *getattr(self, "_shadows", [])]:
            model._forget_rehearsal()
        # The draws since the warning began already show the new concept.
        self._fresh_from = getattr(self, "_warning_draw", 0)

    def _relearn(self, x: dict[str, Any], answer: Any) -> None:
        steps = self.__dict__.get("_steps")
        if steps is None:
            self._pipeline.learn_one(x, answer)
        else:  # rehearsal, for `_teach_with_heads`
            steps.append((self._learn_features(x, answer), answer, self._held_fold(x)))

    def _shadow_predict_many(self, k: int, xs: Sequence[dict[str, Any]]) -> list[Prediction]:
        """Shadow ``k``'s predictions of items."""
        heads: ShadowHeads | None = getattr(self, "_heads", None)
        if heads is None:
            return [self._shadows[k]._predict(x) for x in xs]
        front = next(iter(self._pipeline.steps.values()))  # type: ignore[attr-defined]
        raw = heads.predict_proba_many(k, [front.transform_one(x) for x in xs])
        return [self._prediction(probabilities) for probabilities in raw]

    def _predict(self, x: dict[str, Any]) -> Prediction:
        # An untrained pipeline has nothing to say, and asking it may build caches that would
        # make an untrained model's snapshot depend on whether it was ever asked.
        if not self._version:
            return self._prediction({})
        try:
            raw = _probabilities(self._pipeline, x)
        except ArithmeticError:
            # An estimator that cannot score this item yet, such as River's multinomial naive
            # Bayes, which divides by zero until it has learned a text with a word: it is
            # unsure (uniform), which routes the item to annotators; traffic goes on.
            raw = {}
        return self._prediction(raw)

    def _prediction(self, raw: Mapping[str, float]) -> Prediction:
        probabilities = self._project_probabilities(raw)
        label = None
        if probabilities is None:
            probabilities = [1.0 / len(self._labels)] * len(self._labels)
        else:
            label = self._labels[max(range(len(self._labels)), key=probabilities.__getitem__)]
        by_label = dict(zip(self._labels, probabilities, strict=True))
        return Prediction(
            label=label,
            probabilities=by_label,
            uncertainty=uncertainty(self._strategy, by_label),
            model_version=self._version,
        )

    def _predictions(self, labels: list[Any], scores: np.ndarray[Any, Any]) -> list[Prediction]:
        """`_prediction` of each row of a one-vs-rest's scores (`linear.Scores`: a column per
        label of ``labels``, before normalising), in array operations: the same probabilities
        and labels to the bit (the same divisions, by sums taken as there), the uncertainty
        within rounding."""
        rows = len(scores)
        ours = self._labels
        if labels:
            # One-vs-rest's probabilities: each score divided by the row's sum taken left to
            # right (a running sum's last term), as River sums; uniform where every score is 0.
            sums = np.cumsum(scores, axis=1)[:, -1:]
            silent = sums == 0.0
            scores = np.where(silent, 1.0, scores) / np.where(silent, float(len(labels)), sums)
        column = {label: k for k, label in enumerate(labels)}
        matrix = np.zeros((rows, len(ours)))
        for j, label in enumerate(ours):
            k = column.get(label)
            if k is not None:
                matrix[:, j] = scores[:, k]
        # As `_project_probabilities`: anything not positive (NaN too) counts as 0.
        matrix = np.where(matrix > 0.0, matrix, 0.0)
        totals = np.fromiter(map(math.fsum, matrix.tolist()), np.float64, rows)
        known = (totals > 0.0) & (totals < math.inf)
        uniform = 1.0 / len(ours)
        matrix = np.where(known[:, None], matrix / np.where(known, totals, 1.0)[:, None], uniform)
        unsure = uncertainties(self._strategy, matrix).tolist()
        best = matrix.argmax(axis=1).tolist()  # the first of equals, as `max` picks
        tops = [ours[top] if sure else None for top, sure in zip(best, known.tolist(), strict=True)]
        # Made in C's loops (`map`), positionally: a lease re-scores dozens of rows, an events
        # request hundreds, and per row this was most of the work after the scores.
        probabilities = map(dict, map(zip, repeat(ours), matrix.tolist()))
        return list(map(Prediction, tops, probabilities, unsure, repeat(self._version)))

    def _project_probabilities(self, raw: Mapping[str, float]) -> list[float] | None:
        # Labels the model has not seen yet get 0; negative or NaN scores from a misbehaving
        # estimator count as 0 too ("p > 0" is False for NaN).
        scores = [p if (p := float(raw.get(label, 0.0))) > 0.0 else 0.0 for label in self._labels]
        total = math.fsum(scores)
        if not 0.0 < total < math.inf:
            return None
        return [score / total for score in scores]


def _probabilities(pipeline: Any, x: dict[str, Any]) -> dict[Any, float]:
    """The pipeline's ``predict_proba_one``; a tabular logistic one's (the preset) passes the
    item's features from its front to its head as arrays, as it learns them: the same
    probabilities, no dict between."""
    if type(pipeline) is compose.Pipeline and len(pipeline.steps) == 2:
        front, head = pipeline.steps.values()
        if type(front) is TabularFront and type(head) is OneVsRestLogistic:
            return head.predict_proba_row(*front.transform_row(cast("dict[Any, Any]", x)))
    raw: dict[Any, float] = pipeline.predict_proba_one(x)
    return raw


def _shared_front(pipeline: Any) -> tuple[Any, float, float] | None:
    """For a logistic preset's pipeline, its front and its head's two learning rates (of the
    weights, of the intercepts): its shadows can be `ShadowHeads` on that front. ``None`` for
    any other pipeline (its shadows are whole models)."""
    steps = getattr(pipeline, "steps", None)
    if not isinstance(steps, Mapping) or len(steps) != 2:
        return None
    front, head = steps.values()
    if type(front) is TabularFront and type(head) is OneVsRestLogistic:
        return front, head.learning_rate, head.intercept_rate
    if type(front) is OrderedTFIDF and type(head) is multiclass.OneVsRestClassifier:
        # River's logistic regression as the text preset builds it: SGD at constant rates,
        # log loss, no penalty, from zeros. `ShadowHeads` learns what it learns.
        binary = head.classifier
        rates = [getattr(binary, "optimizer", None), getattr(binary, "intercept_lr", None)]
        if (
            type(binary) is linear_model.LogisticRegression
            and type(rates[0]) is optim.SGD
            and all(type(getattr(r, "lr", r)) is optim.schedulers.Constant for r in rates)
            and type(binary.loss) is optim.losses.Log
            and binary.l1 == 0.0
            and binary.l2 == 0.0
            and type(binary.initializer) is optim.initializers.Zeros
            and binary.intercept_init == 0.0
        ):
            return (
                front,
                float(binary.optimizer.lr.learning_rate),
                float(binary.intercept_lr.learning_rate),
            )
    return None
