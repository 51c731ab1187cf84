"""CORS: browser-based CDS clients (the CDS Hooks sandbox) can discover and call the service."""

from __future__ import annotations

import pytest

from conftest import SERVICE_URL, check_body
from fhir_builders import hook_request, patient, record
from service import create_app
from service.config import Settings

PREFLIGHT = {"Origin": "https://sandbox.example.org", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


@pytest.fixture(scope="module")
def restricted():
    return create_app(Settings(cors_origins=("https://ehr.example.org",))).test_client()


def test_a_restricted_service_still_answers_conformantly(restricted):
    response = restricted.post(SERVICE_URL, json=hook_request(record(patient())), headers={"Origin": "https://ehr.example.org"})
    check_body(SERVICE_URL, response.status_code, response.get_json())
    assert response.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"


def test_preflight_is_answered_for_any_origin_by_default(app):
    response = app.test_client().options(SERVICE_URL, headers=PREFLIGHT)
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type"} <= {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}


def test_actual_responses_carry_the_origin_header(client):
    headers = {"Origin": "https://sandbox.example.org"}
    assert client.get("/cds-services", headers=headers).headers["Access-Control-Allow-Origin"] == "*"
    answer = client.post(SERVICE_URL, json=hook_request(record(patient())), headers=headers)
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == "*"
    error = client.post("/cds-services/nope", json={}, headers=headers)
    assert error.status_code == 404 and error.headers["Access-Control-Allow-Origin"] == "*"


def test_configured_origins_only(restricted):
    allowed = restricted.options(SERVICE_URL, headers=dict(PREFLIGHT, Origin="https://ehr.example.org"))
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
    assert "Origin" in allowed.headers["Vary"]
    refused = restricted.options(SERVICE_URL, headers=PREFLIGHT)
    assert "Access-Control-Allow-Origin" not in refused.headers and "Origin" in refused.headers["Vary"]


def test_no_origin_no_cors_headers(client):
    assert "Access-Control-Allow-Origin" not in client.get("/cds-services").headers


def test_origins_from_the_environment(monkeypatch):
    monkeypatch.setenv("RELAPSE_CDS_CORS_ORIGINS", "https://a.example.org/, https://b.example.org")
    assert Settings.from_env().cors_origins == ("https://a.example.org", "https://b.example.org")
    monkeypatch.setenv("RELAPSE_CDS_CORS_ORIGINS", "")
    assert Settings.from_env().cors_origins == ()
    monkeypatch.delenv("RELAPSE_CDS_CORS_ORIGINS")
    assert Settings.from_env().cors_origins == ("*",)
