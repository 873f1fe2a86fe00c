"""The sentence-embedding plugin: held to the presets' contract, the encoder loaded once and
never pickled, a text embedded once and alike in any batch, and paraphrases learned from a
few labels. Skipped without the ``embeddings`` extra, except under CI, where it fails."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from streamloop.online import OnlineModel, embeddings, plugins, snapshot
from streamloop.online.embeddings import embed, sentence_minilm
from streamloop.online.plugins import PluginRefused
from support import service_missing

MODEL = "streamloop:sentence_minilm"

# Two ways of asking each thing to learn from, and unseen ones to classify that share no word
# with them (beyond "my" and "the"): only what the words mean links them.
TAUGHT = {
    "billing": ["I want my money back", "please refund the payment"],
    "bug": ["the app crashes when I open it", "the program keeps freezing"],
    "delivery": ["where is my parcel", "the package has not arrived"],
}
UNSEEN = {
    "billing": ["could I get a reimbursement", "return the cash I paid", "I was overcharged"],
    "bug": ["software hangs at startup", "application stopped working", "it shows an error"],
    "delivery": ["my shipment is late", "the courier never came", "tracking says lost"],
}


@pytest.fixture(scope="module")
def encoder() -> None:
    """The encoder, loaded once for the module's tests (seconds)."""
    gone = embeddings.missing()
    if gone is not None:
        service_missing(
            f"the embeddings extra is not installed (no {gone}): pip install -e .[embeddings]"
        )
    embed(["loading the encoder"])


def _model(preset: str) -> OnlineModel:
    return OnlineModel(
        labels=list(TAUGHT), input_kind="text", preset=preset, strategy="margin", shadows=0
    )


def _run(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_module_imports_no_torch() -> None:
    code = "import sys, streamloop.online.embeddings as e; print('torch' in sys.modules)"
    assert _run(code) == "False"


def test_without_the_extra_it_is_refused_naming_the_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embeddings, "missing", lambda: "sentence_transformers")
    with pytest.raises(PluginRefused) as refused:
        plugins.check(sentence_minilm)
    assert refused.value.check == "build"
    assert "embeddings extra is not installed" in refused.value.why
    assert "pip install 'streamloop[embeddings]'" in refused.value.why


def test_it_is_registered_as_streamloops_own() -> None:
    assert MODEL in plugins.plugin_names()


@pytest.mark.usefixtures("encoder")
def test_it_passes_the_contract_every_preset_passes() -> None:
    plugins.check(sentence_minilm)  # raises PluginRefused naming the failed check otherwise


@pytest.mark.usefixtures("encoder")
def test_a_text_has_the_same_vector_alone_and_in_any_batch() -> None:
    texts = [
        "ok",
        "the app crashes when I open it",
        "Refund, please! I was charged twice for the same order last week, and nobody answers.",
        "colourless green ideas sleep furiously",
        *[text for texts in UNSEEN.values() for text in texts],
    ]
    encode = embeddings._encoder._encode  # past the cache: the encoder itself
    batch = encode(texts)
    assert encode(texts[::-1]) == batch
    assert {text: encode([text])[text] for text in texts} == batch
    assert all(len(vector) == embeddings.DIMENSIONS for vector in batch.values())


@pytest.mark.usefixtures("encoder")
def test_a_batch_is_embedded_in_one_call_and_each_text_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Checked first, as the service checks a plugin before it scores with it: an unchecked
    # plugin's batch claim is not trusted (alone, this test found one call a text).
    plugins.load(MODEL)
    calls: list[int] = []
    encode = embeddings._encoder._encode
    here = threading.get_ident()

    def counted(texts: list[str]) -> dict[str, tuple[float, ...]]:
        # The encoder is the process's: a thread an earlier test left running may use it too.
        if threading.get_ident() == here:
            calls.append(len(texts))
        return encode(texts)

    monkeypatch.setattr(embeddings._encoder, "_encode", counted)
    model = _model(MODEL)
    model.learn({"text": "a first label, batch test"}, "billing")
    rows = [{"text": f"parcel number {n} is late, batch test"} for n in range(300)]
    first = model.predict_many(rows)
    assert calls == [1, 300]
    assert model.predict_many(rows) == first  # the same vectors, from the cache
    for row in rows[:20]:
        model.learn(row, "delivery")
    assert calls == [1, 300]


@pytest.mark.usefixtures("encoder")
def test_a_snapshot_holds_the_head_only_and_loads_without_the_encoder(tmp_path: Path) -> None:
    model = _model(MODEL)
    for label, texts in TAUGHT.items():
        for text in texts:
            model.learn({"text": text}, label)
    blob = model.pipeline_pickle()
    assert len(blob) < 100_000 and b"torch" not in blob
    (tmp_path / "model.pickle").write_bytes(snapshot.dumps(model._pipeline))
    code = """
import sys
from streamloop.online import embeddings, snapshot
pipeline = snapshot.loads(open(sys.argv[1], "rb").read())
print("torch" in sys.modules, embeddings.encoder_loaded())
print(max(pipeline.predict_proba_one({"text": sys.argv[2]}).items(), key=lambda kv: kv[1])[0])
print(embeddings.encoder_loaded())
"""
    said = _run(code, str(tmp_path / "model.pickle"), "my shipment is late").splitlines()
    assert said == ["False False", model.predict({"text": "my shipment is late"}).label, "True"]


def _accuracy(model: OnlineModel) -> float:
    rows: list[tuple[dict[str, Any], str]] = [
        ({"text": text}, label) for label, texts in UNSEEN.items() for text in texts
    ]
    predicted = model.predict_many([x for x, _ in rows])
    return sum(p.label == y for p, (_, y) in zip(predicted, rows, strict=True)) / len(rows)


@pytest.mark.usefixtures("encoder")
def test_two_labels_a_class_classify_paraphrases_tfidf_cannot() -> None:
    models = {preset: _model(preset) for preset in (MODEL, "logistic_regression")}
    for model in models.values():
        for _ in range(3):
            for label, texts in TAUGHT.items():
                for text in texts:
                    model.learn({"text": text}, label)
    assert _accuracy(models[MODEL]) >= 7 / 9
    assert _accuracy(models["logistic_regression"]) <= 5 / 9
