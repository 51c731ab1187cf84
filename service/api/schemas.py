"""Marshmallow schemas for a CDS Hooks 2.0 request (the patient-view hook)."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

FHIR_ID = validate.Regexp(r"\A[A-Za-z0-9\-.]{1,64}\Z", error="must be a FHIR id (letters, digits, '-', '.'; up to 64)")


class FhirAuthorizationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    access_token = fields.String(required=True, validate=validate.Length(min=1))
    token_type = fields.String(required=True, validate=validate.Equal("Bearer"))
    expires_in = fields.Integer(required=True, strict=True)
    scope = fields.String(required=True)
    subject = fields.String(required=True)
    patient = fields.String(validate=FHIR_ID)


class PatientViewContextSchema(Schema):
    class Meta:
        unknown = INCLUDE

    userId = fields.String(required=True, validate=validate.Length(min=1))
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


class HookRequestSchema(Schema):
    class Meta:
        unknown = INCLUDE  # CDS Hooks allows `extension` and future members

    hook = fields.String(required=True, validate=validate.Length(min=1))
    hookInstance = fields.UUID(required=True)
    fhirServer = fields.Url(schemes={"http", "https"}, require_tld=False)
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema)
    context = fields.Dict(required=True)
    prefetch = fields.Dict(keys=fields.String(), values=_PrefetchValue(allow_none=True), allow_none=True)

    @validates_schema
    def _authorization_needs_server(self, data, **kwargs):
        # CDS Hooks 2.0 (cds-r-1): fhirAuthorization is only meaningful with fhirServer.
        if data.get("fhirAuthorization") is not None and not data.get("fhirServer"):
            raise ValidationError("fhirAuthorization requires fhirServer", "fhirAuthorization")
