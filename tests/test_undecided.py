"""How a withheld answer reads: `openValues` and the missing card list only answers the record could
still lead to (never "undetermined"), and rules that did not decide are named as candidates, apart
from `rules`, which holds only the rules that fired."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from conftest import FIXTURES, SERVICE_URL, load_fixture
from service.rules.cog import cog_risk
from service.rules.hsct import hsct_indication
from service.rules.possible import BANDS, BOOLS, LINEAGES, ORDERS, SITES, UNDETERMINED, Possible, decide
from test_fixture_patients import as_request

subsets = lambda values: st.sets(st.sampled_from(values), min_size=1).map(frozenset)  # noqa: E731
possibles = st.builds(Possible, subsets(LINEAGES), subsets(SITES), subsets(BANDS), subsets(ORDERS), subsets(BOOLS), subsets(BOOLS))


@given(possibles, st.sampled_from([cog_risk, hsct_indication]))
def test_open_values_are_decided_answers_and_candidates_are_not_fired(possible, rule):
    decision = decide(rule, possible)
    assert UNDETERMINED not in decision.open_values
    answers = {rule(case).value for case in possible.cases()}
    if len(answers) == 1:  # every case agrees: those rules fired
        assert decision.fired == decision.rules and decision.candidates == () and decision.open_values == ()
    else:
        assert decision.value == UNDETERMINED and decision.fired == () and decision.candidates == decision.rules
        assert set(decision.open_values) == answers - {UNDETERMINED} != set()


def test_unknown_site_and_lineage_over_http(client):
    fixture = load_fixture(FIXTURES / "unknown-site-unknown-lineage-early.json")
    body = client.post(SERVICE_URL, json=as_request(fixture["bundle"])).get_json()
    assessment = body["extension"]["org.relapse-cds.assessment"]
    assert (assessment["cogRisk"], assessment["hsct"]) == ("undetermined", "undetermined")
    assert assessment["openValues"]["cogRisk"] == ["high", "intermediate"]
    assert "undetermined" not in json.dumps(assessment["openValues"])
    assert assessment["rules"] == {"cogRisk": [], "hsct": []}
    assert "cog.site-not-in-table" in assessment["candidateRules"]["cogRisk"]
    missing_card = next(c for c in body["cards"] if c["extension"]["org.relapse-cds.card"]["kind"] == "missing")
    could_be = [line for line in missing_card["detail"].splitlines() if "could be" in line]
    assert len(could_be) == 2 and not any("undetermined" in line for line in could_be), could_be
    card_ext = missing_card["extension"]["org.relapse-cds.card"]
    # No decision rule fired, so none is among the card's rules: those name the missing facts it asks for
    # (`missing.<fact>`, so that feedback on the card is tied to them); the candidates stay apart.
    assert card_ext["rules"] == [f"missing.{m}" for m in assessment["missing"]]
    assert "cog.site-not-in-table" in card_ext["candidateRules"]


def test_a_decided_answer_keeps_its_fired_rules(client):
    fixture = load_fixture(FIXTURES / "b-isolated-cns-12m.json")
    assessment = client.post(SERVICE_URL, json=as_request(fixture["bundle"])).get_json()["extension"]["org.relapse-cds.assessment"]
    assert assessment["rules"]["cogRisk"] and assessment["rules"]["hsct"]
    assert "candidateRules" not in assessment and "openValues" not in assessment
