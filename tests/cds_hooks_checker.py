"""Stdlib-only conformance checker for CDS Hooks 2.0 JSON bodies.

Written from the specification text in HL7/cds-hooks:
  * ``input/pagecontent/index.md`` at tag ``v2.0.1`` (errata of 2.0.0) and at
    the current ``main`` (3.0.0-ballot, which says SHALL where 2.0 said MUST);
  * the FHIRPath invariants under ``input/fsh/invariants/`` (cds-resp-1..7,
    cds-r-1..2, cds-fb-1..3), which exist only on ``main``;
  * ``input/pagecontent/patient-view.md`` and invariant ``ord-1`` in
    HL7/cds-hooks-library.

Every ``check_*`` function returns a list of human-readable violations; an empty
list means the body is conformant as far as this checker can tell.  Each
message is ``"<json path>: <problem> [<spec section or invariant>]"``.

``strict=True`` adds checks for things the spec only RECOMMENDS or marks as a
warning, plus keys the spec does not define.  The spec states *no* rule that
rejects unknown keys (it only reserves the name ``extension``), so unknown keys
are reported only in strict mode.
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from urllib.parse import urlsplit

__all__ = [
    "check_discovery",
    "check_response",
    "check_card",
    "check_request",
    "check_feedback",
    "assert_conformant_discovery",
    "assert_conformant_response",
    "assert_conformant_card",
    "assert_conformant_request",
    "assert_conformant_feedback",
]

# --------------------------------------------------------------------------
# Value sets and patterns
# --------------------------------------------------------------------------
INDICATORS = ("info", "warning", "critical")
SELECTION_BEHAVIORS = ("at-most-one", "any")
ACTION_TYPES = ("create", "update", "delete")
LINK_TYPES = ("absolute", "smart")
ACTION_SELECTION_BEHAVIORS = ("all", "any", "at-most-one")  # STU, 3.0 ballot
FEEDBACK_OUTCOMES = ("accepted", "overridden")
SUMMARY_LIMIT = 140  # "<140-character": 140 itself is already too long
USER_PREFETCH_TOKENS = (
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
)
PATIENT_VIEW_USER_TYPES = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson")

# A bare RFC 4122 UUID.  The logical models type card/suggestion uuid as FHIR
# `uuid` with implied-string-prefix "urn:uuid:", i.e. the JSON value carries no
# prefix.
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# RFC 3986 "unreserved" characters: safe as a single path segment unescaped.
_URL_SAFE_ID_RE = re.compile(r"^[A-Za-z0-9._~-]+$")
# FHIR id datatype.
_FHIR_ID_RE = re.compile(r"^[A-Za-z0-9.-]{1,64}$")
# FHIR relative reference Type/id[/_history/vid].
_RELATIVE_REF_RE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9.-]{1,64}(/_history/[A-Za-z0-9.-]{1,64})?$")
# cds-hooks-library invariant ord-1: "{type}/{id}".
_ORD1_RE = re.compile(r"^[\d\w]+/[\d\w\-.]+$")
_PREFETCH_TOKEN_RE = re.compile(r"\{\{(.*?)\}\}", re.S)
# RFC 3339 section 5.6 date-time.
_RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

# Spec section labels used in messages.
S_JSON = "§Use of JSON"
S_EXT = "§Extensions"
S_DISC = "§Discovery > Response"
S_PREFETCH = "§Prefetch Template / Prefetch tokens"
S_RESP = "§CDS Service Response > HTTP Response"
S_CARD = "§Card Attributes"
S_SOURCE = "§Source"
S_SUGG = "§Suggestion"
S_ACTION = "§Action"
S_SYSACT = "§System Action"
S_OVERRIDE = "§Reasons for rejecting a card"
S_LINK = "§Link"
S_CODING = "§Coding"
S_REQ = "§Calling a CDS Service > HTTP Request"
S_AUTH = "§Passing the Access Token to the CDS Service"
S_FEEDBACK = "§Feedback"
S_PV = "cds-hooks-library §patient-view > Context"

# Keys each object may carry (2.0 plus the 3.0-ballot additions, which 2.0
# receivers simply ignore).  Used only for the strict unknown-key check.
_KNOWN = {
    "response": {"cards", "systemActions"},
    "card": {"uuid", "summary", "detail", "indicator", "source", "suggestions",
             "selectionBehavior", "overrideReasons", "links"},
    "source": {"label", "url", "icon", "topic"},
    "suggestion": {"label", "uuid", "isRecommended", "actions", "actionSelectionBehavior"},
    "action": {"type", "description", "resource", "resourceId"},
    "link": {"label", "url", "type", "appContext", "autolaunchable"},
    "coding": {"code", "system", "display"},
    "discovery": {"services"},
    "service": {"hook", "title", "description", "id", "prefetch", "usageRequirements",
                "version", "hookVersion"},
    "request": {"hook", "hookInstance", "fhirServer", "fhirAuthorization", "context", "prefetch"},
    "fhirAuthorization": {"access_token", "token_type", "expires_in", "scope", "subject", "patient"},
    "feedbackBody": {"feedback"},
    "feedback": {"card", "outcome", "acceptedSuggestions", "overrideReason", "outcomeTimestamp"},
    "acceptedSuggestion": {"id"},
    "overrideReason": {"reason", "userComment"},
}


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _p(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _is_empty(value) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple, dict)) and len(value) == 0)


def _is_array(value) -> bool:
    return isinstance(value, (list, tuple))


def _is_absolute_url(value) -> bool:
    if not isinstance(value, str) or value != value.strip() or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _str(obj: dict, key: str, path: str, out: list, section: str, *, required=False,
         nonblank=False) -> str | None:
    """Type-check an (optional) string member; returns it when usable.

    null / "" are reported by the generic null-and-empty walk, so they are not
    reported again here (except that a *required* member that is null/"" gets
    no second message either: the walk already said it).
    """
    if key not in obj:
        if required:
            out.append(f"{_p(path, key)}: required string is missing [{section}]")
        return None
    value = obj[key]
    if _is_empty(value):
        return None
    if not isinstance(value, str):
        out.append(f"{_p(path, key)}: must be a string, got {type(value).__name__} [{section}]")
        return None
    if nonblank and not value.strip():
        out.append(f"{_p(path, key)}: must not be blank [{section}]")
        return None
    return value


def _obj(obj: dict, key: str, path: str, out: list, section: str, *, required=False) -> dict | None:
    if key not in obj:
        if required:
            out.append(f"{_p(path, key)}: required object is missing [{section}]")
        return None
    value = obj[key]
    if _is_empty(value):
        return None
    if not isinstance(value, dict):
        out.append(f"{_p(path, key)}: must be a JSON object, got {type(value).__name__} [{section}]")
        return None
    return value


def _arr(obj: dict, key: str, path: str, out: list, section: str, *, required=False):
    if key not in obj:
        if required:
            out.append(f"{_p(path, key)}: required array is missing [{section}]")
        return None
    value = obj[key]
    if value is None or (isinstance(value, (str, dict)) and _is_empty(value)):
        return None  # reported by the walk
    if not _is_array(value):
        out.append(f"{_p(path, key)}: must be an array, got {type(value).__name__} [{section}]")
        return None
    return value


def _bool(obj: dict, key: str, path: str, out: list, section: str) -> None:
    if key in obj and obj[key] is not None and type(obj[key]) is not bool:
        out.append(f"{_p(path, key)}: must be a boolean (true/false), got {_describe(obj[key])} [{section}]")


def _enum(value, allowed, path: str, out: list, section: str) -> None:
    if isinstance(value, str) and value not in allowed:
        out.append(f"{path}: {_describe(value)} is not one of {'|'.join(allowed)} [{section}]")


def _uuid(obj: dict, key: str, path: str, out: list, section: str, *, required=False) -> str | None:
    value = _str(obj, key, path, out, section, required=required)
    if value is None:
        return None
    if value.lower().startswith("urn:uuid:"):
        out.append(f"{_p(path, key)}: must be a bare UUID without the 'urn:uuid:' prefix [{section}]")
        return None
    if not _UUID_RE.match(value):
        out.append(f"{_p(path, key)}: {_describe(value)} is not a UUID [{section}]")
        return None
    return value.lower()


def _unknown_keys(obj: dict, kind: str, path: str, out: list, section: str) -> None:
    for key in obj:
        if key != "extension" and key not in _KNOWN[kind]:
            out.append(
                f"{_p(path, key)}: key not defined by CDS Hooks; put custom data under "
                f"'extension' (strict) [{section}; {S_EXT}]"
            )


def _not_object(value, what: str, path: str, section: str) -> list[str]:
    return [f"{path or what}: {what} must be a JSON object, got {type(value).__name__} [{section}]"]


# --------------------------------------------------------------------------
# §Use of JSON (null / empty) and §Extensions, applied recursively
# --------------------------------------------------------------------------
def _walk(value, path: str, out: list, *, allow_empty: frozenset = frozenset(),
          allow_null: frozenset = frozenset(), fhir: bool = False, strict: bool = False) -> None:
    """Recursive JSON hygiene.

    §Use of JSON: "JSON elements SHALL NOT be null, unless otherwise specified"
    and "null, "", [], or {} are prohibited"; OPTIONAL attributes without a
    value SHALL be omitted.  Also RFC 8259: only JSON types, no NaN/Infinity.
    §Extensions: any member named ``extension`` (outside FHIR resources) SHALL
    be a JSON object; its contents are pre-coordinated, so it is not descended.
    Inside an embedded FHIR resource (``fhir=True``) the FHIR JSON rules apply
    instead: no empty strings/arrays/objects and null only as an array item
    (primitive-array alignment with ``_name`` siblings).
    """
    if isinstance(value, dict):
        for key, child in value.items():
            cpath = _p(path, key)
            if not isinstance(key, str):
                out.append(f"{cpath}: object keys must be strings [{S_JSON}]")
                continue
            if key == "extension" and not fhir:
                if not isinstance(child, dict):
                    out.append(f"{cpath}: the value of an extension SHALL be a JSON object, got "
                               f"{'null' if child is None else type(child).__name__} [{S_EXT}]")
                elif not child:
                    out.append(f"{cpath}: empty {{}} is not allowed (omit optional members instead) [{S_JSON}; {S_EXT}]")
                elif strict:
                    for ext_key in child:
                        if "." not in str(ext_key):
                            out.append(f"{_p(cpath, ext_key)}: extension names SHOULD be globally unique, "
                                       f"e.g. reverse-domain notation (strict) [{S_EXT}]")
                continue
            if child is None:
                if cpath in allow_null:
                    continue
                out.append(f"{cpath}: null is not allowed (omit optional members instead) [{S_JSON}]")
                continue
            if _is_empty(child) and cpath not in allow_empty:
                shown = '""' if child == "" else ("[]" if _is_array(child) else "{}")
                out.append(f"{cpath}: empty {shown} is not allowed (omit optional members instead) [{S_JSON}]")
                continue
            # an object carrying resourceType is an embedded FHIR resource
            child_is_fhir = fhir or (isinstance(child, dict) and "resourceType" in child)
            _walk(child, cpath, out, allow_empty=allow_empty, allow_null=allow_null,
                  fhir=child_is_fhir, strict=strict)
    elif _is_array(value):
        for i, child in enumerate(value):
            cpath = _p(path, i)
            if child is None:
                if fhir:  # FHIR primitive arrays may hold null placeholders
                    continue
                out.append(f"{cpath}: array items must not be null [{S_JSON}]")
                continue
            if _is_empty(child):
                shown = '""' if child == "" else ("[]" if _is_array(child) else "{}")
                out.append(f"{cpath}: array items must not be empty {shown} [{S_JSON}]")
                continue
            _walk(child, cpath, out, allow_empty=allow_empty, allow_null=allow_null, fhir=fhir, strict=strict)
    elif isinstance(value, float):
        if not math.isfinite(value):
            out.append(f"{path}: {value} is not representable in JSON (RFC 8259) [{S_JSON}]")
    elif not (value is None or isinstance(value, (str, bool, int))):
        out.append(f"{path}: {type(value).__name__} is not a JSON value [{S_JSON}]")


# --------------------------------------------------------------------------
# §Coding
# --------------------------------------------------------------------------
def _coding(value, path: str, out: list, *, display_required: bool, section: str, strict: bool) -> None:
    if _is_empty(value) or not isinstance(value, dict):
        if not _is_empty(value):
            out.append(f"{path}: a Coding must be a JSON object [{S_CODING}; {section}]")
        return
    # §Coding: code REQUIRED, system REQUIRED, display CONDITIONAL
    _str(value, "code", path, out, S_CODING, required=True, nonblank=True)
    _str(value, "system", path, out, S_CODING, required=True, nonblank=True)
    if display_required:
        # §Reasons for rejecting a card / cds-resp-4: display SHALL be populated
        _str(value, "display", path, out, f"{section}; cds-resp-4", required=True, nonblank=True)
    else:
        _str(value, "display", path, out, S_CODING)
    if strict:
        _unknown_keys(value, "coding", path, out, S_CODING)


# --------------------------------------------------------------------------
# §Action (card suggestions) and §System Action
# --------------------------------------------------------------------------
def _action(action, path: str, out: list, *, system: bool, strict: bool) -> None:
    section = S_SYSACT if system else S_ACTION
    if _is_empty(action) or not isinstance(action, dict):
        if not _is_empty(action):
            out.append(f"{path}: an action must be a JSON object [{section}]")
        return
    # type REQUIRED, create|update|delete
    a_type = _str(action, "type", path, out, S_ACTION, required=True)
    _enum(a_type, ACTION_TYPES, _p(path, "type"), out, S_ACTION)
    # description REQUIRED for card actions (cds-resp-5); optional for
    # systemActions (3.0-ballot clarification; the 2.0 systemActions example
    # itself has no description).
    if system:
        _str(action, "description", path, out, S_SYSACT)
    else:
        _str(action, "description", path, out, f"{S_ACTION}; cds-resp-5", required=True, nonblank=True)

    resource = action.get("resource")
    resource_id = _str(action, "resourceId", path, out, S_ACTION)
    if resource_id is not None and not _RELATIVE_REF_RE.match(resource_id):
        out.append(f"{_p(path, 'resourceId')}: {_describe(resource_id)} is not a relative reference "
                   f"like 'ServiceRequest/123' [{S_ACTION}]")

    if a_type in ("create", "update"):
        # resource CONDITIONAL: SHALL contain the FHIR resource for create;
        # the whole updated resource for update.
        if "resource" not in action:
            out.append(f"{_p(path, 'resource')}: required when type is {a_type!r} [{S_ACTION}]")
        elif not _is_empty(resource):
            if not isinstance(resource, dict):
                out.append(f"{_p(path, 'resource')}: must be a FHIR resource (JSON object) for "
                           f"type {a_type!r} [{S_ACTION}]")
            else:
                rtype = resource.get("resourceType")
                if not isinstance(rtype, str) or not rtype.strip():
                    out.append(f"{_p(path, 'resource.resourceType')}: a FHIR resource needs a "
                               f"resourceType string [{S_ACTION}; FHIR JSON]")
                if a_type == "update":
                    rid = resource.get("id")
                    # FHIR update needs the logical id of the target resource
                    if not isinstance(rid, str) or not rid:
                        out.append(f"{_p(path, 'resource.id')}: an update must carry the id of the "
                                   f"resource being updated [{S_ACTION}; FHIR update]")
                    elif resource_id is not None and isinstance(rtype, str) and \
                            resource_id.split("/_history/")[0] != f"{rtype}/{rid}":
                        out.append(f"{_p(path, 'resourceId')}: {resource_id!r} does not match resource "
                                   f"{rtype}/{rid} [{S_ACTION}]")
    elif a_type == "delete":
        # cds-resp-2: "A resourceId not a resource must be provided when type =
        # delete" (resource-as-id-string is DEPRECATED in 2.0).
        if "resourceId" not in action:
            out.append(f"{_p(path, 'resourceId')}: required when type is 'delete' [{S_ACTION}; cds-resp-2]")
        if "resource" in action:
            out.append(f"{_p(path, 'resource')}: must be absent when type is 'delete'; use resourceId "
                       f"(resource for delete is DEPRECATED) [{S_ACTION}; cds-resp-2]")
    if strict:
        _unknown_keys(action, "action", path, out, section)


# --------------------------------------------------------------------------
# §Card Attributes and friends
# --------------------------------------------------------------------------
def _card(card, path: str, out: list, strict: bool, *, root: bool = False) -> None:
    # an empty {} inside an array was already reported by the walk; at the
    # root (check_card) nothing else reports it, so check its fields.
    if (_is_empty(card) and not root) or not isinstance(card, dict):
        if not _is_empty(card):
            out.append(f"{path}: a card must be a JSON object [{S_CARD}]")
        return

    # uuid OPTIONAL string; a UUID (logical model type `uuid`)
    _uuid(card, "uuid", path, out, S_CARD)

    # summary REQUIRED string, "One-sentence, <140-character"
    summary = _str(card, "summary", path, out, S_CARD, required=True, nonblank=True)
    if summary is not None and len(summary) >= SUMMARY_LIMIT:
        out.append(f"{_p(path, 'summary')}: must be fewer than {SUMMARY_LIMIT} characters "
                   f"(has {len(summary)}) [{S_CARD}]")

    # detail OPTIONAL (GitHub Flavored) Markdown string
    _str(card, "detail", path, out, S_CARD)

    # indicator REQUIRED: info | warning | critical
    indicator = _str(card, "indicator", path, out, S_CARD, required=True)
    _enum(indicator, INDICATORS, _p(path, "indicator"), out, S_CARD)

    # source REQUIRED object -> §Source
    source = _obj(card, "source", path, out, S_CARD, required=True)
    if source is not None:
        spath = _p(path, "source")
        _str(source, "label", spath, out, S_SOURCE, required=True, nonblank=True)
        for key in ("url", "icon"):
            value = _str(source, key, spath, out, S_SOURCE)
            if value is not None and not _is_absolute_url(value):
                out.append(f"{_p(spath, key)}: {_describe(value)} is not an absolute http(s) URL [{S_SOURCE}]")
        if "topic" in source:
            _coding(source["topic"], _p(spath, "topic"), out, display_required=False,
                    section=S_SOURCE, strict=strict)
        if strict:
            _unknown_keys(source, "source", spath, out, S_SOURCE)

    # suggestions OPTIONAL array -> §Suggestion; selectionBehavior CONDITIONAL
    suggestions = _arr(card, "suggestions", path, out, S_CARD)
    selection = _str(card, "selectionBehavior", path, out, S_CARD)
    _enum(selection, SELECTION_BEHAVIORS, _p(path, "selectionBehavior"), out, S_CARD)
    if suggestions and "selectionBehavior" not in card:
        # cds-resp-6
        out.append(f"{_p(path, 'selectionBehavior')}: required when suggestions are present "
                   f"[{S_CARD}; cds-resp-6]")
    if strict and "selectionBehavior" in card and not suggestions:
        out.append(f"{_p(path, 'selectionBehavior')}: only meaningful with suggestions (strict) [{S_CARD}]")
    recommended = 0
    for i, sugg in enumerate(suggestions or ()):
        gpath = _p(_p(path, "suggestions"), i)
        if _is_empty(sugg) or not isinstance(sugg, dict):
            if not _is_empty(sugg):
                out.append(f"{gpath}: a suggestion must be a JSON object [{S_SUGG}]")
            continue
        _str(sugg, "label", gpath, out, S_SUGG, required=True, nonblank=True)
        _uuid(sugg, "uuid", gpath, out, S_SUGG)
        _bool(sugg, "isRecommended", gpath, out, S_SUGG)
        if sugg.get("isRecommended") is True:
            recommended += 1
        asb = _str(sugg, "actionSelectionBehavior", gpath, out, S_SUGG)
        _enum(asb, ACTION_SELECTION_BEHAVIORS, _p(gpath, "actionSelectionBehavior"), out,
              f"{S_SUGG}; cds-resp-7")
        for j, action in enumerate(_arr(sugg, "actions", gpath, out, S_SUGG) or ()):
            _action(action, _p(_p(gpath, "actions"), j), out, system=False, strict=strict)
        if strict:
            _unknown_keys(sugg, "suggestion", gpath, out, S_SUGG)
    if selection == "at-most-one" and recommended > 1:
        # cds-resp-1
        out.append(f"{_p(path, 'suggestions')}: {recommended} suggestions have isRecommended=true but "
                   f"selectionBehavior is 'at-most-one' (max 1) [{S_SUGG}; cds-resp-1]")

    # overrideReasons OPTIONAL array of Coding, display SHALL be populated
    for i, reason in enumerate(_arr(card, "overrideReasons", path, out, S_CARD) or ()):
        _coding(reason, _p(_p(path, "overrideReasons"), i), out, display_required=True,
                section=S_OVERRIDE, strict=strict)

    # links OPTIONAL array -> §Link
    for i, link in enumerate(_arr(card, "links", path, out, S_CARD) or ()):
        lpath = _p(_p(path, "links"), i)
        if _is_empty(link) or not isinstance(link, dict):
            if not _is_empty(link):
                out.append(f"{lpath}: a link must be a JSON object [{S_LINK}]")
            continue
        _str(link, "label", lpath, out, S_LINK, required=True, nonblank=True)
        url = _str(link, "url", lpath, out, S_LINK, required=True)
        if url is not None and not _is_absolute_url(url):
            out.append(f"{_p(lpath, 'url')}: {_describe(url)} is not an absolute http(s) URL [{S_LINK}]")
        l_type = _str(link, "type", lpath, out, S_LINK, required=True)
        _enum(l_type, LINK_TYPES, _p(lpath, "type"), out, S_LINK)
        _str(link, "appContext", lpath, out, S_LINK)
        if "appContext" in link and l_type is not None and l_type != "smart":
            # cds-resp-3
            out.append(f"{_p(lpath, 'appContext')}: only allowed when type is 'smart' [{S_LINK}; cds-resp-3]")
        _bool(link, "autolaunchable", lpath, out, S_LINK)
        if strict:
            _unknown_keys(link, "link", lpath, out, S_LINK)

    if strict:
        _unknown_keys(card, "card", path, out, S_CARD)


def _card_uuids_unique(cards, out: list) -> None:
    """card.uuid / suggestion.uuid "uniquely identifies" the card/suggestion
    in feedback (§Feedback), so duplicates within one response are errors."""
    seen: dict[str, str] = {}
    for i, card in enumerate(cards):
        if not isinstance(card, dict):
            continue
        candidates = [(_p(_p("cards", i), "uuid"), card.get("uuid"))]
        for j, sugg in enumerate(card.get("suggestions") or ()):
            if isinstance(sugg, dict):
                candidates.append((_p(_p(_p("cards", i), "suggestions"), j) + ".uuid", sugg.get("uuid")))
        for where, value in candidates:
            if isinstance(value, str) and value:
                key = value.lower()
                if key in seen:
                    out.append(f"{where}: duplicates {seen[key]} ({value}); uuids must be unique "
                               f"[{S_CARD}; {S_FEEDBACK}]")
                else:
                    seen[key] = where


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def check_card(card: dict, *, strict: bool = False) -> list[str]:
    """Violations for a single card (paths are relative to the card)."""
    if not isinstance(card, dict):
        return _not_object(card, "card", "", S_CARD)
    out: list[str] = []
    _walk(card, "", out, strict=strict)
    _card(card, "", out, strict, root=True)
    return out


def check_response(body: dict, *, strict: bool = False) -> list[str]:
    """Violations for a CDS Service response body (§CDS Service Response)."""
    if not isinstance(body, dict):
        return _not_object(body, "response", "", S_RESP)
    out: list[str] = []
    # §HTTP Response: `cards` REQUIRED (an empty array means "no guidance"),
    # `systemActions` OPTIONAL. §Extensions: top-level `extension` is an object.
    _walk(body, "", out, allow_empty=frozenset({"cards"}), strict=strict)
    if "cards" not in body:
        out.append(f"cards: required array is missing [{S_RESP}]")
    elif body["cards"] is not None and not _is_array(body["cards"]):
        out.append(f"cards: must be an array, got {type(body['cards']).__name__} [{S_RESP}]")
    elif body["cards"] is not None:
        for i, card in enumerate(body["cards"]):
            _card(card, _p("cards", i), out, strict)
        _card_uuids_unique(body["cards"], out)
    for i, action in enumerate(_arr(body, "systemActions", "", out, S_RESP) or ()):
        _action(action, _p("systemActions", i), out, system=True, strict=strict)
    if strict:
        _unknown_keys(body, "response", "", out, S_RESP)
    return out


def _prefetch_templates(prefetch, path: str, out: list) -> None:
    if _is_empty(prefetch) or not isinstance(prefetch, dict):
        if not _is_empty(prefetch):
            out.append(f"{path}: must be an object of key -> FHIR query template [{S_DISC}]")
        return
    for key, template in prefetch.items():
        kpath = _p(path, key)
        if not isinstance(key, str) or not key.strip():
            out.append(f"{kpath}: prefetch keys must be non-blank strings [{S_PREFETCH}]")
        if _is_empty(template):
            continue  # reported by the walk
        if not isinstance(template, str):
            out.append(f"{kpath}: prefetch template must be a string FHIR query, got "
                       f"{type(template).__name__} [{S_PREFETCH}]")
            continue
        if _is_absolute_url(template) or template.startswith("/"):
            out.append(f"{kpath}: template must be a relative FHIR request (e.g. 'Patient/{{{{context.patientId}}}}'), "
                       f"not {_describe(template)} [{S_PREFETCH}]")
        # tokens SHALL be delimited by {{ and }} and contain a context path
        # (with optional simple FHIRPath), a prior prefetch %variable, today(),
        # or one of the user identifiers.
        stripped = _PREFETCH_TOKEN_RE.sub("", template)
        if "{{" in stripped or "}}" in stripped:
            out.append(f"{kpath}: unbalanced '{{{{' / '}}}}' prefetch token delimiters [{S_PREFETCH}]")
        for token in _PREFETCH_TOKEN_RE.findall(template):
            for alt in token.split("|"):
                alt = alt.strip()
                ok = (alt.startswith("context.") and len(alt) > len("context.")) or \
                    (alt.startswith("%") and len(alt) > 1) or alt.startswith("today()") or \
                    alt in USER_PREFETCH_TOKENS
                if not ok:
                    out.append(f"{kpath}: prefetch token {{{{{alt}}}}} is not context.<field>, a user "
                               f"identifier ({', '.join(USER_PREFETCH_TOKENS)}), today() or a %prefetch "
                               f"variable [{S_PREFETCH}]")


def check_discovery(body: dict, *, strict: bool = False) -> list[str]:
    """Violations for a discovery response body (GET {baseUrl}/cds-services)."""
    if not isinstance(body, dict):
        return _not_object(body, "discovery response", "", S_DISC)
    out: list[str] = []
    # §Discovery > Response: object with `services` array (empty array allowed
    # when no services are hosted).
    _walk(body, "", out, allow_empty=frozenset({"services"}), strict=strict)
    if "services" not in body:
        out.append(f"services: required array is missing [{S_DISC}]")
        return out
    services = body["services"]
    if services is None:
        return out
    if not _is_array(services):
        out.append(f"services: must be an array, got {type(services).__name__} [{S_DISC}]")
        return out
    seen: dict[tuple, int] = {}
    for i, svc in enumerate(services):
        path = _p("services", i)
        if _is_empty(svc) or not isinstance(svc, dict):
            if not _is_empty(svc):
                out.append(f"{path}: a CDS Service must be a JSON object [{S_DISC}]")
            continue
        hook = _str(svc, "hook", path, out, S_DISC, required=True, nonblank=True)
        _str(svc, "description", path, out, S_DISC, required=True, nonblank=True)
        sid = _str(svc, "id", path, out, S_DISC, required=True)
        if sid is not None and not _URL_SAFE_ID_RE.match(sid):
            out.append(f"{_p(path, 'id')}: {_describe(sid)} is not URL-safe; it is the {{id}} path segment "
                       f"of {{baseUrl}}/cds-services/{{id}} (use A-Z a-z 0-9 - . _ ~) [{S_DISC}]")
        if sid is not None and hook is not None:
            # the same id MAY be reused for *different* hooks only
            if (sid, hook) in seen:
                out.append(f"{path}: duplicates services[{seen[(sid, hook)]}] (same id {sid!r} and hook "
                           f"{hook!r}) [{S_DISC}]")
            else:
                seen[(sid, hook)] = i
        _str(svc, "title", path, out, S_DISC)
        if strict and "title" not in svc:
            out.append(f"{_p(path, 'title')}: RECOMMENDED (strict) [{S_DISC}]")
        _str(svc, "usageRequirements", path, out, S_DISC)
        _str(svc, "version", path, out, S_DISC)       # 3.0 ballot
        _str(svc, "hookVersion", path, out, S_DISC)   # 3.0 ballot
        if "prefetch" in svc:
            _prefetch_templates(svc["prefetch"], _p(path, "prefetch"), out)
        if strict:
            _unknown_keys(svc, "service", path, out, S_DISC)
    if strict:
        _unknown_keys(body, "discovery", "", out, S_DISC)
    return out


def check_request(body: dict, *, strict: bool = False) -> list[str]:
    """Violations for a hook request body POSTed to {baseUrl}/cds-services/{id}.

    Includes the patient-view context (cds-hooks-library) when hook is
    ``patient-view``.  Prefetch values may be null (explicitly allowed).
    """
    if not isinstance(body, dict):
        return _not_object(body, "request", "", S_REQ)
    out: list[str] = []
    prefetch_keys = frozenset(_p("prefetch", k) for k in body["prefetch"]) \
        if isinstance(body.get("prefetch"), dict) else frozenset()
    _walk(body, "", out, allow_null=prefetch_keys, strict=strict)
    hook = _str(body, "hook", "", out, S_REQ, required=True, nonblank=True)
    _uuid(body, "hookInstance", "", out, S_REQ, required=True)
    server = _str(body, "fhirServer", "", out, S_REQ)
    if server is not None and not _is_absolute_url(server):
        out.append(f"fhirServer: {_describe(server)} is not an absolute http(s) URL [{S_REQ}]")
    auth = _obj(body, "fhirAuthorization", "", out, S_AUTH)
    if "fhirAuthorization" in body and "fhirServer" not in body:
        out.append(f"fhirServer: required when fhirAuthorization is provided [{S_REQ}; cds-r-1]")
    if auth is not None:
        for key in ("access_token", "scope", "subject"):
            _str(auth, key, "fhirAuthorization", out, S_AUTH, required=True, nonblank=True)
        token_type = _str(auth, "token_type", "fhirAuthorization", out, S_AUTH, required=True)
        if token_type is not None and token_type != "Bearer":
            out.append(f"fhirAuthorization.token_type: fixed value 'Bearer', got {token_type!r} [{S_AUTH}]")
        if "expires_in" not in auth:
            out.append(f"fhirAuthorization.expires_in: required integer is missing [{S_AUTH}]")
        elif auth["expires_in"] is not None and type(auth["expires_in"]) is not int:
            out.append(f"fhirAuthorization.expires_in: must be an integer [{S_AUTH}]")
        patient = _str(auth, "patient", "fhirAuthorization", out, S_AUTH)
        if patient is not None and not _FHIR_ID_RE.match(patient):
            out.append(f"fhirAuthorization.patient: {_describe(patient)} is not a FHIR id [{S_AUTH}]")
        scope = auth.get("scope")
        if strict and isinstance(scope, str) and "patient/" in scope and "patient" not in auth:
            out.append(f"fhirAuthorization.patient: SHOULD be populated for patient/ scopes (strict) "
                       f"[{S_AUTH}; cds-r-2]")
        if strict:
            _unknown_keys(auth, "fhirAuthorization", "fhirAuthorization", out, S_AUTH)
    context = _obj(body, "context", "", out, S_REQ, required=True)
    prefetch = _obj(body, "prefetch", "", out, S_REQ)
    for key, value in (prefetch or {}).items():
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("resourceType"), str)):
            out.append(f"{_p('prefetch', key)}: must be a FHIR resource or null [{S_PREFETCH}]")
    if hook == "patient-view" and context is not None:
        user = _str(context, "userId", "context", out, S_PV, required=True)
        if user is not None:
            if not _ORD1_RE.match(user):
                out.append(f"context.userId: {_describe(user)} is not [ResourceType]/[id] [{S_PV}; ord-1]")
            elif user.split("/", 1)[0] not in PATIENT_VIEW_USER_TYPES:
                out.append(f"context.userId: type must be one of {'|'.join(PATIENT_VIEW_USER_TYPES)} [{S_PV}]")
        for key, required in (("patientId", True), ("encounterId", False)):
            value = _str(context, key, "context", out, S_PV, required=required)
            if value is not None and not _FHIR_ID_RE.match(value):
                out.append(f"context.{key}: {_describe(value)} is not a FHIR id [{S_PV}]")
    if strict:
        _unknown_keys(body, "request", "", out, S_REQ)
    return out


def check_feedback(body: dict, *, strict: bool = False) -> list[str]:
    """Violations for a body POSTed to {baseUrl}/cds-services/{id}/feedback."""
    if not isinstance(body, dict):
        return _not_object(body, "feedback request", "", S_FEEDBACK)
    out: list[str] = []
    _walk(body, "", out, allow_empty=frozenset({"feedback"}), strict=strict)
    entries = _arr(body, "feedback", "", out, S_FEEDBACK, required=True)
    for i, fb in enumerate(entries or ()):
        path = _p("feedback", i)
        if _is_empty(fb) or not isinstance(fb, dict):
            if not _is_empty(fb):
                out.append(f"{path}: a Feedback entry must be a JSON object [{S_FEEDBACK}]")
            continue
        _uuid(fb, "card", path, out, S_FEEDBACK, required=True)
        outcome = _str(fb, "outcome", path, out, S_FEEDBACK, required=True)
        _enum(outcome, FEEDBACK_OUTCOMES, _p(path, "outcome"), out, f"{S_FEEDBACK}; cds-fb-1")
        accepted = _arr(fb, "acceptedSuggestions", path, out, S_FEEDBACK)
        if outcome == "accepted" and "acceptedSuggestions" not in fb:
            out.append(f"{_p(path, 'acceptedSuggestions')}: required for 'accepted' outcomes "
                       f"[{S_FEEDBACK}; cds-fb-2]")
        for j, acc in enumerate(accepted or ()):
            apath = _p(_p(path, "acceptedSuggestions"), j)
            if isinstance(acc, dict) and acc:
                _uuid(acc, "id", apath, out, S_FEEDBACK, required=True)
                if strict:
                    _unknown_keys(acc, "acceptedSuggestion", apath, out, S_FEEDBACK)
            elif not _is_empty(acc):
                out.append(f"{apath}: must be an object with an 'id' [{S_FEEDBACK}]")
        reason = _obj(fb, "overrideReason", path, out, "§OverrideReason")
        if reason is not None:
            rpath = _p(path, "overrideReason")
            if "reason" not in reason and "userComment" not in reason:
                out.append(f"{rpath}: must contain a reason, a userComment, or both "
                           f"[§OverrideReason; cds-fb-3]")
            if "reason" in reason:
                _coding(reason["reason"], _p(rpath, "reason"), out, display_required=False,
                        section="§OverrideReason", strict=strict)
            _str(reason, "userComment", rpath, out, "§OverrideReason")
            if strict:
                _unknown_keys(reason, "overrideReason", rpath, out, "§OverrideReason")
        ts = _str(fb, "outcomeTimestamp", path, out, S_FEEDBACK, required=True)
        if ts is not None:
            match = _RFC3339_RE.match(ts)
            ok = bool(match) and match.group(2) in ("Z", "z", "+00:00", "-00:00")
            if ok:
                try:  # calendar sanity (month 13, Feb 30, ...)
                    datetime.strptime(ts[:19].upper(), "%Y-%m-%dT%H:%M:%S")
                except ValueError:
                    ok = False
            if not ok:
                out.append(f"{_p(path, 'outcomeTimestamp')}: {_describe(ts)} is not an RFC 3339 date-time "
                           f"in UTC (e.g. 1985-04-12T23:20:50.52Z) [{S_FEEDBACK}]")
        if strict:
            _unknown_keys(fb, "feedback", path, out, S_FEEDBACK)
    if strict:
        _unknown_keys(body, "feedbackBody", "", out, S_FEEDBACK)
    return out


def _raise(kind: str, violations: list[str]) -> None:
    if violations:
        lines = "\n".join(f"  - {v}" for v in violations)
        raise AssertionError(f"{kind} is not CDS Hooks 2.0 conformant "
                             f"({len(violations)} violation(s)):\n{lines}")


def assert_conformant_response(body, *, strict: bool = False) -> None:
    _raise("CDS Service response", check_response(body, strict=strict))


def assert_conformant_discovery(body, *, strict: bool = False) -> None:
    _raise("Discovery response", check_discovery(body, strict=strict))


def assert_conformant_card(card, *, strict: bool = False) -> None:
    _raise("Card", check_card(card, strict=strict))


def assert_conformant_request(body, *, strict: bool = False) -> None:
    _raise("Hook request", check_request(body, strict=strict))


def assert_conformant_feedback(body, *, strict: bool = False) -> None:
    _raise("Feedback request", check_feedback(body, strict=strict))
