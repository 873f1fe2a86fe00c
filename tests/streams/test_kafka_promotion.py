"""Promotion scaled out: the worker that learns the project promotes its challenger, stores the
new roles and publishes the version; serve answers once it serves it, and every worker scoring
events swaps it in, scoring with the promoted model.

Real services, as in test_kafka_quarantine.py: the test broker, PostgreSQL, ``streamloop serve``
and ``streamloop worker`` processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kafka_cluster import Cluster, event
from support import dashboard, project_spec, ticket

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

LABELS = ("billing", "bug", "other")
COUNT = 12
EVENTS = [{"id": f"e{n}", "data": ticket(LABELS[n % 3], n)} for n in range(COUNT)]
PROBES = [ticket(label, 1000 + n) for n in range(3) for label in LABELS]


async def _predict(http: httpx.AsyncClient, project: str, data: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(f"/api/projects/{project}/predict", json={"data": data})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _probabilities(http: httpx.AsyncClient, project: str) -> list[Any]:
    return [(await _predict(http, project, data))["probabilities"] for data in PROBES]


async def _roles(http: httpx.AsyncClient) -> tuple[str, list[str]]:
    """The model serving "tickets" and its challengers, as its record says."""
    project = (await http.get("/api/projects/tickets")).json()
    return project["model"], project["challengers"]


async def _scorers(
    cluster: Cluster, start: int, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, dict[str, Any]]:
    """Events of "tickets" keyed over every partition, so both workers score some, until
    each has scored one it is ``wanted`` to; by worker, the first such scored record."""
    by_worker: dict[str, dict[str, Any]] = {}
    for n in range(start, start + 400):
        await cluster.produce([event(n)])
        record = await cluster.next_scored()
        if record["project"] == "tickets" and record["origin"] == "worker" and wanted(record):
            by_worker.setdefault(record["worker"], record)
        if len(by_worker) == 2:
            break
    return by_worker


async def _served(base: str, project: str, version: int) -> None:
    """Once serve's model of ``project`` is ``version`` (its metrics are pushed on change)."""
    async with dashboard(base, project) as socket:
        while (await socket.expect("metrics"))["model_version"] < version:
            pass


async def _teach(http: httpx.AsyncClient, base: str, project: str) -> None:
    """The same production labels, in the same order, one request each."""
    posted = await http.post(f"/api/projects/{project}/events", json={"events": EVENTS})
    assert posted.status_code == 200, posted.text
    for n in range(COUNT):
        body = {"labels": [{"event_id": f"e{n}", "label": LABELS[n % 3], "label_id": f"l{n}"}]}
        learned = await http.post(f"/api/projects/{project}/labels", json=body)
        assert learned.status_code == 200, learned.text
        assert "error" not in learned.json()["results"][0], learned.text
    await _served(base, project, COUNT)


async def test_workers_score_with_the_promoted_model(cluster: Cluster):
    serve = await cluster.start_serve()
    async with httpx.AsyncClient(base_url=serve.base, timeout=60.0) as http:
        # The same labels, seed and rehearsal (a project's, its challengers' too: "nb" would
        # default to naive_bayes's none), so "nb" learns as the challenger does.
        alike = {"exploration": 0.0, "seed": 7, "rehearsal": 3}
        specs = [
            project_spec("tickets", challengers=["naive_bayes"], **alike),
            project_spec("nb", model="naive_bayes", **alike),
        ]
        for spec in specs:
            created = await http.post("/api/projects", json=spec)
            assert created.status_code == 201, created.text
        first, second = cluster.start_worker(), cluster.start_worker()
        # Both in the group before any label: a rebalance after the promotion would hand the
        # project to the other worker, which could publish the promoted snapshot by itself.
        assert len(await _scorers(cluster, 0, lambda record: True)) == 2

        for project in ("tickets", "nb"):
            await _teach(http, serve.base, project)
        naive = await _probabilities(http, "nb")
        assert await _probabilities(http, "tickets") != naive  # logistic regression serves

        promoted = await http.post("/api/projects/tickets/models/naive_bayes/promote", json={})
        assert promoted.status_code == 200, promoted.text
        assert promoted.json() == {
            "model": "naive_bayes",
            "model_version": COUNT + 1,
            "challengers": ["logistic_regression"],
        }
        # serve answers with the promoted model from the next request.
        assert await _probabilities(http, "tickets") == naive
        assert (await _predict(http, "tickets", PROBES[0]))["model_version"] == COUNT + 1
        assert await _roles(http) == ("naive_bayes", ["logistic_regression"])
        models = (await http.get("/api/projects/tickets/metrics")).json()["models"]
        assert list(models) == ["naive_bayes", "logistic_regression"]
        assert models["naive_bayes"]["serving"] and not models["logistic_regression"]["serving"]

        # Events keyed over every partition, so both workers score some: each scores with the
        # promoted version, and with the promoted model's probabilities.
        by_worker = await _scorers(cluster, 1000, lambda r: r["model_version"] >= COUNT + 1)
        assert len(by_worker) == 2, f"not every worker scored with the promoted model: {by_worker}"
        for record in by_worker.values():
            expected = await _predict(http, "nb", record["data"])
            assert record["probabilities"] == expected["probabilities"], record
            assert record["prediction"] == expected["prediction"], record
        assert first.process.poll() is None and second.process.poll() is None

        # The model serving, promoted again, changes nothing; an unknown model is the worker's
        # 404, travelled back.
        same = await http.post("/api/projects/tickets/models/naive_bayes/promote", json={})
        assert same.status_code == 200, same.text
        assert same.json()["model_version"] == COUNT + 1
        missing = await http.post("/api/projects/tickets/models/hoeffding_tree/promote", json={})
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"]["code"] == "unknown_model"
        assert await _roles(http) == ("naive_bayes", ["logistic_regression"])
