"""The dated records with the part each played (service/rules/timeline.py), on every fixture patient:
the page draws them, the cards format MRD and blasts from them, the extension lists them. By default
the timeline holds the records that can change the answer (service/fhir/select.py); the request
extension `org.relapse-cds.timeline: all` (the testing page sends it) has every record drawn."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, SERVICE_URL, assessment_of, load_fixture
from fhir_builders import blasts, diagnosis, hook_request, mrd, patient, record, relapse, remission
from test_fixture_patients import as_request

FILES = sorted(FIXTURES.glob("*.json"))
WHOLE_TIMELINE = {"org.relapse-cds.timeline": "all"}
MRD_CODES = {"67128-9"}
BLAST_CODES = {"30376-8", "708-8"}


def codes(resource: dict) -> set[str]:
    return {c.get("code") for c in resource.get("code", {}).get("coding", [])}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_mrd_and_blast_result_and_dated_fact_is_on_the_timeline(client, path):
    bundle = load_fixture(path)["bundle"]
    a = assessment_of(client.post(SERVICE_URL, json=as_request(bundle) | {"extension": WHOLE_TIMELINE}))
    timeline = a.get("timeline", [])
    placed = {src for event in timeline for src in event["source"]}
    for entry in bundle["entry"]:
        r = entry["resource"]
        if r["resourceType"] == "Observation" and codes(r) & (MRD_CODES | BLAST_CODES) and r.get("effectiveDateTime") and r.get("status") == "final":
            assert f"Observation/{r['id']}" in placed
    for fact in a["facts"]:
        if fact.get("date") and fact["name"] != "relapseNotPlaced":
            assert set(fact["source"]) <= placed, fact["name"]
    days = [e["date"][:10] for e in timeline]
    assert days == sorted(days), "oldest first"
    used = [e for e in timeline if e.get("role") == "end-of-reinduction"]
    mrd_fact = [f for f in a["facts"] if f["name"] == "endReinductionMrd"]
    assert [e["source"] for e in used] == [f["source"] for f in mrd_fact]
    assert all(e.get("role") for e in timeline if e["kind"] == "mrd")


def test_mrd_roles_work_up_end_of_reinduction_and_before(client):
    results = {"front": mrd("2015-02-10", 0.01, "%"), "eor": mrd("2019-07-05", 0.5, "%"), "later": mrd("2019-09-01", 0.001, "%")}
    for name, resource in results.items():
        resource["id"] = name
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), *results.values())
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch, extension=WHOLE_TIMELINE)))
    roles = {e["source"][0]: e["role"] for e in a["timeline"] if e["kind"] == "mrd"}
    assert roles == {"Observation/front": "before-relapse", "Observation/eor": "end-of-reinduction", "Observation/later": "later"}
    deciding = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))  # "front" is years before: ignored, not read
    assert {e["source"][0] for e in deciding["timeline"] if e["kind"] == "mrd"} == {"Observation/eor", "Observation/later"}
    shown = {e["source"][0]: e["display"] for e in a["timeline"] if e["kind"] == "mrd"}
    assert shown["Observation/eor"] == "0.5% (5 x 10^-3)" and shown["Observation/later"] == "0.001% (1 x 10^-5)"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_by_default_the_timeline_holds_what_can_decide_and_the_answer_is_the_same(client, path):
    request = as_request(load_fixture(path)["bundle"])
    whole = client.post(SERVICE_URL, json=request | {"extension": WHOLE_TIMELINE})
    deciding = client.post(SERVICE_URL, json=request)
    shown = lambda r: [(c["summary"], c["indicator"], c["detail"]) for c in r.get_json()["cards"]]  # noqa: E731
    assert shown(deciding) == shown(whole)
    a, b = assessment_of(deciding), assessment_of(whole)
    not_read = a.pop("recordsNotRead", 0)
    drawn, all_drawn = a.pop("timeline", []), b.pop("timeline", [])
    assert a.pop("problems", []) == b.pop("problems", []) and a == b
    assert all(e in all_drawn for e in drawn) and len(all_drawn) - len(drawn) <= not_read


def test_records_that_cannot_change_the_answer_are_counted_not_drawn(client):
    near, far, cr1 = blasts("2019-05-25", 14000.0), blasts("2017-01-10", 0.0), remission("2015-02-20")
    prefetch = record(patient(), diagnosis("2015-01-10"), cr1, relapse("2019-06-01"), near, far)
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))
    drawn = {e["source"][0] for e in a["timeline"]}
    assert f"Observation/{near['id']}" in drawn and not {f"Observation/{far['id']}", f"Condition/{cr1['id']}"} & drawn
    assert a["recordsNotRead"] == 2
    whole = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch, extension=WHOLE_TIMELINE)))
    assert {f"Observation/{far['id']}", f"Condition/{cr1['id']}"} <= {e["source"][0] for e in whole["timeline"]}
    assert "recordsNotRead" not in whole


def test_an_unknown_timeline_scope_is_refused_with_its_name(client):
    response = client.post(SERVICE_URL, json=hook_request(record(patient()), extension={"org.relapse-cds.timeline": "everything"}))
    assert response.status_code == 400
    assert "org.relapse-cds.timeline" in response.get_data(as_text=True)
