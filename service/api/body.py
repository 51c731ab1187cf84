"""Read a request body as JSON without trusting it: size, depth and syntax are checked first."""

from __future__ import annotations

import json
import time

from flask import Request
from werkzeug.exceptions import HTTPException

from .. import jsontext
from .errors import ApiError


#: An over-limit body with a declared length is read and thrown away up to this many bytes, so that a
#: client that sends its whole body before reading can read the 413 (answered unread, the connection
#: may be reset under it). Larger declared bodies are answered at once.
DISCARD_LIMIT = 64 * 1024 * 1024
_CHUNK = 64 * 1024
#: ...and for at most this long: a client that stops sending gets its answer, not a held connection.
DISCARD_SECONDS = 10.0


def _discard(request: Request, declared: int) -> None:
    if declared > DISCARD_LIMIT:
        return
    stream = request.environ.get("wsgi.input")
    remaining, deadline = declared, time.monotonic() + DISCARD_SECONDS
    try:
        while remaining > 0 and time.monotonic() < deadline:
            chunk = stream.read(min(_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
    except Exception:  # noqa: BLE001 - the client went away: nothing left to answer
        return


def _parse(raw: bytes, max_depth: int) -> object:
    try:
        return jsontext.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "structure", "request body is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(413, "too-costly", f"JSON nesting deeper than {max_depth} levels") from None
    except ValueError as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid JSON"
        line = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ApiError(400, "structure", f"request body is not valid JSON: {message}{line}") from None


def read_json(request: Request, max_bytes: int, max_depth: int) -> object:
    content_type = (request.mimetype or "").lower()
    if content_type and content_type not in ("application/json", "application/fhir+json") and not content_type.endswith("+json"):
        raise ApiError(415, "not-supported", f"Content-Type must be application/json, got {content_type}")
    if request.content_length is not None and request.content_length > max_bytes:
        _discard(request, request.content_length)
        raise ApiError(413, "too-costly", f"request body exceeds {max_bytes} bytes")
    try:
        raw = request.get_data(cache=False)  # Flask's MAX_CONTENT_LENGTH also guards chunked bodies
    except HTTPException:
        raise
    except Exception:  # noqa: BLE001 - a broken stream (bad chunk size, dropped connection) is the caller's fault
        raise ApiError(400, "structure", "the request body could not be read (broken chunked encoding or connection)") from None
    # Without Content-Length the stream is cut at the limit: a body that reaches it is too large, not malformed.
    if len(raw) > max_bytes or (request.content_length is None and len(raw) >= max_bytes):
        raise ApiError(413, "too-costly", f"request body exceeds {max_bytes} bytes")
    if not raw:
        raise ApiError(400, "structure", "request body is empty; a CDS Hooks request is a JSON object")
    body = _parse(raw, max_depth)
    if jsontext.too_deep(raw, max_depth):
        raise ApiError(413, "too-costly", f"JSON nesting deeper than {max_depth} levels")
    return body
