"""The online model: River pipelines, uncertainty, prequential metrics and snapshots; no I/O."""

from __future__ import annotations

from streamloop.online.metrics import PrequentialMetrics
from streamloop.online.model import Learned, OnlineModel, Prediction
from streamloop.online.presets import INPUT_KINDS, PRESETS, build_pipeline
from streamloop.online.strategies import DEFAULT_STRATEGY, STRATEGIES, uncertainty

__all__ = [
    "DEFAULT_STRATEGY",
    "INPUT_KINDS",
    "PRESETS",
    "STRATEGIES",
    "Learned",
    "OnlineModel",
    "Prediction",
    "PrequentialMetrics",
    "build_pipeline",
    "uncertainty",
]
