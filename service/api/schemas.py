"""Marshmallow schemas for a CDS Hooks 2.0 request (the patient-view hook)."""

from __future__ import annotations

from urllib.parse import urlsplit

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

FHIR_ID = validate.Regexp(r"\A[A-Za-z0-9\-.]{1,64}\Z", error="must be a FHIR id (letters, digits, '-', '.'; up to 64)")
#: CDS Hooks 2.0 patient-view: userId is "[ResourceType]/[id]" of one of these types. The service does
#: not use it, so the id part is not held to FHIR's id syntax (an EHR's own ids may use '_').
USER_ID = validate.Regexp(
    r"\A(Practitioner|PractitionerRole|Patient|RelatedPerson)/[^\s/]{1,64}\Z",
    error="must be Practitioner/, PractitionerRole/, Patient/ or RelatedPerson/ followed by an id",
)
#: hookInstance is a UUID; only the canonical 8-4-4-4-12 form (not urn:uuid:, braces or bare hex).
UUID = validate.Regexp(
    r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z",
    error="must be a UUID (8-4-4-4-12 hexadecimal digits)",
)


def _fhir_base_url(value: str) -> None:
    """An http(s) URL with a host (host names with '_' occur on internal networks: allowed)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValidationError("must be the http(s) base URL of the EHR's FHIR server")


class FhirAuthorizationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    access_token = fields.String(required=True, validate=validate.Length(min=1))
    # "Bearer"; OAuth 2.0 token types are case-insensitive (RFC 6749, section 5.1).
    token_type = fields.String(required=True, validate=validate.OneOf(["Bearer", "bearer", "BEARER"]))
    expires_in = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    scope = fields.String(required=True, validate=validate.Length(min=1))
    subject = fields.String(required=True, validate=validate.Length(min=1))
    patient = fields.String(validate=FHIR_ID)


class PatientViewContextSchema(Schema):
    class Meta:
        unknown = INCLUDE

    userId = fields.String(required=True, validate=USER_ID)
    patientId = fields.String(required=True, validate=FHIR_ID)
    encounterId = fields.String(validate=FHIR_ID)


class _PrefetchValue(fields.Field):
    """A prefetch value is a FHIR resource (a JSON object with resourceType) or null (no data)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise ValidationError("must be a FHIR resource (an object with resourceType) or null")
        return value


#: Request extension asking for every relevant record validated and on the timeline (the testing page
#: sends it); by default only the records that can change the answer are (service/fhir/select.py).
TIMELINE_EXTENSION, TIMELINE_DECIDING, TIMELINE_ALL = "org.relapse-cds.timeline", "deciding", "all"


def timeline_scope(hook_request: dict) -> object:
    """What a (schema-checked) request asks of the timeline: "deciding" when it does not say."""
    return (hook_request.get("extension") or {}).get(TIMELINE_EXTENSION, TIMELINE_DECIDING)


def whole_timeline(hook_request: dict) -> bool:
    return timeline_scope(hook_request) == TIMELINE_ALL


class HookRequestSchema(Schema):
    class Meta:
        unknown = INCLUDE  # CDS Hooks allows `extension` and future members

    hook = fields.String(required=True, validate=validate.Length(min=1))
    hookInstance = fields.String(required=True, validate=UUID)
    # null is not allowed by the spec for these optional members; read as absent (they are not used yet).
    fhirServer = fields.String(validate=_fhir_base_url, allow_none=True)
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema, allow_none=True)
    context = fields.Dict(required=True)
    # null is not allowed by the spec; we read it as "no prefetch" (every key absent), which is safe.
    prefetch = fields.Dict(keys=fields.String(), values=_PrefetchValue(allow_none=True), allow_none=True)
    extension = fields.Dict(allow_none=True)  # CDS Hooks: an extension is a JSON object

    @validates_schema
    def _timeline_scope(self, data, **kwargs):
        if timeline_scope(data) not in (TIMELINE_DECIDING, TIMELINE_ALL):
            raise ValidationError(f"{TIMELINE_EXTENSION} must be {TIMELINE_DECIDING!r} or {TIMELINE_ALL!r}", "extension")

    @validates_schema
    def _authorization_needs_server(self, data, **kwargs):
        # CDS Hooks 2.0 (cds-r-1): fhirAuthorization is only meaningful with fhirServer.
        if data.get("fhirAuthorization") is not None and not data.get("fhirServer"):
            raise ValidationError("fhirAuthorization requires fhirServer", "fhirAuthorization")
