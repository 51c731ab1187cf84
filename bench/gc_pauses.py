"""Benchmark: garbage collections inside requests, with the collection after each answer (service/
gc_policy.py) and without it, two servers side by side in one run.

CPython starts a collection when its count of objects passes a threshold, inside whichever request is
then running; how long it takes depends on what the young generation holds by then. Such a collection
is rare (one in some hundreds of requests) but long, so it shows in the tail, not in p50. Two copies of
`relapse-cds serve` (gevent, 2 workers each) run on loopback: the service as it is, and the same
service with `AfterAnswer.collect` made a no-op (the baseline). Requests alternate between them, so
that a slow spell of the machine falls on both alike: the realistic chart of bench/run.py, every
request a new version of it (the model cache turns over, as on a busy service). Each worker notes
every collection, its duration and whether a CDS call was being answered (`requests_in_flight`, from
the view to the request's teardown), in a file of a temporary directory. Only 127.0.0.1 is contacted;
every wait is bounded. Usage:
    python bench/gc_pauses.py [--requests N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the service, imported inside functions (the server patches sockets first)

import chart  # noqa: E402
from run import COLD_VERSIONS, SERVICE, free_port, new_versions, percentile, post  # noqa: E402

#: Run as `python bench/gc_pauses.py --serve PORT on|off NOTES_DIR`: the service, its collections noted.
_SERVE = "--serve"


def _serve(port: str, policy: str, notes_dir: str) -> int:
    """`relapse-cds serve`, with a gc callback (inherited by the forked workers) noting each collection."""
    import gc

    from service import cli, gc_policy
    from service.api.metrics import requests_in_flight

    if policy == "off":
        gc_policy.AfterAnswer.collect = lambda self: None
    started: list[float] = []
    files: dict[int, object] = {}

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
            return
        if not started:
            return
        pid = os.getpid()
        if pid not in files:
            files[pid] = open(Path(notes_dir) / f"{policy}-{pid}.txt", "a", buffering=1)  # noqa: SIM115 - open for the process's life
        where = "inside" if requests_in_flight() > 0 else "outside"
        files[pid].write(f"{where} {info['generation']} {(time.perf_counter() - started[0]) * 1000:.3f}\n")

    gc.callbacks.append(note)
    return cli.main(["serve", "--port", port, "--workers", "2"])


def _start(port: int, policy: str, notes_dir: str) -> subprocess.Popen:
    env = dict(os.environ, RELAPSE_CDS_LOG_LEVEL="WARNING", RELAPSE_CDS_DATA_DIR=str(Path(notes_dir) / f"data-{policy}"))
    server = subprocess.Popen([sys.executable, __file__, _SERVE, str(port), policy, notes_dir], cwd=HERE.parent,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            post(port, SERVICE, _BODIES[0])
            time.sleep(0.5)
            if server.poll() is None:  # it answered, and it is ours: a server that lost the port has exited
                return server
            raise SystemExit(f"the {policy} server exited (port {port} taken?)")
        except (OSError, RuntimeError):
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit(f"the {policy} server did not start") from None
            time.sleep(0.3)


def _noted(notes_dir: str) -> dict[Path, list[str]]:
    """The lines noted so far, per file. Read before the servers stop: a process collects everything
    once more as it exits, and that is not a collection between requests."""
    return {path: path.read_text().splitlines() for path in Path(notes_dir).glob("*.txt")}


def _stop(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def _collections(notes: dict[Path, list[str]], policy: str, master: int, skip: dict[Path, int]) -> dict[str, dict[str, list[float]]]:
    """Durations (ms) by where ("inside" a request or "outside") and generation, in the workers (not
    the gunicorn master, which answers nothing)."""
    seen: dict[str, dict[str, list[float]]] = {"inside": {}, "outside": {}}
    for path, lines in notes.items():
        if not path.name.startswith(f"{policy}-") or path.name == f"{policy}-{master}.txt":
            continue
        for line in lines[skip.get(path, 0):]:
            where, generation, ms = line.split()
            seen[where].setdefault(generation, []).append(float(ms))
    return seen


def _summary(by_generation: dict[str, list[float]]) -> str:
    if not by_generation:
        return "none"
    return "; ".join(f"generation {g}: {len(v)}, mean {statistics.fmean(v):.2f} ms, max {max(v):.2f} ms"
                     for g, v in sorted(by_generation.items()))


_BODIES: list[bytes] = []


def _full_collection_ms() -> float:
    """A full collection in a process whose model cache is full (in-process, the median of 5): the
    after-answer policy runs one after about every 2,200th answer."""
    import gc

    from service import create_app
    from service.store import StoreSettings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(store_settings=StoreSettings(data_dir=Path(tmp), patient_hash_key="bench-key-" + "0" * 32))
        client = app.test_client()
        for body in _BODIES:  # every version once: more records than the cache holds
            client.post(SERVICE, data=body, content_type="application/json").close()
        assert len(app.extensions["relapse_cds.model_cache"]) == app.extensions["relapse_cds.settings"].model_cache
        times = []
        for _ in range(5):
            started = time.perf_counter()
            gc.collect(2)
            times.append((time.perf_counter() - started) * 1000)
        app.extensions["relapse_cds.store"].audit.flush(3.0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests to each server (after 40 of warm-up)")
    args = parser.parse_args()
    os.environ.setdefault("RELAPSE_CDS_LOG_LEVEL", "WARNING")  # this process's app too (the full collection)
    _BODIES.extend(new_versions(chart.hook_request(300), COLD_VERSIONS))
    times: dict[str, list[float]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as notes_dir:
        servers = {policy: (free_port(), None) for policy in times}
        try:
            for policy in times:
                port = servers[policy][0]
                servers[policy] = (port, _start(port, policy, notes_dir))
            for i in range(40):  # warm-up: both workers of each server import, validate and fill their caches
                for policy, (port, _) in servers.items():
                    post(port, SERVICE, _BODIES[i % len(_BODIES)])
            warm_up = {path: len(lines) for path, lines in _noted(notes_dir).items()}  # not counted
            for i in range(args.requests):
                for policy in (("on", "off") if i % 2 else ("off", "on")):  # neither always follows the other
                    times[policy].append(post(servers[policy][0], SERVICE, _BODIES[i % len(_BODIES)]))
            if any(server.poll() is not None for _, server in servers.values()):
                raise SystemExit("a server stopped during the run (was its port taken?)")
            notes = _noted(notes_dir)
        finally:
            _stop([server for _, server in servers.values() if server is not None])
        seen = {policy: _collections(notes, policy, servers[policy][1].pid, warm_up) for policy in times}
    print(f"patient-view over HTTP, chart opened for the first time, two servers (gevent, 2 workers each) "
          f"answering in turn, {args.requests} requests each:")
    for policy, label in (("off", "CPython's triggers only (baseline)"), ("on", "collection after each answer")):
        t = times[policy]
        print(f"  {label}: p50 {statistics.median(t):.2f} ms, p99 {percentile(t, 99):.2f} ms, "
              f"p99.9 {percentile(t, 99.9):.2f} ms, max {max(t):.2f} ms")
        print(f"    collections inside a request: {_summary(seen[policy]['inside'])}")
        print(f"    collections between requests: {_summary(seen[policy]['outside'])}")
    print(f"a full collection with the model cache full (in-process, median of 5): {_full_collection_ms():.1f} ms")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == _SERVE:
        sys.exit(_serve(*sys.argv[2:]))
    sys.exit(main())
