"""Validate selected raw resources against FHIR R4 (fhir.resources R4B models), one at a time.

An invalid resource is skipped and named (type/id and the failing element), never fatal: one bad
Observation must not hide a valid relapse record. The message carries no field values (no PHI).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.specimen import Specimen
from pydantic import ValidationError

MODELS = {"Patient": Patient, "Condition": Condition, "Observation": Observation, "Procedure": Procedure, "Specimen": Specimen}


def label(resource: Mapping) -> str:
    """`Type/id` for messages and fact sources."""
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid if isinstance(rid, str) else '(no id)'}"


def validate_resource(resource: Mapping) -> tuple[Any | None, str | None]:
    """(model, None) when valid; (None, reason) when not."""
    model = MODELS.get(resource.get("resourceType"))
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
