"""Answers are written with orjson (service/api/answer_json.py): the same JSON values as Flask's own
provider, for real answers and for the awkward values an answer could hold."""

from __future__ import annotations

import dataclasses
import decimal
import json
import math
import uuid
from datetime import date, datetime, timezone

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SERVICE_URL
from fhir_builders import diagnosis, hook_request, mrd, patient, record, relapse
from service.api.answer_json import AnswerJSONProvider


FAST_APP, PLAIN_APP = Flask("fast"), Flask("plain")  # a provider holds its app weakly: kept here
FAST_APP.json = AnswerJSONProvider(FAST_APP)
for _app in (FAST_APP, PLAIN_APP):
    _app.json.sort_keys, _app.json.compact = False, True
FAST: AnswerJSONProvider = FAST_APP.json
PLAIN: DefaultJSONProvider = PLAIN_APP.json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


def _written(value: object) -> str:
    with FAST_APP.app_context():
        return FAST.response(value).get_data(as_text=True)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_the_same_json_values_as_flasks_provider(value):
    assert json.loads(_written(value)) == json.loads(PLAIN.dumps(value))


@dataclasses.dataclass
class _Point:
    x: int
    when: date


class _Html:
    def __html__(self) -> str:
        return "<b>x</b>"


def test_values_orjson_writes_otherwise_are_handed_to_flask_as_before():
    awkward = {
        "day": date(2024, 6, 1), "moment": datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc),
        "point": _Point(1, date(2020, 1, 2)), "amount": decimal.Decimal("1.50"), "id": uuid.UUID(int=7),
        "html": _Html(), "big": 2**70, "lone": "\ud800", "keys": {1: "one"},
    }
    for key, value in awkward.items():
        assert json.loads(_written({key: value})) == json.loads(PLAIN.dumps({key: value})), key


def test_keys_are_sorted_when_the_app_asks_and_dumps_stays_flasks():
    FAST.sort_keys = True
    try:
        assert list(json.loads(_written({"b": 1, "a": {"d": 2, "c": 3}}))) == ["a", "b"]
        assert _written({"b": 1, "a": {"d": 2, "c": 3}}).startswith('{"a":{"c":3,"d":2}')
    finally:
        FAST.sort_keys = False
    assert FAST.dumps({"a": "é", "b": [1, 2]}) == PLAIN.dumps({"a": "é", "b": [1, 2]})


def test_non_ascii_is_utf8_and_numbers_keep_their_values():
    text = _written({"t": "≥ 25% blasts, 10⁻⁴", "f": 1e-05, "g": 1e16, "n": float("nan"), "i": float("inf")})
    assert "≥ 25% blasts, 10⁻⁴" in text  # UTF-8, not \u escapes
    read = json.loads(text)
    assert read["f"] == 1e-05 and read["g"] == 1e16
    assert read["n"] is None and read["i"] is None  # not the bare NaN / Infinity no JSON parser need accept
    assert math.isnan(json.loads(PLAIN.dumps({"n": float("nan")}))["n"])


def test_the_service_answers_with_the_same_values_either_way(app, client):
    body = hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"), mrd("2016-01-12", 0.5)))
    response = client.post(SERVICE_URL, json=body)
    assert response.status_code == 200 and response.mimetype == "application/json"
    answer = json.loads(response.get_data())
    assert isinstance(app.json, AnswerJSONProvider)
    assert json.loads(PLAIN.dumps(answer)) == answer
    assert response.get_data().endswith(b"\n") and b"\\u" not in response.get_data()
