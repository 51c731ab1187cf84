"""FHIR servers for the fetch tests, on loopback only.

- `medplum_server`: the real FHIR search engine of Medplum (@medplum/fhir-router with its
  MemoryRepository) behind tests/fhir_server/server.mjs, loaded with every fixture patient. It pages
  searches (next links from _count/_offset) and requires a bearer token.
- `FaultProxy`: a small proxy in front of it that injects one fault, chosen per base URL:
  http://127.0.0.1:P/<fault>/<ResourceType or all>/fhir. Faults: ok, slow, 500, 401, malformed,
  notfhir, deep (a well-formed answer nesting JSON 100 levels deep), crossnext (next links to another
  origin), endless (a next link on every page).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import FIXTURES
from server_process import free_port, stop

HERE = Path(__file__).resolve().parent
FHIR_SERVER_DIR = HERE / "fhir_server"
FHIR_TOKEN = "test-access-token-7c1d"
SLOW_S = 4.0


def node_ready() -> str | None:
    """Why the Medplum server cannot run here, or None. Its npm packages are installed on first use
    from the committed lock file (`npm ci`), so the README's plain test command works on a fresh machine."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js and npm are not installed (Node >= 20.19 runs the fetch tests' FHIR server)"
    if not (FHIR_SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FHIR_SERVER_DIR,
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            return f"`npm ci` in tests/fhir_server failed: {done.stderr.strip()[-500:]}"
    return None


def _get(url: str, timeout: float = 2) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback test server
        return response.read()


@contextmanager
def medplum_server(log_path: Path, page_size: int = 5) -> Iterator[str]:
    """Start the Medplum-backed server; yield its FHIR base URL (http://127.0.0.1:P/fhir)."""
    port = free_port()
    command = ["node", "server.mjs", "--port", str(port), "--fixtures", str(FIXTURES), "--page-size", str(page_size),
               "--token", FHIR_TOKEN]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=FHIR_SERVER_DIR, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _get(f"{base}/__requests")
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"FHIR server did not start: {log_path.read_text()}") from None
                    time.sleep(0.2)
            yield f"{base}/fhir"
        finally:
            stop(process)


def requests_seen(fhir_base: str) -> list[dict]:
    return json.loads(_get(fhir_base.rsplit("/fhir", 1)[0] + "/__requests"))


def reset_requests(fhir_base: str) -> None:
    request = urllib.request.Request(fhir_base.rsplit("/fhir", 1)[0] + "/__reset", method="POST")
    with urllib.request.urlopen(request, timeout=2):  # noqa: S310
        pass


class FaultProxy:
    """Forwards GETs to the Medplum server, injecting the fault its base URL names."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rsplit("/fhir", 1)[0]  # http://127.0.0.1:U
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                proxy._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def base(self, fault: str, rtype: str = "all") -> str:
        return f"http://127.0.0.1:{self.port}/{fault}/{rtype}/fhir"

    def __enter__(self) -> "FaultProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        _, fault, rtype, rest = h.path.split("/", 3)
        target_type = rest.removeprefix("fhir/").split("/")[0].split("?")[0]
        hit = rtype in ("all", target_type)
        if hit and fault == "slow":  # answers too late for every deadline that meets it, and never upstream:
            time.sleep(SLOW_S)      # a late forward would be logged by Medplum inside a later test's window
            return self._send(h, 504, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout"}]}')
        if hit and fault in ("500", "401"):
            return self._send(h, int(fault), b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}')
        if hit and fault == "malformed":
            return self._send(h, 200, b'{"resourceType": "Bundle", "entry": [{"resource": ')
        if hit and fault == "notfhir":
            return self._send(h, 200, b'{"hello": "world"}')
        if hit and fault == "deep":
            nested: object = "x"
            for _ in range(100):
                nested = [nested]
            answer = {"resourceType": "Bundle" if "?" in rest else target_type, "id": "deep", "type": "searchset", "implicitRules": nested}
            return self._send(h, 200, json.dumps(answer).encode())
        if hit and fault == "endless":
            me = self.base(fault, rtype)
            page = {"resourceType": "Bundle", "type": "searchset", "entry": [],
                    "link": [{"relation": "next", "url": f"{me}/{target_type}?page={time.monotonic_ns()}"}]}
            return self._send(h, 200, json.dumps(page).encode())
        request = urllib.request.Request(f"{self.upstream}/{rest}", headers={
            k: v for k, v in h.headers.items() if k.lower() in ("authorization", "accept")})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except (urllib.error.URLError, OSError):  # the upstream stopped (end of the test module)
            return self._send(h, 502, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]}')
        mine = f"http://127.0.0.1:{self.port}/{fault}/{rtype}/fhir/".encode()
        upstream_fhir = f"{self.upstream}/fhir/".encode()
        if hit and fault == "crossnext":  # next pages point straight at the upstream: another origin
            body = body.replace(mine, upstream_fhir)
        else:
            body = body.replace(upstream_fhir, mine)
        self._send(h, status, body)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/fhir+json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the service gave up (deadline): fine
            return
