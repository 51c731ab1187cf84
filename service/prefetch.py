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
from .fhir.parse import is_json_object, label


@dataclass
class ResolvedPrefetch:
    resources: list[dict] = field(default_factory=list)
    unavailable: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    #: (resourceType, id) sent more than once with different content: the record contradicts itself.
    clashes: set[tuple[str, str]] = field(default_factory=set)


def _bundle_resources(bundle: Mapping, key: str, problems: list[str]) -> list[dict]:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        problems.append(f"prefetch {key}: Bundle.entry is not a list; ignored")
        return []
    found, empty = [], 0
    for entry in entries:
        resource = entry.get("resource") if is_json_object(entry) else None
        if is_json_object(resource) and isinstance(resource.get("resourceType"), str):
            found.append(resource)
        else:
            empty += 1
    if empty:  # one line, however many: a junk Bundle must not multiply into the answer
        problems.append(f"prefetch {key}: {empty} Bundle entr{'y has' if empty == 1 else 'ies have'} no resource; ignored")
    links = bundle.get("link")
    if isinstance(links, list) and any(isinstance(link, Mapping) and link.get("relation") == "next" for link in links):
        problems.append(f"prefetch {key}: the Bundle has further pages that were not sent; only the first page was read")
    return found


_HARMLESS_SEVERITIES = frozenset({"information", "warning"})


def _search_failed(resources: list[dict], key: str, problems: list[str]) -> bool:
    """Does the searchset carry an OperationOutcome that is not plainly harmless? Only issues that say
    `information` or `warning` are noted and the data used; any other (error, fatal, missing, odd) fails."""
    outcomes = [r for r in resources if r.get("resourceType") == "OperationOutcome"]
    issues = [i for r in outcomes for i in (r.get("issue") if isinstance(r.get("issue"), list) else [None])]
    severities = [i.get("severity") if isinstance(i, Mapping) else None for i in issues]
    if any(not isinstance(s, str) or s not in _HARMLESS_SEVERITIES for s in severities):
        problems.append(f"prefetch {key}: the search reported an error (OperationOutcome in the Bundle); its data may be incomplete and was not relied on")
        return True
    if severities:
        problems.append(f"prefetch {key}: the search reported {len(severities)} warning(s) (OperationOutcome in the Bundle)")
    return False


def resolve(prefetch: Mapping | None, service: ServiceDefinition) -> ResolvedPrefetch:
    result = ResolvedPrefetch()
    prefetch = prefetch or {}
    seen: dict[tuple[str, str], Mapping] = {}
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
        if _search_failed(resources, spec.key, result.problems):
            # CDS Hooks: a service SHOULD check a prefetched Bundle for OperationOutcomes. A search that
            # reports an error may have returned only part of the data: treat the domain as unavailable.
            result.unavailable.add(spec.domain)
        for resource in resources:
            rid = resource.get("id")
            identity = (resource.get("resourceType"), rid)
            if isinstance(rid, str) and identity in seen:
                if seen[identity] == resource:
                    continue  # the same resource sent twice (under two keys, or via _include)
                # Two different resources under one id: which one is true cannot be told. Both are read,
                # and if the rules use them the clash withholds the answers (a contradiction).
                result.problems.append(f"{label(resource)}: two different resources share this id; both were read")
                result.clashes.add(identity)
            elif isinstance(rid, str):
                seen[identity] = resource
            result.resources.append(resource)
    return result


def bundle_as_prefetch(bundle: Mapping, service: ServiceDefinition) -> dict:
    """A Bundle holding a whole record (the `assess` command, tests): every domain available."""
    keys = {spec.key: None for spec in service.prefetch}
    keys["conditions"] = bundle
    return keys
