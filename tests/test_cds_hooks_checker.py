"""Tests for tests/cds_hooks_checker.py: one minimal invalid example per rule,
plus fully populated valid bodies that must pass."""
import copy
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cds_hooks_checker as chk  # noqa: E402

CARD_UUID = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
SUGG_UUID = "e56e1945-20b3-4393-8503-a1a20fd73152"
SUGG2_UUID = "0f6c9a1d-6d57-4a0e-9b55-8a2f5f7c0b11"

FULL_CARD = {
    "uuid": CARD_UUID,
    "summary": "Relapse risk is high: consider an early follow-up visit",
    "detail": "Risk score **0.82** (threshold 0.6).\n\n* prior relapse within 12 months",
    "indicator": "warning",
    "source": {
        "label": "relapse-cds",
        "url": "https://example.org/relapse-cds",
        "icon": "https://example.org/relapse-cds/icon-100.png",
        "topic": {"system": "http://example.org/topics", "code": "relapse", "display": "Relapse risk"},
    },
    "suggestions": [
        {
            "label": "Book follow-up in 2 weeks",
            "uuid": SUGG_UUID,
            "isRecommended": True,
            "actions": [
                {
                    "type": "create",
                    "description": "Create a follow-up ServiceRequest",
                    "resource": {
                        "resourceType": "ServiceRequest",
                        "status": "draft",
                        "intent": "proposal",
                        "subject": {"reference": "Patient/1288992"},
                    },
                },
                {
                    "type": "update",
                    "description": "Record the risk score on the draft order",
                    "resource": {"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft",
                                 "intent": "order", "subject": {"reference": "Patient/1288992"}},
                    "resourceId": "ServiceRequest/sr-1",
                },
            ],
        },
        {
            "label": "Cancel the routine 6-month visit",
            "uuid": SUGG2_UUID,
            "isRecommended": False,
            "actions": [
                {"type": "delete", "description": "Remove the routine visit",
                 "resourceId": "ServiceRequest/routine-6m"},
            ],
        },
    ],
    "selectionBehavior": "at-most-one",
    "overrideReasons": [
        {"code": "patient-refused", "system": "http://example.org/override-reasons", "display": "Patient refused"},
        {"code": "already-scheduled", "system": "http://example.org/override-reasons",
         "display": "Follow-up already scheduled"},
    ],
    "links": [
        {"label": "Relapse guideline", "url": "https://example.org/guideline", "type": "absolute"},
        {"label": "Relapse planner app", "url": "https://smart.example.org/launch", "type": "smart",
         "appContext": "{\"patient\":\"1288992\"}", "autolaunchable": False},
    ],
}

FULL_RESPONSE = {
    "cards": [FULL_CARD, {"summary": "Info only", "indicator": "info", "source": {"label": "relapse-cds"}}],
    "systemActions": [
        {"type": "update", "resource": {"resourceType": "ServiceRequest", "id": "mri-1", "status": "active",
                                        "intent": "order", "subject": {"reference": "Patient/1"}}},
    ],
    "extension": {"org.example.relapse-cds.model-version": "1.4.0"},
}

FULL_DISCOVERY = {
    "services": [
        {
            "hook": "patient-view",
            "title": "Relapse risk",
            "description": "Flags patients at high risk of relapse.",
            "id": "relapse-risk",
            "prefetch": {
                "patient": "Patient/{{context.patientId}}",
                "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
                "user": "PractitionerRole?_id={{userPractitionerRoleId}}",
                "labs": "Observation?patient={{context.patientId}}&date=gt{{today() - 90 days}}",
            },
            "usageRequirements": "Needs Condition and Observation read access.",
            "extension": {"org.example.sla-ms": 500},
        }
    ]
}

FULL_REQUEST = {
    "hook": "patient-view",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "fhirServer": "https://ehr.example.org/fhir",
    "fhirAuthorization": {"access_token": "opaque", "token_type": "Bearer", "expires_in": 300,
                          "scope": "patient/Patient.read", "subject": "relapse-cds", "patient": "1288992"},
    "context": {"userId": "PractitionerRole/123", "patientId": "1288992", "encounterId": "456"},
    "prefetch": {"patient": {"resourceType": "Patient", "id": "1288992"}, "lastA1c": None},
}

