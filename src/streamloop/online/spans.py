"""A span project's online model: labelled spans of text (named entities and the like).

A text is cut into tokens that keep their character offsets (`tokenize`); a span (start, end,
label) becomes BIO tags on the tokens it overlaps (`bio_tags`). Each token is scored by one
River logistic regression per tag, from its features (`token_features`); tag bigram counts,
smoothed, give transition scores: how much likelier a tag is after the one before than
overall, at half weight (`Transitions`). A constrained Viterbi search finds the best tag
sequence that is valid BIO, and the forward-backward algorithm over the same scores gives that
sequence's probability and each token's tag marginals (`decode`), from which come the spans'
confidence, the labels' probabilities and the uncertainty routing ranks by.

Offsets are Python ``str`` indices (code points), as JSON carries them once decoded.
"""

from __future__ import annotations

import bisect
import logging
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from river import linear_model, optim

from streamloop.online.base import ModelBase
from streamloop.online.decoding import Decoded, Transitions, decode_many
from streamloop.online.inputs import TEXT_FIELD, model_input
from streamloop.online.one_vs_rest import OneVsRestLogistic
from streamloop.online.span_metrics import SpanMetrics
from streamloop.online.span_strategies import (
    DEFAULT_SPAN_STRATEGY,
    SPAN_STRATEGIES,
    span_uncertainty,
)
from streamloop.online.token_features import token_features
from streamloop.online.tokens import Span, Token, bio_tags, tag_set, tokenize, wordy

__all__ = ["Span", "SpanLearned", "SpanModel", "SpanPrediction", "tokenize"]

log = logging.getLogger(__name__)

#: The SGD step of each tag's logistic regression: a token has about twenty binary features,
#: and River's default (0.01) learns too slowly from the few hundred items a project starts
#: with (BENCHMARKS.md, "Spans": 0.5 and 1.0 did about equally well, 0.1 worse).
LEARNING_RATE = 0.5
#: How much the transition scores weigh against the token classifiers, as the power
#: `Transitions.scores` raises them to (BENCHMARKS.md, "Spans": half weight did best in the
#: first hundred labels, and as well as any after).
TRANSITION_WEIGHT = 0.5
#: Smallest probability a tag's classifier may give a token: River's sigmoid is exactly 0
#: below a logit of -30, and a zero would rule a tag out for good.
_FLOOR = 1e-9
_LOGIT_BOUND = 50.0
#: Most token slots (texts times the longest one's tokens) one decoding batch holds: about 5 MB
#: of potentials with four labels.
_BATCH_TOKENS = 8192


# The model.


@dataclass(frozen=True, slots=True)
class SpanPrediction:
    """What a span model made of one text.

    Attributes
    ----------
    spans
        The spans found, in text order; empty when there are none, ``None`` when the model has
        nothing to go on yet.
    scores
        The model's confidence in each span, in the same order: the smallest of its tokens'
        marginal probabilities of the tags that make it (``B-X``, then ``I-X``), in [0, 1].
    probabilities
        Every project label, in the project's order, to the probability that the text holds a
        span of it, taken as the largest marginal probability of ``B-X`` over its tokens (a
        lower bound); 0.5 each before any learning.
    uncertainty
        How unsure the tagging is, in [0, 1], by the project's strategy.
    model_version
        The version that made the prediction: how many texts it had learned.
    """

    spans: tuple[Span, ...] | None
    scores: tuple[float, ...]
    probabilities: dict[str, float]
    uncertainty: float
    model_version: int

    def as_json(self) -> dict[str, Any]:
        """The prediction as the contract gives it (events, ``/predict``)."""
        return {
            "spans": None
            if self.spans is None
            else [
                span.as_json() | {"score": score}
                for span, score in zip(self.spans, self.scores, strict=True)
            ],
            "probabilities": self.probabilities,
            "uncertainty": self.uncertainty,
            "model_version": self.model_version,
        }


