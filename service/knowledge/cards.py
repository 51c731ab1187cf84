"""Load and validate `cards/`: card texts, labels, rule statements, flags and references.

Checked once at start-up so that a reviewer's edit cannot produce a card the CDS Hooks client
rejects: every rule and flag the code can produce has its text, every cited reference exists, and
every summary stays under 140 characters for every combination of labels.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

from marshmallow import Schema, ValidationError, fields, validate

from .errors import KnowledgeError
from .locate import knowledge_dir
from .mappings import _flatten, _read_yaml

SUMMARY_LIMIT = 140  # CDS Hooks 2.0: "<140-character summary"


class _RefSchema(Schema):
    ref = fields.String(required=True)
    level = fields.String()


class _RuleSchema(Schema):
    #: The answer in the PDQ summary's own strength, for the card summary (HSCT rules; optional).
    label = fields.String(validate=validate.Length(min=1))
    statement = fields.String(required=True, validate=validate.Length(min=1))
    survival = fields.String(required=True)
    refs = fields.List(fields.Nested(_RefSchema), required=True)


class _FlagVariantSchema(Schema):
    evidence = fields.String(required=True, validate=validate.Length(min=1))
    refs = fields.List(fields.Nested(_RefSchema), required=True)


class _FlagSchema(Schema):
    label = fields.String(required=True, validate=validate.Length(min=1))
    evidence = fields.String(required=True, validate=validate.Length(min=1))
    refs = fields.List(fields.Nested(_RefSchema), required=True)
    #: Texts for a subgroup (e.g. `marrow`: figures measured in marrow relapses), chosen by the rules.
    variants = fields.Dict(keys=fields.String(), values=fields.Nested(_FlagVariantSchema))


class _SuggestionSchema(Schema):
    label = fields.String(required=True, validate=validate.Length(min=1))
    request_text = fields.String(required=True, validate=validate.Length(min=1))
    reason = fields.String(required=True, validate=validate.Length(min=1))


class _CodingSchema(Schema):
    system = fields.Url(required=True)
    code = fields.String(required=True)
    display = fields.String(required=True)


class _OverrideSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1))
    display = fields.String(required=True, validate=validate.Length(min=1))


class _SourceSchema(Schema):
    label = fields.String(required=True, validate=validate.Length(min=1))
    url = fields.Url(required=True, schemes={"https"})
    topic = fields.Nested(_CodingSchema, required=True)


class _LinkSchema(Schema):
    label = fields.String(required=True, validate=validate.Length(min=1))
    url = fields.Url(required=True, schemes={"https"})


#: Suggestions the renderer offers: a referral (HSCT recommended), a transplant-team discussion (HSCT
#: to be considered: never a referral marked as recommended), and the MRD order.
SUGGESTIONS = ("transplant-referral", "transplant-discussion", "mrd-order")


class _CardsFileSchema(Schema):
    source = fields.Nested(_SourceSchema, required=True)
    link = fields.Nested(_LinkSchema, required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.Raw(), values=fields.String()), required=True)
    summaries = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    phrases = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    messages = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    rules = fields.Dict(keys=fields.String(), values=fields.Nested(_RuleSchema), required=True)
    flags = fields.Dict(keys=fields.String(), values=fields.Nested(_FlagSchema), required=True)
    suggestions = fields.Dict(keys=fields.String(validate=validate.OneOf(SUGGESTIONS)), values=fields.Nested(_SuggestionSchema), required=True)
    override_reasons = fields.List(fields.Nested(_OverrideSchema), required=True, validate=validate.Length(min=1))
    override_system = fields.Url(required=True)


class _ReferenceSchema(Schema):
    citation = fields.String(required=True, validate=validate.Length(min=1))
    title = fields.String(required=True, validate=validate.Length(min=1))
    pmid = fields.String(validate=validate.Regexp(r"^\d{1,9}$"))
    pmid_source = fields.String()


class _ReferencesFileSchema(Schema):
    references = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^\d+$")), values=fields.Nested(_ReferenceSchema), required=True)


@dataclass(frozen=True)
class Reference:
    number: str
    citation: str
    url: str
    pmid_verified: bool
    #: First author's surname and the year, for a short citation ("Eapen et al., 2006").
    author: str = ""
    year: str = ""


@dataclass(frozen=True)
class CardTexts:
    """The validated content of cards/ (raw dicts from the reviewed YAML, plus resolved references)."""

    source: dict
    link: dict
    labels: dict
    summaries: dict
    phrases: dict
    messages: dict
    rules: dict
    flags: dict
    suggestions: dict
    override_reasons: list
    override_system: str
    references: dict[str, Reference]
    #: cards/layout.yaml (service/knowledge/layout.py): how cards are laid out, values as clinicians write them.
    layout: dict = field(default_factory=dict)

    def phrase(self, name: str, **values: object) -> str:
        return self.phrases[name].format(**values)

    def message(self, message) -> str:
        """The reviewed wording of a Message (service/features/model.py) with its values filled in."""
        return self.messages[message.key].format(**dict(message.values))

    def fact_label(self, name: str) -> str:
        """A fact's label for clinicians; numbered facts (relapse1, relapse2) share one label."""
        facts = self.labels["facts"]
        if name in facts:
            return facts[name]
        numbered = _NUMBERED_FACT.fullmatch(name)
        if numbered and numbered.group(1) in facts:
            return f"{facts[numbered.group(1)]} {numbered.group(2)}"
        return name

    def flag_text(self, name: str, variant: str | None) -> dict:
        """The flag's evidence and references for its subgroup (its general text when none applies)."""
        body = self.flags[name]
        return body.get("variants", {}).get(variant, body) if variant else body

    def hsct_label(self, rules: tuple[str, ...], value: str) -> str:
        """The HSCT answer worded by the rule that produced it; the generic label when several rules
        (or none) produced it, or when the rule has no wording of its own."""
        labels = {self.rules.get(r, {}).get("label") for r in rules}
        if len(labels) == 1 and None not in labels:
            return labels.pop()
        return self.label("hsct", value)

    def label(self, group: str, key: object) -> str:
        table = self.labels[group]
        return table.get(key, table.get(str(key), str(key)))


