"""Scoring a batch with a linear pipeline's arrays gives River's answers one at a time."""

from __future__ import annotations

import functools
import os
import pickle
import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import compose, linear_model, multiclass, optim

from streamloop.online import kernels
from streamloop.online.features import OrderedTFIDF, ReadOnlyScaler, composed_tabular_front
from streamloop.online.inputs import model_input, numeric_rows
from streamloop.online.linear import _generic_front, _tfidf_front, linear_scorer
from streamloop.online.model import _probabilities
from streamloop.online.one_vs_rest import LOGIT_BOUND, OneVsRestLogistic, ShadowHeads
from streamloop.online.presets import PRESETS, build_front, build_pipeline
from support import tabular_rows

LABELS = ["spam", "ham", "eggs", "bacon"]
_ROWS = tabular_rows(12)


def _same(pipeline: Any, rows: list[dict[str, Any]]) -> None:
    scorer = linear_scorer(pipeline)
    assert scorer is not None
    fast = scorer.predict_proba(rows)
    slow = [pipeline.predict_proba_one(row) for row in rows]
    assert [list(p) for p in fast] == [list(p) for p in slow]
    for got, want in zip(fast, slow, strict=True):
        assert list(got.values()) == pytest.approx(list(want.values()), abs=1e-12)


def _folding_tabular(learned: list[dict[str, Any]], labels: list[str]) -> Any:
    """The tabular logistic preset, bounded small so that rows fold into buckets, after
    learning ``learned`` with ``labels``."""
    pipeline = build_pipeline("logistic_regression", "tabular")
    vocabulary = pipeline.steps["TabularFront"].vocabulary
    vocabulary.max_features, vocabulary.max_values = 3, 1
    for row, label in zip(learned, labels, strict=False):
        pipeline.learn_one(row, label)
    return pipeline


@settings(max_examples=150, deadline=None)
@given(learned=_ROWS, scored=_ROWS, labels=st.lists(st.sampled_from(LABELS), min_size=12))
def test_tabular_rows_of_any_shape_score_as_one_at_a_time(
    learned: list[dict[str, Any]], scored: list[dict[str, Any]], labels: list[str]
) -> None:
    pipeline = _folding_tabular(learned, labels)

    _same(pipeline, scored)


@settings(max_examples=150, deadline=None)
@given(learned=_ROWS, scored=_ROWS, labels=st.lists(st.sampled_from(LABELS), min_size=12))
def test_a_tabular_model_predicts_one_item_from_arrays_as_its_pipeline_does(
    learned: list[dict[str, Any]], scored: list[dict[str, Any]], labels: list[str]
) -> None:
    # A model predicts one item (events, `/predict`, each label's test) passing arrays from
    # the front to the head: River's pipeline's own probabilities, to the bit.
    pipeline = _folding_tabular(learned, labels)
    for row in [*learned, *scored]:
        assert list(_probabilities(pipeline, row).items()) == list(
            pipeline.predict_proba_one(row).items()
        )


@settings(max_examples=50, deadline=None)
@given(
    learned=st.lists(st.text("abc ", max_size=12), max_size=12),
    scored=st.lists(st.text("abcd ", max_size=12), max_size=12),
)
def test_text_scores_as_one_at_a_time(learned: list[str], scored: list[str]) -> None:
    pipeline = build_pipeline("logistic_regression", "text")
    for n, text in enumerate(learned):
        pipeline.learn_one({"text": text}, LABELS[n % 3])

    _same(pipeline, [{"text": text} for text in scored])


def test_a_number_field_wins_over_a_one_hot_feature_of_the_same_name() -> None:
    pipeline = build_pipeline("logistic_regression", "tabular")
    rows = [{"a_b": float(n % 5), "a": "b", "x": "b_c", "x_b": "c"} for n in range(40)]
    for n, row in enumerate(rows):
        pipeline.learn_one(row, LABELS[n % 2])

    _same(pipeline, [*rows[:8], {"a": "b"}, {"a_b": 3.0}])


