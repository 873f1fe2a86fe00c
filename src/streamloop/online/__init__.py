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
from streamloop.online.strategies import DEFAULT_STRATEGY, STRATEGIES, uncertainty
from streamloop.online.tasks import (
    TASKS,
    AnyLearned,
    AnyModel,
    AnyPrediction,
    answer_field,
    answer_problem,
    label_set,
    label_set_key,
    model_answer,
    predicted_answer,
    restore_model,
    shown_answer,
)

__all__ = [
    "DEFAULT_MULTILABEL_STRATEGY",
    "DEFAULT_STRATEGY",
    "INPUT_KINDS",
    "MULTILABEL_PRESETS",
    "MULTILABEL_STRATEGIES",
    "PRESETS",
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
    "answer_field",
    "answer_problem",
    "build_pipeline",
    "label_set",
    "label_set_key",
    "model_answer",
    "predicted_answer",
    "restore_model",
    "shown_answer",
    "uncertainty",
]