#: "Journal 107 (12): 4961-7, 2006." -> volume 107, first page 4961, year 2006.
_VOLUME_PAGE_YEAR = re.compile(r"\s(\d+)\s*(?:\([^)]*\))?:\s*([A-Za-z]?\d+)[^,]*,\s*((?:19|20)\d\d)\.?\s*$")


_AUTHOR = re.compile(r"[^\W\d_][\w'\- ]{0,60}")


def _reference(number: str, body: dict) -> Reference:
    """PubMed link: the article page when its PMID was verified, else a PubMed search matching the
    citation (first author, volume, first page: one article), else one for the exact title."""
    first = re.split(r"[,:]", body["citation"].strip(), maxsplit=1)[0].strip()  # "von Stackelberg A"
    surname = first.rsplit(" ", 1)[0] if " " in first else first
    cited = _VOLUME_PAGE_YEAR.search(body["citation"])
    year = cited.group(3) if cited else ""
    if body.get("pmid"):
        url = f"https://pubmed.ncbi.nlm.nih.gov/{body['pmid']}/"
    elif cited and _AUTHOR.fullmatch(first):
        url = f"https://pubmed.ncbi.nlm.nih.gov/?term={quote_plus(f'{first}[au] {cited.group(1)}[vi] {cited.group(2)}[pg]')}"
    else:
        url = f"https://pubmed.ncbi.nlm.nih.gov/?term={quote_plus(body['title'] + '[Title]')}"
    return Reference(number, body["citation"], url, bool(body.get("pmid")), surname, year)


#: Phrases the renderer needs, with the placeholders each must carry (no more, no fewer).
PHRASES: dict[str, frozenset[str]] = {
    "decision_line": frozenset({"cog", "hsct"}), "outcome_line": frozenset({"survival"}),
    "heading_cog": frozenset(), "heading_hsct": frozenset(), "decision_cog": frozenset(), "decision_hsct": frozenset(),
    "hsct_already_done": frozenset({"sources"}), "undetermined_until": frozenset({"missing"}),
    "facts_used": frozenset(), "facts_read": frozenset(), "no_facts": frozenset(),
    "not_assessed_heading": frozenset(), "not_assessed_item": frozenset({"flag", "missing"}),
    "notes_heading": frozenset(), "records_heading": frozenset(), "more_items": frozenset({"count"}), "pubmed": frozenset(),
    "pubmed_search": frozenset(), "withheld": frozenset(), "could_be": frozenset({"decision", "options", "missing"}),
    "missing_heading": frozenset(), "contradicts_heading": frozenset(),
}

def _placeholders(template: str) -> set[str]:
    """Every {field} of a template; '{}', '{0}' or '{a.b}' come back as-is, so they never match a name."""
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError:  # an unbalanced brace
        return {"<unbalanced braces>"}


def template_problems(where: str, texts: dict, required: dict[str, frozenset[str]]) -> list[str]:
    """Every required template present, each with exactly its placeholders (no more, no fewer)."""
    problems = []
    for name, placeholders in required.items():
        text = texts.get(name)
        if text is None:
            problems.append(f"{where}.{name} missing")
        elif (found := _placeholders(text)) != placeholders:
            problems.append(f"{where}.{name} must use exactly {sorted(placeholders)}, uses {sorted(found)}")
    return problems


#: Messages the reader and the rules emit (service/features/model.py Message), with their values.
MESSAGES: dict[str, frozenset[str]] = {
    "contradiction_lineage": frozenset({"b_sources", "t_sources"}),
    "contradiction_testis_female": frozenset({"sources"}),
    "contradiction_id_clash": frozenset({"ref"}),
    "contradiction_relapse_future": frozenset({"date", "sources"}),
    "contradiction_relapse_before_diagnosis": frozenset({"date", "sources", "diagnosis_date", "diagnosis_source"}),
    "contradiction_relapse_on_diagnosis_day": frozenset({"date", "sources", "diagnosis_date", "diagnosis_source"}),
    "contradiction_birth_after_diagnosis": frozenset({"birth_date", "patient_source", "diagnosis_date", "diagnosis_source"}),
    "contradiction_diagnosis_future": frozenset({"date", "source"}),
    "note_partial_band": frozenset({"diagnosis_date", "relapse_date", "bands"}),
    "note_partial_dates": frozenset(),
    "note_recorded_date": frozenset({"ref", "date"}),
    "note_one_relapse_or_two": frozenset({"first_date", "last_date", "count", "sources"}),
    "note_failed_after_remission": frozenset({"source", "date", "remission"}),
    "flag_ikzf1_type_not_stated": frozenset(),
    "flag_age": frozenset({"years"}),
    "flag_age_range": frozenset({"youngest", "oldest"}),
}