def test_a_wide_batch_takes_the_sparse_sums_and_agrees() -> None:
    pipeline = build_pipeline("logistic_regression", "text")
    for n in range(600):
        pipeline.learn_one({"text": f"word{n} other{n % 7}"}, LABELS[n % 4])

    # 600 rows of 600 distinct words each: past the dense product's size.
    _same(pipeline, [{"text": f"word{n} word{(n * 13) % 600} other{n % 5}"} for n in range(600)])


def _older_shapes() -> dict[str, Any]:
    """Tabular pipelines as models made before today's preset have them: River's own
    one-vs-rest, with the vocabulary bound or from before it, behind River's scaler (before
    0.8.2) or today's."""

    def river_ovr() -> Any:
        return multiclass.OneVsRestClassifier(linear_model.LogisticRegression())

    def older() -> Any:
        return composed_tabular_front(scaler=ReadOnlyScaler())

    return {
        "bounded": older() | river_ovr(),
        "unbounded": compose.Pipeline(older().steps["TransformerUnion"], river_ovr()),
        "composed, today's scaler": composed_tabular_front() | river_ovr(),
        "today's front": build_front("logistic_regression", "tabular") | river_ovr(),
    }


@pytest.mark.parametrize("shape", list(_older_shapes()))
def test_models_of_older_shapes_score_as_one_at_a_time(shape: str) -> None:
    pipeline = _older_shapes()[shape]
    rng = random.Random(7)
    rows = [
        {
            "a": rng.gauss(0.0, 3.0),
            "b": rng.randint(-3, 3),
            "flag": rng.random() < 0.5,
            "colour": rng.choice(["red", "blue", "green"]),
        }
        for _ in range(80)
    ]
    for n, row in enumerate(rows[:60]):
        if n % 4 == 1:
            del row["b"]
        pipeline.learn_one(row, LABELS[n % 3])

    _same(pipeline, [*rows[40:], {}, {"unseen": 1.0, "colour": "never"}])


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "logistic_regression"])
@pytest.mark.parametrize("input_kind", ["text", "tabular"])
def test_other_presets_have_no_linear_scorer(preset: str, input_kind: str) -> None:
    assert linear_scorer(build_pipeline(preset, input_kind)) is None


def test_an_untrained_model_scores_nothing() -> None:
    scorer = linear_scorer(build_pipeline("logistic_regression", "tabular"))

    assert scorer is not None
    assert scorer.predict_proba([{"a": 1.0}, {}]) == [{}, {}]


# `OneVsRestLogistic` learns what River's one-vs-rest logistic regression learns.

_FEATURES = st.dictionaries(
    st.sampled_from([f"f{n}" for n in range(12)]),
    st.one_of(st.floats(-50.0, 50.0), st.sampled_from([0.0, 1.0, 1e3])),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(
    lessons=st.lists(st.tuples(_FEATURES, st.sampled_from(LABELS)), min_size=1, max_size=60),
    scored=st.lists(_FEATURES, max_size=8),
    learning_rate=st.sampled_from([0.01, 0.5, 5.0]),
)
def test_one_vs_rest_logistic_learns_as_rivers_does(
    lessons: list[tuple[dict[str, float], str]],
    scored: list[dict[str, float]],
    learning_rate: float,
) -> None:
    river = multiclass.OneVsRestClassifier(
        linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate))
    )
    ours = OneVsRestLogistic(learning_rate=learning_rate)

    for x, label in lessons:
        river.learn_one(x, label)
        ours.learn_one(x, label)

    # Large steps on large values push logits past both of River's cut-offs (18 in the loss's
    # gradient, 30 in the sigmoid), so every branch is compared.
    for x in [x for x, _ in lessons] + scored:
        want, got = river.predict_proba_one(x), ours.predict_proba_one(x)
        assert list(got) == list(want)
        assert list(got.values()) == pytest.approx(list(want.values()), rel=1e-9, abs=1e-12)
    for label, binary in river.classifiers.items():
        column = ours.labels[label]
        assert ours.intercepts[column] == pytest.approx(binary.intercept, rel=1e-9, abs=1e-12)
        weights = binary.weights
        assert ours.weights_of(list(weights))[:, column] == pytest.approx(
            list(weights.values()), rel=1e-9, abs=1e-12
        )


