"""Cross-origin resource sharing, so that browser-based CDS clients (the CDS Hooks sandbox, SMART apps)
can call the service. CDS Hooks 2.0: "CDS Services and browser-based CDS Clients will require CORS
support." Allowed origins are configured (RELAPSE_CDS_CORS_ORIGINS). The default, `*`, lets the CDS Hooks
sandbox and development tools call; in production, list the EHR's origins."""

from __future__ import annotations

from flask import Flask, Response, request

_ALLOWED_METHODS = "GET, POST, OPTIONS"
_ALLOWED_HEADERS = "Authorization, Content-Type"
_PREFLIGHT_MAX_AGE = "600"


def register_cors(app: Flask, origins: tuple[str, ...]) -> None:
    """Answer allowed origins with CORS headers; other origins get none (the browser then refuses)."""
    if not origins:
        return
    allow_any = "*" in origins

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if not allow_any:
            response.vary.add("Origin")  # the answer depends on the Origin, allowed or not (caches)
        if not origin or not (allow_any or origin in origins):
            return response
        response.headers["Access-Control-Allow-Origin"] = "*" if allow_any else origin
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            response.headers["Access-Control-Allow-Methods"] = _ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = _PREFLIGHT_MAX_AGE
        return response
