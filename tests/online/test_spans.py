"""The span model contract on every corpus domain, its decoding, metrics and uncertainty."""

from __future__ import annotations

import itertools
import json
import math
import os
import pickle
import random
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamloop.online import OnlineModel
from streamloop.online import spans as spans_module
from streamloop.online.decoding import Transitions, decode, decode_many
from streamloop.online.span_corpus import DOMAINS, corpus
from streamloop.online.span_metrics import SpanMetrics
from streamloop.online.span_strategies import (
    DEFAULT_SPAN_STRATEGY,
    SPAN_STRATEGIES,
    span_uncertainty,
    valid_sequences,
)
from streamloop.online.spans import SpanModel
from streamloop.online.token_features import token_features
from streamloop.online.tokens import Span, align, bio_tags, spans_of, tag_set, tokenize

TRAIN_SIZE = 250
HOLDOUT_SIZE = 150
Items = list[tuple[dict[str, Any], list[Span]]]


@dataclass(frozen=True)
class Trained:
    domain: str
    model: SpanModel
    blob: bytes
    train: Items
    holdout: Items


def _model(domain: str = "news", **overrides: Any) -> SpanModel:
    return SpanModel(**({"labels": DOMAINS[domain]} | overrides))


def _as_json(items: Items) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    # Fresh objects for every string, and spans as the contract carries them, as a model fed
    # from a queue or the store would get them.
    return json.loads(json.dumps([(data, [s.as_json() for s in spans]) for data, spans in items]))


