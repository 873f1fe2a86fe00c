"""A Python client for streamloop: `Client` (blocking) and `AsyncClient`; see docs/client.md.

::

    from streamloop.client import Client

    with Client("http://127.0.0.1:8000") as client:
        client.create_project("tickets", ["billing", "bug", "other"])
        client.send_events("tickets", [("evt-1", {"text": "I was charged twice"})])
"""

from __future__ import annotations

from streamloop.client.async_client import AsyncAnnotateSession, AsyncClient
from streamloop.client.errors import StreamloopError
from streamloop.client.session import Item
from streamloop.client.sync_client import AnnotateSession, Client

__all__ = [
    "AnnotateSession",
    "AsyncAnnotateSession",
    "AsyncClient",
    "Client",
    "Item",
    "StreamloopError",
]