FULL_FEEDBACK = {
    "feedback": [
        {"card": CARD_UUID, "outcome": "accepted", "acceptedSuggestions": [{"id": SUGG_UUID}],
         "outcomeTimestamp": "2021-12-11T10:05:31Z"},
        {"card": CARD_UUID, "outcome": "overridden",
         "overrideReason": {"reason": {"code": "d7ecf885", "system": "https://example.com/override"},
                            "userComment": "Seen last week."},
         "outcomeTimestamp": "2020-12-11T00:00:00.52Z"},
    ]
}


def _hits(violations, needle):
    return [v for v in violations if needle in v]


def _mutate(base, fn):
    body = copy.deepcopy(base)
    fn(body)
    return body


def _set(path, value):
    """Return a mutator setting a dotted/indexed path (e.g. 'links.0.type')."""
    def fn(obj):
        *parents, last = path.split(".")
        for part in parents:
            obj = obj[int(part)] if part.isdigit() else obj[part]
        obj[int(last) if last.isdigit() else last] = value
    return fn


def _del(path):
    def fn(obj):
        *parents, last = path.split(".")
        for part in parents:
            obj = obj[int(part)] if part.isdigit() else obj[part]
        del obj[int(last) if last.isdigit() else last]
    return fn


# --------------------------------------------------------------------------
# Valid bodies
# --------------------------------------------------------------------------
def test_full_card_with_suggestions_override_reasons_and_links_passes():
    assert chk.check_card(FULL_CARD) == []
    chk.assert_conformant_card(FULL_CARD)


def test_full_response_passes_strict():
    assert chk.check_response(FULL_RESPONSE, strict=True) == []
    chk.assert_conformant_response(FULL_RESPONSE)


def test_empty_cards_is_no_guidance():
    assert chk.check_response({"cards": []}) == []


def test_full_discovery_passes_and_empty_services_allowed():
    assert chk.check_discovery(FULL_DISCOVERY, strict=True) == []
    assert chk.check_discovery({"services": []}) == []
    chk.assert_conformant_discovery(FULL_DISCOVERY)


def test_full_request_and_feedback_pass():
    assert chk.check_request(FULL_REQUEST, strict=True) == []
    assert chk.check_feedback(FULL_FEEDBACK, strict=True) == []


def test_summary_of_139_characters_passes():
    assert chk.check_card(_mutate(FULL_CARD, _set("summary", "x" * 139))) == []


def test_spec_example_response_passes():
    body = {
        "cards": [
            {"uuid": CARD_UUID, "summary": "Example Card", "indicator": "info", "detail": "This is an example card.",
             "source": {"label": "Static CDS Service Example", "url": "https://example.com",
                        "icon": "https://example.com/img/icon-100px.png"},
             "links": [{"label": "Google", "url": "https://google.com", "type": "absolute"},
                       {"label": "SMART Example App", "url": "https://smart.example.com/launch", "type": "smart",
                        "appContext": "{\"session\":3456356,\"settings\":{\"module\":4235}}"}]},
            {"summary": "Another card", "indicator": "warning", "source": {"label": "Static CDS Service Example"},
             "overrideReasons": [{"code": "12354", "system": "http://example.org/override-reasons",
                                  "display": "Contraindicated"}]},
        ]
    }
    assert chk.check_response(body) == []


def test_spec_autolaunchable_example_lacks_required_indicator():
    # The spec's own "Example response using autolaunchable" omits `indicator`.
    card = {"uuid": CARD_UUID, "summary": "Lung cancer screening shared decision making",
            "source": {"label": "LCSSDM"},
            "links": [{"label": "Github", "url": "https://github.com", "type": "absolute", "autolaunchable": True}]}
    assert _hits(chk.check_card(card), "indicator: required")


