"""Knowledge files: validated at start-up, extensible by a site without code changes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import SERVICE_URL, CheckedClient, assessment_of
from fhir_builders import LOINC, diagnosis, hook_request, observation, patient, record, relapse
from service import create_app
from service.config import Settings
from service.knowledge import KnowledgeError, load_knowledge
from service.knowledge.cards import SUMMARY_LIMIT, load_cards
from service.knowledge.locate import knowledge_dir
from service.rules.assess import all_rule_ids
from service.rules.flags import FLAG_NAMES

LOCAL_MRD = textwrap.dedent("""
    # Site file: our flow-cytometry MRD lab code.
    concepts:
      mrd:
        description: Local MRD by flow cytometry
        codes:
          - {system: "urn:oid:1.2.3.4.5", code: MRD-FLOW, display: "Marrow MRD (local)", source: "site lab catalogue"}
""")


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_knowledge_is_valid(knowledge):
    assert knowledge.codemap.codes("all-in-relapse")
    assert len(knowledge.version) == 16


def test_every_code_beyond_the_contract_names_its_source(knowledge):
    for concept, entries in knowledge.codemap.entries.items():
        for entry in entries:
            assert entry.source.strip(), (concept, entry)


def test_a_site_adds_a_local_mrd_code_without_code_changes(tmp_path):
    extra = write(tmp_path, LOCAL_MRD)
    local = observation("x", "2019-07-05", 0.5, "%", body_site="marrow")
    local["code"] = {"coding": [{"system": "urn:oid:1.2.3.4.5", "code": "MRD-FLOW"}]}
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), local)

    plain = CheckedClient(create_app(Settings()).test_client())
    extended_app = create_app(Settings(extra_mappings=(extra,)))
    extended = CheckedClient(extended_app.test_client())
    assert assessment_of(plain.post(SERVICE_URL, json=hook_request(prefetch)))["hsct"] == "undetermined"
    assert assessment_of(extended.post(SERVICE_URL, json=hook_request(prefetch)))["hsct"] == "consider"
    discovery = extended.get("/cds-services").get_json()
    assert "urn:oid:1.2.3.4.5|MRD-FLOW" in discovery["services"][0]["prefetch"]["observations"]


@pytest.mark.parametrize(("text", "message"), [
    ("concepts:\n  mrdd:\n    description: typo\n    codes: []\n", "Must be one of"),
    ("concepts:\n  mrd:\n    description: x\n    codes:\n      - {system: loinc, code: 1-1}\n", "display"),
    ("concepts:\n  mrd:\n    description: x\n    codes:\n      - {system: nowhere, code: 1-1, display: d, source: s}\n", "neither an alias"),
    ("concepts:\n  site-cns:\n    description: x\n    codes:\n      - {system: snomed, code: '14016003', display: d, source: s}\n", "exclusive"),
    ("units:\n  mrd-fraction:\n    description: x\n    accepted:\n      - {system: ucum, code: '%', factor: -1}\n", "factor"),
    ("concepts: [1, 2\n", "not valid YAML"),
])
def test_invalid_site_files_are_rejected_with_a_reason(tmp_path, text, message):
    with pytest.raises(KnowledgeError) as excinfo:
        load_knowledge([write(tmp_path, text)])
    assert any(message in p for p in excinfo.value.problems), excinfo.value.problems


def test_start_up_fails_on_invalid_knowledge(tmp_path):
    with pytest.raises(KnowledgeError):
        create_app(Settings(extra_mappings=(write(tmp_path, "concepts:\n  nope: {}\n"),)))


def copy_cards(tmp_path: Path, replace: tuple[str, str] | None = None) -> Path:
    target = tmp_path / "cards"
    target.mkdir()
    for source in knowledge_dir("cards").glob("*.yaml"):
        text = source.read_text(encoding="utf-8")
        if replace and source.name == "cards.yaml":
            assert replace[0] in text
            text = text.replace(replace[0], replace[1])
        (target / source.name).write_text(text, encoding="utf-8")
    return target


def test_card_texts_cover_every_rule_and_flag(knowledge):
    assert all_rule_ids() - {"cog.no-relapse", "hsct.no-relapse"} <= set(knowledge.cards.rules)
    assert set(FLAG_NAMES) <= set(knowledge.cards.flags)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('  hsct.late-cns:\n', '  hsct.late-cns-renamed:\n', "no text for rule 'hsct.late-cns'"),
    ('refs: [{ref: "26"}]', 'refs: [{ref: "9999"}]', "absent from references.yaml"),
    ('assessment_short: "{ordinal} relapse: {cog}; {hsct}"', 'assessment_short: "{ordinal} relapse: {cog}; {hsct}' + "x" * 140 + '"', "characters"),
    ('  outcome_line: "*Outcome in the NCI PDQ summary:* {survival}"\n', '', "phrases.outcome_line missing"),
    ('"{flag}: needs {missing}"', '"{flag}: needs {missng}"', "phrases.not_assessed_item must use exactly"),
    ('"{flag}: needs {missing}"', '"{flag}: needs {missing} {}"', "phrases.not_assessed_item must use exactly"),
    ('flags: "Prognostic factors: {flags}"', 'flags: "Prognostic factors: {flags} {0}"', "summaries.flags uses"),
    ('  flag_age: "{years} years at diagnosis"\n', '', "messages.flag_age missing"),
    ('is in the future"\n  contradiction_relapse_before', 'is in {the} future"\n  contradiction_relapse_before', "messages.contradiction_relapse_future must use exactly"),
])
def test_card_file_errors_are_caught_at_start_up(tmp_path, old, new, message):
    directory = copy_cards(tmp_path, (old, new))
    from service.knowledge import MISSING_NAMES

    with pytest.raises(KnowledgeError) as excinfo:
        load_cards(all_rule_ids(), FLAG_NAMES, MISSING_NAMES, directory)
    assert any(message in p for p in excinfo.value.problems), excinfo.value.problems


def test_references_link_to_pubmed(knowledge):
    for ref in knowledge.cards.references.values():
        assert ref.url.startswith("https://pubmed.ncbi.nlm.nih.gov/")
        assert ref.pmid_verified == ref.url[len("https://pubmed.ncbi.nlm.nih.gov/"):].rstrip("/").isdigit()


def test_summary_limit_is_the_cds_hooks_limit():
    assert SUMMARY_LIMIT == 140


def test_prefetch_reaches_every_code_the_mappings_recognise(client, knowledge):
    prefetch = client.get("/cds-services").get_json()["services"][0]["prefetch"]
    from service.fhir.select import RESOURCE_CONCEPTS

    key_of = {"Condition": "conditions", "Observation": "observations", "Procedure": "procedures"}
    for rtype, concepts in RESOURCE_CONCEPTS.items():
        for concept in concepts:
            for entry in knowledge.codemap.codes(concept):
                assert f"{entry.system}|{entry.code}" in prefetch[key_of[rtype]], (concept, entry.code)
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert LOINC + "|67128-9" in prefetch["observations"]
