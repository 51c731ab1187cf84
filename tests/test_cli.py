"""The `relapse-cds` command: assess, check, config (serve is exercised by the end-to-end tests)."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, SERVICE_URL, check_body, load_fixture
from fhir_builders import blasts, diagnosis, hook_request, patient, record, relapse
from service.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_assess_a_bundle(tmp_path, capsys):
    fixture = load_fixture(FIXTURES / "b-isolated-cns-12m.json")
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(fixture["bundle"]))
    code, out, _ = run(capsys, "assess", str(path), "--as-of", "2026-11-25")
    assessment = json.loads(out)
    assert code == 0
    assert (assessment["cogRisk"], assessment["hsct"]) == (fixture["expected"]["cogRisk"], fixture["expected"]["hsct"])


def test_assess_a_cds_hooks_request_with_cards(tmp_path, capsys):
    path = tmp_path / "request.json"
    path.write_text(json.dumps(hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10")))))
    code, out, _ = run(capsys, "assess", str(path), "--cards")
    response = json.loads(out)
    check_body(SERVICE_URL, 200, response)
    assert code == 0 and response["cards"][0]["indicator"] == "warning"


def test_assess_reads_what_can_decide_as_the_service_does_or_the_whole_timeline(tmp_path, capsys):
    far = blasts("2016-01-10", 5.0)  # years before the relapse: cannot change the answer
    request = hook_request(record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), far))
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    drawn = lambda a: {src for e in a.get("timeline", []) for src in e["source"]}  # noqa: E731
    deciding = json.loads(run(capsys, "assess", str(path))[1])
    assert f"Observation/{far['id']}" not in drawn(deciding) and deciding["recordsNotRead"] == 1
    whole = json.loads(run(capsys, "assess", str(path), "--timeline", "all")[1])
    assert f"Observation/{far['id']}" in drawn(whole) and "recordsNotRead" not in whole
    path.write_text(json.dumps(request | {"extension": {"org.relapse-cds.timeline": "all"}}))
    assert json.loads(run(capsys, "assess", str(path))[1]) == whole


def test_assess_rejects_other_input(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    assert run(capsys, "assess", str(path))[0] == 2
    path.write_text("{broken")
    assert run(capsys, "assess", str(path))[0] == 2
    assert run(capsys, "assess", str(tmp_path / "absent.json"))[0] == 2


def test_check_ok_and_failing(tmp_path, capsys):
    code, out, _ = run(capsys, "check")
    assert code == 0 and out.startswith("ok:")
    bad = tmp_path / "bad.yaml"
    bad.write_text("concepts:\n  mrd:\n    description: x\n    codes:\n      - {system: loinc, code: X}\n")
    code, _, err = run(capsys, "check", str(bad))
    assert code == 1 and "display" in err
    assert run(capsys, "check", str(tmp_path / "absent.yaml"))[0] == 1


def test_config_prints_the_effective_settings(capsys, monkeypatch):
    monkeypatch.setenv("RELAPSE_CDS_MAX_BODY_BYTES", "1234")
    code, out, _ = run(capsys, "config")
    assert code == 0 and json.loads(out)["max_body_bytes"] == 1234
    monkeypatch.setenv("RELAPSE_CDS_MAX_BODY_BYTES", "lots")
    assert run(capsys, "config")[0] == 2


@pytest.mark.parametrize(("text", "message"), [
    ('{"prefetch": "patient"}', "prefetch"),
    ('{"context": "x"}', "context"),
    ('{"prefetch": {"patient": "x"}}', "FHIR resource"),
    ('{"context": {"patientId": "a\\nb"}, "prefetch": {}}', "patientId"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("{oops", "Expecting"),
])
def test_assess_rejects_bad_input_with_a_message_not_a_traceback(tmp_path, capsys, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    code, out, err = run(capsys, "assess", str(path))
    assert code == 2 and out == "" and message in err and "Traceback" not in err


def test_assess_rejects_an_impossible_as_of_date(tmp_path, capsys):
    path = tmp_path / "request.json"
    path.write_text(json.dumps(hook_request(record(patient()))))
    with pytest.raises(SystemExit) as exited:
        main(["assess", str(path), "--as-of", "2019-02-30"])
    assert exited.value.code == 2 and "not a date" in capsys.readouterr().err