def _valid(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


@pytest.fixture(scope="module", params=list(DOMAINS))
def trained(request: pytest.FixtureRequest) -> Trained:
    """A model of each domain taught the same stream; tests must not teach it."""
    domain = request.param
    train, holdout = corpus(domain, TRAIN_SIZE, seed=1), corpus(domain, HOLDOUT_SIZE, seed=2)
    model = _model(domain)
    for data, spans in train:
        model.learn(data, spans)
    return Trained(domain, model, model.snapshot(), train, holdout)


# The contract, on every domain.


def test_untrained_model_predicts_nothing_and_is_unsure() -> None:
    prediction = _model().predict({"text": "Ada Lovelace met Babbage in London."})

    assert prediction.spans is None
    assert prediction.scores == ()
    assert prediction.probabilities == dict.fromkeys(DOMAINS["news"], 0.5)
    assert prediction.uncertainty == 1.0
    assert prediction.model_version == 0
    assert prediction.as_json() == {
        "spans": None,
        "probabilities": dict.fromkeys(DOMAINS["news"], 0.5),
        "uncertainty": 1.0,
        "model_version": 0,
    }


def test_learns_better_than_predicting_nothing(trained: Trained) -> None:
    metrics = SpanMetrics(trained.model.labels)
    outside = tokens = 0
    for data, spans in trained.holdout:
        prediction = trained.model.predict(data)
        text_tokens = tokenize(data["text"])
        truth = bio_tags(text_tokens, spans)
        predicted = bio_tags(text_tokens, prediction.spans or ())
        metrics.update(spans, prediction.spans, true_tags=truth, predicted_tags=predicted)
        outside += truth.count("O")
        tokens += len(truth)

    report = metrics.report()
    # Predicting no span scores an F1 of 0, and tags every token O.
    assert report["f1"] > 0.6
    assert report["token_accuracy"] > outside / tokens
    assert all(report["per_label"][label]["f1"] > 0.3 for label in trained.model.labels)
    assert trained.model.metrics.labels_total == TRAIN_SIZE


def test_predictions_are_well_formed(trained: Trained) -> None:
    labels = trained.model.labels
    for data, _ in trained.holdout:
        prediction = trained.model.predict(data)
        text = data["text"]

        spans = prediction.spans
        assert spans is not None
        assert list(spans) == sorted(spans)
        assert all(0 <= s.start < s.end <= len(text) and s.label in labels for s in spans)
        assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
        assert align(text, list(spans)) == list(spans)  # on token boundaries
        assert len(prediction.scores) == len(spans)
        assert all(0.0 <= score <= 1.0 for score in prediction.scores)
        assert tuple(prediction.probabilities) == labels
        assert all(0.0 <= p <= 1.0 for p in prediction.probabilities.values())
        # A label predicted is at least as likely as the least sure of its spans.
        for span, score in zip(spans, prediction.scores, strict=True):
            assert prediction.probabilities[span.label] >= score - 1e-12
        assert 0.0 <= prediction.uncertainty <= 1.0
        assert prediction.model_version == TRAIN_SIZE
        assert prediction.as_json()["spans"] == [
            s.as_json() | {"score": score}
            for s, score in zip(spans, prediction.scores, strict=True)
        ]


def test_predict_many_matches_predict(trained: Trained) -> None:
    rows = [data for data, _ in trained.holdout[:40]] + [{"text": ""}, {"text": "   "}]

    assert trained.model.predict_many(rows) == [trained.model.predict(row) for row in rows]


def test_predict_many_matches_predict_in_small_batches(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [data for data, _ in trained.holdout[:40]]
    rows.append({"text": " ".join(data["text"] for data in rows)})  # longer than a batch
    together = trained.model.predict_many(rows)
    monkeypatch.setattr(spans_module, "_BATCH_TOKENS", 60)

    assert trained.model.predict_many(rows) == together
    assert together == [trained.model.predict(row) for row in rows]


def test_predicting_leaves_the_model_unchanged(trained: Trained) -> None:
    trained.model.predict_many([data for data, _ in trained.holdout])
    trained.model.predict(trained.holdout[0][0])
    trained.model.features(trained.holdout[0][0])
    trained.model.metrics.report()
    trained.model.accuracy_estimate()
    trained.model.pipeline_pickle()

    assert trained.model.snapshot() == trained.blob


def test_restored_model_has_the_same_bytes_and_predictions(trained: Trained) -> None:
    restored = SpanModel.restore(trained.blob)

    assert restored.snapshot() == trained.blob
    assert restored.version == TRAIN_SIZE
    rows = [data for data, _ in trained.holdout]
    assert restored.predict_many(rows) == trained.model.predict_many(rows)


def test_a_replay_is_bit_for_bit(trained: Trained) -> None:
    replay = _model(trained.domain)
    for data, spans in _as_json(trained.train):
        replay.learn(data, spans)

    assert replay.snapshot() == trained.blob
    rows = [data for data, _ in trained.holdout]
    # Equal floats, not close ones: the scores themselves are replayed.
    assert replay.predict_many(rows) == trained.model.predict_many(rows)


def test_a_restored_model_learns_on_as_the_original(trained: Trained) -> None:
    original = SpanModel.restore(trained.blob)
    restored = SpanModel.restore(original.snapshot())
    for (data, spans), (copy, copied_spans) in zip(
        trained.holdout[:30], _as_json(trained.holdout[:30]), strict=True
    ):
        assert original.learn(data, spans) == restored.learn(copy, copied_spans)

    assert original.snapshot() == restored.snapshot()


def test_the_pickled_parts_score_as_the_served_model(trained: Trained) -> None:
    parts = pickle.loads(trained.model.pipeline_pickle())
    data, _ = trained.holdout[0]
    features = token_features(tokenize(data["text"]))
    start, matrix, end = trained.model._transitions.probabilities()

    assert parts["tags"] == list(trained.model.tags)
    assert (parts["start"], parts["transitions"], parts["end"]) == (start, matrix, end)
    # Each tag's River classifier, as `predict_proba_one` gives it, is what the model
    # normalises into the token's tag probabilities.
    raw = np.array(
        [
            [parts["classifiers"][tag].predict_proba_one(x)[True] for tag in parts["tags"]]
            for x in features
        ]
    )
    expected = raw / raw.sum(axis=1, keepdims=True)
    assert trained.model._emissions(features) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_rehearsal_is_replayed_bit_for_bit() -> None:
    items = corpus("commerce", 120, seed=3)
    first, second = (_model("commerce", rehearsal=3, memory=30, seed=7) for _ in "ab")
    for data, spans in items:
        first.learn(data, spans)
    for data, spans in _as_json(items):
        second.learn(data, spans)

    assert first.snapshot() == second.snapshot()
    assert first._memory_seen == len(items) and len(first._memory) == 30


_CHILD = """
import hashlib, json, sys
from streamloop.online.span_corpus import DOMAINS, corpus
from streamloop.online.spans import SpanModel
digests = {}
for domain in DOMAINS:
    model = SpanModel(labels=DOMAINS[domain], rehearsal=2, memory=10)
    for data, spans in corpus(domain, 60, seed=4):
        model.learn(data, spans, drawn_at_random=True, annotator="ann")
    digests[domain] = hashlib.sha256(model.snapshot()).hexdigest()
json.dump(digests, sys.stdout)
"""


@pytest.mark.slow
def test_snapshots_are_equal_across_processes() -> None:
    digests = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _CHILD],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONHASHSEED": hash_seed},
            ).stdout
        )
        for hash_seed in ("1", "2")
    ]

    assert digests[0] == digests[1]
    assert list(digests[0]) == list(DOMAINS)


# Arguments and bad input.


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"labels": "PER"}, "sequence of non-empty strings"),
        ({"labels": ["PER", ""]}, "sequence of non-empty strings"),
        ({"labels": ["PER", 3]}, "sequence of non-empty strings"),
        ({"labels": ["PER", "PER"]}, "distinct"),
        ({"labels": []}, "one or more"),
        ({"strategy": "margin"}, "unknown strategy"),
        ({"rehearsal": -1}, "rehearsal"),
        ({"memory": 0}, "memory"),
    ],
)
def test_invalid_arguments_are_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpanModel(**({"labels": ["PER", "LOC"]} | arguments))


