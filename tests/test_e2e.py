"""End to end: the real server process (`relapse-cds serve`, gunicorn with 2 workers) over HTTP on loopback."""

from __future__ import annotations

import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import FIXTURES, SERVICE_URL, check_body, load_fixture
from server_process import free_port, running
from fhir_builders import diagnosis, hook_request, patient, record, relapse
from test_fixture_patients import CONTRACT_FLAGS, as_request

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--access-log"]
    with running(command, log_path, port, env={"RELAPSE_CDS_MAX_BODY_BYTES": str(2 * 1024 * 1024)}) as base:
        yield base, log_path


def call(method: str, url: str, path: str, **kw) -> requests.Response:
    response = requests.request(method, url + path, timeout=10, **kw)
    check_body(path, response.status_code, response.json())
    return response


def test_discovery(server):
    base, _ = server
    services = call("GET", base, "/cds-services").json()["services"]
    assert [s["hook"] for s in services] == ["patient-view", "order-sign"] and "relapse" in services[0]["id"]
    assert "hsct" in services[1]["id"]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_patient_view_on_realistic_patients(server, path):
    base, _ = server
    fixture = load_fixture(path)
    body = call("POST", base, SERVICE_URL, json=as_request(fixture["bundle"])).json()
    got, expected = body["extension"]["org.relapse-cds.assessment"], fixture["expected"]
    assert (got["relapseNumber"], got["cogRisk"], got["hsct"]) == (expected["relapseNumber"], expected["cogRisk"], expected["hsct"])
    assert set(got["flags"]) & CONTRACT_FLAGS == set(expected["flags"]) and set(got["missing"]) == set(expected["missing"])


OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}


@pytest.mark.parametrize(("state", "expected_hsct", "expected_missing"), [
    ("present", "recommended", []),
    ("absent", "undetermined", ["priorHsct"]),
    ("null", "recommended", []),
    ("OperationOutcome", "undetermined", ["priorHsct"]),
])
def test_prefetch_states_over_http(server, state, expected_hsct, expected_missing):
    base, _ = server
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"))
    if state == "absent":
        del prefetch["procedures"]
    else:
        prefetch["procedures"] = {"present": prefetch["procedures"], "null": None, "OperationOutcome": OUTCOME}[state]
    got = call("POST", base, SERVICE_URL, json=hook_request(prefetch)).json()["extension"]["org.relapse-cds.assessment"]
    assert (got["cogRisk"], got["hsct"], got["missing"]) == ("high", expected_hsct, expected_missing)


@pytest.mark.parametrize(("data", "headers", "status"), [
    (b"{oops", {"Content-Type": "application/json"}, 400),
    (b"[]", {"Content-Type": "application/json"}, 400),
    (b"x" * (3 * 1024 * 1024), {"Content-Type": "application/json"}, 413),
    (b"[" * 100_000 + b"]" * 100_000, {"Content-Type": "application/json"}, 413),
    (b"{}", {"Content-Type": "text/plain"}, 415),
])
def test_bad_input_over_http(server, data, headers, status):
    base, _ = server
    assert call("POST", base, SERVICE_URL, data=data, headers=headers).status_code == status


def test_wrong_hook_and_wrong_types_over_http(server):
    base, _ = server
    assert call("POST", base, SERVICE_URL, json=hook_request(record(patient()), hook="order-select")).status_code == 400
    wrong = hook_request(record(patient()))
    wrong["context"]["patientId"] = ["pat-1"]
    response = call("POST", base, SERVICE_URL, json=wrong)
    assert response.status_code == 400 and "patientId" in json.dumps(response.json())


def test_unknown_service_over_http(server):
    base, _ = server
    assert call("POST", base, "/cds-services/unknown", json=hook_request(record(patient()))).status_code == 404


def test_concurrent_requests_are_all_answered(server):
    base, _ = server
    fixture = load_fixture(sorted(FIXTURES.glob("*.json"))[0])
    body = json.dumps(as_request(fixture["bundle"]))
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: requests.post(base + SERVICE_URL, data=body, headers={"Content-Type": "application/json"}, timeout=20), range(40)))
    assert [r.status_code for r in responses] == [200] * 40
    for response in responses:
        check_body(SERVICE_URL, response.status_code, response.json())
    assert len({c["uuid"] for r in responses for c in r.json()["cards"]}) == sum(len(r.json()["cards"]) for r in responses)


def test_logs_carry_no_patient_identifiers(server):
    base, log_path = server
    fixture = load_fixture(sorted(FIXTURES.glob("*.json"))[1])
    request = as_request(fixture["bundle"])
    call("POST", base, SERVICE_URL, json=request)
    time.sleep(0.3)
    log = log_path.read_text()
    patient_resource = request["prefetch"]["patient"]
    assert request["hookInstance"] in log  # the request is traceable...
    assert patient_resource["id"] not in log  # ...without the patient
    for name in patient_resource.get("name", []):
        for part in name.get("given", []) + [name.get("family", "")]:
            if part:
                assert part not in log
    assert "Traceback" not in log


def test_a_malformed_request_line_is_not_echoed_into_the_log(server):
    base, log_path = server
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"POST  /cds-services/x?patient=Zebulon-Quaxley&access_token=tok-SECRET-9911  HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).split(b" ")[1] == b"400"
    time.sleep(0.3)
    log = log_path.read_text()
    assert "Invalid request" in log or "request line" in log  # gunicorn did log the event...
    assert "Zebulon" not in log and "tok-SECRET-9911" not in log  # ...without its content
