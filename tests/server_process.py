"""Start a real server process on a loopback port and wait until it answers /health."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(port: int, workers: int = 2) -> list[str]:
    """`relapse-cds serve` on a loopback port, as this checkout's Python runs it."""
    return [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    """The test process's environment, without its own metrics directory (a server counts in its own)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return dict(env, **(extra or {}))


def wait_until_healthy(process: subprocess.Popen, base: str, log_path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not _healthy(base):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {log_path.read_text()}")
        time.sleep(0.2)


@contextmanager
def running(command: list[str], log_path: Path, port: int, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Iterator[str]:
    """Run `command` (which must listen on 127.0.0.1:`port`); yield its base URL; stop it after."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=_child_env(env), cwd=cwd,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(process, base, log_path)
            yield base
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    """Terminate a process this test started; kill it if it does not stop in time."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
