"""Assessment -> CDS Hooks cards and the `org.relapse-cds.assessment` extension.

All wording comes from `cards/`; this module only arranges it. A clinician gives a card five seconds,
so the main card (`assessment`, or `missing` / `contradiction` when that is the answer) leads with
the decision, the facts that decided it and the figure that matters, and cites at most three
references; everything behind it (the facts table, the rules as written, notes, every reference) is
on the `basis` card and in the extension. Other kinds: `flags`.
Text taken from the EHR (ids, units) is escaped before it enters Markdown.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace

from .features.model import Message
from .formatting import date_text, fact_value, measured, measurements_by_source, mrd_text, value_of
from .knowledge import Knowledge
from .knowledge.cards import SUMMARY_LIMIT, CardTexts
from .knowledge.layout import MAIN_CARD_REFS
from .rules.assess import Assessment, Fact
from .rules.hsct import hsct_indication
from .rules.possible import UNDETERMINED, Readings
from .rules.timeline import Event

EXTENSION_KEY = "org.relapse-cds.assessment"
CARD_EXTENSION_KEY = "org.relapse-cds.card"
#: The main card's detail stays under this many characters of Markdown (about a screen in an EHR).
MAIN_DETAIL_LIMIT = 1200
#: The main card names at most this many contradictions; the basis card lists them all (bounded below).
MAIN_LIST_LIMIT = 3
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
        cards.append(_basis_card(assessment, texts))
    return Rendered(cards, {EXTENSION_KEY: _extension(assessment, knowledge, as_of)})


def _decided_any(assessment: Assessment) -> bool:
    return assessment.cog.value != UNDETERMINED or assessment.hsct.value != UNDETERMINED


# -- the extension ----------------------------------------------------------------------------------

def _fact_json(fact: Fact, texts: CardTexts, by_source: dict) -> dict:
    """The machine value for the informatician, and (`label`, `display`) as the cards word it."""
    out = {"name": fact.name, "value": fact.value, "source": list(fact.sources)}
    if fact.date:
        out["date"] = fact.date
    out["label"], out["display"] = texts.fact_label(fact.name), fact_value(texts, fact, by_source)
    return out


def _event_json(texts: CardTexts, event: Event) -> dict:
    """A dated record for the timeline: machine values, plus its label as the cards word it."""
    out: dict = {"kind": event.kind, "date": event.date.text, "source": list(event.sources), "label": texts.layout["events"][event.kind]}
    if event.sites:
        out["sites"] = list(event.sites)
    if event.original is not None:
        out["value"] = event.original
        shown = measured(texts, event)
        if shown:
            out["display"] = shown
    if event.role:
        out["role"] = event.role
        out["roleLabel"] = texts.layout["mrd_roles"].get(event.role, event.role)
    return out


def _extension(a: Assessment, knowledge: Knowledge, as_of: str) -> dict:
    by_source = measurements_by_source(a)
    out: dict = {
        "relapseNumber": a.relapse_number,
        "cogRisk": a.cog.value,
        "hsct": a.hsct.value,
        "flags": [f.name for f in a.flags.raised],
        "missing": list(a.missing),
        "facts": [_fact_json(f, knowledge.cards, by_source) for f in a.facts],
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
        "timeline": [_event_json(knowledge.cards, e) for e in a.timeline],
        "recordsNotRead": a.records_not_read,
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


def _layout(texts: CardTexts, section: str, name: str, **values: object) -> str:
    return texts.layout[section][name].format(**values)


def _basis_pointer(texts: CardTexts) -> str:
    return _layout(texts, "phrases", "basis_pointer", title=texts.layout["basis"]["title"])


def _facts_table(texts: CardTexts, a: Assessment) -> str:
    if not a.facts:
        return texts.phrase("no_facts")
    rows = [_layout(texts, "phrases", "facts_table_header"), "|---|---|---|"]
    by_source = measurements_by_source(a)
    for f in a.facts[:FACTS_TABLE_LIMIT]:
        rows.append(f"| {md(texts.fact_label(f.name))} | {md(fact_value(texts, f, by_source))} | {md(date_text(texts, f.date))} |")
    if len(a.facts) > FACTS_TABLE_LIMIT:
        rows += ["", texts.phrase("more_items", count=len(a.facts) - FACTS_TABLE_LIMIT)]
    return "\n".join(rows)


def _level(texts: CardTexts, ref: dict) -> str:
    return _layout(texts, "phrases", "level", level=md(ref["level"])) if ref.get("level") else ""


def _cited(texts: CardTexts, rule_ids: tuple[str, ...], flags: tuple = ()) -> list[dict]:
    """The references rules and flags cite, each once, in the order of the summary's reference list."""
    refs: dict[str, dict] = {}
    for source in [texts.rules.get(r, {}) for r in rule_ids] + [texts.flag_text(f.name, f.variant) for f in flags]:
        for ref in source.get("refs", []):
            if ref["ref"] not in refs or (ref.get("level") and not refs[ref["ref"]].get("level")):
                refs[ref["ref"]] = ref
    return sorted(refs.values(), key=lambda r: int(r["ref"]))


