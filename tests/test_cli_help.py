"""What a newcomer asks the command first: its version, each option's default, and what the README
says of the test suite (how many tests, and why some skip outside CI) still being true."""

from __future__ import annotations

import argparse
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


def test_the_readme_test_count_is_current():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    collected = int(re.search(r"^(\d+) tests? collected", done.stdout, re.M).group(1))
    stated = int(re.search(r"about (\d+) tests", _tests_section()).group(1))
    assert abs(collected - stated) <= 0.2 * collected, f"README says about {stated} tests; the suite has {collected}"


def test_the_readme_says_why_tests_skip_outside_ci():
    """Every skip condition that names a variable is explained in the README's Tests section, with
    the number of tests it skips."""
    section = " ".join(_tests_section().split())
    skipping = {}
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for variable in re.findall(r'reason=".*?\(set (RELAPSE_CDS_\w+)\)"', path.read_text()):
            skipping.setdefault(variable, []).append(path)
    assert skipping
    for variable, paths in skipping.items():
        count = sum(len(re.findall(r"^def test_", p.read_text(), re.M)) for p in paths)
        assert f"`{variable}`" in section and f"{count} tests skip" in section, f"README: why {count} tests skip ({variable})"
