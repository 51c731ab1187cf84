"""Assessment -> CDS Hooks cards and the `org.relapse-cds.assessment` extension.

All wording comes from `cards/`; this module only arranges it. Card kinds: `assessment` (risk group
and HSCT indication), `missing` (what blocks a recommendation), `contradiction`, `flags`.
Text taken from the EHR (ids, units) is escaped before it enters Markdown.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from .knowledge import Knowledge
from .knowledge.cards import SUMMARY_LIMIT, CardTexts
from .features.model import Message
from .rules.assess import Assessment, Fact
from .rules.possible import UNDETERMINED, Decision

EXTENSION_KEY = "org.relapse-cds.assessment"
CARD_EXTENSION_KEY = "org.relapse-cds.card"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~:@])")  # ':' and '@' too: no URL or e-mail autolink
#: Line breaks of every kind, other control characters and bidirectional overrides: a line break would
#: end a table row or start a list; a bidi override can make text read differently than it is.
_MD_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WWW = re.compile(r"(www)\.", re.IGNORECASE)


def md(text: object) -> str:
    """Escape EHR-supplied text for Markdown: no links, HTML, line or table breaks can be injected."""
    escaped = _MD_SPECIAL.sub(r"\\\1", _MD_UNSAFE.sub(" ", str(text)))
    return _WWW.sub(r"\1\\.", escaped)


@dataclass(frozen=True)
class Rendered:
    cards: list[dict]
    extension: dict


def render(assessment: Assessment, knowledge: Knowledge, patient_id: str | None, as_of: str) -> Rendered:
    texts = knowledge.cards
    cards: list[dict] = []
    if assessment.relapsed:
        if assessment.contradictions:
            cards.append(_contradiction_card(assessment, texts))
        else:
            # A relapsed patient always gets a card. Only when nothing is decided and missing facts
            # are the reason does the missing-data card stand alone (it names them and the options).
            if _decided_any(assessment) or not assessment.missing:
                cards.append(_assessment_card(assessment, texts, patient_id))
            if assessment.missing:
                cards.append(_missing_card(assessment, texts, patient_id))
        if assessment.flags.raised:
            cards.append(_flags_card(assessment, texts))
        from .treatment.cards import treatment_cards  # the PDQ summary's treatment options (issue 12)
        cards += treatment_cards(assessment, knowledge, patient_id)
    return Rendered(cards, {EXTENSION_KEY: _extension(assessment, knowledge, as_of)})


def _decided_any(assessment: Assessment) -> bool:
    return assessment.cog.value != UNDETERMINED or assessment.hsct.value != UNDETERMINED


# -- the extension ----------------------------------------------------------------------------------

def _fact_json(fact: Fact) -> dict:
    out = {"name": fact.name, "value": fact.value, "source": list(fact.sources)}
    if fact.date:
        out["date"] = fact.date
    return out


def _extension(a: Assessment, knowledge: Knowledge, as_of: str) -> dict:
    out: dict = {
        "relapseNumber": a.relapse_number,
        "cogRisk": a.cog.value,
        "hsct": a.hsct.value,
        "flags": [f.name for f in a.flags.raised],
        "missing": list(a.missing),
        "facts": [_fact_json(f) for f in a.facts],
        "rules": {"cogRisk": list(a.cog.fired), "hsct": list(a.hsct.fired)},
        "knowledgeVersion": knowledge.version,
        "asOf": as_of,
    }
    optional = {
        "contradictions": [knowledge.cards.message(m) for m in a.contradictions],
        "notes": [knowledge.cards.message(m) for m in a.notes],
        "problems": list(a.problems),
        "flagsNotAssessed": [{"flag": f, "missing": list(m)} for f, m in a.flags.not_assessed],
        "openValues": {k: list(d.open_values) for k, d in (("cogRisk", a.cog), ("hsct", a.hsct)) if d.open_values},
        "candidateRules": {k: list(d.candidates) for k, d in (("cogRisk", a.cog), ("hsct", a.hsct)) if d.candidates},
    }
    out.update({k: v for k, v in optional.items() if v})
    return out


# -- shared card parts ------------------------------------------------------------------------------

def _card(kind: str, summary: str, indicator: str, detail: str, texts: CardTexts, rules: tuple[str, ...] = (),
          candidates: tuple[str, ...] = ()) -> dict:
    card = {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": indicator,
        "detail": detail,
        "source": {"label": texts.source["label"], "url": texts.source["url"], "topic": dict(texts.source["topic"])},
        "overrideReasons": [{"system": texts.override_system, "code": r["code"], "display": r["display"]} for r in texts.override_reasons],
        "links": [{"label": texts.link["label"], "url": texts.link["url"], "type": "absolute"}],
        "extension": {CARD_EXTENSION_KEY: {"kind": kind, **({"rules": list(rules)} if rules else {}),
                                           **({"candidateRules": list(candidates)} if candidates else {})}},
    }
    return card


def _fit(texts: CardTexts, name: str, short: str, **values: object) -> str:
    text = texts.summaries[name].format(**values)
    if len(text) < SUMMARY_LIMIT:
        return text
    return texts.summaries[short].format(**values)  # start-up checks guarantee the short form fits


def _facts_table(texts: CardTexts, facts: tuple[Fact, ...]) -> str:
    if not facts:
        return texts.phrase("no_facts")
    rows = [texts.phrase("facts_table_header"), "|---|---|---|---|"]
    for f in facts:
        value = _plain(f.value)
        rows.append(f"| {md(texts.fact_label(f.name))} | {md(value)} | {md(f.date or '')} | {md(', '.join(f.sources))} |")
    return "\n".join(rows)


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _references(texts: CardTexts, refs: list[dict]) -> list[str]:
    lines = []
    for ref in refs:
        r = texts.references[ref["ref"]]
        level = texts.phrase("level_of_evidence", level=ref["level"]) if ref.get("level") else ""
        link_label = texts.phrase("pubmed" if r.pmid_verified else "pubmed_search")
        lines.append(f"- [{r.number}] {md(r.citation)}{level} [{link_label}]({r.url})")
    return lines


def _rule_section(texts: CardTexts, heading: str, decision: Decision) -> list[str]:
    """The rule that fired. An undetermined decision shows none: its alternatives are on the missing card."""
    lines: list[str] = []
    if decision.value == UNDETERMINED and decision.missing:
        return lines
    for rule_id in decision.rules:
        rule = texts.rules.get(rule_id)
        if rule is None:
            continue
        lines.append(texts.phrase("rule_line", heading=heading, rule_id=rule_id, statement=rule["statement"]))
        if rule["survival"]:
            lines.append(texts.phrase("outcome_line", survival=rule["survival"]))
        lines.append("")
    return lines


def _evidence(texts: CardTexts, rule_ids: tuple[str, ...], flags: tuple = ()) -> list[str]:
    refs: list[dict] = []
    for source in [texts.rules.get(r, {}) for r in rule_ids] + [texts.flag_text(f.name, f.variant) for f in flags]:
        for ref in source.get("refs", []):
            if all(ref["ref"] != seen["ref"] for seen in refs):
                refs.append(ref)
    if not refs:
        return []
    return ["", texts.phrase("evidence_heading"), *_references(texts, refs)]


#: A card lists at most this many notes or unusable records; the extension keeps them all. A record
#: with thousands of broken resources must not turn every card into thousands of lines.
CARD_LIST_LIMIT = 20


def _bounded(texts: CardTexts, items: tuple[str, ...]) -> list[str]:
    lines = [f"- {md(item)}" for item in items[:CARD_LIST_LIMIT]]
    if len(items) > CARD_LIST_LIMIT:
        lines.append(f"- {texts.phrase('more_items', count=len(items) - CARD_LIST_LIMIT)}")
    return lines


def _records_section(texts: CardTexts, a: Assessment) -> list[str]:
    lines = []
    if a.notes:
        lines += ["", texts.phrase("notes_heading"), *_bounded(texts, tuple(texts.message(n) for n in a.notes))]
    if a.problems:
        lines += ["", texts.phrase("records_heading"), *_bounded(texts, a.problems)]
    return lines


def _service_request(texts: CardTexts, kind: str, patient_id: str) -> dict:
    body = texts.suggestions[kind]
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"text": body["request_text"]},
        "reasonCode": [{"text": body["reason"]}],
    }


def _suggestion(texts: CardTexts, kind: str, patient_id: str, recommended: bool) -> dict:
    return {
        "label": texts.suggestions[kind]["label"],
        "uuid": str(uuid.uuid4()),
        "isRecommended": recommended,
        "actions": [{
            "type": "create",
            "description": texts.suggestions[kind]["request_text"],
            "resource": _service_request(texts, kind, patient_id),
        }],
    }


# -- the cards --------------------------------------------------------------------------------------

def _assessment_card(a: Assessment, texts: CardTexts, patient_id: str | None) -> dict:
    possible = a.inputs.possible
    site = next(iter(possible.site)) if len(possible.site) == 1 else "unknown"
    months = next((f.value["months"] for f in a.facts if f.name == "monthsFromDiagnosis"), None)
    number = a.relapse_number
    ordinal = texts.label("ordinal", number if number in (1, 2, 3) else ("unknown" if number is None else "other"))
    values = {
        "ordinal": ordinal, "site": texts.label("site", site), "months": months,
        "cog": texts.label("cogRisk", a.cog.value), "hsct": _hsct_label(a, texts),
    }
    name = "assessment" if site != "unknown" and months is not None else "assessment_short"
    summary = _fit(texts, name, "assessment_short", **values)
    # A transplant recommendation or COG high risk calls for a decision: warning. `consider` is info (it
    # must not look like `recommended`), unless the risk group is high.
    indicator = "warning" if a.hsct.value == "recommended" or a.cog.value == "high" else "info"

    lines = [texts.phrase("decision_line", cog=md(values["cog"]), hsct=md(values["hsct"])), ""]
    band = next(iter(possible.band)) if len(possible.band) == 1 else None
    if band and site != "unknown":
        lines += [texts.phrase("relapse_line", ordinal=md(ordinal), site=md(texts.label("site", site)), band=md(texts.label("band", band))), ""]
    lines += _rule_section(texts, texts.phrase("heading_cog"), a.cog)
    lines += _rule_section(texts, texts.phrase("heading_hsct"), a.hsct)
    if a.missing:
        lines += [texts.phrase("undetermined_until", missing=md("; ".join(texts.label("missing", m) for m in a.missing))), ""]
    lines += [texts.phrase("facts_used"), "", _facts_table(texts, a.facts)]
    if a.flags.not_assessed:
        lines += ["", texts.phrase("not_assessed_heading")]
        lines += [
            "- " + texts.phrase("not_assessed_item", flag=md(texts.flags[f]["label"]), missing=md(", ".join(texts.label("missing", m) for m in miss)))
            for f, miss in a.flags.not_assessed
        ]
    lines += _records_section(texts, a)
    shown = tuple(r for d in (a.cog, a.hsct) if not (d.value == UNDETERMINED and d.missing) for r in d.rules)
    lines += _evidence(texts, shown)
    if a.hsct_after_relapse:
        lines.insert(2, texts.phrase("hsct_already_done", sources=md(", ".join(a.hsct_after_relapse))) + "\n")
    card = _card("assessment", summary, indicator, "\n".join(lines), texts, a.cog.fired + a.hsct.fired, a.cog.candidates + a.hsct.candidates)
    if patient_id and a.hsct.value in _TRANSPLANT_SUGGESTION and not a.hsct_after_relapse:
        # `recommended`: a referral, marked as recommended. `consider`: a transplant-team discussion,
        # never marked as recommended, so the two cannot be mistaken for one another.
        kind, recommended = _TRANSPLANT_SUGGESTION[a.hsct.value]
        card["suggestions"] = [_suggestion(texts, kind, patient_id, recommended)]
        card["selectionBehavior"] = "at-most-one"
    return card


_TRANSPLANT_SUGGESTION = {"recommended": ("transplant-referral", True), "consider": ("transplant-discussion", False)}


def _hsct_label(a: Assessment, texts: CardTexts) -> str:
    """The HSCT answer in the PDQ summary's own strength: worded by the rule that produced it."""
    if a.hsct.value == UNDETERMINED and a.hsct.missing:
        return texts.label("hsct", UNDETERMINED)
    return texts.hsct_label(a.hsct.rules, a.hsct.value)


