"""The ``streamloop`` command: serve, demo, worker, token, export and import.

Only the standard library and the settings are imported here: each command imports what it
uses (the store, the web app, Kafka's clients) when it runs, so ``--help``, a mistyped option
and the light commands answer at once (issue 22; ``tests/test_startup.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamloop import __version__
from streamloop.config import Settings, env_name, split_list

if TYPE_CHECKING:
    import asyncio

    import uvicorn

__all__ = ["main", "server_config"]

log = logging.getLogger("streamloop")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=getattr(args, "log_level", "warning").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env(
            host=None if args.command == "worker" else getattr(args, "host", None),
            port=None if args.command == "worker" else getattr(args, "port", None),
            worker_host=getattr(args, "host", None) if args.command == "worker" else None,
            worker_port=getattr(args, "port", None) if args.command == "worker" else None,
            data_dir=getattr(args, "data_dir", None),
            database=getattr(args, "database", None),
            broker=getattr(args, "broker", None),
            open=getattr(args, "open", None) or None,
            allow_origin=_listed(getattr(args, "allow_origin", None)),
            allow_host=_listed(getattr(args, "allow_host", None)),
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.command in ("serve", "demo"):
        from streamloop.ws.origins import allowed_origins, check_hosts

        try:
            allowed_origins(settings)
            check_hosts(settings)
        except ValueError as exc:
            parser.error(str(exc))
    if settings.log_format not in {"text", "json"}:
        parser.error(f"{env_name('log_format')} must be text or json")
    if settings.gc_young < 1:
        parser.error(f"{env_name('gc_young')} must be 1 or more, not {settings.gc_young}")
    if settings.rescore_versions < 1:
        parser.error(
            f"{env_name('rescore_versions')} must be 1 or more, not {settings.rescore_versions}"
        )
    if args.command == "export":
        return _export(settings, args)
    if args.command == "import":
        return _import(args)
    if args.command == "token":
        if args.action is None:
            parser.parse_args(["token", "--help"])
        return _token(settings, args)
    if args.command == "key":
        if args.action is None:
            parser.parse_args(["key", "--help"])
        return _key(args)
    if args.command == "worker":
        if not settings.broker:
            parser.error("worker needs --broker kafka://host:port (or STREAMLOOP_BROKER)")
        return _work(settings, args)
    if args.command in ("topics", "dead-letters"):
        if args.action is None:
            parser.parse_args([args.command, "--help"])
        if not settings.broker:
            parser.error(f"{args.command} needs --broker kafka://host:port (or STREAMLOOP_BROKER)")
        from streamloop.streams import admin, dead_letters

        if args.command == "topics":
            return admin.create_command(settings, args)
        return dead_letters.replay_command(settings, args)
    try:
        # Bound before anything is made or started (a database, the Kafka clients): a taken
        # port fails at once, leaving nothing behind, and cannot be taken meanwhile.
        listening = _bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"streamloop: cannot listen on {settings.host}:{settings.port}: "
            f"{exc.strerror or exc}.\n"
            "  Another server (another streamloop?) may be using it: stop it, or choose\n"
            f"  another port:  --port 8001  ({env_name('port')}=8001)",
            file=sys.stderr,
        )
        return 1
    import asyncio

    with listening:
        return asyncio.run(
            _serve(settings, listening, demo=args.command == "demo", log_level=args.log_level)
        )


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, as uvicorn would bind it (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    bound = socket.socket(family, kind, proto)
    try:
        # As uvicorn binds: a port left in TIME_WAIT by a server just stopped is free.
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind(address)
    except OSError:
        bound.close()
        raise
    return bound


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host``:``port`` cannot be listened on now (the reason, such as "address already
    in use"), or None when it can; the socket is closed at once. Port 0 is any free port."""
    try:
        _bind(host, port).close()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamloop", description="Active learning as one real-time streaming loop."
    )
    parser.add_argument("--version", action="version", version=f"streamloop {__version__}")
    commands = parser.add_subparsers(dest="command")
    helps = {
        "serve": "run the whole loop in one process",
        "demo": "serve with a ready-made project and a live stream of events",
        "worker": "a Faust worker that scores events and learns labels (serve --broker)",
    }
    for name, help_text in helps.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        if name == "worker":
            _worker_arguments(command)
            continue
        command.add_argument("--host", help=f"address to listen on [{env_name('host')}]")
        command.add_argument("--port", type=int, help=f"TCP port [{env_name('port')}]")
        command.add_argument(
            "--data-dir", type=Path, help=f"folder for the SQLite database [{env_name('data_dir')}]"
        )
        command.add_argument("--database", help=f"SQLAlchemy URL [{env_name('database')}]")
        command.add_argument("--broker", help=f"kafka://host:port [{env_name('broker')}]")
        command.add_argument(
            "--open",
            action="store_true",
            help=f"serve beyond loopback with no API tokens, so no auth [{env_name('open')}]",
        )
        command.add_argument(
            "--log-level", default="info", choices=["debug", "info", "warning", "error"]
        )
        command.add_argument(
            "--allow-origin",
            action="append",
            metavar="ORIGIN",
            help="another origin whose pages may use the API, such as https://labels.example.com;"
            f" repeatable [{env_name('allow_origin')}]",
        )
        command.add_argument(
            "--allow-host",
            action="append",
            metavar="HOST",
            help="a host name to answer to besides this address and loopback's (a reverse "
            f"proxy's); repeatable [{env_name('allow_host')}]",
        )
    _kafka_commands(commands)
    token = commands.add_parser("token", help="create, list and revoke API tokens")
    actions = token.add_subparsers(dest="action", parser_class=_Deferred)
    actions.add_parser(
        "create", help="make a token and print it, once", arguments=_token_create_arguments
    )
    actions.add_parser(
        "list",
        help="every token, with its role and whether it is revoked",
        arguments=_store_arguments,
    )
    actions.add_parser(
        "revoke",
        help="revoke the token in force with this name",
        arguments=_token_revoke_arguments,
    )
    export = commands.add_parser(
        "export",
        help="write every label of a project, in learning order (JSON lines or CSV); a spans "
        "project's rows carry text and spans, Prodigy/spaCy-style",
    )
    export.add_argument("project")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("-o", "--output", type=Path, help="file to write; default: stdout")
    importing = commands.add_parser(
        "import",
        help="send a JSON lines file of events, labelled or not, to a running service",
        description='Each line: {"id" (or "event_id"), "data", "label"? (or "labels", a '
        'list, in a multilabel project; or "spans", a list of {"start", "end", "label"}, in a '
        'spans project)}, or a Prodigy/spaCy-style {"text", "spans"?} (id: text- and the '
        "text's SHA-256). Events are scored and routed; labels are learned in the file's "
        "order. The whole file is checked first: a bad line stores nothing. An export of "
        "another project imports as it is. Safe to run again: events and labels are idempotent "
        "by id.",
    )
    importing.add_argument("project")
    importing.add_argument("file", type=Path)
    importing.add_argument("--url", default="http://127.0.0.1:8000", help="the service")
    importing.add_argument("--token", help="a producer token, when auth is on [STREAMLOOP_TOKEN]")
    importing.add_argument("--batch", type=int, default=500, help="rows per request")
    key = commands.add_parser(
        "key", help="make the secret key that signs model snapshots on Kafka (--broker)"
    )
    key_actions = key.add_subparsers(dest="action")
    key_create = key_actions.add_parser(
        "create",
        help="write a new random key to a new file that only you may read",
        description="Give the file to every serve and worker of the deployment with "
        f"{env_name('secret_key_file')}=PATH. An existing file is never overwritten.",
    )
    key_create.add_argument("--file", type=Path, required=True, help="the file to create")
    _store_arguments(export)
    return parser


