"""The River pipelines a project can choose from, named by preset and input kind.

A preset names the classifier; the input kind names the front that turns an item's data into
features (see `streamloop.online.features`). Every pipeline is deterministic given its seed.
"""

from __future__ import annotations

from typing import Any, Protocol

from river import forest, linear_model, multiclass, naive_bayes, optim, tree

from streamloop.online import features
from streamloop.online.one_vs_rest import OneVsRestLogistic

__all__ = [
    "INPUT_KINDS",
    "PRESETS",
    "Classifier",
    "build_front",
    "build_pipeline",
    "describe",
    "logistic",
]

PRESETS: tuple[str, ...] = (
    "logistic_regression",
    "naive_bayes",
    "hoeffding_tree",
    "adaptive_random_forest",
)
INPUT_KINDS: tuple[str, ...] = ("text", "tabular")

# River's default size: learning a label then costs about a millisecond, and a snapshot of a
# forest that has learned thousands stays in the hundreds of kilobytes.
_FOREST_SIZE = 10

# TF-IDF vectors have unit length, so River's default step (0.01) moves the weights too little
# to learn from the few dozen labels an active-learning project starts with.
_TEXT_LEARNING_RATE = 0.5


_DESCRIPTIONS = {
    "logistic_regression": "TF-IDF (text) or scaled numbers and one-hot strings (tabular), "
    "one logistic regression per label",
    "naive_bayes": "word counts and multinomial naive Bayes (text), Gaussian naive Bayes (tabular)",
    "hoeffding_tree": "a Hoeffding tree on hashed word counts (text) or scaled numbers (tabular)",
    "adaptive_random_forest": f"an adaptive random forest of {_FOREST_SIZE} trees",
}


def describe(preset: str) -> str:
    """A line on what the preset is, as the model list shows it.

    >>> describe("naive_bayes")
    'word counts and multinomial naive Bayes (text), Gaussian naive Bayes (tabular)'
    """
    return _DESCRIPTIONS[preset]


class Classifier(Protocol):
    """The part of a River classifier that streamloop relies on."""

    def learn_one(self, x: dict[str, Any], y: str) -> None: ...

    def predict_proba_one(self, x: dict[str, Any]) -> dict[str, float]: ...

    def transform_one(self, x: dict[str, Any]) -> dict[Any, float]: ...


def build_pipeline(preset: str, input_kind: str, *, seed: int = 0) -> Any:
    """Build an untrained River pipeline: a feature front, then a classifier.

    ========================== ============================== ============================
    preset                     text                           tabular
    ========================== ============================== ============================
    ``logistic_regression``    TF-IDF, one-vs-rest logistic   scaled + one-hot, one-vs-rest
    ``naive_bayes``            word counts, multinomial NB    scaled + one-hot, Gaussian NB
    ``hoeffding_tree``         hashed word counts, tree       scaled + one-hot, tree
    ``adaptive_random_forest`` hashed word counts, forest     scaled + one-hot, forest
    ========================== ============================== ============================

    A tabular front keeps at most `features.MAX_FEATURES` features of its own and folds the
    rest into hashed buckets (`features.BoundedVocabulary`), so no event can grow a model
    without bound.

    Parameters
    ----------
    preset
        One of `PRESETS`.
    input_kind
        One of `INPUT_KINDS`: ``"text"`` items hold their text in a ``"text"`` field;
        ``"tabular"`` items are flat dicts of numbers, booleans and strings.
    seed
        Seeds the presets that draw random numbers (the forest); the others ignore it.

    Returns
    -------
    Any
        A River pipeline; it satisfies `Classifier`.

    Raises
    ------
    ValueError
        If the preset or the input kind is unknown.

    Examples
    --------
    >>> model = build_pipeline("naive_bayes", "text")
    >>> model.learn_one({"text": "Great phone, great battery"}, "good")
    >>> model.learn_one({"text": "Broken screen and awful support"}, "bad")
    >>> model.predict_one({"text": "what a battery"})
    'good'
    >>> build_pipeline("svm", "text")
    Traceback (most recent call last):
    ...
    ValueError: unknown preset 'svm'; expected one of: logistic_regression, naive_bayes, ...
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of: {', '.join(PRESETS)}")
    if input_kind not in INPUT_KINDS:
        raise ValueError(
            f"unknown input kind {input_kind!r}; expected one of: {', '.join(INPUT_KINDS)}"
        )
    return _front(preset, input_kind) | _classifier(preset, input_kind, seed)


def build_front(preset: str, input_kind: str) -> Any:
    """The untrained feature front of `build_pipeline`'s pipeline, alone.

    Examples
    --------
    >>> type(build_front("logistic_regression", "text")).__name__
    'OrderedTFIDF'
    """
    return _front(preset, input_kind)


def logistic(input_kind: str) -> Any:
    """The binary logistic regression of the ``logistic_regression`` preset."""
    if input_kind == "text":
        return linear_model.LogisticRegression(optimizer=optim.SGD(_TEXT_LEARNING_RATE))
    return linear_model.LogisticRegression()


def _front(preset: str, input_kind: str) -> Any:
    if input_kind == "tabular":
        return features.tabular_front()
    if preset == "logistic_regression":
        return features.text_tfidf_front()
    if preset == "naive_bayes":
        return features.text_count_front()
    return features.text_bucket_front()


def _classifier(preset: str, input_kind: str, seed: int) -> Any:
    if preset == "logistic_regression":
        # One binary model per label handles any number of labels, two included. Tabular
        # items have many features: one pass over them for all labels (`OneVsRestLogistic`)
        # learns a label in about half the time River's pass per label takes; a text's few
        # words learn as fast through River's own (BENCHMARKS.md, "Issue 22: speed").
        if input_kind == "tabular":
            return OneVsRestLogistic()
        return multiclass.OneVsRestClassifier(logistic(input_kind))
    if preset == "naive_bayes":
        if input_kind == "text":
            return naive_bayes.MultinomialNB()  # type: ignore[no-untyped-call]
        return naive_bayes.GaussianNB()  # type: ignore[no-untyped-call]
    if preset == "hoeffding_tree":
        return tree.HoeffdingTreeClassifier()
    return forest.ARFClassifier(n_models=_FOREST_SIZE, seed=seed)
