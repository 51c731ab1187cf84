"""Shared fixtures. Every response a test gets through `client` is checked for CDS Hooks 2.0
conformance (tests/cds_hooks_checker.py) before the test sees it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from cds_hooks_checker import assert_conformant_discovery, assert_conformant_response
from service import create_app
from service.config import Settings

# The test apps' store (audit trail, feedback) lives in a throwaway directory: never a user's data or database.
os.environ["RELAPSE_CDS_DATA_DIR"] = tempfile.mkdtemp(prefix="relapse-cds-tests-")
os.environ.pop("RELAPSE_CDS_DATABASE_URL", None)

FIXTURES = Path(__file__).parent / "fixtures" / "patients"
SERVICE_URL = "/cds-services/relapse-all-assessment"


def check_body(path: str, status: int, body: object) -> None:
    """The conformance gate applied to every response the tests produce."""
    if status == 200 and path == "/cds-services":
        assert_conformant_discovery(body)
    elif status == 200 and path.startswith("/cds-services/") and path.endswith("/feedback"):
        assert set(body) == {"stored", "duplicates", "unknownCards"}, body  # the feedback receipt
    elif status == 200 and path.startswith("/cds-services/"):
        assert_conformant_response(body)
        if path == SERVICE_URL or body["cards"]:  # order-sign without an HSCT order answers no card, no assessment
            assert "org.relapse-cds.assessment" in body["extension"]
    elif status >= 400:
        assert isinstance(body, dict) and body.get("resourceType") == "OperationOutcome", body
        assert body["issue"] and all(i.get("diagnostics") for i in body["issue"]), body
        assert status < 500, f"5xx is a bug: {body}"


class CheckedClient:
    """Flask test client whose every JSON response passes the conformance gate."""

    def __init__(self, client):
        self._client = client

    def _checked(self, method: str, path: str, **kw):
        response = getattr(self._client, method)(path, **kw)
        body = json.loads(response.get_data(as_text=True))
        check_body(path, response.status_code, body)
        return response

    def get(self, path: str, **kw):
        return self._checked("get", path, **kw)

    def post(self, path: str, **kw):
        return self._checked("post", path, **kw)


@pytest.fixture(scope="session")
def app():
    return create_app(Settings(bench_endpoint=True))


@pytest.fixture()
def client(app):
    return CheckedClient(app.test_client())


@pytest.fixture(scope="session")
def knowledge(app):
    return app.extensions["relapse_cds.knowledge"]


def assessment_of(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["extension"]["org.relapse-cds.assessment"]


def load_fixture(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True, scope="session")
def _the_test_process_is_never_patched_by_gevent():
    """`relapse-cds serve` and the container's gunicorn config make sockets cooperative for their whole
    process; run in this one, they would break every HTTPS client test after them. Run them in children."""
    yield
    import sys

    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        assert not monkey.is_module_patched("socket"), "a test patched the pytest process with gevent"