class _Deferred(argparse.ArgumentParser):
    """A command's parser whose options are added when that command is parsed (or its
    ``--help`` shown): those that need a heavy module (the store's roles, Kafka's defaults)
    import it only then, not whenever the command line is built."""

    def __init__(
        self, *args: Any, arguments: Callable[[argparse.ArgumentParser], None], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._arguments: Callable[[argparse.ArgumentParser], None] | None = arguments

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        if self._arguments is not None:
            arguments, self._arguments = self._arguments, None
            arguments(self)
        return super().parse_known_args(args, namespace)


def _store_arguments(command: argparse.ArgumentParser) -> None:
    """The options of the commands that open the store themselves."""
    command.add_argument(
        "--data-dir", type=Path, help=f"folder for the SQLite database [{env_name('data_dir')}]"
    )
    command.add_argument("--database", help=f"SQLAlchemy URL [{env_name('database')}]")


def _token_create_arguments(command: argparse.ArgumentParser) -> None:
    from streamloop.store.tokens import ROLES

    command.add_argument("--role", required=True, choices=list(ROLES))
    command.add_argument("--name", required=True, help="who holds it (an annotator's name)")
    _store_arguments(command)


def _token_revoke_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("name")
    _store_arguments(command)


def _worker_arguments(command: argparse.ArgumentParser) -> None:
    """A worker's options: only those it uses (it keeps no SQLite file, and serves only
    health and metrics, on loopback unless told otherwise)."""
    command.add_argument("--broker", help=f"kafka://host:port [{env_name('broker')}]")
    command.add_argument("--database", help=f"SQLAlchemy URL [{env_name('database')}]")
    command.add_argument(
        "--port",
        type=int,
        help="serve /healthz, /readyz and /metrics on this TCP port; none if unset "
        "[STREAMLOOP_WORKER_PORT]",
    )
    command.add_argument(
        "--host", help="address for --port (default 127.0.0.1) [STREAMLOOP_WORKER_HOST]"
    )
    command.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def _kafka_commands(commands: Any) -> None:
    """``topics create`` and ``dead-letters replay``: operators' commands on the broker."""
    topics = commands.add_parser("topics", help="the deployment's Kafka topics")
    topic_actions = topics.add_subparsers(dest="action", parser_class=_Deferred)
    topic_actions.add_parser(
        "create",
        help="create the topics that are missing (serve and worker also do, at start)",
        arguments=_topics_create_arguments,
    )
    letters = commands.add_parser("dead-letters", help="records the workers could not use")
    letter_actions = letters.add_subparsers(dest="action", parser_class=_Deferred)
    letter_actions.add_parser(
        "replay",
        help="send dead-lettered records back to the topic they came from, after a fix",
        arguments=_dead_letters_replay_arguments,
    )


def _topics_create_arguments(command: argparse.ArgumentParser) -> None:
    from streamloop.streams import admin

    command.description = admin.CREATE_DESCRIPTION
    admin.add_create_arguments(command)
    _broker_arguments(command)


def _dead_letters_replay_arguments(command: argparse.ArgumentParser) -> None:
    from streamloop.streams import dead_letters

    command.description = dead_letters.REPLAY_DESCRIPTION
    dead_letters.add_replay_arguments(command)
    _broker_arguments(command)


def _broker_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--broker", help=f"kafka://host:port [{env_name('broker')}]")
    command.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )


