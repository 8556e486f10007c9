"""bench.scoring_cost: the garbage-collector clock that splits GC time out of the headline."""
from __future__ import annotations

import gc

from bench.scoring_cost import GcClock


def test_gc_clock_counts_collections_only_while_active() -> None:
    before = list(gc.callbacks)
    with GcClock() as clock:
        gc.collect()
    assert clock.seconds > 0.0 and gc.callbacks == before
    seen = clock.seconds
    gc.collect()
    assert clock.seconds == seen
