"""Operations: liveness, readiness, and Prometheus metrics."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from streamloop.errors import NotReady
from streamloop.online.drift import DRIFT_STATES
from streamloop.streams import Service
from streamloop.streams.pause_metrics import PausesCollector
from streamloop.ws.context import prometheus_of, service_of
from streamloop.ws.limits import Refusals
from streamloop.ws.payloads import OrjsonResponse

if TYPE_CHECKING:
    from streamloop.streams.bridge import KafkaBridge

__all__ = ["healthz", "prometheus_metrics", "readyz", "registry_for"]

_PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(_request: Request) -> Response:
    return OrjsonResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready once the service runs; with ``--broker``, only while the broker answers and a
    worker (a learner) is in the workers' group, as last seen (`KafkaBridge.look`)."""
    try:
        service = service_of(request)
        bridge = _bridge_of(service)
        if bridge is not None:
            bridge.deployment.check()
    except NotReady as error:
        return OrjsonResponse(error.body(), status_code=error.http_status)
    body: dict[str, object] = {"status": "ready", "projects": len(service.projects())}
    if bridge is not None:
        body["workers"] = bridge.deployment.workers
    return OrjsonResponse(body)


def _bridge_of(service: Service) -> KafkaBridge | None:
    """The service's link to Kafka, or None in the embedded mode."""
    # A bridge exists only if its module was imported (with a broker): importing it here would
    # load faust and aiokafka into every embedded service.
    bridge = sys.modules.get("streamloop.streams.bridge")
    if bridge is None:
        return None
    link: KafkaBridge | None = (
        service.link if isinstance(service.link, bridge.KafkaBridge) else None
    )
    return link


async def prometheus_metrics(request: Request) -> Response:
    return Response(generate_latest(prometheus_of(request)), media_type=_PROMETHEUS_TYPE)


