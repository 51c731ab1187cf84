"""Garbage is collected once an answer is sent, when no other request is being answered, and on
CPython's own generational schedule (service/gc_policy.py)."""

from __future__ import annotations

import gc
import json
import weakref

import pytest

from conftest import FIXTURES, SERVICE_URL, load_fixture
from test_fixture_patients import as_request

from service.gc_policy import THRESHOLDS, AfterAnswer, generation_due


class _Node:
    pass


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
    for _ in range(THRESHOLDS[1] - 1):
        gc.collect(0)
    assert generation_due() == 0
    gc.collect(0)
    assert generation_due() == 1  # the young generation collected 20 times: the middle one is due
    for _ in range(THRESHOLDS[2] - 1):
        gc.collect(1)
    assert generation_due() == 0
    gc.collect(1)
    assert generation_due() == 2  # the middle one collected 100 times: a full collection is due
    gc.collect(2)
    assert generation_due() == 0


def test_an_idle_process_collects_cycles_after_an_answer(thresholds, collections):
    garbage = _cycle()
    AfterAnswer(lambda: 0).collect()
    assert garbage() is None
    assert collections == [0]


def test_no_collection_while_another_request_is_answered(thresholds, collections):
    garbage = _cycle()
    AfterAnswer(lambda: 1).collect()
    assert garbage() is not None and collections == []
    AfterAnswer(lambda: 0, enabled=False).collect()
    assert garbage() is not None and collections == []


def test_an_older_generation_is_collected_when_due(thresholds, collections):
    for _ in range(THRESHOLDS[1]):
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
