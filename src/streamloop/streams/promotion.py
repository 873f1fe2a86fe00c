"""Promoting a challenger: the project's production traffic served by another of its models,
which has learned every label beside the one serving, from the next request.

Under the learner's lock (no label between), the project's record is stored with the models'
new roles (``model`` the challenger, ``challengers`` the others, the old model where the
challenger was), then the challenger swaps in whole as a new version of the project's model,
and a snapshot follows at once. Nothing is relearned: every model has learned the same labels
in the same order. A restart between the stored record and the snapshot promotes again from
the older snapshot (`streamloop.streams.learner.rebuild_model`), so the roles in the store are
the ones that serve.

With ``--broker`` the learner is in a worker: the web process sends a control record on the
labels topic (`RemoteLearner.change`), the worker promotes and publishes the version, which
every process scoring events swaps in like any new version; the web process answers once it
serves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from streamloop.errors import Conflict, NotFound
from streamloop.online import AnyModel
from streamloop.store import ProjectRecord, Store
from streamloop.streams.learner import LocalLearner
from streamloop.streams.remote import RemoteLearner

if TYPE_CHECKING:
    from streamloop.streams.project import ProjectRuntime

__all__ = ["answer_of", "promote", "promote_here"]

log = logging.getLogger(__name__)


async def promote_here(runtime: ProjectRuntime, name: str) -> dict[str, Any]:
    """Serve ``runtime``'s project with its challenger ``name``; the contract's answer,
    ``{"model", "model_version", "challengers"}``, once this process serves it.

    Raises
    ------
    NotFound
        ``unknown_model``: ``name`` is neither the model serving nor a challenger.
    Conflict
        ``not_supported_scaled_out``: this project's learner cannot promote.
    """
    learner = runtime.learner
    store = runtime.store
    # One change of the model at a time: a rebuild (quarantine) started from the old roles
    # would swap the old model back in.
    async with runtime.quarantine.rebuilding:
        if isinstance(learner, RemoteLearner):
            answer = await learner.change(name, "promote")
            await runtime.quarantine.serving(int(answer["model_version"]))
            runtime.adopt(await store.run(store.project, runtime.record.name))
        elif isinstance(learner, LocalLearner):
            record, model = await promote(store, runtime.record, learner, name, runtime.swap_model)
            runtime.adopt(record)
            answer = answer_of(record, model)
        else:
            raise Conflict(
                "promotion swaps the model where it is learned, and this project's learner cannot",
                code="not_supported_scaled_out",
                retryable=False,
            )
    return {key: answer[key] for key in ("model", "model_version", "challengers")}


async def promote(
    store: Store,
    record: ProjectRecord,
    learner: LocalLearner,
    name: str,
    swap: Callable[[AnyModel], None],
) -> tuple[ProjectRecord, AnyModel]:
    """Make ``learner``'s challenger ``name`` the model serving: store the new roles, swap it
    in as the next version (``swap`` it), snapshot it; (the record stored, the model). The
    model serving already is left as it is."""
    async with learner.lock:
        record = await store.run(store.project, record.name)  # the roles as stored now
        model = learner.model
        if model.preset == name:
            return record, model
        if name not in model.challengers:
            raise NotFound(
                f"{name!r} is not one of project {record.name!r}'s models: {model.preset!r} "
                f"serves, beside {list(model.challengers) or 'no challengers'}",
                code="unknown_model",
            )
        order = [model.preset if other == name else other for other in record.challengers]
        others = [model.preset, *(other for other in model.challengers if other != name)]
        if sorted(order) != sorted(others):
            raise Conflict(
                f"project {record.name!r}'s stored models ({record.model!r} serving, beside "
                f"{list(record.challengers)}) are not the ones this learner has: restart it",
                code="models_out_of_step",
                retryable=False,
            )
        # Every model caught up first, so that nothing after the store write can fail: the
        # roles stored are the ones that serve.
        model.settle()
        promotion = {
            "model": name,
            "replaced": model.preset,
            "model_version": model.version + 1,
            "after_label": learner.last_label_id,
            "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        changes = {
            "model": name,
            "challengers": order,
            "promotions": [*record.promotions, promotion],
        }
        stored = await store.run(store.update_project, record.name, changes)
        promoted = model.promoted(name, order)
        learner.model = promoted
        learner.snapshot_version = -1  # owed at once
        swap(promoted)
    log.warning(
        "project %s: %s promoted over %s, serving as model version %d",
        record.name,
        name,
        model.preset,
        promoted.version,
    )
    await learner.snapshot()
    return stored, promoted


def answer_of(record: ProjectRecord, model: AnyModel) -> dict[str, Any]:
    """A promotion's answer: the model serving, its version, the challengers."""
    return {
        "model": record.model,
        "model_version": model.version,
        "challengers": list(record.challengers),
    }
