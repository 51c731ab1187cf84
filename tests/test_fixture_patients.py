"""Realistic patients written independently from the seed and contract (tests/fixtures/patients):
the service must reach the same answer as that independent reading."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, SERVICE_URL, assessment_of, load_fixture
from fhir_builders import hook_request

CONTRACT_FLAGS = {"t-cell", "tp53-alteration", "ikzf1-deletion", "etv6-runx1", "age-10-plus", "age-over-15",
                  "high-peripheral-blasts", "down-syndrome", "high-mrd", "no-cr2", "em-relapse-marrow-mrd",
                  "em-relapse-age-over-6"}
EXTRA_FLAGS = {"relapse-after-hsct"}
FILES = sorted(FIXTURES.glob("*.json"))


def as_request(bundle: dict) -> dict:
    """Split the record into the service's prefetch keys, as an EHR would send it."""
    by_type: dict[str, list] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    patient = by_type["Patient"][0]
    searchset = lambda rs: {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in rs]} if rs else None  # noqa: E731
    prefetch = {
        "patient": patient,
        "conditions": searchset(by_type.get("Condition", [])),
        "observations": searchset(by_type.get("Observation", [])),
        "procedures": searchset(by_type.get("Procedure", [])),
        "specimens": searchset(by_type.get("Specimen", [])),
    }
    return hook_request(prefetch, patient_id=patient["id"])


def test_there_are_enough_fixture_patients():
    assert len(FILES) >= 15


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_patient(client, path):
    fixture = load_fixture(path)
    response = client.post(SERVICE_URL, json=as_request(fixture["bundle"]))
    got, expected = assessment_of(response), fixture["expected"]
    assert got["relapseNumber"] == expected["relapseNumber"]
    assert got["cogRisk"] == expected["cogRisk"]
    assert got["hsct"] == expected["hsct"]
    assert set(got["flags"]) & CONTRACT_FLAGS == set(expected["flags"])
    assert set(got["flags"]) - CONTRACT_FLAGS <= EXTRA_FLAGS
    assert set(got["missing"]) == set(expected["missing"])
    cards = response.get_json()["cards"]
    if expected["relapseNumber"] == 0:
        assert cards == []
    else:
        assert cards, "a relapsed patient always gets at least one card"
        kinds = {c["extension"]["org.relapse-cds.card"]["kind"] for c in cards}
        if expected["hsct"] == "recommended" or expected["cogRisk"] == "high":
            assert any(c["indicator"] == "warning" for c in cards)
        if expected["missing"]:
            assert "missing" in kinds
        if expected["cogRisk"] == expected["hsct"] == "undetermined" and not expected["missing"]:
            assert "contradiction" in kinds


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_fact_names_its_fhir_source(client, path):
    fixture = load_fixture(path)
    got = assessment_of(client.post(SERVICE_URL, json=as_request(fixture["bundle"])))
    ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in fixture["bundle"]["entry"]}
    for fact in got["facts"]:
        assert fact["source"] and set(fact["source"]) <= ids, fact
