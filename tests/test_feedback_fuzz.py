"""Arbitrary feedback bodies: always a 200 or a 4xx OperationOutcome with a message, never a 5xx; and
whatever is acknowledged is stored exactly once."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from conftest import SERVICE_URL, check_body
from service import create_app
from service.config import Settings
from service.store import StoreSettings
from service.store.schema import feedback

FEEDBACK_URL = SERVICE_URL + "/feedback"

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
timestamps = st.sampled_from(["2026-11-30T10:00:00Z", "2026-11-30T10:00:00.123+02:00", "2026-11-30", "2026-13-01T00:00:00Z", "", "now"])
items = st.fixed_dictionaries(
    {"card": st.one_of(st.text(max_size=40), st.integers()), "outcome": st.sampled_from(["accepted", "overridden", "ignored", ""])},
    optional={
        "outcomeTimestamp": timestamps,
        "acceptedSuggestions": st.lists(st.one_of(st.fixed_dictionaries({"id": st.text(max_size=10)}), json_values), max_size=3),
        "overrideReason": st.one_of(json_values, st.fixed_dictionaries({}, optional={
            "reason": st.one_of(json_values, st.fixed_dictionaries({"code": st.text(max_size=10)}, optional={"system": st.text(max_size=10)})),
            "userComment": st.text(max_size=30)})),
        "extension": json_values,
    },
)
bodies = st.one_of(json_values, st.fixed_dictionaries({"feedback": st.one_of(json_values, st.lists(items, max_size=4))}))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    return create_app(Settings(), StoreSettings(data_dir=data, database_url=f"sqlite:///{data / 'store.sqlite3'}"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_any_feedback_body_is_answered_cleanly(app, body):
    client = app.test_client()
    response = client.post(FEEDBACK_URL, json=body)
    answer = response.get_json()
    event(f"status {response.status_code}")
    if response.status_code == 200:
        assert answer["stored"] + answer["duplicates"] == len(body["feedback"])
        again = client.post(FEEDBACK_URL, json=body).get_json()
        assert again["stored"] == 0
    else:
        check_body(FEEDBACK_URL, response.status_code, answer)
        assert response.status_code == 400


def test_the_fuzzed_store_holds_no_duplicates(app):
    with app.extensions["relapse_cds.store"].engine.connect() as c:
        assert c.execute(select(func.count()).select_from(feedback)).scalar() == \
            c.execute(select(func.count(func.distinct(feedback.c.item_hash)))).scalar()
