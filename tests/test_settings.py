"""Configuration errors and the `config` command: a bad setting is one line naming the variable and
the form it expects (exit 2) in every subcommand and in the container's gunicorn config, and
`relapse-cds config` prints every setting the README documents (driven by the Settings fields)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields

import pytest

from server_process import ROOT
from service.cli import main
from service.config import ConfigError, Settings

README = (ROOT / "README.md").read_text()
SETTINGS = [f.name for f in fields(Settings) if f.name != "extras"]


def _readme_configuration_variables() -> set[str]:
    section = README.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `RELAPSE_CDS_")]
    return {name for row in rows for name in re.findall(r"`(RELAPSE_CDS_[A-Z_]+)`", row.split("|")[1])}


def test_config_prints_every_setting_the_readme_lists_and_the_readme_lists_every_setting(capsys):
    assert main(["config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    documented = _readme_configuration_variables()
    assert {Settings.variable(name) for name in printed} == documented
    assert set(printed) == set(SETTINGS)


def test_config_prints_what_empty_store_settings_resolve_to_and_never_the_key(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("RELAPSE_CDS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RELAPSE_CDS_DATABASE_URL", raising=False)
    monkeypatch.delenv("RELAPSE_CDS_PATIENT_HASH_KEY", raising=False)
    assert main(["config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["data_dir"] == str(tmp_path) and printed["database_url"] == f"sqlite:///{tmp_path}/relapse-cds.sqlite3"
    assert printed["patient_hash_key"].startswith("(unset")
    key = "k" * 40
    monkeypatch.setenv("RELAPSE_CDS_PATIENT_HASH_KEY", key)
    monkeypatch.setenv("RELAPSE_CDS_DATABASE_URL", "postgresql://cds:hunter2@db.example.org/cds")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out)
    assert printed["patient_hash_key"] == "(set)" and key not in out and "hunter2" not in out
    assert printed["database_url"] == "postgresql://cds:***@db.example.org/cds"


def test_the_metrics_token_is_a_long_secret_never_printed(capsys, monkeypatch):
    monkeypatch.setenv("RELAPSE_CDS_METRICS_TOKEN", "short-secret")
    with pytest.raises(ConfigError) as refused:
        Settings.from_env()
    assert "RELAPSE_CDS_METRICS_TOKEN" in str(refused.value) and "short-secret" not in str(refused.value)
    for unusable in ("pässwörd-" * 5, "t" * 39 + "\udcff"):  # never matched as header bytes; not encodable
        monkeypatch.setenv("RELAPSE_CDS_METRICS_TOKEN", unusable)
        with pytest.raises(ConfigError):
            Settings.from_env()
    token = "t" * 40
    monkeypatch.setenv("RELAPSE_CDS_METRICS_TOKEN", token)
    assert Settings.from_env().metrics_token == token and token not in repr(Settings.from_env())
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["metrics_token"].startswith("(set") and token not in out


def _bad_values() -> list[tuple[str, str]]:
    """A value of the wrong form for every setting that has a form (paths, hosts and lists take any text)."""
    defaults = Settings()
    bad = []
    for name in SETTINGS:
        value = getattr(defaults, name)
        if isinstance(value, bool):
            bad.append((Settings.variable(name), "maybe"))
        elif isinstance(value, int):
            bad += [(Settings.variable(name), "abc"), (Settings.variable(name), "0")]
        elif name.endswith(("level", "format")):
            bad.append((Settings.variable(name), "loud"))
    return bad


@pytest.mark.parametrize(("variable", "value"), _bad_values())
@pytest.mark.parametrize("command", [["config"], ["check"], ["assess", str(ROOT / "examples" / "patient-view-request.json")], ["serve"]])
def test_a_bad_setting_is_one_line_naming_the_variable_in_every_subcommand(monkeypatch, capsys, command, variable, value):
    monkeypatch.setenv(variable, value)
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and variable in err and " must be " in err


def test_the_expected_form_is_named():
    with pytest.raises(ConfigError, match=r"RELAPSE_CDS_PORT must be an integer from 1 to 65535, got '70000'"):
        _from({"RELAPSE_CDS_PORT": "70000"})
    with pytest.raises(ConfigError, match=r"RELAPSE_CDS_LOG_FORMAT must be one of text, json"):
        _from({"RELAPSE_CDS_LOG_FORMAT": "xml"})
    assert _from({"RELAPSE_CDS_BENCH_ENDPOINT": "off", "RELAPSE_CDS_ACCESS_LOG": "no"}).access_log is False


def _from(env: dict[str, str]) -> Settings:
    mp = pytest.MonkeyPatch()
    try:
        for key, value in env.items():
            mp.setenv(key, value)
        return Settings.from_env()
    finally:
        mp.undo()


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "service.cli", "config"],
    [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker" / "gunicorn.conf.py"), "service:create_app()"],
], ids=["cli", "container-gunicorn"])
def test_no_traceback_from_the_installed_entry_points(command):
    """As an operator sees it: the real process, its whole stderr, its exit status."""
    done = subprocess.run(command, env={"PATH": "/usr/bin:/bin", "RELAPSE_CDS_PORT": "abc", "RELAPSE_CDS_WORKERS": "many"},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert re.fullmatch(r"relapse-cds: RELAPSE_CDS_(PORT|WORKERS) must be .*\n", done.stderr)


def test_workers_follow_the_cpus_this_process_may_use(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.delenv("RELAPSE_CDS_WORKERS", raising=False)
    assert Settings.from_env().workers == 4
    monkeypatch.setenv("RELAPSE_CDS_WORKERS", "7")
    assert Settings.from_env().workers == 7


def test_config_masks_a_password_in_a_url(monkeypatch):
    settings = Settings(forwarded_allow_ips="postgresql://cds:s3cret-pw@db.internal/cds")
    assert settings.describe()["forwarded_allow_ips"] == "postgresql://cds:***@db.internal/cds"
    assert Settings(extra_mappings=(ROOT / "site.yaml",)).describe()["extra_mappings"] == [str(ROOT / "site.yaml")]