_TEXT = "Ada Lovelace met Babbage in London."  # Ada 0-3, Lovelace 4-12, London 28-34


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        ([Span(28, 99, "LOC")], "outside the text"),
        ([{"start": -1, "end": 3, "label": "PER"}], "outside the text"),
        ([Span(5, 5, "PER")], "start before it ends"),
        ([Span(12, 4, "PER")], "start before it ends"),
        ([Span(0, 12, "PER"), Span(4, 8, "PER")], "must not overlap"),
        ([Span(0, 3, "PER"), Span(0, 3, "PER")], "must not overlap"),
        ([Span(0, 2, "PER"), Span(2, 3, "LOC")], "fall in one token, 'Ada'"),
        ([Span(3, 4, "PER")], "covers no word"),
        ([Span(28, 34, "CITY")], "unknown label 'CITY'"),
        ([{"start": "0", "end": 3, "label": "PER"}], "start must be an integer"),
        ([{"start": 0, "end": 3.0, "label": "PER"}], "end must be an integer"),
        ([{"start": True, "end": 3, "label": "PER"}], "start must be an integer"),
        ([{"start": 0, "end": 3, "label": 1}], "label must be a string"),
        ([{"start": 0, "end": 3}], "object of start, end and label"),
        ([{"start": 0, "end": 3, "label": "PER", "score": 0.9}], "object of start, end"),
        ([(0, 3, "PER")], "object of start, end and label"),
        ("PER", "list of spans"),
        ({"start": 0, "end": 3, "label": "PER"}, "list of spans"),
        (None, "list of spans"),
    ],
)
def test_bad_spans_are_refused_and_change_nothing(spans: Any, message: str) -> None:
    model = SpanModel(labels=["PER", "LOC"])
    model.learn({"text": _TEXT}, [Span(0, 12, "PER"), Span(28, 34, "LOC")])
    before = model.snapshot()

    with pytest.raises(ValueError, match=message):
        model.learn({"text": _TEXT}, spans)

    assert model.snapshot() == before


@pytest.mark.parametrize("data", [{"text": 3}, {"body": "hello"}, "hello"])
def test_bad_data_is_refused_and_changes_nothing(data: Any) -> None:
    model = SpanModel(labels=["PER"])
    model.learn({"text": "Ada"}, [Span(0, 3, "PER")])
    before = model.snapshot()

    with pytest.raises(ValueError, match=r"text|object"):
        model.learn(data, [])
    with pytest.raises(ValueError, match=r"text|object"):
        model.predict_many([{"text": "fine"}, data])

    assert model.snapshot() == before


def test_spans_off_token_boundaries_are_learned_as_whole_tokens() -> None:
    model = SpanModel(labels=["PER", "LOC"])
    # "velace" of "Lovelace", and "Lond" of "London" with the space before it.
    model.learn({"text": _TEXT}, [Span(6, 12, "PER"), Span(27, 32, "LOC")])
    learned = model.learn({"text": _TEXT}, [Span(4, 12, "PER"), Span(28, 34, "LOC")])

    assert align(_TEXT, [Span(6, 12, "PER"), Span(27, 32, "LOC")]) == [
        Span(4, 12, "PER"),
        Span(28, 34, "LOC"),
    ]
    assert learned.predicted is not None
    assert model.metrics.report()["per_label"]["LOC"]["support"] == 2


def test_an_item_without_spans_is_learned_and_counts_a_version() -> None:
    model = SpanModel(labels=["PER"])
    model.learn({"text": "Ada met Bob"}, [Span(0, 3, "PER"), Span(8, 11, "PER")])

    learned = model.learn({"text": "It rained."}, [])

    assert learned.model_version == 2
    assert learned.predicted is not None
    assert learned.correct == (learned.predicted == ())
    assert model.metrics.labels_total == 2
    assert model.metrics.label_counts() == {"PER": 2}


def test_an_empty_text_is_tagged_with_nothing_and_is_certain() -> None:
    model = SpanModel(labels=["PER"])
    model.learn({"text": "Ada"}, [Span(0, 3, "PER")])

    for text in ("", "   \n"):
        prediction = model.predict({"text": text})
        assert prediction.spans == ()
        assert prediction.uncertainty == 0.0
        assert prediction.probabilities == {"PER": 0.0}
    learned = model.learn({"text": ""}, [])
    assert learned.correct and model.version == 2


def test_a_correction_is_learned_but_not_scored() -> None:
    model = SpanModel(labels=["PER", "LOC"])
    model.learn({"text": _TEXT}, [Span(0, 12, "PER")], annotator="ann")

    model.learn({"text": _TEXT}, [Span(0, 12, "PER"), Span(28, 34, "LOC")], correction=True)
    model.learn({"text": _TEXT}, [], annotator="ann", correction=True)

    assert model.version == 3
    assert model.metrics.labels_total == 1
    assert model.annotators()["ann"] == {"labels": 1, "agreement": 0.0, "corrections": 1}


def test_a_snapshot_of_something_else_is_refused() -> None:
    single = OnlineModel(
        labels=["a", "b"], input_kind="text", preset="naive_bayes", strategy="margin"
    )

    with pytest.raises(ValueError, match="not a span model"):
        SpanModel.restore(single.snapshot())
    with pytest.raises(ValueError, match="not a readable"):
        SpanModel.restore(b"junk")


def test_features_are_a_bag_of_lower_cased_words() -> None:
    bag = _model().features({"text": "Paris, paris! PARIS 2024 🙂"})

    assert bag == {"paris": 3.0, "2024": 1.0}


# What the service reads beside the metrics: random draws, annotators, drift, the estimate.