# --------------------------------------------------------------------------
# Card rules: (mutation of FULL_CARD, expected fragment of a violation)
# --------------------------------------------------------------------------
CARD_CASES = [
    # §Card Attributes
    ("summary-missing", _del("summary"), "summary: required"),
    ("summary-not-string", _set("summary", 42), "summary: must be a string"),
    ("summary-140-chars", _set("summary", "x" * 140), "fewer than 140"),
    ("summary-blank", _set("summary", "   "), "summary: must not be blank"),
    ("indicator-missing", _del("indicator"), "indicator: required"),
    ("indicator-bad", _set("indicator", "hard-stop"), "not one of info|warning|critical"),
    ("uuid-not-uuid", _set("uuid", "card-1"), "uuid: 'card-1' is not a UUID"),
    ("uuid-not-string", _set("uuid", 123), "uuid: must be a string"),
    ("uuid-urn-prefix", _set("uuid", "urn:uuid:" + CARD_UUID), "without the 'urn:uuid:' prefix"),
    ("detail-not-string", _set("detail", ["a"]), "detail: must be a string"),
    # §Source
    ("source-missing", _del("source"), "source: required object"),
    ("source-not-object", _set("source", "relapse-cds"), "source: must be a JSON object"),
    ("source-label-missing", _del("source.label"), "source.label: required"),
    ("source-label-empty", _set("source.label", ""), "source.label: empty"),
    ("source-url-relative", _set("source.url", "/about"), "source.url: '/about' is not an absolute"),
    ("source-icon-relative", _set("source.icon", "icon.png"), "source.icon: 'icon.png' is not an absolute"),
    ("topic-not-coding", _set("source.topic", "relapse"), "source.topic: a Coding must be a JSON object"),
    ("topic-missing-system", _del("source.topic.system"), "source.topic.system: required"),
    ("topic-missing-code", _del("source.topic.code"), "source.topic.code: required"),
    # §Suggestion
    ("suggestions-not-array", _set("suggestions", {"label": "x"}), "suggestions: must be an array"),
    ("suggestion-label-missing", _del("suggestions.0.label"), "suggestions[0].label: required"),
    ("suggestion-uuid-bad", _set("suggestions.0.uuid", "s1"), "suggestions[0].uuid: 's1' is not a UUID"),
    ("isRecommended-not-bool", _set("suggestions.0.isRecommended", "true"), "isRecommended: must be a boolean"),
    ("actionSelectionBehavior-bad", _set("suggestions.0.actionSelectionBehavior", "one"), "cds-resp-7"),
    ("selectionBehavior-missing", _del("selectionBehavior"), "cds-resp-6"),
    ("selectionBehavior-bad", _set("selectionBehavior", "all"), "not one of at-most-one|any"),
    ("at-most-one-two-recommended", _set("suggestions.1.isRecommended", True), "cds-resp-1"),
    # §Action
    ("action-type-missing", _del("suggestions.0.actions.0.type"), "actions[0].type: required"),
    ("action-type-bad", _set("suggestions.0.actions.0.type", "patch"), "not one of create|update|delete"),
    ("action-description-missing", _del("suggestions.0.actions.0.description"), "cds-resp-5"),
    ("action-description-not-string", _set("suggestions.0.actions.0.description", 1), "description: must be a string"),
    ("create-without-resource", _del("suggestions.0.actions.0.resource"), "resource: required when type is 'create'"),
    ("create-resource-not-object", _set("suggestions.0.actions.0.resource", "ServiceRequest/1"),
     "must be a FHIR resource (JSON object)"),
    ("create-resource-no-resourceType", _del("suggestions.0.actions.0.resource.resourceType"), "resourceType"),
    ("update-without-resource", _del("suggestions.0.actions.1.resource"), "resource: required when type is 'update'"),
    ("update-resource-without-id", _del("suggestions.0.actions.1.resource.id"), "must carry the id"),
    ("update-resourceId-mismatch", _set("suggestions.0.actions.1.resourceId", "ServiceRequest/other"),
     "does not match resource ServiceRequest/sr-1"),
    ("delete-without-resourceId", _del("suggestions.1.actions.0.resourceId"), "resourceId: required when type is 'delete'"),
    ("delete-with-resource", _set("suggestions.1.actions.0.resource", "ServiceRequest/routine-6m"),
     "must be absent when type is 'delete'"),
    ("resourceId-not-relative-ref", _set("suggestions.1.actions.0.resourceId", "routine-6m"),
     "is not a relative reference"),
    # §Reasons for rejecting a card / §Coding
    ("override-display-missing", _del("overrideReasons.0.display"), "cds-resp-4"),
    ("override-code-missing", _del("overrideReasons.0.code"), "overrideReasons[0].code: required"),
    ("override-system-missing", _del("overrideReasons.1.system"), "overrideReasons[1].system: required"),
    ("override-not-coding", _set("overrideReasons", ["Patient refused"]), "a Coding must be a JSON object"),
    # §Link
    ("link-label-missing", _del("links.0.label"), "links[0].label: required"),
    ("link-url-missing", _del("links.0.url"), "links[0].url: required"),
    ("link-url-relative", _set("links.0.url", "guideline.html"), "links[0].url: 'guideline.html' is not an absolute"),
    ("link-url-javascript", _set("links.0.url", "javascript:alert(1)"), "is not an absolute http(s) URL"),
    ("link-type-missing", _del("links.0.type"), "links[0].type: required"),
    ("link-type-bad", _set("links.0.type", "relative"), "not one of absolute|smart"),
    ("appContext-on-absolute", _set("links.0.appContext", "x"), "cds-resp-3"),
    ("appContext-not-string", _set("links.1.appContext", {"patient": "1"}), "appContext: must be a string"),
    ("autolaunchable-not-bool", _set("links.1.autolaunchable", "yes"), "autolaunchable: must be a boolean"),
    # §Use of JSON: optional members omitted, not null/empty (recursively)
    ("detail-null", _set("detail", None), "detail: null is not allowed"),
    ("detail-empty-string", _set("detail", ""), 'detail: empty "" is not allowed'),
    ("links-empty-array", _set("links", []), "links: empty [] is not allowed"),
    ("overrideReasons-null", _set("overrideReasons", None), "overrideReasons: null is not allowed"),
    ("source-url-null", _set("source.url", None), "source.url: null is not allowed"),
    ("topic-empty-object", _set("source.topic", {}), "source.topic: empty {} is not allowed"),
    ("topic-display-empty", _set("source.topic.display", ""), "source.topic.display: empty"),
    ("suggestion-uuid-null", _set("suggestions.0.uuid", None), "suggestions[0].uuid: null is not allowed"),
    ("actions-empty", _set("suggestions.0.actions", []), "suggestions[0].actions: empty []"),
    ("action-description-empty", _set("suggestions.0.actions.0.description", ""), "actions[0].description: empty"),
    ("link-appContext-empty", _set("links.1.appContext", ""), "links[1].appContext: empty"),
    ("null-inside-fhir-resource", _set("suggestions.0.actions.0.resource.status", None),
     "resource.status: null is not allowed"),
    ("empty-array-item", _set("links", [{}]), "links[0]: array items must not be empty"),
    # §Extensions
    ("card-extension-not-object", _set("extension", "x"), "extension SHALL be a JSON object"),
    ("link-extension-array", _set("links.0.extension", [1]), "links[0].extension: the value of an extension"),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CARD_CASES], ids=[c[0] for c in CARD_CASES])
