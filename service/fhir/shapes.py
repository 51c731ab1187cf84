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
full, so an invalid record gets the model's own error message: a record that is not a dict, a
member nested deeper than MAX_NESTING, a member that raises anything at all. tests/test_shapes.py holds this path to
full validation on random mutations of real records (validity and the model's JSON alike).
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter

Result = tuple[Any, "str | None"]
#: A record differing from its template in more members than this is validated in full (and becomes
#: the template): checking most members one by one would cost as much.
MAX_DIFFERING = 8
#: Shapes kept per worker (the oldest goes first): an EHR sends a few dozen; a client sending a new
#: shape with every record only makes the service validate in full, as it would anyway.
MAX_TEMPLATES = 256
#: Objects inside a record read by shape down to this depth (meta, identifier, a Quantity's value...).
MAX_DEPTH = 3
#: A template, or a member that differs, nested deeper than this (in JSON levels) is left to full
#: validation: fhir.resources meets the interpreter's recursion limit on a record nested a few hundred
#: levels deep, and a member validated on its own, higher up the stack, might not (FHIR needs ~10).
MAX_NESTING = 24


class ShapeValidator:
    """Templates by resource type, set of members and code, kept across requests of one worker (a template
    lends no value to a record: every member that differs is the record's own, validated; the rest is
    equal byte for byte). A record's model shares the template's unchanged parts: models are read,
    never changed, here as everywhere after parsing. `validate` has parse.py's contract."""

    def __init__(self, models: Mapping[str, type], validate_in_full: Callable[[Mapping], Result], limit: int = MAX_TEMPLATES):
        self._models = models
        self._full = validate_in_full
        self._limit = limit
        self._templates: dict[tuple[str, frozenset, bytes | None], tuple[dict[str, Typed], Any]] = {}
        self.in_full = self.by_shape = 0

    def validate(self, resource: Mapping) -> Result:
        rtype = resource.get("resourceType")
        model_class = self._models.get(rtype) if isinstance(rtype, str) else None
        if model_class is None or type(resource) is not dict:  # JSON objects only: the model reads other Mappings otherwise
            return self._full(resource)
        key = (rtype, frozenset(resource), _code_of(resource))
        template = self._templates.get(key)
        if template is not None:
            model = _from_template(model_class, resource, *template)
            if model is not None:
                self.by_shape += 1
                return model, None
        self.in_full += 1
        model, problem = self._full(resource)
        if model is not None and not _nested_deeper_than(resource, MAX_NESTING):
            try:  # the template keeps typed bytes, never the caller's JSON
                self._templates[key] = ({k: _typed(v, 0) for k, v in resource.items()}, model)
            except ValueError:  # not JSON-shaped (an in-process caller's object): no template
                pass
            while len(self._templates) > self._limit:
                self._templates.pop(next(iter(self._templates)), None)
        return model, problem


_CONTAINERS = (dict, list)


def _nested_deeper_than(value: Any, levels: int) -> bool:
    """Does `value` hold containers more than `levels` deep? A walk a level at a time that stops early."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(max(levels, 0)):
        level = [child for node in level for child in (node.values() if type(node) is dict else node) if type(child) in _CONTAINERS]
        if not level:
            return False
    return bool(level)


def _code_of(resource: Mapping) -> bytes | None:
    """Records of one kind and code are written alike (a remission visit like the last one, an MRD
    result like the previous one) and differ from those of another code in more than the code (its
    status, its text): a template per code leaves fewer members to check. The choice of template
    never changes a result, only what it costs."""
    try:
        return marshal.dumps(resource.get("code"), 0)
    except ValueError:  # not JSON-shaped (an in-process caller's object)
        return None


#: A template member as typed bytes (marshal format 0), with, where the reading may go down into it
#: (to MAX_DEPTH), its own members' (an object) or its elements' (a list) typed bytes: made once per
#: template, so that a record is compared without marshalling the template again.
Typed = tuple[bytes, "dict[str, Typed] | list[Typed] | None"]


def _typed(value: Any, depth: int) -> Typed:
    """`value`, a member of an object read at `depth` (the resource: 0)."""
    inner: dict[str, Typed] | list[Typed] | None = None
    if depth < MAX_DEPTH:
        if type(value) is dict:
            inner = {k: _typed(v, depth + 1) for k, v in value.items()}
        elif type(value) is list:  # its elements are objects read at depth + 1, like an object member
            inner = [(marshal.dumps(v, 0), {k: _typed(w, depth + 1) for k, w in v.items()} if type(v) is dict else None)
                     for v in value]
    return marshal.dumps(value, 0), inner


def _from_template(model_class: type, resource: Mapping, members: dict[str, Typed], model: Any, depth: int = 0) -> Any | None:
    """The model of `resource` (or of an element inside it, `depth` > 0) built on the template's
    (`members`: its members as typed bytes, `model`), or None when it must be validated in full."""
    update: dict[str, Any] = {}
    try:
        for key, value in resource.items():
            typed = members[key]
            if marshal.dumps(value, 0) == typed[0]:
                continue
            if value is None or key == "resourceType" or (isinstance(value, list) and any(item is None for item in value)):
                return None
            field = _field_names(model_class).get(key)
            if field is None or len(update) >= MAX_DIFFERING:
                return None
            current = getattr(model, field)
            if current is None:
                return None
            if depth == 0 and type(value) in _CONTAINERS and _nested_deeper_than(value, MAX_NESTING - 1):
                return None  # checked once, for the whole member: what is read inside it lies within
            update[field] = _member(model_class, field, value, typed[1], current, depth)
        copied = _copy_with(model, update)
        # The model's own checks across members, run again on the copy when a member they read changed:
        # a required primitive may be given by its extension alone (`_status: {extension: [...]}`), so
        # they depend on values too. Members they do not read are as in the template, which passed.
        checked = _checked_fields(copied)
        if checked is None:  # another fhir.resources: no shortcut without its checks
            return None
        if update.keys() & checked:
            copied.validate_after_model_construction()
    except Exception:  # noqa: BLE001 - whatever a member raises (the model library raises AttributeError,
        return None     # decimal errors... on odd input), full validation gives the model's own verdict
    return copied


def _member(model_class: type, field: str, value: Any, inner: dict | list | None, current: Any, depth: int) -> Any:
    """A member that differs: an object with the template member's members (or a list of such, as
    long) is itself read by shape (an identifier differs in its value, a meta in its versionId);
    anything else, or what is not read that way, is validated with the field's type. `inner`: the
    template member's members or elements, as typed bytes (None where the reading stops)."""
    if _read_inside(value, inner, current):
        element = _from_template(type(current), value, inner, current, depth + 1)
        if element is not None:
            return element
    elif type(value) is list and type(inner) is list and type(current) is list and len(value) == len(inner) == len(current):
        elements = [_element(v, t, c, depth) for v, t, c in zip(value, inner, current)]
        if all(e is not None for e in elements):
            return elements
    return _adapter(model_class, field).validate_python(value)


