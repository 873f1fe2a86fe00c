"""Feature fronts: what a pipeline sees of an item's data."""

from __future__ import annotations

import contextlib
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import feature_extraction

from streamloop.online import features
from streamloop.online.features import (
    DenseHasher,
    OrderedTFIDF,
    composed_tabular_front,
    tabular_front,
    text_bucket_front,
    text_tfidf_front,
)
from streamloop.online.inputs import keeping_terms
from streamloop.online.snapshot import dumps
from support import tabular_rows


def test_dense_hasher_emits_every_bucket() -> None:
    hasher = DenseHasher(n_buckets=8)

    out = hasher.transform_one({"spam": 2, "eggs": 1})

    assert list(out) == [f"bucket_{i}" for i in range(8)]
    assert sum(out.values()) == 3.0
    assert hasher.transform_one({}) == dict.fromkeys(out, 0.0)


def test_dense_hasher_buckets_are_fixed_across_processes() -> None:
    # CRC-32 of the UTF-8 name, not hash(), so this holds under any PYTHONHASHSEED:
    # zlib.crc32(b"spam") % 64 == 61.
    out = DenseHasher(n_buckets=64).transform_one({"spam": 1})

    assert [name for name, value in out.items() if value] == ["bucket_61"]


def test_dense_hasher_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="n_buckets"):
        DenseHasher(n_buckets=0)


def test_text_buckets_fold_any_vocabulary_into_fixed_features() -> None:
    front = text_bucket_front()

    short = front.transform_one({"text": "hi"})
    long = front.transform_one({"text": "a much longer text with many different words in it"})

    assert list(short) == list(long)


def test_ordered_tfidf_counts_documents_not_occurrences() -> None:
    tfidf = OrderedTFIDF(on="text")
    tfidf.learn_one({"text": "eggs spam spam"})
    tfidf.learn_one({"text": "spam ham"})

    assert list(tfidf.dfs.items()) == [("eggs", 1), ("spam", 2), ("ham", 1)]
    assert tfidf.n == 2


def test_tfidf_front_gives_unit_length_vectors() -> None:
    front = text_tfidf_front()
    front.learn_one({"text": "spam and eggs"})

    vector = front.transform_one({"text": "spam spam eggs"})

    assert sum(value**2 for value in vector.values()) == pytest.approx(1.0)


def test_tabular_front_scales_numbers_and_booleans_and_encodes_strings() -> None:
    front = tabular_front()
    for data in [{"size": 1.0, "new": True, "colour": "red"}, {"size": 3.0, "new": False}]:
        front.learn_one(data)

    out = front.transform_one({"size": 3.0, "new": True, "colour": "blue"})

    assert out == {"size": pytest.approx(1.0), "new": pytest.approx(1.0), "colour_blue": 1}


@settings(max_examples=150, deadline=None)
@given(learned=tabular_rows(15), scored=tabular_rows(15))
def test_the_tabular_front_gives_the_features_of_rivers_composition_of_its_steps(
    learned: list[dict[str, Any]], scored: list[dict[str, Any]]
) -> None:
    # Small bounds, so that fields and values fold into buckets.
    fused, composed = tabular_front(3, 1, 4), composed_tabular_front(3, 1, 4)
    for row in learned:
        fused.learn_one(row)
        composed.learn_one(row)
        assert list(fused.transform_one(row).items()) == list(composed.transform_one(row).items())

    for row in scored:
        assert list(fused.transform_one(row).items()) == list(composed.transform_one(row).items())
    scaler = composed.steps["TransformerUnion"].transformers["Pipeline"].steps["ArrayScaler"]
    assert pickle.dumps(fused.scaler) == pickle.dumps(scaler)


