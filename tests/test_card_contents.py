"""What a clinician and an informatician read on each card, checked on every fixture patient: the
CDS Hooks members the issue requires, the facts with their FHIR sources, the rule that fired with its
seed figures, the evidence as PubMed links with levels, and suggestions that are valid FHIR R4."""

from __future__ import annotations

import re
import uuid

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from conftest import FIXTURES, SERVICE_URL, assessment_of, load_fixture
from render_md import plain
from test_fixture_patients import as_request

FILES = sorted(FIXTURES.glob("*.json"))


@pytest.fixture(scope="module")
def answers(app):
    client = app.test_client()
    out = {}
    for path in FILES:
        request = as_request(load_fixture(path)["bundle"])
        response = client.post(SERVICE_URL, json=request)
        out[path.stem] = (request, assessment_of(response), response.get_json()["cards"])
    return out


def kind(card: dict) -> str:
    return card["extension"]["org.relapse-cds.card"]["kind"]


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_every_card_carries_what_the_issue_requires(answers, knowledge, name):
    _, _, cards = answers[name]
    for card in cards:
        uuid.UUID(card["uuid"])
        assert card["source"]["label"] and card["source"]["url"].startswith("https://")
        assert card["overrideReasons"] and all(r["display"] and r["code"] for r in card["overrideReasons"])
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_suggestions_are_valid_fhir_r4_service_requests_for_this_patient(answers, knowledge, name):
    request, assessment, cards = answers[name]
    patient_id = request["context"]["patientId"]
    texts = knowledge.cards.suggestions
    labels = [s["label"] for c in cards for s in c.get("suggestions", [])]
    referrals = [s for c in cards for s in c.get("suggestions", []) if s["label"] == texts["transplant-referral"]["label"]]
    discussions = [s for c in cards for s in c.get("suggestions", []) if s["label"] == texts["transplant-discussion"]["label"]]
    done = any(f["name"] == "hsctAfterRelapse" for f in assessment["facts"])
    # `recommended`: one referral, marked recommended. `consider`: a transplant-team discussion, never
    # marked recommended and never a referral. Anything else: neither.
    if assessment["hsct"] == "recommended" and not done:
        assert len(referrals) == 1 and referrals[0]["isRecommended"] is True and discussions == []
    elif assessment["hsct"] == "consider" and not done:
        assert referrals == [] and len(discussions) == 1 and discussions[0]["isRecommended"] is False
    else:
        assert referrals == [] and discussions == [], labels
    for card in cards:
        if "suggestions" in card:
            assert card["selectionBehavior"] == "at-most-one"
        for suggestion in card.get("suggestions", []):
            uuid.UUID(suggestion["uuid"])
            for action in suggestion["actions"]:
                assert action["type"] == "create" and action["description"]
                resource = ServiceRequest.model_validate(action["resource"])
                assert resource.subject.reference == f"Patient/{patient_id}"
                assert (resource.status, resource.intent) == ("draft", "proposal")


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_the_basis_card_shows_facts_rule_figures_and_every_reference(answers, knowledge, name):
    _, assessment, cards = answers[name]
    texts = knowledge.cards
    if not cards:
        assert assessment["relapseNumber"] == 0
        return
    main = [c for c in cards if kind(c) in ("assessment", "missing", "contradiction")]
    assert main, "a relapsed patient gets an assessment, missing-data or contradiction card"
    basis = [c for c in cards if kind(c) == "basis"]
    assert len(basis) == 1 and cards[-1] is basis[0], "the basis card comes once, last"
    text = plain(basis[0]["detail"])
    for fact in assessment["facts"]:
        assert f"| {texts.fact_label(fact['name'])} |" in text
    cited = set()
    for decision in ("hsct", "cogRisk"):
        if assessment[decision] == "undetermined" and assessment["missing"]:
            continue
        for rule_id in assessment["rules"][decision]:
            rule = texts.rules[rule_id]
            assert rule["statement"] in text
            if rule["survival"]:
                assert rule["survival"] in text
            cited |= {(r["ref"], r.get("level")) for r in rule["refs"]}
    flags_card = [c for c in cards if kind(c) == "flags"]
    on_flags_card = set(re.findall(r"\[(\d+)\]\(", flags_card[0]["detail"])) if flags_card else set()
    for flag in assessment["flags"]:  # the flag's text for its subgroup: the references its card cites
        body = texts.flags[flag]
        every = body["refs"] + [r for v in body.get("variants", {}).values() for r in v["refs"]]
        cited |= {(r["ref"], r.get("level")) for r in every if r["ref"] in on_flags_card}
    numbers = [int(n) for n in re.findall(r"^- \[(\d+)\]", text, re.MULTILINE)]
    assert numbers == sorted({int(n) for n, _ in cited}), "every reference once, in the summary's order"
    for number, level in cited:
        assert texts.references[number].url in basis[0]["detail"]
        if level:
            assert re.search(rf"^- \[{number}\] .*level of evidence {level}", text, re.MULTILINE)


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_the_main_card_leads_with_the_decision_and_cites_at_most_three_references(answers, knowledge, name):
    _, assessment, cards = answers[name]
    texts = knowledge.cards
    for card in [c for c in cards if kind(c) == "assessment"]:
        text = plain(card["detail"])
        first = text.split("\n")[0]
        hsct = texts.label("hsct", "undetermined") if assessment["hsct"] == "undetermined" and assessment["missing"] else texts.hsct_label(tuple(assessment["rules"]["hsct"]), assessment["hsct"])
        assert texts.labels["cogRisk"][assessment["cogRisk"]] in first and hsct in first
        numbers = re.findall(r"\[(\d+)\] \[", text)
        assert 1 <= len(numbers) <= 3 and numbers == sorted(numbers, key=int)
        shown = [r for d in ("hsct", "cogRisk") if not (assessment[d] == "undetermined" and assessment["missing"]) for r in assessment["rules"][d]]
        rule_refs = {r["ref"]: r for rule in shown for r in texts.rules[rule]["refs"]}
        for number in numbers:
            assert number in rule_refs, "only references of the rules that decided"
            if rule_refs[number].get("level"):
                assert f"[{number}] [" in text and f"level of evidence {rule_refs[number]['level']}" in text
    for card in cards:
        text = plain(card["detail"])
        for rule in {*assessment["rules"]["cogRisk"], *assessment["rules"]["hsct"]} - {"contradiction"}:
            assert rule not in text, "rule ids stay in the extension"
        if kind(card) in ("assessment", "flags", "missing"):
            for fact in assessment["facts"]:
                assert not any(src in text for src in fact["source"]), "FHIR ids stay in the extension"


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_the_flags_card_gives_the_seed_figure_for_each_flag(answers, knowledge, name):
    _, assessment, cards = answers[name]
    flag_cards = [c for c in cards if kind(c) == "flags"]
    if not assessment["flags"]:
        assert flag_cards == []
        return
    assert len(flag_cards) == 1
    text = plain(flag_cards[0]["detail"])
    for flag in assessment["flags"]:
        body = knowledge.cards.flags[flag]
        assert any(t["evidence"] in text for t in (body, *body.get("variants", {}).values()))


