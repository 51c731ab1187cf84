"""The testing page (service/web/): served in open mode only, unless RELAPSE_CDS_DEMO_PAGE=on; its
assets and bundled examples ship in the package; a strict Content-Security-Policy on every page
response. What it shows is tested in a real browser (tests/test_page_browser.py)."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, load_fixture
from service import create_app
from service.config import Settings
from service.web import EXAMPLES, example_index


def page_status(monkeypatch, **env) -> int:
    for name in ("RELAPSE_CDS_CLIENTS", "RELAPSE_CDS_DEMO_PAGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return create_app(Settings.from_env()).test_client().get("/").status_code


def test_the_page_is_on_in_open_mode_and_off_with_trusted_clients(monkeypatch):
    assert page_status(monkeypatch) == 200
    assert page_status(monkeypatch, RELAPSE_CDS_CLIENTS="clients.yaml") == 404
    assert page_status(monkeypatch, RELAPSE_CDS_CLIENTS="clients.yaml", RELAPSE_CDS_DEMO_PAGE="on") == 200
    assert page_status(monkeypatch, RELAPSE_CDS_DEMO_PAGE="off") == 404


def test_a_wrong_demo_page_setting_stops_start_up(monkeypatch):
    monkeypatch.setenv("RELAPSE_CDS_DEMO_PAGE", "maybe")
    with pytest.raises(ValueError, match="RELAPSE_CDS_DEMO_PAGE"):
        create_app(Settings.from_env())


def test_page_assets_are_local_and_guarded_by_csp(client, app):
    raw = app.test_client()
    page = raw.get("/")
    html = page.get_data(as_text=True)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "http://" not in html and "https://" not in html, "no CDN: every asset comes from the service"
    for asset in ("page/app.js", "page/markdown.js", "page/timeline.js", "page/style.css"):
        assert f'"{asset}"' in html
        response = raw.get(f"/{asset}")
        assert response.status_code == 200 and response.headers["Content-Security-Policy"] == csp
        assert "http://" not in response.get_data(as_text=True).replace("http://www.w3.org/2000/svg", "")
    assert "<script>" not in html and " on" not in html.replace(" only", ""), "no inline script or handler"


def test_the_examples_are_the_synthetic_fixture_patients_one_per_situation(app):
    raw = app.test_client()
    listed = raw.get("/examples").get_json()["examples"]
    assert listed == example_index() and len(listed) >= 15
    assert len({e["title"] for e in listed}) == len(listed)
    for example in listed:
        bundle = raw.get(f"/examples/{example['id']}").get_json()
        fixture = load_fixture(FIXTURES / f"{example['id']}.json")
        assert bundle == fixture["bundle"] and example["description"] == fixture["description"], "examples stay the tested fixtures"
        assert (EXAMPLES / f"{example['id']}.json").is_file()
    assert raw.get("/examples/..%2Fconfig").status_code == 404
    assert raw.get("/examples/not-an-example").status_code == 404


def test_every_example_shows_a_different_answer_or_record(app):
    """One per situation the rules distinguish: no two examples reach the same rules and flags."""
    from test_fixture_patients import as_request

    raw = app.test_client()
    seen = {}
    for example in example_index():
        a = raw.post("/cds-services/relapse-all-assessment", json=as_request(raw.get(f"/examples/{example['id']}").get_json())).get_json()["extension"]["org.relapse-cds.assessment"]
        key = json.dumps([a["rules"], sorted(a["flags"]), sorted(a["missing"]), a.get("contradictions", [])], sort_keys=True)
        assert key not in seen, f"{example['id']} repeats {seen.get(key)}"
        seen[key] = example["id"]
