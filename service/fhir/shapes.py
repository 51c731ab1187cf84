"""Validate a record against one of the same shape already validated: only what differs is checked.

An EHR writes every record of a kind the same way: a blast count differs from the next one in its id,
meta, identifier, dates, value and report reference, never in its category, code, unit or reference
ranges. Validating a resource with fhir.resources costs ~0.15 ms, almost all of it in the Python
validators run for every nested element; validating the five or six elements that differ costs a
fraction of that.

Exact, not approximate: a record R is read from a template T (a resource of the same type and the same
set of members that fhir.resources validated in full, in this request or an earlier one) only when
- every member that differs holds a value on both sides (not null), and is not a list holding a null
  (the model rejects those before it validates members);
- each differing member validates on its own, with the field's own type from the model class; a
  member that is an object with the template member's members (an identifier, a meta), or a list of
  as many, is read the same way one level down (to MAX_DEPTH), with the same conditions;
- the model's checks across members ("one of onset[x]", a required element present or given by its
  primitive extension) pass when run again on the result, at every level.
Members are compared as typed bytes (marshal format 0), not with ==: Python holds 1 == 1.0 == True,
FHIR does not. Every other case, and every record that does not validate this way, is validated in
full, so an invalid record gets the model's own error message. tests/test_shapes.py holds this path to
full validation on random mutations of real records (validity and the model's JSON alike).
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

Result = tuple[Any, "str | None"]
#: A record differing from its template in more members than this is validated in full (and becomes
#: the template): checking most members one by one would cost as much.
MAX_DIFFERING = 8
#: Shapes kept per worker (the oldest goes first): an EHR sends a few dozen; a client sending a new
#: shape with every record only makes the service validate in full, as it would anyway.
MAX_TEMPLATES = 256
#: Objects inside a record read by shape down to this depth (meta, identifier, a Quantity's value...).
MAX_DEPTH = 3


class ShapeValidator:
    """Templates by resource type and set of members, kept across requests of one worker (a template
    lends no value to a record: every member that differs is the record's own, validated; the rest is
    equal byte for byte). A record's model shares the template's unchanged parts: models are read,
    never changed, here as everywhere after parsing. `validate` has parse.py's contract."""

    def __init__(self, models: Mapping[str, type], validate_in_full: Callable[[Mapping], Result], limit: int = MAX_TEMPLATES):
        self._models = models
        self._full = validate_in_full
        self._limit = limit
        self._templates: dict[tuple[str, frozenset], tuple[dict[str, bytes], dict, Any]] = {}
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
            try:  # the raw template is kept as a copy: the caller's JSON is not ours to hold
                self._templates[key] = (_typed_members(resource), marshal.loads(marshal.dumps(dict(resource), 0)), model)
            except ValueError:  # not JSON-shaped (an in-process caller's object): no template
                pass
            while len(self._templates) > self._limit:
                self._templates.pop(next(iter(self._templates)), None)
        return model, problem


def _typed_members(raw: Mapping) -> dict[str, bytes]:
    return {k: marshal.dumps(v, 0) for k, v in raw.items()}


def _from_template(model_class: type, resource: Mapping, members: dict[str, bytes], raw: Mapping, model: Any,
                   depth: int = 0) -> Any | None:
    """The model of `resource` (or of an element inside it, `depth` > 0) built on the template's
    (`members`: its members as typed bytes, `raw`: its JSON, `model`), or None when it must be validated
    in full."""
    update: dict[str, Any] = {}
    try:
        for key, value in resource.items():
            if marshal.dumps(value, 0) == members[key]:
                continue
            if value is None or key == "resourceType" or (isinstance(value, list) and any(item is None for item in value)):
                return None
            field = _field_names(model_class).get(key)
            if field is None or len(update) >= MAX_DIFFERING:
                return None
            current = getattr(model, field)
            if current is None:
                return None
            update[field] = _member(model_class, field, value, raw[key], current, depth)
        copied = model.model_copy(update=update)
        # The model's own checks across members, run again on the copy when a member they read changed:
        # a required primitive may be given by its extension alone (`_status: {extension: [...]}`), so
        # they depend on values too. Members they do not read are as in the template, which passed.
        checked = _checked_fields(copied)
        if checked is None:  # another fhir.resources: no shortcut without its checks
            return None
        if update.keys() & checked:
            copied.validate_after_model_construction()
    except (ValidationError, ValueError, TypeError, KeyError, AssertionError):
        return None
    return copied


def _member(model_class: type, field: str, value: Any, raw: Any, current: Any, depth: int) -> Any:
    """A member that differs: an object with the template member's members (or a list of such, as
    long) is itself read by shape (an identifier differs in its value, a meta in its versionId);
    anything else, or what is not read that way, is validated with the field's type."""
    if depth < MAX_DEPTH:
        if _same_keys(value, raw) and isinstance(current, BaseModel):
            element = _from_template(type(current), value, _typed_members(raw), raw, current, depth + 1)
            if element is not None:
                return element
        elif type(value) is list and type(raw) is list and type(current) is list and len(value) == len(raw) == len(current):
            elements = [_element(v, r, c, depth) for v, r, c in zip(value, raw, current)]
            if all(e is not None for e in elements):
                return elements
    return _adapter(model_class, field).validate_python(value)


def _element(value: Any, raw: Any, current: Any, depth: int) -> Any | None:
    if marshal.dumps(value, 0) == marshal.dumps(raw, 0):
        return current
    if _same_keys(value, raw) and isinstance(current, BaseModel):
        return _from_template(type(current), value, _typed_members(raw), raw, current, depth + 1)
    return None


def _same_keys(value: Any, raw: Any) -> bool:
    return type(value) is dict and type(raw) is dict and value.keys() == raw.keys()


_ADAPTERS: dict[tuple[type, str], TypeAdapter] = {}
_CHECKED: dict[type, frozenset[str] | None] = {}


def _checked_fields(model: Any) -> frozenset[str] | None:
    """The fields fhir.resources' checks across members read (required primitives and their `__ext`
    siblings, the members of each choice `x[x]`), per class; None when the model lacks those checks."""
    model_class = type(model)
    if model_class not in _CHECKED:
        try:
            aliases = model.get_alias_mapping()
            names = {aliases[name] for name, _ in model.get_required_fields()}
            names |= {ext for _, ext in model.get_required_fields() if ext}
            names |= {field for fields in model.get_one_of_many_fields().values() for field in fields}
            _CHECKED[model_class] = frozenset(names) if callable(getattr(model, "validate_after_model_construction", None)) else None
        except (AttributeError, KeyError, TypeError):
            _CHECKED[model_class] = None
    return _CHECKED[model_class]
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
