"""The compiled steps (`streamloop.online.kernels`), imported the first time they are needed.

Importing numba and loading the steps takes about half a second and 140 MB of memory, once per
process: a process whose models hold no part with compiled steps (`uses_compiled`) never pays
it, and one about to learn with such a model can pay it in a thread (`load`) rather than at
its first label.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

__all__ = ["kernels", "load", "loaded", "uses_compiled"]

_kernels: ModuleType | None = None
#: How deep `uses_compiled` looks into a model's attributes: a project's model, its pipeline,
#: the pipeline's steps, a step's parts (a tabular front's scaler).
_DEPTH = 5


def kernels() -> ModuleType:
    """`streamloop.online.kernels`, imported at the first call."""
    global _kernels
    if _kernels is None:
        _kernels = importlib.import_module("streamloop.online.kernels")
    return _kernels


def loaded() -> bool:
    """Whether the steps are imported and loaded in this process."""
    return _kernels is not None and bool(_kernels.warmed)


def load() -> None:
    """Import the steps and load each (from numba's cache, or compiled) now; at once if they
    were loaded already."""
    if _kernels is None or not _kernels.warmed:
        kernels().warm()


def uses_compiled(model: object) -> bool:
    """Whether the model holds a part whose steps are compiled (a class that says so with a
    true ``compiled_steps``), among its attributes, their attributes and the values of their
    dictionaries, a few levels down; challengers included."""
    seen: set[int] = set()
    level: list[Any] = [model]
    for _ in range(_DEPTH):
        below: list[Any] = []
        for part in level:
            if getattr(type(part), "compiled_steps", False):
                return True
            if id(part) in seen:
                continue
            seen.add(id(part))
            if isinstance(part, Mapping):
                below.extend(part.values())
            elif isinstance(part, list | tuple) and len(part) <= 8:  # not memories of items
                below.extend(part)
            elif hasattr(part, "__dict__") and not isinstance(part, type):
                below.extend(vars(part).values())
        level = below
    return False
