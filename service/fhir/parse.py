"""Validate selected raw resources against FHIR R4 (fhir.resources R4B models), one at a time.

An invalid resource is skipped and named (type/id and the failing element), never fatal: one bad
Observation must not hide a valid relapse record. The message carries no field values (no PHI).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.specimen import Specimen
from pydantic import ValidationError

from .cache import ModelCache
from .shapes import ShapeValidator

MODELS = {"Patient": Patient, "Condition": Condition, "Observation": Observation, "Procedure": Procedure, "Specimen": Specimen}


def is_json_object(value: object) -> bool:
    """A JSON object: a dict from json.loads (checked first: the abstract Mapping check costs more, and
    the raw passes run it several times for each of thousands of records), or another Mapping."""
    return type(value) is dict or isinstance(value, Mapping)


def label(resource: Mapping) -> str:
    """`Type/id` for messages and fact sources."""
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid if isinstance(rid, str) else '(no id)'}"


def validate_resource(resource: Mapping) -> tuple[Any | None, str | None]:
    """(model, None) when valid; (None, reason) when not."""
    rtype = resource.get("resourceType")
    model = MODELS.get(rtype) if isinstance(rtype, str) else None
    if model is None:
        return None, f"{label(resource)}: resource type not used"
    try:
        return model.model_validate(resource), None
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("root",)) or "(resource)"
        return None, f"{label(resource)} skipped: not valid FHIR R4 at {where} ({first.get('type', 'invalid')}; {exc.error_count()} error(s))"
    except Exception as exc:  # noqa: BLE001 - the model library raises KeyError, TypeError... on odd input
        return None, f"{label(resource)} skipped: not valid FHIR R4 ({type(exc).__name__})"


def new_shape_validator() -> ShapeValidator:
    return ShapeValidator(MODELS, validate_resource)


@dataclass(frozen=True)
class Parsed:
    """The second pass: models of the selected resources, and what could not be read."""

    models: tuple[Any, ...]
    problems: tuple[str, ...]
    #: Invalid Conditions that may record a relapse: their loss leaves the relapse count unknown.
    unreadable_relapses: tuple[str, ...]


def parse(picks: Iterable[Any], cache: ModelCache | None = None, *, by_shape: bool = True,
          shapes: ShapeValidator | None = None) -> Parsed:
    """Validate each selected resource once (`Pick`s from select.py: resource, may_be_relapse); a
    resource validated for an earlier request, unchanged, comes from the cache. `by_shape` checks a
    record against one of the same shape validated in full before it (shapes.py: the same model,
    cheaper; `shapes` keeps the templates across requests); without it every resource is validated in
    full (the reference path)."""
    validate = (shapes or new_shape_validator()).validate if by_shape else validate_resource
    models, problems, unreadable = [], [], []
    for pick in picks:
        model, problem = cache.validated(pick.resource, validate) if cache is not None else validate(pick.resource)
        if problem:
            problems.append(problem)
            if pick.may_be_relapse:
                unreadable.append(label(pick.resource))
        else:
            models.append(model)
    return Parsed(tuple(models), tuple(problems), tuple(unreadable))
