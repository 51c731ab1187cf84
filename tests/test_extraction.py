"""FHIR -> features -> assessment, through the HTTP endpoint: each test states one contract row."""

from __future__ import annotations

import pytest

from conftest import SERVICE_URL, assessment_of
from fhir_builders import LOINC
from fhir_builders import (ICD10, SCT, bundle, blasts, condition, diagnosis, hook_request, hsct, mrd, observation, patient,
                           record, relapse, remission, variant)


def assess(client, *resources):
    return assessment_of(client.post(SERVICE_URL, json=hook_request(record(*resources))))


def fact(assessment, name):
    return [f for f in assessment["facts"] if f["name"] == name]


def test_early_marrow_relapse(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-03-01"))
    assert (a["relapseNumber"], a["cogRisk"], a["hsct"]) == (1, "high", "recommended")
    assert fact(a, "diagnosisDate")[0]["source"][0].startswith("Condition/")


@pytest.mark.parametrize(("relapse_day", "cog", "hsct_value"), [
    ("2016-07-09", "intermediate", "consider"),  # CNS one day before 18 months
    ("2016-07-10", "low", "not-recommended"),  # exactly 18 months: the >= 18 group
])
def test_isolated_cns_relapse_at_the_18_month_boundary(client, relapse_day, cog, hsct_value):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse(relapse_day, sites=("cns",)))
    assert (a["cogRisk"], a["hsct"]) == (cog, hsct_value)


@pytest.mark.parametrize(("relapse_day", "cog", "hsct_value"), [
    ("2018-01-10", "high", "recommended"),  # 36 months exactly: 18-36 band
    ("2018-01-11", "intermediate", "undetermined"),  # 36.03 months: late; MRD now decides
])
def test_marrow_relapse_at_the_36_month_boundary(client, relapse_day, cog, hsct_value):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse(relapse_day))
    assert (a["cogRisk"], a["hsct"]) == (cog, hsct_value)


@pytest.mark.parametrize(("value", "unit", "high"), [
    (0.1, "%", True), (0.09, "%", False), (0.001, "1", True), (0.0009, "1", False), (5, "%", True),
])
def test_mrd_units_percent_and_fraction(client, value, unit, high):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), mrd("2019-07-05", value, unit))
    assert a["hsct"] == ("consider" if high else "not-recommended")
    assert ("high-mrd" in a["flags"]) is high


def test_mrd_before_the_relapse_is_ignored_and_the_first_after_is_used(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"),
               mrd("2015-02-10", 5, "%"), mrd("2019-07-05", 0.01, "%"), mrd("2019-09-05", 2, "%"))
    assert a["hsct"] == "not-recommended"
    assert fact(a, "endReinductionMrd")[0]["value"] == "0.01 %"


def test_blood_mrd_is_reported_not_used(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), mrd("2019-07-05", 1, "%", body_site="87612001"))
    assert a["hsct"] == "undetermined" and a["missing"] == ["endReinductionMrd"]
    assert fact(a, "mrdNotFromMarrow")


@pytest.mark.parametrize(("when", "listed"), [("2017-03-01", False), ("2019-05-24", False), ("2019-05-25", True), ("2019-06", True)])
def test_an_mrd_result_before_every_relapse_work_up_is_ignored_not_listed(client, when, listed):
    """Contract: results dated earlier than the work-up window (7 days before the relapse) are ignored:
    a blood MRD of first remission is not listed as "reported, not used" at the relapse."""
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), mrd(when, 1, "%", body_site="87612001"))
    assert bool(fact(a, "mrdNotFromMarrow")) is listed


def test_an_mrd_result_is_listed_at_any_date_while_a_relapse_record_is_undated(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), relapse(None), mrd("2016-03-01", 1, "%", body_site="87612001"))
    assert fact(a, "mrdNotFromMarrow")
    without_relapse = assess(client, patient(), diagnosis("2015-01-10"), mrd("2016-03-01", 1, "%", body_site="87612001"))
    assert not fact(without_relapse, "mrdNotFromMarrow")


