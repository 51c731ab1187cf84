"""Treatment-options cards (one per situation) and the transplant work-up card, from cards/options.yaml
and cards/transplant.yaml. This module only arranges reviewed text; the situation comes from the rules."""

from __future__ import annotations

import uuid

from ..knowledge import Knowledge
from ..knowledge.cards import CardTexts
from ..knowledge.treatment import TreatmentTexts
from ..render import md
from ..rules.assess import Assessment
from ..rules.situation import Situation, situation_of

CARD_EXTENSION_KEY = "org.relapse-cds.card"


def treatment_cards(assessment: Assessment, knowledge: Knowledge, patient_id: str | None) -> list[dict]:
    """The options card of every situation the record is certainly in, then the work-up if transplant is on the table."""
    treatment = knowledge.treatment
    if treatment is None:
        return []
    situation = situation_of(assessment)
    cards = [options_card(key, situation, treatment, knowledge.cards) for key in situation.keys]
    if situation.transplant_on_table:
        cards.append(work_up_card(assessment, situation, treatment, knowledge.cards))
    return cards


def card(kind: str, summary: str, indicator: str, detail: str, texts: CardTexts, topic: dict, links: list[dict], **extension: object) -> dict:
    """A CDS Hooks card with the service's source and the PDQ summary link."""
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": indicator,
        "detail": detail,
        "source": {"label": texts.source["label"], "url": texts.source["url"], "topic": dict(topic)},
        "overrideReasons": [{"system": texts.override_system, "code": r["code"], "display": r["display"]} for r in texts.override_reasons],
        "links": [{"label": texts.link["label"], "url": texts.link["url"], "type": "absolute"}, *links],
        "extension": {CARD_EXTENSION_KEY: {"kind": kind, **extension}},
    }


def _allowed(item: dict, situation: Situation) -> bool:
    """An item restricted by `when` is shown when the record allows that value (each item names its case)."""
    when = item.get("when") or {}
    for fact, values in (("band", situation.band), ("site", situation.site), ("lineage", situation.lineage)):
        if fact in when and not set(when[fact]) & values:
            return False
    if "after_hsct" in when and when["after_hsct"] not in situation.after_hsct:
        return False
    if "bfm" in when:
        return ("intermediate" if when["bfm"] is True else when["bfm"]) in situation.bfm
    return True


def inline_refs(refs: list[dict]) -> str:
    if not refs:
        return ""
    parts = [f"{r['ref']}, level {r['level']}" if r.get("level") else r["ref"] for r in refs]
    return f" [{'; '.join(parts)}]"


def sections(blocks: list[dict], situation: Situation | None) -> tuple[list[str], list[dict]]:
    """Markdown lines of the shown items, and the references they cite (in order, once each)."""
    lines: list[str] = []
    cited: list[dict] = []
    for block in blocks:
        items = [i for i in block["items"] if situation is None or _allowed(i, situation)]
        if not items:
            continue
        lines += [f"**{block['heading']}**", ""]
        for item in items:
            lines.append(f"- {item['text']}{inline_refs(item['refs'])}")
            cited += [r for r in item["refs"] if all(r["ref"] != c["ref"] for c in cited)]
        lines.append("")
    return lines, cited


def evidence(heading: str, cited: list[dict], treatment: TreatmentTexts, texts: CardTexts) -> list[str]:
    """The cited references with their PubMed links (levels of evidence are given inline)."""
    if not cited:
        return []
    lines = [heading]
    for ref in cited:
        r = treatment.references[ref["ref"]]
        lines.append(f"- [{r.number}] {r.citation} [{texts.phrase('pubmed' if r.pmid_verified else 'pubmed_search')}]({r.url})")
    return lines


def options_card(key: str, situation: Situation, treatment: TreatmentTexts, texts: CardTexts) -> dict:
    options = treatment.options
    body = options["situations"][key]
    phrases = options["phrases"]
    lines: list[str] = []
    if body["show_hsct_time"]:
        t = situation.hsct_time
        lines += [phrases["hsct_time"].format(months=t.months, hsct_date=md(t.hsct_date), relapse_date=md(t.relapse_date), sources=md(", ".join(t.sources)))
                  if t else phrases["hsct_time_unknown"], ""]
    shown, cited = sections(body["sections"], situation)
    lines += shown
    if body["trials"]:
        lines += [phrases["heading_trials"], ""]
        lines += [f"- {options['trial_groups'][group]['text']}" for group in body["trials"]]
        lines += ["", phrases["trials_closed"], ""]
    lines += evidence(phrases["evidence_heading"], cited, treatment, texts)
    trials = {"label": options["trials_link"]["label"], "url": options["trials_link"]["url"], "type": "absolute"}
    return card("treatment-options", body["summary"], "info", "\n".join(lines).strip(), texts, options["topic"], [trials], situation=key,
                rules=[f"treatment.{key}"])  # the rule id feedback on this card is counted under


def work_up_lines(assessment: Assessment, situation: Situation, treatment: TreatmentTexts, texts: CardTexts) -> list[str]:
    """The work-up text: what to have ready for a transplant, with the record's pre-transplant MRD gap."""
    work_up = treatment.work_up
    lines: list[str] = []
    if assessment.hsct_after_relapse:
        lines += [work_up["phrases"]["hsct_already_done"].format(sources=md(", ".join(assessment.hsct_after_relapse))), ""]
    if situation.mrd_after_relapse is None:
        lines += [work_up["phrases"]["mrd_unavailable"], ""]
    elif not situation.mrd_after_relapse:
        lines += [work_up["phrases"]["no_mrd_recorded"], ""]
    shown, cited = sections(work_up["sections"], None)
    lines += shown
    lines += evidence(treatment.options["phrases"]["evidence_heading"], cited, treatment, texts)
    return lines


def work_up_card(assessment: Assessment, situation: Situation, treatment: TreatmentTexts, texts: CardTexts) -> dict:
    """The work-up as a card. A missing pre-transplant MRD is said in words, not drafted as an order: the
    transplant (and so the MRD just before it) is usually months away when the relapse is assessed."""
    work_up = treatment.work_up
    detail = "\n".join(work_up_lines(assessment, situation, treatment, texts)).strip()
    return card("transplant-work-up", work_up["summary"], "info", detail, texts, work_up["topic"], [], rules=["treatment.transplant-work-up"])
