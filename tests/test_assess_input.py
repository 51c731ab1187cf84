"""`relapse-cds assess` on wrong or thin input: every message names the file and the problem, and
an answer given from a Bundle that lacks the Patient or any Condition says what was absent."""

from __future__ import annotations

import json

import pytest

from fhir_builders import bundle, diagnosis, patient, relapse
from service.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "the file is empty"),
    (b"  \n", "the file is empty"),
    (b"not json", "not JSON (Expecting value at line 1 column 1)"),
    (b'{"resourceType": "Bundle",', "not JSON"),
    (b"\xff\xfe\x00", "not UTF-8 text"),
    (b"[1, 2]", "a JSON array; expected a JSON object"),
    (b'"text"', "a JSON str; expected a JSON object"),
    (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "the Bundle has no entries with a resource"),
    (b'{"resourceType": "Bundle", "type": "collection"}', "the Bundle has no entries with a resource: there is nothing to assess"),
    (b'{"resourceType": "Patient"}', "neither a FHIR Bundle nor a CDS Hooks request"),
])
def test_wrong_input_names_the_file_and_the_problem(tmp_path, capsys, content, problem):
    path = tmp_path / "record-7.json"
    path.write_bytes(content)
    code, out, err = run(capsys, "assess", str(path))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err == f"relapse-cds assess: {path}: {problem}" + err.split(problem, 1)[1]
    assert err.count("\n") == 1


def test_a_missing_file_is_named(tmp_path, capsys):
    code, _, err = run(capsys, "assess", str(tmp_path / "absent.json"))
    assert code == 2 and err.strip() == f"relapse-cds assess: {tmp_path / 'absent.json'}: cannot read (No such file or directory)"


def test_stdin_is_named_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run(capsys, "assess", "-")[2].startswith("relapse-cds assess: stdin: the file is empty")


def test_a_bundle_without_a_patient_says_the_patient_is_absent(tmp_path, capsys):
    path = tmp_path / "no-patient.json"
    path.write_text(json.dumps(bundle(diagnosis("2015-01-10"), relapse("2016-01-10"))))
    code, out, err = run(capsys, "assess", str(path), "--as-of", "2026-11-25")
    assert code == 0
    assert f"{path}: the Bundle holds no Patient" in err and "age flags cannot be assessed" in err
    assessment = json.loads(out)
    assert {f["flag"] for f in assessment["flagsNotAssessed"]} >= {"age-10-plus"}


def test_a_bundle_without_conditions_says_no_diagnosis_or_relapse_is_recorded(tmp_path, capsys):
    path = tmp_path / "patient-only.json"
    path.write_text(json.dumps(bundle(patient())))
    code, out, err = run(capsys, "assess", str(path))
    assert code == 0 and json.loads(out)["cogRisk"] == "not-applicable"
    assert f"{path}: the Bundle holds no Condition: no ALL diagnosis and no relapse are recorded in it" in err
    assert "no Patient" not in err


def test_a_complete_bundle_gets_no_note(tmp_path, capsys):
    path = tmp_path / "complete.json"
    path.write_text(json.dumps(bundle(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"))))
    code, out, err = run(capsys, "assess", str(path))
    assert code == 0 and err == "" and json.loads(out)["relapseNumber"] == 1