def test_mrd_from_a_bone_marrow_specimen_counts(client):
    specimen = {"resourceType": "Specimen", "id": "spec-1", "subject": {"reference": "Patient/pat-1"},
                "type": {"coding": [{"system": SCT, "code": "119359002"}]}}
    result = mrd("2019-07-05", 0.5, "%", body_site=None, specimen="Specimen/spec-1")
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), result, specimen)
    assert a["hsct"] == "consider"


@pytest.mark.parametrize(("comparator", "value", "hsct_value"), [
    ("<", 0.01, "not-recommended"), ("<", 0.5, "undetermined"), (">", 0.2, "consider"),
])
def test_mrd_comparators(client, comparator, value, hsct_value):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), mrd("2019-07-05", value, "%", comparator=comparator))
    assert a["hsct"] == hsct_value


@pytest.mark.parametrize(("value", "unit"), [(1, "mg/dL"), (150, "%"), (-1, "%")])
def test_unusable_mrd_is_reported_and_withholds(client, value, unit):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), mrd("2019-07-05", value, unit))
    assert a["hsct"] == "undetermined"
    assert any("not used" in p for p in a["problems"])


@pytest.mark.parametrize(("value", "unit", "flag"), [
    (12000, "/uL", True), (10000, "/uL", False), (12, "10*3/uL", True), (9.9, "10*9/L", False), (10.5, "10*9/L", True),
])
def test_peripheral_blasts_units_at_late_marrow_relapse(client, value, unit, flag):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), blasts("2019-05-25", value, unit))
    assert ("high-peripheral-blasts" in a["flags"]) is flag


def test_blasts_outside_14_days_or_at_early_relapse_do_not_flag(client):
    late = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), blasts("2019-05-10", 50000))
    early = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-06-01"), blasts("2016-06-01", 50000))
    assert "high-peripheral-blasts" not in late["flags"] + early["flags"]


def test_t_cell_from_icdo3_in_condition_code(client):
    dx = condition((ICD10, "C91.00"), "2015-01-10", extra_codes=(("http://terminology.hl7.org/CodeSystem/icd-o-3", "9837/3"),))
    a = assess(client, patient(), dx, relapse("2019-06-01", sites=("cns",)))
    assert (a["cogRisk"], a["hsct"]) == ("high", "not-recommended")
    assert "t-cell" in a["flags"]


def test_lineage_conflict_is_a_contradiction(client):
    a = assess(client, patient(), diagnosis("2015-01-10", morphology="9837/3"),
               condition((SCT, "277571004"), "2015-01-12"), relapse("2016-06-01"))
    assert (a["cogRisk"], a["hsct"]) == ("undetermined", "undetermined")
    assert any("both B-precursor" in c for c in a["contradictions"])


