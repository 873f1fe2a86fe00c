"""Models from installed packages: River pipelines offered through an entry-point group.

A package offers a model by naming a `ModelPlugin` (or a plain factory function) in the
``streamloop.models`` entry-point group of its metadata::

    [project.entry-points."streamloop.models"]
    char_ngrams = "streamloop_char_ngrams:char_ngrams"

The model is then named ``<distribution>:<entry point>`` (``streamloop_char_ngrams:char_ngrams``,
the distribution's name normalised to lower case and underscores), which no preset can take.
Only installed, registered factories can be used: the API names a model, it never names code.

Before a plugin serves a project it must pass the contract every preset passes (`check`): it
builds, learns and predicts; its probabilities are over the project's labels and sum to 1; two
copies built with one seed that learned the same labels pickle to the same bytes (what a
rebuild checks against, and what a replay must reproduce); a snapshot read back predicts and
learns on exactly as the original; and batch scoring, if it claims it, equals one at a time.
A plugin that fails is refused with the check it failed, and listed with it
(`GET /api/models`).

Listing the registered names reads package metadata only; a plugin's code is imported, and
checked, the first time it is asked for, once per process.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

__all__ = [
    "ENTRY_POINT_GROUP",
    "ModelInfo",
    "ModelPlugin",
    "PluginRefused",
    "build_model",
    "check",
    "checked",
    "forget",
    "is_known",
    "load",
    "model_plugin",
    "models",
    "plugin_names",
    "preparers",
    "usable_for",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "streamloop.models"

#: The tasks a plugin's classifier can serve. A multi-label project shares one front between a
#: binary model per label, and a spans project is a tagger: neither takes a whole pipeline.
PLUGIN_TASKS: tuple[str, ...] = ("classify",)

_INPUT_KINDS = ("text", "tabular")


@dataclass(frozen=True)
class ModelPlugin:
    """A model a package offers: a factory of untrained River pipelines and what it serves.

    Attributes
    ----------
    build
        Called as ``build(labels=..., task=..., input_kind=..., seed=...)`` for each new
        model: the project's labels (a tuple of str, in order), ``"classify"``, ``"text"`` or
        ``"tabular"`` (a text item arrives as ``{"text": ...}``; a tabular one as a flat dict
        of floats, booleans and strings), and the seed to draw any random numbers from.
        Returns an untrained classifier with ``learn_one(x, label)`` and
        ``predict_proba_one(x)``.
    input_kinds
        The input kinds it reads.
    description
        A line the project form and ``GET /api/models`` show.
    batch
        Whether ``predict_proba_many`` (a pandas data frame of items) scores a batch faster
        than one at a time; then streamloop scores batches of events with it, and the
        contract holds it equal to ``predict_proba_one``.
    prepare
        Slow work the server does in a thread, off its event loop, before it scores a batch
        of items (and before ``/predict``): called with the items as the model reads them,
        it may compute and keep what scoring them needs (a sentence encoder's vectors, in a
        cache of the plugin's own), so that scoring, re-scoring and learning on the event
        loop are quick. Its result is ignored; it must not change the model.
    """

    build: Callable[..., Any]
    input_kinds: tuple[str, ...] = _INPUT_KINDS
    description: str = ""
    batch: bool = False
    prepare: Callable[[Sequence[Mapping[str, Any]]], None] | None = None

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.input_kinds if kind not in _INPUT_KINDS]
        if unknown or not self.input_kinds:
            raise ValueError(f"input_kinds: each one of {list(_INPUT_KINDS)}, got {unknown}")


def model_plugin(
    *,
    input_kinds: Sequence[str] = _INPUT_KINDS,
    description: str = "",
    batch: bool = False,
    prepare: Callable[[Sequence[Mapping[str, Any]]], None] | None = None,
) -> Callable[[Callable[..., Any]], ModelPlugin]:
    """Make a factory function a `ModelPlugin` (the docstring's first line describes it,
    unless ``description`` does).

    Examples
    --------
    >>> @model_plugin(input_kinds=["text"])
    ... def bag_of_words(*, labels, task, input_kind, seed):
    ...     '''Word counts and naive Bayes.'''
    ...     from river import feature_extraction, naive_bayes
    ...     return feature_extraction.BagOfWords(on="text") | naive_bayes.MultinomialNB()
    >>> bag_of_words.input_kinds, bag_of_words.description
    (('text',), 'Word counts and naive Bayes.')
    """

    def make(build: Callable[..., Any]) -> ModelPlugin:
        return ModelPlugin(
            build=build,
            input_kinds=tuple(input_kinds),
            description=description or _first_line(build.__doc__),
            batch=batch,
            prepare=prepare,
        )

    return make


class PluginRefused(ValueError):
    """A model that cannot serve: not installed, not loadable, or failing ``check`` (the
    contract check it failed, such as ``"snapshot"``) for ``why``."""

    def __init__(self, name: str, check: str, why: str) -> None:
        said = f"{check}: {why}"
        super().__init__(f"model {name!r} is refused: {said}" if name else said)
        self.name = name
        self.check = check
        self.why = why


@dataclass(frozen=True)
class ModelInfo:
    """One model a project may name, as ``GET /api/models`` lists it."""

    name: str
    source: str  # "preset" or "plugin"
    input_kinds: tuple[str, ...]
    tasks: tuple[str, ...]
    description: str = ""
    distribution: str | None = None
    version: str | None = None
    refused: dict[str, str] | None = field(default=None)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "input_kinds": list(self.input_kinds),
            "tasks": list(self.tasks),
            "description": self.description,
            "distribution": self.distribution,
            "version": self.version,
            "usable": self.refused is None,
            "refused": self.refused,
        }


# The loaded plugin, or why it was refused, by `_key`: checked once per process and
# installation (a distribution installed again elsewhere, as tests do, is checked again).
_checked: dict[tuple[str, str, str], ModelPlugin | PluginRefused] = {}
# One lock per plugin while it is checked, so that checking one holds no other up.
_checking_locks: dict[tuple[str, str, str], threading.Lock] = {}
_lock = threading.Lock()
# The checks `models` started and has not seen end: a plugin whose model takes seconds to
# load (a sentence encoder) must not hold a listing up that long.
_checking: dict[tuple[str, str, str], Future[ModelPlugin]] = {}

#: How long `models` waits for the checks it starts before it lists those still under way as
#: ``pending``.
LIST_WAIT = 2.0


# The installed plugins by model name, read once for a given import path (scanning every
# distribution's metadata takes milliseconds); `forget`, or a change of ``sys.path``, reads
# them again.
_installed: dict[str, metadata.EntryPoint] | None = None
_installed_for: tuple[str, ...] = ()


def _entry_points() -> dict[str, metadata.EntryPoint]:
    global _installed, _installed_for
    found = _installed
    path = tuple(sys.path)
    if found is None or path != _installed_for:
        found = {}
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry.dist.name if entry.dist is not None else "unknown"
            name = f"{_normalised(dist)}:{entry.name}"
            # Two copies of one distribution on the path: the first wins, as imports do.
            found.setdefault(name, entry)
        _installed, _installed_for = found, path
    return found


def plugin_names() -> list[str]:
    """The installed plugins' model names, sorted; reads metadata only (no plugin code)."""
    return sorted(_entry_points())


def is_known(name: str) -> bool:
    """Whether ``name`` is a preset or an installed plugin (not whether it passes `check`)."""
    from streamloop.online.presets import PRESETS

    return name in PRESETS or name in _entry_points()


def _key(name: str) -> tuple[str, str, str] | None:
    """What a check's result is kept by: the name, its target, and where its distribution is
    installed; None when no installed package offers ``name``."""
    entry = _entry_points().get(name)
    if entry is None:
        return None
    return name, entry.value, str(getattr(entry.dist, "_path", ""))


def checked(name: str) -> ModelPlugin | None:
    """The plugin ``name`` if this process has checked it and it passed; None otherwise. Never
    runs a check: for the event loop (`load` it in a thread first)."""
    key = _key(name)
    found = _checked.get(key) if key is not None else None
    return found if isinstance(found, ModelPlugin) else None


def load(name: str) -> ModelPlugin:
    """The installed plugin ``name``, loaded and checked (once per process and installation).

    Raises
    ------
    PluginRefused
        If it is not installed, does not load, or fails the contract (`check`).
    """
    key = _key(name)
    if key is None:
        raise PluginRefused(name, "installed", "no installed package offers it")
    with _lock:
        found = _checked.get(key)
        checking = _checking_locks.setdefault(key, threading.Lock())
    if found is None:
        with checking:
            found = _checked.get(key)
            if found is None:
                found = _load_and_check(name)
                with _lock:
                    _checked[key] = found
    if isinstance(found, PluginRefused):
        raise found
    return found


def forget() -> None:
    """Read the installed plugins again (after installing one while running), forgetting the
    checks of those no longer installed (a test's, taken off the path) and the checks under
    way; those installed keep theirs."""
    global _installed
    _installed = None
    installed = {_key(name) for name in _entry_points()}
    with _lock:
        for key in [key for key in _checked if key not in installed]:
            del _checked[key]
        _checking.clear()


def models(wait: float | None = None) -> list[ModelInfo]:
    """Every model a project may name: the presets, then each installed plugin, checked
    (importing and checking each plugin not checked yet in this process).

    With ``wait``, the checks not done yet run in a thread of their own, and a plugin whose
    check takes longer than ``wait`` seconds is listed refused with check ``pending`` (it is
    listed as checked once done)."""
    from streamloop.online.multilabel import MULTILABEL_PRESETS
    from streamloop.online.presets import INPUT_KINDS, PRESETS, describe

    listed = [
        ModelInfo(
            name=name,
            source="preset",
            input_kinds=INPUT_KINDS,
            tasks=("classify", "multilabel", "spans")
            if name == "logistic_regression"
            else ("classify", "multilabel")
            if name in MULTILABEL_PRESETS
            else ("classify",),
            description=describe(name),
        )
        for name in PRESETS
    ]
    plugins = sorted(_entry_points().items())
    if wait is not None:  # every check under way first, then one deadline for them all
        for name, _ in plugins:
            _check_in_background(name)
        deadline = time.monotonic() + wait
    for name, entry in plugins:
        dist = entry.dist
        refused: dict[str, str] | None = None
        input_kinds: tuple[str, ...] = ()
        description = ""
        try:
            if wait is None:
                loaded = load(name)
            else:
                loaded = _load_within(name, max(0.0, deadline - time.monotonic()))
        except PluginRefused as refusal:
            refused = {"check": refusal.check, "why": refusal.why}
        except TimeoutError:
            refused = {
                "check": "pending",
                "why": "its contract check is under way (loading its model may take seconds): "
                "ask again shortly",
            }
        else:
            input_kinds, description = loaded.input_kinds, loaded.description
        listed.append(
            ModelInfo(
                name=name,
                source="plugin",
                input_kinds=input_kinds,
                tasks=PLUGIN_TASKS,
                description=description,
                distribution=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
                refused=refused,
            )
        )
    return listed


def _check_in_background(name: str) -> Future[ModelPlugin] | None:
    """The check of ``name`` under way in the checkers' threads (started if need be), or None
    when it is done (or nothing offers ``name``)."""
    key = _key(name)
    if key is None:
        return None
    with _lock:
        if key in _checked:
            return None
        future = _checking.get(key)
        if future is None:
            future = _checking[key] = Future()
            # A thread of its own, not waited for at exit: a slow check (a model to load)
            # neither holds another up nor a server that stops.
            thread = threading.Thread(
                target=_check_into, args=(name, future), name="plugin-check", daemon=True
            )
            _threads.append(thread)
            thread.start()
        return future


# Check threads, waited for at exit: a check stopped in the middle of native code (PyTorch
# loading a model) as the interpreter ends aborts the process.
_threads: list[threading.Thread] = []


def _exiting() -> bool:
    """Whether the program is ending (its main thread has stopped): a check still running
    then fails for that reason (a library that starts a thread, as PyTorch does, cannot), not
    the plugin's, and saying it was refused would mislead."""
    return not threading.main_thread().is_alive()


@atexit.register
def _let_checks_end() -> None:
    for thread in _threads:
        thread.join(_ELSEWHERE_TIMEOUT)


def _check_into(name: str, future: Future[ModelPlugin]) -> None:
    try:
        future.set_result(load(name))
    except BaseException as error:  # handed to whoever waits for it
        future.set_exception(error)


def _load_within(name: str, wait: float) -> ModelPlugin:
    """`load`, its check run in the checkers' threads, waiting at most ``wait`` seconds for
    it (TimeoutError)."""
    future = _check_in_background(name)
    if future is None:
        return load(name)
    try:
        return future.result(timeout=wait)
    except FuturesTimeout:
        raise TimeoutError(name) from None
    finally:
        if future.done():
            with _lock:
                for key, running in list(_checking.items()):
                    if running is future:
                        del _checking[key]


def usable_for(name: str, *, task: str, input_kind: str) -> None:
    """Raise `PluginRefused` (or ValueError for an unknown name) unless ``name`` can serve a
    ``task`` project of ``input_kind`` items. Presets are left to the project's own checks."""
    from streamloop.online.presets import PRESETS

    if name in PRESETS:
        return
    if name not in _entry_points():
        raise ValueError(f"unknown model {name!r}; GET /api/models lists those installed")
    loaded = load(name)
    if task not in PLUGIN_TASKS:
        raise PluginRefused(
            name, "task", f"plugins serve {', '.join(PLUGIN_TASKS)} projects, not {task}"
        )
    if input_kind not in loaded.input_kinds:
        raise PluginRefused(
            name,
            "input",
            f"it reads {' or '.join(loaded.input_kinds)} items, not {input_kind}",
        )


def preparers(names: Sequence[str]) -> list[Callable[[Sequence[Mapping[str, Any]]], None]]:
    """The `ModelPlugin.prepare` of each of ``names`` that has one and is checked (presets
    have none); runs no check (`checked`)."""
    found = []
    for name in names:
        plugin = checked(name) if ":" in name else None
        if plugin is not None and plugin.prepare is not None:
            found.append(plugin.prepare)
    return found


def build_model(name: str, *, labels: Sequence[str], input_kind: str, seed: int) -> Any:
    """An untrained pipeline of the preset or plugin ``name`` for a classify project.

    Raises
    ------
    ValueError
        If ``name`` is neither a preset nor an installed plugin that passes `check` and reads
        ``input_kind`` items (`PluginRefused` then).
    """
    from streamloop.online.presets import PRESETS, build_pipeline

    if name in PRESETS or ":" not in name:
        return build_pipeline(name, input_kind, seed=seed)
    usable_for(name, task="classify", input_kind=input_kind)
    return load(name).build(labels=tuple(labels), task="classify", input_kind=input_kind, seed=seed)


def _load_and_check(name: str) -> ModelPlugin | PluginRefused:
    entry = _entry_points().get(name)
    if entry is None:
        return PluginRefused(name, "installed", "no installed package offers it")
    try:
        loaded = entry.load()
    except Exception as error:  # any import-time failure of someone else's package
        return PluginRefused(name, "load", f"importing {entry.value} raised {_said(error)}")
    if isinstance(loaded, ModelPlugin):
        found = loaded
    elif callable(loaded):
        found = ModelPlugin(build=loaded, description=_first_line(loaded.__doc__))
    else:
        return PluginRefused(
            name, "load", f"{entry.value} is a {type(loaded).__name__}, not a ModelPlugin"
        )
    try:
        check(found, entry.value)
    except PluginRefused as refused:
        if not _exiting():
            log.warning("model plugin %s refused: %s: %s", name, refused.check, refused.why)
        return PluginRefused(name, refused.check, refused.why)
    except Exception as error:  # the check itself failed: refused all the same, once
        if not _exiting():
            log.exception("checking model plugin %s failed", name)
        return PluginRefused(name, "check", f"the check failed: {_said(error)}")
    log.info("model plugin %s loaded from %s", name, entry.value)
    return found


# ---------------------------------------------------------------------------------------------
# The contract


#: Labels and items the contract trains on: three labels, so that a plugin that only handles
#: two, or answers with labels of its own, shows it.
_LABELS = ("alpha", "beta", "gamma")
_SEED = 7
_LEARN = 60
_MORE = 15
_PROBE = 20


def check(found: ModelPlugin | Callable[..., Any], where: str | None = None) -> None:
    """Hold a plugin to the contract the presets pass, for each input kind it reads.

    ``where`` is the plugin's ``module:attribute`` (found from its factory's module when not
    given): a fresh Python process with other string hashes builds and teaches it there too,
    and must pickle the same bytes, as a restarted server replaying the labels would.

    Raises
    ------
    PluginRefused
        Naming the first check failed: ``build``, ``learn``, ``predict``, ``probabilities``,
        ``snapshot``, ``replay`` or ``batch`` (its ``name`` is empty: the caller knows it).
    """
    if not isinstance(found, ModelPlugin):  # a plain factory function, as an entry point may be
        found = ModelPlugin(build=found, description=_first_line(found.__doc__))
    where = where or _where(found)
    if where is None:
        log.warning(
            "the plugin is defined where another process cannot import it (a script): its "
            "snapshots are not compared across processes here, as the server will compare "
            "them; check it installed, or pass where='module:attribute'"
        )
    for input_kind in found.input_kinds:
        digest = _check_kind(found, input_kind)
        if where is not None and _digest_elsewhere(where, input_kind) != digest:
            raise PluginRefused(
                "",
                "snapshot",
                f"{input_kind} items: the same labels learned in another Python process pickle "
                f"to different bytes: some state follows string hashes (a set's order turned "
                f"into a dict's or a list's?), so a replay after a restart would differ",
            )


def _where(found: ModelPlugin) -> str | None:
    # A plugin defined in a script (``__main__``) cannot be imported by another process: the
    # checks in this process are all it gets until it is installed.
    module = sys.modules.get(getattr(found.build, "__module__", "__main__"), None)
    if module is None or module.__name__ == "__main__":
        return None
    for attribute, value in vars(module).items():
        if value is found or value is found.build:
            return f"{module.__name__}:{attribute}"
    return None


def _digest_elsewhere(where: str, input_kind: str) -> str:
    """`_taught_digest` of the plugin at ``where``, computed in a fresh interpreter."""
    hash_seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    try:
        done = subprocess.run(
            # -P: the working directory is not on the path; only what is installed loads.
            [sys.executable, "-P", "-c", _ELSEWHERE, where, input_kind],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            timeout=_ELSEWHERE_TIMEOUT,
            check=False,
        )
    except (subprocess.SubprocessError, OSError) as error:
        raise PluginRefused(
            "", "snapshot", f"checking in another Python process failed: {_said(error)}"
        ) from None
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PluginRefused("", "snapshot", f"in another Python process: {last}")
    return done.stdout.strip()


#: How long the check in a fresh interpreter may take (it loads the plugin's model again).
_ELSEWHERE_TIMEOUT = 300

_ELSEWHERE = """
import importlib, sys
from streamloop.online.plugins import ModelPlugin, _taught_digest
module, _, attribute = sys.argv[1].partition(":")
found = getattr(importlib.import_module(module), attribute)
found = found if isinstance(found, ModelPlugin) else ModelPlugin(build=found)
print(_taught_digest(found, sys.argv[2]))
"""


def _taught_digest(found: ModelPlugin, input_kind: str) -> str:
    """The digest of the plugin's pickle once taught the contract's labels."""
    from streamloop.online import snapshot

    model = found.build(labels=_LABELS, task="classify", input_kind=input_kind, seed=_SEED)
    for x, y in _items(input_kind, _LEARN):
        model.learn_one(dict(x), y)
    return hashlib.sha256(snapshot.dumps(model)).hexdigest()


def _check_kind(found: ModelPlugin, input_kind: str) -> str:
    """Check the plugin on ``input_kind`` items; the digest of its taught pickle."""
    from streamloop.online import snapshot

    items = _items(input_kind, _LEARN + _MORE + _PROBE)
    learn, more, probe = items[:_LEARN], items[_LEARN : _LEARN + _MORE], items[-_PROBE:]

    def refused(check: str, why: str) -> PluginRefused:
        return PluginRefused("", check, f"{input_kind} items: {why}")

    def built() -> Any:
        try:
            model = found.build(labels=_LABELS, task="classify", input_kind=input_kind, seed=_SEED)
        except Exception as error:
            raise refused("build", f"building raised {_said(error)}") from None
        for method in ("learn_one", "predict_proba_one"):
            if not callable(getattr(model, method, None)):
                raise refused("build", f"the model built has no {method}()")
        return model

    def taught(model: Any, rows: Sequence[tuple[dict[str, Any], str]]) -> Any:
        for x, y in rows:
            try:
                model.learn_one(dict(x), y)
            except Exception as error:
                raise refused("learn", f"learn_one raised {_said(error)}") from None
        return model

    def scored(model: Any) -> list[dict[str, float]]:
        answers = []
        for x, _ in probe:
            try:
                raw = model.predict_proba_one(dict(x))
            except Exception as error:
                raise refused("predict", f"predict_proba_one raised {_said(error)}") from None
            answers.append(_probabilities(raw, refused))
        return answers

    def pickled(model: Any) -> bytes:
        try:
            return snapshot.dumps(model)
        except Exception as error:
            raise refused("snapshot", f"pickling the model raised {_said(error)}") from None

    first = taught(built(), learn)
    answers = scored(first)
    if not any(answers):
        raise refused("probabilities", f"no probabilities at all after {_LEARN} labels")
    twin = taught(built(), learn)
    scored(twin)
    if pickled(first) != pickled(twin):
        raise refused(
            "snapshot",
            f"two models built with seed {_SEED} that learned the same {_LEARN} labels pickle "
            f"to different bytes: is every random draw seeded, and no state in a set or in "
            f"hash order?",
        )
    digest = hashlib.sha256(pickled(first)).hexdigest()
    try:
        restored = snapshot.loads(pickled(first))
    except Exception as error:
        raise refused("replay", f"reading the snapshot back raised {_said(error)}") from None
    if scored(restored) != answers:
        raise refused("replay", "a snapshot read back predicts otherwise than the original")
    taught(first, more)
    taught(restored, more)
    if pickled(restored) != pickled(first) or scored(restored) != scored(first):
        raise refused(
            "replay", "a snapshot read back learns the same labels into a different model"
        )
    if found.batch:
        _check_batch(first, probe, scored(first), refused)
    return digest


def _check_batch(
    model: Any,
    probe: Sequence[tuple[dict[str, Any], str]],
    one_by_one: Sequence[Mapping[str, float]],
    refused: Callable[[str, str], PluginRefused],
) -> None:
    import pandas as pd

    try:
        frame = model.predict_proba_many(pd.DataFrame([x for x, _ in probe]))
        rows = frame.to_dict(orient="records")
    except Exception as error:
        raise refused("batch", f"predict_proba_many raised {_said(error)}") from None
    if len(rows) != len(probe):
        raise refused("batch", f"predict_proba_many gave {len(rows)} rows for {len(probe)}")
    for row, single in zip(rows, one_by_one, strict=True):
        batch = _probabilities(row, refused)
        for label in _LABELS:
            if not math.isclose(batch.get(label, 0.0), single.get(label, 0.0), abs_tol=1e-9):
                raise refused("batch", "predict_proba_many differs from predict_proba_one")


def _probabilities(raw: Any, refused: Callable[[str, str], PluginRefused]) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise refused("probabilities", f"predict_proba_one gave a {type(raw).__name__}")
    clean: dict[str, float] = {}
    for label, value in raw.items():
        if label not in _LABELS:
            raise refused(
                "probabilities", f"{label!r} is not one of the project's labels {list(_LABELS)}"
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not 0.0 <= number <= 1.0:  # NaN fails too
            raise refused("probabilities", f"{label!r} has probability {value!r}")
        clean[label] = number
    total = math.fsum(clean.values())
    if clean and not math.isclose(total, 1.0, abs_tol=1e-6):
        raise refused("probabilities", f"they sum to {total:.6g}, not 1")
    return clean


_WORDS = {
    "alpha": ("refund", "invoice", "charge", "payment", "billing", "price", "paid"),
    "beta": ("crash", "error", "broken", "freeze", "bug", "fails", "slow"),
    "gamma": ("thanks", "great", "love", "happy", "nice", "works", "perfect"),
}
_FILLER = ("the", "my", "app", "is", "a", "today", "again", "with", "it", "and")


def _items(input_kind: str, count: int) -> list[tuple[dict[str, Any], str]]:
    """Labelled items the labels can be learned from, the same in every process."""
    rng = random.Random(_SEED)
    rows: list[tuple[dict[str, Any], str]] = []
    for n in range(count):
        label = _LABELS[n % len(_LABELS)]
        if input_kind == "text":
            words = [rng.choice(_WORDS[label]) for _ in range(2)]
            words += [rng.choice(_FILLER) for _ in range(rng.randint(1, 4))]
            rng.shuffle(words)
            rows.append(({"text": " ".join(words)}, label))
        else:
            centre = _LABELS.index(label)
            x: dict[str, Any] = {
                "size": centre + rng.gauss(0.0, 0.3),
                "weight": -2.0 * centre + rng.gauss(0.0, 0.5),
                "colour": rng.choice(("red", "green", "blue")),
                "new": rng.random() < 0.5,
            }
            rows.append((x, label))
    return rows


def _normalised(distribution: str) -> str:
    return re.sub(r"[-_.]+", "_", distribution).lower()


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip()


def _said(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
