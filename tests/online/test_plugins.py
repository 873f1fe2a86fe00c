"""Model plugins: found through their entry points, held to the presets' contract, refused
naming the check they fail, and served like a preset once they pass."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamloop.online import OnlineModel, plugins
from streamloop.online.plugins import PluginRefused
from support import plugin_distribution

# A sound plugin: streamloop's own order-keeping TF-IDF and River's one-vs-rest, over text;
# Gaussian naive Bayes over tabular items, with batch scoring claimed (River has it).
SOUND = """
from river import linear_model, multiclass, naive_bayes, optim, preprocessing
from streamloop.online.features import OrderedTFIDF, tabular_front
from streamloop.online.plugins import model_plugin

@model_plugin(input_kinds=["text"])
def words(*, labels, task, input_kind, seed):
    '''TF-IDF words and a logistic regression per label.'''
    head = linear_model.LogisticRegression(optimizer=optim.SGD(0.5))
    return OrderedTFIDF(on="text") | multiclass.OneVsRestClassifier(head)

class NumbersNB(naive_bayes.GaussianNB):
    # Gaussian naive Bayes on an item's numbers, with a batch path of its own.

    def learn_one(self, x, y):
        super().learn_one({k: v for k, v in x.items() if type(v) is float}, y)

    def predict_proba_one(self, x):
        return super().predict_proba_one({k: v for k, v in x.items() if type(v) is float})

    def predict_proba_many(self, X):
        import pandas as pd
        return pd.DataFrame([self.predict_proba_one(row) for row in X.to_dict("records")])

@model_plugin(input_kinds=["tabular"], batch=True)
def gaussian(*, labels, task, input_kind, seed):
    return NumbersNB()

def plain(*, labels, task, input_kind, seed):
    '''A bare factory function, no decorator: both input kinds.'''
    if input_kind == "text":
        return OrderedTFIDF(on="text") | naive_bayes.MultinomialNB()
    return tabular_front() | naive_bayes.GaussianNB()

not_a_factory = 42
"""

# Each breaks one part of the contract.
BROKEN = """
import random
from river import feature_extraction, naive_bayes
from streamloop.online.features import OrderedTFIDF
from streamloop.online.plugins import model_plugin

class Overconfident(naive_bayes.MultinomialNB):
    def predict_proba_one(self, x):
        return {label: 0.9 for label in super().predict_proba_one(x)}

class Strangers(naive_bayes.MultinomialNB):
    def predict_proba_one(self, x):
        return {"yes": 1.0}

class Unseeded(naive_bayes.MultinomialNB):
    def learn_one(self, x, y):
        super().learn_one(x, y)
        self.noise = random.random()

class BadBatch(naive_bayes.MultinomialNB):
    def predict_proba_many(self, X):
        frame = super().predict_proba_many(X)
        return frame.iloc[::-1].reset_index(drop=True)

class Fails(naive_bayes.MultinomialNB):
    def learn_one(self, x, y):
        raise RuntimeError("out of cheese")

@model_plugin(input_kinds=["text"])
def overconfident(*, labels, task, input_kind, seed):
    return OrderedTFIDF(on="text") | Overconfident()

@model_plugin(input_kinds=["text"])
def strangers(*, labels, task, input_kind, seed):
    return OrderedTFIDF(on="text") | Strangers()

@model_plugin(input_kinds=["text"])
def unseeded(*, labels, task, input_kind, seed):
    return OrderedTFIDF(on="text") | Unseeded()

@model_plugin(input_kinds=["text"])
def hash_ordered(*, labels, task, input_kind, seed):
    # River's own TF-IDF fills its table in a set's order, which follows string hashes.
    return feature_extraction.TFIDF(on="text") | naive_bayes.MultinomialNB()

@model_plugin(input_kinds=["text"], batch=True)
def bad_batch(*, labels, task, input_kind, seed):
    return feature_extraction.BagOfWords(on="text") | BadBatch()