def test_random_draws_alone_make_the_unbiased_figures() -> None:
    model = _model("clinical")
    items = corpus("clinical", 90, seed=3)
    drawn = set(range(0, 90, 3))
    hits = []
    for n, (data, spans) in enumerate(items):
        before = model.predict(data).spans
        model.learn(data, spans, drawn_at_random=n in drawn, annotator="ann")
        if n in drawn and before is not None:
            hits.append(set(before) == set(spans))

    assert model.sampled_metrics.labels_total == len(hits) == len(drawn) - 1  # first: untrained
    assert model.sampled_metrics.report()["exact_match"] == sum(hits) / len(hits)
    assert model.sampled_accuracy.report()["samples"] == len(hits)
    estimate = model.accuracy_estimate([{"text": "ignored"}])
    assert estimate["method"] == "random_draws" and estimate["samples"] == len(hits)
    assert model.metrics.labels_total == 90
    assert model.annotators()["ann"]["labels"] == 90
    history = model.history()
    assert history["accuracy"][-1][0] == 90
    assert history["accuracy"][-1][1:] == model.metrics.accuracies()
    assert [point[0] for point in history["unbiased"]][-1] <= 90


def test_a_changed_stream_is_shown_as_drift() -> None:
    model = _model("news")
    items = corpus("news", 250, seed=4)
    for data, spans in items:
        model.learn(data, spans, drawn_at_random=True)
    assert model.drift["drifts_total"] == 0
    # Every label swapped for another: the model is now sure and wrong.
    labels = DOMAINS["news"]
    swap = dict(zip(labels, labels[1:] + labels[:1], strict=True))
    states = set()
    for data, spans in items:
        model.learn(
            data, [Span(s.start, s.end, swap[s.label]) for s in spans], drawn_at_random=True
        )
        states.add(model.drift_state)

    assert "drift" in states and model.drift["drifts_total"] >= 1


# Tokens and offsets.


_UNICODE = [
    # Decomposed accents: a base letter and combining marks, in one token.
    "Nguye\u0302\u0303n and Jose\u0301 A\u0301lvarez paid",
    # Precomposed and decomposed side by side, and Devanagari vowel signs.
    "Zoë and Zoe\u0308 met हिन्दी speakers",
    # Emoji: a skin tone, a ZWJ family, a flag, a keycap.
    "great 👍🏽 service 👩\u200d👩\u200d👧 from 🇫🇷 1\ufe0f\u20e3 team",
    # Right to left: Arabic with diacritics, Hebrew with points, beside Latin.
    "ليلى حَسَن met דָּוִד כֹּהֵן in Cairo",
]


@pytest.mark.parametrize("text", _UNICODE)
def test_tokens_keep_their_offsets_and_their_marks(text: str) -> None:
    tokens = tokenize(text)

    assert all(text[t.start : t.end] == t.text for t in tokens)
    assert [t.text for t in tokens] == text.split()  # these texts have no punctuation inside
    for token in tokens:
        assert unicodedata.category(token.text[0])[0] != "M"


