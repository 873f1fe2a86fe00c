"""The garbage collector's pauses (`streamloop.streams.pauses`) as Prometheus series, on the
web processes' ``/metrics`` and on the workers'."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from streamloop.streams.pauses import GENERATIONS, PAUSE_BOUNDS, PAUSES, frozen_objects

__all__ = ["PausesCollector"]


class PausesCollector(Collector):
    """``streamloop_gc_pause_seconds`` and ``streamloop_gc_frozen_objects``; timing starts
    when the first is made."""

    def __init__(self) -> None:
        PAUSES.install()

    def collect(self) -> Iterator[Metric]:
        pauses = HistogramMetricFamily(
            "streamloop_gc_pause_seconds",
            "The garbage collector's pauses of the whole process, by generation "
            "(2: full collections).",
            labels=["generation"],
        )
        for generation in range(GENERATIONS):
            counts, seconds = PAUSES.read(generation)
            cumulative = [sum(counts[: i + 1]) for i in range(len(PAUSE_BOUNDS))]
            buckets = [
                (str(bound), float(n))  # as prometheus_client writes bounds
                for bound, n in zip(PAUSE_BOUNDS, cumulative, strict=True)
            ]
            buckets.append(("+Inf", float(sum(counts))))
            pauses.add_metric([str(generation)], buckets, seconds)
        yield pauses
        yield GaugeMetricFamily(
            "streamloop_gc_frozen_objects",
            "Objects left out of the garbage collector's walks (gc.freeze), as counted at the "
            "last freeze.",
            value=frozen_objects(),
        )
