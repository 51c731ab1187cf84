"""Deployment files: the container's gunicorn config really serves, and the Dockerfile refers to files
that exist. (No Docker engine runs in CI; these checks catch what can break without one.)"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import requests

from conftest import SERVICE_URL, check_body
from server_process import ROOT, free_port, running
from test_architecture import imported_modules

pytestmark = pytest.mark.e2e
DOCKERFILE = ROOT / "docker" / "Dockerfile"
EXAMPLE = ROOT / "examples" / "patient-view-request.json"


def test_container_gunicorn_config_serves_the_example_request(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker" / "gunicorn.conf.py"), "service:create_app()"]
    env = {"RELAPSE_CDS_BIND": f"127.0.0.1:{port}", "RELAPSE_CDS_WORKERS": "2"}
    with running(command, tmp_path / "gunicorn.log", port, env=env) as base:
        discovery = requests.get(f"{base}/cds-services", timeout=10)
        check_body("/cds-services", discovery.status_code, discovery.json())
        response = requests.post(base + SERVICE_URL, data=EXAMPLE.read_bytes(), headers={"Content-Type": "application/json"}, timeout=10)
        check_body(SERVICE_URL, response.status_code, response.json())
    got = response.json()["extension"]["org.relapse-cds.assessment"]
    assert (got["relapseNumber"], got["cogRisk"], got["hsct"]) == (1, "high", "recommended")
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Booting worker" in log and log.count("Booting worker") >= 2
    assert "Control socket" not in log  # the container user has no writable $HOME for it
    assert json.loads(EXAMPLE.read_text())["context"]["patientId"] not in log


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [(m.group(1).upper(), m.group(2)) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M) if not m.group(1).startswith("#")]


def test_dockerfile_copies_only_files_that_exist():
    copies = [args.split() for op, args in _instructions() if op == "COPY" and "--from" not in args]
    assert copies
    for parts in copies:
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repository"


def test_container_runs_as_non_root_under_gunicorn_with_the_shipped_config():
    instructions = _instructions()
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    cmd = [args for op, args in instructions if op == "CMD"][-1]
    assert "gunicorn" in cmd and "/etc/relapse-cds/gunicorn.conf.py" in cmd and "service:create_app()" in cmd
    assert any(op == "COPY" and args.endswith("/etc/relapse-cds/gunicorn.conf.py") for op, args in instructions)


# -- the image's layers and pins (issue: a code change must not reinstall the dependencies) -----------

LOCK = ROOT / "docker" / "requirements.lock"
BUILD_LOCK = ROOT / "docker" / "build-requirements.lock"


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for op, args in _instructions():
        if op == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((op, args))
    return stages


def _copies_code(op: str, args: str) -> bool:
    """A COPY that brings the application (its sources, knowledge files or the built wheel)."""
    return op == "COPY" and any(part.split("/")[0] in ("service", "cards", "mappings", ".") or part.endswith(".whl")
                                for part in args.split()[:-1] if not part.startswith("--"))


def _pip_installs(stage: list[tuple[str, str]]) -> list[str]:
    return [command.strip() for op, args in stage if op == "RUN" for command in re.split(r"&&|;", args) if "pip install" in command]


@pytest.mark.parametrize("stage", [0, 1], ids=["build", "runtime"])
def test_each_stage_installs_its_pinned_dependencies_before_any_code_is_copied(stage):
    instructions = _stages()[stage]
    first_code = next(i for i, (op, args) in enumerate(instructions) if _copies_code(op, args))
    installs = [i for i, (op, args) in enumerate(instructions) if op == "RUN" and re.search(r"pip install .*-r \S+\.lock", args)]
    assert installs and installs[0] < first_code, "the dependencies must be installed from the lock file before the code is copied"
    for op, args in instructions[:installs[0]]:
        if op == "COPY":  # the dependency layer depends on the lock file alone
            assert all(part.endswith(".lock") for part in args.split()[:-1]), args


def test_every_pip_install_is_pinned_or_offline():
    installs = [command for stage in _stages() for command in _pip_installs(stage)]
    assert installs
    for command in installs:
        from_lock = re.search(r"-r \S+\.lock\b", command)
        offline_wheel = "--no-index" in command and command.rstrip().endswith(".whl")
        assert from_lock or offline_wheel, f"unpinned install in the Dockerfile: {command}"
    build = [args for op, args in _stages()[0] if op == "RUN" and "python -m build" in args]
    assert build and "--no-isolation" in build[0], "an isolated build would fetch unpinned build tools"


def _pins(path) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version and re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), f"{path.name}: not pinned exactly: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def _runtime_closure() -> dict[str, list]:
    """Every distribution the installed relapse-cds needs at run time (markers evaluated; none of
    relapse-cds's own extras, but the extras its dependencies ask for, e.g. psycopg[binary])."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    def requires(name: str, extras: frozenset[str] = frozenset()) -> list[Requirement]:
        reqs = [Requirement(r) for r in distribution(name).requires or []]
        return [r for r in reqs if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in ("", *extras))]

    closure: dict[str, list] = {}
    todo = [("relapse-cds", r) for r in requires("relapse-cds")]
    while todo:
        _, req = todo.pop()
        key = canonicalize_name(req.name)
        closure.setdefault(key, []).append(req)
        if len(closure[key]) == 1:
            todo += [(key, r) for r in requires(req.name, frozenset(req.extras))]
    return closure


