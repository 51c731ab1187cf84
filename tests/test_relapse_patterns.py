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


def test_an_mrd_result_days_after_the_relapse_is_the_work_up_not_end_of_reinduction(client):
    got, _ = respond(client, patient(), diagnosis("2012-01-10"), relapse("2019-01-09"), mrd("2019-01-10", 45))
    assert got["hsct"] == "undetermined" and "high-mrd" not in got["flags"] and "endReinductionMrd" in got["missing"]
    assert any(f["name"] == "relapseWorkupMrd" for f in got["facts"])
    later, _ = respond(client, patient(), diagnosis("2012-01-10"), relapse("2019-01-09"), mrd("2019-02-12", 45))
    assert later["hsct"] == "consider" and "high-mrd" in later["flags"]


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


def test_an_mrd_result_whose_partial_date_may_be_the_work_up_leaves_mrd_unknown(client):
    # "2019-02" is 23 to 50 days after the relapse: it may be the work-up, so it is not read as either.
    partial, _ = respond(client, patient(), diagnosis("2012-01-10"), relapse("2019-01-09"), mrd("2019-02", 60))
    assert partial["hsct"] == "undetermined" and "endReinductionMrd" in partial["missing"] and "high-mrd" not in partial["flags"]
    certain, _ = respond(client, patient(), diagnosis("2012-01-10"), relapse("2019-01-09"), mrd("2019-03", 60))
    assert certain["hsct"] == "consider" and "high-mrd" in certain["flags"]


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
