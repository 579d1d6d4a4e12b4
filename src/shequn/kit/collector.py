"""The cycle collector's settings for a shequn process.

A batch of intake allocates hundreds of thousands of short-lived objects, so under Python's
default thresholds (700, 10, 10) the collector keeps promoting them and runs a full collection
every second or so, each one walking every object the process holds: 18% of the time of a day
of `brand-10k` went to the collector. Collecting the youngest generation every 50,000
allocations and the older ones rarely, with the code loaded at start set aside for good,
brings that to about 6% (bench/RESULTS.md). Garbage without cycles is freed at once either
way; cycles are still collected, only later.
"""

import gc

YOUNG = 50_000
MIDDLE = 5
OLD = 100


def settle_collector() -> None:
    """Once a process has loaded its code: set it aside and space out the collections.

    For a process's entry point only: what is alive now is never scanned again, so a library
    call (or a test) that froze its caller's objects would keep their cycles forever.
    """
    # No collection first: after the imports it finds a few dozen objects and costs every
    # command about 0.1 s at start.
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