def test_card_rule_violations_are_caught(mutate, expected):
    card = _mutate(FULL_CARD, mutate)
    violations = chk.check_card(card)
    assert violations, "expected at least one violation"
    if expected is not None:
        assert _hits(violations, expected), violations
    # The same card inside a response is caught too, with the array path.
    in_response = chk.check_response({"cards": [card]})
    assert in_response and all(v.startswith(("cards[0]", "cards")) for v in in_response), in_response


def test_nan_is_not_json():
    card = _mutate(FULL_CARD, _set("detail", float("inf")))
    assert _hits(chk.check_card(card), "not representable in JSON")


def test_non_json_type_is_flagged():
    assert _hits(chk.check_card(_mutate(FULL_CARD, _set("detail", {1, 2}))), "not a JSON value")


def test_card_must_be_object():
    assert chk.check_card(["not", "a", "card"])
    assert _hits(chk.check_response({"cards": ["x"]}), "cards[0]: a card must be a JSON object")


def test_null_is_fine_inside_fhir_primitive_array():
    card = _mutate(FULL_CARD, _set("suggestions.0.actions.0.resource.note",
                                   [{"text": "a"}]))
    card["suggestions"][0]["actions"][0]["resource"]["instantiatesUri"] = [None, "http://x"]
    assert chk.check_card(card) == []