@settings(max_examples=150, deadline=None)
@given(
    lessons=st.lists(
        st.tuples(_FEATURES, st.sampled_from(LABELS), st.integers(-1, 2)), min_size=1, max_size=60
    ),
    scored=st.lists(_FEATURES, max_size=8),
    learning_rate=st.sampled_from([0.01, 0.5, 5.0]),
)
def test_each_shadow_head_learns_as_its_own_one_vs_rest_logistic(
    lessons: list[tuple[dict[str, float], str, int]],
    scored: list[dict[str, float]],
    learning_rate: float,
) -> None:
    heads = ShadowHeads(3, learning_rate=learning_rate)
    alone = [OneVsRestLogistic(learning_rate=learning_rate) for _ in range(3)]

    for x, label, skip in lessons:
        heads.learn_one(x, label, skip=skip)
        for k, model in enumerate(alone):
            if k != skip:
                model.learn_one(x, label)

    names = list(heads.features)
    rows = [heads.features[name] for name in names]
    for k, model in enumerate(alone):
        # Numpy may add a sum's terms in another order for a stack of copies: within rounding.
        for label, column in model.labels.items():
            shared = heads.labels[label]
            assert heads._intercepts[k, shared] == pytest.approx(
                model.intercepts[column], rel=1e-9, abs=1e-12
            )
            assert heads._weights[rows, k, shared] == pytest.approx(
                model.weights_of(names)[:, column], rel=1e-9, abs=1e-12
            )
        for x in [x for x, _, _ in lessons] + scored:
            want = model.predict_proba_one(x)
            got = heads.predict_proba_one(k, x)
            assert sorted(got) == sorted(want)
            assert [got[y] for y in want] == pytest.approx(list(want.values()), rel=1e-9, abs=1e-12)


def test_the_tabular_preset_learns_with_one_pass_for_every_label() -> None:
    pipeline = build_pipeline("logistic_regression", "tabular")

    assert isinstance(pipeline.steps["OneVsRestLogistic"], OneVsRestLogistic)
    _same(pipeline, [{"a": 1.0}])  # an untrained one too


_LEARN_AND_HASH = """
import hashlib, pickle, random
from streamloop.online.one_vs_rest import OneVsRestLogistic, ShadowHeads
model, heads = OneVsRestLogistic(), ShadowHeads(4)
rng = random.Random(0)
for n in range(300):
    x = {f"f{i}": rng.gauss(0.0, 1.0) for i in range(200)}
    model.learn_one(x, f"c{n % 10}")
    heads.learn_one(x, f"c{n % 10}", skip=n % 5 - 1)
print(hashlib.sha256(pickle.dumps((model, heads))).hexdigest())
"""


@pytest.mark.parametrize(
    "cpu",
    [
        # OpenBLAS picks its kernels by CPU, and they add in different orders: a model summed
        # with BLAS would learn other floats on another machine, and its snapshots would differ.
        {"OPENBLAS_CORETYPE": "Prescott"},
        {"OPENBLAS_CORETYPE": "Nehalem"},
        {"OPENBLAS_CORETYPE": "Sandybridge"},
        # The learning steps compiled for a CPU with no vector units beyond SSE2 and no fused
        # multiply-add (numba compiles for the CPU it runs on, and caches per CPU).
        {"NUMBA_CPU_NAME": "generic"},
    ],
    ids=lambda cpu: next(iter(cpu.values())),
)
def test_equal_histories_learn_equal_bytes_whatever_the_cpu(cpu: dict[str, str]) -> None:
    assert _learned(tuple(cpu.items())) == _learned(())