def test_relapse_on_the_diagnosis_day_is_a_contradiction(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2015-01-10"))
    assert a["cogRisk"] == "undetermined" and a["contradictions"]


def test_testicular_relapse_in_a_female_is_a_contradiction(client):
    a = assess(client, patient(gender="female"), diagnosis("2015-01-10"), relapse("2019-01-10", sites=("testis",)))
    assert a["cogRisk"] == "undetermined" and "female" in a["contradictions"][0]


def test_relapses_count_by_distinct_onset_date_and_the_latest_is_assessed(client):
    # Two records on one day are one relapse; a remission between dates makes the next record a second one.
    a = assess(client, patient(), diagnosis("2012-01-10"), relapse("2013-01-10"), relapse("2013-01-10T09:00:00Z"),
               remission("2013-02-20"), condition((SCT, "91857003"), "2017-05-02", status="recurrence", sites=("marrow",)))
    assert (a["relapseNumber"], a["cogRisk"], a["hsct"]) == (2, "not-applicable", "recommended")


def test_same_day_relapse_conditions_merge_their_sites(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01", sites=("marrow",)),
               condition((SCT, "91857003"), "2019-06-01", status="relapse", sites=("cns",)))
    assert fact(a, "relapseSite")[0]["value"] == "combined"


def test_refuted_and_entered_in_error_are_ignored(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-03-01", verification="entered-in-error"),
               condition((ICD10, "Q90.9"), "2010-05-01", verification="refuted"))
    assert a["relapseNumber"] == 0 and "down-syndrome" not in a["flags"]


def test_no_bodysite_and_unknown_lineage(client):
    a = assess(client, patient(), diagnosis("2015-01-10", morphology="9835/3"), relapse("2016-01-10", sites=()))
    assert a["cogRisk"] == "undetermined"
    assert set(a["missing"]) == {"relapseSite", "immunophenotype"}


def test_unrecognised_bodysite_is_reported_not_guessed(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10", sites=("39937001",)))  # skin
    assert a["cogRisk"] == "undetermined" and "relapseSite" in a["missing"]


def test_failed_reinduction_is_positive_evidence_only(client):
    without = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"))
    with_evidence = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"), diagnosis("2016-03-01", morphology=None))
    assert "no-cr2" not in without["flags"]
    assert "no-cr2" in with_evidence["flags"] and with_evidence["hsct"] == "recommended"
    same_day = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"), diagnosis("2016-01-10", morphology=None))
    assert "no-cr2" not in same_day["flags"]  # onset must be AFTER the relapse


def test_second_remission_is_a_fact_not_a_condition_for_the_answer(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"), remission("2016-02-20"))
    assert fact(a, "secondRemission") and a["hsct"] == "recommended"


def test_prior_hsct_before_relapse_and_undated(client):
    before = assess(client, patient(), diagnosis("2015-01-10"), hsct("2015-09-01"), relapse("2016-06-01"))
    after = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-06-01"), hsct("2016-10-01"))
    undated = assess(client, patient(), diagnosis("2015-01-10"), hsct(None), relapse("2016-06-01"))
    not_completed = assess(client, patient(), diagnosis("2015-01-10"), hsct("2015-09-01", status="in-progress"), relapse("2016-06-01"))
    assert before["hsct"] == "consider" and "relapse-after-hsct" in before["flags"]
    assert after["hsct"] == "recommended"
    assert undated["hsct"] == "undetermined" and undated["missing"] == ["hsctDate"]
    assert not_completed["hsct"] == "recommended"


@pytest.mark.parametrize("system", ["http://www.genenames.org", "http://www.genenames.org/geneId"])
def test_gene_alterations_both_hgnc_systems(client, system):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"),
               variant("HGNC:11998", system=system), variant("HGNC:13176", system=system),
               variant("HGNC:3495", "HGNC:10471", system=system))
    assert {"tp53-alteration", "ikzf1-deletion", "etv6-runx1"} <= set(a["flags"])


def test_absent_variants_and_single_fusion_partners_raise_nothing(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"),
               variant("HGNC:11998", present=False), variant("HGNC:3495"), variant("HGNC:10471"))
    assert not {"tp53-alteration", "etv6-runx1"} & set(a["flags"])


@pytest.mark.parametrize(("birth", "flags"), [
    ("2005-01-11", set()), ("2005-01-10", {"age-10-plus"}), ("1999-01-11", {"age-10-plus"}), ("1999-01-10", {"age-10-plus", "age-over-15"}),
])
def test_age_flags_at_birthdays(client, birth, flags):
    a = assess(client, patient(birth=birth), diagnosis("2015-01-10"), relapse("2016-01-10"))
    assert {f for f in a["flags"] if f.startswith("age")} == flags


def test_missing_birth_date_leaves_age_flags_not_assessed(client):
    a = assess(client, patient(birth=None), diagnosis("2015-01-10"), relapse("2016-01-10"))
    assert a["cogRisk"] == "high" and "birthDate" not in a["missing"]
    assert {x["flag"] for x in a["flagsNotAssessed"]} == {"age-10-plus", "age-over-15"}


def test_partial_dates_withhold_only_where_the_band_matters(client):
    # "2016-03" allows 17 or 18 months to 2017-09-15: CNS relapse risk depends on it; say which date.
    cns = assess(client, patient(), diagnosis("2016-03"), relapse("2017-09-15", sites=("cns",)))
    assert cns["cogRisk"] == "undetermined" and cns["missing"] == ["diagnosisDate"]
    assert any("partial" in n for n in cns["notes"])
    # A marrow relapse is high risk at 17 and at 18 months: the answer stands.
    marrow = assess(client, patient(), diagnosis("2016-03"), relapse("2017-09-15"))
    assert (marrow["cogRisk"], marrow["hsct"]) == ("high", "recommended")
    # Events are still ordered by their earliest day: a partial relapse month is after the diagnosis.
    late = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06", sites=("cns",)))
    assert (late["relapseNumber"], late["cogRisk"]) == (1, "low")


def test_relapse_is_dated_by_onset_never_by_recorded_date(client):
    undated = relapse(None, sites=("marrow",))
    undated["recordedDate"] = "2019-06-01"
    a = assess(client, patient(), diagnosis("2015-01-10"), undated)
    assert a["relapseNumber"] is None and "relapseDate" in a["missing"]
    assert a["cogRisk"] == "undetermined"  # early (high) or late (intermediate): not guessed


def test_diagnosis_may_be_dated_by_recorded_date_and_says_so(client):
    dx = diagnosis(None)
    dx["recordedDate"] = "2015-01-10"
    a = assess(client, patient(), dx, relapse("2016-01-10"))
    assert a["cogRisk"] == "high" and any("recordedDate" in n for n in a["notes"])


def test_snomed_t_all_code_is_an_all_code(client):
    t_all = condition((SCT, "277575008"), "2018-01-10", status="relapse", sites=("cns",))
    a = assess(client, patient(), condition((SCT, "277575008"), "2015-01-10"), t_all)
    assert (a["relapseNumber"], a["cogRisk"], a["hsct"]) == (1, "high", "not-recommended")


def test_overlapping_partial_relapse_dates_are_not_counted_as_two(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-05"), relapse("2019-05-03"))
    # One relapse in May 2019 (late, first: MRD decides) or two (second marrow relapse): they differ.
    assert a["relapseNumber"] is None and a["hsct"] == "undetermined" and "relapseEpisode" in a["missing"]
    assert any("may be one relapse recorded more than once" in n for n in a["notes"])


def test_records_days_apart_without_a_remission_may_be_one_relapse(client):
    split = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-03-01", sites=("marrow",)), relapse("2016-03-04", sites=("cns",)))
    # One early combined relapse (high; recommended) or a second, isolated CNS relapse (n/a; consider).
    assert split["relapseNumber"] is None
    assert (split["cogRisk"], split["hsct"]) == ("undetermined", "undetermined") and split["missing"] == ["relapseEpisode"]
    apart = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-03-01"), remission("2016-03-20"), relapse("2016-04-01", sites=("cns",)))
    assert apart["relapseNumber"] == 2


def test_partial_birth_date_straddling_a_birthday_is_not_assessed(client):
    a = assess(client, patient(birth="2005"), diagnosis("2015-06-01"), relapse("2016-01-10"))
    assert "age-10-plus" not in a["flags"]
    assert {"flag": "age-10-plus", "missing": ["birthDate"]} in a["flagsNotAssessed"]
    sure = assess(client, patient(birth="2004"), diagnosis("2015-06-01"), relapse("2016-01-10"))
    assert "age-10-plus" in sure["flags"]


def test_partial_hsct_date_around_the_relapse_withholds(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), hsct("2016"), relapse("2016-03-01"))
    assert a["hsct"] == "undetermined" and a["missing"] == ["hsctDate"]


def test_hsct_after_the_relapse_is_shown_and_not_suggested_again(client):
    response = client.post(SERVICE_URL, json=hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-03-01"), hsct("2016-09-01"))))
    a = assessment_of(response)
    assert a["hsct"] == "recommended"
    assert any(f["name"] == "hsctAfterRelapse" for f in a["facts"])
    cards = response.get_json()["cards"]
    assert not any("suggestions" in c for c in cards)
    assessment_card = next(c for c in cards if c["extension"]["org.relapse-cds.card"]["kind"] == "assessment")
    assert "transplant is recorded after this relapse" in assessment_card["detail"]


def test_missing_diagnosis_date_still_answers_when_time_does_not_matter(client):
    a = assess(client, patient(), diagnosis(None, morphology="9837/3"), relapse("2016-01-10"))
    assert (a["cogRisk"], a["hsct"]) == ("high", "recommended")
    a = assess(client, patient(), diagnosis(None), relapse("2016-01-10", sites=("cns",)))
    assert a["cogRisk"] == "undetermined" and a["missing"] == ["diagnosisDate"]


def test_undated_relapse_withholds_and_nulls_the_relapse_number(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse(None, sites=("cns",)))
    assert a["relapseNumber"] is None and "relapseDate" in a["missing"]


def test_resources_of_another_patient_are_ignored(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10", pid="someone-else"))
    assert a["relapseNumber"] == 0
    assert any("another patient" in p for p in a["problems"])


def test_routine_labs_are_not_read(client):
    labs = [observation("718-7", f"2016-0{m}-01", 12.0, "g/dL") for m in range(1, 10)]
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"), *labs)
    assert not a.get("problems")


def test_no_relapse_no_cards(client):
    response = client.post(SERVICE_URL, json=hook_request(record(patient(), diagnosis("2015-01-10"))))
    assert response.get_json()["cards"] == []
    assert assessment_of(response)["cogRisk"] == "not-applicable"


def test_bundle_fixture_helpers_build_valid_searchsets():
    assert bundle(patient())["entry"][0]["resource"]["resourceType"] == "Patient"


def ikzf1_variant(change_type: str | None) -> dict:
    v = variant("HGNC:13176")
    if change_type:
        v["component"].append({"code": {"coding": [{"system": LOINC, "code": "48019-4"}]},
                               "valueCodeableConcept": {"coding": [{"system": LOINC, "code": change_type}]}})
    return v


@pytest.mark.parametrize(("change_type", "flagged"), [("LA6692-3", True), (None, True), ("LA6690-7", False)])
def test_ikzf1_flag_needs_a_deletion_when_the_type_is_stated(client, change_type, flagged):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"), ikzf1_variant(change_type))
    assert ("ikzf1-deletion" in a["flags"]) is flagged


@pytest.mark.parametrize(("comparator", "value", "outcome"), [(">", 10000, "raised"), ("<", 5000, "no"), ("<", 20000, "not-assessed")])
def test_blast_comparators(client, comparator, value, outcome):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), blasts("2019-05-30", value, comparator=comparator))
    assert ("high-peripheral-blasts" in a["flags"]) is (outcome == "raised")
    assert any(x["flag"] == "high-peripheral-blasts" for x in a.get("flagsNotAssessed", [])) is (outcome == "not-assessed")


def test_blasts_in_an_unknown_unit_are_not_assessed(client):
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), blasts("2019-05-30", 30, "10*3/mm3"))
    assert "high-peripheral-blasts" not in a["flags"]
    assert any(x["flag"] == "high-peripheral-blasts" for x in a["flagsNotAssessed"])


def test_a_remission_recorded_at_every_visit_is_one_fact_naming_every_record(client):
    visits = [remission("2019-08-01") for _ in range(12)]
    response = client.post(SERVICE_URL, json=hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), *visits)))
    a = assessment_of(response)
    facts = fact(a, "secondRemission")
    assert len(facts) == 1 and set(facts[0]["source"]) == {f"Condition/{v['id']}" for v in visits}
    basis = next(c for c in response.get_json()["cards"] if c["extension"]["org.relapse-cds.card"]["kind"] == "basis")
    assert basis["detail"].count("Remission after the relapse") == 1
    later = remission("2021-02-01")  # another date is another fact
    assert len(fact(assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), *visits, later), "secondRemission")) == 2