class _LoopCollector(Collector):
    """Reads every project's figures at scrape time, so nothing is counted twice."""

    def __init__(self, service: Service, refused: Refusals) -> None:
        self.service = service
        self.refused = refused

    def collect(self) -> Iterator[Metric]:
        gauges = {
            "model_version": GaugeMetricFamily(
                "streamloop_model_version", "Model version (labels learned).", labels=["project"]
            ),
            "queue_depth": GaugeMetricFamily(
                "streamloop_queue_depth", "Items waiting for an annotator.", labels=["project"]
            ),
            "leased": GaugeMetricFamily(
                "streamloop_leased_items", "Items leased to annotators.", labels=["project"]
            ),
            "annotators_online": GaugeMetricFamily(
                "streamloop_annotators_online", "Annotators connected.", labels=["project"]
            ),
            "label_backlog": GaugeMetricFamily(
                "streamloop_label_backlog", "Labels waiting to be stored.", labels=["project"]
            ),
            "rolling_accuracy": GaugeMetricFamily(
                "streamloop_rolling_accuracy",
                "Prequential accuracy over the window.",
                labels=["project"],
            ),
        }
        estimate = GaugeMetricFamily(
            "streamloop_accuracy_estimate",
            "Estimated accuracy of the current model on production traffic.",
            labels=["project"],
        )
        drift = GaugeMetricFamily(
            "streamloop_drift_state",
            "Drift: 0 none, 1 warning (checking with random draws), 2 drift confirmed.",
            labels=["project"],
        )
        drifts = CounterMetricFamily(
            "streamloop_drifts", "Drifts confirmed since the model began.", labels=["project"]
        )
        gold = GaugeMetricFamily(
            "streamloop_gold_accuracy",
            "Each annotator's share of right answers to gold items.",
            labels=["project", "annotator"],
        )
        gold_answered = CounterMetricFamily(
            "streamloop_gold_answers",
            "Answers each annotator gave to gold items.",
            labels=["project", "annotator"],
        )
        kappa = GaugeMetricFamily(
            "streamloop_annotator_kappa",
            "Cohen's kappa of each pair of annotators on the items both labelled.",
            labels=["project", "annotator", "other"],
        )
        pair_f1 = GaugeMetricFamily(
            "streamloop_annotator_span_f1",
            "A spans project's span F1 of each pair of annotators on the texts both marked.",
            labels=["project", "annotator", "other"],
        )
        agreement_f1 = GaugeMetricFamily(
            "streamloop_agreement_span_f1",
            "A spans project's span F1 between annotators over the texts several marked.",
            labels=["project"],
        )
        alpha = GaugeMetricFamily(
            "streamloop_agreement_alpha",
            "Krippendorff's alpha over the items several annotators labelled.",
            labels=["project"],
        )
        alpha_items = GaugeMetricFamily(
            "streamloop_agreement_items",
            "Items labelled by two or more annotators, which alpha rests on.",
            labels=["project"],
        )
        micro_f1 = GaugeMetricFamily(
            "streamloop_micro_f1",
            "A multilabel project's prequential micro-F1 over every label set.",
            labels=["project"],
        )
        rolling_micro_f1 = GaugeMetricFamily(
            "streamloop_rolling_micro_f1",
            "A multilabel project's prequential micro-F1 over the window.",
            labels=["project"],
        )
        span_f1 = GaugeMetricFamily(
            "streamloop_span_f1",
            "A spans project's prequential span F1 (exact match) over every item.",
            labels=["project"],
        )
        rolling_span_f1 = GaugeMetricFamily(
            "streamloop_rolling_span_f1",
            "A spans project's prequential span F1 (exact match) over the window.",
            labels=["project"],
        )
        review = GaugeMetricFamily(
            "streamloop_review_waiting", "Items waiting for review.", labels=["project"]
        )
        quarantined = GaugeMetricFamily(
            "streamloop_annotator_quarantined",
            "1 while an annotator's labels do not count (quarantined, or being rebuilt either "
            "way), else 0.",
            labels=["project", "annotator"],
        )
        counters = {
            "events_total": CounterMetricFamily(
                "streamloop_events",
                "Events stored as items (duplicates not counted). With --broker, those every "
                "worker and web process stored, as the store counts them (read again every "
                "few seconds).",
                labels=["project"],
            ),
            "labels_total": CounterMetricFamily(
                "streamloop_labels", "Labels learned.", labels=["project"]
            ),
            "shed_total": CounterMetricFamily(
                "streamloop_shed_items", "Items shed from a full queue.", labels=["project"]
            ),
            "leases_expired_total": CounterMetricFamily(
                "streamloop_lease_expiries", "Leases that expired.", labels=["project"]
            ),
        }
        if self.service.ready:
            for runtime in self.service.projects():
                figures = runtime.metrics()
                name = [runtime.record.name]
                for key, family in gauges.items():
                    if figures[key] is not None:
                        family.add_metric(name, float(figures[key]))
                for key, counter in counters.items():
                    counter.add_metric(name, float(figures[key]))
                if figures["unbiased_accuracy"]["estimate"] is not None:
                    estimate.add_metric(name, float(figures["unbiased_accuracy"]["estimate"]))
                drift.add_metric(name, float(DRIFT_STATES.index(figures["drift"]["state"])))
                drifts.add_metric(name, float(figures["drift"]["drifts_total"]))
                for annotator, their in figures["annotators"].items():
                    if their["gold"] is not None:
                        gold.add_metric([*name, annotator], float(their["gold"]["accuracy"]))
                        gold_answered.add_metric(
                            [*name, annotator], float(their["gold"]["answered"])
                        )
                    quarantined.add_metric([*name, annotator], float(their["state"] != "active"))
                    # A spans project's pairwise figure is span F1, not kappa.
                    pairs = pair_f1 if figures["task"] == "spans" else kappa
                    for other, value in their["kappa"].items():
                        if value is not None:
                            pairs.add_metric([*name, annotator, other], float(value))
                agreement = figures["agreement"]
                if agreement.get("f1") is not None:
                    agreement_f1.add_metric(name, float(agreement["f1"]))
                if agreement["alpha"] is not None:
                    alpha.add_metric(name, float(agreement["alpha"]))
                alpha_items.add_metric(name, float(agreement["items"]))
                review.add_metric(name, float(figures["review"]["waiting"]))
                for family, key in (
                    (micro_f1, "micro_f1"),
                    (rolling_micro_f1, "rolling_micro_f1"),
                    (span_f1, "f1"),
                    (rolling_span_f1, "rolling_f1"),
                ):
                    if figures.get(key) is not None:
                        family.add_metric(name, float(figures[key]))
        yield from gauges.values()
        yield from (estimate, drift, drifts, gold, gold_answered, quarantined)
        yield from (kappa, alpha, alpha_items, review, micro_f1, rolling_micro_f1)
        yield from (span_f1, rolling_span_f1, pair_f1, agreement_f1)
        yield from counters.values()
        refused = CounterMetricFamily(
            "streamloop_refused",
            "Requests and messages refused or dropped under load, by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(self.refused.items()):
            refused.add_metric([reason], float(count))
        yield refused
        dropped = CounterMetricFamily(
            "streamloop_journal_dropped",
            "Background writes (lease history, shed items) dropped because the store fell "
            "that far behind.",
        )
        dropped.add_metric([], float(self.service.journal.dropped))
        yield dropped
        bridge = _bridge_of(self.service)
        if bridge is not None:
            yield from _deployment_metrics(self.service, bridge)


def _deployment_metrics(service: Service, bridge: KafkaBridge) -> Iterator[Metric]:
    """With ``--broker``: what serve last saw of the broker and the workers, and the labels
    whose learner did not answer in time."""
    timeouts = CounterMetricFamily(
        "streamloop_learner_timeouts",
        "Labels answered 503 learner_timeout: no outcome from the learner within "
        "STREAMLOOP_LEARNER_TIMEOUT_SECONDS (not counted in streamloop_refused_total).",
        labels=["project"],
    )
    if service.ready:
        for runtime in service.projects():
            name = runtime.record.name
            timeouts.add_metric([name], float(bridge.learner_timeouts(name)))
    yield timeouts
    connected = GaugeMetricFamily(
        "streamloop_broker_connected", "1 while the Kafka broker answers serve, else 0."
    )
    connected.add_metric([], float(bridge.deployment.connected))
    yield connected
    workers = GaugeMetricFamily(
        "streamloop_workers",
        "Members of the workers' consumer group (<prefix>-workers): the workers that learn "
        "and score. 0 while serve cannot reach the broker.",
    )
    workers.add_metric([], float(bridge.deployment.workers))
    yield workers


def registry_for(service: Service, refused: Refusals) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_LoopCollector(service, refused))
    registry.register(PausesCollector())
    return registry
