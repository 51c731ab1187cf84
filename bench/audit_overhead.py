"""Benchmark: what the audit write adds to a patient-view answer, against no audit in the same run.

In-process (Flask test client, no HTTP, so that nothing else hides the difference), with the 300-resource
patient of bench/run.py, which gets cards:
1. the in-request part alone: the time spent in the audit call of each request (count the cards, hash
   the patient id, build the record, queue it), timed around that call, as wall time (which includes
   being preempted on a busy machine) and as the thread's CPU time (which does not);
2. whole requests, interleaved: the app with its store (the writer thread committing in the background,
   SQLite WAL + synchronous=FULL, or PostgreSQL with --database-url) vs the same app that skips the
   audit call altogether; p50 and mean of each, and the difference;
3. the writer's throughput: records committed per second when a batch is flushed.
Bounded loops, no network but the database URL given. Usage:
    python bench/audit_overhead.py [--requests N] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from patient300 import hook_request  # noqa: E402
from flask import current_app  # noqa: E402

from service import create_app  # noqa: E402
from service.api import routes  # noqa: E402
from service.config import Settings  # noqa: E402
from service.pipeline import evaluate  # noqa: E402
from service.store import StoreSettings  # noqa: E402
from service.store.audit import build_record  # noqa: E402

SERVICE = "/cds-services/relapse-all-assessment"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="relapse-cds-bench-"))
    url = args.database_url or f"sqlite:///{data / 'bench.sqlite3'}"
    store_settings = StoreSettings(data_dir=data, database_url=url, patient_hash_key="bench-key-" + "0" * 32)
    audited = create_app(Settings(), store_settings)
    baseline = create_app(Settings(), store_settings)
    body = hook_request()

    in_request: list[float] = []
    in_request_cpu: list[float] = []  # CPU time of this thread: immune to the machine's other load
    real_record = routes.record_invocation

    def timed_record(*a, **kw):
        if current_app._get_current_object() is baseline:
            return  # the baseline writes no audit at all
        started, cpu = time.perf_counter(), time.thread_time()
        real_record(*a, **kw)
        in_request.append((time.perf_counter() - started) * 1000)
        in_request_cpu.append((time.thread_time() - cpu) * 1000)

    routes.record_invocation = timed_record
    clients = {"audited": audited.test_client(), "baseline": baseline.test_client()}
    times: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(50):  # warm-up
        for client in clients.values():
            assert client.post(SERVICE, json=body).status_code == 200
    audited.extensions["relapse_cds.store"].audit.flush(60)
    in_request.clear()
    in_request_cpu.clear()
    for _ in range(args.requests):
        for name, client in clients.items():
            started = time.perf_counter()
            response = client.post(SERVICE, json=body)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and response.get_json()["cards"]
    audit = audited.extensions["relapse_cds.store"].audit
    assert audit.flush(120)

    sample_cards = audited.test_client().post(SERVICE, json=body).get_json()["cards"]
    audit.flush(60)
    knowledge = audited.extensions["relapse_cds.knowledge"]
    evaluation = evaluate(body["prefetch"], body["context"]["patientId"], knowledge, audited.extensions["relapse_cds.service"],
                          audited.extensions["relapse_cds.selector"], date.today())
    records = [build_record(service_id="relapse-all-assessment", hook="patient-view", hook_instance=body["hookInstance"],
                            client=(None, None), patient_hash="0" * 64, assessment=evaluation.assessment,
                            knowledge_version=knowledge.version, cards=[dict(c, uuid=f"{c['uuid'][:-6]}{i:06d}") for c in sample_cards],
                            processing_ms=1.0) for i in range(1000)]
    started = time.perf_counter()
    for start in range(0, len(records), 200):
        audit.write(records[start:start + 200])
    write_rate = len(records) / (time.perf_counter() - started)

    backend = url.split(":")[0]
    print(f"audit overhead, {backend}, {args.requests} interleaved requests per app, 300-resource patient, {len(sample_cards)} cards each")
    print(f"  in-request audit call: p50 {statistics.median(in_request) * 1000:.0f} us, "
          f"p99 {statistics.quantiles(in_request, n=100)[98] * 1000:.0f} us, mean {statistics.fmean(in_request) * 1000:.0f} us")
    print(f"  in-request audit call, CPU time: mean {statistics.fmean(in_request_cpu) * 1000:.0f} us, "
          f"max {max(in_request_cpu) * 1000:.0f} us")
    for name in ("baseline", "audited"):
        t = times[name]
        print(f"  whole request, {name:8}: p50 {statistics.median(t):.3f} ms, mean {statistics.fmean(t):.3f} ms")
    print(f"  difference (audited - baseline): p50 {statistics.median(times['audited']) - statistics.median(times['baseline']):+.3f} ms, "
          f"mean {statistics.fmean(times['audited']) - statistics.fmean(times['baseline']):+.3f} ms")
    print(f"  writer thread: {write_rate:.0f} records/s committed in batches of 200")
    return 0


if __name__ == "__main__":
    sys.exit(main())