def test_emoji_and_punctuation_are_tokens_of_their_own() -> None:
    assert [t.text for t in tokenize("ok👍🏽!!(x)")] == ["ok", "👍🏽", "!", "!", "(", "x", ")"]
    assert [t.text for t in tokenize("O'Neil's $4.50")] == [
        "O",
        "'",
        "Neil",
        "'",
        "s",
        "$",
        "4",
        ".",
        "50",
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_tokens_cover_every_character_but_spaces(text: str) -> None:
    tokens = tokenize(text)

    assert all(text[t.start : t.end] == t.text for t in tokens)
    assert all(a.end <= b.start for a, b in itertools.pairwise(tokens))
    covered = {n for t in tokens for n in range(t.start, t.end)}
    assert covered == {n for n, char in enumerate(text) if not char.isspace()}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_aligned_spans_survive_bio_and_back(data: st.DataObject) -> None:
    text = data.draw(st.text(alphabet=st.sampled_from("ab é\u0301,👍\u05d0"), max_size=30))
    tokens = tokenize(text)
    # Spans over runs of whole tokens, none sharing one.
    cuts = sorted(data.draw(st.sets(st.integers(0, len(tokens)), max_size=6)))
    spans = [
        Span(tokens[a].start, tokens[b - 1].end, data.draw(st.sampled_from(["X", "Y"])))
        for a, b in itertools.pairwise(cuts)
        if a < b and data.draw(st.booleans())
    ]

    tags = bio_tags(tokens, spans)

    assert _valid(tags)
    assert spans_of(tokens, tags) == spans
    assert align(text, spans) == spans


def test_learned_spans_map_back_to_the_same_substrings() -> None:
    people = ["Nguye\u0302\u0303n Lan", "José Álvarez", "ليلى حَسَن", "דָּוִד כֹּהֵן", "Zoe\u0308 Ng"]
    amounts = ["€20", "$4.50", "¥300", "12 EUR"]
    emoji = ["👍🏽", "👩\u200d💻", "🇫🇷", "🙂"]
    rng = random.Random(0)
    items: Items = []
    for _ in range(60):
        person, amount, mark = rng.choice(people), rng.choice(amounts), rng.choice(emoji)
        text = f"{mark} {person} paid {amount} {mark}"
        start = len(mark) + 1
        paid = start + len(person) + len(" paid ")
        items.append(
            (
                {"text": text},
                [Span(start, start + len(person), "PER"), Span(paid, paid + len(amount), "MONEY")],
            )
        )
    model = SpanModel(labels=["PER", "MONEY"])
    for data, spans in items:
        model.learn(data, spans)

    for data, spans in items[:20]:
        predicted = model.predict(data).spans
        assert predicted == tuple(spans)
        text = data["text"]
        assert [text[s.start : s.end] for s in predicted] == [text[s.start : s.end] for s in spans]


def test_token_features_name_the_word_its_shape_and_its_neighbours() -> None:
    features = token_features(tokenize("Met Ana in Oslo"))

    assert features[1] == {
        "bias": 1.0,
        "w:ana": 1.0,
        "p:ana": 1.0,
        "x:ana": 1.0,
        "s:Xx": 1.0,
        "ss:Xxx": 1.0,
        "-1:met": 1.0,
        "+1:in": 1.0,
        "-1s:Xx": 1.0,
        "+1s:x": 1.0,
        "-2:<s>": 1.0,
        "+2:oslo": 1.0,
        "-2s:<s>": 1.0,
        "+2s:Xx": 1.0,
    }
    assert "first" in features[0] and "first" not in features[1]


def test_token_features_are_the_same_with_their_words_kept_or_not() -> None:
    from streamloop.online import token_features as module

    text = "Ana met Ana in Oslo; " + "x" * 40 + " Oslo 42 ANA"
    module._kept_names.cache_clear()
    cold = token_features(tokenize(text))
    warm = token_features(tokenize(text))  # every short word found kept this time

    assert [list(x.items()) for x in warm] == [list(x.items()) for x in cold]
    # The short words are kept, once each; the long one is named again each time.
    distinct = {t.text for t in tokenize(text)} - {"x" * 40}
    kept = module._kept_names.cache_info()
    assert (kept.currsize, kept.misses) == (len(distinct), len(distinct))
    assert kept.maxsize == module._KEPT_WORDS


# Decoding.


def _enumerate(
    first: np.ndarray, steps: np.ndarray, last: np.ndarray
) -> dict[tuple[int, ...], float]:
    size, length = len(first), len(steps) + 1
    scores = {}
    for path in itertools.product(range(size), repeat=length):
        score = first[path[0]] * last[path[-1]]
        for t in range(1, length):
            score *= steps[t - 1][path[t - 1]][path[t]]
        scores[path] = score
    return scores


def _chain(rng: np.random.Generator, labels: int, length: int) -> tuple[Any, ...]:
    """Random emissions and counted transitions, built as `SpanModel` builds them."""
    tags = tag_set([f"L{k}" for k in range(labels)])
    transitions = Transitions(tags)
    for _ in range(int(rng.integers(0, 20))):
        path = [0] * int(rng.integers(1, 6))
        for n in range(len(path)):
            tag = int(rng.integers(0, len(tags)))
            previous = path[n - 1] if n else None
            if (
                tag % 2 == 0
                and tag
                and (previous is None or (previous - 1) // 2 != (tag - 1) // 2 or not previous)
            ):
                tag = tag - 1  # keep the counted paths valid: B- instead
            path[n] = tag
        transitions.count(path)
    weight = float(rng.choice([0.0, 0.5, 1.0]))
    start, matrix, end = transitions.scores(weight, relative=bool(rng.integers(0, 2)))
    emissions = rng.dirichlet(np.ones(len(tags)) * float(rng.choice([0.1, 1.0, 10.0])), length)
    emissions = np.maximum(emissions, 1e-9)
    first = np.asarray(start) * emissions[0]
    steps = np.asarray(matrix)[np.newaxis] * emissions[1:, np.newaxis, :]
    return tags, first, steps, np.asarray(end)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), labels=st.integers(1, 4), length=st.integers(1, 40))
def test_viterbi_never_yields_an_invalid_sequence(seed: int, labels: int, length: int) -> None:
    tags, first, steps, last = _chain(np.random.default_rng(seed), labels, length)

    decoded = decode(first, steps, last)

    assert len(decoded.path) == length
    assert _valid([tags[n] for n in decoded.path])
    assert 0.0 < decoded.probability <= 1.0
    for row in decoded.marginals:
        assert math.isclose(sum(row), 1.0, rel_tol=1e-9)
        # Marginals of forbidden first tags are 0.
    assert all(decoded.marginals[0][tags.index(t)] == 0.0 for t in tags if t.startswith("I-"))


