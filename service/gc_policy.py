"""When the garbage collector runs: once at start-up (then everything loaded is frozen), and after a
CDS answer has been sent, not inside a request.

Reference counting frees almost everything a request makes; the cyclic collector is only for what
forms cycles. CPython starts a collection when its count of tracked objects passes a threshold,
inside whichever request is then running. The count is net (objects made minus objects freed), but
the young generation holds every object made since the last collection that is still alive; as the
model cache turns over, that comes to be most of the cache. On the benchmark's chart such a collection
took 15-66 ms, inside 1 request in 400 to 800. Collecting the young generation after every answer
keeps it to what the last request left (0.25 ms on average); the older generations follow CPython's
thresholds, at the same moment. The price is CPU: the cached models are now scanned once or twice each
(about 0.4 ms an answer in all, against well under 0.1 ms when most were dropped from the cache before
any collection saw them), spent while no CDS call is waiting. CPython's own trigger stays on, as a
backstop for one very large request.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

#: Young collections every 50,000 net allocations: a request's objects (parsed JSON, FHIR models;
#: some hundred thousand for a large chart) die by reference count before a collection can promote
#: them. With CPython's defaults (700, 10, 10) they reached the oldest generation and a full
#: collection, scanning the model cache too, ran every eight requests or so (~70 ms each).
THRESHOLDS = (50_000, 20, 100)


def configure_at_start() -> None:
    """Freeze what start-up loaded (knowledge, FHIR model classes), which lives as long as the process:
    no collection scans it again (the benchmark's p99 fell from ~20 ms to ~5 ms), and, done before
    gunicorn forks, collections in the workers do not write to those pages (reference counts still do)."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def generation_due() -> int:
    """The generation CPython would collect at its next trigger: the oldest one whose count (how often
    the generation below it was collected since its own last collection) exceeds its threshold, else
    the young one. Unlike CPython, a full collection is not put off while few objects have reached the oldest
    generation since the last one: here a middle collection runs after every 22nd answer or so, a
    full one after about every 2,200th."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1):
        if counts[generation] > thresholds[generation]:
            return generation
    return 0


class AfterAnswer:
    """Collects garbage once a CDS answer is sent, when this process is answering no other CDS call
    (`requests_in_flight`; discovery, feedback and health checks are not counted: they are short).

    `enabled` is public: the benchmark (bench/gc_pauses.py) compares both ways in one run."""

    def __init__(self, requests_in_flight: Callable[[], int], enabled: bool = True):
        self._requests_in_flight = requests_in_flight
        self.enabled = enabled

    def collect(self) -> None:
        if self.enabled and gc.isenabled() and self._requests_in_flight() == 0:
            gc.collect(generation_due())
