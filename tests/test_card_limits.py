"""Cards read as a CDS client renders them (markdown-it-py, CommonMark): a clinician gives a card five
seconds. For every fixture patient: the main card's detail stays under ~1,200 characters, leads with
the decision, cites at most three references; no card carries raw HTML; every link is https."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from conftest import FIXTURES, SERVICE_URL, load_fixture
from service.render import MAIN_DETAIL_LIMIT
from test_fixture_patients import as_request

FILES = sorted(FIXTURES.glob("*.json"))
MAIN_KINDS = ("assessment", "missing", "contradiction")
_MD = MarkdownIt("commonmark").enable("table")


def kind(card: dict) -> str:
    return card["extension"]["org.relapse-cds.card"]["kind"]


def tokens(markdown: str):
    for token in _MD.parse(markdown):
        yield token
        yield from token.children or ()


@pytest.fixture(scope="module")
def cards_by_patient(app):
    client = app.test_client()
    return {p.stem: client.post(SERVICE_URL, json=as_request(load_fixture(p)["bundle"])).get_json()["cards"] for p in FILES}


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_the_main_card_is_short_and_leads_with_the_decision(cards_by_patient, name):
    cards = cards_by_patient[name]
    if not cards:
        return  # no relapse: no card
    main = cards[0]
    assert kind(main) in MAIN_KINDS, "the first card is the answer"
    assert len(main["detail"]) < MAIN_DETAIL_LIMIT, f"{len(main['detail'])} characters"
    if kind(main) == "assessment":
        assert _MD.render(main["detail"]).startswith("<p><strong>"), "the decision comes first, in bold"
    links = [t.attrGet("href") for t in tokens(main["detail"]) if t.type == "link_open"]
    assert len([h for h in links if "pubmed" in h]) <= 3, "at most three references on the main card"
    for card in cards:
        if card is not main and kind(card) in MAIN_KINDS:
            assert len(card["detail"]) < MAIN_DETAIL_LIMIT


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_no_card_carries_html_and_every_link_is_https(cards_by_patient, name):
    for card in cards_by_patient[name]:
        found = list(tokens(card["detail"]))
        assert not [t for t in found if t.type in ("html_inline", "html_block")], "raw HTML in a card"
        for token in found:
            if token.type == "link_open":
                assert token.attrGet("href").startswith("https://")
        assert len(card["summary"]) < 140


@pytest.mark.parametrize("name", [p.stem for p in FILES])
def test_the_suggestion_stays_on_the_card_that_asks_for_it(cards_by_patient, name):
    for card in cards_by_patient[name]:
        if "suggestions" in card:
            assert kind(card) in ("assessment", "missing")


SITE_SETS = [("marrow",), ("cns",), ("testis",), ("marrow", "cns"), ("cns", "testis"), ("181131000",), ()]
RELAPSE_DAYS = ["2016-01-10", "2016-07-10", "2019-06-01"]  # < 18, 18-36, > 36 months after 2015-01-10


@pytest.mark.parametrize("sites", SITE_SETS, ids=lambda s: "+".join(s) or "no-site")
@pytest.mark.parametrize("morphology", ["9811/3", "9837/3", "9835/3"])
def test_the_main_card_is_short_in_every_relapse_pattern(app, sites, morphology):
    """Beyond the fixtures: every site pattern, month band, lineage, first or second relapse, after a
    transplant or not, with an MRD result and flags; the main card stays under the limit."""
    from fhir_builders import blasts, diagnosis, hook_request, hsct, mrd, patient, record, relapse, remission, variant

    client = app.test_client()
    for onset in RELAPSE_DAYS:
        for earlier, transplant in ((False, False), (True, False), (False, True)):
            resources = [patient(birth="2002-03-01"), diagnosis("2015-01-10", morphology=morphology), relapse(onset, sites=sites),
                         mrd("2019-08-01", 0.5, "%"), blasts(onset, 25000), variant("HGNC:11998")]
            if earlier:
                resources += [relapse("2015-06-01"), remission("2015-07-15")]
            if transplant:
                resources.append(hsct("2015-09-01"))
            cards = client.post(SERVICE_URL, json=hook_request(record(*resources))).get_json()["cards"]
            main = cards[0]
            assert kind(main) in MAIN_KINDS
            assert len(main["detail"]) < MAIN_DETAIL_LIMIT, (onset, earlier, transplant, len(main["detail"]), main["detail"])


def test_a_long_explanation_leaves_the_figure_to_the_basis_card(app, knowledge):
    """Where the rule's own statement (no indication given, and why) is long, the survival figure,
    which the basis card also shows, gives way: the main card stays under the limit."""
    from dataclasses import replace

    from datetime import date

    from fhir_builders import PATIENT_ID, diagnosis, hook_request, patient, record, relapse
    from service.pipeline import evaluate
    from service.render import render

    rule = "hsct.early-cns-testicular"
    long_rules = dict(knowledge.cards.rules, **{rule: dict(knowledge.cards.rules[rule], statement="Decide with the transplant team. " * 14)})
    edited = replace(knowledge, cards=replace(knowledge.cards, rules=long_rules))
    request = hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10", sites=("cns", "testis"))))
    ext = app.extensions
    evaluation = evaluate(request["prefetch"], PATIENT_ID, edited, ext["relapse_cds.service"], ext["relapse_cds.selector"], date(2026, 1, 1))
    assert evaluation.assessment.hsct.rules == (rule,)
    cards = render(evaluation.assessment, edited, PATIENT_ID, "2026-01-01").cards
    survival = long_rules[rule]["survival"]
    assert survival not in cards[0]["detail"] and len(cards[0]["detail"]) < MAIN_DETAIL_LIMIT
    assert survival in cards[-1]["detail"], "the basis card keeps the figure"


def test_hundreds_of_results_do_not_make_the_basis_card_endless(app):
    from fhir_builders import diagnosis, hook_request, mrd, patient, record, relapse

    results = [mrd(f"2019-{1 + i % 12:02d}-{1 + i % 28:02d}", 0.01, "%", body_site=None) for i in range(300)]
    response = app.test_client().post(SERVICE_URL, json=hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"), *results)))
    assert response.status_code == 200
    answer = response.get_json()
    basis = answer["cards"][-1]
    assert kind(basis) == "basis" and basis["detail"].count("\n| ") <= 62 and "more" in basis["detail"]
    facts = answer["extension"]["org.relapse-cds.assessment"]["facts"]
    # The extension keeps every record: the same fact on the same day is one row naming all its sources.
    assert len({src for f in facts if f["name"] == "mrdNotFromMarrow" for src in f["source"]}) == 300