@dataclass(frozen=True, slots=True)
class SpanLearned:
    """The outcome of learning one text's spans.

    Attributes
    ----------
    predicted
        The spans the model predicted for the text just before learning it (``None``: no
        prediction yet).
    correct
        Whether they were exactly the spans given (once aligned to tokens, see `align`).
    model_version
        The first version that includes these spans.
    """

    predicted: tuple[Span, ...] | None
    correct: bool
    model_version: int


class _Tagging(NamedTuple):
    prediction: SpanPrediction
    tags: list[str] | None
    confidence: float  # the probability of the best tag sequence


class SpanModel(ModelBase):
    """A span project's model: a River logistic regression per BIO tag over token features,
    tag transitions counted online, constrained Viterbi decoding, its prequential metrics and
    its version.

    The version counts the texts learned (a text without spans counts), so version 0 is
    untrained. Learning is prequential: each text is tagged first, the spans found are scored
    against those given, and only then are the spans learned. Spans are learned as the
    tokens they overlap (`bio_tags`), and scored so too (`align`).

    Parameters
    ----------
    labels
        The project's span labels (one or more, distinct), in the order reports list them.
    strategy
        One of `SPAN_STRATEGIES`: how `SpanPrediction.uncertainty` is scored.
    seed
        Seeds the model's random choices (rehearsal's draws).
    window
        How many of the latest texts the rolling figures cover.
    rehearsal
        Earlier texts re-learned after each new one, from a reservoir of ``memory``.

    Raises
    ------
    ValueError
        If any argument is invalid.

    Examples
    --------
    >>> model = SpanModel(labels=["PER", "LOC"])
    >>> model.predict({"text": "Ada lives in Paris"}).spans is None
    True
    >>> model.learn({"text": "Ada lives in Paris"}, [Span(0, 3, "PER"), Span(13, 18, "LOC")])
    SpanLearned(predicted=None, correct=False, model_version=1)
    >>> for _ in range(3):
    ...     _ = model.learn(
    ...         {"text": "Bob moved to Rome"},
    ...         [{"start": 0, "end": 3, "label": "PER"}, {"start": 13, "end": 17, "label": "LOC"}],
    ...     )
    ...     _ = model.learn({"text": "Eve sat in Oslo"}, [Span(0, 3, "PER"), Span(11, 15, "LOC")])
    ...     _ = model.learn({"text": "It rained all day"}, [])  # no span
    >>> after = model.predict({"text": "Ann lives in Oslo"})
    >>> after.spans
    (Span(start=0, end=3, label='PER'), Span(start=13, end=17, label='LOC'))
    >>> [round(score, 2) for score in after.scores], round(after.uncertainty, 2)
    ([0.96, 0.98], 0.08)
    >>> after.as_json()["spans"][1]["label"], after.model_version
    ('LOC', 10)
    >>> SpanModel.restore(model.snapshot()).version
    10
    """

    #: Its decoding is compiled, as its classifiers' steps are
    #: (`streamloop.online.compiled.uses_compiled`).
    compiled_steps = True

    _kind = "span model"
    # Design choices that bench/spans.py compares (its --design part), fixed here by what it
    # found: see `LEARNING_RATE` and `TRANSITION_WEIGHT`; dividing by P(tag) beat the plain
    # P(tag | previous tag) on every domain. With `_PREVIOUS_TAG`, a token's features also
    # name the tag before it, as in a maximum-entropy Markov model, and decoding scores each
    # token once per previous tag: it learned less well on every domain, so it is off.
    _LEARNING_RATE = LEARNING_RATE
    _TRANSITION_WEIGHT = TRANSITION_WEIGHT
    _RELATIVE_TRANSITIONS = True
    _PREVIOUS_TAG = False
    #: Each tag's River classifier, in models made before 0.9.1 (newer ones: ``_head``).
    _classifiers: dict[str, Any]

    def __init__(
        self,
        *,
        labels: Sequence[str],
        strategy: str = DEFAULT_SPAN_STRATEGY,
        seed: int = 0,
        window: int = 200,
        rehearsal: int = 0,
        memory: int = 1000,
    ) -> None:
        if isinstance(labels, str) or not all(isinstance(label, str) and label for label in labels):
            raise ValueError("labels must be a sequence of non-empty strings")
        if len(set(labels)) != len(labels) or not labels:
            raise ValueError(f"labels must be one or more distinct strings, got {list(labels)}")
        if strategy not in SPAN_STRATEGIES:
            raise ValueError(
                f"unknown strategy {strategy!r}; expected one of: {', '.join(SPAN_STRATEGIES)}"
            )
        if rehearsal < 0 or memory < 1:
            raise ValueError(f"rehearsal must be 0 or more and memory 1 or more, got {rehearsal}")
        self._tags = tag_set(labels)
        # Each tag's logistic regression against the others, every tag in one pass over a
        # token's features (`OneVsRestLogistic`, River's arithmetic); models made before
        # 0.9.1 keep a River `LogisticRegression` per tag in ``_classifiers``.
        self._head = OneVsRestLogistic(learning_rate=self._LEARNING_RATE)
        self._head.add_labels(self._tags)
        self._transitions = Transitions(self._tags)
        self._start(
            labels=tuple(labels),
            input_kind="text",
            preset="logistic_regression",
            strategy=strategy,
            seed=seed,
            rehearsal=rehearsal,
            memory=memory,
        )
        self._metrics = SpanMetrics(self._labels, window)
        #: The same figures over the random draws alone: unbiased for the stream.
        self._sampled_metrics = SpanMetrics(self._labels, window)

    @property
    def tags(self) -> tuple[str, ...]:
        """The BIO tags the model scores, in order (`tag_set`)."""
        return self._tags

    @property
    def metrics(self) -> SpanMetrics:
        """The prequential metrics of every text learned."""
        return self._metrics

    @property
    def sampled_metrics(self) -> SpanMetrics:
        """The prequential metrics of the texts drawn at random: unbiased for the stream, as
        `sampled_accuracy` is for the exact-match ratio."""
        return self._sampled_metrics

    def predict(self, data: Mapping[str, Any]) -> SpanPrediction:
        """Tag one text without changing the model.

        Raises
        ------
        ValueError
            If the data has no string ``"text"`` field.
        """
        return self._tag(tokenize(model_input("text", data)[TEXT_FIELD])).prediction

    def predict_many(self, rows: Sequence[Mapping[str, Any]]) -> list[SpanPrediction]:
        """Tag several texts; the same as `predict` on each.

        Raises
        ------
        ValueError
            If any row has no string ``"text"`` field; then nothing is returned.
        """
        texts = [model_input("text", data)[TEXT_FIELD] for data in rows]
        return [tagging.prediction for tagging in self._tag_many([tokenize(t) for t in texts])]

    def features(self, data: Mapping[str, Any]) -> dict[Any, float]:
        """The text as a bag of lower-cased words (word to count), for routing's diversity.

        >>> SpanModel(labels=["PER"]).features({"text": "Ada met ada."})
        {'ada': 2.0, 'met': 1.0}
        """
        bag: dict[Any, float] = {}
        for token in tokenize(model_input("text", data)[TEXT_FIELD]):
            if wordy(token.text[0]):
                word = token.text.lower()
                bag[word] = bag.get(word, 0.0) + 1.0
        return bag

    def learn(
        self,
        data: Mapping[str, Any],
        spans: Sequence[Span | Mapping[str, Any]],
        *,
        drawn_at_random: bool = False,
        annotator: str | None = None,
        correction: bool = False,
    ) -> SpanLearned:
        """Test the model on one text's spans, then teach it the spans.

        ``spans`` are the text's spans (none: an empty sequence), as `Span` objects or as
        ``{"start", "end", "label"}`` objects, in any order. A span that does not fall on token
        boundaries is learned, and scored, as the whole tokens it overlaps (`align`).
        ``drawn_at_random``, ``annotator`` and ``correction`` are as in `OnlineModel.learn`: a
        draw counts towards the unbiased figures too, an annotator in the per-annotator ones,
        and a correction is learned but not tested.

        Raises
        ------
        ValueError
            If the data has no string ``"text"`` field, or a span is not an object with an
            integer ``start`` and ``end`` and a string ``label``, lies outside the text, is
            empty (``start >= end``), covers only spaces, overlaps another span or shares a
            token with it, or has a label that is not the project's; the model is then left
            unchanged.
        """
        x = model_input("text", data)
        tokens = tokenize(x[TEXT_FIELD])
        given = self._given(x[TEXT_FIELD], tokens, spans)
        tags = bio_tags(tokens, given)
        features = token_features(tokens)
        tagging = self._tag(tokens, features)
        predicted = tagging.prediction.spans
        if correction:
            if annotator is not None:
                self._annotators.corrected(annotator)
        else:
            self._test(given, tags, tagging, drawn_at_random, annotator)
        self._teach(x, given, features, tags, rehearse=not correction)
        self._version += 1
        return SpanLearned(
            predicted=predicted,
            correct=predicted is not None and set(predicted) == set(given),
            model_version=self._version,
        )

    def aligned(
        self, data: Mapping[str, Any], spans: Sequence[Span | Mapping[str, Any]]
    ) -> tuple[Span, ...]:
        """The spans as `learn` would learn them, grown to whole tokens, in text order; the
        model is not changed (and only its labels are read: any thread may ask).

        Raises
        ------
        ValueError
            As `learn`, for the same data and spans.

        >>> SpanModel(labels=["PER"]).aligned({"text": "Hi Ada!"}, [Span(4, 6, "PER")])
        (Span(start=3, end=6, label='PER'),)
        """
        x = model_input("text", data)
        return self._given(x[TEXT_FIELD], tokenize(x[TEXT_FIELD]), spans)

    def accuracy_estimate(self, traffic: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The exact-match ratio on production traffic, with its 95% interval: the random
        draws' prequential hits (``method`` ``"random_draws"``), the latest weighted most.

        ``traffic`` is accepted for the same call as `OnlineModel.accuracy_estimate`, and not
        used: the cross-fitted correction by traffic is built for single labels only.
        """
        return self._sampled.report() | {"method": "random_draws", "traffic": 0}

    def pipeline_pickle(self) -> bytes:
        """The tagger's parts, pickled as a dict: the model to take elsewhere.

        ``{"tags": [...], "classifiers": {tag: LogisticRegression}, "start": [...],
        "transitions": [[...]], "end": [...], "previous_tag": bool}``: each tag's River
        classifier scores `token_features`; ``start``, ``transitions`` (previous tag by next
        tag) and ``end`` are the smoothed transition probabilities `decode` multiplies in.
        Loading it needs River installed; computing the features needs streamloop.
        """
        start, matrix, end = self._transitions.probabilities()
        return pickle.dumps(
            {
                "tags": list(self._tags),
                "classifiers": self._river_classifiers(),
                "start": start,
                "transitions": matrix,
                "end": end,
                "previous_tag": self._PREVIOUS_TAG,
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    # Checking the spans given.

    def _given(
        self, text: str, tokens: list[Token], spans: Sequence[Span | Mapping[str, Any]]
    ) -> tuple[Span, ...]:
        """The spans given, checked and grown to token boundaries, in text order."""
        if isinstance(spans, str | bytes | Mapping) or not isinstance(spans, Sequence):
            raise ValueError(f"spans must be a list of spans, got {type(spans).__name__}")
        checked = sorted(self._checked(span, n, len(text)) for n, span in enumerate(spans))
        starts = [token.start for token in tokens]
        ends = [token.end for token in tokens]
        aligned: list[Span] = []
        last_token = -1
        for n, span in enumerate(checked):
            if n and span.start < checked[n - 1].end:
                raise ValueError(
                    f"spans must not overlap: {checked[n - 1].named()} and {span.named()} do"
                )
            first = bisect.bisect_right(ends, span.start)
            last = bisect.bisect_left(starts, span.end) - 1
            if first > last:
                raise ValueError(
                    f"span {span.named()} covers no word, only spaces: "
                    f"{text[span.start : span.end]!r}"
                )
            if first <= last_token:
                raise ValueError(
                    f"spans {checked[n - 1].named()} and {span.named()} fall in one token, "
                    f"{tokens[first].text!r}: a span covers whole tokens"
                )
            aligned.append(Span(tokens[first].start, tokens[last].end, span.label))
            last_token = last
        return tuple(aligned)

    def _checked(self, span: Span | Mapping[str, Any], n: int, length: int) -> Span:
        if isinstance(span, Span):
            start, end, label = span.start, span.end, span.label
        elif isinstance(span, Mapping) and set(span) == {"start", "end", "label"}:
            start, end, label = span["start"], span["end"], span["label"]
        else:
            raise ValueError(f"span {n} must be an object of start, end and label, got {span!r}")
        for name, value in (("start", start), ("end", end)):
            if type(value) is not int:  # a bool is an int, and no offset
                raise ValueError(f"span {n}'s {name} must be an integer, got {value!r}")
        if not isinstance(label, str):
            raise ValueError(f"span {n}'s label must be a string, got {label!r}")
        if label not in self._labels:
            raise ValueError(f"unknown label {label!r}; expected one of: {self._labels}")
        if not 0 <= start < end <= length:
            if start >= end:
                raise ValueError(f"span {n} must start before it ends, got [{start}, {end})")
            raise ValueError(
                f"span [{start}, {end}) {label} is outside the text, whose offsets run 0 to "
                f"{length}"
            )
        return Span(start, end, label)

    # Testing and teaching.

    def _test(
        self,
        given: tuple[Span, ...],
        tags: list[str],
        tagging: _Tagging,
        drawn_at_random: bool,
        annotator: str | None,
    ) -> None:
        predicted = tagging.prediction.spans
        self._metrics.update(given, predicted, true_tags=tags, predicted_tags=tagging.tags)
        total = self._metrics.labels_total
        self._curve.add(total, *self._metrics.accuracies())
        if predicted is None:
            if annotator is not None:
                self._annotators.labelled(annotator, agreed=False)
            return
        exact = set(predicted) == set(given)
        if drawn_at_random:
            self._sampled.update(exact)
            self._sampled_metrics.update(
                given, predicted, true_tags=tags, predicted_tags=tagging.tags
            )
            self._unbiased_curve.add(total, self._sampled.estimate())
        # The probability of the whole tag sequence against the exact-set hit: their gap is
        # what the drift test watches, as a single label's confidence and hit.
        change = self._drift.update(
            total, hit=exact, confidence=tagging.confidence, drawn_at_random=drawn_at_random
        )
        if change == "drift":
            self._forget_rehearsal()
        if annotator is not None:
            self._annotators.labelled(annotator, agreed=exact)

    def _teach(
        self,
        x: dict[str, Any],
        given: tuple[Span, ...],
        features: list[dict[str, float]],
        tags: list[str],
        *,
        rehearse: bool,
    ) -> None:
        try:
            self._fit(features, tags)
            # Rehearsal re-learns the classifiers only: counts do not fade, so counting an
            # item twice would only skew them.
            index = {tag: n for n, tag in enumerate(self._tags)}
            self._transitions.count([index[tag] for tag in tags])
            if self._rehearsal and rehearse:
                self._rehearse(x, given)
        except ArithmeticError:
            # As `OnlineModel._teach`: the spans are counted all the same, so versions keep
            # matching the store, and a replay fails the same way.
            log.exception("model version %d: a classifier failed to learn a text", self._version)

    def _relearn(self, x: dict[str, Any], answer: Any) -> None:
        tokens = tokenize(x[TEXT_FIELD])
        self._fit(token_features(tokens), bio_tags(tokens, answer))

    def _fit(self, features: list[dict[str, float]], tags: list[str]) -> None:
        head: OneVsRestLogistic | None = getattr(self, "_head", None)
        previous = "<s>"
        for x, tag in zip(features, tags, strict=True):
            if self._PREVIOUS_TAG:
                x = x | {"t-1:" + previous: 1.0}
                previous = tag
            if head is not None:
                head.learn_one(x, tag)
                continue
            for name, classifier in self._classifiers.items():
                classifier.learn_one(x, name == tag)

    def _river_classifiers(self) -> dict[str, Any]:
        """Each tag's River `LogisticRegression`, with the weights the model learned."""
        head: OneVsRestLogistic | None = getattr(self, "_head", None)
        if head is None:
            return self._classifiers
        names = list(head.features)
        weights = head.weights_of(names)
        classifiers: dict[str, Any] = {}
        for tag, column in head.labels.items():
            classifier = linear_model.LogisticRegression(optimizer=optim.SGD(self._LEARNING_RATE))
            for name, weight in zip(names, weights[:, column].tolist(), strict=True):
                classifier._weights[name] = weight
            classifier.intercept = float(head.intercepts[column])
            classifiers[tag] = classifier
        return classifiers

    # Tagging.

    def _tag(self, tokens: list[Token], features: list[dict[str, float]] | None = None) -> _Tagging:
        return self._tag_many([tokens], None if features is None else [features])[0]

    def _tag_many(
        self,
        texts: list[list[Token]],
        features: list[list[dict[str, float]]] | None = None,
    ) -> list[_Tagging]:
        # An untrained model has nothing to say.
        if not self._version:
            untrained = SpanPrediction(
                spans=None,
                scores=(),
                probabilities=dict.fromkeys(self._labels, 0.5),
                uncertainty=1.0,
                model_version=0,
            )
            return [_Tagging(untrained, None, 0.0)] * len(texts)
        if features is None:
            features = [token_features(tokens) for tokens in texts]
        # Texts with tokens are decoded together, in batches of like lengths each padded to
        # its longest, so that one long text neither pads many short ones nor makes a batch
        # too big to hold: a text's floats are the same in any batch (`decode_many`).
        tagged = sorted(
            (n for n, tokens in enumerate(texts) if tokens), key=lambda n: len(texts[n])
        )
        decoded: dict[int, Decoded] = {}
        while tagged:
            batch = tagged[: max(1, _BATCH_TOKENS // len(texts[tagged[0]]))]
            while len(batch) > 1 and len(batch) * len(texts[batch[-1]]) > _BATCH_TOKENS:
                batch.pop()
            decoded.update(zip(batch, self._decode([features[n] for n in batch]), strict=True))
            tagged = tagged[len(batch) :]
        return [
            self._tagging(tokens, decoded.get(n, Decoded((), 1.0, [])))
            for n, tokens in enumerate(texts)
        ]

    def _decode(self, texts: list[list[dict[str, float]]]) -> list[Decoded]:
        """Decode texts of one or more tokens each, from their tokens' features."""
        start, matrix, end = self._transitions.scores(
            self._TRANSITION_WEIGHT, relative=self._RELATIVE_TRANSITIONS
        )
        lengths = [len(features) for features in texts]
        longest, size = max(lengths), len(self._tags)
        flat = [x for features in texts for x in features]
        if self._PREVIOUS_TAG:
            # Token, previous tag (the start first), tag.
            scores = self._emissions_after(flat)
            shape: tuple[int, ...] = (longest, size + 1, size)
        else:
            scores = self._emissions(flat)
            shape = (longest, size)
        emissions = np.ones((len(texts), *shape))
        at = 0
        for n, length in enumerate(lengths):
            emissions[n, :length] = scores[at : at + length]
            at += length
        transitions = np.asarray(matrix)[np.newaxis, np.newaxis]
        if self._PREVIOUS_TAG:
            first = np.asarray(start) * emissions[:, 0, 0]
            steps = transitions * emissions[:, 1:, 1:]
        else:
            first = np.asarray(start) * emissions[:, 0]
            steps = transitions * emissions[:, 1:, np.newaxis, :]
        return decode_many(first, steps, end, lengths)

    def _tagging(self, tokens: list[Token], decoded: Decoded) -> _Tagging:
        spans, scores = _spans_and_scores(tokens, decoded, self._labels)
        marginals = decoded.marginals
        probabilities = {
            label: max((row[1 + 2 * k] for row in marginals), default=0.0)
            for k, label in enumerate(self._labels)
        }
        prediction = SpanPrediction(
            spans=tuple(spans),
            scores=tuple(scores),
            probabilities=probabilities,
            uncertainty=span_uncertainty(self._strategy, decoded.probability, marginals),
            model_version=self._version,
        )
        return _Tagging(prediction, [self._tags[n] for n in decoded.path], decoded.probability)

    def _logits(self, features: list[dict[str, float]]) -> np.ndarray:
        head: OneVsRestLogistic | None = getattr(self, "_head", None)
        if head is not None:
            return head.logits_many(features)
        # River's `predict_proba_one` is the sigmoid of this logit, less a dict per call.
        logits: np.ndarray = np.array(
            [[c._raw_dot_one(x) for c in self._classifiers.values()] for x in features],
            dtype=np.float64,
        )
        return logits

    def _emissions(self, features: list[dict[str, float]]) -> np.ndarray:
        """Each token's tag probabilities: its classifiers' probabilities, normalised."""
        scores = _sigmoid(self._logits(features))
        normalised: np.ndarray = scores / scores.sum(axis=-1, keepdims=True)
        return normalised

    def _emissions_after(self, features: list[dict[str, float]]) -> np.ndarray:
        """`_emissions` after each possible tag: the start first, then each tag."""
        head: OneVsRestLogistic | None = getattr(self, "_head", None)
        if head is not None:
            shifts = head.weights_of(["t-1:" + previous for previous in ("<s>", *self._tags)])
        else:
            shifts = np.array(
                [
                    [
                        float(c._weights.get("t-1:" + previous, 0.0))
                        for c in self._classifiers.values()
                    ]
                    for previous in ("<s>", *self._tags)
                ]
            )
        scores = _sigmoid(self._logits(features)[:, np.newaxis, :] + shifts[np.newaxis])
        normalised: np.ndarray = scores / scores.sum(axis=-1, keepdims=True)
        return normalised


def _spans_and_scores(
    tokens: Sequence[Token], decoded: Decoded, labels: Sequence[str]
) -> tuple[list[Span], list[float]]:
    """The decoded spans, each with the smallest marginal of its tokens' tags."""
    spans: list[Span] = []
    scores: list[float] = []
    for n, tag in enumerate(decoded.path):
        if not tag:
            continue
        marginal = decoded.marginals[n][tag]
        if tag % 2 == 0:  # I-X: the path is valid BIO, so its span is the latest one
            last = spans[-1]
            spans[-1] = Span(last.start, tokens[n].end, last.label)
            scores[-1] = min(scores[-1], marginal)
        else:
            spans.append(Span(tokens[n].start, tokens[n].end, labels[(tag - 1) // 2]))
            scores.append(marginal)
    return spans, scores


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    # Clipped, so that exp cannot overflow; the floor keeps every tag possible.
    probabilities: np.ndarray = np.maximum(
        1.0 / (1.0 + np.exp(-np.clip(logits, -_LOGIT_BOUND, _LOGIT_BOUND))), _FLOOR
    )
    return probabilities
