"""Load and validate `cards/layout.yaml`: how the cards are laid out and how values are written.

Checked at start-up like cards.yaml, so that a reviewer's edit cannot break a card: every phrase
carries exactly the placeholders the renderer fills, and the decisive references of a rule are at
most three of the references that rule cites.
"""

from __future__ import annotations

from pathlib import Path

from marshmallow import Schema, ValidationError, fields, validate

from .cards import template_problems
from .errors import KnowledgeError
from .mappings import _flatten, _read_yaml

#: The main card cites at most this many references (the ones that carry the decision).
MAIN_CARD_REFS = 3

class _LayoutSchema(Schema):
    decisive_refs = fields.Dict(keys=fields.String(), values=fields.List(fields.String(), validate=validate.Length(min=1, max=MAIN_CARD_REFS)), required=True)
    values = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True)
    deciding = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    formats = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    phrases = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    basis = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    events = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    mrd_roles = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


#: Every template the renderer fills, with exactly the placeholders it fills.
TEMPLATES: dict[str, dict[str, frozenset[str]]] = {
    "deciding": {
        "relapse": frozenset({"site"}), "relapse_ordinal": frozenset({"ordinal", "site"}),
        "months": frozenset({"months", "band"}), "band": frozenset({"band"}), "after_hsct": frozenset(),
        "mrd": frozenset({"mrd"}), "unknown_lineage": frozenset(),
    },
    "formats": {
        "mrd": frozenset({"percent", "scientific"}), "blasts": frozenset({"count"}),
        "months": frozenset({"months", "band"}), "date": frozenset({"day", "month", "year"}),
    },
    "phrases": {
        "figure": frozenset({"survival"}), "basis_pointer": frozenset({"title"}), "evidence_line": frozenset({"refs"}),
        "reference_short": frozenset({"number", "author", "year", "url", "level"}),
        "reference_full": frozenset({"number", "citation", "level", "link", "url"}), "level": frozenset({"level"}),
        "references_heading": frozenset(), "rule_heading": frozenset({"heading", "statement"}),
        "facts_table_header": frozenset(), "more_on_basis": frozenset({"count", "title"}),
        "flag_item": frozenset({"label", "detail", "evidence", "refs"}), "flag_refs": frozenset({"number", "url"}),
        "unavailable": frozenset({"domains"}),
    },
    "basis": {"summary": frozenset(), "title": frozenset()},
}
#: Value tables the renderer looks up.
VALUE_TABLES = ("sex", "lineage", "subtype", "gene", "site", "band")
EVENT_KINDS = ("diagnosis", "all-record", "no-remission", "relapse", "relapse-unplaced", "remission", "hsct", "mrd", "blasts")
MRD_ROLES = ("end-of-reinduction", "relapse-work-up", "before-relapse", "later", "not-marrow", "site-unknown", "unreadable")


def load_layout(path: Path, rule_refs: dict[str, list[str]], references: set[str]) -> dict:
    """The validated layout; raise KnowledgeError listing every problem."""
    try:
        layout = _LayoutSchema().load(_read_yaml(path))
    except ValidationError as exc:
        raise KnowledgeError([f"layout: {line}" for line in _flatten(exc.messages)]) from exc
    problems: list[str] = []
    for section, templates in TEMPLATES.items():
        problems += template_problems(f"layout.yaml: {section}", layout[section], templates)
    for table in VALUE_TABLES:
        if not isinstance(layout["values"].get(table), dict):
            problems.append(f"layout.yaml: values.{table} missing")
    months = layout["values"].get("months")
    if not (isinstance(months, list) and len(months) == 12 and all(isinstance(m, str) and m for m in months)):
        problems.append("layout.yaml: values.months must list the 12 month names")
    for table, keys in (("events", EVENT_KINDS), ("mrd_roles", MRD_ROLES)):
        problems += [f"layout.yaml: {table}.{k} missing" for k in keys if k not in layout[table]]
    for rule, refs in layout["decisive_refs"].items():
        if rule not in rule_refs:
            problems.append(f"layout.yaml: decisive_refs.{rule}: no such rule in cards.yaml")
            continue
        problems += [f"layout.yaml: decisive_refs.{rule}: reference {r} is not among the rule's refs" for r in refs if r not in rule_refs[rule] or r not in references]
    if problems:
        raise KnowledgeError(problems)
    return layout