@pytest.mark.parametrize("seed", range(40))
def test_decoding_equals_brute_force_on_small_chains(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels, length = int(rng.integers(1, 3)), int(rng.integers(1, 6))
    tags, first, steps, last = _chain(rng, labels, length)
    scores = _enumerate(first, steps, last)
    total = math.fsum(scores.values())
    best = max(scores, key=lambda path: scores[path])

    decoded = decode(first, steps, last)

    assert decoded.path == best
    assert decoded.probability == pytest.approx(scores[best] / total, rel=1e-9)
    for t in range(length):
        expected = [
            math.fsum(s for path, s in scores.items() if path[t] == tag) / total
            for tag in range(len(tags))
        ]
        assert decoded.marginals[t] == pytest.approx(expected, rel=1e-9, abs=1e-15)
    # Every sequence that scores is valid BIO, and they are all counted.
    valid = [path for path, s in scores.items() if s > 0.0]
    assert all(_valid([tags[n] for n in path]) for path in valid)
    assert len(valid) == valid_sequences(length, labels)


@pytest.mark.parametrize("seed", range(20))
def test_least_confidence_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    labels, length = int(rng.integers(1, 3)), int(rng.integers(1, 6))
    _, first, steps, last = _chain(rng, labels, length)
    scores = _enumerate(first, steps, last)
    valid = sum(1 for s in scores.values() if s > 0.0)
    best_share = max(scores.values()) / math.fsum(scores.values())

    decoded = decode(first, steps, last)

    assert span_uncertainty("least_confidence", decoded.probability, decoded.marginals) == (
        pytest.approx((1.0 - best_share) / (1.0 - 1.0 / valid), rel=1e-9)
    )


def test_a_batch_decodes_each_chain_to_the_last_bit() -> None:
    rng = np.random.default_rng(7)
    chains = [_chain(rng, 3, length) for length in (1, 5, 17, 2, 17, 40)]
    longest = max(len(steps) + 1 for _, _, steps, _ in chains)
    size = len(chains[0][0])
    padded = np.zeros((len(chains), longest - 1, size, size))
    for n, (_, _, steps, _) in enumerate(chains):
        padded[n, : len(steps)] = steps

    batch = decode_many(
        [first for _, first, _, _ in chains],
        padded,
        [last for _, _, _, last in chains],
        [len(steps) + 1 for _, _, steps, _ in chains],
    )

    assert batch == [decode(first, steps, last) for _, first, steps, last in chains]


def test_a_chain_with_no_possible_sequence_is_an_arithmetic_error() -> None:
    with pytest.raises(ArithmeticError):
        decode([0.0, 0.0], [], [1.0, 1.0])
    with pytest.raises(ArithmeticError):  # no step out of the first token
        decode([0.5, 0.5], [[[0.0, 0.0], [0.0, 0.0]]], [1.0, 1.0])
    with pytest.raises(ArithmeticError):  # nowhere to end
        decode([0.5, 0.5], [[[1.0, 0.0], [0.0, 1.0]]], [0.0, 0.0])
    with pytest.raises(ArithmeticError, match="chain 1"):  # one chain of a batch
        decode_many([[0.5, 0.5], [0.0, 0.0]], np.zeros((2, 0, 2, 2)), [1.0, 1.0], [1, 1])
    with pytest.raises(ValueError, match="at least one"):  # a chain of no tokens
        decode_many([[0.5, 0.5]], np.zeros((1, 0, 2, 2)), [1.0, 1.0], [0])
    assert decode([], [], []).path == ()


def test_potentials_near_underflow_still_give_marginals() -> None:
    tiny = 1e-200
    decoded = decode([1.0, 1.0], [[[tiny, tiny], [tiny, tiny]]], [tiny, tiny])

    assert decoded.path == (0, 0)
    assert decoded.probability == pytest.approx(0.25)
    assert decoded.marginals == [[0.5, 0.5], [0.5, 0.5]]


def test_transitions_forbid_an_inside_tag_without_its_beginning() -> None:
    tags = tag_set(["A", "B"])  # O B-A I-A B-B I-B
    transitions = Transitions(tags)
    transitions.count([1, 2, 0, 3])
    start, matrix, end = transitions.probabilities()

    assert [p > 0.0 for p in start] == [True, True, False, True, False]
    assert [p > 0.0 for p in matrix[tags.index("B-A")]] == [True, True, True, True, False]
    assert [p > 0.0 for p in matrix[tags.index("O")]] == [True, True, False, True, False]
    assert all(math.isclose(sum(row), 1.0 - e) for row, e in zip(matrix, end, strict=True))
    # Add-one smoothing: from B-A, 1 count of I-A among its 4 allowed tags and the end.
    assert matrix[tags.index("B-A")][tags.index("I-A")] == 2 / 6
    for weight in (0.0, 0.5, 1.0):
        scored = transitions.scores(weight)
        assert [[s > 0 for s in row] for row in scored[1]] == [
            [p > 0 for p in row] for row in matrix
        ]


def test_the_model_decodes_valid_tags_on_every_text() -> None:
    model = _model("commerce")
    items = corpus("commerce", 60, seed=9)
    for data, spans in items[:30]:
        model.learn(data, spans)

    for data, _ in items[30:]:
        tagging = model._tag(tokenize(data["text"]))
        assert tagging.tags is not None and _valid(tagging.tags)
        assert 0.0 <= tagging.confidence <= 1.0


# Metrics.


def test_metrics_match_hand_computed_values() -> None:
    metrics = SpanMetrics(["PER", "LOC"])
    # "Ada met Bob in Rome": Ada 0-3, Bob 8-11, Rome 15-19.
    metrics.update(
        [Span(0, 3, "PER"), Span(8, 11, "PER"), Span(15, 19, "LOC")],
        [Span(0, 3, "PER"), Span(8, 11, "LOC")],  # one right, one mislabelled, one missed
        true_tags=["B-PER", "O", "B-PER", "O", "B-LOC"],
        predicted_tags=["B-PER", "O", "B-LOC", "O", "O"],
    )
    metrics.update([], [], true_tags=["O", "O"], predicted_tags=["O", "O"])  # exact
    metrics.update([Span(0, 4, "LOC")], None, true_tags=["B-LOC"])  # untrained

    report = metrics.report()
    # TP 1 (Ada); FP 1 (Bob as LOC); FN 3 (Bob as PER, Rome, the untrained item's LOC).
    assert report["precision"] == 1 / 2
    assert report["recall"] == 1 / 4
    assert report["f1"] == 2 / (2 + 1 + 3)
    # Tokens: 3 of 5 right, 2 of 2, 0 of 1.
    assert report["token_accuracy"] == 5 / 8
    assert report["exact_match"] == 1 / 3
    assert report["per_label"] == {
        "PER": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2},
    }
    assert report["macro_f1"] == pytest.approx(1 / 3)
    assert metrics.label_counts() == {"PER": 2, "LOC": 2}
    assert metrics.accuracies() == (1 / 3, 1 / 3)
    assert report["labels_total"] == metrics.labels_total == 3