def _decisive(texts: CardTexts, rule_ids: tuple[str, ...]) -> list[dict]:
    """At most three references that carry the decision: the action's rule first, then the others."""
    chosen: list[str] = []
    for rule_id in rule_ids:
        rule = texts.rules.get(rule_id, {})
        listed = texts.layout["decisive_refs"].get(rule_id) or [r["ref"] for r in rule.get("refs", [])][:MAIN_CARD_REFS]
        chosen += [r for r in listed if r not in chosen]
    keep = set(chosen[:MAIN_CARD_REFS])
    return [ref for ref in _cited(texts, rule_ids) if ref["ref"] in keep]


def _short_references(texts: CardTexts, refs: list[dict]) -> str:
    items = []
    for ref in refs:
        r = texts.references[ref["ref"]]
        items.append(_layout(texts, "phrases", "reference_short", number=r.number, author=md(r.author), year=r.year, url=r.url, level=_level(texts, ref)))
    return _layout(texts, "phrases", "evidence_line", refs="; ".join(items))


def _full_references(texts: CardTexts, refs: list[dict]) -> list[str]:
    lines = []
    for ref in refs:
        r = texts.references[ref["ref"]]
        link = texts.phrase("pubmed" if r.pmid_verified else "pubmed_search")
        lines.append("- " + _layout(texts, "phrases", "reference_full", number=r.number, citation=md(r.citation), level=_level(texts, ref), link=link, url=r.url))
    return lines


def _shown_rules(a: Assessment) -> tuple[str, ...]:
    """Rules of the decisions made. An undetermined decision shows none: its options are on the missing card."""
    return tuple(r for d in (a.hsct, a.cog) for r in d.fired)


#: The basis card's facts table shows at most this many rows (a record with hundreds of blood MRD
#: results has as many facts); the extension lists them all.
FACTS_TABLE_LIMIT = 60
#: A card lists at most this many notes or unusable records; the extension keeps them all. A record
#: with thousands of broken resources must not turn every card into thousands of lines.
CARD_LIST_LIMIT = 20


def _bounded(texts: CardTexts, items: tuple[str, ...], limit: int = CARD_LIST_LIMIT, more: str | None = None) -> list[str]:
    lines = [f"- {md(item)}" for item in items[:limit]]
    if len(items) > limit:
        count = len(items) - limit
        lines.append("- " + (more.format(count=count) if more else texts.phrase("more_items", count=count)))
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


# -- the main card ----------------------------------------------------------------------------------

def _relapse_values(a: Assessment, texts: CardTexts) -> dict:
    possible = a.inputs.possible
    site = next(iter(possible.site)) if len(possible.site) == 1 else "unknown"
    months = next((f for f in a.facts if f.name == "monthsFromDiagnosis"), None)
    number = a.relapse_number
    ordinal = texts.label("ordinal", number if number in (1, 2, 3) else ("unknown" if number is None else "other"))
    return {
        "site": site, "months": months.value if months else None, "number": number, "ordinal": ordinal,
        "band": next(iter(possible.band)) if len(possible.band) == 1 else None,
    }


def _deciding_line(a: Assessment, texts: CardTexts) -> str:
    """The facts that decided it, in one line: 'Isolated marrow relapse, 14 months after diagnosis (< 18), B-precursor'."""
    v = _relapse_values(a, texts)
    site_label = texts.label("site", v["site"])
    if v["number"] == 1 and v["site"] != "unknown":
        parts = [_layout(texts, "deciding", "relapse", site=site_label)]
    else:
        parts = [_layout(texts, "deciding", "relapse_ordinal", ordinal=v["ordinal"], site=site_label)]
    if v["months"] and v["months"].get("band"):
        parts.append(_layout(texts, "deciding", "months", months=v["months"]["months"], band=value_of(texts, "band", v["months"]["band"])))
    elif v["band"]:
        parts.append(_layout(texts, "deciding", "band", band=value_of(texts, "band", v["band"])))
    lineages = a.inputs.possible.lineage
    parts.append(value_of(texts, "lineage", next(iter(lineages))) if len(lineages) == 1 else _layout(texts, "deciding", "unknown_lineage"))
    if a.inputs.possible.after_hsct == frozenset({True}):
        parts.append(_layout(texts, "deciding", "after_hsct"))
    mrd = a.inputs.end_reinduction_mrd
    if mrd is not None and _mrd_decides(a):
        shown = mrd_text(texts, mrd.value, mrd.comparator) if mrd.value is not None else mrd.original
        parts.append(_layout(texts, "deciding", "mrd", mrd=shown))
    line = ", ".join(parts)
    return md(line[:1].upper() + line[1:]) + "."


