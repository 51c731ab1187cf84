"""Benchmark: where the model cache does its bookkeeping for a chart opened for the first time.

The service's cache stores the records it validated anew once the answer is sent (their bytes made, the
oldest entries dropped: service/fhir/cache.py, `store_after_answer`). This measures the request path
both ways in one process, requests interleaved so that a slow spell of the machine falls on both alike:
the realistic chart of bench/run.py, every request a new version of it (every record validated anew),
through the Flask test client (no HTTP); the storing itself is done after each request is timed, as
the server does after sending. `--idle` sleeps 20 ms before each request, as a worker waits between
the benchmark's sequential requests. Bounded loops, no network.
Usage: python bench/cache_store.py [--requests N] [--idle]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import chart  # noqa: E402
from run import COLD_VERSIONS, SERVICE, new_versions, percentile  # noqa: E402

from service import create_app  # noqa: E402
from service.store import StoreSettings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--idle", action="store_true", help="sleep 20 ms before each request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(store_settings=StoreSettings(data_dir=Path(tmp), patient_hash_key="bench-key-" + "0" * 32))
        client = app.test_client()
        cache = app.extensions["relapse_cds.model_cache"]
        bodies = new_versions(chart.hook_request(300), COLD_VERSIONS)
        for body in bodies:  # warm-up: the record shapes are known and the cache is full
            client.post(SERVICE, data=body, content_type="application/json")
            cache.store_pending()
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(args.requests):
            after_answer = bool(i % 2)
            cache._later = after_answer  # the two ways, taking turns on one cache
            if args.idle:
                time.sleep(0.02)
            started = time.perf_counter()
            response = client.post(SERVICE, data=bodies[i % len(bodies)], content_type="application/json")
            times[after_answer].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"patient-view answered {response.status_code}")
            cache.store_pending()  # what the server does once the answer is sent
    print(f"patient-view, chart opened for the first time, in-process, {args.requests // 2} requests each, "
          f"interleaved{', 20 ms idle before each' if args.idle else ''} (ms):")
    for after_answer, label in ((False, "records cached while the EHR waits"), (True, "records cached after the answer")):
        t = times[after_answer]
        print(f"  {label:<38} p50 {statistics.median(t):6.2f}  p90 {percentile(t, 90):6.2f}  mean {statistics.fmean(t):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
