"""``GET /api/models`` and projects that name a plugin's model."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamloop.online import plugins
from support import ACME_PLUGINS, Service, plugin_distribution, ticket

PREPARED = """
import threading
from river import naive_bayes
from streamloop.online.features import OrderedTFIDF
from streamloop.online.plugins import model_plugin

seen = []

def prepare(rows):
    seen.append((threading.current_thread() is threading.main_thread(), [r["text"] for r in rows]))

@model_plugin(input_kinds=["text"], prepare=prepare)
def prepared(*, labels, task, input_kind, seed):
    return OrderedTFIDF(on="text") | naive_bayes.MultinomialNB()
"""

SLOW = """
import sys, threading
from streamloop.online.features import OrderedTFIDF
from streamloop.online.plugins import model_plugin
from river import naive_bayes

# Held shut in the test's process until the test opens it; open in the check's own process.
gate = threading.Event()
if "pytest" not in sys.modules:
    gate.set()

@model_plugin(input_kinds=["text"])
def slow(*, labels, task, input_kind, seed):
    assert gate.wait(60), "the test never opened the gate"
    return OrderedTFIDF(on="text") | naive_bayes.MultinomialNB()
"""


@pytest.fixture(autouse=True)
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = tmp_path / "site"
    root.mkdir()
    plugin_distribution(
        root, "acme-models", ACME_PLUGINS, {"words": "words", "bad": "overconfident"}
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    )
    plugins.forget()
    yield
    plugins.forget()


async def test_the_model_list_names_presets_and_plugins_with_their_checks(service: Service):
    # Checked here first: a check that outlasts the listing's wait is listed as pending.
    plugins.load("acme_models:words")
    with pytest.raises(plugins.PluginRefused):
        plugins.load("acme_models:bad")
    response = await service.http.get("/api/models")
    assert response.status_code == 200, response.text
    models = {model["name"]: model for model in response.json()["models"]}
    assert models["naive_bayes"]["source"] == "preset"
    assert models["acme_models:words"]["usable"] is True
    assert models["acme_models:bad"]["usable"] is False
    assert models["acme_models:bad"]["refused"]["check"] == "probabilities"


async def test_a_project_names_a_plugin_and_is_served_by_it(service: Service):
    # Checked here first: the client's timeout is shorter than a check on a busy machine.
    await asyncio.to_thread(plugins.load, "acme_models:words")
    project = await service.create_project(model="acme_models:words")
    assert project["model"] == "acme_models:words"
    events = [
        {"id": f"t-{n}", "data": ticket(label, n)}
        for n, label in enumerate(["billing", "bug", "other"] * 4)
    ]
    await service.send_events("tickets", events)
    labels = [
        {"event_id": f"t-{n}", "label": label}
        for n, label in enumerate(["billing", "bug", "other"] * 4)
    ]
    response = await service.http.post("/api/projects/tickets/labels", json={"labels": labels})
    assert response.status_code == 200, response.text
    predicted = await service.http.post(
        "/api/projects/tickets/predict", json={"data": ticket("bug", 99)}
    )
    assert predicted.json()["model_version"] == len(events)
    runtime = service.core.project("tickets")
    assert runtime.model.preset == "acme_models:words"


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"model": "acme_models:bad"}, "model: model 'acme_models:bad' is refused: probabilities:"),
        ({"model": "acme_models:nothing"}, "unknown model; one of ["),
        (
            {"model": "acme_models:words", "input": "tabular"},
            "input: it reads text items, not tabular",
        ),
        (
            {"model": "acme_models:words", "task": "multilabel"},
            "a plugin's model serves classify projects",
        ),
    ],
)
async def test_a_project_cannot_name_a_refused_unknown_or_unfitting_plugin(
    service: Service, overrides: dict, said: str
):
    response = await service.http.post(
        "/api/projects",
        json={"name": "tickets", "labels": ["bug", "billing"], "input": "text", **overrides},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert said in response.json()["error"]["message"]
    assert (await service.http.get("/api/projects")).json()["projects"] == []


async def test_a_plugin_still_being_checked_is_listed_as_pending(service: Service, tmp_path: Path):
    root = tmp_path / "slow"
    root.mkdir()
    plugin_distribution(root, "slow-models", SLOW, {"slow": "slow"})
    sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root), os.environ["PYTHONPATH"]])
    plugins.forget()  # installed while running: read the plugins again
    try:
        listed = (await service.http.get("/api/models")).json()["models"]
        slow = next(model for model in listed if model["name"] == "slow_models:slow")
        assert slow["usable"] is False and slow["refused"]["check"] == "pending"
        import slow_models  # type: ignore[import-not-found]

        slow_models.gate.set()
        await asyncio.to_thread(plugins.load, "slow_models:slow")  # the check, once done
        listed = (await service.http.get("/api/models")).json()["models"]
        slow = next(model for model in listed if model["name"] == "slow_models:slow")
        assert slow["usable"] is True, slow
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("slow_models", None)
        plugins.forget()


async def test_a_plugins_preparation_runs_off_the_event_loop_before_scoring(
    service: Service, tmp_path: Path
):
    root = tmp_path / "prepared"
    root.mkdir()
    plugin_distribution(root, "prep-models", PREPARED, {"prepared": "prepared"})
    sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root), os.environ["PYTHONPATH"]])
    plugins.forget()  # installed while running: read the plugins again
    try:
        # Checked here first: the client's timeout is shorter than a check on a busy machine.
        await asyncio.to_thread(plugins.load, "prep_models:prepared")
        await service.create_project(model="prep_models:prepared")
        import prep_models  # type: ignore[import-not-found]

        prep_models.seen.clear()  # the contract check prepared nothing, but be sure
        events = [{"id": f"e{n}", "data": {"text": f"item {n}", "other": n}} for n in range(3)]
        await service.send_events("tickets", events)
        await service.http.post("/api/projects/tickets/predict", json={"data": {"text": "one"}})
        # In a thread, with the items as the model reads them (the text alone).
        assert prep_models.seen == [
            (False, ["item 0", "item 1", "item 2"]),
            (False, ["one"]),
        ]
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("prep_models", None)
        plugins.forget()
