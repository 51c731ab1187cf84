"""One direction, no shortcuts: prefetch -> selected raw resources -> FHIR models -> features -> assessment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from .definition import ServiceDefinition
from .features.extract import extract
from .features.model import Features
from .fhir.parse import label, validate_resource
from .fhir.select import Selector, subject_id
from .knowledge import Knowledge
from .prefetch import resolve
from .rules.assess import Assessment, assess


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
    notes: Sequence[str] = (),
) -> Evaluation:
    """`notes`: what fetching the data said (capped, failed), listed with the prefetch problems."""
    resolved = resolve(prefetch, service)
    problems = list(resolved.problems) + list(notes)
    if patient_id is None:  # a bare Bundle: the record is about its Patient
        patient_id = next((r.get("id") for r in resolved.resources if r.get("resourceType") == "Patient"), None)
    models = []
    unreadable_relapses: list[str] = []  # invalid Conditions that may record a relapse
    clashes: list[str] = []  # ids the rules would read twice, with different content
    for resource in resolved.resources:
        if not selector.relevant(resource):
            continue
        rid = resource.get("id")
        if isinstance(rid, str) and (resource.get("resourceType"), rid) in resolved.clashes and label(resource) not in clashes:
            clashes.append(label(resource))
        if resource.get("resourceType") == "Patient":
            owner = resource.get("id")
            if patient_id is not None and owner is None:
                problems.append("Patient without an id ignored: it cannot be told to be this patient")
                continue
        else:
            owner = subject_id(resource)
        if patient_id is not None and owner is not None and owner != patient_id:
            problems.append(f"{label(resource)} ignored: it is about another patient")
            continue
        model, problem = validate_resource(resource)
        if problem:
            problems.append(problem)
            if resource.get("resourceType") == "Condition" and selector.may_be_relapse(resource):
                unreadable_relapses.append(label(resource))
        else:
            models.append(model)
    features = extract(
        models, knowledge.codemap, as_of=as_of, unavailable=frozenset(resolved.unavailable), problems=problems,
        unreadable_relapses=tuple(unreadable_relapses), id_clashes=tuple(clashes),
    )
    return Evaluation(features, assess(features), patient_id)
