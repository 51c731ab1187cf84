"""A bounded cache of validated models, for a chart opened again (patient-view fires on every open).

Keyed by resource type, id, `meta.versionId` and `meta.lastUpdated`, as a FHIR server versions a
resource. The key alone is not trusted: a hit is used only when the resource sent now serialises to
the same bytes as the one validated then (marshal format 0: typed, no back-references; ~5 us for a
resource, against ~150 us to validate it), so a client that reuses a version id for other content gets
its content validated, never another's model. Bytes, not dict equality: Python holds 1 == 1.0 ==
True, FHIR does not (an integer, a decimal, a boolean).
Resources without a version (no versionId and no lastUpdated) are not cached.
"""

from __future__ import annotations

import marshal
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

Result = tuple[Any, "str | None"]


class ModelCache:
    """Least-recently-used, at most `size` entries, safe across threads of one process.

    `store_after_answer`: a record validated anew is remembered, and copied into the cache (its bytes
    made, the oldest entries dropped) only when `store_pending` is called: the service calls it once
    the answer is sent, so that a chart opened for the first time does not wait for it (about 0.7 ms
    a request in a worker for the benchmark's chart, more at p90). Until then, the record is simply
    not in the cache: a request that meets it meanwhile validates it, as it would have. The bytes are
    made from the caller's own dict then, so nothing may change a raw resource after validating it
    (the service never does: tests/test_serving_setup.py holds every step of a request to it)."""

    def __init__(self, size: int, *, store_after_answer: bool = False):
        self.size = size
        self._entries: OrderedDict[tuple, tuple[bytes, Result]] = OrderedDict()
        self._lock = threading.Lock()
        #: Public: a benchmark switches it between requests (what is pending is stored by the next call anyway).
        self.store_after_answer = store_after_answer
        self._pending: list[tuple[tuple, Mapping, Result]] = []
        self.hits = self.misses = 0

    def validated(self, resource: Mapping, validate: Callable[[Mapping], Result]) -> Result:
        key = _key(resource) if self.size > 0 else None
        if key is None:
            return validate(resource)
        with self._lock:
            entry = self._entries.get(key)
        text = None
        if entry is not None or not self.store_after_answer:
            try:
                text = marshal.dumps(resource, 0)
            except ValueError:  # not JSON-shaped (an in-process caller's object): validate, do not cache
                return validate(resource)
        if entry is not None and entry[0] == text:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                self.hits += 1
            return entry[1]
        result = validate(resource)
        if text is None:
            with self._lock:
                self._pending.append((key, resource, result))
        else:
            self._store(key, text, result)
        return result

    def store_pending(self) -> None:
        """Copy the records validated since the last call into the cache (`store_after_answer`)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for key, resource, result in pending:
            try:
                text = marshal.dumps(resource, 0)
            except ValueError:  # not JSON-shaped: not cached, as without `store_after_answer`
                continue
            self._store(key, text, result)

    def _store(self, key: tuple, text: bytes, result: Result) -> None:
        with self._lock:
            self.misses += 1
            self._entries[key] = (text, result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _key(resource: Mapping) -> tuple | None:
    rid, meta = resource.get("id"), resource.get("meta")
    if not isinstance(rid, str) or not isinstance(meta, Mapping):
        return None
    version, updated = meta.get("versionId"), meta.get("lastUpdated")
    if not isinstance(version, str) and not isinstance(updated, str):
        return None
    return (resource.get("resourceType"), rid, version if isinstance(version, str) else None, updated if isinstance(updated, str) else None)
