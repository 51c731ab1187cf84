"""Bad input never crashes: a clear 4xx OperationOutcome (the client fixture asserts < 500 and the shape)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SERVICE_URL, assessment_of
from fhir_builders import diagnosis, hook_request, patient, record, relapse


def post_raw(client, data, content_type="application/json"):
    return client.post(SERVICE_URL, data=data, content_type=content_type)


@pytest.mark.parametrize(("data", "status", "text"), [
    (b"{not json", 400, "not valid JSON"),
    (b"", 400, "empty"),
    (b"\xff\xfe\x00", 400, "UTF-8"),
    (b"[]", 400, "JSON object"),
    (b'"text"', 400, "JSON object"),
    (b"null", 400, "JSON object"),
])
def test_malformed_bodies(client, data, status, text):
    response = post_raw(client, data)
    assert response.status_code == status
    assert text in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("encode", [
    lambda text: b"\xef\xbb\xbf" + text.encode(),                       # a UTF-8 byte order mark
    lambda text: text.encode("utf-16"),                                    # UTF-16, as json.loads reads it
    lambda text: text.replace('"hook":', '"extension": {"com.example.x": NaN}, "hook":').encode(),  # not JSON
    lambda text: text.replace('"hook":', '"extension": {"com.example.x": "\\ud800"}, "hook":').encode(),  # a lone surrogate
], ids=["bom", "utf-16", "nan", "lone-surrogate"])
def test_bodies_the_fast_parser_refuses_are_read_as_before(client, encode):
    body = hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10")))
    text = json.dumps(body)
    expected = assessment_of(post_raw(client, text.encode()))
    assert orjson_refuses(encode(text))
    assert assessment_of(post_raw(client, encode(text))) == expected


@pytest.mark.parametrize(("number", "kind"), [
    (b"18446744073709551615", int), (b"-9223372036854775808", int),    # the 64-bit range: exact
    (b"18446744073709551616", float), (b"-9223372036854775809", float),  # beyond it: a float
    (b"9" * 400, float),                                                 # beyond the floats: infinite
])
@pytest.mark.parametrize("around", [b"[%s]", b"\xef\xbb\xbf[%s]", b"[%s, NaN]"], ids=["plain", "bom", "nan"])
def test_a_number_is_read_alike_whatever_else_the_body_holds(number, kind, around):
    """orjson reads what it can and json.loads the rest (a byte order mark, NaN): an integer beyond
    64 bits must not be an int in one body and a float in the other."""
    from service import jsontext

    value = jsontext.loads(around % number)[0]
    assert type(value) is kind and value == (int(number) if kind is int else float(number))


def test_an_integer_of_more_digits_than_python_reads_is_a_clear_400(client):
    for body in (b'{"a": %s}' % (b"9" * 5000), b'\xef\xbb\xbf{"a": %s}' % (b"9" * 5000)):
        response = post_raw(client, body)
        assert response.status_code == 400 and "not valid JSON" in response.get_json()["issue"][0]["diagnostics"]


def orjson_refuses(data: bytes) -> bool:
    import orjson

    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return True
    return False


AUTH = {"access_token": "x", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read", "subject": "cds-service"}


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b.pop("hook"), "hook"),
    (lambda b: b.update(hookInstance="not-a-uuid"), "hookInstance"),
    (lambda b: b.update(hookInstance=42), "hookInstance"),
    (lambda b: b.pop("context"), "context"),
    (lambda b: b.update(context="patient"), "context"),
    (lambda b: b.update(fhirServer="ftp://ehr.example/fhir"), "fhirServer"),
    (lambda b: b.update(fhirAuthorization={"access_token": "x", "token_type": "Bearer", "expires_in": 300, "scope": "x", "subject": "y"}), "fhirAuthorization"),
    (lambda b: b.update(prefetch=[]), "prefetch"),
    (lambda b: b.update(prefetch={"patient": "Patient/1"}), "prefetch"),
    (lambda b: b.update(prefetch={"patient": {"id": "no-resource-type"}}), "prefetch"),
    (lambda b: b.update(hookInstance="urn:uuid:d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"), "hookInstance"),
    (lambda b: b.update(hookInstance="{d1577c69-dfbe-44ad-ba6d-3e05e953b2ea}"), "hookInstance"),
    (lambda b: b.update(hookInstance="d1577c69dfbe44adba6d3e05e953b2ea"), "hookInstance"),
    (lambda b: b.update(fhirServer="https://"), "fhirServer"),
    (lambda b: b.update(fhirServer="https://ehr example/fhir"), "fhirServer"),
    (lambda b: b.update(fhirServer="http://[::1"), "fhirServer"),
    (lambda b: b.update(fhirServer="https://ehr.example:99999/fhir"), "fhirServer"),
    (lambda b: b.update(extension="x"), "extension"),
    (lambda b: b.update(fhirServer="https://ehr.example/fhir", fhirAuthorization=dict(AUTH, expires_in=-1)), "expires_in"),
    (lambda b: b.update(fhirServer="https://ehr.example/fhir", fhirAuthorization=dict(AUTH, scope="")), "scope"),
    (lambda b: b.update(fhirServer="https://ehr.example/fhir", fhirAuthorization=dict(AUTH, token_type="MAC")), "token_type"),
])
def test_wrong_types_name_the_field(client, mutate, field):
    body = hook_request(record(patient()))
    mutate(body)
    response = client.post(SERVICE_URL, json=body)
    assert response.status_code == 400
    assert any(field in issue["diagnostics"] for issue in response.get_json()["issue"])


@pytest.mark.parametrize(("context", "field"), [
    ({}, "patientId"), ({"userId": "Practitioner/1"}, "patientId"),
    ({"userId": "Practitioner/1", "patientId": "has spaces"}, "patientId"), ({"patientId": "p1"}, "userId"),
    ({"userId": "bob", "patientId": "p1"}, "userId"), ({"userId": "Device/1", "patientId": "p1"}, "userId"),
])
def test_patient_view_context_is_validated(client, context, field):
    body = hook_request(record(patient()))
    body["context"] = context
    response = client.post(SERVICE_URL, json=body)
    assert response.status_code == 400 and any(field in i["diagnostics"] for i in response.get_json()["issue"])


def test_unknown_service_is_404(client):
    response = client.post("/cds-services/no-such-service", json=hook_request(record(patient())))
    assert response.status_code == 404 and "GET /cds-services" in response.get_json()["issue"][0]["diagnostics"]


def test_wrong_hook_is_400(client):
    response = client.post(SERVICE_URL, json=hook_request(record(patient()), hook="order-sign"))
    assert response.status_code == 400 and "patient-view" in response.get_json()["issue"][0]["diagnostics"]


def test_wrong_method_is_405(client):
    assert client.get(SERVICE_URL).status_code == 405


def test_unknown_path_is_404(client):
    assert client.get("/nope").status_code == 404


def test_wrong_content_type_is_415(client):
    response = post_raw(client, json.dumps(hook_request()).encode(), content_type="text/plain")
    assert response.status_code == 415


def test_huge_body_is_413(app):
    from conftest import CheckedClient

    client = CheckedClient(app.test_client())
    huge = json.dumps(hook_request(record(patient()), padding="x" * (11 * 1024 * 1024))).encode()
    response = post_raw(client, huge)
    assert response.status_code == 413


def test_deeply_nested_body_is_413(client):
    deep = "[" * 5000 + "]" * 5000
    response = post_raw(client, f'{{"hook": "patient-view", "x": {deep}}}'.encode())
    assert response.status_code == 413


def test_moderately_nested_body_beyond_the_limit_is_413(client):
    nested: dict = {"leaf": 1}
    for _ in range(80):
        nested = {"n": nested}
    response = client.post(SERVICE_URL, json=hook_request(record(patient()), extension={"deep": nested}))
    assert response.status_code == 413


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(json_values)
def test_any_json_body_gets_a_clear_answer(client, body):
    response = client.post(SERVICE_URL, json=body)
    assert response.status_code in (200, 400, 413)


FIELDS = ["hook", "hookInstance", "context", "prefetch", "fhirServer", "fhirAuthorization"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.sampled_from(FIELDS), json_values)
def test_any_field_replaced_by_any_value_gets_a_clear_answer(client, field, value):
    body = hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10")))
    body[field] = value
    assert client.post(SERVICE_URL, json=body).status_code in (200, 400)


RESOURCE_FIELDS = ["code", "onsetDateTime", "bodySite", "clinicalStatus", "subject", "extension", "id", "verificationStatus"]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.sampled_from(RESOURCE_FIELDS), json_values)
def test_wrong_fhir_inside_prefetch_still_answers(client, field, value):
    broken = relapse("2016-05-01")
    broken[field] = value
    prefetch = record(patient(), diagnosis("2015-01-10"), broken)
    response = client.post(SERVICE_URL, json=hook_request(prefetch))
    assert response.status_code == 200
    assessment_of(response)


def test_depth_limit_is_exact():
    from service.jsontext import too_deep as _too_deep

    nested: object = 1
    for _ in range(64):
        nested = [nested]
    assert not _too_deep(json.dumps(nested).encode(), 64)
    assert _too_deep(json.dumps([nested]).encode(), 64)
    assert not _too_deep(b'"scalar"', 1)
    assert not _too_deep(b"{}", 1) and _too_deep(b'{"a": {}}', 1)


@pytest.mark.parametrize(("text", "depth"), [
    ('["[[[", "]]]"]', 1),                # brackets inside strings are text
    (r'{"a\\": ["b"]}', 2),              # an escaped backslash ends no string
    (r'["\"[[", [1]]', 2),               # an escaped quote ends no string
    (r'["\\\"]", [[]]]', 3),            # an escaped backslash, then an escaped quote
    ('{"{": {"}": {"[": []}}}', 4),
    ('\ufeff[[1]]', 2),                  # a byte order mark
    ('[["\u5b22"]]'.encode("utf-16"), 2),  # UTF-16, whose U+5B22 is the bytes of '"['
])
def test_the_depth_of_tricky_text(text, depth):
    from service.jsontext import too_deep as _too_deep

    raw = text if isinstance(text, bytes) else text.encode()
    assert json.loads(raw) is not None  # valid JSON, as the parser has accepted
    assert not _too_deep(raw, depth) and _too_deep(raw, depth - 1)


@pytest.mark.parametrize("mutate", [
    lambda b: b.update(fhirServer="http://fhir_server:8080/fhir"),  # '_' in internal host names
    lambda b: b.update(fhirServer="https://ehr.example/fhir", fhirAuthorization=dict(AUTH, token_type="bearer")),
    lambda b: b["context"].update(userId="PractitionerRole/abc-1"),
    lambda b: b.update(extension={"com.example.site": {"x": 1}}),
    lambda b: b.update(hookInstance="D1577C69-DFBE-44AD-BA6D-3E05E953B2EA"),
])
def test_valid_requests_in_their_less_common_forms_are_accepted(client, mutate):
    body = hook_request(record(patient()))
    mutate(body)
    assert client.post(SERVICE_URL, json=body).status_code == 200


@pytest.mark.parametrize("mutate", [
    lambda b: b["context"].update(userId="Practitioner/abc_123"),
    lambda b: b.update(fhirServer=None),
    lambda b: b.update(extension=None),
])
def test_members_the_service_does_not_use_are_read_leniently(client, mutate):
    body = hook_request(record(patient()))
    mutate(body)
    assert client.post(SERVICE_URL, json=body).status_code == 200


def _depth(value) -> int:
    """Container levels, recursively (the reference for the walk in service/api/body.py)."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


#: Strings made of the characters the reading of the text must see through: quotes, backslashes,
#: brackets, a byte order mark, and other text.
_TRICKY = st.text(alphabet='"\\[]{}\ufeff\u00e9\u5b22\U0001f600a', max_size=4)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | _TRICKY,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(_JSON, st.integers(0, 12), st.booleans(), st.sampled_from([None, 1]), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_the_depth_read_from_the_text_counts_container_levels_as_a_recursive_reading_does(value, limit, ascii_only, indent, encoding):
    from service.jsontext import too_deep as _too_deep

    raw = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode(encoding)
    assert _too_deep(raw, limit) == (_depth(value) > limit)
