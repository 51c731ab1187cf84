"""What a clinician and an informatician read on each card, checked on every fixture patient: the
CDS Hooks members the issue requires, the facts with their FHIR sources, the rule that fired with its
seed figures, the evidence as PubMed links with levels, and suggestions that are valid FHIR R4."""

from __future__ import annotations

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
def test_the_detail_shows_facts_rule_figures_and_evidence(answers, knowledge, name):
    _, assessment, cards = answers[name]
    texts = knowledge.cards
    main = [c for c in cards if kind(c) in ("assessment", "missing", "contradiction")]
    if not cards:
        assert assessment["relapseNumber"] == 0
        return
    assert main, "a relapsed patient gets an assessment, missing-data or contradiction card"
    detail = plain(" ".join(c["detail"] for c in main))
    for fact in assessment["facts"]:
        for source in fact["source"]:
            assert source in detail, f"fact {fact['name']} source {source} not on the card"
        if fact.get("date"):
            assert fact["date"] in detail
    assessment_cards = [c for c in cards if kind(c) == "assessment"]
    for card in assessment_cards:
        text = plain(card["detail"])
        for decision in ("cogRisk", "hsct"):
            if assessment[decision] == "undetermined" and assessment["missing"]:
                continue
            for rule_id in assessment["rules"][decision]:
                rule = texts.rules[rule_id]
                assert rule["statement"] in text
                if rule["survival"]:
                    assert rule["survival"] in text
                for ref in rule["refs"]:
                    reference = texts.references[ref["ref"]]
                    assert reference.url in card["detail"]
                    if ref.get("level"):
                        assert f"[{ref['ref']}]" in text and f"Level of evidence: {ref['level']}" in text


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
        if cards:  # a patient with no relapse gets no card
            assert f"| {label} |" in detail
