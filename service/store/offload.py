"""Blocking database work off the event loop when the worker is a gevent worker.

Under gevent (`relapse-cds serve`, docker/gunicorn.conf.py) every request of a worker is a greenlet
on one native thread. A SQLite commit with synchronous=FULL waits for fsync inside the C library,
which no greenlet can yield from: a background audit commit would hold every request of the worker
for the disk's flush time (measured: parse-only p50 18 ms instead of 12 ms beside patient-view).
`blocking(fn, ...)` runs such work in gevent's native thread pool while the calling greenlet waits
cooperatively; without gevent it simply calls `fn`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # gevent is a dependency of serving only
        return False
    return bool(monkey.is_module_patched("threading"))


def blocking(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, in a native thread when gevent patched this process (exceptions re-raised here)."""
    if not _gevent_patched():
        return fn(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(fn, args)
