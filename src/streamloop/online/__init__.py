"""The online model: River pipelines, uncertainty, prequential metrics and snapshots; no I/O."""

from __future__ import annotations

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
from streamloop.online.spans import Span, SpanLearned, SpanModel, SpanPrediction, tokenize
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
