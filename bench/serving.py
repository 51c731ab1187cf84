"""Serving set-ups compared: latency, throughput, and a normal request's time while 10 clients send slowly.

For each set-up (gunicorn sync, gthread, gevent; waitress), starts the service on loopback and measures
patient-view on the realistic chart (p50/p99 of sequential requests, req/s with 4 clients), then opens
10 connections that send a request a byte a second and times 5 normal requests (each given at most
10 s). Only 127.0.0.1 is contacted; every wait is bounded.
Usage: python bench/serving.py [sync gthread gevent waitress]   (waitress: pip install '.[bench]')
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chart  # noqa: E402
from run import SERVICE, free_port, percentile, post, throughput  # noqa: E402

SETUPS = {
    "sync": ["-m", "gunicorn", "-w", "2", "-k", "sync"],
    "gthread": ["-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "4"],
    "gevent": ["-m", "gunicorn", "-w", "2", "-k", "gevent", "--keep-alive", "5"],
    "waitress": ["-m", "waitress", "--threads", "4", "--call"],
}


def start(name: str, port: int) -> subprocess.Popen:
    args = SETUPS[name] + ([f"--listen=127.0.0.1:{port}", "service:create_app"] if name == "waitress" else ["-b", f"127.0.0.1:{port}", "service:create_app()"])
    env = dict(os.environ, RELAPSE_CDS_LOG_LEVEL="WARNING")
    server = subprocess.Popen([sys.executable, *args], cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"{name} did not start")


def slow_client(port: int, request: bytes, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                for byte in request:
                    sock.sendall(bytes([byte]))
                    if stop.wait(1.0):
                        return
        except OSError:
            stop.wait(0.2)


def normal_under_slow_clients(port: int, body: bytes) -> str:
    head = f"POST {SERVICE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    stop = threading.Event()
    threads = [threading.Thread(target=slow_client, args=(port, head if i % 2 else head + body, stop), daemon=True) for i in range(10)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    times = []
    try:
        for _ in range(5):
            try:
                times.append(post(port, SERVICE, body))
            except (OSError, RuntimeError):
                return "stalled (no answer within 10 s)"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=3)
    return f"p50 {statistics.median(times):.0f} ms, max {max(times):.0f} ms"


def main() -> int:
    names = sys.argv[1:] or list(SETUPS)
    unknown = [name for name in names if name not in SETUPS]
    if unknown:
        raise SystemExit(f"unknown set-up(s) {unknown}; choose from {list(SETUPS)}")
    if "waitress" in names and importlib.util.find_spec("waitress") is None:
        raise SystemExit("the waitress set-up needs waitress: pip install '.[bench]' (or name the other set-ups)")
    body = json.dumps(chart.hook_request(300)).encode()
    small = json.dumps({"hook": "patient-view", "hookInstance": "0b6d4a2e-2a70-4c3c-9d59-2f1f51d0c003",
                        "context": {"userId": "Practitioner/x", "patientId": "p1"},
                        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "birthDate": "2010-01-01"},
                                     "conditions": None, "observations": None, "procedures": None, "specimens": None}}).encode()
    print(f"{'set-up':<10}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}   a normal request while 10 clients send a byte a second")
    for name in names:
        port = free_port()
        server = start(name, port)
        try:
            for _ in range(10):
                post(port, SERVICE, body)
            samples = [post(port, SERVICE, body) for _ in range(100)]
            rps = throughput(port, SERVICE, [body], 4, 3.0)
            slow = normal_under_slow_clients(port, small)
            print(f"{name:<10}{percentile(samples, 50):>9.1f}{percentile(samples, 99):>9.1f}{rps:>8.0f}   {slow}", flush=True)
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
