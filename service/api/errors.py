"""Errors as FHIR OperationOutcome JSON with a clear message; never a stack trace, never PHI."""

from __future__ import annotations

import logging
import traceback
import uuid

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("relapse_cds")

_HTTP_CODES = {400: "structure", 404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


class ApiError(Exception):
    """An error the caller can act on: status, FHIR issue code, message (and optional details)."""

    def __init__(self, status: int, code: str, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []


def outcome(status: int, code: str, message: str, details: list[str] | None = None):
    issues = [{"severity": "error", "code": code, "diagnostics": message}]
    issues += [{"severity": "error", "code": code, "diagnostics": d} for d in details or []]
    response = jsonify({"resourceType": "OperationOutcome", "issue": issues})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return outcome(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = {413: "request body too large"}.get(status, exc.description or exc.name)
        return outcome(status, _HTTP_CODES.get(status, "processing"), message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # a bug: logged with an id, never shown to the caller
        error_id = uuid.uuid4().hex[:12]
        # Type and stack frames only: an exception's message may quote patient data.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("unhandled error %s: %s\n%s", error_id, type(exc).__name__, frames)
        return outcome(500, "exception", f"internal error {error_id}; the service log has the details")
