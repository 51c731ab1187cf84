"""Benchmark: patient-view with a complete 300-resource prefetch vs a parse-only endpoint, same server.

Starts `relapse-cds serve` (gunicorn) on loopback with the parse-only endpoint enabled, then measures
1. latency: sequential requests alternating the two endpoints (p50/p99/mean, client-side, per request);
2. throughput: concurrent clients for a fixed time per endpoint (requests per second);
3. in-process: the pipeline alone (evaluate + render) vs json.loads of the same body, no HTTP.
All loops are bounded; only 127.0.0.1 is contacted. Usage: python bench/run.py [--requests N] [--seconds S]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from patient300 import PATIENT_ID, hook_request  # noqa: E402

SERVICE = "/cds-services/relapse-all-assessment"
BASELINE = "/bench/parse-only"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, path: str, body: bytes) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def latency(port: int, body: bytes, n: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {SERVICE: [], BASELINE: []}
    for _ in range(n):
        for path in (BASELINE, SERVICE):
            samples[path].append(post(port, path, body))
    return samples


def throughput(port: int, path: str, body: bytes, clients: int, seconds: float) -> float:
    count = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            post(port, path, body)
            count[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / (time.monotonic() - started)


def in_process(body: bytes, n: int) -> tuple[float, float]:
    from service import create_app
    from service.pipeline import evaluate
    from service.render import render

    app = create_app()
    knowledge, service, selector = (app.extensions[k] for k in ("relapse_cds.knowledge", "relapse_cds.service", "relapse_cds.selector"))
    parsed = json.loads(body)
    t = time.perf_counter()
    for _ in range(n):
        json.loads(body)
    parse_ms = (time.perf_counter() - t) / n * 1000
    t = time.perf_counter()
    for _ in range(n):
        evaluation = evaluate(parsed["prefetch"], PATIENT_ID, knowledge, service, selector, date.today())
        render(evaluation.assessment, knowledge, PATIENT_ID, date.today().isoformat())
    return parse_ms, (time.perf_counter() - t) / n * 1000


def start_service(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    """`relapse-cds serve` on 127.0.0.1:`port`, once it answers /health."""
    server = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", str(workers)],
                              cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("server did not start") from None
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="sequential requests per endpoint (latency)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per endpoint (throughput)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--resources", type=int, default=300)
    args = parser.parse_args()

    request = hook_request(args.resources)
    body = json.dumps(request).encode()
    resources = 1 + sum(len(v["entry"]) for v in request["prefetch"].values() if isinstance(v, dict) and v.get("resourceType") == "Bundle")
    port = free_port()
    env = dict(os.environ, RELAPSE_CDS_BENCH_ENDPOINT="1", RELAPSE_CDS_LOG_LEVEL="WARNING")
    server = start_service(port, args.workers, env)
    try:
        latency(port, body, 30)  # warm-up: every worker imports and validates once
        samples = latency(port, body, args.requests)
        rps = {path: throughput(port, path, body, args.clients, args.seconds) for path in (BASELINE, SERVICE)}
    finally:
        server.terminate()
        server.wait(timeout=15)
    parse_ms, pipeline_ms = in_process(body, 200)

    print(f"relapse-cds benchmark: {resources} resources, {len(body) / 1024:.0f} KiB body, gunicorn {args.workers} workers, "
          f"{os.cpu_count()} CPUs, loopback")
    print(f"{'endpoint':<52}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'req/s':>9}")
    for label, path in (("parse-only baseline " + BASELINE, BASELINE), ("patient-view " + SERVICE, SERVICE)):
        s = samples[path]
        print(f"{label:<52}{percentile(s, 50):>9.2f}{percentile(s, 99):>9.2f}{statistics.fmean(s):>9.2f}{rps[path]:>9.0f}")
    ratio = percentile(samples[SERVICE], 50) / percentile(samples[BASELINE], 50)
    print(f"service/baseline p50 ratio: {ratio:.2f}x (target <= 3x); service p99: {percentile(samples[SERVICE], 99):.2f} ms (target < 25 ms)")
    print(f"in-process: json.loads {parse_ms:.2f} ms; pipeline (select, validate, features, rules, cards) {pipeline_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
