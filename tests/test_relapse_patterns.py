"""Relapse patterns at the edges of the seed's tables: several extramedullary sites, unknown sites,
relapse records that may be one episode. Every relapsed patient gets a card that says why."""

from __future__ import annotations

from conftest import SERVICE_URL, assessment_of
from fhir_builders import blasts, diagnosis, hook_request, mrd, patient, record, relapse


def respond(client, *resources):
    response = client.post(SERVICE_URL, json=hook_request(record(*resources)))
    return assessment_of(response), response.get_json()["cards"]


def kinds(cards) -> set[str]:
    return {c["extension"]["org.relapse-cds.card"]["kind"] for c in cards}


def test_cns_and_testis_together_use_the_isolated_extramedullary_column(client):
    # 17.97 months: <18; 18 months: 18-36 (diagnosis 2015-01-10)
    early, cards = respond(client, patient(), diagnosis("2015-01-10"), relapse("2016-07-09", sites=("cns", "testis")))
    # HSCT: the CNS guidance (consider) and the testicular (no transplant role) differ within 18 months.
    assert (early["cogRisk"], early["hsct"], early["missing"]) == ("intermediate", "undetermined", [])
    assessment = next(c for c in cards if c["extension"]["org.relapse-cds.card"]["kind"] == "assessment")
    assert "here they differ" in assessment["detail"]
    late, _ = respond(client, patient(), diagnosis("2015-01-10"), relapse("2016-07-10", sites=("cns", "testis")))
    assert (late["cogRisk"], late["hsct"]) == ("low", "not-recommended")


def test_cns_and_testis_recorded_as_two_conditions_on_one_day(client):
    got, _ = respond(client, patient(), diagnosis("2015-01-10"),
                     relapse("2019-06-01", sites=("cns",)), relapse("2019-06-01", sites=("testis",)))
    assert (got["relapseNumber"], got["cogRisk"], got["hsct"]) == (1, "low", "not-recommended")


def test_an_unrecognised_site_is_an_unknown_site_and_the_card_names_the_code(client):
    got, cards = respond(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01", sites=("181131000",)))
    assert got["cogRisk"] == got["hsct"] == "undetermined" and "relapseSite" in got["missing"]
    assert any(k == "missing" for k in kinds(cards))
    basis = next(c for c in cards if c["extension"]["org.relapse-cds.card"]["kind"] == "basis")
    assert "181131000" in basis["detail"]


def test_a_female_patient_cannot_have_a_cns_and_testis_pattern(client):
    got, _ = respond(client, patient(gender="female"), diagnosis("2015-01-10"), relapse("2019-06-01", sites=("cns", "40689003")))
    assert got["cogRisk"] == "undetermined" and got["contradictions"]


def test_mrd_is_not_called_missing_when_only_the_relapse_date_is_in_doubt(client):
    # Two relapse records 9 days apart, no remission between: one episode or two cannot be told.
    got, cards = respond(client, patient(), diagnosis("2015-01-10"), relapse("2019-03-01"),
                         relapse("2019-03-10", sites=("cns",)), mrd("2019-04-10", 0.5))
    assert "endReinductionMrd" not in got["missing"]
    assert all("suggestions" not in c or "MRD" not in c["suggestions"][0]["label"] for c in cards)


def test_relapse_records_before_the_diagnosis_are_a_contradiction_even_when_close_together(client):
    got, cards = respond(client, patient(), diagnosis("2015-01-10"), relapse("2014-06-01"), relapse("2014-06-10", sites=("cns",)))
    assert got["contradictions"] and "contradiction" in kinds(cards)
    assert (got["cogRisk"], got["hsct"]) == ("undetermined", "undetermined")


def test_relapse_records_in_the_future_are_a_contradiction_even_when_close_together(client):
    got, _ = respond(client, patient(), diagnosis("2015-01-10"), relapse("2090-03-01"), relapse("2090-03-10", sites=("cns",)))
    assert any("future" in c for c in got["contradictions"])


def test_an_mrd_result_days_after_the_relapse_is_used_as_the_contract_says_but_questioned(client):
    got, _ = respond(client, patient(), diagnosis("2012-01-10"), relapse("2019-01-09"), mrd("2019-01-10", 45))
    assert got["hsct"] == "consider" and "high-mrd" in got["flags"]  # the contract: first marrow result after relapse
    assert any("1 day after the relapse" in n and "work-up" in n for n in got["notes"])
    later, _ = respond(client, patient(), diagnosis("2012-01-10"), relapse("2019-01-09"), mrd("2019-02-12", 45))
    assert not any("work-up" in n for n in later.get("notes", []))


def test_a_high_blast_count_at_a_relapse_that_may_be_late_marrow_is_listed_not_dropped(client):
    # Diagnosis known to the month only: the relapse may be just under or just over 36 months.
    got, _ = respond(client, patient(), diagnosis("2015-01"), relapse("2018-01-20"), blasts("2018-01-19", 50_000))
    assert "high-peripheral-blasts" not in got["flags"]
    assert {"flag": "high-peripheral-blasts", "missing": ["diagnosisDate"]} in got["flagsNotAssessed"]
    certain, _ = respond(client, patient(), diagnosis("2014-01-01"), relapse("2018-01-20"), blasts("2018-01-19", 50_000))
    assert "high-peripheral-blasts" in certain["flags"]
    early, _ = respond(client, patient(), diagnosis("2017-01-01"), relapse("2018-01-20"), blasts("2018-01-19", 50_000))
    assert "high-peripheral-blasts" not in early["flags"] and not any(
        f["flag"] == "high-peripheral-blasts" for f in early.get("flagsNotAssessed", []))


def test_an_early_mrd_caveat_is_on_the_flag_too_and_spans_a_partial_date(client):
    got, cards = respond(client, patient(), diagnosis("2012-01-10"), relapse("2019-01-09"), mrd("2019-01-12", 60))
    flags = next(c for c in cards if c["extension"]["org.relapse-cds.card"]["kind"] == "flags")
    assert "3 days after the relapse" in flags["detail"] and "work" in flags["detail"]
    partial, _ = respond(client, patient(), diagnosis("2012-01-10"), relapse("2019-01-09"), mrd("2019-02", 60))
    assert any("dated 23 to 50 days after the relapse" in n for n in partial["notes"])


def test_the_blast_count_closest_to_the_relapse_decides_even_when_the_band_is_open(client):
    # A high count 10 days before and a low one on the day: the closest (low) describes the relapse.
    got, _ = respond(client, patient(), diagnosis("2015-01"), relapse("2018-01-20"),
                     blasts("2018-01-10", 50_000), blasts("2018-01-20", 2_000))
    assert not any(f["flag"] == "high-peripheral-blasts" for f in got.get("flagsNotAssessed", []))


def test_every_reason_a_relapse_cannot_be_placed_is_named(client):
    broken = relapse("2017-01-10", rid="rel-broken")
    broken["onsetDateTime"] = "2017-02-30"
    got, _ = respond(client, patient(), diagnosis("2015-01-10"), relapse(None), broken)
    assert {"readableRelapseRecord", "relapseDate"} <= set(got["missing"])


def test_no_time_from_diagnosis_is_shown_for_a_relapse_dated_before_it(client):
    got, _ = respond(client, patient(), diagnosis("2015-01-10"), relapse("2014-06-01"))
    assert got["contradictions"] and not any(f["name"] == "monthsFromDiagnosis" for f in got["facts"])
