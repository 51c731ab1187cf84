"""The HSCT order check (order-sign): a drafted transplant order set against the HSCT indication, for
each indication value; any other order gets no card; bad contexts get a clear 400. In-process and, at
the end, over HTTP against the real server process."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, check_body, load_fixture
from fhir_builders import LOINC, SCT, cc, diagnosis, hook_request, record, relapse
from render_md import plain
from server_process import free_port, running
from test_fixture_patients import as_request

ORDER_URL = "/cds-services/relapse-all-hsct-order-check"
HSCT = ("http://snomed.info/sct", "234336002")


def service_request(code: tuple[str, str] = HSCT, patient_id: str | None = None, rid: str = "draft-1", **extra) -> dict:
    resource = {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "order", "code": cc(*code), **extra}
    if patient_id:
        resource["subject"] = {"reference": f"Patient/{patient_id}"}
    return resource


def order_sign(request: dict, *orders: dict) -> dict:
    body = copy.deepcopy(request)
    body["hook"] = "order-sign"
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]}
    return body


def fixture_request(name: str, *orders: dict) -> dict:
    request = as_request(load_fixture(FIXTURES / f"{name}.json")["bundle"])
    patient_id = request["context"]["patientId"]
    return order_sign(request, *[o if o.get("subject") else {**o, "subject": {"reference": f"Patient/{patient_id}"}} for o in orders])


def the_card(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    cards = response.get_json()["cards"]
    assert len(cards) == 1 and cards[0]["extension"]["org.relapse-cds.card"]["kind"] == "hsct-order-check"
    return cards[0]


def test_not_recommended_is_a_warning_with_the_summarys_reason_and_override_reasons(client, knowledge):
    response = client.post(ORDER_URL, json=fixture_request("b-late-marrow-low-mrd-etv6-runx1", service_request()))
    card = the_card(response)
    assert card["indicator"] == "warning"
    assert response.get_json()["extension"]["org.relapse-cds.assessment"]["hsct"] == "not-recommended"
    text = plain(card["detail"])
    rule = knowledge.cards.rules["hsct.late-b-marrow-low-mrd"]
    assert rule["statement"] in text and rule["survival"] in text and "73%" in text
    codes = {r["code"] for r in card["overrideReasons"]}
    assert {"transplant-team-decision", "on-protocol", "data-incorrect", "other-indication"} <= codes
    assert "ServiceRequest/draft-1" in text


@pytest.mark.parametrize(("name", "value"), [("b-early-marrow-tp53-ikzf1", "recommended"), ("b-late-marrow-high-mrd-high-blasts", "consider")])
def test_recommended_or_consider_is_information_with_the_work_up(client, name, value):
    response = client.post(ORDER_URL, json=fixture_request(name, service_request()))
    card = the_card(response)
    assert response.get_json()["extension"]["org.relapse-cds.assessment"]["hsct"] == value
    assert card["indicator"] == "info"
    assert all(r["code"] != "transplant-team-decision" for r in card.get("overrideReasons", [])), "no warning's override reasons"
    text = plain(card["detail"])
    for figure in ("between 20% and 47%", "60% to 88%", "12–14 Gy", "37% vs. 0%"):
        assert figure in text


def test_undetermined_is_information_naming_what_is_missing(client):
    response = client.post(ORDER_URL, json=fixture_request("b-late-marrow-no-mrd-age16", service_request()))
    card = the_card(response)
    assert card["indicator"] == "info"
    assert "end-of-reinduction bone-marrow MRD" in card["summary"] + plain(card["detail"])
    assert "allogeneic HSCT in remission recommended" not in card["summary"]


def test_a_pattern_the_summary_gives_no_indication_for_says_so(client):
    # CNS and testicular relapse together, without marrow, within 18 months: the sites' guidance differs.
    request = order_sign(hook_request(record(diagnosis("2015-01-10"), relapse("2016-01-10", sites=("cns", "testis")))), service_request())
    response = client.post(ORDER_URL, json=request)
    card = the_card(response)
    assessment = response.get_json()["extension"]["org.relapse-cds.assessment"]
    assert assessment["hsct"] == "undetermined" and assessment["missing"] == []
    assert card["indicator"] == "info" and "no HSCT indication for this relapse pattern" in card["summary"]


def test_a_contradictory_record_gives_no_indication(client):
    card = the_card(client.post(ORDER_URL, json=fixture_request("contradictory-relapse-before-diagnosis", service_request())))
    assert card["indicator"] == "info" and "contradicts" in card["summary"]


def test_no_relapse_recorded_the_summary_is_silent(client):
    card = the_card(client.post(ORDER_URL, json=fixture_request("b-no-relapse", service_request())))
    assert card["indicator"] == "info" and "no relapse recorded" in card["summary"]


@pytest.mark.parametrize("order", [
    service_request(code=(LOINC, "67128-9")),  # an MRD order
    service_request(code=(SCT, "23719005")),  # bone marrow transplant: not listed (includes autologous)
    {"resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order", "medicationCodeableConcept": cc(SCT, "234336002")},
    service_request(patient_id="somebody-else"),  # an HSCT order, but for another patient
])
def test_any_other_order_gets_no_card(client, order):
    response = client.post(ORDER_URL, json=fixture_request("b-late-marrow-low-mrd-etv6-runx1", order))
    assert response.status_code == 200 and response.get_json()["cards"] == []


def test_the_example_order_sign_request(client):
    body = json.loads((Path(__file__).resolve().parent.parent / "examples" / "order-sign-request.json").read_text(encoding="utf-8"))
    card = the_card(client.post(ORDER_URL, json=body))
    assert card["indicator"] == "info" and "work-up" in card["summary"]


def test_an_empty_draft_bundle_gets_no_card(client):
    response = client.post(ORDER_URL, json=fixture_request("b-early-marrow-tp53-ikzf1"))
    assert response.get_json()["cards"] == []


def test_a_draft_that_is_not_valid_fhir_is_checked_by_its_code_and_says_so(client):
    card = the_card(client.post(ORDER_URL, json=fixture_request("b-late-marrow-low-mrd-etv6-runx1", service_request(authoredOn="not-a-date"))))
    assert card["indicator"] == "warning" and "not valid FHIR R4" in plain(card["detail"])


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda b: b["context"].pop("draftOrders"), "draftOrders"),
    (lambda b: b["context"].__setitem__("draftOrders", {"resourceType": "Patient"}), "draftOrders"),
    (lambda b: b["context"].__setitem__("draftOrders", {"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}), "draftOrders"),
    (lambda b: b["context"].__setitem__("draftOrders", {"resourceType": "Bundle", "entry": "x"}), "draftOrders"),
    (lambda b: b["context"].__setitem__("userId", "Patient/p1"), "userId"),
    (lambda b: b.__setitem__("hook", "patient-view"), "order-sign"),
])
def test_bad_order_sign_requests_are_a_clear_400(client, mutate, where):
    body = order_sign(hook_request(record(diagnosis(), relapse("2016-01-10"))), service_request())
    mutate(body)
    response = client.post(ORDER_URL, json=body)
    assert response.status_code == 400 and where in response.get_data(as_text=True)


def test_the_patient_view_service_does_not_answer_order_sign(client):
    body = order_sign(hook_request(record(diagnosis(), relapse("2016-01-10"))), service_request())
    assert client.post("/cds-services/relapse-all-assessment", json=body).status_code == 400


junk = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["resourceType", "entry", "resource", "code", "coding", "system", "subject", "reference", "x"]), inner, max_size=4),
                    max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draft=junk)
def test_any_draft_orders_value_is_a_200_or_a_clear_400(client, draft):
    body = order_sign(hook_request(record(diagnosis(), relapse("2016-01-10"))))
    body["context"]["draftOrders"] = draft
    response = client.post(ORDER_URL, json=body)  # the conftest gate checks every answer's shape
    assert response.status_code in (200, 400)


# -- end to end: the real server process over HTTP ---------------------------------------------------

@pytest.mark.e2e
def test_order_sign_over_http():
    port = free_port()
    import tempfile

    log_path = Path(tempfile.mkdtemp()) / "server.log"
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with running(command, log_path, port) as base:
        services = requests.get(f"{base}/cds-services", timeout=10).json()["services"]
        assert [s["id"] for s in services if s["hook"] == "order-sign"] == [ORDER_URL.rsplit("/", 1)[1]]
        for name, order, expected in (
            ("b-late-marrow-low-mrd-etv6-runx1", service_request(), "warning"),
            ("b-early-marrow-tp53-ikzf1", service_request(), "info"),
            ("b-early-marrow-tp53-ikzf1", service_request(code=(LOINC, "67128-9")), None),
        ):
            response = requests.post(base + ORDER_URL, json=fixture_request(name, order), timeout=10)
            body = response.json()
            check_body(ORDER_URL, response.status_code, body)
            assert [c["indicator"] for c in body["cards"]] == ([expected] if expected else [])
        bad = requests.post(base + ORDER_URL, json={"hook": "order-sign"}, timeout=10)
        assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
