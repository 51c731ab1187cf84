"""The testing page: pick a bundled example patient or paste a FHIR Bundle / CDS Hooks request, and
see the cards as an EHR shows them, the assessment, the facts linked to their FHIR resources and the
relapse on a timeline. It calls the service's own API; it holds no data and adds no endpoint that
assesses. Static files ship in the package (no CDN); a strict Content-Security-Policy forbids any
script but its own, so text from a record can never run."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, jsonify, send_from_directory

_HERE = Path(__file__).resolve().parent
EXAMPLES = _HERE / "examples"
_EXAMPLE_ID = re.compile(r"[a-z0-9-]{1,80}")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

bp = Blueprint("web", __name__, static_folder="static", static_url_path="/page")


@lru_cache(maxsize=1)
def example_index() -> list[dict]:
    """The bundled synthetic example patients: one per situation the rules tell apart."""
    return json.loads((EXAMPLES / "index.json").read_text(encoding="utf-8"))["examples"]


@bp.after_request
def _headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/")
def page():
    return send_from_directory(bp.static_folder, "index.html", max_age=0)


@bp.get("/examples")
def examples():
    return jsonify({"examples": example_index()})


@bp.get("/examples/<example_id>")
def example(example_id: str):
    if not _EXAMPLE_ID.fullmatch(example_id) or example_id not in {e["id"] for e in example_index()}:
        abort(404)
    return send_from_directory(EXAMPLES, f"{example_id}.json", mimetype="application/json", max_age=0)
