"""Validate a record against one of the same shape already validated: only what differs is checked.

An EHR writes every record of a kind the same way: a blast count differs from the next one in its id,
meta, identifier, dates, value and report reference, never in its category, code, unit or reference
ranges. Validating a resource with fhir.resources costs ~0.15 ms, almost all of it in the Python
validators run for every nested element; validating the five or six elements that differ costs a
fraction of that.

Exact, not approximate: a record R is read from a template T (a resource of the same type and the same
set of members that fhir.resources validated in full, in this request or an earlier one) only when
- every member that differs holds a value on both sides (not null, so that the model's presence rules,
  "one of onset[x]" and required elements, see the same members present), and is not a list holding a
  null (the model rejects those before it validates members);
- each differing member validates on its own, with the field's own type from the model class.
Members are compared as typed bytes (marshal format 0), not with ==: Python holds 1 == 1.0 == True,
FHIR does not. Every other case, and every record that does not validate this way, is validated in
full, so an invalid record gets the model's own error message. tests/test_shapes.py holds this path to
full validation on random mutations of real records (validity and the model's JSON alike).
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

Result = tuple[Any, "str | None"]
#: A record differing from its template in more members than this is validated in full (and becomes
#: the template): checking most members one by one would cost as much.
MAX_DIFFERING = 8
#: Shapes kept per worker (the oldest goes first): an EHR sends a few dozen; a client sending a new
#: shape with every record only makes the service validate in full, as it would anyway.
MAX_TEMPLATES = 256


class ShapeValidator:
    """Templates by resource type and set of members, kept across requests of one worker (a template
    lends no value to a record: every member that differs is the record's own, validated; the rest is
    equal byte for byte). `validate` has parse.py's contract."""

    def __init__(self, models: Mapping[str, type], validate_in_full: Callable[[Mapping], Result], limit: int = MAX_TEMPLATES):
        self._models = models
        self._full = validate_in_full
        self._limit = limit
        self._templates: dict[tuple[str, frozenset], tuple[dict[str, bytes], Any]] = {}
        self.in_full = self.by_shape = 0

    def validate(self, resource: Mapping) -> Result:
        rtype = resource.get("resourceType")
        model_class = self._models.get(rtype) if isinstance(rtype, str) else None
        if model_class is None:
            return self._full(resource)
        key = (rtype, frozenset(resource))
        template = self._templates.get(key)
        if template is not None:
            model = _from_template(model_class, resource, *template)
            if model is not None:
                self.by_shape += 1
                return model, None
        self.in_full += 1
        model, problem = self._full(resource)
        if model is not None:
            try:
                self._templates[key] = ({k: marshal.dumps(v, 0) for k, v in resource.items()}, model)
            except ValueError:  # not JSON-shaped (an in-process caller's object): no template
                pass
            while len(self._templates) > self._limit:
                self._templates.pop(next(iter(self._templates)), None)
        return model, problem


def _from_template(model_class: type, resource: Mapping, members: dict[str, bytes], model: Any) -> Any | None:
    """The model of `resource` built on the template's, or None when it must be validated in full."""
    update: dict[str, Any] = {}
    try:
        for key, value in resource.items():
            if marshal.dumps(value, 0) == members[key]:
                continue
            if value is None or key == "resourceType" or (isinstance(value, list) and any(item is None for item in value)):
                return None
            field = _field_names(model_class).get(key)
            if field is None or getattr(model, field) is None or len(update) >= MAX_DIFFERING:
                return None
            update[field] = _adapter(model_class, field).validate_python(value)
    except (ValidationError, ValueError, TypeError, KeyError):
        return None
    return model.model_copy(update=update)


_ADAPTERS: dict[tuple[type, str], TypeAdapter] = {}
_FIELD_NAMES: dict[type, dict[str, str]] = {}


def _field_names(model_class: type) -> dict[str, str]:
    """JSON member name -> the model's field name (`_recordedDate` -> `recordedDate__ext`)."""
    names = _FIELD_NAMES.get(model_class)
    if names is None:
        names = _FIELD_NAMES[model_class] = {(info.alias or name): name for name, info in model_class.model_fields.items()}
    return names


def _adapter(model_class: type, field: str) -> TypeAdapter:
    adapter = _ADAPTERS.get((model_class, field))
    if adapter is None:
        adapter = _ADAPTERS[(model_class, field)] = TypeAdapter(model_class.model_fields[field].annotation)
    return adapter
