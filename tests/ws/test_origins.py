"""Same-origin by default: other sites' pages, rebound host names and non-JSON bodies change
nothing, auth on or off; the app's own pages carry the security headers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamloop.config import Settings
from streamloop.ws.origins import Hosts, check_hosts
from support import annotator, dashboard, project_spec, running, ticket

EVIL = "http://evil.example"
TEXT = {"content-type": "text/plain"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # These checks run before any endpoint: one database is enough.
    return Settings.from_env({}, data_dir=tmp_path / "data", port=0)


def error_code(response) -> str:
    body = response.json()
    assert body["error"]["retryable"] is False, body
    return body["error"]["code"]


async def test_a_page_on_another_origin_can_neither_create_nor_post(settings):
    async with running(settings) as service:
        await service.create_project()
        spec = orjson.dumps(project_spec("stolen"))
        batch = orjson.dumps({"events": [{"id": "e1", "data": ticket("bug", 1)}]})
        labels = orjson.dumps({"labels": [{"event_id": "e1", "label": "bug"}]})
        attempts = [
            ("/api/projects", spec),
            ("/api/projects/tickets/events", batch),
            ("/api/projects/tickets/labels", labels),
            ("/api/projects/tickets/predict", orjson.dumps({"data": ticket("bug", 1)})),
        ]
        for path, body in attempts:
            # What fetch(..., {mode: "no-cors"}) sends: no preflight, text/plain, an Origin.
            response = await service.http.post(path, content=body, headers={**TEXT, "origin": EVIL})
            assert response.status_code == 403, (path, response.text)
            assert error_code(response) == "forbidden_origin"
            # Even JSON, which a browser would have asked about first.
            json_headers = {"content-type": "application/json", "origin": EVIL}
            response = await service.http.post(path, content=body, headers=json_headers)
            assert response.status_code == 403
            assert "access-control-allow-origin" not in response.headers
        projects = (await service.http.get("/api/projects")).json()["projects"]
        assert [project["name"] for project in projects] == ["tickets"]
        assert (await service.metrics("tickets"))["events_total"] == 0


async def test_a_body_that_is_not_declared_json_is_refused_with_415(settings):
    async with running(settings) as service:
        await service.create_project()
        batch = orjson.dumps({"events": [{"id": "e1", "data": ticket("bug", 1)}]})
        for headers in (TEXT, {}, {"content-type": "application/x-www-form-urlencoded"}):
            response = await service.http.post(
                "/api/projects/tickets/events", content=batch, headers=headers
            )
            assert response.status_code == 415, response.text
            assert error_code(response) == "unsupported_media_type"
        assert (await service.metrics("tickets"))["events_total"] == 0
        # With a charset parameter it is still JSON.
        response = await service.http.post(
            "/api/projects/tickets/events",
            content=batch,
            headers={"content-type": "Application/JSON; charset=utf-8"},
        )
        assert response.status_code == 200, response.text


async def test_the_servers_own_pages_work_with_their_origin(settings):
    async with running(settings) as service:
        port = service.base.rsplit(":", 1)[1]
        for n, origin in enumerate((service.base, f"http://localhost:{port}")):
            host = origin.removeprefix("http://")
            response = await service.http.post(
                "/api/projects",
                json=project_spec(f"p{n}"),
                headers={"origin": origin, "host": host},
            )
            assert response.status_code == 201, response.text
        # The same host on another port is another origin.
        response = await service.http.post(
            "/api/projects",
            json=project_spec("other-port"),
            headers={"origin": f"http://127.0.0.1:{int(port) + 1}"},
        )
        assert response.status_code == 403
        # A sandboxed frame or a file says "null": refused too.
        response = await service.http.post(
            "/api/projects", json=project_spec("null"), headers={"origin": "null"}
        )
        assert response.status_code == 403


async def test_a_host_name_the_server_does_not_answer_to_is_refused(settings):
    async with running(settings) as service:
        await service.create_project()
        port = service.base.rsplit(":", 1)[1]
        # DNS rebinding: evil.example resolved to 127.0.0.1, with no Origin on a plain GET.
        for path in ("/api/projects/tickets/model", "/static/annotate.html", "/"):
            response = await service.http.get(path, headers={"host": f"evil.example:{port}"})
            assert response.status_code == 400, (path, response.text)
            assert error_code(response) == "invalid_host"
        for host in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}", "LOCALHOST"):
            response = await service.http.get("/api/projects", headers={"host": host})
            assert response.status_code == 200, (host, response.text)
        # A socket too: the error, then a policy close. Raw on purpose: the helpers connect to
        # the host they name, and this one connects to 127.0.0.1 under another name.
        url = f"ws://evil.example:{port}/ws/projects/tickets/annotate?annotator=alice"
        async with connect(url, host="127.0.0.1", port=int(port)) as ws:  # a rebound name
            frame = orjson.loads(await ws.recv())
            assert (frame["type"], frame["code"]) == ("error", "invalid_host")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_allow_host_adds_a_proxys_name(settings):
    proxied = dataclasses.replace(settings, allow_host=("labels.example.com", "*.corp.test"))
    async with running(proxied) as service:
        for host, status in [
            ("labels.example.com", 200),
            ("a.corp.test", 200),
            ("corp.test.evil.example", 400),
            ("evil.example", 400),
        ]:
            response = await service.http.get("/api/projects", headers={"host": host})
            assert response.status_code == status, host


async def test_sockets_from_another_origin_are_refused_before_anything_is_sent(settings):
    async with running(settings) as service:
        await service.create_project()
        await service.send_events("tickets", [{"id": "e1", "data": ticket("bug", 1)}])
        for refused in (
            annotator(service.base, "tickets", "mallory", origin=EVIL),
            dashboard(service.base, "tickets", origin=EVIL),
        ):
            async with refused as socket:
                frame = await socket.recv()  # the first frame: nothing was sent before it
                assert (frame["type"], frame["code"]) == ("error", "forbidden_origin")
                with pytest.raises(ConnectionClosed) as closed:
                    await socket.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        # Its own origin may.
        async with annotator(service.base, "tickets", "alice", origin=service.base) as socket:
            assert (await socket.recv())["type"] == "hello"
            assert (await socket.recv())["type"] == "item"
        assert (await service.metrics("tickets"))["labels_total"] == 0


async def test_an_allowed_origin_gets_cors_and_no_other_does(settings):
    allowed = "https://labels.example.com"
    opened = dataclasses.replace(settings, allow_origin=(allowed,))
    async with running(opened) as service:
        preflight = await service.http.options(
            "/api/projects",
            headers={
                "origin": allowed,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type, authorization",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == allowed
        created = await service.http.post(
            "/api/projects", json=project_spec(), headers={"origin": allowed}
        )
        assert created.status_code == 201, created.text
        assert created.headers["access-control-allow-origin"] == allowed
        refused = await service.http.options(
            "/api/projects",
            headers={"origin": EVIL, "access-control-request-method": "POST"},
        )
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers


async def test_pages_and_static_files_carry_the_security_headers(settings):
    async with running(settings) as service:
        for path in ("/", "/static/annotate.html", "/static/annotate.js", "/api/projects"):
            response = await service.http.get(path)
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
            assert "unsafe-inline" not in policy
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
        # Refusals too.
        refused = await service.http.get("/", headers={"host": "evil.example"})
        assert refused.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "value", ["https://labels.example.com", "labels.example.com:443", "a/b", "", "[::1]"]
)
def test_an_allow_host_that_could_never_match_is_refused_at_start(value):
    with pytest.raises(ValueError, match="is not a host name"):
        check_hosts(Settings(allow_host=(value,)))


def test_hosts_a_server_answers_to():
    loopback = Hosts.of(Settings(host="127.0.0.1"))
    assert loopback.allows("localhost") and loopback.allows("::1")
    assert loopback.allows("192.0.2.7")  # an address is never a rebound name
    assert not loopback.allows("localhost.evil.example")
    assert Hosts.of(Settings(host="labels.internal")).allows("labels.internal")
    assert Hosts.of(Settings(host="0.0.0.0", allow_host=("*",))).allows("anything.example")
