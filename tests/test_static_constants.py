"""The home page's copies of the server's lists (static/index.js, static/index.html) are the
server's: no endpoint lists the strategies and models, so the page keeps its own, and this
test keeps them from drifting."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from streamloop.online import (
    DEFAULT_MULTILABEL_STRATEGY,
    DEFAULT_SPAN_STRATEGY,
    DEFAULT_STRATEGY,
    MULTILABEL_PRESETS,
    MULTILABEL_STRATEGIES,
    PRESETS,
    SPAN_STRATEGIES,
    STRATEGIES,
    TASKS,
)
from streamloop.online.multilabel import UNSUPPORTED_PAIRS

STATIC = Path(__file__).resolve().parent.parent / "static"


def constant(name: str) -> Any:
    """index.js's `const NAME = <JSON>;`, read as JSON."""
    source = (STATIC / "index.js").read_text(encoding="utf-8")
    found = re.search(rf"^const {name} = (.*?);$", source, re.MULTILINE | re.DOTALL)
    assert found, f"index.js has no `const {name} = ...;`"
    return json.loads(found.group(1))


def options(select: str) -> list[str]:
    """The options of index.html's `<select name=...>`, in order."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    found = re.search(rf'<select name="{select}">(.*?)</select>', html, re.DOTALL)
    assert found, f'index.html has no <select name="{select}">'
    return [
        value or text
        for value, text in re.findall(r'<option(?: value="([^"]*)")?>([^<]*)</option>', found[1])
    ]


def test_the_strategies_are_the_servers_with_each_tasks_default_first():
    strategies = constant("STRATEGIES")
    assert set(strategies) == {"classify", "multilabel", "spans"}
    assert sorted(strategies["classify"]) == sorted(STRATEGIES)
    assert sorted(strategies["multilabel"]) == sorted(MULTILABEL_STRATEGIES)
    assert sorted(strategies["spans"]) == sorted(SPAN_STRATEGIES)
    for task, listed in strategies.items():
        assert len(set(listed)) == len(listed), task
    assert strategies["classify"][0] == DEFAULT_STRATEGY
    assert strategies["multilabel"][0] == DEFAULT_MULTILABEL_STRATEGY
    assert strategies["spans"][0] == DEFAULT_SPAN_STRATEGY
    # The form starts on classify, with its strategies as the script lists them.
    assert options("task")[0] == "classify"
    assert options("strategy") == strategies["classify"]


def test_the_models_are_the_servers():
    assert options("model") == list(PRESETS)
    assert constant("MULTILABEL_MODELS") == list(MULTILABEL_PRESETS)
    # A span project's model is its tagger, over the logistic regression preset alone.
    assert constant("SPAN_MODELS") == ["logistic_regression"]
    assert constant("SPAN_INPUTS") == ["text"]


def test_the_form_offers_each_task_the_server_knows():
    assert options("task") == list(TASKS)


def test_the_pairs_refused_in_a_multilabel_project_are_the_servers():
    assert constant("MULTILABEL_UNSUPPORTED") == {
        f"{model}:{input_kind}": why for (model, input_kind), why in UNSUPPORTED_PAIRS.items()
    }


def test_the_forms_bound_on_challengers_is_the_servers():
    from streamloop.ws.payloads import MAX_CHALLENGERS

    assert constant("MAX_CHALLENGERS") == MAX_CHALLENGERS
