"""The garbage collector's pauses, timed, and the collector tuned for a service
(streams/pauses.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest

from streamloop.streams.pauses import PAUSE_BOUNDS, Pauses, keep


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0.0005, 0), (0.00051, 1), (0.0, 0), (1.0, len(PAUSE_BOUNDS) - 1), (2.0, len(PAUSE_BOUNDS))],
)
def test_a_pause_falls_in_the_first_bucket_it_fits_in(seconds: float, bucket: int):
    pauses = Pauses()
    pauses.record(1, seconds)
    counts, total = pauses.read(1)
    assert counts == [int(i == bucket) for i in range(len(PAUSE_BOUNDS) + 1)]
    assert total == seconds
    assert pauses.read(0) == ([0] * (len(PAUSE_BOUNDS) + 1), 0.0)


def test_every_collection_is_timed_once_installed():
    pauses = Pauses()
    pauses.install()
    pauses.install()  # once, however often
    try:
        gc.collect()
        counts, seconds = pauses.read(2)
        assert sum(counts) == 1 and seconds > 0
    finally:
        gc.callbacks.remove(pauses._on_collection)


def test_keep_freezes_nothing_unless_the_process_was_settled():
    frozen = gc.get_freeze_count()
    keep()
    assert gc.get_freeze_count() == frozen == 0


def test_a_settled_process_freezes_what_lasts_and_again_only_when_more_is_imported():
    # In a process of its own: a freeze is the whole process's, and lasts.
    script = textwrap.dedent(
        """
        import gc
        from streamloop.streams.pause_metrics import PausesCollector
        from streamloop.streams.pauses import frozen_objects, keep, settle
        settle(freeze=True, young=1234)
        assert gc.get_threshold()[0] == 1234
        started = gc.get_freeze_count()
        assert started > 1000, started
        # The count /metrics gives is the one made at the freeze: reading it walks nothing.
        def walk():
            raise AssertionError("counted again")
        gc.get_freeze_count, count = walk, gc.get_freeze_count
        [_, reported] = PausesCollector().collect()
        assert reported.samples[0].value == frozen_objects() == started
        gc.get_freeze_count = count
        full = gc.get_stats()[2]["collections"]
        keep()  # nothing imported since: no collection, nothing more frozen
        assert gc.get_stats()[2]["collections"] == full
        assert gc.get_freeze_count() == started
        import fractions, statistics  # a project's libraries, say
        keep()
        assert gc.get_stats()[2]["collections"] == full + 1
        assert gc.get_freeze_count() == frozen_objects() > started
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
