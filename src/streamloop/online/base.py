"""What every project model shares, whatever its task: its version, its settings, its history
of learning, rehearsal, drift and snapshots."""

from __future__ import annotations

import random
from typing import Any, TypeVar

from streamloop.online import snapshot
from streamloop.online.drift import DriftMonitor
from streamloop.online.estimate import RandomSampleAccuracy
from streamloop.online.history import AnnotatorStats, Curve

__all__ = ["ModelBase"]

M = TypeVar("M", bound="ModelBase")


class ModelBase:
    """The state and bookkeeping common to `OnlineModel` and `MultiLabelModel`.

    A subclass builds its estimators, then calls `_start`; it learns one answer through
    `_relearn` (which rehearsal replays). The attributes set here are pickled with the model:
    their names are part of every snapshot.
    """

    #: What `restore` calls the model in its error.
    _kind = "model"

    _labels: tuple[str, ...]
    _input_kind: str
    _preset: str
    _strategy: str
    _seed: int
    _version: int
    _rehearsal: int
    _memory_size: int
    _memory: list[tuple[dict[str, Any], Any]]
    _memory_seen: int
    _rng: random.Random
    _sampled: RandomSampleAccuracy
    _curve: Curve
    _unbiased_curve: Curve
    _annotators: AnnotatorStats
    _drift: DriftMonitor

    def _start(
        self,
        *,
        labels: tuple[str, ...],
        input_kind: str,
        preset: str,
        strategy: str,
        seed: int,
        rehearsal: int,
        memory: int,
    ) -> None:
        self._labels = labels
        self._input_kind = input_kind
        self._preset = preset
        self._strategy = strategy
        self._seed = seed
        self._version = 0
        self._sampled = RandomSampleAccuracy()
        self._curve = Curve()
        self._unbiased_curve = Curve()
        self._annotators = AnnotatorStats()
        # Rehearsal: after each new answer, re-learn a few earlier ones drawn from a bounded
        # reservoir, so an SGD model fed only hard, boundary items does not forget the rest.
        # Its random draws are seeded and pickled with the model: replays stay bit for bit.
        self._rehearsal = rehearsal
        self._memory_size = memory
        self._memory = []
        self._memory_seen = 0
        self._rng = random.Random(seed)
        self._drift = DriftMonitor()

    @property
    def labels(self) -> tuple[str, ...]:
        """The project's labels, in order."""
        return self._labels

    @property
    def version(self) -> int:
        """How many answers the model has learned; 0 means untrained."""
        return self._version

    def advance_to(self, version: int) -> None:
        """Count versions on from ``version``: a model rebuilt from fewer labels (an annotator's
        taken out) replaces one that counted further, and versions only ever grow."""
        if version < self._version:
            raise ValueError(f"version {version} is behind this model's {self._version}")
        self._version = version

    @property
    def input_kind(self) -> str:
        """The kind of item data the model reads."""
        return self._input_kind

    @property
    def preset(self) -> str:
        """The preset the model was built from."""
        return self._preset

    @property
    def strategy(self) -> str:
        """The uncertainty strategy of the project."""
        return self._strategy

    @property
    def seed(self) -> int:
        """The seed the model was built with."""
        return self._seed

    @property
    def sampled_accuracy(self) -> RandomSampleAccuracy:
        """Prequential accuracy on items drawn at random: unbiased for the stream."""
        return self._sampled

    @property
    def drift_state(self) -> str:
        """``"none"``, ``"warning"`` or ``"drift"``: `drift`'s ``state``, without the report."""
        monitor: DriftMonitor | None = getattr(self, "_drift", None)
        return "none" if monitor is None else monitor.state

    @property
    def drift(self) -> dict[str, Any]:
        """The drift state (`DriftMonitor.report`): ``state``, ``changed_at`` and counts."""
        monitor: DriftMonitor | None = getattr(self, "_drift", None)
        if monitor is None:  # a model from before drift was watched
            return DriftMonitor().report()
        return monitor.report()

    def history(self) -> dict[str, list[tuple[Any, ...]]]:
        """The accuracy curve: ``accuracy`` as ``(labels, accuracy, rolling accuracy)``
        points, ``unbiased`` as ``(labels, estimate)`` points (a bounded number of each)."""
        return {"accuracy": self._curve.points, "unbiased": self._unbiased_curve.points}

    def annotators(self) -> dict[str, dict[str, Any]]:
        """Per annotator: ``labels``, ``agreement`` with the model's prior prediction,
        ``corrections``."""
        return self._annotators.report()

    @property
    def unsettled(self) -> int:
        """How many labels wait for their deferred learning (`OnlineModel.learn`)."""
        return 0

    def settle(self, steps: int | None = None) -> None:
        """Finish the learning that was deferred, if any (`OnlineModel.learn`); at most
        ``steps`` pieces of it, when given."""

    def snapshot(self) -> bytes:
        """Serialise the whole model: estimators, metrics and version.

        Models with equal arguments and equal learning histories give equal bytes, in any
        process. Taking a snapshot of a large forest costs tens of milliseconds.
        """
        return snapshot.dumps(self)

    @classmethod
    def restore(cls: type[M], blob: bytes) -> M:
        """Rebuild a model from `snapshot` bytes; only pass blobs this project wrote.

        Raises
        ------
        ValueError
            If the blob is not a snapshot of this kind of model.
        """
        try:
            model = snapshot.loads(blob)
        except Exception as error:
            raise ValueError("not a readable model snapshot") from error
        if not isinstance(model, cls):
            raise ValueError(f"snapshot holds a {type(model).__name__}, not a {cls._kind}")
        return model

    def _relearn(self, x: dict[str, Any], answer: Any) -> None:
        """Teach the estimators one item's answer (no test, no count)."""
        raise NotImplementedError

    def _rehearse(self, x: dict[str, Any], answer: Any) -> None:
        for _ in range(min(self._rehearsal, len(self._memory))):
            old_x, old_answer = self._memory[self._rng.randrange(len(self._memory))]
            self._relearn(old_x, old_answer)
        # Reservoir sampling: every answer learned so far is equally likely to be kept.
        self._memory_seen += 1
        if len(self._memory) < self._memory_size:
            self._memory.append((x, answer))
        else:
            slot = self._rng.randrange(self._memory_seen)
            if slot < self._memory_size:
                self._memory[slot] = (x, answer)

    def _forget_rehearsal(self) -> None:
        """After a drift, rehearsal re-learns answers from after it only."""
        self._memory.clear()
        self._memory_seen = 0
