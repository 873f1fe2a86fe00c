"""How events and labels travel: one engine interface, the embedded engine by default."""

from __future__ import annotations

from streamloop.streams.annotators import AnnotatorSession
from streamloop.streams.embedded import EmbeddedEngine
from streamloop.streams.engine import Engine
from streamloop.streams.project import ProjectRuntime
from streamloop.streams.queue import Lease, QueuedItem, RoutingQueue

__all__ = [
    "AnnotatorSession",
    "EmbeddedEngine",
    "Engine",
    "Lease",
    "ProjectRuntime",
    "QueuedItem",
    "RoutingQueue",
]
