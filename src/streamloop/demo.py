"""``streamloop demo``: three support-ticket projects and a live stream of generated tickets.

``support-tickets`` gives each ticket one topic (``classify``); ``ticket-topics`` tags each
ticket with every topic it touches, possibly none (``multilabel``); ``ticket-entities`` marks
the products, amounts, order numbers and dates in customers' messages (``spans``). The tickets
are generated here (nothing is downloaded): each topic has its own vocabulary, mixed with
shared filler and some words of other topics, so the model has something real but imperfect to
learn and its uncertainty varies from ticket to ticket; the messages with entities come from
`streamloop.online.span_corpus` (its ``commerce`` domain).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from typing import Any

from streamloop.errors import StreamloopError
from streamloop.online.routing import DEFAULT_WARMUP, default_rehearsal
from streamloop.online.span_corpus import DOMAINS, corpus
from streamloop.streams import ProjectRuntime, Service

__all__ = [
    "DEMO_PROJECT",
    "DEMO_PROJECTS",
    "MULTILABEL_DEMO_PROJECT",
    "SPANS_DEMO_PROJECT",
    "EntitiesGenerator",
    "TicketGenerator",
    "TopicsGenerator",
    "open_demo",
    "run_demo",
]

log = logging.getLogger(__name__)

DEMO_PROJECT = "support-tickets"
MULTILABEL_DEMO_PROJECT = "ticket-topics"
SPANS_DEMO_PROJECT = "ticket-entities"

_TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "billing": (
        [
            "I was charged twice for",
            "Why did my invoice go up for",
            "Please refund",
            "My card was declined when paying for",
            "Can I get a receipt for",
        ],
        [
            "my subscription",
            "the annual plan",
            "last month's invoice",
            "the upgrade",
            "a payment I did not make",
            "the VAT on my bill",
        ],
    ),
    "bug": (
        [
            "The app crashes when I open",
            "I get an error 500 on",
            "Nothing happens when I click",
            "The page is blank after loading",
            "Export is broken for",
        ],
        [
            "the reports page",
            "the settings screen",
            "the mobile app",
            "the CSV export",
            "the search box",
            "the dashboard since the update",
        ],
    ),
    "account": (
        [
            "I cannot log in to",
            "Please reset the password of",
            "How do I delete",
            "I want to change the email of",
            "Two-factor codes do not work for",
        ],
        [
            "my account",
            "our team account",
            "the admin user",
            "my profile",
            "the account of a colleague who left",
        ],
    ),
    "feature": (
        [
            "It would be great to have",
            "Could you add",
            "Do you plan to support",
            "We would pay more for",
            "Please consider",
        ],
        [
            "a dark mode",
            "an API for exports",
            "single sign-on",
            "Slack notifications",
            "keyboard shortcuts",
            "bulk editing",
        ],
    ),
}
_NOTHING = [
    "Just wanted to say the new release looks great.",
    "Thanks for the quick answer yesterday.",
    "Ignore my last message, all sorted now.",
]
_OPENERS = ["Hi,", "Hello team,", "Urgent:", "Quick question.", "", "Good morning,"]
_CLOSERS = ["Thanks!", "Regards", "Please help.", "", "Cheers", "This is blocking us."]


class TicketGenerator:
    """Endless support tickets: ``(event_id, data, true_label)``.

    >>> ticket = next(iter(TicketGenerator(seed=1)))
    >>> sorted(ticket[1]), ticket[2] in TicketGenerator.labels
    (['text'], True)
    """

    labels = tuple(_TOPICS)

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def __iter__(self) -> TicketGenerator:
        self._count = itertools.count(1)
        return self

    def __next__(self) -> tuple[str, dict[str, str], str]:
        label = self.rng.choice(self.labels)
        starts, objects = _TOPICS[label]
        # A fifth of tickets borrow an object from another topic: those are the hard ones.
        if self.rng.random() < 0.2:
            objects = _TOPICS[self.rng.choice(self.labels)][1]
        text = " ".join(
            part
            for part in (
                self.rng.choice(_OPENERS),
                f"{self.rng.choice(starts)} {self.rng.choice(objects)}.",
                self.rng.choice(_CLOSERS),
            )
            if part
        )
        event_id = f"ticket-{next(self._count):07d}-{self.rng.randrange(16**6):06x}"
        return event_id, {"text": text}, label


class TopicsGenerator:
    """Endless support tickets that touch any of the topics: ``(event_id, data, topics)``.

    One ticket in ten touches none (a thank-you), about half touch one, the rest two or three.

    >>> generator = iter(TopicsGenerator(seed=1))
    >>> sizes = {len(next(generator)[2]) for _ in range(200)}
    >>> sorted(sizes)
    [0, 1, 2, 3]
    """

    labels = tuple(_TOPICS)

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def __iter__(self) -> TopicsGenerator:
        self._count = itertools.count(1)
        return self

    def __next__(self) -> tuple[str, dict[str, str], list[str]]:
        draw = self.rng.random()
        size = 0 if draw < 0.1 else 1 if draw < 0.6 else 2 if draw < 0.9 else 3
        topics = self.rng.sample(self.labels, size)
        sentences = [
            f"{self.rng.choice(_TOPICS[topic][0])} {self.rng.choice(_TOPICS[topic][1])}."
            for topic in topics
        ] or [self.rng.choice(_NOTHING)]
        text = " ".join(
            part
            for part in (self.rng.choice(_OPENERS), *sentences, self.rng.choice(_CLOSERS))
            if part
        )
        event_id = f"topics-{next(self._count):07d}-{self.rng.randrange(16**6):06x}"
        return event_id, {"text": text}, [label for label in self.labels if label in topics]


class EntitiesGenerator:
    """Endless customer messages with their entities: ``(event_id, data, spans)``.

    >>> event_id, data, spans = next(iter(EntitiesGenerator(seed=1)))
    >>> all(span.label in EntitiesGenerator.labels for span in spans)
    True
    """

    labels = DOMAINS["commerce"]

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __iter__(self) -> EntitiesGenerator:
        self._count = itertools.count(1)
        self._batch: list[tuple[dict[str, Any], list[Any]]] = []
        self._batches = itertools.count(self.seed)
        return self

    def __next__(self) -> tuple[str, dict[str, Any], list[Any]]:
        if not self._batch:
            # The corpus makes texts in batches, each batch's from its own seed.
            self._batch = corpus("commerce", 256, seed=next(self._batches))[::-1]
        data, spans = self._batch.pop()
        number = next(self._count)
        return f"entities-{number:07d}-{self.seed:x}", data, spans


#: The demo projects: name, then what differs from a default project. The two ticket projects
#: use naive Bayes: on these short texts its suggestions are right and sure within the first
#: labels (20 labels: 72% of them right, 0.79 sure), where the default preset's are right
#: almost as often but stay about as unsure as a blind guess (57%, 0.33), so a visitor would
#: not see the model learn (BENCHMARKS.md, "Demo: learning in the first labels").
_DEMO_PROJECTS: dict[str, dict[str, Any]] = {
    DEMO_PROJECT: {
        "labels": list(TicketGenerator.labels),
        "model": "naive_bayes",
        "strategy": "margin",
    },
    MULTILABEL_DEMO_PROJECT: {
        "labels": list(TopicsGenerator.labels),
        "task": "multilabel",
        "model": "naive_bayes",
        "strategy": "min_margin",
    },
    SPANS_DEMO_PROJECT: {
        "labels": list(EntitiesGenerator.labels),
        "task": "spans",
        "strategy": "least_confidence",
    },
}
#: The demo projects' names, in the order the demo prints them.
DEMO_PROJECTS = tuple(_DEMO_PROJECTS)
_GENERATORS: dict[str | None, Any] = {
    None: TicketGenerator,
    "multilabel": TopicsGenerator,
    "spans": EntitiesGenerator,
}


async def open_demo(service: Service, *, seed: int = 0) -> list[tuple[ProjectRuntime, Any]]:
    """Create the demo projects if needed; each one's runtime with its endless stream of
    ``(event_id, data, truth)`` (its generator, seeded to go on where an earlier run stopped)."""
    streams = []
    for name, settings in _DEMO_PROJECTS.items():
        try:
            runtime = service.project(name)
        except StreamloopError:
            model = settings.get("model", "logistic_regression")
            await service.create_project(
                {
                    "name": name,
                    "input": "text",
                    "model": model,
                    # As a project made through the API gets them (`ProjectSpec`): the
                    # preset's rehearsal, and the default warm-up.
                    "rehearsal": default_rehearsal(model),
                    "warmup": DEFAULT_WARMUP,
                    "exploration": 0.2,
                    "lease_seconds": 120.0,
                    "seed": seed,
                    **settings,
                }
            )
            runtime = service.project(name)
        kind = _GENERATORS[settings.get("task")]
        streams.append((runtime, iter(kind(seed=seed + runtime.events_total))))
    return streams


async def run_demo(
    service: Service,
    *,
    per_second: float = 4.0,
    seed: int = 0,
    streams: list[tuple[ProjectRuntime, Any]] | None = None,
) -> None:
    """Create the demo projects if needed (unless ``streams``, from `open_demo`, says they
    are open), then stream tickets into each until cancelled."""
    if streams is None:
        streams = await open_demo(service, seed=seed)
    log.info("demo: streaming tickets into %s", ", ".join(_DEMO_PROJECTS))
    while service.ready:
        for runtime, tickets in streams:
            batch = [next(tickets) for _ in range(4)]
            try:
                await runtime.ingest([(event_id, data) for event_id, data, _truth in batch])
            except StreamloopError as exc:
                log.warning("demo: ingest refused: %s", exc.message)
        await asyncio.sleep(4 / per_second)
