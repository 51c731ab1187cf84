"""FHIR -> features -> assessment, through the HTTP endpoint: each test states one contract row."""

from __future__ import annotations

import pytest

from conftest import SERVICE_URL, assessment_of
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
    a = assess(client, patient(), diagnosis("2012-01-10"), relapse("2013-01-10"), relapse("2013-01-10T09:00:00Z"),
               condition((SCT, "91857003"), "2017-05-02", status="recurrence", sites=("cns",)))
    assert (a["relapseNumber"], a["cogRisk"], a["hsct"]) == (2, "not-applicable", "consider")


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


def test_partial_dates_use_the_earliest_day_and_say_so(client):
    a = assess(client, patient(), diagnosis("2016-03"), relapse("2017-09-15", sites=("cns",)))
    assert a["cogRisk"] == "low"  # earliest days: 18 months -> 18-36 band
    assert any("partial" in n for n in a["notes"])


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