def test_fhir_extension_array_inside_resource_is_not_a_cds_extension():
    card = _mutate(FULL_CARD, _set("suggestions.0.actions.0.resource.extension",
                                   [{"url": "http://example.org/x", "valueString": "y"}]))
    assert chk.check_card(card) == []


# --------------------------------------------------------------------------
# Response-level rules (§CDS Service Response, §System Action, §Extensions)
# --------------------------------------------------------------------------
RESPONSE_CASES = [
    ("cards-missing", _del("cards"), "cards: required array is missing"),
    ("cards-not-array", _set("cards", {"summary": "x"}), "cards: must be an array"),
    ("cards-null", _set("cards", None), "cards: null is not allowed"),
    ("systemActions-not-array", _set("systemActions", {"type": "update"}), "systemActions: must be an array"),
    ("systemActions-empty", _set("systemActions", []), "systemActions: empty []"),
    ("systemAction-type-bad", _set("systemActions.0.type", "upsert"), "systemActions[0].type"),
    ("systemAction-update-no-resource", _del("systemActions.0.resource"), "required when type is 'update'"),
    ("systemAction-description-empty", _set("systemActions.0.description", ""), "systemActions[0].description: empty"),
    ("systemAction-delete-no-resourceId", _set("systemActions.0", {"type": "delete"}), "cds-resp-2"),
    ("extension-not-object", _set("extension", ["org.example"]), "extension: the value of an extension SHALL be a JSON object"),
    ("extension-string", _set("extension", "org.example"), "extension: the value of an extension SHALL be a JSON object"),
    ("extension-null", _set("extension", None), "extension: the value of an extension SHALL be a JSON object"),
    ("extension-empty", _set("extension", {}), "extension: empty {}"),
    ("duplicate-card-uuid", _set("cards.1.uuid", CARD_UUID), "cards[1].uuid: duplicates cards[0].uuid"),
    ("duplicate-suggestion-uuid", _set("cards.0.suggestions.1.uuid", SUGG_UUID), "uuids must be unique"),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in RESPONSE_CASES], ids=[c[0] for c in RESPONSE_CASES])
def test_response_rule_violations_are_caught(mutate, expected):
    violations = chk.check_response(_mutate(FULL_RESPONSE, mutate))
    assert _hits(violations, expected), violations


def test_system_action_description_is_optional():
    assert "description" not in FULL_RESPONSE["systemActions"][0]
    assert chk.check_response(FULL_RESPONSE) == []


def test_response_must_be_object():
    assert _hits(chk.check_response([]), "must be a JSON object")
    assert _hits(chk.check_response(None), "must be a JSON object")


def test_unknown_top_level_key_only_flagged_in_strict_mode():
    body = _mutate(FULL_RESPONSE, _set("debug", {"score": 0.8}))
    # The spec states no "reject unknown keys" rule; it only reserves `extension`.
    assert chk.check_response(body) == []
    assert _hits(chk.check_response(body, strict=True), "debug: key not defined by CDS Hooks")


def test_strict_flags_unknown_card_key_and_non_namespaced_extension():
    body = _mutate(FULL_RESPONSE, _set("cards.0.score", 0.8))
    body["extension"] = {"modelVersion": "1"}
    violations = chk.check_response(body, strict=True)
    assert _hits(violations, "cards[0].score: key not defined")
    assert _hits(violations, "reverse-domain")


