"""Every code the data contract lists reaches the feature it stands for (transcribed from
shared/DATA-CONTRACT.md, independently of mappings/), and the readings of dates and units the contract
names: onsetPeriod, performedPeriod, local calendar dates, UCUM codes."""

from __future__ import annotations

import pytest

from conftest import SERVICE_URL, assessment_of
from fhir_builders import ICD10, ICDO3, LOINC, SCT, condition, diagnosis, hook_request, hsct, mrd, patient, record, relapse

HGNC = ("http://www.genenames.org", "http://www.genenames.org/geneId")
CONTRACT = [
    (ICD10, "C91.00", "all-diagnosis"), (SCT, "91857003", "all-diagnosis"), (SCT, "277571004", "all-diagnosis"),
    (SCT, "277571004", "lineage-b-precursor"),
    *[(ICDO3, f"98{n}/3", "lineage-b-precursor") for n in range(11, 19)], (ICDO3, "9836/3", "lineage-b-precursor"),
    (ICDO3, "9837/3", "lineage-t-cell"), (ICDO3, "9835/3", "lineage-not-stated"),
    (ICDO3, "9814/3", "subtype-etv6-runx1"), (ICDO3, "9812/3", "subtype-bcr-abl1"), (ICDO3, "9813/3", "subtype-kmt2a"),
    (ICD10, "C91.02", "all-in-relapse"), (ICD10, "C91.01", "all-in-remission"), (ICD10, "C91.00", "all-failed-remission"),
    (SCT, "14016003", "site-bone-marrow"), (SCT, "21483005", "site-cns"), (SCT, "40689003", "site-testis"),
    (SCT, "234336002", "hsct"), (LOINC, "67128-9", "mrd"), (LOINC, "30376-8", "peripheral-blasts"), (LOINC, "708-8", "peripheral-blasts"),
    (LOINC, "69548-6", "genetic-variant-assessment"), (LOINC, "LA9633-4", "variant-present"), (LOINC, "48018-6", "gene-studied"),
    *[(system, "HGNC:11998", "gene-tp53") for system in HGNC], *[(system, "HGNC:13176", "gene-ikzf1") for system in HGNC],
    *[(system, "HGNC:3495", "gene-etv6") for system in HGNC], *[(system, "HGNC:10471", "gene-runx1") for system in HGNC],
    *[(ICD10, f"Q90.{n}", "down-syndrome") for n in (0, 1, 2, 9)], (SCT, "41040004", "down-syndrome"),
    ("http://terminology.hl7.org/CodeSystem/condition-clinical", "relapse", "status-relapse"),
    ("http://terminology.hl7.org/CodeSystem/condition-clinical", "recurrence", "status-relapse"),
    ("http://terminology.hl7.org/CodeSystem/condition-clinical", "remission", "status-remission"),
    ("http://terminology.hl7.org/CodeSystem/condition-ver-status", "refuted", "verification-ignored"),
    ("http://terminology.hl7.org/CodeSystem/condition-ver-status", "entered-in-error", "verification-ignored"),
]


@pytest.mark.parametrize(("system", "code", "concept"), CONTRACT, ids=lambda v: str(v))
def test_every_contract_code_maps_to_its_feature(knowledge, system, code, concept):
    assert concept in knowledge.codemap.concepts_of(system, code)


@pytest.mark.parametrize(("morphology", "subtype"), [("9814/3", "etv6-runx1"), ("9812/3", "bcr-abl1"), ("9813/3", "kmt2a")])
def test_genetic_subtype_in_the_morphology_is_a_fact(client, morphology, subtype):
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(record(patient(), diagnosis("2015-01-10", morphology=morphology), relapse("2016-01-10")))))
    assert {"name": "geneticSubtype", "value": subtype} in [{k: f[k] for k in ("name", "value")} for f in a["facts"]]


def assess(client, *resources) -> dict:
    return assessment_of(client.post(SERVICE_URL, json=hook_request(record(*resources))))


def test_diagnosis_dated_by_onset_period_start(client):
    dx = diagnosis(None)
    dx["onsetPeriod"] = {"start": "2015-01-10"}
    a = assess(client, patient(), dx, relapse("2016-07-09", sites=("cns",)))
    assert any(f["name"] == "diagnosisDate" and f["value"] == "2015-01-10" for f in a["facts"])
    assert (a["cogRisk"], a["hsct"]) == ("intermediate", "consider")


def test_diagnosis_dated_by_recorded_date_when_there_is_no_onset(client):
    dx = diagnosis(None)
    dx["recordedDate"] = "2015-01-10"
    a = assess(client, patient(), dx, relapse("2016-07-10", sites=("cns",)))
    assert (a["cogRisk"], a["hsct"]) == ("low", "not-recommended")


def test_transplant_dated_by_performed_period_start(client):
    procedure = hsct(None)
    procedure["performedPeriod"] = {"start": "2017-03-01", "end": "2017-04-15"}
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-01-10"), condition((ICD10, "C91.01"), "2016-02-20", status="remission"),
               relapse("2018-06-01"), procedure)
    assert a["hsct"] == "consider" and "relapse-after-hsct" in a["flags"]


def test_a_datetime_keeps_the_calendar_date_it_was_written_with(client):
    # 23:30 at UTC-5 on 9 July is 10 July in UTC: counted in UTC it would be 18 months (not recommended).
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2016-07-09T23:30:00-05:00", sites=("cns",)))
    assert a["hsct"] == "consider"


def test_ucum_code_without_a_system_is_read(client):
    result = mrd("2019-07-05", 0.5)
    del result["valueQuantity"]["system"]
    a = assess(client, patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), result)
    assert a["hsct"] == "consider" and "high-mrd" in a["flags"]