def _missing_card(a: Assessment, texts: CardTexts, patient_id: str | None) -> dict:
    labels = [texts.label("missing", m) for m in a.missing]
    summary = _fit(texts, "missing", "missing_short", missing="; ".join(labels), count=len(labels))
    blocked = [(phrase, group, d) for phrase, group, d in (("decision_cog", "cogRisk", a.cog), ("decision_hsct", "hsct", a.hsct)) if d.value == UNDETERMINED]
    lines = [texts.phrase("withheld"), ""]
    for phrase, group, decision in blocked:
        options = ", ".join(
            texts.hsct_label(decision.rules_for(v), v) if group == "hsct" else texts.label(group, v) for v in decision.open_values
        )
        depends = "; ".join(texts.label("missing", m) for m in decision.missing)
        lines.append("- " + texts.phrase("could_be", decision=texts.phrase(phrase), options=md(options), missing=md(depends)))
    lines += ["", texts.phrase("missing_heading"), *[f"- {md(label)}" for label in labels]]
    lines += _records_section(texts, a)
    lines += ["", texts.phrase("facts_used"), "", _facts_table(texts, a.facts)]
    card = _card("missing", summary, "info", "\n".join(lines), texts, a.cog.fired + a.hsct.fired, a.cog.candidates + a.hsct.candidates)
    # Suggest ordering MRD only when the results were read and none that may be the end-of-reinduction
    # result is on file: when they could not be had, or one is on file with an imprecise date or an
    # unreadable specimen, the record needs completing, not a new test.
    if (patient_id and "endReinductionMrd" in a.missing and not a.unavailable & {"observations", "specimens"}
            and not a.inputs.mrd_on_file):
        card["suggestions"] = [_suggestion(texts, "mrd-order", patient_id, True)]
        card["selectionBehavior"] = "at-most-one"
    return card


