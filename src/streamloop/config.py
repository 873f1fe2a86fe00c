"""Settings, read once: every one has a default, a ``STREAMLOOP_*`` variable and help text."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Settings", "setting_docs"]


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class Settings:
    """How one streamloop process runs. Build with :meth:`from_env`."""

    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(8000, "TCP port to listen on.")
    data_dir: Path = _setting(
        Path("streamloop-data"), "Folder for the SQLite database when no database URL is given."
    )
    database: str | None = _setting(
        None, "SQLAlchemy database URL; default: a SQLite file (WAL) in the data dir."
    )
    broker: str | None = _setting(
        None, "Stream engine: unset for the embedded engine, kafka://host:port for Kafka."
    )
    max_body_bytes: int = _setting(1_048_576, "Largest HTTP request body accepted (413 beyond).")
    max_frame_bytes: int = _setting(65_536, "Largest WebSocket message accepted from a client.")
    max_events_per_request: int = _setting(1000, "Most events in one POST .../events (413 beyond).")
    queue_capacity: int = _setting(
        10_000, "Items waiting for annotators per project; beyond, the least uncertain are shed."
    )
    rescore_candidates: int = _setting(
        64, "Queued items re-scored with the current model each time an item is leased."
    )
    label_batch_max: int = _setting(256, "Most labels stored in one transaction (group commit).")
    pending_labels_max: int = _setting(
        10_000, "Labels waiting to be stored and learned per project; beyond, 429."
    )
    snapshot_every_labels: int = _setting(1000, "Snapshot a model after this many new labels.")
    snapshot_interval_seconds: float = _setting(
        60.0, "Also snapshot a model that has changed after this many seconds."
    )
    metrics_interval_seconds: float = _setting(
        0.25, "Shortest time between two metrics pushes on a dashboard socket."
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Defaults, then ``STREAMLOOP_<NAME>`` variables, then explicit ``overrides``.

        ``None`` overrides are ignored, so unset command-line options fall through.

        >>> Settings.from_env({"STREAMLOOP_PORT": "9000"}, host="0.0.0.0").port
        9000
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            raw = environ.get(env_name(spec.name))
            if raw is not None and raw != "":
                values[spec.name] = _parse(spec, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def database_url(self) -> str:
        """The database URL in force."""
        if self.database:
            return self.database
        return f"sqlite:///{(self.data_dir / 'streamloop.db').resolve()}"


def env_name(name: str) -> str:
    """The environment variable of a setting.

    >>> env_name("queue_capacity")
    'STREAMLOOP_QUEUE_CAPACITY'
    """
    return f"STREAMLOOP_{name.upper()}"


def setting_docs() -> list[tuple[str, str, Any, str]]:
    """(name, environment variable, default, help) of every setting, for docs and the CLI."""
    return [
        (f.name, env_name(f.name), f.default, f.metadata["help"])
        for f in dataclasses.fields(Settings)
    ]


def _parse(spec: dataclasses.Field[Any], raw: str) -> Any:
    kind = spec.type if isinstance(spec.type, str) else getattr(spec.type, "__name__", "")
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("Path"):
            return Path(raw)
    except ValueError as exc:
        raise ValueError(f"{env_name(spec.name)}={raw!r} is not a valid {kind}") from exc
    return raw
