"""Python's cyclic garbage collector, set for processes that apply events in batches.

Reference counting frees almost every object of a batch (decoded envelopes, a patient's
evidence: structs, tuples, UUIDs) as soon as it is dropped; the cyclic collector is only
for cycles. By default it runs a pass over the young objects every 700 net allocations
of containers and, now and then, a pass over every object alive, so a batch that holds
a few hundred thousand objects at once pays for passes over them again and again:
decoding 5,000 stored patient states (``proj_case_state``, 4.7 KB each) took 218 µs a
state with the default thresholds, 25 µs with the collector off, 60 µs with the
thresholds below (``parcours bench scale``'s indicator rebuild spent 53 % of its time
there). The collector stays on (a cycle is still freed), less often: the young
objects every 100,000 allocations, and what exists once the process has started
(modules, settings) is moved out of every pass (``gc.freeze``).

``tune()`` is called by ``parcours.cli.main``: every service and benchmark process.
"""

from __future__ import annotations

import gc

THRESHOLDS = (100_000, 50, 100)


def tune() -> None:
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
