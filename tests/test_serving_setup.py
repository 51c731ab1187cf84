"""The serving set-up: `relapse-cds serve` runs gevent workers and makes sockets cooperative before any
HTTP client library is loaded. gevent patches `ssl`; an HTTP client imported before that (requests,
urllib3) keeps the unpatched SSL context and recurses without end on its first HTTPS call."""

from __future__ import annotations

import subprocess
import sys

from service.cli import SERVING

_SERVE_ORDER = """
import sys
import service.cli  # what the `relapse-cds` command has loaded when `serve` starts
early = sorted(m for m in ("requests", "urllib3", "httpx") if m in sys.modules)
assert not early, f"imported before serve patches sockets: {early}"
from gevent import monkey
monkey.patch_all()
from service import create_app
create_app()
import requests
from urllib3.util.ssl_ import create_urllib3_context
create_urllib3_context()
print("ok")
"""


def test_serve_patches_sockets_before_any_http_client_is_loaded():
    result = subprocess.run([sys.executable, "-c", _SERVE_ORDER], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_serve_uses_gevent_workers_that_drop_slow_request_headers():
    assert SERVING["worker_class"] == "gevent"
    assert 0 < SERVING["keepalive"] <= 10  # the gevent worker's bound on reading a request's headers


_AUDIT_OFF_THE_LOOP = """
import sys, time
from gevent import monkey
monkey.patch_all()
import gevent
from sqlalchemy import create_engine, func, select
from service.store.audit import AuditWriter
from service.store.offload import blocking
from service.store.schema import invocation, metadata

native_sleep = monkey.get_original("time", "sleep")
ticks = []

def ticker():  # another request of the same worker, yielding often
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.005)

g = gevent.spawn(ticker)
gevent.sleep(0.02)
def longest_pause(since):
    marks = [t for t in ticks if t >= since]
    return max(b - a for a, b in zip(marks, marks[1:]))

start = time.monotonic()
blocking(native_sleep, 0.6)  # a commit waiting for the disk, in C, without yielding
during = longest_pause(start)

engine = create_engine("sqlite:///" + sys.argv[1])
metadata.create_all(engine)
writer = AuditWriter(engine)
slow_write = writer.write
writer.write = lambda batch: (native_sleep(0.6), slow_write(batch))
record = {"invocation": {"id": "a" * 32, "recorded_at": __import__("datetime").datetime(2026, 1, 1), "service_id": "s", "hook": "patient-view", "hook_instance": "h",
                         "client_iss": None, "client_tenant": None, "patient_hash": None, "relapse_number": None, "cog_risk": "x",
                         "hsct": "x", "flags": "[]", "missing": "[]", "knowledge_version": "k", "processing_ms": 1.0}, "cards": []}
writer.submit(record)
start = time.monotonic()
gevent.sleep(0.9)  # the writer wakes (0.2 s) and commits (0.6 s) meanwhile
while_writing = longest_pause(start)
assert writer.flush(5.0)
with engine.connect() as c:
    rows = c.execute(select(func.count()).select_from(invocation)).scalar()
print(during, while_writing, rows)
"""


def test_a_database_commit_does_not_hold_the_other_requests_of_a_gevent_worker(tmp_path):
    """An fsync inside SQLite cannot yield to other greenlets: the audit writer's commits run in a
    native thread, so the worker keeps answering while the disk flushes (and the record is written)."""
    result = subprocess.run([sys.executable, "-c", _AUDIT_OFF_THE_LOOP, str(tmp_path / "audit.db")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    during, while_writing, rows = result.stdout.split()
    # The other greenlet ticks every 5 ms; a commit held on the loop would pause it for 0.6 s.
    assert float(during) < 0.3 and float(while_writing) < 0.3, result.stdout
    assert int(rows) == 1


def test_a_requests_objects_are_freed_after_the_answer_is_sent_not_before(app, monkeypatch):
    """Freeing the parsed chart and its models takes milliseconds: the server sends the answer first
    (the WSGI response is closed after it is written), then drops them."""
    import json
    import weakref

    from werkzeug.test import EnvironBuilder

    from fhir_builders import diagnosis, hook_request, patient, record, relapse
    from service.api import routes

    evaluations: list[weakref.ref] = []

    def evaluate(*args, **kwargs):
        evaluation = real_evaluate(*args, **kwargs)
        evaluations.append(weakref.ref(evaluation))
        return evaluation

    real_evaluate = routes.evaluate
    monkeypatch.setattr(routes, "evaluate", evaluate)
    body = hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10")))
    environ = EnvironBuilder(path="/cds-services/relapse-all-assessment", method="POST", data=json.dumps(body),
                             content_type="application/json").get_environ()
    statuses: list[str] = []
    answer = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    sent = b"".join(answer)  # what the server writes to the client
    assert statuses == ["200 OK"] and json.loads(sent)["cards"]
    assert evaluations and evaluations[0]() is not None  # still held while the answer is sent
    answer.close()
    assert evaluations[0]() is None  # dropped once the server has closed the response


def test_records_validated_anew_are_cached_after_the_answer_is_sent():
    """Making a cached record's bytes and dropping the oldest entries cost about 0.7 ms a request on
    the benchmark's chart: the service does them after the server has sent the answer. A chart opened
    again is then answered from the cache."""
    import json

    from werkzeug.test import EnvironBuilder

    from fhir_builders import diagnosis, hook_request, mrd, patient, record, relapse
    from service import create_app
    from service.config import Settings

    app = create_app(Settings(model_cache=64))
    cache = app.extensions["relapse_cds.model_cache"]
    resources = [diagnosis("2015-01-10"), relapse("2016-01-10"), mrd("2016-01-12", 0.5)]
    for resource in resources:
        resource["meta"] = {"versionId": "1"}
    body = json.dumps(hook_request(record(patient(), *resources)))

    def call():
        environ = EnvironBuilder(path="/cds-services/relapse-all-assessment", method="POST", data=body,
                                 content_type="application/json").get_environ()
        statuses: list[str] = []
        answer = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        sent = b"".join(answer)
        assert statuses == ["200 OK"]
        return answer, json.loads(sent)

    answer, first = call()
    assert len(cache) == 0 and cache.misses == 0  # answered; nothing cached yet
    answer.close()
    assert len(cache) == len(resources) and cache.misses == len(resources)
    answer, again = call()
    answer.close()
    assert again["extension"] == first["extension"] and cache.hits == len(resources) and cache.misses == len(resources)


def test_nothing_changes_the_request_before_the_cache_stores_it(monkeypatch):
    """The cache makes a record's bytes after the answer is sent, from the request's own objects: a
    record changed in place by any step between (schemas, limits, selection, validation, cards, order
    cards, audit) would be cached under bytes it was not validated from. Every fixture patient, on both
    hooks and both timeline settings: the parsed body is byte for byte what was read."""
    import json
    import marshal

    from werkzeug.test import EnvironBuilder

    from conftest import FIXTURES, load_fixture
    from service import create_app
    from service.api import routes
    from service.config import Settings
    from test_fixture_patients import as_request
    from test_order_sign import ORDER_URL, order_sign, service_request

    app = create_app(Settings(model_cache=4096))
    read: list[tuple[object, bytes]] = []

    def body():
        parsed = real_body()
        read.append((parsed, marshal.dumps(parsed, 0)))
        return parsed

    real_body = routes._body
    monkeypatch.setattr(routes, "_body", body)
    for path in sorted(FIXTURES.glob("*.json")):
        view = as_request(load_fixture(path)["bundle"])
        for value in view["prefetch"].values():  # versioned, as a FHIR server sends them: cacheable
            for resource in [e["resource"] for e in value["entry"]] if value and "entry" in value else [value] if value else []:
                resource["meta"] = {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00Z"}
        sign = order_sign(view, service_request(patient_id=view["context"]["patientId"]))
        for url, request in (("/cds-services/relapse-all-assessment", view), (ORDER_URL, sign)):
            for scope in ("deciding", "all"):
                sent = dict(request, extension={"org.relapse-cds.timeline": scope})
                environ = EnvironBuilder(path=url, method="POST", data=json.dumps(sent), content_type="application/json").get_environ()
                statuses: list[str] = []
                answer = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
                b"".join(answer)
                answer.close()
                assert statuses == ["200 OK"], (path.stem, url, scope, statuses)
    assert len(read) == 4 * len(list(FIXTURES.glob("*.json")))
    assert app.extensions["relapse_cds.model_cache"].misses > 0  # records were validated anew and stored
    for parsed, bytes_when_read in read:
        assert marshal.dumps(parsed, 0) == bytes_when_read
