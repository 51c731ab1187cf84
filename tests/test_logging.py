"""The service's own log under both ways of serving it (`relapse-cds serve`, and gunicorn with the
container's docker/gunicorn.conf.py), as text and as JSON lines (RELAPSE_CDS_LOG_FORMAT=json), and
never a patient id, a name, a record number or a token in it."""

from __future__ import annotations

import json
import sys
import time

import pytest
import requests

from conftest import SERVICE_URL, check_body
from server_process import ROOT, free_port, running

pytestmark = pytest.mark.e2e
EXAMPLE = json.loads((ROOT / "examples" / "patient-view-request.json").read_text())
PATIENT_ID = EXAMPLE["context"]["patientId"]
TOKEN = "tok-4b1d9e-never-logged"  # noqa: S105 - a made-up bearer token the log must not show
SECRETS = [PATIENT_ID, "Okafor", "Lucas", "MRN-40211873", TOKEN]


def _request() -> dict:
    request = json.loads(json.dumps(EXAMPLE))
    request["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                    "scope": "patient/*.read", "subject": "relapse-cds"}
    return request


def _command(how: str, port: int) -> tuple[list[str], dict[str, str]]:
    if how == "serve":
        return [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "1", "--access-log"], {}
    command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker" / "gunicorn.conf.py"), "service:create_app()"]
    return command, {"RELAPSE_CDS_BIND": f"127.0.0.1:{port}", "RELAPSE_CDS_WORKERS": "1"}


def _serve_one_call(how: str, log_format: str, tmp_path) -> tuple[str, dict]:
    port = free_port()
    command, env = _command(how, port)
    env.update({"RELAPSE_CDS_LOG_FORMAT": log_format, "RELAPSE_CDS_LOG_LEVEL": "INFO"})
    log_path = tmp_path / "server.log"
    with running(command, log_path, port, env=env) as base:
        response = requests.post(f"{base}{SERVICE_URL}?patient={PATIENT_ID}", json=_request(), timeout=10,
                                 headers={"Authorization": f"Bearer {TOKEN}"})
        check_body(SERVICE_URL, response.status_code, response.json())
        time.sleep(0.3)  # the worker writes its line after answering
    return log_path.read_text(), response.json()


@pytest.mark.parametrize("how", ["serve", "gunicorn"])
def test_each_call_is_logged_as_one_line_under_both_ways_of_serving(how, tmp_path):
    log, _ = _serve_one_call(how, "text", tmp_path)
    lines = [line for line in log.splitlines() if f"hookInstance={EXAMPLE['hookInstance']}" in line]
    assert len(lines) == 1, log
    assert "cogRisk=high" in lines[0] and "hsct=recommended" in lines[0] and " relapse_cds " in lines[0]
    for secret in SECRETS:
        assert secret not in log


@pytest.mark.parametrize("how", ["serve", "gunicorn"])
def test_json_log_lines_for_log_shippers(how, tmp_path):
    log, answer = _serve_one_call(how, "json", tmp_path)
    records = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is JSON
    assert {"time", "level", "logger", "message"} <= set(records[0])
    calls = [r for r in records if r.get("hookInstance") == EXAMPLE["hookInstance"]]
    assert len(calls) == 1, log
    call = calls[0]
    assert (call["logger"], call["level"], call["cogRisk"], call["hsct"], call["cards"]) == ("relapse_cds", "INFO", "high", "recommended", len(answer["cards"]))
    assert isinstance(call["ms"], float)
    assert any(r["logger"] == "gunicorn.access" and "POST /cds-services/relapse-all-assessment" in r["message"] for r in records)
    for secret in SECRETS:
        assert secret not in log


def test_the_log_level_setting_silences_the_call_lines(tmp_path):
    port = free_port()
    command, env = _command("gunicorn", port)
    env["RELAPSE_CDS_LOG_LEVEL"] = "WARNING"
    with running(command, tmp_path / "server.log", port, env=env) as base:
        assert requests.post(base + SERVICE_URL, json=_request(), timeout=10).status_code == 200
        time.sleep(0.3)
    assert "hookInstance=" not in (tmp_path / "server.log").read_text()
