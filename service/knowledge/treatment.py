"""Load and validate the treatment knowledge in `cards/`: options by situation, the transplant work-up and
the HSCT order check (cards/options.yaml, cards/transplant.yaml, cards/references-treatment.yaml).

Checked at start-up like cards.yaml: every situation the rules can pick has its text, every `when`
names a fact the rules know, every cited reference is in the summary's list, and every card summary
stays under 140 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from marshmallow import Schema, ValidationError, fields, validate

from ..rules.possible import BANDS, LINEAGES
from ..rules.situation import SITUATIONS
from .cards import SUMMARY_LIMIT, Reference, _CodingSchema, _LinkSchema, _OverrideSchema, _RefSchema, _ReferencesFileSchema, _reference
from .errors import KnowledgeError
from .locate import knowledge_dir
from .mappings import _flatten, _read_yaml

#: Sites an item may be restricted to (the rules' site patterns that have options of their own).
WHEN_SITES = ("marrow", "combined", "cns", "testis")
TRIAL_GROUPS = ("cog-first-relapse", "other-first-relapse", "later-relapse")
ORDER_SUMMARIES = ("not-recommended", "recommended", "consider", "undetermined", "undetermined_short", "no-indication", "contradiction", "no-relapse")
ORDER_PHRASES = ("order_line", "assessment_line", "reason_heading", "missing_heading", "could_be", "contradiction_heading", "no_relapse", "unreadable")
OPTION_PHRASES = ("heading_trials", "trials_closed", "evidence_heading", "hsct_time", "hsct_time_unknown", "band_note")
WORK_UP_PHRASES = ("no_mrd_recorded", "mrd_unavailable", "hsct_already_done")


class _WhenSchema(Schema):
    band = fields.List(fields.String(validate=validate.OneOf(BANDS)), validate=validate.Length(min=1))
    site = fields.List(fields.String(validate=validate.OneOf(WHEN_SITES)), validate=validate.Length(min=1))
    lineage = fields.List(fields.String(validate=validate.OneOf(LINEAGES)), validate=validate.Length(min=1))
    after_hsct = fields.Boolean(truthy={True}, falsy={False})
    bfm = fields.Raw(validate=validate.OneOf([True, "early-combined"]))


class _ItemSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1))
    refs = fields.List(fields.Nested(_RefSchema), required=True)
    when = fields.Nested(_WhenSchema)


class _SectionSchema(Schema):
    heading = fields.String(required=True, validate=validate.Length(min=1))
    items = fields.List(fields.Nested(_ItemSchema), required=True, validate=validate.Length(min=1))


class _SituationSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=SUMMARY_LIMIT - 1))
    trials = fields.List(fields.String(validate=validate.OneOf(TRIAL_GROUPS)), required=True)
    sections = fields.List(fields.Nested(_SectionSchema), required=True, validate=validate.Length(min=1))
    show_hsct_time = fields.Boolean(load_default=False)


class _TrialGroupSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1))


class _OptionsFileSchema(Schema):
    topic = fields.Nested(_CodingSchema, required=True)
    trials_link = fields.Nested(_LinkSchema, required=True)
    phrases = fields.Dict(keys=fields.String(validate=validate.OneOf(OPTION_PHRASES)), values=fields.String(), required=True)
    situations = fields.Dict(keys=fields.String(validate=validate.OneOf(SITUATIONS)), values=fields.Nested(_SituationSchema), required=True)
    trial_groups = fields.Dict(keys=fields.String(validate=validate.OneOf(TRIAL_GROUPS)), values=fields.Nested(_TrialGroupSchema), required=True)


class _WorkUpSchema(Schema):
    topic = fields.Nested(_CodingSchema, required=True)
    summary = fields.String(required=True, validate=validate.Length(min=1, max=SUMMARY_LIMIT - 1))
    sections = fields.List(fields.Nested(_SectionSchema), required=True, validate=validate.Length(min=1))
    phrases = fields.Dict(keys=fields.String(validate=validate.OneOf(WORK_UP_PHRASES)), values=fields.String(), required=True)


class _OrderCheckSchema(Schema):
    topic = fields.Nested(_CodingSchema, required=True)
    summaries = fields.Dict(keys=fields.String(validate=validate.OneOf(ORDER_SUMMARIES)), values=fields.String(validate=validate.Length(min=1)), required=True)
    phrases = fields.Dict(keys=fields.String(validate=validate.OneOf(ORDER_PHRASES)), values=fields.String(), required=True)
    override_reasons = fields.List(fields.Nested(_OverrideSchema), required=True, validate=validate.Length(min=1))


class _TransplantFileSchema(Schema):
    work_up = fields.Nested(_WorkUpSchema, required=True)
    order_check = fields.Nested(_OrderCheckSchema, required=True)


@dataclass(frozen=True)
class TreatmentTexts:
    """The validated treatment knowledge (raw dicts from the reviewed YAML) and every reference it may cite."""

    options: dict
    work_up: dict
    order_check: dict
    references: dict[str, Reference]

    def items(self):
        """Every (place, item) with text, across options and the work-up: what the figure check reads."""
        for key, situation in self.options["situations"].items():
            for section in situation["sections"]:
                for item in section["items"]:
                    yield f"options.yaml: situations.{key}", item
        for section in self.work_up["sections"]:
            for item in section["items"]:
                yield "transplant.yaml: work_up", item


def _required(table: dict, names: tuple[str, ...], where: str, problems: list[str]) -> None:
    problems.extend(f"{where}.{name} missing" for name in names if name not in table)


def load_treatment(references: dict[str, Reference], directory: Path | None = None) -> TreatmentTexts:
    """Load the treatment files; `references` are those of cards/references.yaml, merged with the
    treatment references (a number in both must have the same citation)."""
    directory = directory or knowledge_dir("cards")
    try:
        options = _OptionsFileSchema().load(_read_yaml(directory / "options.yaml"))
        transplant = _TransplantFileSchema().load(_read_yaml(directory / "transplant.yaml"))
        extra = _ReferencesFileSchema().load(_read_yaml(directory / "references-treatment.yaml"))
    except ValidationError as exc:
        raise KnowledgeError([f"cards (treatment): {line}" for line in _flatten(exc.messages)]) from exc
    problems: list[str] = []
    merged = dict(references)
    for number, body in extra["references"].items():
        ref = _reference(number, body)
        if number in merged and merged[number].citation != ref.citation:
            problems.append(f"references-treatment.yaml: [{number}] differs from references.yaml")
        merged.setdefault(number, ref)
    _required(options["situations"], SITUATIONS, "options.yaml: situations", problems)
    _required(options["trial_groups"], TRIAL_GROUPS, "options.yaml: trial_groups", problems)
    _required(options["phrases"], OPTION_PHRASES, "options.yaml: phrases", problems)
    work_up, order_check = transplant["work_up"], transplant["order_check"]
    _required(work_up["phrases"], WORK_UP_PHRASES, "transplant.yaml: work_up.phrases", problems)
    _required(order_check["summaries"], ORDER_SUMMARIES, "transplant.yaml: order_check.summaries", problems)
    _required(order_check["phrases"], ORDER_PHRASES, "transplant.yaml: order_check.phrases", problems)
    for name, text in order_check["summaries"].items():
        # {missing} is filled with the longest missing-fact list only through the short variant's fallback.
        if "{missing}" not in text and len(text.replace("{count}", "99")) >= SUMMARY_LIMIT:
            problems.append(f"transplant.yaml: order_check.summaries.{name} is {len(text)} characters; the limit is {SUMMARY_LIMIT - 1}")
    texts = TreatmentTexts(options, work_up, order_check, merged)
    for where, item in texts.items():
        for ref in item["refs"]:
            if ref["ref"] not in merged:
                problems.append(f"{where} cites reference {ref['ref']} absent from the references files")
    if problems:
        raise KnowledgeError(problems)
    return texts
