"""Fetching what prefetch lacks, end to end: the real service (`relapse-cds serve`, gunicorn) talks
over loopback HTTP to a real FHIR server (Medplum's search engine, tests/fhir_server) directly or
through a fault-injecting proxy (tests/fhir_test_servers.py)."""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import urllib.request

import pytest
import requests

from conftest import FIXTURES, SERVICE_URL, check_body, load_fixture
from fhir_test_servers import FHIR_TOKEN, FaultProxy, medplum_server, node_ready, requests_seen, reset_requests
from server_process import free_port, running
from jwt_fixtures import ISS_A, ISS_B, PUBLIC_URL, Keys, claims, sign, write_clients
from test_fixture_patients import as_request

pytestmark = pytest.mark.e2e

DEADLINE_S = 1.5
FILES = sorted(FIXTURES.glob("*.json"))
AUTH = {"access_token": FHIR_TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read", "subject": "relapse-cds"}
FAULTS = ("slow", "500", "401", "malformed", "notfhir", "deep")


@pytest.fixture(scope="module")
def fhir(tmp_path_factory):
    problem = node_ready()
    if problem and not os.environ.get("CI"):
        pytest.skip(problem)  # outside CI only, saying why; in CI (.ci/run) it must run
    assert problem is None, problem
    log = tmp_path_factory.mktemp("fhir") / "medplum.log"
    with medplum_server(log, page_size=2) as base, FaultProxy(base) as proxy:
        yield base, proxy


@pytest.fixture(scope="module")
def refused_base():
    return f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens there


def _serve(tmp_path_factory, allow: list[str], deadline: float):
    port = free_port()
    log_path = tmp_path_factory.mktemp("relapse") / "server.log"
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    env = {"RELAPSE_CDS_FHIR_ALLOW": ",".join(allow), "RELAPSE_CDS_FETCH_DEADLINE_S": str(deadline)}
    return running(command, log_path, port, env=env), log_path


@pytest.fixture(scope="module")
def service(fhir, refused_base, tmp_path_factory):
    """Open mode, with the Medplum server, every fault base and the refused port allowed."""
    base, proxy = fhir
    allow = [base, proxy.base("ok"), proxy.base("crossnext"), proxy.base("endless"), refused_base]
    allow += [proxy.base(fault, rtype) for fault in FAULTS for rtype in ("Patient", "Observation")]
    context, log_path = _serve(tmp_path_factory, allow, 5.0)  # generous: the test server is slow on a busy machine
    with context as url:
        yield url, log_path


@pytest.fixture(scope="module")
def strict_service(fhir, refused_base, tmp_path_factory):
    """The same with a short deadline, for the faults."""
    base, proxy = fhir
    allow = [base, proxy.base("ok"), refused_base] + [proxy.base(f, t) for f in FAULTS for t in ("Patient", "Observation")]
    context, log_path = _serve(tmp_path_factory, allow, DEADLINE_S)
    with context as url:
        yield url, log_path


def post(url: str, body: dict) -> requests.Response:
    response = requests.post(url + SERVICE_URL, json=body, timeout=30)
    check_body(SERVICE_URL, response.status_code, response.json())
    return response


def fetching(body: dict, fhir_server: str, drop: tuple[str, ...] | None = None) -> dict:
    """The request with prefetch keys dropped (all when `drop` is None) and fhirServer + token set."""
    body = copy.deepcopy(body)
    if drop is None:
        body.pop("prefetch", None)
    else:
        for key in drop:
            body["prefetch"].pop(key)
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"] = dict(AUTH)
    return body


def as_stored(fixture_path) -> dict:
    """The fixture's full-prefetch request with its numbers as the FHIR server stores them: Medplum is
    JavaScript, where 12.0 is 12 (and the card shows "12 %"). An EHR prefetching from that server
    would send the same."""
    def number(value: float):
        return int(value) if value.is_integer() else value
    bundle = json.loads(json.dumps(load_fixture(fixture_path)["bundle"]), parse_float=lambda text: number(float(text)))
    return as_request(bundle)


def normalised(answer: dict) -> dict:
    """The answer without what legitimately varies: card uuids, and the order of facts, card lines and
    problems (a FHIR server returns resources in its own order)."""
    extension = copy.deepcopy(answer["extension"])
    assessment = extension["org.relapse-cds.assessment"]
    for key in ("facts", "problems", "notes"):
        if key in assessment:
            assessment[key] = sorted(json.dumps(v, sort_keys=True) for v in assessment[key])
    cards = []
    for card in answer["cards"]:
        card = {k: v for k, v in card.items() if k != "uuid"}
        card["detail"] = sorted(card.get("detail", "").splitlines())
        for suggestion in card.get("suggestions", []):
            suggestion.pop("uuid", None)
        cards.append(card)
    return {"extension": extension, "cards": cards}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_answered_identically_full_none_and_partial_prefetch(service, fhir, path):
    url, _ = service
    base, _ = fhir
    full = as_stored(path)
    expected = normalised(post(url, full).json())

    reset_requests(base)
    assert normalised(post(url, fetching(full, base)).json()) == expected
    seen = requests_seen(base)
    assert {r["path"].split("/")[2] for r in seen} == {"Patient", "Condition", "Observation", "Procedure", "Specimen"}
    assert all(r["authorized"] and r["accept"] == "application/fhir+json" for r in seen)

    reset_requests(base)
    assert normalised(post(url, fetching(full, base, drop=("patient", "observations"))).json()) == expected
    assert {r["path"].split("/")[2] for r in requests_seen(base)} == {"Patient", "Observation"}


def test_searches_are_paged_through_next_links(service, fhir):
    """The test server pages by 2: a patient with more matching Conditions needs next links followed."""
    url, _ = service
    base, _ = fhir
    full = as_stored(FIXTURES / "b-second-marrow-relapse.json")
    assert len(full["prefetch"]["conditions"]["entry"]) > 2
    reset_requests(base)
    expected = normalised(post(url, full).json())
    assert normalised(post(url, fetching(full, base)).json()) == expected
    assert any("_offset=2" in r["query"] for r in requests_seen(base) if r["path"].endswith("/Condition"))
    assert FHIR_TOKEN not in service[1].read_text()  # nor anywhere else in the service's log


def test_a_prefetched_first_page_is_completed_from_its_next_link(service, fhir):
    url, _ = service
    base, _ = fhir
    full = as_stored(FIXTURES / "b-second-marrow-relapse.json")
    patient_id = full["context"]["patientId"]
    request = urllib.request.Request(f"{base}/Condition?patient={patient_id}&_count=1",
                                     headers={"Authorization": f"Bearer {FHIR_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback test server
        first_page = json.loads(response.read())
    assert any(link["relation"] == "next" for link in first_page["link"])
    partial = fetching(full, base, drop=())
    partial["prefetch"]["conditions"] = first_page
    answer = post(url, partial).json()
    assert normalised(answer) == normalised(post(url, full).json())


def test_null_keys_are_not_fetched_and_present_keys_not_refetched(service, fhir):
    url, _ = service
    base, _ = fhir
    full = as_stored(FIXTURES / "b-isolated-cns-12m.json")
    body = fetching(full, base, drop=("observations",))
    body["prefetch"]["procedures"] = None
    reset_requests(base)
    post(url, body)
    assert {r["path"].split("/")[2] for r in requests_seen(base)} == {"Observation"}


def test_an_operation_outcome_key_is_fetched_again(service, fhir):
    url, _ = service
    base, _ = fhir
    full = as_stored(FIXTURES / "b-early-marrow-tp53-ikzf1.json")
    body = fetching(full, base, drop=())
    body["prefetch"]["observations"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    reset_requests(base)
    assert normalised(post(url, body).json()) == normalised(post(url, full).json())
    assert {r["path"].split("/")[2] for r in requests_seen(base)} == {"Observation"}


def test_a_fhir_server_not_allowed_gets_no_request(service, fhir):
    """No SSRF: an unlisted fhirServer is never contacted; the answer is as if the keys were absent."""
    url, _ = service
    base, _ = fhir
    full = as_stored(FIXTURES / "b-early-marrow-tp53-ikzf1.json")
    unlisted = base.replace("/fhir", "/other-fhir")
    reset_requests(base)
    got = post(url, fetching(full, unlisted, drop=("observations",))).json()
    assert requests_seen(base) == []
    absent = copy.deepcopy(full)
    del absent["prefetch"]["observations"]
    expected = post(url, absent).json()["extension"]["org.relapse-cds.assessment"]
    assessment = got["extension"]["org.relapse-cds.assessment"]
    assert (assessment["missing"], assessment["hsct"]) == (expected["missing"], expected["hsct"])
    assert any("not a FHIR server this service may query" in p for p in assessment["problems"])


def test_a_next_link_to_another_origin_is_not_followed(service, fhir):
    url, _ = service
    base, proxy = fhir
    full = as_stored(FIXTURES / "b-second-marrow-relapse.json")
    reset_requests(base)
    got = post(url, fetching(full, proxy.base("crossnext"), drop=("conditions",))).json()
    # Only the first page went through the proxy; the other origin (the upstream) saw no direct request.
    queries = [r["query"] for r in requests_seen(base) if r["path"].endswith("/Condition")]
    assert len(queries) == 1 and "_offset=2" not in queries[0]
    assert any("next page on another server was not followed" in p for p in got["extension"]["org.relapse-cds.assessment"]["problems"])


def test_endless_paging_is_capped_and_said(service, fhir):
    url, _ = service
    _, proxy = fhir
    full = as_stored(FIXTURES / "b-isolated-cns-12m.json")
    got = post(url, fetching(full, proxy.base("endless"), drop=("procedures",))).json()
    assert any("stopped after 20 page(s)" in p for p in got["extension"]["org.relapse-cds.assessment"]["problems"])


@pytest.mark.parametrize("fault", [*FAULTS, "refused", "unknown-patient"])
def test_an_unreadable_patient_is_412_within_the_deadline(strict_service, fhir, refused_base, fault):
    url, log_path = strict_service
    _, proxy = fhir
    full = as_stored(FIXTURES / "b-early-marrow-tp53-ikzf1.json")
    server = {"refused": refused_base, "unknown-patient": proxy.base("ok")}.get(fault) or proxy.base(fault, "Patient")
    body = fetching(full, server, drop=("patient",))
    if fault == "unknown-patient":
        body["context"]["patientId"] = "no-such-patient"
    started = time.monotonic()
    response = post(url, body)
    assert time.monotonic() - started < DEADLINE_S + 1
    assert response.status_code == 412
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert diagnostics.startswith("the Patient could not be read from the FHIR server")
    assert FHIR_TOKEN not in response.text and FHIR_TOKEN not in log_path.read_text()


@pytest.mark.parametrize("fault", [*FAULTS, "refused"])
def test_other_keys_that_fail_are_missing_data(strict_service, fhir, refused_base, fault):
    """Observations failing to fetch: the same answer as an EHR reporting them as an OperationOutcome."""
    url, _ = strict_service
    _, proxy = fhir
    full = as_stored(FIXTURES / "b-early-marrow-tp53-ikzf1.json")
    server = refused_base if fault == "refused" else proxy.base(fault, "Observation")
    started = time.monotonic()
    got = post(url, fetching(full, server, drop=("observations",))).json()["extension"]["org.relapse-cds.assessment"]
    assert time.monotonic() - started < DEADLINE_S + 1
    failed = copy.deepcopy(full)
    failed["prefetch"]["observations"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    expected = post(url, failed).json()["extension"]["org.relapse-cds.assessment"]
    assert {k: got[k] for k in ("cogRisk", "hsct", "flags", "missing")} == {k: expected[k] for k in ("cogRisk", "hsct", "flags", "missing")}
    assert any(p.startswith("fetch observations: ") for p in got["problems"])
    if fault == "deep":  # refused by the depth check, as a request body would be
        assert any("deeper than 64 levels" in p for p in got["problems"])


def test_a_missing_patient_is_412_without_waiting_for_the_other_keys(service, fhir):
    """The Patient answers 404 at once while Observations hang: no reason to wait the 5 s deadline."""
    url, _ = service
    _, proxy = fhir
    body = fetching(as_stored(FIXTURES / "b-early-marrow-tp53-ikzf1.json"), proxy.base("slow", "Observation"))
    body["context"]["patientId"] = "no-such-patient"
    started = time.monotonic()
    response = post(url, body)
    assert response.status_code == 412 and "HTTP 404" in response.json()["issue"][0]["diagnostics"]
    assert time.monotonic() - started < 3.0


@pytest.fixture(scope="module")
def trusted_service(fhir, tmp_path_factory):
    """With clients: client A may send the Medplum base (with a trailing '/'); client B no server.
    RELAPSE_CDS_FHIR_ALLOW lists Medplum too, and must not matter once clients are configured."""
    base, _ = fhir
    directory = tmp_path_factory.mktemp("trusted")
    keys = Keys()
    env = {"RELAPSE_CDS_CLIENTS": str(write_clients(directory, keys, "https://ehr-c.example.org/jwks.json", (base + "/",))),
           "RELAPSE_CDS_PUBLIC_URL": PUBLIC_URL, "RELAPSE_CDS_REPLAY_DB": str(directory / "replay.sqlite3"),
           "RELAPSE_CDS_FHIR_ALLOW": base, "RELAPSE_CDS_FETCH_DEADLINE_S": "5"}
    port = free_port()
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with running(command, directory / "server.log", port, env=env) as url:
        yield url, keys


def test_a_client_fetches_only_from_its_own_fhir_servers(trusted_service, fhir):
    url, keys = trusted_service
    base, _ = fhir
    full = as_stored(FIXTURES / "b-early-marrow-tp53-ikzf1.json")
    body = fetching(full, base, drop=("observations",))

    def as_client(key, kid, iss):
        token = sign(key, kid, claims(iss, SERVICE_URL))
        response = requests.post(url + SERVICE_URL, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        check_body(SERVICE_URL, response.status_code, response.json())
        return response.json()["extension"]["org.relapse-cds.assessment"]

    reset_requests(base)
    assert as_client(keys.a, "a-1", ISS_A)["missing"] == []
    assert {r["path"].split("/")[2] for r in requests_seen(base)} == {"Observation"}

    reset_requests(base)
    other = as_client(keys.b, "b-1", ISS_B)  # listed for nobody but client A, whatever open mode allows
    assert requests_seen(base) == []
    assert any("not a FHIR server this service may query" in p for p in other["problems"])


def test_order_sign_fetches_what_it_lacks_too(service, fhir):
    """The HSCT order check (order-sign) declares the same prefetch; fetched, it answers the same."""
    url, _ = service
    base, _ = fhir
    example = json.loads((FIXTURES.parent.parent.parent / "examples" / "order-sign-request.json").read_text())
    full = as_stored(FIXTURES / "b-early-marrow-tp53-ikzf1.json")
    assert example["context"]["patientId"] == full["context"]["patientId"]
    with_prefetch = dict(example, prefetch=full["prefetch"])
    with_prefetch.pop("fhirServer", None)
    fetched = fetching(with_prefetch, base)
    path = "/cds-services/relapse-all-hsct-order-check"

    def answer(body):
        response = requests.post(url + path, json=body, timeout=30)
        check_body(path, response.status_code, response.json())
        assert response.status_code == 200, response.text
        return response.json()

    expected = answer(with_prefetch)
    assert expected["cards"], "the drafted transplant gets a card"
    reset_requests(base)
    assert normalised(answer(fetched)) == normalised(expected)
    assert {r["path"].split("/")[2] for r in requests_seen(base)} == {"Patient", "Condition", "Observation", "Procedure", "Specimen"}
