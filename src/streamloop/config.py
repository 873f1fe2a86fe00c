"""Settings, read once: every one has a default, a ``STREAMLOOP_*`` variable and help text."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Settings", "setting_docs", "settings_table", "split_list"]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True, slots=True)
class Settings:
    """How one streamloop process runs. Build with :meth:`from_env`."""

    host: str = field(default="127.0.0.1", metadata=_help("Address to listen on."))
    port: int = field(default=8000, metadata=_help("TCP port to listen on."))
    data_dir: Path = field(
        default=Path("streamloop-data"),
        metadata=_help("Folder for the SQLite database when no database URL is given."),
    )
    database: str | None = field(
        default=None,
        metadata=_help("SQLAlchemy database URL; default: a SQLite file (WAL) in the data dir."),
    )
    database_busy_timeout_seconds: float = field(
        default=5.0,
        metadata=_help(
            "SQLite: how long a write waits for a lock held elsewhere before a 503 "
            "store_unavailable (retry; nothing acknowledged is lost)."
        ),
    )
    broker: str | None = field(
        default=None,
        metadata=_help(
            "Stream engine: unset for the embedded engine, kafka://host:port for Kafka."
        ),
    )
    topic_prefix: str = field(
        default="streamloop",
        metadata=_help("Prefix of the Kafka topic names, so deployments can share a cluster."),
    )
    secret_key: str | None = field(
        default=None,
        repr=False,  # a logged or printed Settings never shows the key
        metadata=_help(
            "With --broker, required (or the key file): the key, 32 characters or more, that "
            "every serve and worker of a deployment shares to sign the model snapshots on "
            "Kafka; a snapshot whose signature does not verify is refused, never loaded."
        ),
    )
    secret_key_file: Path | None = field(
        default=None,
        metadata=_help(
            "With --broker: a file holding the secret key instead (make one with "
            "`streamloop key create --file PATH`)."
        ),
    )
    open: bool = field(
        default=False,
        metadata=_help(
            "Serve beyond loopback without API tokens (no auth). Without it, a server bound to "
            "another address refuses to start until `streamloop token create` has made one."
        ),
    )
    allow_origin: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "Other origins (`https://labels.example.com`) whose pages may call the API and open "
            "sockets, with CORS; repeatable, comma-separated in the variable. Requests carrying "
            "any other `Origin` than the server's own get 403 forbidden_origin."
        ),
    )
    allow_host: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "Host names the server answers to besides its own address and loopback's "
            "(a reverse proxy's; `*.example.com` for subdomains, `*` for any); repeatable, "
            "comma-separated in the variable. Any other `Host` gets 400 invalid_host."
        ),
    )
    log_format: str = field(
        default="text",
        metadata=_help("Log lines as `text`, or as `json` (one object a line, with request ids)."),
    )
    max_body_bytes: int = field(
        default=1_048_576, metadata=_help("Largest HTTP request body accepted (413 beyond).")
    )
    max_frame_bytes: int = field(
        default=65_536, metadata=_help("Largest WebSocket message accepted from a client.")
    )
    max_events_per_request: int = field(
        default=1000, metadata=_help("Most events in one POST .../events (413 beyond).")
    )
    max_data_depth: int = field(
        default=32,
        metadata=_help("Deepest nesting of objects and lists in an item's data (422 too_deep)."),
    )
    max_data_fields: int = field(
        default=1000,
        metadata=_help("Most fields in an item's data (422 too_many_fields)."),
    )
    body_timeout_seconds: float = field(
        default=10.0,
        metadata=_help(
            "How long a client may take to send a request body once it has sent the headers "
            "(408 body_timeout beyond), so stalled senders cannot hold their place."
        ),
    )
    bodies_in_flight_max: int = field(
        default=64,
        metadata=_help(
            "Request bodies being read or handled at once for predict and project creation "
            "(events and labels share the store's cap instead); beyond, 429 server_busy."
        ),
    )
    connections_max: int = field(
        default=1000,
        metadata=_help(
            "Open HTTP connections and sockets at once (uvicorn's limit_concurrency); beyond, "
            "new requests get 503."
        ),
    )
    keep_alive_seconds: int = field(
        default=5,
        metadata=_help(
            "An HTTP connection idle this many seconds (after a response, or from its opening "
            "with no request yet) is closed."
        ),
    )
    slow_reader_seconds: float = field(
        default=10.0,
        metadata=_help(
            "An annotate socket with 500 replies waiting is not read from until its client "
            "reads some; after this many seconds without, it is closed with 1013."
        ),
    )
    sockets_per_annotator_max: int = field(
        default=4,
        metadata=_help(
            "Annotate sockets one annotator (a token, or a name with auth off) may hold open in "
            "one project; beyond, refused with too_many_sockets."
        ),
    )
    leases_per_annotator_max: int = field(
        default=50,
        metadata=_help(
            "Items one annotator may hold leased at once in one project, over all their sockets "
            "(the sum of their prefetch); beyond, refused with too_many_leases."
        ),
    )
    queue_capacity: int = field(
        default=10_000,
        metadata=_help(
            "Items waiting for annotators per project; beyond, the least uncertain are shed."
        ),
    )
    rescore_candidates: int = field(
        default=32,
        metadata=_help(
            "Queued items re-scored each time an item is leased (their predictions then kept "
            "for a few labels: rescore_versions)."
        ),
    )
    rescore_versions: int = field(
        default=16,
        metadata=_help(
            "Most labels a re-scoring's predictions are reused for: until the model has "
            "learned this many since the first was made, or a sixteenth of those it had "
            "learned then, whichever is fewer; 1 or more (1: re-scored at every version)."
        ),
    )
    label_batch_max: int = field(
        default=256, metadata=_help("Most labels stored in one transaction (group commit).")
    )
    pending_labels_max: int = field(
        default=10_000,
        metadata=_help("Labels waiting to be stored and learned per project; beyond, 429."),
    )
    learner_timeout_seconds: float = field(
        default=10.0,
        metadata=_help(
            "With --broker: how long a label waits for its project's learner before a 503 "
            "(retrying with the same label_id is safe)."
        ),
    )
    worker_port: int | None = field(
        default=None,
        metadata=_help(
            "`streamloop worker --port`: the TCP port of its /healthz, /readyz and /metrics; "
            "none if unset."
        ),
    )
    worker_host: str = field(
        default="127.0.0.1",
        metadata=_help("`streamloop worker --host`: the address of that port."),
    )
    store_backlog_max: int = field(
        default=64,
        metadata=_help(
            "Database calls waiting at once; beyond, new events get 429 with Retry-After."
        ),
    )
    socket_messages_per_second: float = field(
        default=1000.0,
        metadata=_help(
            "Messages a second one annotate socket may send (bursts of twice that); beyond, "
            "each is refused with rate_limited."
        ),
    )
    snapshot_every_labels: int = field(
        default=1000, metadata=_help("Snapshot a model after this many new labels.")
    )
    snapshot_interval_seconds: float = field(
        default=60.0,
        metadata=_help("Also snapshot a model that has changed after this many seconds."),
    )
    metrics_interval_seconds: float = field(
        default=0.25,
        metadata=_help("Shortest time between two metrics pushes on a dashboard socket."),
    )
    gc_freeze: bool = field(
        default=True,
        metadata=_help(
            "`serve` and `worker`: once started, and when opening a project imports more "
            "libraries, leave every object alive then (mostly modules, models, compiled code) "
            "out of the garbage collector's later collections, each a pause of the whole "
            "process (gc.freeze)."
        ),
    )
    gc_young: int = field(
        default=700,
        metadata=_help(
            "`serve` and `worker`: allocations that start a collection of the garbage "
            "collector's youngest generation, 1 or more (700 is Python's own default)."
        ),
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
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
    def on_loopback(self) -> bool:
        """Whether the server listens on loopback only.

        >>> Settings(host="127.0.0.1").on_loopback, Settings(host="0.0.0.0").on_loopback
        (True, False)
        """
        host = self.host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def database_url(self) -> str:
        """The database URL in force."""
        if self.database:
            return self.database
        return f"sqlite:///{(self.data_dir / 'streamloop.db').resolve()}"


def split_list(*values: str) -> tuple[str, ...]:
    """The items of comma-separated lists, in order, stripped, empty ones dropped.

    >>> split_list("a, b,", "c")
    ('a', 'b', 'c')
    """
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


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


#: Settings that are also options of ``streamloop serve``, ``demo`` and ``worker``.
CLI_OPTIONS = (
    "host",
    "port",
    "data_dir",
    "database",
    "broker",
    "open",
    "allow_origin",
    "allow_host",
)


def settings_table() -> str:
    """The README's table of every setting, generated here so it cannot fall behind.

    Print it with ``python -m streamloop.config``.
    """
    rows = [
        "| variable | option | default | what it does |",
        "|---|---|---|---|",
    ]
    for name, variable, default, help_text in setting_docs():
        option = f"`--{name.replace('_', '-')}`" if name in CLI_OPTIONS else ""
        shown = "unset" if default in (None, ()) else f"`{default}`"
        rows.append(f"| `{variable}` | {option} | {shown} | {help_text} |")
    return "\n".join(rows)


def _parse(spec: dataclasses.Field[Any], raw: str) -> Any:
    kind = spec.type if isinstance(spec.type, str) else getattr(spec.type, "__name__", "")
    if kind == "bool":
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{env_name(spec.name)}={raw!r} is not a boolean (1/0, true/false)")
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("Path"):
            return Path(raw)
        if kind.startswith("tuple"):
            return split_list(raw)
    except ValueError as exc:
        raise ValueError(f"{env_name(spec.name)}={raw!r} is not a valid {kind}") from exc
    return raw


if __name__ == "__main__":
    print(settings_table())
