"""Benchmark: patient-view vs a parse-only endpoint in the same server, on two bodies, plus in-process cost.

Starts `relapse-cds serve` (gunicorn, gevent workers) on loopback with the parse-only endpoint on, then
for each body measures
1. latency: sequential requests alternating the endpoints (p50/p99/mean, client-side, per request);
2. throughput: concurrent clients for a fixed time per endpoint (requests per second).
Bodies: the realistic chart (bench/chart.py: ~300 records the rules read, and routine labs), sent as a
chart opened again (the same resources: the model cache answers) and as a chart opened for the first
time (every resource a new version: validated); and the earlier 300-resource body (bench/patient300.py,
7 records the rules read). Then, in-process (no HTTP), the pipeline's cost on charts of 100 to 3,000
records: lazy (this service, no cache), validate-everything (the earlier way), and a chart opened again.
All loops are bounded; only 127.0.0.1 is contacted. Usage: python bench/run.py [--requests N] [--seconds S]
"""

from __future__ import annotations

import argparse
import copy
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

import chart  # noqa: E402
import patient300  # noqa: E402

SERVICE = "/cds-services/relapse-all-assessment"
BASELINE = "/bench/parse-only"
#: Distinct versions of the chart sent in turn as "first opening": more resources than the model
#: caches of both workers hold, so every one is validated.
COLD_VERSIONS = 64


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


def new_versions(request: dict, count: int) -> list[bytes]:
    """The same chart `count` times, each time with every resource at another meta.versionId."""
    bodies = []
    for n in range(count):
        variant = copy.deepcopy(request)
        for value in variant["prefetch"].values():
            for entry in (value or {}).get("entry", []):
                entry["resource"].setdefault("meta", {})["versionId"] = f"bench-{n}"
        bodies.append(json.dumps(variant).encode())
    return bodies


