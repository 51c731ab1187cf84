"""Every fenced block of the README is run or checked here, so that the README cannot drift from the
code: shell commands are run (servers on loopback, ports rewritten; commands that install or build
are checked against `.ci/run` and the repository), YAML files are written and validated with
`relapse-cds check`, the JSON excerpt is compared with the answer the service really gives, and the
layout lists directories that exist. A block or command this module does not know fails the test."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from conftest import check_body
from server_process import ROOT, free_port, running
from service.config import Settings

README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()
SETTING_VARIABLES = {Settings.variable(name) for name in Settings.__dataclass_fields__ if name != "extras"}


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int

    @property
    def file_name(self) -> str | None:
        """A block whose first line is a comment naming a file (`# site.yaml`) is that file."""
        first = self.text.splitlines()[0] if self.text else ""
        match = re.fullmatch(r"#\s*([\w.-]+\.(?:ya?ml|json))\s*", first)
        return match.group(1) if match else None


def _blocks() -> list[Block]:
    found, lines, i = [], README.splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^```(\S*)\s*$", lines[i])
        if opening:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            found.append(Block(opening.group(1), "\n".join(lines[i + 1:end]), i + 1))
            i = end
        i += 1
    return found


BLOCKS = _blocks()


def _commands(block: Block) -> list[tuple[dict[str, str], list[str]]]:
    """The simple commands of a shell block: (environment assignments, argv), `&&` chains split."""
    out = []
    pending = ""
    for line in block.text.replace("\\\n", " ").splitlines():
        pending += line + "\n"
        try:
            tokens = shlex.split(pending, comments=True)
        except ValueError:  # a quoted argument goes on over the next line
            continue
        pending = ""
        while tokens:
            cut = tokens.index("&&") if "&&" in tokens else len(tokens)
            simple, tokens = tokens[:cut], tokens[cut + 1:]
            env = {}
            while simple and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", simple[0]):
                key, _, value = simple.pop(0).partition("=")
                env[key] = value
            out.append((env, simple))
    return out


# -- a workspace as a reader has it: the repository's example and config files, plus the README's own files


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reader")
    for name in ("examples", "docker"):
        (root / name).symlink_to(ROOT / name)
    for block in BLOCKS:
        if block.file_name:
            (root / block.file_name).write_text(block.text + "\n")
    return root


class Runner:
    """Runs the commands of the README on this machine, on loopback ports, and checks their outcome."""

    def __init__(self, workspace: Path, stack: ExitStack, log_dir: Path):
        self.workspace, self.stack, self.log_dir = workspace, stack, log_dir
        self.base: str | None = None  # the service a later `curl` talks to ("With the service running")

    def run(self, env: dict[str, str], argv: list[str]) -> None:
        handler = {"python3": self.venv, ".": self.venv, "pip": self.pip, "python": self.python,
                   "relapse-cds": self.relapse_cds, "curl": self.curl, "gunicorn": self.gunicorn,
                   "docker": self.docker}.get(argv[0])
        assert handler, f"README command not covered by tests/test_readme.py: {shlex.join(argv)}"
        assert set(env) <= SETTING_VARIABLES, f"unknown setting in the README: {sorted(set(env) - SETTING_VARIABLES)}"
        handler(env, argv)

    # installing and testing: what .ci/run does on a clean clone
    def venv(self, env, argv):
        assert shlex.join(argv) in ("python3 -m venv .venv", ". .venv/bin/activate") and shlex.join(argv) in CI

    def pip(self, env, argv):
        assert argv[:2] == ["pip", "install"] and argv[2] in (".", ".[test]"), argv
        if argv[2] == ".":  # CI installs the runtime dependencies alone in a venv of their own and serves
            assert "bash .ci/serve-check.sh" in CI and "pip install --quiet ." in (ROOT / ".ci" / "serve-check.sh").read_text()
        if argv[2] == ".[test]":
            assert "pip install --quiet '.[test]'" in CI
            assert re.search(r"^\[project\.optional-dependencies\]\ntest = ", (ROOT / "pyproject.toml").read_text(), re.M)

    def python(self, env, argv):
        assert argv == ["python", "-m", "pytest"] and "python -m pytest" in CI  # this very suite

    # the service itself
    def _start(self, env: dict[str, str], command: list[str], port: int, extra_env: dict[str, str] | None = None) -> str:
        log = self.log_dir / f"server-{port}.log"
        return self.stack.enter_context(running(command, log, port, env={**env, **(extra_env or {})}, cwd=self.workspace))

    def relapse_cds(self, env, argv):
        command = [sys.executable, "-m", "service.cli", *argv[1:]]
        if argv[1] == "serve":
            port = free_port()
            self.base = self._start(env, [*command, "--port", str(port)], port, {"RELAPSE_CDS_WORKERS": "1"})
            discovery = requests.get(f"{self.base}/cds-services", timeout=10).json()
            check_body("/cds-services", 200, discovery)
            for key, value in env.items():  # a site's file served: its codes are in the prefetch
                if key == "RELAPSE_CDS_EXTRA_MAPPINGS":
                    for code in re.findall(r'code: "?([^",}]+)"?', (self.workspace / value).read_text()):
                        assert code in json.dumps(discovery), f"{code} from {value} is not asked for in the prefetch"
            return
        done = subprocess.run(command, env={**_environ(), **env}, cwd=self.workspace, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{shlex.join(argv)} failed: {done.stderr}"
        if argv[1] == "assess":
            json.loads(done.stdout)

    def curl(self, env, argv):
        assert self.base, "a curl example needs a running service before it in the README"
        method, headers, data, url = "GET", {}, None, None
        args = iter(argv[1:])
        for arg in args:
            if arg == "-s":
                continue
            if arg == "-X":
                method = next(args)
            elif arg == "-H":
                key, _, value = next(args).partition(":")
                headers[key.strip()] = value.strip()
            elif arg in ("-d", "--data"):
                value = next(args)
                data = (self.workspace / value[1:]).read_bytes() if value.startswith("@") else value.encode()
                method = "POST" if method == "GET" else method
            elif arg.startswith(("http://", "https://")):
                url = arg
            else:
                raise AssertionError(f"curl option not understood by the README test: {arg}")
        path = urlsplit(url).path
        response = requests.request(method, self.base + path, data=data, headers=headers, timeout=10)
        check_body(path, response.status_code, response.json())
        assert response.status_code == 200, response.text

    def gunicorn(self, env, argv):
        port = free_port()
        base = self._start(env, [sys.executable, "-m", *argv], port, {"RELAPSE_CDS_BIND": f"127.0.0.1:{port}", "RELAPSE_CDS_WORKERS": "1"})
        assert requests.get(f"{base}/health", timeout=10).json()["status"] == "ok"

    # the container: no engine here; what it names must exist and agree with the image
    def docker(self, env, argv):
        args = argv[2:]
        options = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-") and not args[i + 1].startswith("-")}
        if argv[1] == "build":
            assert (ROOT / options["-f"]).is_file() and args[-1] == "." and options["-t"] == "relapse-cds"
        elif argv[1] == "run":
            assert args[-1] == "relapse-cds" and "--rm" in args
            published = [args[i + 1] for i, a in enumerate(args) if a == "-p"]
            assert all(p.split(":")[1] == Settings().bind.rsplit(":", 1)[1] for p in published), published
            for i, a in enumerate(args):
                if a == "-e":
                    assert args[i + 1].split("=")[0] in SETTING_VARIABLES, args[i + 1]
                if a == "-v":  # a file of the README mounted read-only where the -e setting points
                    source, target, mode = args[i + 1].replace("$PWD/", "").split(":")
                    assert (self.workspace / source).is_file() and mode == "ro"
                    assert any(args[j] == "-e" and args[j + 1].endswith("=" + target) for j in range(len(args) - 1))
        else:
            raise AssertionError(f"docker {argv[1]} not covered by the README test")


def _environ() -> dict[str, str]:
    import os

    # The settings of the test process are not the reader's; its throwaway data directory is kept, so
    # that the README's commands never write a store into the home directory.
    return {k: v for k, v in os.environ.items() if not k.startswith("RELAPSE_CDS_") or k == "RELAPSE_CDS_DATA_DIR"}


@pytest.mark.e2e
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "sh"], ids=lambda b: f"line{b.line}")
def test_shell_examples_run(block, workspace, tmp_path):
    with ExitStack() as stack:
        runner = Runner(workspace, stack, tmp_path)
        if any(argv[0] == "curl" for _, argv in _commands(block)) and not any(argv[:2] == ["relapse-cds", "serve"] for _, argv in _commands(block)):
            runner.relapse_cds({}, ["relapse-cds", "serve"])  # "With the service running, in another shell"
        for env, argv in _commands(block):
            runner.run(env, argv)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "yaml"], ids=lambda b: f"line{b.line}")
def test_yaml_examples_are_valid_site_files(block, workspace):
    assert block.file_name, "a YAML example starts with a comment naming its file (# site.yaml)"
    if block.file_name == "clients.yaml":  # trusted CDS clients: checked as RELAPSE_CDS_CLIENTS
        command, env = ["check"], {"RELAPSE_CDS_CLIENTS": block.file_name, "RELAPSE_CDS_PUBLIC_URL": "https://cds.example.org"}
    else:
        command, env = ["check", block.file_name], {}
    done = subprocess.run([sys.executable, "-m", "service.cli", *command], env={**_environ(), **env},
                          cwd=workspace, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:")


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "json"], ids=lambda b: f"line{b.line}")
def test_json_examples_are_what_the_service_answers(block, workspace):
    excerpt = json.loads("{" + block.text + "}" if block.text.lstrip().startswith('"') else block.text)
    assert list(excerpt) == ["extension"], "the only JSON example is the answer's extension"
    shown = excerpt["extension"]["org.relapse-cds.assessment"]
    done = subprocess.run([sys.executable, "-m", "service.cli", "assess", "examples/patient-view-request.json", "--cards",
                           "--as-of", shown["asOf"]], env=_environ(), cwd=workspace, capture_output=True, text=True, timeout=120)
    actual = json.loads(done.stdout)["extension"]["org.relapse-cds.assessment"]
    assert list(shown) == [k for k in actual if k in shown], "the README's fields, in the answer's order"
    for key, value in shown.items():
        assert _matches(value, actual[key]), f"README shows {key}={value!r}; the service answers {actual[key]!r}"


def _matches(shown: object, actual: object) -> bool:
    """Equal, where the README's placeholders stand for what they elide: a string "<...>" for any
    value, a string ending in "..." for any string it begins, an item "..." in a list for any number of items there."""
    if isinstance(shown, str) and shown.startswith("<") and shown.endswith(">"):
        return True
    if isinstance(shown, str) and shown.endswith("...") and isinstance(actual, str):
        return actual.startswith(shown[:-3])
    if isinstance(shown, list) and isinstance(actual, list):
        if not shown:
            return not actual
        if shown[0] == "...":
            return any(_matches(shown[1:], actual[i:]) for i in range(len(actual) + 1))
        return bool(actual) and _matches(shown[0], actual[0]) and _matches(shown[1:], actual[1:])
    if isinstance(shown, dict) and isinstance(actual, dict):
        return shown.keys() == actual.keys() and all(_matches(v, actual[k]) for k, v in shown.items())
    return shown == actual


def test_the_layout_block_lists_what_is_there():
    layouts = [b for b in BLOCKS if b.lang == ""]
    assert len(layouts) == 1
    for line in layouts[0].text.splitlines():
        assert (ROOT / line.split()[0]).exists(), line


def test_every_block_has_a_test():
    assert {b.lang for b in BLOCKS} <= {"sh", "yaml", "json", ""}, "a README block of a kind no test runs"
    assert all(b.file_name for b in BLOCKS if b.lang == "yaml")
