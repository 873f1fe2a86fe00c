"""Operations endpoints and the static page."""

from __future__ import annotations

import gc

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from support import RECEIVE_TIMEOUT, ServeProcess, annotator, project_spec, ticket


async def test_health_and_readiness(service):
    assert (await service.http.get("/healthz")).json() == {"status": "ok"}
    ready = await service.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_prometheus_metrics_count_the_loop(service):
    await service.create_project()
    await service.send_events("tickets", [{"id": "a", "data": ticket("bug", 1)}])
    response = await service.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'streamloop_events_total{project="tickets"} 1.0' in text
    assert 'streamloop_queue_depth{project="tickets"} 1.0' in text
    assert 'streamloop_model_version{project="tickets"} 0.0' in text
    assert 'streamloop_drift_state{project="tickets"} 0.0' in text
    assert 'streamloop_drifts_total{project="tickets"} 0.0' in text


async def test_journal_writes_dropped_are_counted_where_an_operator_looks(service):
    # The journal's own test drops entries for real (tests/store); this one follows the count
    # to the two places it is read.
    await service.create_project()
    figures = (await service.http.get("/api/projects/tickets/metrics")).json()
    assert figures["journal_dropped_total"] == 0
    service.core.journal.dropped = 7
    figures = (await service.http.get("/api/projects/tickets/metrics")).json()
    assert figures["journal_dropped_total"] == 7
    assert "streamloop_journal_dropped_total 7.0" in (await service.http.get("/metrics")).text


async def test_the_home_page_is_served(service):
    response = await service.http.get("/")
    assert response.status_code == 200 and "streamloop" in response.text
    script = await service.http.get("/static/annotate.js")
    assert script.status_code == 200


async def test_latencies_are_histograms_by_route_and_project(service):
    await service.create_project()
    await service.send_events(
        "tickets", [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
    )
    async with service.annotator("tickets", "alice") as alice:
        for n in range(2):
            item = (await alice.next_item())["item"]["id"]
            assert (await alice.label(item, "bug", f"l{n}"))["type"] == "ack"
    text = (await service.http.get("/metrics")).text
    events = 'method="POST",route="/api/projects/{project}/events",status="200"'
    assert f"streamloop_http_request_seconds_count{{{events}}} 1.0" in text
    assert 'streamloop_label_ack_seconds_count{project="tickets"} 2.0' in text
    assert 'streamloop_label_ack_seconds_bucket{le="+Inf",project="tickets"} 2.0' in text


async def test_a_request_id_comes_back_and_is_made_when_missing(service):
    given = await service.http.get("/healthz", headers={"x-request-id": "client-42"})
    assert given.headers["x-request-id"] == "client-42"
    made = await service.http.get("/api/projects/nope")
    assert made.status_code == 404 and len(made.headers["x-request-id"]) == 16


async def test_json_logs_carry_request_and_label_ids(tmp_path):
    server = ServeProcess(
        ["--data-dir", str(tmp_path), "--log-level", "info"], {"STREAMLOOP_LOG_FORMAT": "json"}
    )
    try:
        await server.ready()
        async with server.http() as http:
            headers = {"x-request-id": "req-7"}
            await http.post("/api/projects", json=project_spec(), headers=headers)
            async with annotator(server.base, "tickets", "alice") as socket:
                refused = await socket.label("no-such-item", "bug", "label-9")
                assert refused["code"] == "unknown_item"
            assert (await http.get("/readyz")).status_code == 200  # logged after the label's
    finally:
        assert server.kill() == 0
    lines = [orjson.loads(line) for line in server.output if line.startswith("{")]
    created = [e for e in lines if e.get("request_id") == "req-7"]
    # The access line, and the project's own line logged while creating it.
    assert any(e["message"].startswith("POST /api/projects 201") for e in created)
    assert any(e["message"].startswith("project tickets:") for e in created)
    refusal = [e for e in lines if e.get("label_id") == "label-9"]
    assert refusal and "unknown_item" in refusal[0]["message"]
    assert {"ts", "level", "logger", "message"} <= set(refusal[0])


async def test_garbage_collector_pauses_are_histograms_by_generation(service):
    response = await service.http.get("/metrics")
    before = gc_figures(response.text)
    gc.collect()  # a full collection: generation 2
    after = gc_figures((await service.http.get("/metrics")).text)
    assert after["count", "2"] == before["count", "2"] + 1
    assert after["sum", "2"] > before["sum", "2"]
    # One more in the first bucket its pause fits in, and in each above it (cumulative).
    bounds = [key[2] for key in after if key[:2] == ("bucket", "2")]  # ascending, +Inf last
    grown = [after["bucket", "2", le] - before["bucket", "2", le] for le in bounds]
    assert bounds[-1] == "+Inf" and grown[-1] == 1
    assert grown == sorted(grown) and set(grown) <= {0, 1}
    # Never frozen here: the tests' process is not `streamloop serve`.
    assert "streamloop_gc_frozen_objects 0.0" in response.text


@pytest.mark.slow
@pytest.mark.parametrize("freeze", ["1", "0"])
async def test_serve_freezes_what_start_up_made_unless_told_not_to(tmp_path, freeze):
    # `streamloop serve` leaves what start-up made out of the collector's later walks (and a
    # project's model once it opens): hundreds of thousands of objects a full collection
    # would walk each time. The count is read where an operator looks.
    server = ServeProcess(
        ["--data-dir", str(tmp_path), "--log-level", "warning"], {"STREAMLOOP_GC_FREEZE": freeze}
    )
    try:
        await server.ready()
        async with httpx.AsyncClient(base_url=server.base, timeout=RECEIVE_TIMEOUT) as http:
            started = frozen((await http.get("/metrics")).text)
            (await http.post("/api/projects", json=project_spec())).raise_for_status()
            opened = frozen((await http.get("/metrics")).text)
    finally:
        server.kill()
    if freeze == "1":
        assert 10_000 < started < opened
    else:
        assert started == opened == 0


def gc_figures(prometheus: str) -> dict[tuple[str, ...], float]:
    """``streamloop_gc_pause_seconds``: (count|sum, generation) and (bucket, generation, le)."""
    return {
        (sample.name.rsplit("_", 1)[1], *sample.labels.values()): sample.value
        for sample in samples(prometheus, "streamloop_gc_pause_seconds")
    }


def frozen(prometheus: str) -> int:
    [sample] = samples(prometheus, "streamloop_gc_frozen_objects")
    return int(sample.value)


def samples(prometheus: str, family: str) -> list[Sample]:
    """The samples of one metric family in a ``/metrics`` answer, as Prometheus reads them."""
    return [
        sample
        for metric in text_string_to_metric_families(prometheus)
        if metric.name == family
        for sample in metric.samples
    ]
