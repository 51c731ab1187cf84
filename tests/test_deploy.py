"""Deployment files: the container's gunicorn config really serves, and the Dockerfile refers to files
that exist. (No Docker engine runs in CI; these checks catch what can break without one.)"""

from __future__ import annotations

import json
import re
import sys

import pytest
import requests

from conftest import SERVICE_URL, check_body
from server_process import ROOT, free_port, running

pytestmark = pytest.mark.e2e
DOCKERFILE = ROOT / "docker" / "Dockerfile"
EXAMPLE = ROOT / "examples" / "patient-view-request.json"


def test_container_gunicorn_config_serves_the_example_request(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker" / "gunicorn.conf.py"), "service:create_app()"]
    env = {"RELAPSE_CDS_BIND": f"127.0.0.1:{port}", "RELAPSE_CDS_WORKERS": "2"}
    with running(command, tmp_path / "gunicorn.log", port, env=env) as base:
        discovery = requests.get(f"{base}/cds-services", timeout=10)
        check_body("/cds-services", discovery.status_code, discovery.json())
        response = requests.post(base + SERVICE_URL, data=EXAMPLE.read_bytes(), headers={"Content-Type": "application/json"}, timeout=10)
        check_body(SERVICE_URL, response.status_code, response.json())
    got = response.json()["extension"]["org.relapse-cds.assessment"]
    assert (got["relapseNumber"], got["cogRisk"], got["hsct"]) == (1, "high", "recommended")
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Booting worker" in log and log.count("Booting worker") >= 2
    assert "Control socket" not in log  # the container user has no writable $HOME for it
    assert json.loads(EXAMPLE.read_text())["context"]["patientId"] not in log


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [(m.group(1).upper(), m.group(2)) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M) if not m.group(1).startswith("#")]


def test_dockerfile_copies_only_files_that_exist():
    copies = [args.split() for op, args in _instructions() if op == "COPY" and "--from" not in args]
    assert copies
    for parts in copies:
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repository"


def test_container_runs_as_non_root_under_gunicorn_with_the_shipped_config():
    instructions = _instructions()
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    cmd = [args for op, args in instructions if op == "CMD"][-1]
    assert "gunicorn" in cmd and "/etc/relapse-cds/gunicorn.conf.py" in cmd and "service:create_app()" in cmd
    assert any(op == "COPY" and args.endswith("/etc/relapse-cds/gunicorn.conf.py") for op, args in instructions)
