"""What every project model shares, whatever its task: its version, its settings, its history
of learning, rehearsal, drift and snapshots."""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from streamloop.online import snapshot
from streamloop.online.drift import DriftMonitor
from streamloop.online.estimate import RandomSampleAccuracy
from streamloop.online.history import AnnotatorStats, Curve
from streamloop.online.inputs import NumericRows, numeric_rows
from streamloop.online.linear import BATCH_FROM, LinearScorer, Scores

__all__ = ["ModelBase"]

log = logging.getLogger(__name__)

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
    def batch_rows(self) -> int | None:
        """From how many rows `predict_many` scores them as one batch (its cost then mostly
        per call, not per row), or ``None`` if it scores each row alone."""
        if not self._version or self._scorer() is None:
            return None  # an untrained model scores each row alone (`predict_many`)
        return BATCH_FROM[self._input_kind]

    def _scorer(self) -> LinearScorer | None:
        """What scores a batch of rows as one (`streamloop.online.linear`); ``None`` if the
        model scores each row alone."""
        return None

    def _batch_scorer(self, rows: int) -> LinearScorer | None:
        """`_scorer`, if ``rows`` rows are scored as one batch (`batch_rows`)."""
        if rows < BATCH_FROM[self._input_kind] or not self._version:
            return None
        return self._scorer()

    def _numbers_scores(
        self,
        scorer: LinearScorer | None,
        rows: Sequence[Mapping[str, Any]],
        numbers: Callable[[], NumericRows | None] | None,
    ) -> Scores | None:
        """The scores of tabular rows of numbers only, of the same fields, as one matrix (no
        walk of each value), read by ``numbers`` when given; ``None`` for any other batch."""
        if scorer is None or self._input_kind != "tabular":
            return None
        block = numeric_rows(rows) if numbers is None else numbers()
        return None if block is None else scorer.scores_numbers(*block)

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
        """How many labels wait for their deferred learning (`OnlineModel.learn`): the most
        the shadows, any challenger, or a challenger's shadows lag behind."""
        return max(self.shadows_behind, self.challengers_behind)

    @property
    def shadows_behind(self) -> int:
        """How many labels this model's own shadows (the estimate's) have yet to learn."""
        return 0

    @property
    def challengers_behind(self) -> int:
        """The most labels any challenger (or its shadows) has yet to learn."""
        behind: dict[str, deque[Any]] = self.__dict__.get("_behind") or {}
        return max(
            [0, *map(len, behind.values()), *(c.unsettled for c in self.challengers.values())]
        )

    def settle(self, steps: int | None = None) -> None:
        """Finish the learning that was deferred, if any (`OnlineModel.learn`); at most
        ``steps`` pieces of it, when given."""
        self._settle_challengers(-1 if steps is None else steps)

    # -- challengers ------------------------------------------------------------------------
    #
    # Models that learn the same answers in the same order beside this one, each with its own
    # figures, one of which may be promoted to serve in its place (`promoted`). Each is a whole
    # model of this class (its own shadows and rehearsal included) built from another preset
    # or plugin; they learn after this one, a step at a time (`settle`), so an ack never waits
    # for them. ``_behind`` holds, per challenger, the lessons it has yet to learn; it exists
    # only while some wait, so a settled model pickles as one that never deferred.

    @property
    def challengers(self) -> dict[str, ModelBase]:
        """The challengers by model name, in the project's order (none in models made before
        challengers existed)."""
        challengers: dict[str, ModelBase] = self.__dict__.get("_challengers") or {}
        return challengers

    def _challenge(
        self,
        x: dict[str, Any],
        answer: Any,
        *,
        drawn_at_random: bool,
        annotator: str | None,
        correction: bool,
        defer: bool,
    ) -> None:
        """Give the challengers the answer just learned; at once unless ``defer``."""
        if not self.challengers:
            return
        behind = self.__dict__.setdefault("_behind", {})
        lesson = (x, answer, drawn_at_random, annotator, correction)
        for name in self.challengers:
            behind.setdefault(name, deque()).append(lesson)
        if not defer:
            self._settle_challengers(-1)

    def _settle_challengers(self, left: int) -> int:
        """Take at most ``left`` steps (-1: all) of the challengers' deferred learning, one
        challenger after the other: a step is one challenger learning one answer, or one of
        its shadows catching up. Returns the steps left."""
        behind: dict[str, deque[Any]] | None = self.__dict__.get("_behind")
        progress = True
        while left and progress:
            progress = False
            for name, challenger in self.challengers.items():
                if not left:
                    break
                waiting = behind.get(name) if behind else None
                if challenger.unsettled:
                    challenger.settle(1)
                elif waiting:
                    x, answer, drawn, annotator, correction = waiting.popleft()
                    try:
                        challenger._learn_deferred(x, answer, drawn, annotator, correction)
                    except Exception:
                        # A challenger that cannot learn an answer (a plugin's bug, an answer
                        # its model refuses) never stops the one serving: it goes without it.
                        log.exception("challenger %s failed to learn an answer", name)
                else:
                    continue
                left -= 1
                progress = True
        if behind is not None and not any(behind.values()):
            del self.__dict__["_behind"]
        return left

    def _learn_deferred(
        self, x: dict[str, Any], answer: Any, drawn: bool, annotator: str | None, correction: bool
    ) -> None:
        """Learn one answer as a challenger: as `learn` would, what can wait deferred."""
        raise NotImplementedError

    def promoted(self: M, name: str, order: Sequence[str]) -> M:
        """The challenger ``name``, to serve in this model's place, with the other challengers
        and this model as its own, in ``order`` (their names); its version one past this one's,
        as a new version of the project's model. This model is left without challengers.

        Raises
        ------
        ValueError
            If ``name`` is not a challenger, or ``order`` does not name the other models.
        """
        challengers = self.challengers
        if name not in challengers:
            raise ValueError(f"{name!r} is not a challenger of this model")
        others = {**challengers, self._preset: self}
        del others[name]
        if sorted(order) != sorted(others):
            raise ValueError(f"order {list(order)} must name {sorted(others)}")
        self.settle()
        chosen = cast(M, challengers[name])  # built by this model's class
        chosen.settle()
        self.__dict__.pop("_challengers", None)
        chosen.__dict__["_challengers"] = {model: others[model] for model in order}
        chosen.advance_to(max(chosen._version, self._version) + 1)
        return chosen

    def snapshot(self) -> bytes:
        """Serialise the whole model: estimators, metrics, version and challengers.

        Models with equal arguments and equal learning histories give equal bytes, in any
        process. Taking a snapshot of a large forest costs tens of milliseconds.
        """
        self.settle()
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