def _mrd_decides(a: Assessment) -> bool:
    """Would the HSCT answer differ were the end-of-reinduction MRD on the other side of 10^-3? Only
    then is the MRD one of the facts that decided it (a CNS relapse's answer does not turn on it)."""
    possible = a.inputs.possible
    options = possible.options if isinstance(possible, Readings) else (possible,)
    for option in options:
        for case in option.cases():
            if hsct_indication(case).value != hsct_indication(replace(case, mrd_high=not case.mrd_high)).value:
                return True
    return False


def _explanation(a: Assessment, texts: CardTexts) -> list[str]:
    """When the rules give no HSCT indication though no fact is missing, the rule's statement says why."""
    if a.hsct.value == UNDETERMINED and not a.hsct.missing:
        return [texts.rules[r]["statement"] for r in a.hsct.rules if r in texts.rules] + [""]
    return []


def _figure(a: Assessment, texts: CardTexts) -> list[str]:
    """The survival figure of the rule behind the action (HSCT), else of the risk group."""
    for rule_id in _shown_rules(a):
        survival = texts.rules.get(rule_id, {}).get("survival")
        if survival:
            return [_layout(texts, "phrases", "figure", survival=survival), ""]
    return []


def _assessment_card(a: Assessment, texts: CardTexts, patient_id: str | None) -> dict:
    v = _relapse_values(a, texts)
    values = {
        "ordinal": v["ordinal"], "site": texts.label("site", v["site"]), "months": v["months"]["months"] if v["months"] else None,
        "cog": texts.label("cogRisk", a.cog.value), "hsct": _hsct_label(a, texts),
    }
    name = "assessment" if v["site"] != "unknown" and values["months"] is not None else "assessment_short"
    summary = _fit(texts, name, "assessment_short", **values)
    # A transplant recommendation or COG high risk calls for a decision: warning. `consider` is info (it
    # must not look like `recommended`), unless the risk group is high.
    indicator = "warning" if a.hsct.value == "recommended" or a.cog.value == "high" else "info"

    lines = [texts.phrase("decision_line", cog=md(values["cog"]), hsct=md(values["hsct"])), "", _deciding_line(a, texts), ""]
    if a.hsct_after_relapse:
        dates = [date_text(texts, e.date.text) for e in a.timeline if e.kind == "hsct" and set(e.sources) & set(a.hsct_after_relapse)]
        lines += [texts.phrase("hsct_already_done", sources=md(", ".join(dates) or ", ".join(a.hsct_after_relapse))), ""]
    lines += _explanation(a, texts)
    rest = []
    if a.missing:
        rest += [texts.phrase("undetermined_until", missing=md("; ".join(texts.label("missing", m) for m in a.missing))), ""]
    decisive = _decisive(texts, _shown_rules(a))
    if decisive:
        rest += [_short_references(texts, decisive), ""]
    rest.append(_basis_pointer(texts))
    figure = _figure(a, texts)
    # The figure is also on the basis card: where a long explanation leaves no room, it stays there.
    if len("\n".join(lines + figure + rest)) >= MAIN_DETAIL_LIMIT:
        figure = []
    card = _card("assessment", summary, indicator, "\n".join(lines + figure + rest), texts, a.cog.fired + a.hsct.fired, a.cog.candidates + a.hsct.candidates)
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
    lines = [texts.phrase("missing_heading"), *[f"- {md(label)}" for label in labels], "", texts.phrase("withheld"), ""]
    for phrase, group, decision in blocked:
        options = ", ".join(
            texts.hsct_label(decision.rules_for(v), v) if group == "hsct" else texts.label(group, v) for v in decision.open_values
        )
        depends = "; ".join(texts.label("missing", m) for m in decision.missing)
        lines.append("- " + texts.phrase("could_be", decision=texts.phrase(phrase), options=md(options), missing=md(depends)))
    if a.unavailable:
        domains = "; ".join(texts.label("domains", d) for d in sorted(a.unavailable))
        lines += ["", _layout(texts, "phrases", "unavailable", domains=md(domains))]
    lines += ["", _basis_pointer(texts)]
    # Rule ids: the decisions that fired, and `missing.<fact>` for each missing fact, so that feedback on
    # this card is tied to what it asked for even when no decision rule fired.
    rules = a.cog.fired + a.hsct.fired + tuple(f"missing.{m}" for m in a.missing)
    card = _card("missing", summary, "info", "\n".join(lines), texts, rules, a.cog.candidates + a.hsct.candidates)
    # Suggest ordering MRD only when the results were read and none that may be the end-of-reinduction
    # result is on file: when they could not be had, or one is on file with an imprecise date or an
    # unreadable specimen, the record needs completing, not a new test.
    if (patient_id and "endReinductionMrd" in a.missing and not a.unavailable & {"observations", "specimens"}
            and not a.inputs.mrd_on_file):
        card["suggestions"] = [_suggestion(texts, "mrd-order", patient_id, True)]
        card["selectionBehavior"] = "at-most-one"
    return card


