"""POST /cds-services/{id}/feedback (CDS Hooks 2.0 "Feedback"): what clinicians did with the cards.

Validated with marshmallow (a malformed item is a 400 naming it, e.g. `feedback.1.outcome`), stored in
one transaction committed before the 200 (acknowledged means durable), idempotent for exact repeats.
The JWT policy of service/auth/ applies here as to invocation (app-level before_request); CORS
preflight is answered by Flask's automatic OPTIONS with the headers of service/api/cors.py.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .. import metrics
from ..store import StoreError
from ..store.audit import client_of
from .body import read_json
from .errors import ApiError
from .routes import _messages

log = logging.getLogger("relapse_cds")
bp = Blueprint("feedback", __name__)
#: One request carries the actions of one screen; more is not a CDS client's feedback.
MAX_ITEMS = 500
_TEXT = validate.Length(min=1, max=512)


class CodingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.String(required=True, validate=validate.Length(min=1, max=256))
    # CDS Hooks 2.0 makes system required; the CDS Hooks sandbox omits it for a reason that has none.
    system = fields.String(validate=_TEXT)
    display = fields.String(validate=_TEXT)


class OverrideReasonSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = fields.Nested(CodingSchema)
    userComment = fields.String(validate=validate.Length(min=1, max=4000))

    @validates_schema
    def _says_something(self, data, **kwargs):
        if "reason" not in data and "userComment" not in data:
            raise ValidationError("an overrideReason needs a reason (Coding) or a userComment")


class AcceptedSuggestionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=128))


class FeedbackItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    card = fields.String(required=True, validate=validate.Length(min=1, max=128))
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"]))
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestionSchema), validate=validate.Length(max=50))
    overrideReason = fields.Nested(OverrideReasonSchema)
    # RFC 3339 date-time with an offset (the spec: UTC, e.g. 1985-04-12T23:20:50.52Z).
    outcomeTimestamp = fields.AwareDateTime(required=True, format="iso")

    @validates_schema
    def _accepted_names_suggestions(self, data, **kwargs):
        if data.get("outcome") == "accepted" and not data.get("acceptedSuggestions"):
            raise ValidationError("required (at least one) when outcome is accepted", "acceptedSuggestions")


class FeedbackRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    feedback = fields.List(fields.Nested(FeedbackItemSchema), required=True,
                           validate=validate.Length(min=1, max=MAX_ITEMS))


_SCHEMA = FeedbackRequestSchema()


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    service = current_app.extensions["relapse_cds.services"].get(service_id)
    if service is None:
        raise ApiError(404, "not-found", f"no CDS service with id {service_id[:64]!r}; see GET /cds-services")
    settings = current_app.extensions["relapse_cds.settings"]
    body = read_json(request, settings.max_body_bytes, settings.max_json_depth)
    if not isinstance(body, dict):
        raise ApiError(400, "structure", 'feedback must be a JSON object: {"feedback": [...]}')
    try:
        items = _SCHEMA.load(body)["feedback"]
    except ValidationError as exc:
        raise ApiError(400, "invalid", "invalid feedback", _messages(exc)) from None
    try:
        result = current_app.extensions["relapse_cds.store"].save_feedback(service.id, items, client_of(g))
    except StoreError as exc:
        metrics.inc("relapse_cds_feedback_write_failures_total")
        log.error("feedback could not be stored: %s", exc)
        raise ApiError(503, "transient", "feedback could not be stored now; send it again later") from None
    for outcome, count in result.by_outcome.items():
        metrics.inc("relapse_cds_feedback_total", count, outcome=outcome)
    if result.duplicates:
        metrics.inc("relapse_cds_feedback_duplicates_total", result.duplicates)
    if result.unknown_cards:
        metrics.inc("relapse_cds_feedback_unknown_card_total", result.unknown_cards)
    return jsonify({"stored": result.stored, "duplicates": result.duplicates, "unknownCards": result.unknown_cards})