def test_assert_conformant_response_lists_all_violations():
    body = {"cards": [{"summary": "", "indicator": "urgent"}]}
    with pytest.raises(AssertionError) as err:
        chk.assert_conformant_response(body)
    text = str(err.value)
    for fragment in ("cards[0].summary", "cards[0].indicator", "cards[0].source"):
        assert fragment in text
    assert "3 violation(s)" in text


# --------------------------------------------------------------------------
# Discovery (§Discovery, §Prefetch Template, §Extensions)
# --------------------------------------------------------------------------
DISCOVERY_CASES = [
    ("services-missing", _del("services"), "services: required array is missing"),
    ("services-not-array", _set("services", {"id": "x"}), "services: must be an array"),
    ("service-not-object", _set("services", ["relapse-risk"]), "services[0]: a CDS Service must be a JSON object"),
    ("hook-missing", _del("services.0.hook"), "services[0].hook: required"),
    ("description-missing", _del("services.0.description"), "services[0].description: required"),
    ("id-missing", _del("services.0.id"), "services[0].id: required"),
    ("id-not-string", _set("services.0.id", 7), "services[0].id: must be a string"),
    ("id-not-url-safe", _set("services.0.id", "relapse risk/v2"), "is not URL-safe"),
    ("title-not-string", _set("services.0.title", ["Relapse"]), "services[0].title: must be a string"),
    ("title-empty", _set("services.0.title", ""), "services[0].title: empty"),
    ("usageRequirements-not-string", _set("services.0.usageRequirements", True), "usageRequirements: must be a string"),
    ("prefetch-not-object", _set("services.0.prefetch", ["Patient/{{context.patientId}}"]), "prefetch: must be an object"),
    ("prefetch-empty", _set("services.0.prefetch", {}), "services[0].prefetch: empty {}"),
    ("prefetch-value-not-string", _set("services.0.prefetch.patient", {"q": "Patient"}), "template must be a string"),
    ("prefetch-value-null", _set("services.0.prefetch.patient", None), "prefetch.patient: null"),
    ("prefetch-absolute-url", _set("services.0.prefetch.patient", "https://ehr/fhir/Patient/{{context.patientId}}"),
     "must be a relative FHIR request"),
    ("prefetch-unbalanced-token", _set("services.0.prefetch.patient", "Patient/{{context.patientId}"), "unbalanced"),
    ("prefetch-bad-token", _set("services.0.prefetch.patient", "Patient/{{patientId}}"), "prefetch token {{patientId}}"),
    ("usageRequirements-null", _set("services.0.usageRequirements", None), "usageRequirements: null"),
    ("service-extension-not-object", _set("services.0.extension", "x"), "services[0].extension: the value of an extension"),
    ("duplicate-id-and-hook", lambda b: b["services"].append(copy.deepcopy(b["services"][0])),
     "services[1]: duplicates services[0]"),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in DISCOVERY_CASES], ids=[c[0] for c in DISCOVERY_CASES])
def test_discovery_rule_violations_are_caught(mutate, expected):
    violations = chk.check_discovery(_mutate(FULL_DISCOVERY, mutate))
    assert _hits(violations, expected), violations


def test_same_id_for_different_hooks_is_allowed():
    body = copy.deepcopy(FULL_DISCOVERY)
    other = copy.deepcopy(body["services"][0])
    other["hook"] = "encounter-start"
    body["services"].append(other)
    assert chk.check_discovery(body) == []


def test_assert_conformant_discovery_raises():
    with pytest.raises(AssertionError, match="services: required array"):
        chk.assert_conformant_discovery({})
    with pytest.raises(AssertionError, match="must be a JSON object"):
        chk.assert_conformant_discovery([])


def test_strict_discovery_wants_title():
    body = _mutate(FULL_DISCOVERY, _del("services.0.title"))
    assert chk.check_discovery(body) == []
    assert _hits(chk.check_discovery(body, strict=True), "title: RECOMMENDED")