def test_the_tp53_card_quotes_efs_9_vs_49(answers):
    _, assessment, cards = answers["b-early-marrow-tp53-ikzf1"]
    assert "tp53-alteration" in assessment["flags"]
    assert "EFS 9% vs 49%" in plain(next(c for c in cards if kind(c) == "flags")["detail"])


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_facts_are_shown_under_labels_a_clinician_reads(answers, knowledge, name):
    _, assessment, cards = answers[name]
    detail = plain(" ".join(c["detail"] for c in cards))
    for fact in assessment["facts"]:
        label = knowledge.cards.fact_label(fact["name"])
        assert label != fact["name"], f"fact {fact['name']} has no label in cards.yaml labels.facts"
        assert fact["label"] == label and fact["display"], "the extension carries the wording too"
        assert not re.search(r"\b(b-precursor|t-cell|months: |band: |date: |sites: )", fact["display"]), fact["display"]
        if cards:  # a patient with no relapse gets no card
            assert f"| {label} | {fact['display'].split(' ')[0]}" in detail


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_the_mrd_is_among_the_deciding_facts_only_where_the_answer_turns_on_it(answers, name):
    _, assessment, cards = answers[name]
    main = [c for c in cards if kind(c) == "assessment"]
    if not main:
        return
    turns_on_mrd = any(r.startswith("hsct.late-b-marrow") for r in assessment["rules"]["hsct"])
    has_mrd = any(f["name"] == "endReinductionMrd" for f in assessment["facts"])
    assert ("end-of-reinduction MRD" in plain(main[0]["detail"]).split("\n")[2]) == (turns_on_mrd and has_mrd)
