"""What one request may carry: resources per prefetch key and in all. Each resource may have to be
validated (~0.15 ms), so these bound a request's cost; above them the answer is 413, not a slow 200."""

from __future__ import annotations

from collections.abc import Mapping

from ..fhir.parse import is_json_object
from .errors import ApiError


def _count(value: object) -> int:
    if not is_json_object(value):
        return 0
    if value.get("resourceType") != "Bundle":
        return 1
    entries = value.get("entry")
    # Entries without a resource cost nothing to read (they are counted in one line of the answer).
    return sum(1 for e in entries if is_json_object(e) and is_json_object(e.get("resource"))) if isinstance(entries, list) else 0


def check_prefetch_size(prefetch: Mapping | None, per_key: int, total: int) -> None:
    """Raise 413 (OperationOutcome `too-costly`) when a key, or all keys together, hold too many resources."""
    counts = {key: _count(value) for key, value in (prefetch or {}).items()}
    for key, count in counts.items():
        if count > per_key:
            raise ApiError(413, "too-costly", f"prefetch {str(key)[:64]!r} holds {count} resources; at most {per_key} per key are accepted")
    if sum(counts.values()) > total:
        raise ApiError(413, "too-costly", f"the prefetch holds {sum(counts.values())} resources; at most {total} in all are accepted")
