"""The compiled steps (`streamloop.online.kernels`), imported the first time they are needed.

Importing numba and loading the steps takes about a second, once per process; a process that
never learns a model with compiled steps never pays it, and one about to learn can pay it in a
thread (`load`) rather than at its first label.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["kernels", "load"]

_kernels: ModuleType | None = None


def kernels() -> ModuleType:
    """`streamloop.online.kernels`, imported at the first call."""
    global _kernels
    if _kernels is None:
        _kernels = importlib.import_module("streamloop.online.kernels")
    return _kernels


def load() -> None:
    """Import the steps and load each (from numba's cache, or compiled) now."""
    kernels().warm()
