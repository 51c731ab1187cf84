"""What a newcomer asks the command first: its version, each option's default, and what the README
says of the test suite (how many tests, and why some skip outside CI) still being true."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

import pytest

from server_process import ROOT
from service.cli import build_parser, main

README = (ROOT / "README.md").read_text()


def test_version_is_the_package_version(capsys):
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"relapse-cds {declared}\n"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_option_says_its_default(name):
    for action in _subcommands()[name]._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            assert action.help and "(default: " in action.help, f"{name} {action.option_strings[0]}: no default in --help"


def test_serve_help_shows_the_defaults_even_with_a_bad_setting(monkeypatch, capsys):
    monkeypatch.setenv("RELAPSE_CDS_PORT", "abc")
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0
    for default in ("$RELAPSE_CDS_HOST, else 127.0.0.1", "$RELAPSE_CDS_PORT, else 8080", "$RELAPSE_CDS_WORKERS", "(default: off)"):
        assert default in help_text


def _tests_section() -> str:
    return README.split("\n## Tests", 1)[1].split("\n## ", 1)[0]


_PLUGIN = """
import json, re

def pytest_collection_finish(session):
    skips = {}
    for item in session.items:
        for mark in item.iter_markers("skipif"):
            for variable in re.findall(r"\\(set (RELAPSE_CDS_\\w+)\\)", str(mark.kwargs.get("reason", ""))):
                skips[variable] = skips.get(variable, 0) + 1
    print("SUITE " + json.dumps({"collected": len(session.items), "skips": skips}))
"""


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> dict:
    """The whole suite as pytest collects it: how many tests, and how many skip for lack of a variable."""
    plugin_dir = tmp_path_factory.mktemp("plugin")
    (plugin_dir / "suite_count.py").write_text(_PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(plugin_dir), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "suite_count"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    line = next(line for line in done.stdout.splitlines() if line.startswith("SUITE "))
    return json.loads(line.removeprefix("SUITE "))


def test_the_readme_test_count_is_current(suite):
    stated = int(re.search(r"about ([\d,]+) tests", _tests_section()).group(1).replace(",", ""))
    assert abs(suite["collected"] - stated) <= 0.2 * suite["collected"], f"README says about {stated} tests; the suite has {suite['collected']}"


def test_the_readme_says_why_tests_skip_outside_ci(suite):
    """Every skip condition that names a variable is explained in the README's Tests section, with
    the number of tests it skips."""
    section = " ".join(_tests_section().split())
    assert suite["skips"]
    for variable, count in suite["skips"].items():
        assert f"`{variable}`" in section and f"{count} tests skip" in section, f"README: why {count} tests skip ({variable})"
