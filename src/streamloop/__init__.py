"""streamloop: active learning as one real-time streaming loop."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.9.15"
