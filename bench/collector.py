"""The garbage collector's settings for ``streamloop serve``, compared in turn.

For each setting (``STREAMLOOP_GC_FREEZE``, ``STREAMLOOP_GC_YOUNG``), one after the other and
``--rounds`` times over, runs ``bench/labels.py`` (tabular and text projects, 20 annotators
flat out) and ``bench/events.py`` (tabular, batches of 500), each against its own server, and
prints one JSON line per run: the server's CPU per label or event, the ack p99, and the
garbage collections in the timed window by generation (how many, their milliseconds, the
longest's bound). Settings alternate so that a machine whose speed drifts favours none.

    python bench/collector.py --rounds 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import orjson
from server import machine_line

#: The settings compared: Python's own collector, then the collector tuned two ways.
SETTINGS = {
    "python (no freeze, young 700)": {"STREAMLOOP_GC_FREEZE": "0", "STREAMLOOP_GC_YOUNG": "700"},
    "freeze, young 700": {"STREAMLOOP_GC_FREEZE": "1", "STREAMLOOP_GC_YOUNG": "700"},
    "freeze, young 10000": {"STREAMLOOP_GC_FREEZE": "1", "STREAMLOOP_GC_YOUNG": "10000"},
    "no freeze, young 10000": {"STREAMLOOP_GC_FREEZE": "0", "STREAMLOOP_GC_YOUNG": "10000"},
}

#: The workloads: a benchmark script and its arguments.
WORKLOADS = {
    "labels tabular": ["labels.py", "--task", "tabular", "--annotators", "20", "--labels", "3000"],
    "labels text": ["labels.py", "--task", "classify", "--annotators", "20", "--labels", "3000"],
    "events tabular": ["events.py", "--events", "20000", "--batch", "500", "--clients", "4"],
}

#: What each run reports, from the benchmark's result line.
FIGURES = (
    "server_cpu_us_per_label",
    "server_cpu_us_per_event",
    "labels_per_second",
    "http_events_per_s",
    "ack_p99_ms",
    "server_gc",
)


def run(workload: list[str], env: dict[str, str]) -> dict[str, object]:
    here = Path(__file__).parent
    done = subprocess.run(
        [sys.executable, *workload],
        cwd=here,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{workload} failed ({done.returncode}): {done.stderr[-2000:]}")
    for line in reversed(done.stdout.splitlines()):
        result = orjson.loads(line)
        if "server_gc" in result:
            return {key: result[key] for key in FIGURES if key in result}
    raise RuntimeError(f"no result from {workload}: {done.stdout[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", nargs="*", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = parser.parse_args()
    print(machine_line(), flush=True)
    for round_ in range(1, args.rounds + 1):
        for workload in args.only:
            for setting, env in SETTINGS.items():
                result = run(WORKLOADS[workload], env)
                line = {"round": round_, "workload": workload, "setting": setting, **result}
                print(orjson.dumps(line).decode(), flush=True)


if __name__ == "__main__":
    main()