@pytest.mark.parametrize(
    "options",
    [
        {"on": "text"},
        {"on": "text", "ngram_range": (1, 3)},
        {"on": "text", "stop_words": {"ham"}, "normalize": False},
        {"on": "text", "preprocessor": str.upper, "ngram_range": (2, 2)},
        {"on": None},
    ],
    ids=["default", "ngrams", "stop-words", "preprocessor", "on-none"],
)
def test_a_text_scored_again_is_not_tokenised_again(options: dict[str, Any]) -> None:
    tokenised: list[str] = []

    def tokenizer(text: str) -> Any:
        tokenised.append(text)
        return iter(text.split())  # a generator, as a tokenizer may give

    tfidf = OrderedTFIDF(tokenizer=tokenizer, **options)
    river = feature_extraction.TFIDF(tokenizer=str.split, **options)
    texts = ["Spam eggs spam ham", "ham", "spam ham eggs"]
    if options["on"] is not None:
        texts = [{"text": text} for text in texts]  # type: ignore[misc]
    for x in texts:
        tfidf.learn_one(x)
        river.learn_one(x)
    assert tfidf.dfs == river.dfs

    assert [tfidf.transform_one(x) for x in texts] == [river.transform_one(x) for x in texts]
    assert len(tokenised) == 6  # read once, as an event is: nothing kept
    tokenised.clear()
    with keeping_terms():
        for _ in range(3):  # a waiting item re-scored at each new model version
            assert [tfidf.transform_one(x) for x in texts] == [
                river.transform_one(x) for x in texts
            ]
    assert len(tokenised) == 3


#: River's steps `OrderedTFIDF` runs in one call (a ``findall``), and some it leaves to River.
PLAIN = [
    {"on": "text"},
    {"on": "text", "strip_accents": False},
    {"on": "text", "lowercase": False},
    {"on": None},
    {"on": "text", "tokenizer_pattern": r"[a-z\-]+"},
]
NOT_PLAIN = [
    {"on": "text", "tokenizer_pattern": r"(\w+)-?"},  # a group: River keeps the group's text
    {"on": "text", "ngram_range": (1, 2)},
    {"on": "text", "stop_words": {"the"}},
    {"on": "text", "preprocessor": str.upper},
    {"on": "text", "tokenizer": str.split},
]


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("abcXYZ éèçÀÉñ-_'09.,;!?\t\nßœİẞǅﬁ²③日本")),
        max_size=60,
    ),
    options=st.sampled_from(PLAIN + NOT_PLAIN),
)
def test_a_texts_terms_are_those_river_finds(text: str, options: dict[str, Any]) -> None:
    ours, rivers = OrderedTFIDF(**options), feature_extraction.TFIDF(**options)
    x = text if options["on"] is None else {"text": text}
    assert list(ours.process_text(x)) == list(rivers.process_text(x))
    with keeping_terms():  # kept, then found again
        assert list(ours.process_text(x)) == list(rivers.process_text(x))


def test_rivers_own_steps_are_run_in_one_call_and_others_left_to_river() -> None:
    assert all(OrderedTFIDF(**options)._plain_steps() is not None for options in PLAIN)
    assert all(OrderedTFIDF(**options)._plain_steps() is None for options in NOT_PLAIN)
    tfidf = OrderedTFIDF(on="text")
    assert tfidf.process_text({"text": "Crème brûlée, twice-baked"}) == [
        "creme",
        "brulee",
        "twice-baked",
    ]
    assert "_plain" in tfidf.__dict__ and "_plain" not in tfidf.__getstate__()
    # River fixes its steps when the TF-IDF is made: options changed later change nothing.
    tfidf.lowercase = False
    assert tfidf.process_text({"text": "Crème"}) == ["creme"]
    moved = OrderedTFIDF(on="text")
    moved.on = "body"  # before its first text: River still reads "text"
    assert list(moved.process_text({"text": "Read", "body": "Not"})) == ["read"]


@pytest.mark.parametrize("kept", [False, True])
@pytest.mark.parametrize("x", ["a bare text", {"body": "no text field"}, {"text": 3}])
def test_what_river_refuses_is_refused_alike(x: Any, kept: bool) -> None:
    ours, rivers = OrderedTFIDF(on="text"), feature_extraction.TFIDF(on="text")
    with pytest.raises((TypeError, KeyError, AttributeError)) as river_error:
        list(rivers.process_text(x))
    with keeping_terms() if kept else contextlib.nullcontext():
        ours.process_text({"text": "a bare text"})  # kept, when kept: not found by the bare text
        with pytest.raises(type(river_error.value)):
            list(ours.process_text(x))


