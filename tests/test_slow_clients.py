"""No client can stall the service: the real server (`relapse-cds serve`, 2 workers) over loopback.

Ten connections that send their request a byte a second (headers or body), reconnecting when dropped,
must not delay a normal request by 100 ms (with sync workers two of them stalled the service for 30 s);
an over-limit body gets a 413 the client can read. Every wait here is bounded."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time

import pytest
import requests

from conftest import FIXTURES, SERVICE_URL, check_body, load_fixture
from server_process import ROOT, free_port, running, serve_command
from test_fixture_patients import as_request

sys.path.insert(0, str(ROOT / "bench"))
from serving import slow_client  # noqa: E402  (the benchmark's slow client: a byte a second, reconnecting)

pytestmark = pytest.mark.e2e
SLOW_CLIENTS = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    with running(serve_command(port), tmp_path_factory.mktemp("slow") / "server.log", port, env={"RELAPSE_CDS_MAX_BODY_BYTES": "200000"}) as base:
        yield base, port


def _normal_body() -> bytes:
    return json.dumps(as_request(load_fixture(sorted(FIXTURES.glob("*.json"))[0])["bundle"])).encode()


def _timed_post(base: str, body: bytes) -> float:
    started = time.perf_counter()
    response = requests.post(base + SERVICE_URL, data=body, headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 200, response.text[:200]
    return time.perf_counter() - started


def test_ten_slow_clients_do_not_delay_a_normal_request(server):
    base, port = server
    body = _normal_body()
    for _ in range(3):
        _timed_post(base, body)  # warm-up: both workers have read the code paths
    before = [_timed_post(base, body) for _ in range(7)]
    slow_headers = f"POST {SERVICE_URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    stop = threading.Event()
    threads = [
        # half send their headers slowly, half send headers at once and then the body slowly
        threading.Thread(target=slow_client, args=(port, slow_headers if i % 2 else slow_headers + body, stop), daemon=True)
        for i in range(SLOW_CLIENTS)
    ]
    try:
        for thread in threads:
            thread.start()
        time.sleep(2.5)  # every slow client is connected and has sent a few bytes
        during = [_timed_post(base, body) for _ in range(7)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    delay = statistics.median(during) - statistics.median(before)
    assert delay < 0.1, f"median {statistics.median(during) * 1000:.0f} ms with slow clients vs {statistics.median(before) * 1000:.0f} ms without"


def test_an_over_limit_body_with_a_declared_length_gets_a_413_the_client_can_read(server):
    base, _ = server
    response = requests.post(base + SERVICE_URL, data=b" " * 2_000_000, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413
    check_body(SERVICE_URL, response.status_code, response.json())
    assert "exceeds 200000 bytes" in response.json()["issue"][0]["diagnostics"]
