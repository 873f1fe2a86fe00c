"""The interface every stream engine gives the web layer."""

from __future__ import annotations

import abc
from typing import Any

from streamloop.store import ProjectRecord
from streamloop.store.tokens import Principal
from streamloop.streams.project import ProjectRuntime

__all__ = ["Engine"]


class Engine(abc.ABC):
    """Runs the loop of every project: scoring, routing, learning, snapshots.

    The web layer talks to projects only through an engine, so the embedded engine (one
    process) and a distributed one are interchangeable behind the same HTTP and WebSocket API.
    """

    #: True once :meth:`start` finished and until :meth:`stop` begins.
    ready: bool = False

    @abc.abstractmethod
    async def start(self) -> None:
        """Recover every project and start serving."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Finish in-flight acknowledgements, snapshot every model, release resources."""

    @abc.abstractmethod
    async def create_project(self, spec: dict[str, Any]) -> ProjectRecord:
        """Store a new project and start its loop (409 if the name exists)."""

    @abc.abstractmethod
    def project(self, name: str) -> ProjectRuntime:
        """A running project (404 if unknown)."""

    @abc.abstractmethod
    def projects(self) -> list[ProjectRuntime]:
        """Every running project, oldest first."""

    async def tokens(self) -> tuple[dict[str, Principal], bool]:
        """The API tokens in force, by digest, and whether any token was ever made."""
        return {}, False