def _contradiction_card(a: Assessment, texts: CardTexts) -> dict:
    title = texts.layout["basis"]["title"]
    more = _layout(texts, "phrases", "more_on_basis", count="{count}", title=title)
    lines = [texts.rules["contradiction"]["statement"], "", texts.phrase("contradicts_heading")]
    lines += _bounded(texts, tuple(texts.message(c) for c in a.contradictions), MAIN_LIST_LIMIT, more)
    lines += ["", _basis_pointer(texts)]
    return _card("contradiction", texts.summaries["contradiction"], "warning", "\n".join(lines), texts, ("contradiction",))


# -- the other cards --------------------------------------------------------------------------------

def _flags_card(a: Assessment, texts: CardTexts) -> dict:
    names = tuple(f.name for f in a.flags.raised)
    labels = [texts.flags[n]["label"] for n in names]
    summary = _fit(texts, "flags", "flags_short", flags=", ".join(labels), count=len(labels))
    lines = []
    for flag in a.flags.raised:
        label, body = texts.flags[flag.name]["label"], texts.flag_text(flag.name, flag.variant)
        extra = f" ({md(texts.message(flag.detail) if isinstance(flag.detail, Message) else _flag_value(a, texts, flag))})" if flag.detail else ""
        refs = " ".join(
            _layout(texts, "phrases", "flag_refs", number=ref["ref"], url=texts.references[ref["ref"]].url)
            for ref in sorted(body["refs"], key=lambda r: int(r["ref"]))
        )
        lines.append("- " + _layout(texts, "phrases", "flag_item", label=md(label), detail=extra, evidence=body["evidence"], refs=refs))
    # Rule ids of the flags card: one `flag.<name>` per raised flag, so that feedback is tied to each.
    return _card("flags", summary, "info", "\n".join(lines), texts, tuple(f"flag.{f.name}" for f in a.flags.raised))


def _flag_value(a: Assessment, texts: CardTexts, flag) -> str:
    """A value a flag quotes from the record (an MRD result, a blast count), in clinicians' units."""
    event = next((e for e in a.timeline if e.sources == flag.sources[:1] and e.kind in ("mrd", "blasts")), None)
    return measured(texts, event) or str(flag.detail)


def _basis_card(a: Assessment, texts: CardTexts) -> dict:
    """Everything behind the assessment: the facts table, the rules as written, what could not be
    assessed or used, and every reference in the summary's order."""
    lines = [texts.phrase("facts_read" if a.contradictions else "facts_used"), "", _facts_table(texts, a)]
    shown = _shown_rules(a)
    for heading, decision in ((texts.phrase("heading_hsct"), a.hsct), (texts.phrase("heading_cog"), a.cog)):
        for rule_id in decision.rules:
            rule = texts.rules.get(rule_id)
            if rule is None or rule_id not in shown:
                continue
            lines += ["", _layout(texts, "phrases", "rule_heading", heading=heading, statement=rule["statement"])]
            if rule["survival"]:
                lines.append(texts.phrase("outcome_line", survival=rule["survival"]))
    if a.contradictions:
        lines += ["", texts.phrase("contradicts_heading"), *_bounded(texts, tuple(texts.message(c) for c in a.contradictions))]
    if a.flags.not_assessed:
        lines += ["", texts.phrase("not_assessed_heading")]
        lines += [
            "- " + texts.phrase("not_assessed_item", flag=md(texts.flags[f]["label"]), missing=md(", ".join(texts.label("missing", m) for m in miss)))
            for f, miss in a.flags.not_assessed
        ]
    lines += _records_section(texts, a)
    refs = _cited(texts, shown, a.flags.raised)
    if refs:
        lines += ["", _layout(texts, "phrases", "references_heading"), *_full_references(texts, refs)]
    # Rule ids: the basis shows the rules that fired and the facts that were missing.
    rules = tuple(dict.fromkeys(a.cog.fired + a.hsct.fired + tuple(f"missing.{m}" for m in a.missing)))
    return _card("basis", texts.layout["basis"]["summary"], "info", "\n".join(lines), texts, rules)