@model_plugin(input_kinds=["text"])
def fails(*, labels, task, input_kind, seed):
    return OrderedTFIDF(on="text") | Fails()

@model_plugin(input_kinds=["text"])
def nothing(*, labels, task, input_kind, seed):
    return object()
"""

BROKEN_ENTRIES = {
    name: name
    for name in (
        "overconfident",
        "strangers",
        "unseeded",
        "hash_ordered",
        "bad_batch",
        "fails",
        "nothing",
    )
}


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Install plugin distributions into a directory on the path (and on PYTHONPATH, for the
    check's fresh interpreter)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    )

    # Only the distributions installed here are seen: the ones installed in this environment
    # (the embeddings extra's loads PyTorch and a model, twice) are their own tests' subject.
    ours: set[str] = set()
    everything = plugins._entry_points
    monkeypatch.setattr(
        plugins,
        "_entry_points",
        lambda: {
            name: entry
            for name, entry in everything().items()
            if entry.dist is not None and entry.dist.name in ours
        },
    )

    def install(distribution: str, source: str, entry_points: dict[str, str]) -> None:
        plugin_distribution(tmp_path, distribution, source, entry_points)
        ours.add(distribution)
        plugins.forget()

    yield install
    plugins.forget()


def listed() -> dict[str, dict[str, object]]:
    return {model.name: model.as_json() for model in plugins.models()}


def test_the_presets_come_first_and_are_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    # The presets alone: the plugins installed here (the embeddings extra's loads PyTorch and
    # a model, twice) are listed and checked by the tests below and their own.
    monkeypatch.setattr(plugins, "_entry_points", dict)
    models = listed()
    assert list(models)[:4] == [
        "logistic_regression",
        "naive_bayes",
        "hoeffding_tree",
        "adaptive_random_forest",
    ]
    presets = [model for model in models.values() if model["source"] == "preset"]
    assert len(presets) == 4
    assert all(model["usable"] and model["description"] for model in presets)
    assert models["logistic_regression"]["tasks"] == ["classify", "multilabel", "spans"]


def test_an_installed_plugin_is_listed_by_distribution_and_entry_point(installed) -> None:
    installed("acme-models", SOUND, {"words": "words", "gaussian": "gaussian", "plain": "plain"})
    models = listed()
    assert models["acme_models:words"] == {
        "name": "acme_models:words",
        "source": "plugin",
        "input_kinds": ["text"],
        "tasks": ["classify"],
        "description": "TF-IDF words and a logistic regression per label.",
        "distribution": "acme-models",
        "version": "0.1",
        "usable": True,
        "refused": None,
    }
    assert models["acme_models:plain"]["input_kinds"] == ["text", "tabular"]
    assert plugins.is_known("acme_models:gaussian")
    assert not plugins.is_known("acme_models:missing")


def test_a_plugin_serves_a_project_and_replays_bit_for_bit(installed) -> None:
    installed("acme-models", SOUND, {"words": "words"})

    def taught() -> OnlineModel:
        model = OnlineModel(
            labels=["billing", "bug"],
            input_kind="text",
            preset="acme_models:words",
            strategy="margin",
            rehearsal=2,
        )
        for n in range(30):
            model.learn({"text": f"refund my payment {n}"}, "billing", drawn_at_random=n % 3 == 0)
            model.learn({"text": f"the app crashes {n}"}, "bug")
        return model

    model = taught()
    assert model.predict({"text": "a refund please"}).label == "billing"
    assert model.snapshot() == taught().snapshot()
    restored = OnlineModel.restore(model.snapshot())
    assert restored.preset == "acme_models:words"
    assert restored.predict({"text": "crashes"}) == model.predict({"text": "crashes"})


def test_a_plugin_claiming_batches_scores_them_as_one_at_a_time(installed) -> None:
    installed("acme-models", SOUND, {"gaussian": "gaussian"})
    model = OnlineModel(
        labels=["small", "large"],
        input_kind="tabular",
        preset="acme_models:gaussian",
        strategy="margin",
    )
    for n in range(20):
        label = "small" if n < 10 else "large"
        model.learn({"size": float(n), "kind": "a" if n < 10 else "b"}, label)
    rows = [{"size": float(n) + 0.5, "kind": "a"} for n in range(20)]
    assert model.predict_many(rows) == [model.predict(row) for row in rows]


@pytest.mark.parametrize(
    ("entry", "check", "why"),
    [
        ("overconfident", "probabilities", "sum to"),
        ("strangers", "probabilities", "'yes' is not one of the project's labels"),
        ("unseeded", "snapshot", "two models built with seed 7"),
        ("hash_ordered", "snapshot", "in another Python process"),
        ("bad_batch", "batch", "differs from predict_proba_one"),
        ("fails", "learn", "RuntimeError: out of cheese"),
        ("nothing", "build", "has no learn_one()"),
    ],
)
def test_a_broken_plugin_is_refused_naming_the_check_it_failed(
    installed, entry: str, check: str, why: str
) -> None:
    installed("broken-models", BROKEN, BROKEN_ENTRIES)
    name = f"broken_models:{entry}"
    model = listed()[name]
    assert model["usable"] is False
    assert model["refused"]["check"] == check, model["refused"]
    assert why in model["refused"]["why"]
    with pytest.raises(PluginRefused, match=f"refused: {check}: "):
        OnlineModel(labels=["a", "b"], input_kind="text", preset=name, strategy="margin")


def test_a_plugin_that_does_not_import_or_is_not_a_factory_is_refused(installed) -> None:
    installed("acme-models", SOUND, {"gone": "missing_attribute", "number": "not_a_factory"})
    models = listed()
    assert models["acme_models:gone"]["refused"]["check"] == "load"
    assert "AttributeError" in models["acme_models:gone"]["refused"]["why"]
    assert models["acme_models:number"]["refused"] == {
        "check": "load",
        "why": "acme_models:not_a_factory is a int, not a ModelPlugin",
    }


def test_a_plugin_serves_only_the_tasks_and_input_kinds_it_reads(installed) -> None:
    installed("acme-models", SOUND, {"words": "words"})
    plugins.usable_for("acme_models:words", task="classify", input_kind="text")
    with pytest.raises(PluginRefused, match="input: it reads text items, not tabular"):
        plugins.usable_for("acme_models:words", task="classify", input_kind="tabular")
    with pytest.raises(PluginRefused, match="task: plugins serve classify projects"):
        plugins.usable_for("acme_models:words", task="multilabel", input_kind="text")
    with pytest.raises(ValueError, match="unknown model 'acme_models:other'"):
        plugins.usable_for("acme_models:other", task="classify", input_kind="text")


def test_a_plugin_is_checked_once_per_process(installed) -> None:
    installed("acme-models", SOUND, {"words": "words"})
    first = plugins.load("acme_models:words")
    assert plugins.load("acme_models:words") is first


def test_a_check_the_program_ends_in_the_middle_of_is_not_reported_as_a_refusal() -> None:
    # The embeddings plugin's check (PyTorch loading a model) can outlive a short program:
    # the library then cannot start a thread, and its check fails for that reason alone.
    script = """
import logging, threading
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import EntryPoint
from streamloop.online import plugins

logging.basicConfig()

class Model:
    def learn_one(self, x, y):
        threading.main_thread().join()  # the check outlives the program...
        ThreadPoolExecutor().submit(print)  # ...and then cannot start a thread

    def predict_proba_one(self, x):
        return {}

def build(**options):
    return Model()

slow = EntryPoint("demo:slow", "__main__:build", "streamloop.models")
plugins._entry_points = lambda: {"demo:slow": slow}
assert plugins._check_in_background("demo:slow") is not None
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "refused" not in run.stderr and "failed" not in run.stderr, run.stderr
