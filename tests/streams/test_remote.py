"""The remote learner over a transport of our own: labels out, outcomes back
(streams/remote.py), with no broker."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import pytest

from streamloop.errors import NotReady, TooManyRequests
from streamloop.store import LabelOutcome, NewLabel
from streamloop.streams.learner import OnLearned
from streamloop.streams.remote import RemoteLearner
from support import RECEIVE_TIMEOUT


class Transport:
    """The labels and learned topics, faked: records what is sent and, when ``answers``,
    sends the learner's outcomes back soon after, last label first."""

    def __init__(
        self, *, answers: bool = True, refuses: Exception | None = None, hangs: bool = False
    ) -> None:
        self.answers = answers
        self.refuses = refuses
        #: Whether a send never completes (a broker that stopped answering).
        self.hangs = hangs
        self.sent: list[tuple[str, list[NewLabel]]] = []
        self.learner: RemoteLearner | None = None
        #: Set once a batch is sent.
        self.delivered = asyncio.Event()
        self._row_ids = itertools.count(1)

    async def send(self, project: str, labels: Sequence[NewLabel]) -> None:
        if self.refuses is not None:
            raise self.refuses
        if self.hangs:
            await asyncio.Event().wait()
        self.sent.append((project, list(labels)))
        self.delivered.set()
        if self.answers:
            outcomes = [self.outcome(label) for label in reversed(labels)]
            asyncio.get_running_loop().call_soon(self.resolve, outcomes)

    def outcome(self, label: NewLabel) -> LabelOutcome:
        """What the learner makes of a label: stored, with the next row id and version."""
        row_id = next(self._row_ids)
        return LabelOutcome(label=label, row_id=row_id, model_version=row_id, item_id=row_id)

    def resolve(self, outcomes: Sequence[LabelOutcome]) -> None:
        assert self.learner is not None
        self.learner.resolve(outcomes)


class Heard:
    """An `OnLearned` that keeps the batches the project hears of."""

    def __init__(self) -> None:
        self.batches: list[list[LabelOutcome]] = []

    def __call__(self, outcomes: Sequence[LabelOutcome]) -> None:
        self.batches.append(list(outcomes))


def remote(
    transport: Transport,
    on_learned: OnLearned = lambda outcomes: None,
    *,
    timeout: float = RECEIVE_TIMEOUT,
    pending_max: int = 100,
) -> RemoteLearner:
    learner = RemoteLearner(
        "tickets", transport.send, on_learned, timeout=timeout, pending_max=pending_max
    )
    transport.learner = learner
    learner.start()
    return learner


def labels(*label_ids: str) -> list[NewLabel]:
    return [
        NewLabel(label_id, "a", "annotator", event_id=f"e-{label_id}", annotator="alice")
        for label_id in label_ids
    ]


async def test_each_label_is_answered_with_its_own_outcome():
    transport = Transport()
    heard = Heard()
    learner = remote(transport, heard)
    sent = labels("l1", "l2", "l3")

    outcomes = await learner.submit(sent)

    assert transport.sent == [("tickets", sent)]
    assert [outcome.label for outcome in outcomes] == sent
    assert [outcome.model_version for outcome in outcomes] == [3, 2, 1]  # answered last first
    assert heard.batches == [outcomes[::-1]]
    assert learner.commits == 1
    assert learner.backlog == 0


async def test_the_project_hears_of_outcomes_before_any_label_is_answered():
    transport = Transport()
    answered_when_heard: list[bool] = []

    def on_learned(outcomes: Sequence[LabelOutcome]) -> None:
        # The futures the submit waits for (private: only their state tells the order).
        waiting = [future for futures in learner._waiting.values() for future in futures]
        assert len(waiting) == 2
        answered_when_heard.append(any(future.done() for future in waiting))

    learner = remote(transport, on_learned)

    await learner.submit(labels("l1", "l2"))

    assert answered_when_heard == [False]


async def test_outcomes_of_labels_another_process_sent_reach_the_project():
    transport = Transport()
    heard = Heard()
    learner = remote(transport, heard)
    elsewhere = [transport.outcome(label) for label in labels("sent-by-another-web-process")]

    learner.resolve(elsewhere)

    assert heard.batches == [elsewhere]
    assert learner.commits == 1
    assert learner.backlog == 0