@functools.cache
def _learned(cpu: tuple[tuple[str, str], ...]) -> str:
    """The hash of what `_LEARN_AND_HASH` learns in a fresh process with these variables."""
    return subprocess.run(
        [sys.executable, "-c", _LEARN_AND_HASH],
        env=os.environ | dict(cpu),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def test_logits_of_rows_score_the_same_alone_or_in_a_batch() -> None:
    head = OneVsRestLogistic(learning_rate=0.5)
    head.add_labels(["a", "b", "c"])  # every column from the start, "c" never given
    head.learn_one({"x": 1.0, "y": 2.0}, "a")
    head.learn_one({"y": 1.0, "w": -1.0}, "b")
    rows: list[dict[str, float]] = [{}, {"x": 1.0, "y": 1.0, "z": 3.0}, {"z": 1.0}, {"y": 2.0}, {}]

    batch = head.logits_many(rows)

    assert [head.logits_many([row])[0].tolist() for row in rows] == batch.tolist()
    # Nothing known: the intercepts alone; "c" learned from every item as a negative.
    assert batch[0].tolist() == batch[2].tolist() == head.intercepts.tolist()
    assert head.intercepts[2] < 0.0
    assert head.logits_many([]).shape == (0, 3)
    # A row's known terms added in its order ("z" is unknown), then its intercepts.
    x, y = head.weights_of(["x", "y"])
    assert batch[1].tolist() == (head.intercepts + (x * 1.0 + y * 1.0)).tolist()
    assert batch[3].tolist() == (head.intercepts + y * 2.0).tolist()
    # The same probabilities as predicting one at a time, within the last bits.
    scores = 1.0 / (1.0 + np.exp(-batch[1]))
    assert list(head.predict_proba_one(rows[1]).values()) == pytest.approx(
        list(scores / scores.sum()), rel=1e-12
    )


#: Key orders items of one source repeat: the first rows in order (a slice of the weights), a
#: prefix of them, the same names in another order, and one more name (index arrays).
_ORDERS = [("a", "b", "c"), ("a", "b"), ("c", "a", "b"), ("b", "d")]


@settings(max_examples=100, deadline=None)
@given(
    lessons=st.lists(
        st.tuples(
            st.sampled_from(range(len(_ORDERS))),
            st.lists(st.floats(-50.0, 50.0), min_size=3, max_size=3),
            st.sampled_from(LABELS),
            st.integers(-1, 1),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_items_of_repeated_key_orders_learn_what_each_alone_would(
    lessons: list[tuple[int, list[float], str, int]],
) -> None:
    # The heads and the one-vs-rest keep the rows of the last key order seen: learning through
    # it (a view of the weights, or an index array) gives the bits a learner that looks every
    # item's rows up afresh (one read back from a pickle before each item) gives.
    head, fresh_head = OneVsRestLogistic(learning_rate=0.5), OneVsRestLogistic(learning_rate=0.5)
    heads, fresh_heads = ShadowHeads(2, learning_rate=0.5), ShadowHeads(2, learning_rate=0.5)
    for order, values, label, skip in lessons:
        x = dict(zip(_ORDERS[order], values, strict=False))  # 2 or 3 names
        head.learn_one(x, label)
        heads.learn_one(x, label, skip=skip)
        fresh_head = pickle.loads(pickle.dumps(fresh_head))
        fresh_heads = pickle.loads(pickle.dumps(fresh_heads))
        assert "_rows_memo" not in vars(fresh_head) and "_rows_memo" not in vars(fresh_heads)
        fresh_head.learn_one(x, label)
        fresh_heads.learn_one(x, label, skip=skip)

    assert pickle.dumps(head) == pickle.dumps(fresh_head)
    assert pickle.dumps(heads) == pickle.dumps(fresh_heads)


def test_a_shadow_head_that_does_not_exist_cannot_be_skipped() -> None:
    heads = ShadowHeads(2)
    with pytest.raises(ValueError, match="skip"):
        heads.learn_one({"x": 1.0}, "a", skip=2)
    assert not heads.labels  # nothing learned


@settings(max_examples=60, deadline=None)
@given(
    learned=_ROWS,
    labels=st.lists(st.sampled_from(LABELS), min_size=12),
    scored=st.lists(
        st.lists(st.floats(-1e6, 1e6) | st.integers(-1000, 1000), min_size=3, max_size=3),
        min_size=1,
        max_size=8,
    ),
    fields=st.sampled_from([("a", "c", "d"), ("d", "a", "c"), ("a", "c", "z")]),
)
def test_rows_of_numbers_score_as_the_row_by_row_front(
    learned: list[dict[str, Any]],
    labels: list[str],
    scored: list[list[float]],
    fields: tuple[str, ...],
) -> None:
    # A matrix of numbers (`inputs.numeric_rows`) scores exactly as the same rows one value at
    # a time; a field the vocabulary has not kept ("z", never learned) leaves it to the
    # row-by-row front.
    pipeline = build_pipeline("logistic_regression", "tabular")
    pipeline.steps["TabularFront"].vocabulary.max_features = 4
    pipeline.learn_one({"a": 1.0, "c": -2.0, "d": 0.5}, "spam")  # kept before any bound
    for row, label in zip(learned, labels, strict=False):
        pipeline.learn_one(row, label)
    rows = [dict(zip(fields, values, strict=True)) for values in scored]
    scorer = linear_scorer(pipeline)
    assert scorer is not None
    block = numeric_rows(rows)
    assert block is not None
    found = scorer.scores_numbers(*block)
    if "z" in fields:
        assert found is None
        return
    assert found is not None
    labels_found, scores = found
    want_labels, want = scorer.scores([model_input("tabular", row) for row in rows])
    assert labels_found == want_labels
    assert np.array_equal(scores, want)


def test_rows_of_numbers_need_the_tabular_front() -> None:
    pipeline = build_pipeline("logistic_regression", "text")
    pipeline.learn_one({"text": "refund"}, "billing")
    scorer = linear_scorer(pipeline)
    assert scorer is not None
    assert scorer.scores_numbers(("a",), np.ones((2, 1))) is None


@settings(max_examples=100, deadline=None)
@given(
    learned=st.lists(st.text("ab Éé-ü9 ", max_size=20), max_size=10),
    scored=st.lists(st.text("abc Éé-ü9 !", max_size=30), max_size=10),
    normalize=st.booleans(),
)
def test_tfidf_of_a_batch_is_the_texts_one_at_a_time(
    learned: list[str], scored: list[str], normalize: bool
) -> None:
    # The text front's batch path (`_tfidf_front`) against River's `transform_one` of each
    # text: the same features, in the same order, to the bit; accents, hyphens, no words.
    tfidf = OrderedTFIDF(on="text", normalize=normalize)
    for text in learned:
        tfidf.learn_one({"text": text})
    rows = [{"text": text} for text in scored]
    got = _tfidf_front(tfidf)(rows)
    want = _generic_front([tfidf])(rows)
    for array, expected in zip(got[:3], want[:3], strict=True):
        assert array.tolist() == expected.tolist()
    assert got[3] == want[3]


def test_the_text_preset_scores_through_the_tfidf_batch_path() -> None:
    pipeline = build_pipeline("logistic_regression", "text")
    pipeline.learn_one({"text": "refund my card"}, "billing")
    scorer = linear_scorer(pipeline)
    assert scorer is not None
    assert scorer._front.__qualname__.startswith("_tfidf_front")


def test_the_compiled_sigmoid_bound_is_the_one_vs_rest_bound() -> None:
    # Each module says it: the compiled steps' cache is refreshed when their own file changes.
    assert kernels.LOGIT_BOUND == LOGIT_BOUND
