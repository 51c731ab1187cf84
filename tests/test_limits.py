"""No request can stall the service: what one request may carry is capped (413 OperationOutcome above),
answers are bounded however many records are broken, and the worst requests are answered quickly.

Time bounds use the process's CPU time, not the wall clock: they bound the work a request costs,
whatever else the (shared) machine is doing."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest

from conftest import SERVICE_URL, CheckedClient, assessment_of
from fhir_builders import bundle, diagnosis, hook_request, mrd, patient, record, relapse, remission, variant
from service import create_app
from service.config import Settings
from service.pipeline import MAX_PROBLEMS_LISTED


@pytest.fixture(scope="module")
def small_client():
    app = create_app(Settings(max_resources_per_key=50, max_resources=80, max_validated=40))
    return CheckedClient(app.test_client())


def _post(client, body: dict):
    return client.post(SERVICE_URL, data=json.dumps(body), content_type="application/json")


def _cpu_seconds(action):
    started = time.process_time()
    result = action()
    return result, time.process_time() - started


def test_more_resources_in_one_key_than_allowed_is_413(small_client):
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-05-01"))
    prefetch["observations"] = bundle(*[mrd("2016-06-10", 0.1) for _ in range(51)])
    response = _post(small_client, hook_request(prefetch))
    assert response.status_code == 413
    assert "'observations' holds 51 resources; at most 50 per key" in response.get_json()["issue"][0]["diagnostics"]


def test_more_resources_in_all_keys_than_allowed_is_413(small_client):
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-05-01"))
    prefetch["observations"] = bundle(*[mrd("2016-06-10", 0.1) for _ in range(40)])
    prefetch["conditions"] = bundle(*[remission("2014-03-01") for _ in range(41)])
    response = _post(small_client, hook_request(prefetch))
    assert response.status_code == 413 and "at most 80 in all" in response.get_json()["issue"][0]["diagnostics"]


def test_more_resources_to_validate_than_allowed_is_413_and_those_that_cannot_decide_do_not_count(small_client):
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-05-01"), *[mrd("2016-06-10", 0.1) for _ in range(40)])
    response = _post(small_client, hook_request(prefetch))
    assert response.status_code == 413 and "would have to be validated; at most 40" in response.get_json()["issue"][0]["diagnostics"]
    # Variants that are not "Present" cannot change the answer: they are not validated, so they do not count.
    absent = [variant("HGNC:11998", present=False) for _ in range(45)]
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-05-01"), *absent)
    assert assessment_of(_post(small_client, hook_request(prefetch)))["relapseNumber"] == 1


def test_thousands_of_invalid_relapse_records_give_a_bounded_answer(client):
    broken = []
    for i in range(2500):
        condition = relapse(f"2016-{1 + i % 12:02d}-01", rid=f"rel-{i}")
        condition["vendorFlag"] = True
        broken.append(condition)
    body = hook_request(record(patient(), diagnosis("2015-01-10"), *broken))
    response, seconds = _cpu_seconds(lambda: _post(client, body))
    assessment = assessment_of(response)
    assert seconds < 1.0, f"{seconds:.2f} s of CPU"
    assert assessment["relapseNumber"] is None  # unreadable relapse records: the count is unknown
    problems = assessment["problems"]
    assert len(problems) == MAX_PROBLEMS_LISTED + 1
    assert problems[-1] == f"... and {2500 - MAX_PROBLEMS_LISTED} more records not used (not listed)"
    assert len(response.get_data()) < 300_000


def test_the_ten_megabyte_relapse_and_remission_request_is_refused_within_a_second(client):
    conditions = []
    for i in range(13_000):
        day = f"20{10 + i % 10}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        conditions.append(relapse(day, rid=f"r{i}") if i % 2 else remission(day, rid=f"m{i}"))
    body = json.dumps(hook_request(record(patient(), diagnosis("2009-01-10"), *conditions)))
    assert len(body) > 3_000_000
    response, seconds = _cpu_seconds(lambda: client.post(SERVICE_URL, data=body, content_type="application/json"))
    assert response.status_code == 413 and seconds < 1.0, f"{response.status_code} after {seconds:.2f} s of CPU"


def test_the_largest_accepted_request_is_answered_within_a_second(client):
    limit = Settings().max_validated
    results = [mrd(f"20{16 + i % 8}-{1 + i % 12:02d}-{1 + i % 28:02d}", 0.01 * (i % 50)) for i in range(limit - 3)]
    body = json.dumps(hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-05-01"), *results)))
    client.post(SERVICE_URL, data=body, content_type="application/json")  # first use of the code paths
    response, seconds = _cpu_seconds(lambda: client.post(SERVICE_URL, data=body, content_type="application/json"))
    assert assessment_of(response)["relapseNumber"] == 1
    assert seconds < 1.0, f"{seconds:.2f} s of CPU"


def test_an_over_limit_body_with_a_declared_length_is_read_and_answered_413(app):
    small = create_app(Settings(max_body_bytes=1000))
    body = b" " * 5000
    response = small.test_client().post(SERVICE_URL, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_the_most_relapse_and_remission_records_accepted_are_matched_within_a_second(client):
    count = Settings().max_validated - 3
    start = date(2010, 1, 1)
    conditions = []
    for i in range(count // 2):  # relapses 40 days apart with no remission between: each pair is scanned
        conditions.append(relapse((start + timedelta(days=40 * i)).isoformat(), rid=f"r{i}"))
    for i in range(count - count // 2):  # every remission after the last relapse
        conditions.append(remission((start + timedelta(days=40 * count + i)).isoformat(), rid=f"m{i}"))
    body = json.dumps(hook_request(record(patient(), diagnosis("2009-01-10"), *conditions)))
    client.post(SERVICE_URL, data=body, content_type="application/json")
    response, seconds = _cpu_seconds(lambda: client.post(SERVICE_URL, data=body, content_type="application/json"))
    assert response.status_code == 200 and assessment_of(response)
    assert len(response.get_data()) < 1_000_000
    assert seconds < 1.0, f"{seconds:.2f} s of CPU"