def test_the_lock_pins_every_runtime_dependency_and_only_those():
    pins, closure = _pins(LOCK), _runtime_closure()
    assert set(pins) == set(closure), ("regenerate docker/requirements.lock (command in its header): "
                                       f"missing {sorted(set(closure) - set(pins))}, extra {sorted(set(pins) - set(closure))}")
    for name, reqs in closure.items():
        for req in reqs:  # every locked version satisfies what pyproject.toml and the libraries ask
            assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} does not satisfy {req}"


def test_pip_install_alone_installs_what_the_service_and_its_workers_import():
    """`pip install .` must serve on its own: every module the service's code and gunicorn's gevent
    worker import comes from the runtime dependencies. The test extras install more (pytest brings
    `packaging`), which once hid that gunicorn's gevent worker needs it only through the `gevent` extra."""
    from importlib.metadata import packages_distributions
    from importlib.util import find_spec

    from packaging.utils import canonicalize_name

    providers = packages_distributions()
    closure = set(_runtime_closure())
    files = sorted((ROOT / "service").rglob("*.py")) + [Path(find_spec(module).origin) for module in
                                                         ("gunicorn.workers.ggevent", "gunicorn.app.base")]
    missing = set()
    for path in files:
        top_level = {name.split(".")[0] for name in imported_modules(path) if not name.startswith(".")}
        for name in top_level - set(sys.stdlib_module_names) - {"service", "__future__"}:
            if not {canonicalize_name(d) for d in providers.get(name, [])} & closure:
                missing.add(f"{path.name} imports {name}")
    assert not missing, f"not installed by `pip install .`: {sorted(missing)}"


def test_the_build_tools_are_pinned_and_satisfy_the_build_system():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = _pins(BUILD_LOCK)
    text = (ROOT / "pyproject.toml").read_text()
    requires = re.search(r"^requires = \[(.*?)\]", text, re.M | re.S).group(1)
    for raw in re.findall(r'"([^"]+)"', requires) + ["build"]:
        req = Requirement(raw)
        assert req.specifier.contains(pins[canonicalize_name(req.name)]), f"{BUILD_LOCK.name} does not satisfy {req}"


_WORKERS_OF_CONFIG = """
import os, runpy, sys
os.sched_getaffinity = lambda pid: {0, 1}
os.cpu_count = lambda: 64
print(runpy.run_path(sys.argv[1])["workers"])
"""


def test_the_container_runs_one_worker_per_usable_cpu_plus_one():
    """os.sched_getaffinity: the CPUs this container may use (a cpuset), not the host's count. In a
    child process: the config makes sockets cooperative (gevent) for the whole process it runs in."""
    import os
    import subprocess

    conf = str(ROOT / "docker" / "gunicorn.conf.py")
    env = {k: v for k, v in os.environ.items() if k != "RELAPSE_CDS_WORKERS"}
    workers = lambda extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", _WORKERS_OF_CONFIG, conf], env=dict(env, **extra), cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()
    assert workers({}) == "3"
    assert workers({"RELAPSE_CDS_WORKERS": "5"}) == "5"
