"""API tokens and roles: who may do what, identity from the token, and secrets kept out of logs."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamloop.config import Settings
from streamloop.store import Store
from streamloop.ws.auth import Keyring, RedactTokens, _route_path, required_roles
from streamloop.ws.telemetry import JsonLines
from support import (
    RECEIVE_TIMEOUT,
    ServeProcess,
    Socket,
    annotator,
    dashboard,
    project_spec,
    running,
    ticket,
)

ROLES = ("admin", "producer", "annotator", "supervisor")


def make_tokens(database_url: str) -> dict[str, str]:
    """One token per role (named after it, and 'alice' for the annotator)."""
    store = Store(database_url)
    try:
        return {
            role: store.tokens.create("alice" if role == "annotator" else role, role)[1]
            for role in ROLES
        }
    finally:
        store.close()


@pytest.fixture
def tokens(settings: Settings) -> dict[str, str]:
    """Tokens made before the service starts."""
    return make_tokens(settings.database_url)


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_each_role_may_do_its_own_work_and_nothing_else(settings, tokens):
    async with running(settings) as service:
        http = service.http
        spec = project_spec()
        for role in ("producer", "annotator", "supervisor"):
            assert_error(
                await http.post("/api/projects", json=spec, headers=bearer(tokens[role])),
                403,
                "forbidden",
            )
        assert (
            await http.post("/api/projects", json=spec, headers=bearer(tokens["admin"]))
        ).status_code == 201

        events = {"events": [{"id": "e1", "data": ticket("bug", 1)}]}
        for role in ("annotator", "supervisor"):
            response = await http.post(
                "/api/projects/tickets/events", json=events, headers=bearer(tokens[role])
            )
            assert_error(response, 403, "forbidden")
        response = await http.post(
            "/api/projects/tickets/events", json=events, headers=bearer(tokens["producer"])
        )
        assert response.status_code == 200, response.text

        for role in ("producer", "annotator"):
            response = await http.get("/api/projects/tickets/metrics", headers=bearer(tokens[role]))
            assert_error(response, 403, "forbidden")
        for role in ("supervisor", "admin"):
            response = await http.get("/api/projects/tickets/metrics", headers=bearer(tokens[role]))
            assert response.json()["events_total"] == 1
        for role in ROLES:  # every role may read the projects
            assert (
                await http.get("/api/projects", headers=bearer(tokens[role]))
            ).status_code == 200
        assert (await http.get("/healthz")).status_code == 200  # probes need no token


async def test_no_token_or_a_wrong_one_gets_401_in_the_contract_shape(settings, tokens):
    async with running(settings) as service:
        response = await service.http.get("/api/projects")
        assert_error(response, 401, "token_required")
        assert response.headers["www-authenticate"] == "Bearer"
        assert_error(
            await service.http.get("/api/projects", headers=bearer("sl_guess")),
            401,
            "invalid_token",
        )
        # A token in the query is for sockets only: it would end up in logs and histories.
        response = await service.http.get(f"/api/projects?token={tokens['admin']}")
        assert_error(response, 401, "token_required")


async def test_a_revoked_token_is_refused_once_the_tokens_are_reloaded(settings, tokens):
    async with running(settings) as service:
        headers = bearer(tokens["supervisor"])
        assert (await service.http.get("/api/projects", headers=headers)).status_code == 200
        store = service.core.store
        await store.run(store.tokens.revoke, "supervisor")
        keyring: Keyring = service.app.state.keyring
        keyring.load(*await service.core.tokens())  # what the reload task does every 2 s
        assert_error(await service.http.get("/api/projects", headers=headers), 401, "invalid_token")


async def test_the_annotator_is_who_the_token_says_never_the_query(settings, tokens):
    async with running(settings) as service:
        await service.http.post(
            "/api/projects", json=project_spec(), headers=bearer(tokens["admin"])
        )
        async with annotator(
            service.base, "tickets", "mallory", token=tokens["annotator"]
        ) as socket:
            hello = await socket.expect("hello")
        assert hello["annotator"] == "alice"


@pytest.mark.parametrize(
    ("name", "token", "code"),
    [
        ("alice", None, "token_required"),
        (None, "sl_guess", "invalid_token"),
        (None, "{supervisor}", "forbidden"),
    ],
)
async def test_a_socket_without_a_fitting_token_gets_an_error_then_a_policy_close(
    settings, tokens, name, token, code
):
    query = {} if token is None else {"token": token.format(**tokens)}
    async with running(settings) as service:
        async with annotator(service.base, "tickets", name, **query) as socket:
            error = await socket.expect("error")
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
        assert error["code"] == code
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_revoking_every_token_does_not_turn_auth_off_even_after_a_restart(settings):
    store = Store(settings.database_url)
    try:
        admin = store.tokens.create("root", "admin")[1]
        store.tokens.revoke("root")
    finally:
        store.close()
    async with running(settings) as service:  # on loopback, with no token in force
        assert service.app.state.keyring.enabled
        response = await service.http.get("/api/projects", headers=bearer(admin))
        assert_error(response, 401, "invalid_token")
        assert_error(await service.http.get("/api/projects"), 401, "token_required")


async def test_the_token_never_reaches_the_logs(tmp_path: Path):
    tokens = make_tokens(Settings.from_env({}, data_dir=tmp_path).database_url)
    server = ServeProcess(["--data-dir", str(tmp_path), "--log-level", "debug"])
    try:
        printed = await server.ready()
        async with annotator(server.base, "nope", None, token=tokens["annotator"]) as socket:
            assert (await socket.expect("error"))["code"] == "unknown_project"
        # The same key percent-encoded, or after a quote: still the token, still not logged.
        # Raw URLs on purpose: annotate_url would encode the % and the quote away.
        url = server.base.replace("http", "ws") + "/ws/projects/nope/annotate"
        async with connect(f"{url}?%74oken={tokens['producer']}") as ws:
            assert (await Socket(ws).expect("error"))["code"] == "forbidden"
        async with connect(f'{url}?a="&%74oken={tokens["admin"]}') as ws:
            assert (await Socket(ws).expect("error"))["code"] == "unknown_project"
        # In a header, which the websockets library logs at debug level.
        supervisor = {"Authorization": f"Bearer {tokens['supervisor']}"}
        async with dashboard(server.base, "nope", additional_headers=supervisor) as socket:
            refused = await socket.recv()  # the first frame: before any history or metrics
            assert (refused["type"], refused["code"]) == ("error", "unknown_project")
        # A path that tries to write lines of its own into the log: a newline, an ANSI escape.
        async with server.http() as http:
            forged = "/api/projects%0a2026-01-01 00:00:00 ERROR forged%1b[2K"
            response = await http.get(
                forged, headers={"Authorization": f"Bearer {tokens['admin']}"}
            )
            assert response.status_code == 404
    finally:
        assert server.kill() == 0
    output = "".join(printed + server.output)
    assert "auth:       on" in output
    assert "/ws/projects/nope/annotate" in output  # the socket was logged...
    for secret in tokens.values():  # ...but no token, however it was sent
        assert secret not in output
    assert "\\x0a2026-01-01 00:00:00 ERROR forged\\x1b[2K" in output  # the path, escaped
    assert not any(line.startswith("2026-01-01") for line in output.splitlines())
    assert "\x1b" not in output


def test_serving_beyond_loopback_without_tokens_is_refused(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamloop",
            "serve",
            "--host",
            "0.0.0.0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=RECEIVE_TIMEOUT * 3,
    )
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 with no API tokens" in result.stderr
    assert "--open" in result.stderr


def test_roles_are_matched_on_the_routed_path_under_a_root_path():
    # Behind a proxy that mounts the app under /sl, the rules still see /api/projects.
    scope = {"path": "/sl/api/projects", "root_path": "/sl"}
    assert required_roles("POST", _route_path(scope)) == {"admin"}
    assert required_roles("PATCH", "/api/projects/p") == {"admin"}  # no rule: admin only


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_exceptions_text_is_redacted_and_cannot_forge_a_line(log_format):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonLines())
    handler.addFilter(RedactTokens())
    log = logging.getLogger(f"streamloop.test.redact.{log_format}")
    log.addHandler(handler)
    log.propagate = False
    secret = "not-shaped-like-a-token-7731"
    try:
        raise ValueError(f'x\n2026-01-01 00:00:00 ERROR forged ?a="&%74oken={secret} \x1b[2K')
    except ValueError:
        log.exception("handling a request failed")
    finally:
        log.removeHandler(handler)
    output = stream.getvalue()
    assert secret not in output and "\x1b" not in output
    written = output if log_format == "text" else json.loads(output)["exception"]
    assert not any(line.startswith("2026-01-01") for line in written.splitlines())