def _element(value: Any, typed: Typed, current: Any, depth: int) -> Any | None:
    if marshal.dumps(value, 0) == typed[0]:
        return current
    inner = typed[1]
    if _read_inside(value, inner, current):
        return _from_template(type(current), value, inner, current, depth + 1)
    return None


def _read_inside(value: Any, inner: dict | list | None, current: Any) -> bool:
    """Is `value` an object with the template member's members, read by shape one level down?"""
    return type(value) is dict and type(inner) is dict and value.keys() == inner.keys() and isinstance(current, BaseModel)


def _copy_with(model: Any, update: dict[str, Any]) -> Any:
    """`model.model_copy(update=update)`, as pydantic makes it for a model without extra or private
    attributes (every fhir.resources model), without its generic copying: a third of the cost of
    reading a record by shape went there. Any other model goes through model_copy."""
    if model.__pydantic_extra__ is not None or model.__pydantic_private__ is not None:
        return model.model_copy(update=update)
    model_class = type(model)
    copied = model_class.__new__(model_class)
    fields = model.__dict__.copy()
    fields.update(update)
    _set_attribute(copied, "__dict__", fields)
    _set_attribute(copied, "__pydantic_extra__", None)
    _set_attribute(copied, "__pydantic_fields_set__", model.__pydantic_fields_set__ | update.keys())
    _set_attribute(copied, "__pydantic_private__", None)
    return copied


_set_attribute = object.__setattr__
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