def test_keeping_terms_leaves_the_parameters_river_reads() -> None:
    tfidf = OrderedTFIDF(on="text", ngram_range=(1, 2))
    with keeping_terms():
        tfidf.transform_one({"text": "spam eggs"})

    assert (
        tfidf._get_params() == feature_extraction.TFIDF(on="text", ngram_range=(1, 2))._get_params()
    )
    clone = tfidf.clone()
    clone.learn_one({"text": "spam eggs"})
    assert (clone.on, clone.ngram_range, clone.n) == ("text", (1, 2), 1)


def test_terms_kept_are_bounded_and_not_part_of_the_model() -> None:
    scored, fresh = text_tfidf_front(), text_tfidf_front()
    for front in (scored, fresh):
        front.learn_one({"text": "spam eggs"})
    with keeping_terms():
        for n in range(features._TEXTS_KEPT + 10):
            scored.transform_one({"text": f"spam {n}"})
        tfidf = next(step for step in _steps(scored) if isinstance(step, OrderedTFIDF))
        assert len(tfidf._terms) <= features._TEXTS_KEPT
        half = " ".join(f"w{n}" for n in range(features._KEPT_SIZE // 2 // 70))
        scored.transform_one({"text": half})
        scored.transform_one({"text": half + " again"})
        assert half + " again" in tfidf._terms and half not in tfidf._terms
        scored.transform_one({"text": half * 3})  # larger than all: not kept
        assert half * 3 not in tfidf._terms

    assert tfidf._kept_size <= features._KEPT_SIZE
    assert dumps(scored) == dumps(fresh)  # what a snapshot writes


def _steps(front: Any) -> list[Any]:
    return list(getattr(front, "steps", {None: front}).values())


def test_fronts_pickle() -> None:
    for front in (text_tfidf_front(), text_bucket_front(), tabular_front()):
        restored = pickle.loads(pickle.dumps(front))
        assert restored.transform_one({"text": "spam", "size": 1.0}) == front.transform_one(
            {"text": "spam", "size": 1.0}
        )


@settings(max_examples=150, deadline=None)
@given(learned=tabular_rows(15))
def test_learning_and_transforming_in_one_pass_gives_the_same_features_and_state(
    learned: list[dict[str, Any]],
) -> None:
    # What a model's learning step uses (`learn_transform_one`), against learning then
    # transforming as River's pipeline does: the same features, the same state after.
    fused, apart = tabular_front(3, 1, 4), tabular_front(3, 1, 4)
    for row in learned:
        got = fused.learn_transform_one(row)
        apart.learn_one(row)
        assert list(got.items()) == list(apart.transform_one(row).items())
    assert pickle.dumps(fused) == pickle.dumps(apart)


_NUMBER_ROWS = st.lists(
    st.dictionaries(
        st.sampled_from(["a", "a_b", "c", "d"]),
        st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.booleans()),
    ),
    max_size=15,
)


@settings(max_examples=150, deadline=None)
@given(learned=st.lists(st.one_of(tabular_rows(1), _NUMBER_ROWS), max_size=4))
def test_learning_an_item_as_arrays_gives_the_features_and_state_of_learning_it_as_a_dict(
    learned: list[list[dict[str, Any]]],
) -> None:
    # `learn_transform_row` (a logistic head's learning step) passes rows of numbers each kept
    # straight to the scaler, and anything else through `learn_transform_one`: the same names
    # and values, bit for bit, and the same state after, either way.
    rows, dicts = tabular_front(3, 1, 4), tabular_front(3, 1, 4)
    for row in [row for chunk in learned for row in chunk]:
        names, values = rows.learn_transform_row(row)
        features = dicts.learn_transform_one(row)
        assert names == tuple(features)
        assert values.dtype == np.float64
        assert values.tobytes() == np.array(list(features.values()), dtype=np.float64).tobytes()
    assert pickle.dumps(rows) == pickle.dumps(dicts)