def _import(args: argparse.Namespace) -> int:
    from streamloop.client import Client
    from streamloop.client import StreamloopError as ClientError
    from streamloop.errors import StreamloopError
    from streamloop.streams.importing import checked_rows, import_rows, read_rows

    def progress(rows: int, labels: int) -> None:
        print(f"\r{rows:,} rows sent, {labels:,} labels learned", end="", file=sys.stderr)

    token = args.token or os.environ.get("STREAMLOOP_TOKEN")
    try:
        with args.file.open("rb") as lines, Client(args.url, token) as client:
            # The whole file is read and checked first: a bad row stores nothing.
            checked = checked_rows(read_rows(lines), client.project(args.project))
            rows, labels = import_rows(
                client, args.project, checked, batch=args.batch, progress=progress
            )
    except (StreamloopError, ClientError, OSError) as exc:
        print(f"\nstreamloop import: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    print(
        f"\r{rows:,} rows of {args.file} imported into {args.project!r}, {labels:,} labels learned",
        file=sys.stderr,
    )
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from streamloop.errors import StreamloopError
    from streamloop.store import Store
    from streamloop.streams.export import export_labels, open_export, write_csv, write_jsonl

    store = Store(settings.database_url)
    write = write_csv if args.format == "csv" else write_jsonl
    try:
        store.project(args.project)  # before opening the output: a typo truncates nothing
        with contextlib.ExitStack() as files:
            # A new output file is made 0600: an export is every label, as private as the store.
            out = (
                files.enter_context(open_export(args.output)) if args.output else sys.stdout.buffer
            )
            count = write(export_labels(store, args.project), out)
            out.flush()
    except StreamloopError as exc:
        print(f"streamloop export: {exc.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader stopped (`| head`): what it wanted was written. Python would report the
        # pipe again while flushing at exit, so stdout goes to /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        store.close()
    print(f"{count} labels of {args.project!r} exported", file=sys.stderr)
    return 0


def _key(args: argparse.Namespace) -> int:
    from streamloop.streams.signing import create_key_file

    try:
        create_key_file(args.file)
    except OSError as exc:  # an existing file among them: a key in use is never replaced
        print(f"streamloop key: {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    print(
        f"key written to {args.file} (mode 0600); give every serve and worker of the "
        f"deployment {env_name('secret_key_file')}={args.file}",
        file=sys.stderr,
    )
    return 0


def _key_usable(settings: Settings) -> bool:
    """Whether the key that signs model snapshots on Kafka is set and good; if not, says so."""
    from streamloop.streams.signing import HOW_TO_MAKE_ONE, SecretKeyError, load_key

    try:
        load_key(settings)
    except SecretKeyError as exc:
        print(
            f"streamloop: refusing to start with --broker: {exc}.\n"
            "  Anyone who can write to the models topic could otherwise run code in every "
            f"process.\n{HOW_TO_MAKE_ONE}",
            file=sys.stderr,
        )
        return False
    return True


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from streamloop.errors import StreamloopError
    from streamloop.store import Store

    store = Store(settings.database_url)
    try:
        if args.action == "create":
            record, secret = store.tokens.create(args.name, args.role)
            print(secret)
            print(
                f"token {record.name!r} ({record.role}) created; it is shown only this once",
                file=sys.stderr,
            )
        elif args.action == "list":
            print(f"{'name':<24} {'role':<11} {'created':<20} revoked")
            for token in store.tokens.list():
                revoked = token.revoked_at.strftime("%Y-%m-%d %H:%M") if token.revoked_at else "-"
                created = token.created_at.strftime("%Y-%m-%d %H:%M")
                print(f"{token.name:<24} {token.role:<11} {created:<20} {revoked}")
        else:
            record = store.tokens.revoke(args.name)
            print(f"token {record.name!r} ({record.role}) revoked", file=sys.stderr)
    except StreamloopError as exc:
        print(f"streamloop token: {exc.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


async def _serve(
    settings: Settings, listening: socket.socket, *, demo: bool, log_level: str
) -> int:
    import asyncio

    import uvicorn

    from streamloop.app import create_app  # imported here: argument errors stay instant
    from streamloop.streams import quiet
    from streamloop.streams.pauses import settle
    from streamloop.ws.auth import RedactTokens
    from streamloop.ws.context import keyring_of, service_of
    from streamloop.ws.telemetry import install_logging

    if settings.broker and not _key_usable(settings):
        return 2
    app = create_app(settings)
    service = service_of(app, ready=False)  # not started yet: the lifespan starts it
    if not (settings.on_loopback or settings.open):
        tokens, _ever_made = await service.tokens()
        if not tokens:
            print(
                f"streamloop: refusing to serve on {settings.host} with no API tokens: anyone "
                "who can reach it could read and change every project.\n"
                "  Make one first:  streamloop token create --role admin --name you\n"
                f"  or say it is meant to be open:  --open ({env_name('open')}=1)",
                file=sys.stderr,
            )
            return 2
    config = server_config(app, settings, log_level)
    # At debug level the websockets library logs every handshake's headers, Authorization
    # among them: its protocol chatter is never wanted, so it stops at info.
    logging.getLogger("websockets").setLevel(max(logging.INFO, logging.getLogger().level))
    # uvicorn has set up its loggers now; a socket's ?token=... never reaches a log line.
    loggers = ("uvicorn", "uvicorn.error", "uvicorn.access", "streamloop")
    RedactTokens.install(*loggers)
    install_logging(settings.log_format, *loggers)
    quiet.install()
    loop = asyncio.get_running_loop()
    if settings.broker and not await _broker_ready(settings, loop):
        return 0  # stopped while it waited for the broker

    class Server(uvicorn.Server):
        """uvicorn whose stop on SIGINT/SIGTERM ends the process with status 0.

        uvicorn re-raises the signal it caught once shut down, which makes the exit status
        -15 instead of the 0 a clean, complete shutdown deserves; so the handlers are ours.
        """

        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            self.listening = asyncio.Event()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            self.listening.set()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def stop(self) -> None:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

    server = Server(config)
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, server.stop)
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    started = asyncio.create_task(server.listening.wait())
    await asyncio.wait({serving, started}, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    producer: asyncio.Task[None] | None = None
    # A stop that came while the projects opened ends the start here: uvicorn has shut down
    # (the service stopped, its socket closed) or is shutting down, and nothing is ready.
    if server.started and not server.should_exit:
        port = listening.getsockname()[1]
        base = f"http://{_display_host(settings.host)}:{port}"
        if demo:
            from streamloop.demo import open_demo, run_demo

            # Before the banner: a script that starts once it reads "ready" finds them.
            streams = await open_demo(service)
            producer = asyncio.create_task(run_demo(service, streams=streams))
        print(f"streamloop {__version__} ready", flush=True)
        print(f"  home:       {base}/", flush=True)
        print(f"  annotate:   {base}/static/annotate.html", flush=True)
        print(f"  dashboard:  {base}/static/dashboard.html", flush=True)
        print(f"  review:     {base}/static/review.html", flush=True)
        print(f"  API:        {base}/api/projects", flush=True)
        if demo:
            from streamloop.demo import DEMO_PROJECTS

            for name in DEMO_PROJECTS:
                print(f"  demo:       {base}/static/annotate.html?project={name}", flush=True)
        keyring = keyring_of(app)
        auth = "on (API tokens)" if keyring.enabled else "off (loopback, no tokens)"
        print(f"  auth:       {auth}", flush=True)
        if settings.allow_host and not keyring.enabled:
            print(
                "  warning:    auth is off, yet this server answers to "
                f"{', '.join(settings.allow_host)}: anyone who reaches it by that name can use "
                "it. Make a token first: streamloop token create --role admin --name you",
                flush=True,
            )
        # After the banner, not before: its one full collection must not delay being ready.
        settle(freeze=settings.gc_freeze, young=settings.gc_young)
    await serving
    if producer is not None:
        producer.cancel()
    return 0 if server.started else 1


async def _broker_ready(settings: Settings, loop: asyncio.AbstractEventLoop) -> bool:
    """Wait for the broker and the topics (made if missing), saying so; False if SIGINT or
    SIGTERM came first. Waited for here, before the web app starts: a wait inside its
    start-up could not be stopped by a signal."""
    import asyncio

    from streamloop.streams import topics

    assert settings.broker is not None
    bootstrap = topics.bootstrap_servers(settings.broker)
    waiting = asyncio.create_task(
        topics.prepare_topics(bootstrap, topics.Topics(settings.topic_prefix))
    )
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, waiting.cancel)
    try:
        await waiting
    except asyncio.CancelledError:
        return False
    return True


def server_config(app: Any, settings: Settings, log_level: str) -> uvicorn.Config:
    """How uvicorn serves the app: the limits on connections are set here (and in tests)."""
    import uvicorn

    from streamloop.ws.limits import IdleClosingHttp
    from streamloop.ws.transport import ReadOnWebSocket

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=ReadOnWebSocket,
        ws_max_size=settings.max_frame_bytes * 4,
        ws_per_message_deflate=False,
        http=IdleClosingHttp,
        limit_concurrency=settings.connections_max,
        timeout_keep_alive=settings.keep_alive_seconds,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


def _work(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    import faust

    from streamloop.streams import quiet, topics
    from streamloop.streams.pauses import settle
    from streamloop.streams.worker import WORKER_ID, create_worker_app
    from streamloop.streams.worker_ops import WorkerStats, serve_ops

    if not _key_usable(settings):
        return 2
    # An empty variable (a template's blank) is unset: never every interface by accident.
    port, host = settings.worker_port, settings.worker_host or "127.0.0.1"
    if port is not None and not 1 <= port <= 65535:
        print(f"streamloop worker: --port must be 1 to 65535, not {port}", file=sys.stderr)
        return 2
    if port is not None:
        taken = _port_taken(host, port)
        if taken is not None:
            print(
                f"streamloop worker: cannot listen on {host}:{port}: {taken}; "
                "choose another --port (STREAMLOOP_WORKER_PORT)",
                file=sys.stderr,
            )
            return 1
    assert settings.broker is not None
    quiet.install()
    names = topics.Topics(settings.topic_prefix)
    try:
        # Before joining the group: a consumer that joins before its topics exist gets no
        # partitions until a metadata refresh, minutes later.
        asyncio.run(topics.prepare_topics(topics.bootstrap_servers(settings.broker), names))
    except KeyboardInterrupt:
        return 130
    stats = WorkerStats(WORKER_ID)
    app = create_worker_app(settings, stats)

    @app.task  # type: ignore[untyped-decorator]
    async def settle_collector() -> None:
        settle(freeze=settings.gc_freeze, young=settings.gc_young)

    if port is not None:

        @app.task  # type: ignore[untyped-decorator]
        async def operations() -> None:
            await serve_ops(stats, host, port)

        log.info("health and metrics on http://%s:%d/metrics", _display_host(host), port)
    level = {"warning": "warn"}.get(args.log_level, args.log_level)

    class BoundedStopWorker(faust.Worker):
        """A faust worker whose stop, once asked for, ends within ``STOP_DEADLINE`` seconds.

        Stopping while the broker is down, faust's services each wait up to a minute for it
        (to leave the group, commit offsets, flush). Nothing is lost by not waiting: a label
        is stored before it is acknowledged, and records whose offsets are not committed are
        delivered again (events and labels are stored once by id; a bad record may be
        dead-lettered twice); so past the deadline the process ends, as a SIGKILL would,
        saying so, with exit status 1.
        """

        async def stop(self) -> None:
            deadline = threading.Timer(STOP_DEADLINE, _stop_now)
            deadline.daemon = True
            deadline.start()
            await super().stop()

    BoundedStopWorker(app, loglevel=level, quiet=True).execute_from_commandline()
    return 0


#: Seconds a worker asked to stop may take before it ends without waiting for the broker.
STOP_DEADLINE = 20.0


def _stop_now() -> None:
    from streamloop.streams import topics

    log.warning(
        "the worker did not stop within %g s (the broker does not answer); stopping now "
        "(exit status 1): nothing acknowledged is lost, records not yet committed are "
        "delivered again",
        STOP_DEADLINE,
    )
    topics.remove_data_dirs()  # atexit's work, which os._exit skips
    logging.shutdown()
    os._exit(1)


def _listed(values: list[str] | None) -> tuple[str, ...] | None:
    """Repeated options, each of which may hold several comma-separated values."""
    return split_list(*values) if values else None


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
