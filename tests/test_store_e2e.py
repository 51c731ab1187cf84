"""The store with the real server (`relapse-cds serve`, gunicorn with several workers) over loopback HTTP:
durability of acknowledged feedback across a SIGKILL of the whole server, /metrics summed over the
workers, and cards while the database is down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select

from conftest import FIXTURES, SERVICE_URL, load_fixture
from server_process import ROOT, _child_env, free_port, wait_until_healthy
from service.store.engine import normalise_url
from service.store.schema import feedback
from store_backends import database_url  # noqa: F401 - fixture
from test_fixture_patients import as_request

pytestmark = pytest.mark.e2e
FEEDBACK_URL = SERVICE_URL + "/feedback"
WORKERS, CLIENTS = 3, 6
KILL_AFTER_ACKS, KILL_DEADLINE_S = 300, 30


@contextmanager
def server(tmp_path: Path, url: str, workers: int = WORKERS, via: str = "serve"):
    """A server in its own process group (so that SIGKILL reaches master and workers alike), started by
    `relapse-cds serve` or by gunicorn with the container's config."""
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    log = log_path.open("w")
    env = _child_env({"RELAPSE_CDS_DATA_DIR": str(tmp_path / "data"), "RELAPSE_CDS_DATABASE_URL": url,
                      "RELAPSE_CDS_BIND": f"127.0.0.1:{port}", "RELAPSE_CDS_WORKERS": str(workers)})
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if via == "gunicorn":
        command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker" / "gunicorn.conf.py"), "service:create_app()"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, log_path, seconds=60)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def one_item(card: str) -> dict:
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z",
            "overrideReason": {"reason": {"system": "https://example.org/override", "code": "durability"}}}


def stored_counts(url: str) -> Counter:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as c:
            return Counter(dict(c.execute(select(feedback.c.card_uuid, func.count()).group_by(feedback.c.card_uuid)).all()))
    finally:
        engine.dispose()


def test_acknowledged_feedback_survives_sigkill_of_the_whole_server_exactly_once(database_url, tmp_path):  # noqa: F811
    acknowledged: list[str] = []
    in_flight_at_kill: list[str] = []
    refused: list[int] = []
    killed = threading.Event()
    lock = threading.Lock()

    def client(session: requests.Session, base: str) -> None:
        while True:
            card = str(uuid.uuid4())
            try:
                response = session.post(base + FEEDBACK_URL, json={"feedback": [one_item(card)]}, timeout=10)
            except requests.RequestException:
                with lock:
                    in_flight_at_kill.append(card)
                return  # the server is gone
            with lock:
                if response.status_code == 200:
                    acknowledged.append(card)
                else:
                    refused.append(response.status_code)
            if killed.is_set():
                return

    with server(tmp_path, database_url) as (base, process):
        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(requests.Session(), base)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        while len(acknowledged) < KILL_AFTER_ACKS and time.monotonic() - started < KILL_DEADLINE_S:
            time.sleep(0.005)
        os.killpg(process.pid, signal.SIGKILL)  # master and every worker, mid-way through requests
        killed.set()
        elapsed = time.monotonic() - started
        process.wait()
        for t in threads:
            t.join(timeout=30)
    assert not refused, f"non-200 answers before the kill: {Counter(refused)}"
    assert len(acknowledged) >= 20, "too few requests acknowledged before the kill to say anything"

    with server(tmp_path, database_url) as (base, _):  # restarted on the same database (migrations run again)
        counts = stored_counts(database_url)
        lost = [c for c in acknowledged if counts[c] != 1]
        assert not lost, f"{len(lost)} acknowledged items not stored exactly once"
        assert all(n == 1 for n in counts.values())
        assert set(counts) <= set(acknowledged) | set(in_flight_at_kill)
        # The clients retry everything acknowledged: nothing is stored twice.
        sample = acknowledged[:50]
        again = requests.post(base + FEEDBACK_URL, json={"feedback": [one_item(c) for c in sample]}, timeout=10)
        assert again.status_code == 200 and again.json()["stored"] == 0 and again.json()["duplicates"] == len(sample)
    assert sum(stored_counts(database_url).values()) == sum(counts.values())
    backend = database_url.split(":")[0]
    print(f"\ndurability[{backend}]: {WORKERS} workers, {CLIENTS} clients, SIGKILL after {elapsed:.2f} s: "
          f"{len(acknowledged)} items acknowledged ({len(acknowledged) / elapsed:.0f}/s), {len(in_flight_at_kill)} in flight, "
          f"{sum(counts.values())} stored after restart, {len(lost)} acknowledged lost, 0 stored twice")


@pytest.mark.parametrize("via", ["serve", "gunicorn"])
def test_metrics_are_summed_over_the_workers(tmp_path, via):
    with server(tmp_path, f"sqlite:///{tmp_path / 'store.sqlite3'}", via=via) as (base, _):
        body = as_request(load_fixture(FIXTURES / "b-early-marrow-tp53-ikzf1.json")["bundle"])
        for _ in range(12):  # a new connection each time: the workers share them out
            assert requests.post(base + SERVICE_URL, json=body, timeout=10, headers={"Connection": "close"}).status_code == 200
        readings = {requests.get(base + "/metrics", timeout=10, headers={"Connection": "close"}).text for _ in range(6)}
    assert len(readings) == 1, "different workers reported different counts"
    text = readings.pop()
    assert 'relapse_cds_invocations_total{status="200"} 12.0' in text
    assert 'relapse_cds_cards_total{kind="assessment"} 12.0' in text
    assert "relapse_cds_invocation_seconds_count 12.0" in text
    assert "relapse_cds_audit_write_failures_total 0.0" in text


def test_database_down_cards_still_go_out_and_the_failure_is_counted(tmp_path):
    down = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    with server(tmp_path, down, workers=1) as (base, _):
        body = as_request(load_fixture(FIXTURES / "b-early-marrow-tp53-ikzf1.json")["bundle"])
        response = requests.post(base + SERVICE_URL, json=body, timeout=10)
        assert response.status_code == 200 and response.json()["cards"]
        card = response.json()["cards"][0]["uuid"]
        assert requests.post(base + FEEDBACK_URL, json={"feedback": [one_item(card)]}, timeout=10).status_code == 503
        deadline = time.monotonic() + 20
        while "relapse_cds_audit_write_failures_total 1.0" not in (text := requests.get(base + "/metrics", timeout=10).text):
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        assert "relapse_cds_feedback_write_failures_total 1.0" in text
