"""The testing page in a real browser: Debian's Chromium driven by Playwright, against the real server
process (gunicorn) on loopback. For every bundled example the page shows the API's cards and a timeline
mark for each dated record; a screenshot of each goes to the test artefact folder (RELAPSE_CDS_TEST_ARTIFACTS,
default test-artifacts/, not committed). Bad input gives a message; HTML and javascript: links from a
record stay inert; the main card's first suggestion is within the first 800 px of the card."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from conftest import SERVICE_URL
from server_process import ROOT, free_port, running
from service.web import example_index
from test_fixture_patients import as_request

CHROMIUM = "/usr/bin/chromium"
# Outside CI a machine without Debian's Chromium skips these and says why; in CI (CI=true, where .ci/run
# installs it) a missing browser fails them instead.
pytestmark = [
    pytest.mark.e2e, pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                       reason="Debian's Chromium is not installed (apt-get install chromium; .ci/run does)"),
]
ARTIFACTS = Path(os.environ.get("RELAPSE_CDS_TEST_ARTIFACTS", ROOT / "test-artifacts"))
EXAMPLES = [e["id"] for e in example_index()]
MRD_OR_BLASTS = {"67128-9", "30376-8", "708-8"}
ALL_CODES = {"C91.00", "C91.01", "C91.02", "91857003", "277571004"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("page") / "server.log"
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with running(command, log_path, port, env={"RELAPSE_CDS_DEMO_PAGE": "on"}) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium from Debian is needed (.ci/run installs it)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-background-networking"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("dialog", lambda dialog: (page.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(server + "/")
    page.wait_for_selector("[data-testid=example-select][data-loaded=true]")
    yield page
    context.close()


def assess(page, text: str | None = None) -> None:
    if text is not None:
        page.fill("[data-testid=bundle-input]", text)
    page.click("[data-testid=assess]")
    page.wait_for_selector("body[data-state=assessed], body[data-state=done]")


def choose(page, example_id: str) -> None:
    page.select_option("[data-testid=example-select]", example_id)
    page.wait_for_selector(f"body[data-example='{example_id}']")


def dated_records(bundle: dict) -> set[str]:
    """Read independently of the service: ALL/relapse/remission Conditions with an onset date, completed
    transplant Procedures with a date, final MRD and blast Observations with a date."""
    found = set()
    for entry in bundle["entry"]:
        r = entry["resource"]
        codes = {c.get("code") for c in r.get("code", {}).get("coding", [])}
        status = {c.get("code") for c in r.get("verificationStatus", {}).get("coding", [])}
        if r["resourceType"] == "Condition" and codes & ALL_CODES and r.get("onsetDateTime") and not status & {"entered-in-error", "refuted"}:
            found.add(f"Condition/{r['id']}")
        elif r["resourceType"] == "Procedure" and r.get("status") == "completed" and r.get("performedDateTime") and "234336002" in codes:
            found.add(f"Procedure/{r['id']}")
        elif r["resourceType"] == "Observation" and codes & MRD_OR_BLASTS and r.get("status") == "final" and r.get("effectiveDateTime"):
            found.add(f"Observation/{r['id']}")
    return found


@pytest.mark.parametrize("example_id", EXAMPLES)
def test_each_example_shows_the_apis_cards_and_its_timeline(page, server, example_id):
    bundle = requests.get(f"{server}/examples/{example_id}", timeout=10).json()
    api = requests.post(server + SERVICE_URL, json=as_request(bundle), timeout=10).json()  # as an EHR asks
    # The page asks for the whole timeline (every relevant record drawn, not only those that can decide).
    whole = requests.post(server + SERVICE_URL, json=as_request(bundle) | {"extension": {"org.relapse-cds.timeline": "all"}}, timeout=10).json()
    choose(page, example_id)
    assess(page)
    summaries = page.locator("[data-testid=card-summary]").all_inner_texts()
    assert page.locator("[data-testid=card]").count() == len(api["cards"])
    assert summaries == [c["summary"] for c in api["cards"]]
    assert page.locator("[data-testid=timeline]").count() == 1
    marks = page.locator("[data-testid=timeline-event]")
    drawn = {src for i in range(marks.count()) for src in (marks.nth(i).get_attribute("data-source") or "").split()}
    expected = dated_records(bundle)
    assert expected <= drawn, f"no timeline mark for {sorted(expected - drawn)}"
    assert marks.count() == len(whole["extension"]["org.relapse-cds.assessment"].get("timeline", []))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{example_id}.png"), full_page=True)
    assert page.errors == []


@pytest.mark.parametrize("example_id", [e for e in EXAMPLES if e != "b-no-relapse"])
def test_the_main_cards_first_suggestion_is_within_800_px_of_the_card(page, example_id):
    choose(page, example_id)
    assess(page)
    main = page.locator("[data-testid=card]").first
    suggestion = main.locator("[data-testid=suggestion]")
    if suggestion.count() == 0:
        return  # this answer asks for nothing
    card_box, button_box = main.bounding_box(), suggestion.first.bounding_box()
    assert button_box["y"] + button_box["height"] - card_box["y"] <= 800


def test_a_fact_opens_the_json_of_its_fhir_resource(page):
    choose(page, "b-early-marrow-tp53-ikzf1")
    assess(page)
    source = page.locator("[data-testid=fact-source]").first
    ref = source.inner_text()
    source.click()
    shown = page.locator("#resource-view").inner_text()
    resource_type, resource_id = ref.split("/")
    assert shown.startswith(ref) and json.loads(shown[len(ref):])["id"] == resource_id
    assert json.loads(shown[len(ref):])["resourceType"] == resource_type


def test_an_uploaded_cds_hooks_request_is_sent_as_it_is(page, server):
    bundle = requests.get(f"{server}/examples/b-late-marrow-high-mrd-high-blasts", timeout=10).json()
    request = as_request(bundle)
    api = requests.post(server + SERVICE_URL, json=request, timeout=10).json()
    page.set_input_files("#file-input", files=[{"name": "request.json", "mimeType": "application/json", "buffer": json.dumps(request).encode()}])
    expect(page.locator("[data-testid=bundle-input]")).to_have_value(re.compile(r"patient-view"))
    assess(page)
    assert page.locator("[data-testid=card-summary]").all_inner_texts() == [c["summary"] for c in api["cards"]]
    page.locator("[data-testid=fact-source]").last.click()
    assert '"resourceType"' in page.locator("#resource-view").inner_text(), "facts link to the request's prefetch resources"
    assert page.errors == []


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not an object"),
    ('{"name": "x"}', "neither FHIR"),
    ('{"resourceType": "Patient", "id": "p"}', "not a Bundle"),
    ('{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Condition", "id": "c"}}]}', "no Patient"),
    ('{"hook": "order-select", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": {"patientId": "p", "userId": "Practitioner/1"}}', "HTTP 400"),
    ("", "Nothing to assess"),
])
def test_bad_input_gives_a_clear_message(page, text, message):
    assess(page, text)
    error = page.locator("[data-testid=error]")
    assert error.is_visible() and message in error.inner_text()
    assert "Traceback" not in page.content() and page.locator("[data-testid=card]").count() == 0
    assert page.errors == []


PAYLOAD = '<img src=x onerror="window.__xss=1">'
LINK = "[click me](javascript:window.__xss=2)"


def test_html_and_javascript_links_from_a_record_stay_inert(page, server):
    bundle = requests.get(f"{server}/examples/b-early-marrow-tp53-ikzf1", timeout=10).json()
    for entry in bundle["entry"]:
        r = entry["resource"]
        if r["resourceType"] == "Condition":
            r["code"]["text"] = PAYLOAD + " " + LINK
            r.setdefault("note", []).append({"text": PAYLOAD + LINK})
            if r.get("bodySite"):  # an unknown site code is quoted on the card
                r["bodySite"][0]["coding"].append({"system": "http://snomed.info/sct", "code": "<img src=x onerror=window.__xss=3>"})
        if r["resourceType"] == "Observation" and r.get("valueQuantity"):
            r["valueQuantity"]["unit"] = r["valueQuantity"]["code"] = LINK  # quoted under "Records not used"
    assess(page, json.dumps(bundle))
    cards = page.locator("#cards")
    assert cards.locator("[data-testid=card]").count() >= 1
    text = cards.inner_text()
    assert "onerror" in text or "click me" in text, "the record's text reached a card and is shown as text"
    for box in ("#cards", "#assessment", "#facts", "#timeline-box"):
        assert page.locator(f"{box} img").count() == 0
        assert page.locator(f"{box} a[href^='javascript']").count() == 0
    page.locator("[data-testid=fact-source]").first.click()
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None, "nothing from the record ran"
    assert page.errors == []


def test_the_page_renderer_is_inert_on_raw_html_and_script_links(page):
    """The page's own Markdown renderer, on input no card of this service carries (the service escapes)."""
    html = page.evaluate(
        """(md) => { const div = document.createElement('div'); div.appendChild(window.SafeMarkdown.render(md));
                    document.body.appendChild(div); return div.innerHTML; }""",
        f"{PAYLOAD}\n\n{LINK} and [ok](https://example.org/x) and [data](data:text/html,<script>window.__xss=4</script>)\n\n- **b** *i* `c`",
    )
    assert "<img" not in html and "&lt;img" in html, "the tag is shown as text"
    assert '<a href="https://example.org/x" target="_blank" rel="noopener noreferrer">ok</a>' in html
    assert "<strong>b</strong>" in html and "<em>i</em>" in html and "<code>c</code>" in html
    assert 'href="data' not in html and 'href="javascript' not in html
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None
    assert page.errors == []
