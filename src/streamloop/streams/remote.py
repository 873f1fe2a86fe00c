"""A project's learner seen from a web process on Kafka: labels out, outcomes back.

With ``--broker``, the one learner of each project runs in a worker (the owner of the project's
partition of the labels topic). A web process sends each label there and answers the annotator
only when the learner's outcome comes back on the learned topic: the label is then stored and
learned, as the contract requires of an ack. A label whose outcome does not come back in time
(one deadline for the send and the outcome) gets a 503 ``learner_timeout`` that says whether the
broker has it (``delivered``: then the learner learns it when it runs); retrying it with the
same ``label_id`` is safe either way, since the learner drops duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from streamloop.errors import Conflict, NotReady
from streamloop.store import LabelOutcome, NewLabel
from streamloop.streams.learner import OnLearned, admit

__all__ = ["RemoteLearner"]

#: Sends a project's labels to its learner (the labels topic); raises if the broker refuses.
Send = Callable[[str, Sequence[NewLabel]], Awaitable[None]]
#: Sends a control record (`streamloop.streams.topics.control_message`) to the learner.
SendControl = Callable[[str, str, str, str], Awaitable[None]]
#: How long a rebuild of the model in the learner may take before the web process gives up
#: waiting (it goes on there; asking again waits for it).
REBUILD_TIMEOUT = 600.0


class RemoteLearner:
    """Stands in a web process for the learner of one project, which runs in a worker."""

    def __init__(
        self,
        project: str,
        send: Send,
        on_learned: OnLearned,
        *,
        timeout: float,
        pending_max: int,
        send_control: SendControl | None = None,
    ) -> None:
        self.project = project
        self.send = send
        self.on_learned = on_learned
        self.timeout = timeout
        self.pending_max = pending_max
        #: Batches of outcomes received from the learner.
        self.commits = 0
        #: Labels answered ``learner_timeout`` (exported as streamloop_learner_timeouts_total).
        self.timeouts = 0
        self._waiting: dict[str, list[asyncio.Future[LabelOutcome]]] = {}
        self._closing = False
        self.send_control = send_control
        self._changes: dict[str, asyncio.Future[dict[str, Any]]] = {}

    @property
    def backlog(self) -> int:
        return len(self._waiting)

    def start(self) -> None:
        """Nothing runs here: the learner is in a worker."""

    async def close(self) -> None:
        """Stop taking labels; wait a little for the outcomes of those already sent."""
        self._closing = True
        futures = [f for waiting in self._waiting.values() for f in waiting]
        if futures:
            await asyncio.wait(futures, timeout=min(self.timeout, 5.0))

    async def submit(self, labels: Sequence[NewLabel]) -> list[LabelOutcome]:
        """Send ``labels`` to the learner; returns their outcomes once it has stored them.

        One deadline, ``timeout``, covers the send and the outcome: a broker that stops
        answering fails the label then, not when the producer's own retries give up.
        """
        admit(self._closing, self.pending_max - self.backlog, len(labels))
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[LabelOutcome]] = []
        for label in labels:
            future: asyncio.Future[LabelOutcome] = loop.create_future()
            self._waiting.setdefault(label.label_id, []).append(future)
            futures.append(future)
        # A task of its own, so the deadline tells whether the broker had confirmed the send.
        sending = asyncio.ensure_future(self.send(self.project, labels))
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    await asyncio.shield(sending)
                except Exception as exc:
                    raise _unsent(exc) from exc
                return list(await asyncio.gather(*futures))
        except TimeoutError:
            self.timeouts += len(labels)
            raise _timed_out(self.timeout, _confirmed(sending)) from None
        finally:
            # Given up on here, a send goes on in the producer (the timeout says it may land):
            # its end is only collected.
            sending.add_done_callback(_collected)
            for label, future in zip(labels, futures, strict=True):
                waiting = self._waiting.get(label.label_id, [])
                with contextlib.suppress(ValueError):
                    waiting.remove(future)
                if not waiting:
                    self._waiting.pop(label.label_id, None)

    def resolve(self, outcomes: Sequence[LabelOutcome]) -> None:
        """Outcomes from the learned topic, whichever process sent the labels: the project
        hears of them (as of a local learner's), then whoever waits for them here is answered."""
        self.commits += 1
        self.on_learned(outcomes)
        for outcome in outcomes:
            for future in self._waiting.get(outcome.label.label_id, []):
                if not future.done():
                    future.set_result(outcome)

    async def change(self, annotator: str, action: str) -> dict[str, Any]:
        """Ask the learner to ``action`` ("quarantine" or "release") ``annotator`` and rebuild
        the model; its answer (`ProjectLearners.change`), once it has published the version."""
        if self.send_control is None:
            raise Conflict("this learner cannot rebuild the model", code="not_supported_scaled_out")
        request = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._changes[request] = future
        try:
            try:
                await self.send_control(self.project, action, annotator, request)
            except Exception as exc:
                raise NotReady(
                    f"the request could not be sent to the learner: {exc}",
                    code="broker_unavailable",
                ) from exc
            try:
                async with asyncio.timeout(REBUILD_TIMEOUT):
                    answer = await future
            except TimeoutError:
                raise NotReady(
                    f"the learner did not finish rebuilding within {REBUILD_TIMEOUT:g} s",
                    code="learner_timeout",
                ) from None
        finally:
            self._changes.pop(request, None)
        error = answer.get("error")
        if error:
            # Here, not at the top: embedded mode imports this module, never faust.
            from streamloop.streams.topics import error_from

            raise error_from(error)  # of its class: the worker's 404 is a 404 here too
        return answer

    def changed(self, answer: dict[str, Any]) -> bool:
        """An answer to a `change` from the learned topic; whether it was asked for here."""
        future = self._changes.get(str(answer.get("request")))
        if future is None or future.done():
            return False
        future.set_result(answer)
        return True

    async def snapshot(self) -> bool:
        """The learner snapshots the model; this process's copy is never stored."""
        return False

    def snapshot_due(self, now: float) -> bool:
        return False

    def steady(self) -> AbstractAsyncContextManager[object]:
        """Nothing changes the model here: it is hot-swapped whole, never learned in place."""
        return contextlib.nullcontext()


def _confirmed(sending: asyncio.Future[None]) -> bool:
    """Whether the broker confirmed a send (acks=all): it holds the labels."""
    return sending.done() and not sending.cancelled() and sending.exception() is None


def _collected(sending: asyncio.Future[None]) -> None:
    if not sending.cancelled():
        sending.exception()


def _unsent(exc: Exception) -> NotReady:
    error = NotReady(
        f"the label could not be sent to its learner: {exc}; it may not have reached the "
        "broker. Retry with the same label_id",
        code="broker_unavailable",
    )
    error.details = {"delivered": False}
    return error


def _timed_out(timeout: float, delivered: bool) -> NotReady:
    """``learner_timeout``, saying whether the label may still be learned (``delivered``)."""
    if delivered:
        fate = (
            "the broker has the label, so its learner will store and learn it once it runs; "
            "a retry with the same label_id is answered as that label (a duplicate if it was "
            "learned meanwhile)"
        )
    else:
        fate = (
            "the broker did not confirm it had the label, so it may or may not be learned; "
            "a retry with the same label_id is learned at most once"
        )
    error = NotReady(
        f"the learner did not confirm the label within {timeout:g} s: {fate}",
        code="learner_timeout",
    )
    error.details = {"delivered": delivered}
    return error
