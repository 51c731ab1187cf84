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
