"""Resolve the request's prefetch, in all its states, into one pool of raw FHIR resources.

CDS Hooks 2.0: a key may be present (a resource or a Bundle), absent (the client did not or could
not fetch it), null (the query found no data), or hold an OperationOutcome (the fetch failed).
Absent and failed keys make their domain *unavailable*: the rules treat its facts as unknown and the
cards say what could not be had. Null is a definite "nothing recorded".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .definition import ServiceDefinition


@dataclass
class ResolvedPrefetch:
    resources: list[dict] = field(default_factory=list)
    unavailable: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def _bundle_resources(bundle: Mapping, key: str, problems: list[str]) -> list[dict]:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        problems.append(f"prefetch {key}: Bundle.entry is not a list; ignored")
        return []
    found = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping) and isinstance(resource.get("resourceType"), str):
            found.append(resource)
        else:
            problems.append(f"prefetch {key}: Bundle.entry[{i}] has no resource; ignored")
    if any(isinstance(l, Mapping) and l.get("relation") == "next" for l in bundle.get("link") or []):
        problems.append(f"prefetch {key}: the Bundle has further pages that were not sent; only the first page was read")
    return found


def resolve(prefetch: Mapping | None, service: ServiceDefinition) -> ResolvedPrefetch:
    result = ResolvedPrefetch()
    prefetch = prefetch or {}
    seen: set[tuple[str, str]] = set()
    for spec in service.prefetch:
        if spec.key not in prefetch:
            result.unavailable.add(spec.domain)
            result.problems.append(f"prefetch {spec.key} absent: {spec.domain} could not be read")
            continue
        value = prefetch[spec.key]
        if value is None:
            continue  # the client found no data: a definite "nothing recorded"
        rtype = value.get("resourceType")
        if rtype == "OperationOutcome":
            result.unavailable.add(spec.domain)
            result.problems.append(f"prefetch {spec.key} returned an OperationOutcome: {spec.domain} could not be read")
            continue
        resources = _bundle_resources(value, spec.key, result.problems) if rtype == "Bundle" else [value]
        for resource in resources:
            identity = (resource.get("resourceType"), str(resource.get("id")))
            if resource.get("id") is not None and identity in seen:
                continue  # the same resource sent under two keys (e.g. via _include)
            seen.add(identity)
            result.resources.append(resource)
    return result


def bundle_as_prefetch(bundle: Mapping, service: ServiceDefinition) -> dict:
    """A Bundle holding a whole record (the `assess` command, tests): every domain available."""
    keys = {spec.key: None for spec in service.prefetch}
    keys["conditions"] = bundle
    return keys