#: The values the renderer fills into summaries.
SUMMARY_FIELDS = frozenset({"ordinal", "site", "months", "cog", "hsct", "missing", "count", "flags"})
REQUIRED_SUMMARIES = ("assessment", "assessment_short", "missing", "missing_short", "contradiction", "flags", "flags_short")
REQUIRED_LABELS = ("cogRisk", "hsct", "site", "band", "ordinal", "missing", "domains", "facts")
_NUMBERED_FACT = re.compile(r"([A-Za-z]+?)(\d+)")


def load_cards(rule_ids: frozenset[str], flag_names: tuple[str, ...], missing_names: tuple[str, ...], directory: Path | None = None) -> CardTexts:
    """Load cards/cards.yaml and cards/references.yaml; raise KnowledgeError listing every problem."""
    directory = directory or knowledge_dir("cards")
    problems: list[str] = []
    try:
        cards = _CardsFileSchema().load(_read_yaml(directory / "cards.yaml"))
        refs_raw = _ReferencesFileSchema().load(_read_yaml(directory / "references.yaml"))
    except ValidationError as exc:
        raise KnowledgeError([f"cards: {line}" for line in _flatten(exc.messages)]) from exc
    references = {n: _reference(n, body) for n, body in refs_raw["references"].items()}

    for group in REQUIRED_LABELS:
        if group not in cards["labels"]:
            problems.append(f"cards.yaml: labels.{group} missing")
    for name in REQUIRED_SUMMARIES:
        if name not in cards["summaries"]:
            problems.append(f"cards.yaml: summaries.{name} missing")
        elif unknown := _placeholders(cards["summaries"][name]) - SUMMARY_FIELDS:
            problems.append(f"cards.yaml: summaries.{name} uses {sorted(unknown)}; allowed: {sorted(SUMMARY_FIELDS)}")
    for section, required in (("phrases", PHRASES), ("messages", MESSAGES)):
        problems += template_problems(f"cards.yaml: {section}", cards[section], required)
    for rule in sorted(rule_ids - {"cog.no-relapse", "hsct.no-relapse"} - set(cards["rules"])):
        problems.append(f"cards.yaml: no text for rule {rule!r}")
    for flag in flag_names:
        if flag not in cards["flags"]:
            problems.append(f"cards.yaml: no text for flag {flag!r}")
    for name in SUGGESTIONS:
        if name not in cards["suggestions"]:
            problems.append(f"cards.yaml: suggestions.{name} missing")
    for name in missing_names:
        if name not in cards["labels"].get("missing", {}):
            problems.append(f"cards.yaml: labels.missing.{name} missing")
    citing = [(f"rules.{key}", body) for key, body in cards["rules"].items()]
    for key, body in cards["flags"].items():
        citing.append((f"flags.{key}", body))
        citing += [(f"flags.{key}.variants.{name}", text) for name, text in body.get("variants", {}).items()]
    for where, body in citing:
        for ref in body["refs"]:
            if ref["ref"] not in references:
                problems.append(f"cards.yaml: {where} cites reference {ref['ref']} absent from references.yaml")
    if problems:
        raise KnowledgeError(problems)
    texts = CardTexts(**{k: cards[k] for k in ("source", "link", "labels", "summaries", "phrases", "messages", "rules", "flags", "suggestions", "override_reasons", "override_system")}, references=references)
    _check_summary_lengths(texts, problems)
    if problems:
        raise KnowledgeError(problems)
    return texts


def _check_summary_lengths(texts: CardTexts, problems: list[str]) -> None:
    """The short variants must fit for every label combination (the renderer falls back to them)."""
    labels = texts.labels
    longest_missing = max(labels["missing"].values(), key=len)
    fills = {
        "ordinal": list(labels["ordinal"].values()),
        "site": list(labels["site"].values()),
        "months": ["999"],
        "cog": list(labels["cogRisk"].values()),
        "hsct": list(labels["hsct"].values()) + [r["label"] for r in texts.rules.values() if r.get("label")],
        "missing": [longest_missing],
        "count": ["99"],
        "flags": [""],
    }
    for name in ("assessment_short", "missing_short", "contradiction", "flags_short"):
        template = texts.summaries[name]
        keys = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        for combo in itertools.product(*(fills.get(k, ["?"]) for k in keys)):
            text = template.format(**dict(zip(keys, combo)))
            if len(text) >= SUMMARY_LIMIT:
                problems.append(f"cards.yaml: summaries.{name} can reach {len(text)} characters: {text!r}")
                break