def test_rolling_figures_cover_the_latest_window() -> None:
    metrics = SpanMetrics(["X"], window=2)
    metrics.update([Span(0, 1, "X")], [Span(2, 3, "X")])  # all wrong
    metrics.update([Span(0, 1, "X")], [Span(0, 1, "X")])
    metrics.update([], [])

    report = metrics.report()
    assert report["rolling_f1"] == 1.0
    assert report["rolling_exact_match"] == 1.0
    assert report["f1"] == 2 / 4
    assert report["exact_match"] == 2 / 3
    assert report["window"] == 2
    assert report["token_accuracy"] is None  # no tags were given
    with pytest.raises(ValueError, match="window"):
        SpanMetrics(["X"], window=0)


def test_metrics_before_any_item_are_undefined() -> None:
    report = SpanMetrics(["X", "Y"]).report()

    for key in ("precision", "recall", "f1", "rolling_f1", "macro_f1", "token_accuracy"):
        assert report[key] is None
    assert report["exact_match"] is None and report["rolling_exact_match"] is None
    assert report["per_label"]["X"] == {"precision": None, "recall": None, "f1": None, "support": 0}


def test_no_prediction_counts_every_span_missed_and_every_tag_wrong() -> None:
    metrics = SpanMetrics(["X", "Y"])
    metrics.update([Span(0, 1, "X"), Span(2, 3, "X")], None, true_tags=["B-X", "O", "B-X"])

    report = metrics.report()
    assert report["recall"] == 0.0 and report["f1"] == 0.0
    assert report["precision"] is None
    assert report["token_accuracy"] == 0.0
    assert report["exact_match"] == 0.0
    assert report["per_label"]["X"]["support"] == 2


def test_metrics_refuse_unknown_labels_and_uneven_tags() -> None:
    metrics = SpanMetrics(["X"])

    with pytest.raises(ValueError, match="unknown label"):
        metrics.update([Span(0, 1, "Z")], [])
    with pytest.raises(ValueError, match="unknown label"):
        metrics.update([], [Span(0, 1, "Z")])
    with pytest.raises(ValueError, match="must match"):
        metrics.update([], [], true_tags=["O"], predicted_tags=["O", "O"])
    assert metrics.labels_total == 0


def test_metrics_match_counting_spans_by_hand_on_a_random_stream() -> None:
    rng = random.Random(0)
    labels = ["A", "B", "C"]
    metrics = SpanMetrics(labels)
    true_positives = dict.fromkeys(labels, 0)
    predicted_count = dict.fromkeys(labels, 0)
    given_count = dict.fromkeys(labels, 0)
    for _ in range(300):
        truth = {Span(n, n + 1, rng.choice(labels)) for n in range(0, 20, 2) if rng.random() < 0.3}
        predicted = {s for s in truth if rng.random() < 0.7} | {
            Span(n, n + 1, rng.choice(labels)) for n in range(1, 20, 2) if rng.random() < 0.1
        }
        metrics.update(truth, predicted)
        for s in truth:
            given_count[s.label] += 1
            true_positives[s.label] += s in predicted
        for s in predicted:
            predicted_count[s.label] += 1

    report = metrics.report()
    tp = sum(true_positives.values())
    assert report["precision"] == tp / sum(predicted_count.values())
    assert report["recall"] == tp / sum(given_count.values())
    for label in labels:
        assert report["per_label"][label]["support"] == given_count[label]
        assert (
            report["per_label"][label]["precision"]
            == true_positives[label] / predicted_count[label]
        )


# Uncertainty.


@pytest.mark.parametrize("strategy", SPAN_STRATEGIES)
def test_certain_scores_zero_and_a_blind_guess_one(strategy: str) -> None:
    sure = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    assert span_uncertainty(strategy, 1.0, sure) == 0.0
    assert span_uncertainty(strategy, 1.0, []) == 0.0
    # Every valid sequence equally likely (one label, three tokens: 13 sequences): the
    # marginals of the uniform distribution over them.
    paths = [
        p
        for p in itertools.product(range(3), repeat=3)
        if _valid([("O", "B-X", "I-X")[n] for n in p])
    ]
    uniform = [[sum(p[t] == k for p in paths) / len(paths) for k in range(3)] for t in range(3)]
    guess = span_uncertainty(strategy, 1 / len(paths), uniform)
    if strategy in ("least_confidence", "random"):
        assert guess == pytest.approx(1.0)
    assert 0.5 < guess <= 1.0
    # Uniform token marginals are each token's blind guess.
    flat = [[1 / 3] * 3] * 3
    if strategy != "least_confidence" and strategy != "random":
        assert span_uncertainty(strategy, 1 / 27, flat) == pytest.approx(1.0)


