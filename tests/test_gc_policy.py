"""Garbage is collected once an answer is sent, when no other request is being answered, and on
CPython's own generational schedule (service/gc_policy.py)."""

from __future__ import annotations

import gc
import json
import weakref

import pytest

from conftest import FIXTURES, SERVICE_URL, load_fixture
from test_fixture_patients import as_request

from service.api import metrics, routes
from service.gc_policy import THRESHOLDS, AfterAnswer, generation_due


class _Node:
    """An object that can refer to another (and be weakly referred to)."""


def _cycle() -> weakref.ref:
    """A pair of objects that refer to each other, unreachable: only the cyclic collector frees it."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture()
def thresholds():
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    gc.collect()
    yield
    gc.set_threshold(*before)


@pytest.fixture()
def collections():
    """The generation of each collection that starts while the test runs."""
    seen: list[int] = []

    def note(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(note)
    yield seen
    gc.callbacks.remove(note)


def test_the_generation_due_follows_cpythons_thresholds(thresholds):
    assert generation_due() == 0
    for _ in range(THRESHOLDS[1]):
        gc.collect(0)
    assert generation_due() == 0
    gc.collect(0)
    assert generation_due() == 1  # the young generation collected 21 times: the middle one is due, as in CPython
    for _ in range(THRESHOLDS[2]):
        gc.collect(1)
    assert generation_due() == 0
    gc.collect(1)
    assert generation_due() == 2  # the middle one collected 101 times: a full collection is due
    gc.collect(2)
    assert generation_due() == 0


def test_an_idle_process_collects_cycles_after_an_answer(thresholds, collections):
    garbage = _cycle()
    AfterAnswer(lambda: 0).collect()
    assert garbage() is None
    assert collections == [0]


def test_no_collection_while_another_request_is_answered_or_when_switched_off(thresholds, collections):
    garbage = _cycle()
    AfterAnswer(lambda: 1).collect()
    assert garbage() is not None and collections == []
    AfterAnswer(lambda: 0, enabled=False).collect()
    assert garbage() is not None and collections == []
    gc.disable()  # a host that turned the collector off keeps it off
    try:
        AfterAnswer(lambda: 0).collect()
    finally:
        gc.enable()
    assert garbage() is not None and collections == []


def test_an_older_generation_is_collected_when_due(thresholds, collections):
    for _ in range(THRESHOLDS[1] + 1):
        gc.collect(0)
    collections.clear()
    AfterAnswer(lambda: 0).collect()
    assert collections == [1]


def _patient_view() -> dict:
    return as_request(load_fixture(FIXTURES / "b-isolated-cns-12m.json")["bundle"])


@pytest.mark.parametrize("enabled", [True, False])
def test_the_service_collects_once_the_answer_is_closed(app, collections, enabled):
    assert gc.get_threshold() == THRESHOLDS  # set by create_app
    collector = app.extensions["relapse_cds.gc"]
    collector.enabled = enabled
    try:
        response = app.test_client().post(SERVICE_URL, json=_patient_view())
        assert response.status_code == 200 and json.loads(response.get_data())["cards"]
        collections.clear()  # what ran while the request was answered is CPython's own
        response.close()  # what gunicorn does once it has written the answer
    finally:
        collector.enabled = True
    assert (collections != []) is enabled


def test_the_app_freezes_start_up_and_keeps_the_collector_on(app):
    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_the_service_waits_while_another_call_is_answered(app, collections, monkeypatch):
    response = app.test_client().post(SERVICE_URL, json=_patient_view())
    assert response.status_code == 200
    collections.clear()
    monkeypatch.setattr(metrics, "_in_flight", 1)  # another CDS call of this process is being answered
    response.close()
    assert collections == []


def test_the_request_is_freed_before_the_collection(app, monkeypatch):
    """Collecting before the request's objects are dropped would scan them all, and promote them."""
    evaluations: list[weakref.ref] = []
    real_evaluate = routes.evaluate

    def evaluate(*args, **kwargs):
        result = real_evaluate(*args, **kwargs)
        evaluations.append(weakref.ref(result))
        return result

    monkeypatch.setattr(routes, "evaluate", evaluate)
    alive_at_collection: list[bool] = []

    def note(phase, info):
        if phase == "start" and evaluations:
            alive_at_collection.append(evaluations[-1]() is not None)

    response = app.test_client().post(SERVICE_URL, json=_patient_view())
    assert response.status_code == 200 and evaluations
    gc.callbacks.append(note)
    try:
        response.close()
    finally:
        gc.callbacks.remove(note)
    assert alive_at_collection == [False]


def test_a_failing_step_after_the_answer_still_frees_and_collects(app, collections, monkeypatch):
    cache = app.extensions["relapse_cds.model_cache"]
    calls: list[int] = []

    def store_pending():  # the route stores leftovers first, then once the answer is sent: that one fails
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("store failed")

    monkeypatch.setattr(cache, "store_pending", store_pending)
    response = app.test_client().post(SERVICE_URL, json=_patient_view())
    assert response.status_code == 200
    collections.clear()
    with pytest.raises(RuntimeError):
        response.close()
    assert len(calls) == 2 and collections != []
