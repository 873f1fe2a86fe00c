"""Factories for the online tests: small, seeded, separable streams of labelled items."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest

Item = tuple[dict[str, Any], str]
MakeItems = Callable[..., list[Item]]

_FILLER = ("the", "and", "with", "today", "item", "about", "order", "please", "thanks", "maybe")
_SUFFIXES = ("alpha", "bravo", "delta", "echo", "golf", "hotel", "kilo", "lima", "oscar", "tango")
_COLOURS = ("red", "green", "blue", "black", "white")
_OWN_TOPIC_WEIGHT = 10.0


def _text_items(labels: Sequence[str], n: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    topics = [f"{label}{suffix}" for label in labels for suffix in _SUFFIXES]
    # Any topic word can turn up under any label, as in real text, but a label's own words are
    # far likelier. (Vocabularies that never overlap defeat the naive Bayes leaves of River's
    # trees, which ignore a feature a class has only ever seen as zero.)
    weights = {
        label: [_OWN_TOPIC_WEIGHT if word.startswith(label) else 1.0 for word in topics]
        for label in labels
    }
    items = []
    for _ in range(n):
        label = rng.choice(labels)
        words = [
            rng.choices(topics, weights[label])[0] if rng.random() < 0.6 else rng.choice(_FILLER)
            for _ in range(rng.randint(4, 10))
        ]
        items.append(({"text": " ".join(words).capitalize() + "."}, label))
    return items


def _tabular_items(labels: Sequence[str], n: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        index = rng.randrange(len(labels))
        data = {
            "x": rng.gauss(3.0 * index, 1.0),
            "y": rng.gauss(-2.0 * index, 1.0),
            "noise": rng.random(),
            "colour": _COLOURS[index] if rng.random() < 0.7 else rng.choice(_COLOURS),
            "flag": (index % 2 == 0) != (rng.random() < 0.2),
            "count": rng.randint(0, 5),
            "comment": None if rng.random() < 0.5 else "seen",
        }
        items.append((data, labels[index]))
    return items


@pytest.fixture(scope="session")
def make_items() -> MakeItems:
    """Make ``n`` labelled items of an input kind; each label has its own signal.

    Text items mix filler words with topic words that mostly belong to their label; tabular
    items have numbers centred on their label's index, a colour that mostly follows the label,
    a boolean, noise and a field that is often missing.
    """

    def make(input_kind: str, labels: Sequence[str], n: int, *, seed: int = 0) -> list[Item]:
        if input_kind == "text":
            return _text_items(labels, n, seed)
        return _tabular_items(labels, n, seed)

    return make


MultiItem = tuple[dict[str, Any], list[str]]


def _multilabel_items(input_kind: str, labels: Sequence[str], n: int, seed: int) -> list[MultiItem]:
    rng = random.Random(seed)
    items: list[MultiItem] = []
    for _ in range(n):
        # Each label applies on its own, to about a third of the items; some items get none.
        given = [label for label in labels if rng.random() < 0.35]
        if input_kind == "text":
            words = [
                f"{rng.choice(given)}{rng.choice(_SUFFIXES)}"
                if given and rng.random() < 0.6
                else rng.choice(_FILLER)
                for _ in range(rng.randint(4, 12))
            ]
            items.append(({"text": " ".join(words).capitalize() + "."}, given))
        else:
            data: dict[str, Any] = {
                f"x_{label}": rng.gauss(2.5 if label in given else 0.0, 1.0) for label in labels
            }
            data["noise"] = rng.random()
            data["colour"] = rng.choice(_COLOURS)
            data["comment"] = None if rng.random() < 0.5 else "seen"
            items.append((data, given))
    return items


@pytest.fixture(scope="session")
def make_multilabel_items() -> Callable[..., list[MultiItem]]:
    """Make ``n`` items of an input kind, each with the set of labels that apply (maybe none).

    Text items mix filler words with topic words of their labels; tabular items have one
    number per label, raised when the label applies, plus noise, a colour and a field that is
    often missing.
    """

    def make(input_kind: str, labels: Sequence[str], n: int, *, seed: int = 0) -> list[MultiItem]:
        return _multilabel_items(input_kind, labels, n, seed)

    return make