@settings(max_examples=300, deadline=None)
@given(
    strategy=st.sampled_from(SPAN_STRATEGIES),
    seed=st.integers(0, 2**32 - 1),
    labels=st.integers(1, 4),
    length=st.integers(1, 120),
)
def test_every_strategy_scores_within_zero_and_one(
    strategy: str, seed: int, labels: int, length: int
) -> None:
    _, first, steps, last = _chain(np.random.default_rng(seed), labels, length)
    decoded = decode(first, steps, last)

    assert 0.0 <= span_uncertainty(strategy, decoded.probability, decoded.marginals) <= 1.0


def test_uncertainty_grows_as_a_token_gets_less_sure() -> None:
    for strategy in SPAN_STRATEGIES:
        scores = [
            span_uncertainty(strategy, p, [[1.0, 0.0, 0.0], [p, 1.0 - p, 0.0]])
            for p in (1.0, 0.9, 0.7, 0.55)
        ]
        assert scores == sorted(scores), strategy


def test_the_strategies_differ_as_documented() -> None:
    one_unsure = [[1.0, 0.0, 0.0]] * 9 + [[0.5, 0.5, 0.0]]

    assert span_uncertainty("min_margin", 0.5, one_unsure) == 1.0
    assert span_uncertainty("total_token_entropy", 0.5, one_unsure) == pytest.approx(
        math.log(2) / math.log(3)
    )
    assert span_uncertainty("token_entropy", 0.5, one_unsure) == pytest.approx(
        math.log(2) / math.log(3) / 10
    )
    # Long texts have more ways to be wrong: the same unsure token among more sure ones.
    assert span_uncertainty("least_confidence", 0.5, one_unsure) == pytest.approx(
        0.5 / (1 - 1 / valid_sequences(10, 1))
    )
    assert valid_sequences(3, 1) == 13
    assert valid_sequences(100, 4) > 10**60


def test_random_scores_as_the_default_does() -> None:
    marginals = [[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]]

    assert span_uncertainty("random", 0.3, marginals) == span_uncertainty(
        DEFAULT_SPAN_STRATEGY, 0.3, marginals
    )
    assert _model().strategy == DEFAULT_SPAN_STRATEGY


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        span_uncertainty("margin", 1.0, [[1.0]])


# The corpus.


def test_the_corpus_is_deterministic_and_its_spans_fit_their_texts() -> None:
    for domain, labels in DOMAINS.items():
        items = corpus(domain, 300, seed=5)
        assert items == corpus(domain, 300, seed=5)
        assert items != corpus(domain, 300, seed=6)
        texts = [data["text"] for data, _ in items]
        assert sum(1 for _, spans in items if not spans) >= 10  # some texts without entity
        assert max(len(tokenize(text)) for text in texts) >= 100  # some long texts
        found = {label for _, spans in items for s in spans for label in [s.label]}
        assert found == set(labels)
        for data, spans in items:
            text = data["text"]
            assert spans == sorted(spans)
            assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
            assert align(text, spans) == spans
            assert all(text[s.start : s.end].strip() == text[s.start : s.end] for s in spans)
    with pytest.raises(ValueError, match="unknown domain"):
        corpus("poetry", 1)


def test_the_corpus_has_its_hard_cases() -> None:
    news = corpus("news", 2000, seed=0)
    labelled: dict[str, set[str]] = {}
    plain: set[str] = set()
    for data, spans in news:
        text = data["text"]
        inside = set()
        for span in spans:
            for token in tokenize(text[span.start : span.end]):
                labelled.setdefault(token.text, set()).add(span.label)
            inside.update(range(span.start, span.end))
        plain.update(t.text for t in tokenize(text) if t.start not in inside)
    # The same word as a person and a place, and as an entity and not one.
    assert {"PER", "LOC"} <= labelled["Jordan"]
    assert {"PER", "DATE"} <= labelled["May"]
    assert {"May", "Apple", "Turkey"} <= plain
    assert any(unicodedata.normalize("NFC", w) != w for w in labelled)  # combining marks
    assert any("\u0590" <= w[0] <= "\u06ff" for w in labelled)  # Hebrew or Arabic script


def _with_river_classifiers(model: SpanModel) -> SpanModel:
    """The model as 0.9.0 and before made it: a River `LogisticRegression` per tag."""
    from river import linear_model, optim

    del model._head
    model._classifiers = {
        tag: linear_model.LogisticRegression(optimizer=optim.SGD(model._LEARNING_RATE))
        for tag in model.tags
    }
    return model


def test_the_tags_learn_as_rivers_classifiers_did_and_older_models_learn_on() -> None:
    items, holdout = corpus("news", 80, seed=5), corpus("news", 10, seed=6)
    ours, older = _model("news", rehearsal=2), _with_river_classifiers(_model("news", rehearsal=2))
    for data, spans in items[:60]:
        ours.learn(data, spans)
        older.learn(data, spans)
    # An older model's snapshot reads back, and learns on with its River classifiers.
    older = SpanModel.restore(older.snapshot())
    assert not hasattr(older, "_head")
    for data, spans in items[60:]:
        assert ours.learn(data, spans) == older.learn(data, spans)  # the spans it predicted

    for data, _ in holdout:
        features = token_features(tokenize(data["text"]))
        assert ours._emissions(features) == pytest.approx(
            older._emissions(features), rel=1e-9, abs=1e-12
        )
    assert [p.spans for p in ours.predict_many([d for d, _ in holdout])] == [
        p.spans for p in older.predict_many([d for d, _ in holdout])
    ]
