"""The HSCT order check (order-sign): a draft transplant order is set against the relapse assessment.

`not-recommended` -> a warning with the PDQ summary's reason and figures, and override reasons;
`recommended` / `consider` -> information with the transplant work-up; `undetermined` -> information
naming what is missing. Orders whose code is not an HSCT order concept in mappings/ get no card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from ..fhir.parse import label
from ..knowledge import Knowledge
from ..knowledge.cards import SUMMARY_LIMIT
from ..render import md
from ..rules.assess import Assessment
from ..rules.situation import situation_of
from .cards import card, evidence, inline_refs, work_up_lines

ORDER_CONCEPT = "hsct-order"


@dataclass(frozen=True)
class DraftOrder:
    """A draft ServiceRequest coding an HSCT (or a transplant referral), by reference."""

    ref: str
    problem: str | None = None  # set when the draft is not valid FHIR R4 (it was matched by its code)


def _codings(resource: Mapping) -> list[Mapping]:
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, Mapping) else None
    return [c for c in codings if isinstance(c, Mapping)] if isinstance(codings, list) else []


def hsct_orders(draft_orders: Mapping, knowledge: Knowledge, patient_id: str) -> list[DraftOrder]:
    """The draft ServiceRequests for this patient that code an HSCT order (mappings/, concept hsct-order)."""
    found = []
    for entry in draft_orders.get("entry") or []:
        resource = entry["resource"]
        if resource.get("resourceType") != "ServiceRequest" or not knowledge.codemap.has(ORDER_CONCEPT, _codings(resource)):
            continue
        subject = resource.get("subject")
        reference = subject.get("reference") if isinstance(subject, Mapping) else None
        if isinstance(reference, str) and reference not in (f"Patient/{patient_id}", patient_id):
            continue  # an order for another patient is not this patient's to check
        problem = None
        try:
            ServiceRequest.model_validate(resource)
        except (ValidationError, ValueError, TypeError) as exc:
            problem = type(exc).__name__ if not isinstance(exc, ValidationError) else f"{exc.error_count()} error(s)"
        found.append(DraftOrder(label(resource), problem))
    return found


def order_cards(assessment: Assessment, knowledge: Knowledge, orders: list[DraftOrder]) -> list[dict]:
    """One card answering the HSCT order(s) against the assessment; none when no HSCT order is drafted."""
    if not orders or knowledge.treatment is None:
        return []
    check, texts = knowledge.treatment.order_check, knowledge.cards
    lines = [check["phrases"]["order_line"].format(orders=md(", ".join(o.ref for o in orders)))]
    lines += [check["phrases"]["unreadable"].format(problems=md(o.problem)) for o in orders if o.problem]
    summary, indicator, body = _answer(assessment, knowledge)
    result = card("hsct-order-check", summary, indicator, "\n".join([*lines, "", *body]).strip(), texts, check["topic"], [],
                  hsct=assessment.hsct.value, rules=list(assessment.hsct.rules), orders=[o.ref for o in orders])
    if indicator == "warning":
        result["overrideReasons"] = [{"system": texts.override_system, "code": r["code"], "display": r["display"]} for r in check["override_reasons"]]
    return [result]


def _answer(a: Assessment, knowledge: Knowledge) -> tuple[str, str, list[str]]:
    """(summary, indicator, detail lines) for the assessment's HSCT answer. Only `not-recommended` warns."""
    treatment, texts = knowledge.treatment, knowledge.cards
    phrases, summaries = treatment.order_check["phrases"], treatment.order_check["summaries"]
    if not a.relapsed:
        return summaries["no-relapse"], "info", [phrases["no_relapse"]]
    if a.contradictions:
        return summaries["contradiction"], "info", [phrases["contradiction_heading"], *[f"- {md(texts.message(c))}" for c in a.contradictions]]
    hsct = a.hsct
    lines = [phrases["assessment_line"].format(cog=md(texts.label("cogRisk", a.cog.value)), hsct=md(texts.label("hsct", hsct.value))), ""]
    if hsct.value == "not-recommended":
        return summaries["not-recommended"], "warning", [*lines, phrases["reason_heading"], *_rule_lines(hsct.rules, knowledge)]
    if hsct.value in ("recommended", "consider"):  # the transplant work-up, no warning
        return summaries[hsct.value], "info", lines + work_up_lines(a, situation_of(a), treatment, texts)
    if not a.missing:  # the summary itself gives no indication for this pattern (no fact would settle it)
        return summaries["no-indication"], "info", [*lines, *_rule_lines(hsct.rules, knowledge)]
    missing = [texts.label("missing", m) for m in a.missing]
    summary = summaries["undetermined"].format(missing="; ".join(missing))
    if len(summary) >= SUMMARY_LIMIT:
        summary = summaries["undetermined_short"].format(count=len(missing))
    lines += [phrases["missing_heading"], *[f"- {md(m)}" for m in missing]]
    if hsct.open_values:
        lines += ["", phrases["could_be"].format(options=md(", ".join(texts.label("hsct", v) for v in hsct.open_values)))]
    return summary, "info", lines


def _rule_lines(rule_ids: tuple[str, ...], knowledge: Knowledge) -> list[str]:
    """The reviewed statement and figures of each rule that fired (cards/cards.yaml), with their evidence."""
    treatment, texts = knowledge.treatment, knowledge.cards
    lines: list[str] = []
    cited: list[dict] = []
    for rule in filter(None, (texts.rules.get(r) for r in rule_ids)):
        lines.append(f"- {rule['statement']}{inline_refs(rule['refs'])}")
        if rule["survival"]:
            lines.append(f"- {rule['survival']}")
        cited += [r for r in rule["refs"] if all(r["ref"] != c["ref"] for c in cited)]
    return [*lines, "", *evidence(treatment.options["phrases"]["evidence_heading"], cited, treatment, texts)]
