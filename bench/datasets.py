"""Labelled datasets that ship inside packages (nothing is downloaded), as (rows, labels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Rows = list[dict[str, Any]]


def _river(name: str) -> tuple[Rows, list[str]]:
    from river import datasets

    dataset = getattr(datasets, name)()
    rows, labels = [], []
    for x, y in dataset:
        rows.append({str(k): v for k, v in x.items()})
        labels.append(str(y))
    return rows, labels


def _sklearn(name: str) -> tuple[Rows, list[str]]:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    names = [str(n).replace(" ", "_") for n in bunch.feature_names]
    rows = [dict(zip(names, map(float, row), strict=True)) for row in bunch.data]
    labels = [str(bunch.target_names[t]) for t in bunch.target]
    return rows, labels


DATASETS: dict[str, Callable[[], tuple[Rows, list[str]]]] = {
    "phishing": lambda: _river("Phishing"),
    "bananas": lambda: _river("Bananas"),
    "shuttle": lambda: _river("Shuttle"),
    "breast_cancer": lambda: _sklearn("breast_cancer"),
    "wine": lambda: _sklearn("wine"),
}
