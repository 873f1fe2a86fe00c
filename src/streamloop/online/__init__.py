"""The online model: River pipelines, uncertainty, prequential metrics and snapshots; no I/O."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamloop.online.metrics import PrequentialMetrics
    from streamloop.online.model import Learned, OnlineModel, Prediction
    from streamloop.online.multilabel import (
        MULTILABEL_PRESETS,
        MultiLabelLearned,
        MultiLabelModel,
        MultiLabelPrediction,
    )
    from streamloop.online.multilabel_metrics import MultiLabelMetrics
    from streamloop.online.multilabel_strategies import (
        DEFAULT_MULTILABEL_STRATEGY,
        MULTILABEL_STRATEGIES,
    )
    from streamloop.online.presets import INPUT_KINDS, PRESETS, build_pipeline
    from streamloop.online.span_strategies import DEFAULT_SPAN_STRATEGY, SPAN_STRATEGIES
    from streamloop.online.spans import SpanLearned, SpanModel, SpanPrediction
    from streamloop.online.strategies import DEFAULT_STRATEGY, STRATEGIES, uncertainty
    from streamloop.online.tasks import (
        TASKS,
        AnyLearned,
        AnyModel,
        AnyPrediction,
        Task,
        answer_field,
        answer_problem,
        label_set,
        label_set_key,
        model_answer,
        model_task,
        predicted_answer,
        restore_model,
        shown_answer,
        span_set,
        span_set_key,
        task_of,
    )
    from streamloop.online.tokens import Span, tokenize

#: The module that defines each name. Importing River takes about a second, and most of the
#: service (a server with no project yet among it) needs only the light modules here: each name
#: is imported from its module the first time it is asked for.
_EXPORTS = {
    "metrics": ("PrequentialMetrics",),
    "model": ("Learned", "OnlineModel", "Prediction"),
    "multilabel": (
        "MULTILABEL_PRESETS",
        "MultiLabelLearned",
        "MultiLabelModel",
        "MultiLabelPrediction",
    ),
    "multilabel_metrics": ("MultiLabelMetrics",),
    "multilabel_strategies": ("DEFAULT_MULTILABEL_STRATEGY", "MULTILABEL_STRATEGIES"),
    "presets": ("INPUT_KINDS", "PRESETS", "build_pipeline"),
    "span_strategies": ("DEFAULT_SPAN_STRATEGY", "SPAN_STRATEGIES"),
    "spans": ("SpanLearned", "SpanModel", "SpanPrediction"),
    "strategies": ("DEFAULT_STRATEGY", "STRATEGIES", "uncertainty"),
    "tasks": (
        "TASKS",
        "AnyLearned",
        "AnyModel",
        "AnyPrediction",
        "Task",
        "answer_field",
        "answer_problem",
        "label_set",
        "label_set_key",
        "model_answer",
        "model_task",
        "predicted_answer",
        "restore_model",
        "shown_answer",
        "span_set",
        "span_set_key",
        "task_of",
    ),
    "tokens": ("Span", "tokenize"),
}
_HOMES = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_MULTILABEL_STRATEGY",
    "DEFAULT_SPAN_STRATEGY",
    "DEFAULT_STRATEGY",
    "INPUT_KINDS",
    "MULTILABEL_PRESETS",
    "MULTILABEL_STRATEGIES",
    "PRESETS",
    "SPAN_STRATEGIES",
    "STRATEGIES",
    "TASKS",
    "AnyLearned",
    "AnyModel",
    "AnyPrediction",
    "Learned",
    "MultiLabelLearned",
    "MultiLabelMetrics",
    "MultiLabelModel",
    "MultiLabelPrediction",
    "OnlineModel",
    "Prediction",
    "PrequentialMetrics",
    "Span",
    "SpanLearned",
    "SpanModel",
    "SpanPrediction",
    "Task",
    "answer_field",
    "answer_problem",
    "build_pipeline",
    "label_set",
    "label_set_key",
    "model_answer",
    "model_task",
    "predicted_answer",
    "restore_model",
    "shown_answer",
    "span_set",
    "span_set_key",
    "task_of",
    "tokenize",
    "uncertainty",
]
