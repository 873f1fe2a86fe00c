"""The plugin passes streamloop's contract and learns across spellings."""

from __future__ import annotations

from importlib import metadata

from streamloop_char_ngrams import char_ngrams, ngrams

from streamloop.online import OnlineModel
from streamloop.online.plugins import check


def test_it_passes_the_contract_every_preset_passes() -> None:
    check(char_ngrams)  # raises PluginRefused naming the failed check otherwise


def test_it_is_registered_under_the_entry_point_group() -> None:
    entries = metadata.entry_points(group="streamloop.models", name="char_ngrams")
    assert [entry.value for entry in entries] == ["streamloop_char_ngrams:char_ngrams"]


def test_ngrams_mark_word_edges() -> None:
    assert ngrams("ab") == [" ab", "ab ", " ab "]


def test_a_label_learned_from_one_spelling_carries_to_a_misspelling() -> None:
    model = OnlineModel(
        labels=["billing", "bug"],
        input_kind="text",
        preset="streamloop_char_ngrams:char_ngrams",
        strategy="margin",
    )
    for _ in range(5):
        model.learn({"text": "please refund my payment"}, "billing")
        model.learn({"text": "the app crashes on start"}, "bug")
    assert model.predict({"text": "refnd paymnet"}).label == "billing"
    assert model.predict({"text": "it crashed at startup"}).label == "bug"
