"""One direction, no shortcuts: prefetch -> selected raw resources -> FHIR models -> features -> assessment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from .definition import ServiceDefinition
from .features.extract import extract
from .features.model import Features
from .fhir.cache import ModelCache
from .fhir.parse import parse
from .fhir.shapes import ShapeValidator
from .fhir.select import Selector, select
from .knowledge import Knowledge
from .prefetch import resolve
from .rules.assess import Assessment, assess


class TooManyToRead(ValueError):
    """The record holds more resources that can decide the answer than one request may validate."""

    def __init__(self, count: int, limit: int):
        super().__init__(f"the prefetch holds {count} resources that would have to be validated; at most {limit} are accepted")
        self.count, self.limit = count, limit


@dataclass(frozen=True)
class Evaluation:
    features: Features
    assessment: Assessment
    patient_id: str | None


def evaluate(
    prefetch: Mapping | None,
    patient_id: str | None,
    knowledge: Knowledge,
    service: ServiceDefinition,
    selector: Selector,
    as_of: date,
    *,
    notes: Sequence[str] = (),
    lazy: bool = True,
    cache: ModelCache | None = None,
    shapes: ShapeValidator | None = None,
    max_validated: int | None = None,
) -> Evaluation:
    """`notes`: what fetching the data said (capped, failed), listed with the prefetch problems.
    `lazy` validates only the records that can decide the answer (fhir/select.py says which); the
    answer counts the others (`recordsNotRead`) and leaves them off its timeline. `lazy=False`
    validates and draws every relevant record: the reference the property tests hold it to.
    `shapes` keeps, across requests, a record of each shape validated in full: a record of a known shape
    is checked against it member by member (fhir/shapes.py), with the same result, at less cost.
    More than `max_validated` records to validate raise `TooManyToRead` before any is validated."""
    resolved = resolve(prefetch, service)
    if patient_id is None:  # a bare Bundle: the record is about its Patient
        patient_id = next((r.get("id") for r in resolved.resources if r.get("resourceType") == "Patient"), None)
    selection = select(resolved.resources, patient_id, selector, resolved.clashes, lazy=lazy)
    if max_validated is not None and len(selection.picks) > max_validated:
        raise TooManyToRead(len(selection.picks), max_validated)
    # The reference path validates every record in full and shares no cache with the lazy one.
    parsed = parse(selection.picks, cache if lazy else None, by_shape=lazy, shapes=shapes)
    features = extract(
        parsed.models, knowledge.codemap, as_of=as_of, unavailable=frozenset(resolved.unavailable),
        problems=[*resolved.problems, *notes, *selection.problems, *parsed.problems],
        unreadable_relapses=parsed.unreadable_relapses, id_clashes=selection.clashes,
    )
    features = replace(features, problems=bounded(features.problems), records_not_read=selection.skipped)
    return Evaluation(features, assess(features), patient_id)


#: An answer lists at most this many records it could not use, then counts the rest: ten megabytes of
#: broken records must not come back as megabytes of answer.
MAX_PROBLEMS_LISTED = 100


def bounded(problems: tuple[str, ...]) -> tuple[str, ...]:
    if len(problems) <= MAX_PROBLEMS_LISTED:
        return problems
    rest = len(problems) - MAX_PROBLEMS_LISTED
    return (*problems[:MAX_PROBLEMS_LISTED], f"... and {rest} more record{'s' if rest > 1 else ''} not used (not listed)")
