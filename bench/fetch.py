"""Benchmark: what fetching costs, against full prefetch, on the same server in the same run.

Starts, on loopback only: the test FHIR server (Medplum's search engine, tests/fhir_server; needs
`npm ci` there), a caching front of it that answers instantly from recorded answers (what remains is
relapse-cds's own fetching cost: HTTP, threads, paging, JSON), and `relapse-cds serve` (gunicorn) in
open mode with both allowed. Then sends sequential patient-view requests, alternating the modes:
  full      every key prefetched (the baseline)
  none      no prefetch: every key fetched (searches paged by --page-size)
  partial   Patient and Observations absent: only those fetched
and prints p50/p99/mean latency per mode and the overhead against full prefetch (client-side, per
request). All loops are bounded. Usage: python bench/fetch.py [--requests N] [--page-size N]
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))

from fhir_test_servers import medplum_server, node_ready  # noqa: E402
from run import free_port, percentile, start_service  # noqa: E402
from test_fetch import AUTH, as_stored  # noqa: E402

from conftest import FIXTURES  # noqa: E402

SERVICE = "/cds-services/relapse-all-assessment"


class InstantFhir:
    """Answers each GET from the first answer the upstream gave to it (same path and query)."""

    def __init__(self, upstream: str):
        self.upstream, self.answers = upstream.rsplit("/fhir", 1)[0], {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and the
                # client's delayed ACK add 40 ms to every reused connection (a benchmark artefact).
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                owner.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        if h.path not in self.answers:
            request = urllib.request.Request(self.upstream + h.path, headers={"Authorization": h.headers.get("Authorization", "")})
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                body = response.read()
            self.answers[h.path] = body.replace(f"{self.upstream}/fhir/".encode(), f"{self.base}/".encode())
        body = self.answers[h.path]
        h.send_response(200)
        h.send_header("Content-Type", "application/fhir+json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def post(port: int, body: bytes) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", SERVICE, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    problems = json.loads(answer)["extension"]["org.relapse-cds.assessment"].get("problems", []) if response.status == 200 else []
    if response.status != 200 or any(p.startswith("fetch ") for p in problems):
        raise RuntimeError(f"answered {response.status}; a fetch failed or was cut: {[p for p in problems if p.startswith('fetch ')]}")
    return (time.perf_counter() - started) * 1000


def bodies(fhir_base: str, instant_base: str, fixture: str) -> dict[str, bytes]:
    full = as_stored(FIXTURES / f"{fixture}.json")

    def fetching(base: str, drop: tuple[str, ...] | None) -> dict:
        body = copy.deepcopy(full)
        if drop is None:
            body.pop("prefetch")
        else:
            for key in drop:
                body["prefetch"].pop(key)
        return dict(body, fhirServer=base, fhirAuthorization=dict(AUTH))

    modes = {"full": full}
    for label, base in (("Medplum", fhir_base), ("instant", instant_base)):
        modes[f"none ({label})"] = fetching(base, None)
        modes[f"partial ({label})"] = fetching(base, ("patient", "observations"))
    return {mode: json.dumps(body).encode() for mode, body in modes.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="sequential requests per mode")
    parser.add_argument("--page-size", type=int, default=5, help="the FHIR server's search page size")
    parser.add_argument("--patient", default="b-second-marrow-relapse", help="fixture patient (tests/fixtures/patients)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    problem = node_ready()
    if problem:
        raise SystemExit(problem)

    with tempfile.TemporaryDirectory() as tmp, medplum_server(Path(tmp) / "medplum.log", args.page_size) as fhir_base:
        instant = InstantFhir(fhir_base)
        port = free_port()
        env = dict(os.environ, RELAPSE_CDS_LOG_LEVEL="WARNING", RELAPSE_CDS_FETCH_DEADLINE_S="20",
                   RELAPSE_CDS_FHIR_ALLOW=f"{fhir_base},{instant.base}")
        server = start_service(port, args.workers, env)
        try:
            modes = bodies(fhir_base, instant.base, args.patient)
            for body in modes.values():  # warm-up: workers, the Medplum JIT, the instant server's answers
                for _ in range(4):
                    post(port, body)
            samples: dict[str, list[float]] = {mode: [] for mode in modes}
            for _ in range(args.requests):
                for mode, body in modes.items():
                    samples[mode].append(post(port, body))
        finally:
            server.terminate()
            server.wait(timeout=15)
            instant.server.shutdown()

    pages = sum(1 for path in instant.answers if "_offset=" in path)
    print(f"relapse-cds fetch benchmark: patient {args.patient}, search page size {args.page_size} "
          f"({len(instant.answers)} distinct FHIR GETs per no-prefetch request, {pages} of them next pages), "
          f"{args.requests} requests per mode, gunicorn {args.workers} workers, {os.cpu_count()} CPUs, loopback")
    full = samples["full"]
    print(f"{'mode':<22}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'+p50 ms':>9}{'+p99 ms':>9}")
    for mode, s in samples.items():
        print(f"{mode:<22}{percentile(s, 50):>9.2f}{percentile(s, 99):>9.2f}{statistics.fmean(s):>9.2f}"
              f"{percentile(s, 50) - percentile(full, 50):>9.2f}{percentile(s, 99) - percentile(full, 99):>9.2f}")
    print("+p50/+p99: overhead against full prefetch. 'instant' answers from memory: relapse-cds's own fetching "
          "cost; 'Medplum' adds the test server's search time (its in-memory repository scans every resource).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
