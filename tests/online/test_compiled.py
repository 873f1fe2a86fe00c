"""The compiled learning steps: which models use them, and learning where numba cannot cache."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streamloop.online import OnlineModel, compiled
from streamloop.online.spans import SpanModel


@pytest.mark.parametrize(
    ("preset", "input_kind", "uses"),
    [
        ("logistic_regression", "text", True),  # its shadow heads
        ("logistic_regression", "tabular", True),
        ("hoeffding_tree", "tabular", True),  # the tabular front's scaler
        ("naive_bayes", "text", False),
        ("hoeffding_tree", "text", False),
    ],
)
def test_a_model_uses_compiled_steps_when_it_holds_a_part_with_them(
    preset: str, input_kind: str, uses: bool
) -> None:
    model = OnlineModel(labels=["a", "b"], input_kind=input_kind, preset=preset, strategy="margin")
    assert compiled.uses_compiled(model) is uses


def test_a_span_model_and_a_challenger_are_looked_into() -> None:
    assert compiled.uses_compiled(SpanModel(labels=["PER"]))
    served = OnlineModel(
        labels=["a", "b"],
        input_kind="text",
        preset="naive_bayes",
        strategy="margin",
        challengers=["logistic_regression"],
    )
    assert compiled.uses_compiled(served)


_LEARN = """
from streamloop.online import OnlineModel
model = OnlineModel(
    labels=["a", "b"], input_kind="tabular", preset="logistic_regression", strategy="margin"
)
for n in range(20):
    model.learn({"x": float(n), "y": float(n % 3)}, "ab"[n % 2])
print(model.predict({"x": 3.0, "y": 1.0}).label)
"""


def test_without_a_writable_cache_each_process_compiles_and_learns() -> None:
    # numba's caches: none but the user's, under a directory that cannot be made.
    env = os.environ | {
        "NUMBA_CACHE_LOCATOR_CLASSES": "UserWideCacheLocator",
        "XDG_CACHE_HOME": "/proc/streamloop-no-cache",
    }
    done = subprocess.run(
        [sys.executable, "-c", _LEARN], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in {"a", "b"}
    assert "compiled by this process: no cache" in done.stderr


_DECODE = """
from streamloop.online import compiled
from streamloop.online.spans import SpanModel
assert not compiled.loaded()
compiled.load()
assert compiled.loaded()
model = SpanModel(labels=["PER", "LOC"])
model.learn({"text": "Ana went to Oslo"}, [{"start": 0, "end": 3, "label": "PER"}])
model.predict({"text": "Bo met Ana"})  # one text: one chain
model.predict_many([{"text": "Ana in Oslo"}, {"text": "Oslo"}, {"text": "to Bo"}])
print(len(compiled.kernels().decode_chains.signatures))
"""


def test_decoding_runs_the_compiled_passes_loaded_at_start() -> None:
    # A fresh process: the passes `load` took (from the cache) are the ones every decode
    # runs, alone or in a batch; any other argument layout would be compiled again, then.
    done = subprocess.run(
        [sys.executable, "-c", _DECODE], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