# --------------------------------------------------------------------------
# Request (§Calling a CDS Service, cds-r-1/2, patient-view context)
# --------------------------------------------------------------------------
REQUEST_CASES = [
    ("hook-missing", _del("hook"), "hook: required"),
    ("hookInstance-not-uuid", _set("hookInstance", "abc"), "hookInstance: 'abc' is not a UUID"),
    ("fhirServer-missing-with-auth", _del("fhirServer"), "cds-r-1"),
    ("fhirServer-relative", _set("fhirServer", "fhir"), "fhirServer: 'fhir' is not an absolute"),
    ("token-type", _set("fhirAuthorization.token_type", "bearer"), "fixed value 'Bearer'"),
    ("expires-in-string", _set("fhirAuthorization.expires_in", "300"), "expires_in: must be an integer"),
    ("access-token-missing", _del("fhirAuthorization.access_token"), "access_token: required"),
    ("context-missing", _del("context"), "context: required object"),
    ("prefetch-not-resource", _set("prefetch.patient", "Patient/1"), "must be a FHIR resource or null"),
    ("pv-userId-format", _set("context.userId", "123"), "ord-1"),
    ("pv-userId-type", _set("context.userId", "Device/1"), "type must be one of"),
    ("pv-patientId-missing", _del("context.patientId"), "context.patientId: required"),
    ("pv-encounterId-bad", _set("context.encounterId", "a b"), "is not a FHIR id"),
    ("context-null-member", _set("context.encounterId", None), "context.encounterId: null"),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES])
def test_request_rule_violations_are_caught(mutate, expected):
    violations = chk.check_request(_mutate(FULL_REQUEST, mutate))
    assert _hits(violations, expected), violations


def test_request_patient_scope_without_patient_is_strict_only():
    body = _mutate(FULL_REQUEST, _del("fhirAuthorization.patient"))
    assert chk.check_request(body) == []
    assert _hits(chk.check_request(body, strict=True), "cds-r-2")


# --------------------------------------------------------------------------
# Feedback (§Feedback, cds-fb-1..3)
# --------------------------------------------------------------------------
FEEDBACK_CASES = [
    ("feedback-missing", _del("feedback"), "feedback: required array"),
    ("card-not-uuid", _set("feedback.0.card", "card-1"), "feedback[0].card: 'card-1' is not a UUID"),
    ("outcome-bad", _set("feedback.0.outcome", "ignored"), "cds-fb-1"),
    ("accepted-without-suggestions", _del("feedback.0.acceptedSuggestions"), "cds-fb-2"),
    ("accepted-suggestion-id-missing", _set("feedback.0.acceptedSuggestions", [{"uuid": SUGG_UUID}]),
     "acceptedSuggestions[0].id: required"),
    ("override-reason-empty-of-both", _set("feedback.1.overrideReason", {"extension": {"org.x": 1}}), "cds-fb-3"),
    ("override-reason-coding-no-system", _del("feedback.1.overrideReason.reason.system"), "reason.system: required"),
    ("timestamp-missing", _del("feedback.0.outcomeTimestamp"), "outcomeTimestamp: required"),
    ("timestamp-not-utc", _set("feedback.0.outcomeTimestamp", "2021-12-11T10:05:31+02:00"), "in UTC"),
    ("timestamp-no-zone", _set("feedback.0.outcomeTimestamp", "2021-12-11T10:05:31"), "RFC 3339"),
    ("timestamp-bad-date", _set("feedback.0.outcomeTimestamp", "2021-13-11T10:05:31Z"), "RFC 3339"),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in FEEDBACK_CASES], ids=[c[0] for c in FEEDBACK_CASES])
def test_feedback_rule_violations_are_caught(mutate, expected):
    violations = chk.check_feedback(_mutate(FULL_FEEDBACK, mutate))
    assert _hits(violations, expected), violations


def test_empty_objects_are_reported_once_not_cascaded():
    assert len(chk.check_card({})) == 3  # summary, indicator, source all missing
    assert chk.check_response({"cards": [{}]}) == [
        "cards[0]: array items must not be empty {} [§Use of JSON]"]
    assert len(chk.check_card(_mutate(FULL_CARD, _set("source.topic", {})))) == 1