async def test_a_label_the_broker_refuses_is_a_503():
    heard = Heard()
    learner = remote(Transport(refuses=ConnectionError("no broker")), heard)

    with pytest.raises(NotReady) as refused:
        await learner.submit(labels("l1"))

    assert refused.value.code == "broker_unavailable"
    assert refused.value.body()["error"]["delivered"] is False
    assert learner.backlog == 0
    assert heard.batches == []


async def test_a_label_whose_outcome_does_not_come_back_in_time_is_a_503():
    transport = Transport(answers=False)
    heard = Heard()
    learner = remote(transport, heard, timeout=0.05)
    sent = labels("l1", "l2")

    with pytest.raises(NotReady) as timed_out:
        await learner.submit(sent)

    assert timed_out.value.code == "learner_timeout"
    assert timed_out.value.retryable
    # The broker had the labels: they will be learned, and the error says so.
    assert timed_out.value.body()["error"]["delivered"] is True
    assert timed_out.value.frame()["delivered"] is True
    assert "will store and learn it" in timed_out.value.message
    assert learner.timeouts == 2  # labels, not calls
    assert learner.backlog == 0
    # The outcome arriving late still reaches the project, and nobody waits for it.
    late = [transport.outcome(label) for label in sent]
    learner.resolve(late)
    assert heard.batches == [late]


async def test_a_send_the_broker_never_confirms_times_out_on_the_same_deadline():
    learner = remote(Transport(hangs=True), timeout=0.05)

    with pytest.raises(NotReady) as timed_out:
        # The safety net is far longer than the learner's timeout: only a deadline that
        # leaves the send out of it reaches it.
        await asyncio.wait_for(learner.submit(labels("l1")), RECEIVE_TIMEOUT)

    assert timed_out.value.code == "learner_timeout"
    # Never confirmed by the broker: the label may or may not reach the learner.
    assert timed_out.value.body()["error"]["delivered"] is False
    assert "may or may not be learned" in timed_out.value.message
    assert learner.timeouts == 1
    assert learner.backlog == 0


async def test_labels_past_the_pending_bound_are_refused():
    transport = Transport(answers=False)
    learner = remote(transport, pending_max=2)

    with pytest.raises(TooManyRequests) as too_many:
        await learner.submit(labels("l1", "l2", "l3"))  # more at once than allowed
    assert too_many.value.code == "learner_busy"

    waiting = asyncio.ensure_future(learner.submit(labels("l1", "l2")))
    refused = asyncio.ensure_future(learner.submit(labels("l3")))
    await asyncio.wait([refused])

    error = refused.exception()
    assert isinstance(error, TooManyRequests) and error.code == "learner_busy"
    assert learner.backlog == 2
    [(_project, sent)] = transport.sent
    learner.resolve([transport.outcome(label) for label in sent])
    assert [outcome.label for outcome in await waiting] == sent
    assert learner.backlog == 0


async def test_close_waits_for_the_outcomes_of_labels_sent_then_refuses_more():
    transport = Transport(answers=False)
    learner = remote(transport)
    # Tasks start in order: the label is sent, then close begins, then this test goes on.
    submitted = asyncio.ensure_future(learner.submit(labels("l1")))
    closing = asyncio.ensure_future(learner.close())
    await asyncio.wait_for(transport.delivered.wait(), RECEIVE_TIMEOUT)

    assert not closing.done()  # it waits for the outcome
    [(_project, sent)] = transport.sent
    learner.resolve([transport.outcome(label) for label in sent])
    await asyncio.wait_for(closing, RECEIVE_TIMEOUT)
    assert [outcome.model_version for outcome in await submitted] == [1]
    with pytest.raises(NotReady) as refused:
        await learner.submit(labels("l2"))
    assert refused.value.code == "shutting_down"


async def test_the_served_model_is_steady_and_never_snapshotted_here():
    learner = remote(Transport())

    async with learner.steady():
        [outcome] = await learner.submit(labels("l1"))

    assert outcome.model_version == 1
    assert await learner.snapshot() is False
    assert learner.snapshot_due(0.0) is False