def latency(port: int, cases: dict[str, tuple[str, list[bytes]]], n: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(n):
        for name, (path, bodies) in cases.items():
            samples[name].append(post(port, path, bodies[i % len(bodies)]))
    return samples


def throughput(port: int, path: str, bodies: list[bytes], clients: int, seconds: float) -> float:
    count = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            post(port, path, bodies[(count[i] * clients + i) % len(bodies)])
            count[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / (time.monotonic() - started)


def serve(port: int, workers: int) -> subprocess.Popen:
    """The service with the parse-only baseline endpoint on, its own log quiet."""
    return start_service(port, workers, dict(os.environ, RELAPSE_CDS_BENCH_ENDPOINT="1", RELAPSE_CDS_LOG_LEVEL="WARNING"))


def _cpu_ms(work) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) * 1000


def in_process(sizes: list[int], rounds: int, grow_all: bool = False) -> list[tuple[int, int, float, float, float, float]]:
    """(records, validated, lazy ms, validate-everything ms, opened-again ms, JSON parse ms) per chart size,
    in CPU time of this process, the fastest of `rounds` runs. The sizes take turns within each round, so
    that a slow spell of the machine falls on all of them alike (on this virtual machine the same work
    varies up to 2x from one minute to the next); the machine's noise only ever adds."""
    from service import create_app, jsontext
    from service.fhir.cache import ModelCache
    from service.fhir.select import select
    from service.pipeline import evaluate
    from service.prefetch import resolve
    from service.render import render

    app = create_app()
    knowledge, service, selector = (app.extensions[k] for k in ("relapse_cds.knowledge", "relapse_cds.service", "relapse_cds.selector"))
    shapes = app.extensions["relapse_cds.shapes"]  # the worker's record shapes, as in the service
    today = date.today()
    requests = [chart.hook_request(size, grow_all=grow_all) for size in sizes]
    caches = [ModelCache(100_000) for _ in sizes]

    def run(request: dict, **kw) -> float:
        if kw.get("lazy", True):
            kw["shapes"] = shapes
        prefetch, pid = request["prefetch"], request["context"]["patientId"]
        started = time.process_time()
        evaluation = evaluate(prefetch, pid, knowledge, service, selector, today, **kw)
        render(evaluation.assessment, knowledge, pid, today.isoformat())
        return (time.process_time() - started) * 1000

    bodies = [json.dumps(r).encode() for r in requests]
    for request, cache in zip(requests, caches):
        run(request, cache=cache)  # fills the cache: "opened again"
    best = [[float("inf")] * 4 for _ in sizes]
    for _ in range(rounds):
        for i, (request, cache, body) in enumerate(zip(requests, caches, bodies)):
            times = (run(request), run(request, lazy=False), run(request, cache=cache), _cpu_ms(lambda: jsontext.loads(body)))
            best[i] = [min(a, b) for a, b in zip(best[i], times)]
    rows = []
    for request, (lazy, full, warm, loads) in zip(requests, best):
        resolved = resolve(request["prefetch"], service)
        pid = request["context"]["patientId"]
        picks = len(select(resolved.resources, pid, selector, resolved.clashes).picks)
        relevant = len(select(resolved.resources, pid, selector, resolved.clashes, lazy=False).picks)
        rows.append((relevant, picks, lazy, full, warm, loads))
    return rows


def after_idle(body: bytes, rounds: int = 60) -> dict[str, tuple[float, float]]:
    """p50 ms, back to back and after 20 ms of idleness each time, of reading the chart's JSON
    in-process (the service's parser) and of a pure CPU loop: on a virtual machine a process that has
    just woken finds its memory out of the caches. In the sequential latency test each of the 2
    workers idles while the other answers, so every request is served by a process that has just woken."""
    from service import jsontext

    def cpu_loop() -> int:
        return sum(i * i for i in range(20_000))

    def p50(work, gap: float) -> float:
        times = []
        for _ in range(rounds):
            if gap:
                time.sleep(gap)
            started = time.perf_counter()
            work()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    return {name: (p50(work, 0), p50(work, 0.02)) for name, work in
            (("reading the chart's JSON", lambda: jsontext.loads(body)), ("a pure CPU loop", cpu_loop))}


def profile(size: int) -> None:
    """Where the time goes in the pipeline (pyinstrument, if installed)."""
    from pyinstrument import Profiler

    from service import create_app
    from service.pipeline import evaluate
    from service.render import render

    app = create_app()
    knowledge, service, selector = (app.extensions[k] for k in ("relapse_cds.knowledge", "relapse_cds.service", "relapse_cds.selector"))
    request = chart.hook_request(size)
    profiler = Profiler(interval=0.0002)
    for lazy in (False, True):
        profiler.start()
        for _ in range(20):
            evaluation = evaluate(request["prefetch"], chart.PATIENT_ID, knowledge, service, selector, date.today(), lazy=lazy)
            render(evaluation.assessment, knowledge, chart.PATIENT_ID, date.today().isoformat())
        profiler.stop()
        print(f"\n--- profile, {'lazy' if lazy else 'validate everything'}, chart of {size} records, 20 runs ---")
        print(profiler.output_text(unicode=False, color=False, show_all=False))
        profiler.reset()


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
    parser.add_argument("--requests", type=int, default=300, help="sequential requests per endpoint and body (latency)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per endpoint and body (throughput)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sizes", default="100,300,1000,3000", help="in-process chart sizes (records the rules read)")
    parser.add_argument("--profile", action="store_true", help="also print a pyinstrument profile of the pipeline")
    args = parser.parse_args()
    if args.profile:
        try:
            import pyinstrument  # noqa: F401 - checked before the run, not after it
        except ImportError:
            parser.error("--profile needs pyinstrument: pip install '.[bench]'")

    realistic = chart.hook_request(300)
    warm_body = json.dumps(realistic).encode()
    cold_bodies = new_versions(realistic, COLD_VERSIONS)
    old_body = json.dumps(patient300.hook_request(300)).encode()
    # The same chart again is answered from the workers' model caches; new versions of it are not.
    cases = {
        "chart: parse-only": (BASELINE, [warm_body]),
        "chart: patient-view, opened again": (SERVICE, [warm_body]),
        "chart: patient-view, first opening": (SERVICE, cold_bodies),
        "earlier body: parse-only": (BASELINE, [old_body]),
        "earlier body: patient-view": (SERVICE, [old_body]),
    }
    port = free_port()
    server = serve(port, args.workers)
    try:
        latency(port, cases, 20)  # warm-up: every worker imports and validates once
        samples = latency(port, cases, args.requests)
        rps = {name: throughput(port, path, bodies, args.clients, args.seconds) for name, (path, bodies) in cases.items()}
    finally:
        server.terminate()
        server.wait(timeout=15)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = in_process(sizes, rounds=7)
    rows_all = in_process(sizes, rounds=7, grow_all=True)
    idle_costs = after_idle(cold_bodies[0])

    records = sum(len(v["entry"]) for v in realistic["prefetch"].values() if isinstance(v, dict) and v.get("resourceType") == "Bundle") + 1
    print(f"relapse-cds benchmark, {date.today().isoformat()}: gunicorn (gevent) {args.workers} workers, {os.cpu_count()} CPUs, loopback, "
          f"{args.requests} sequential requests per row, then {args.clients} clients for {args.seconds:.0f} s per row; "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    read = next((relevant for relevant, *_ in rows if 250 <= relevant <= 350), "?")
    print(f"chart: {records} resources ({read} the rules read), {len(warm_body) / 1024:.0f} KiB; "
          f"earlier body: 300 resources (7 the rules read), {len(old_body) / 1024:.0f} KiB")
    print(f"{'':<40}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'req/s':>8}{'p50 / parse-only':>18}")
    for name in cases:
        s = samples[name]
        base = samples["chart: parse-only" if name.startswith("chart") else "earlier body: parse-only"]
        ratio = f"{percentile(s, 50) / percentile(base, 50):.2f}x"
        print(f"{name:<40}{percentile(s, 50):>9.2f}{percentile(s, 99):>9.2f}{statistics.fmean(s):>9.2f}{rps[name]:>8.0f}{ratio:>18}")
    print("targets (chart): patient-view p99 < 25 ms and p50 <= 3x parse-only")
    for what, (back_to_back, idle) in idle_costs.items():
        print(f"the machine, in-process: {what} takes {back_to_back:.2f} ms back to back, "
              f"{idle:.2f} ms ({idle / back_to_back:.1f}x) after 20 ms idle (p50 of 60)")
    for title, table in (("past 300, blood counts and visits grow (bench/chart.py)", rows),
                         ("every kind scaled alike, marrow MRD series and panels too (grow_all)", rows_all)):
        print(f"\nin-process, chart of N records the rules read (+100 routine labs), fastest CPU ms of 7 runs, sizes in turn (no HTTP); {title}:")
        print(f"{'records':>8}{'validated':>11}{'lazy':>9}{'x vs 300':>10}{'validate all':>14}{'opened again':>14}{'parse JSON':>12}")
        base = next((lazy for relevant, _, lazy, *_ in table if 250 <= relevant <= 350), None)
        for relevant, picks, lazy, full, warm, loads in table:
            growth = f"{lazy / base:.1f}x" if base else "-"
            print(f"{relevant:>8}{picks:>11}{lazy:>9.1f}{growth:>10}{full:>14.1f}{warm:>14.1f}{loads:>12.1f}")
    if args.profile:
        profile(300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
