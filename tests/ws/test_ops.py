"""Operations endpoints and the static page."""

from __future__ import annotations

from support import ticket


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


async def test_the_home_page_is_served(service):
    response = await service.http.get("/")
    assert response.status_code == 200 and "streamloop" in response.text
    script = await service.http.get("/static/annotate.js")
    assert script.status_code == 200