def _contradiction_card(a: Assessment, texts: CardTexts) -> dict:
    lines = [texts.rules["contradiction"]["statement"], "", texts.phrase("contradicts_heading")]
    lines += [f"- {md(texts.message(c))}" for c in a.contradictions]
    lines += ["", texts.phrase("facts_read"), "", _facts_table(texts, a.facts)]
    lines += _records_section(texts, a)
    return _card("contradiction", texts.summaries["contradiction"], "warning", "\n".join(lines), texts, ("contradiction",))


def _flags_card(a: Assessment, texts: CardTexts) -> dict:
    names = tuple(f.name for f in a.flags.raised)
    labels = [texts.flags[n]["label"] for n in names]
    summary = _fit(texts, "flags", "flags_short", flags=", ".join(labels), count=len(labels))
    lines = []
    for flag in a.flags.raised:
        label, body = texts.flags[flag.name]["label"], texts.flag_text(flag.name, flag.variant)
        extra = f" ({md(texts.message(flag.detail) if isinstance(flag.detail, Message) else flag.detail)})" if flag.detail else ""
        lines.append("- " + texts.phrase("flag_line", label=md(label), detail=extra, evidence=body["evidence"], sources=md(", ".join(flag.sources))))
    lines += _evidence(texts, (), a.flags.raised)
    return _card("flags", summary, "info", "\n".join(lines), texts)
