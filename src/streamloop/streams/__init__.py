"""How events and labels travel: one service, embedded by default or linked over Kafka."""

from __future__ import annotations

from streamloop.streams.annotators import AnnotatorSession
from streamloop.streams.project import ProjectRuntime
from streamloop.streams.queue import Lease, QueuedItem, RoutingQueue
from streamloop.streams.service import Embedded, Link, Service

__all__ = [
    "AnnotatorSession",
    "Embedded",
    "Lease",
    "Link",
    "ProjectRuntime",
    "QueuedItem",
    "RoutingQueue",
    "Service",
]
