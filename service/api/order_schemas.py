"""Marshmallow schema for the CDS Hooks 2.0 order-sign context: who, which patient, and the draft orders."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from .schemas import PatientViewContextSchema

#: CDS Hooks 2.0 order-sign: userId is "Practitioner/[id]" or "PractitionerRole/[id]".
ORDER_USER_ID = validate.Regexp(
    r"\A(Practitioner|PractitionerRole)/[^\s/]{1,64}\Z", error="must be Practitioner/ or PractitionerRole/ followed by an id",
)


class _Resource(fields.Field):
    """A Bundle entry's resource: a JSON object with a resourceType (read further by the order check)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise ValidationError("must be a FHIR resource (an object with resourceType)")
        return value


class _EntrySchema(Schema):
    class Meta:
        unknown = INCLUDE

    resource = _Resource(required=True)


class DraftOrdersSchema(Schema):
    """CDS Hooks order-sign: `draftOrders` is "a Bundle of FHIR request resources with a draft status"."""

    class Meta:
        unknown = INCLUDE

    resourceType = fields.String(required=True, validate=validate.Equal("Bundle", error="must be 'Bundle'"))
    entry = fields.List(fields.Nested(_EntrySchema), load_default=list)


class OrderSignContextSchema(PatientViewContextSchema):
    """patient-view's context, a practitioner as the user, and the draft orders."""

    userId = fields.String(required=True, validate=ORDER_USER_ID)
    draftOrders = fields.Nested(DraftOrdersSchema, required=True)
