"""Benchmark: a lever on the request path, on and off in one process, requests interleaved.

Levers that move work off the request path, or make a step cheaper, save a millisecond or less: too
little to see across two server runs on a machine whose speed varies up to 2x between minutes.
Here both ways answer the same requests in turn, in one process, so that a slow spell falls on both
alike: the realistic chart of bench/run.py, every request a new version of it (every record validated
anew), through the Flask test client (no HTTP). Levers:
- `cache`: the model cache stores records validated anew after the answer is sent (service/fhir/
  cache.py, `store_after_answer`), or while the EHR waits; the storing is done after each request is
  timed, as the server does once it has sent the answer;
- `answer-json`: the answer written with orjson (service/api/answer_json.py) or with Flask's provider.
`--idle` sleeps 20 ms before each request, as a worker waits between the benchmark's sequential
requests. Bounded loops, no network. Usage:
    python bench/request_path.py [--lever cache|answer-json] [--requests N] [--idle]
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
from flask.json.provider import DefaultJSONProvider  # noqa: E402
from run import COLD_VERSIONS, SERVICE, new_versions, percentile  # noqa: E402

from service import create_app  # noqa: E402
from service.store import StoreSettings  # noqa: E402


def _levers(app) -> dict[str, tuple[str, str, object]]:
    """lever: (label on, label off, switch(on: bool))."""
    cache = app.extensions["relapse_cds.model_cache"]
    fast_json, plain_json = app.json, DefaultJSONProvider(app)
    plain_json.sort_keys, plain_json.compact = fast_json.sort_keys, fast_json.compact

    def cache_after_answer(on: bool) -> None:
        cache.store_after_answer = on

    def answer_json(on: bool) -> None:
        app.json = fast_json if on else plain_json

    return {
        "cache": ("records cached after the answer", "records cached while the EHR waits", cache_after_answer),
        "answer-json": ("answer written with orjson", "answer written by Flask's provider", answer_json),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lever", choices=("cache", "answer-json"), default="cache")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--idle", action="store_true", help="sleep 20 ms before each request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(store_settings=StoreSettings(data_dir=Path(tmp), patient_hash_key="bench-key-" + "0" * 32))
        client = app.test_client()
        cache = app.extensions["relapse_cds.model_cache"]
        label_on, label_off, switch = _levers(app)[args.lever]
        bodies = new_versions(chart.hook_request(300), COLD_VERSIONS)
        for body in bodies:  # warm-up: the record shapes are known and the cache is full
            client.post(SERVICE, data=body, content_type="application/json")
            cache.store_pending()
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(args.requests):
            on = bool(i % 2)
            switch(on)
            if args.idle:
                time.sleep(0.02)
            started = time.perf_counter()
            response = client.post(SERVICE, data=bodies[i % len(bodies)], content_type="application/json")
            times[on].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"patient-view answered {response.status_code}")
            cache.store_pending()  # what the server does once the answer is sent
    print(f"patient-view, chart opened for the first time, in-process, {args.requests // 2} requests each, "
          f"interleaved{', 20 ms idle before each' if args.idle else ''} (ms):")
    for on, label in ((False, label_off), (True, label_on)):
        t = times[on]
        print(f"  {label:<38} p50 {statistics.median(t):6.2f}  p90 {percentile(t, 90):6.2f}  mean {statistics.fmean(t):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
