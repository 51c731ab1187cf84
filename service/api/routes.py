"""CDS Hooks endpoints: discovery, invocation, and a parse-only baseline for the benchmark."""

from __future__ import annotations

import logging
import time
from datetime import date

from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError

from ..pipeline import TooManyToRead, evaluate
from ..render import render
from .body import read_json
from .errors import ApiError
from .limits import check_prefetch_size
from .schemas import HookRequestSchema, PatientViewContextSchema

log = logging.getLogger("relapse_cds")
bp = Blueprint("cds", __name__)
_REQUEST_SCHEMA = HookRequestSchema()
_CONTEXT_SCHEMA = PatientViewContextSchema()


def _messages(exc: ValidationError) -> list[str]:
    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            yield f"{path}: {' '.join(node)}"
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, path)
        else:
            yield f"{path}: {node}"
    return list(walk(exc.messages, ""))


def _body() -> object:
    settings = current_app.extensions["relapse_cds.settings"]
    return read_json(request, settings.max_body_bytes, settings.max_json_depth)


@bp.get("/cds-services")
def discovery():
    service = current_app.extensions["relapse_cds.service"]
    return jsonify({"services": [service.discovery()]})


@bp.post("/cds-services/<service_id>")
def invoke(service_id: str):
    started = time.perf_counter()
    service = current_app.extensions["relapse_cds.service"]
    if service_id != service.id:
        raise ApiError(404, "not-found", f"no CDS service with id {service_id[:64]!r}; see GET /cds-services")
    body = _body()
    if not isinstance(body, dict):
        raise ApiError(400, "structure", "a CDS Hooks request must be a JSON object")
    try:
        hook_request = _REQUEST_SCHEMA.load(body)
    except ValidationError as exc:
        raise ApiError(400, "invalid", "invalid CDS Hooks request", _messages(exc)) from None
    if hook_request["hook"] != service.hook:
        raise ApiError(400, "not-supported", f"service {service.id!r} answers the {service.hook!r} hook, not {hook_request['hook'][:64]!r}")
    try:
        context = _CONTEXT_SCHEMA.load(hook_request["context"])
    except ValidationError as exc:
        raise ApiError(400, "invalid", "invalid patient-view context", [f"context.{m}" for m in _messages(exc)]) from None

    settings = current_app.extensions["relapse_cds.settings"]
    check_prefetch_size(hook_request.get("prefetch"), settings.max_resources_per_key, settings.max_resources)
    knowledge = current_app.extensions["relapse_cds.knowledge"]
    today = date.today()
    try:
        evaluation = evaluate(
            hook_request.get("prefetch"), context["patientId"], knowledge, service, current_app.extensions["relapse_cds.selector"],
            today, cache=current_app.extensions["relapse_cds.model_cache"], max_validated=settings.max_validated,
        )
    except TooManyToRead as exc:
        raise ApiError(413, "too-costly", str(exc)) from None
    rendered = render(evaluation.assessment, knowledge, context["patientId"], today.isoformat())
    a = evaluation.assessment
    log.info(
        "hookInstance=%s service=%s cards=%d cogRisk=%s hsct=%s missing=%d ms=%.1f",
        hook_request["hookInstance"], service.id, len(rendered.cards), a.cog.value, a.hsct.value,
        len(a.missing), (time.perf_counter() - started) * 1000,
    )
    return jsonify({"cards": rendered.cards, "extension": rendered.extension})


@bp.post("/bench/parse-only")
def parse_only():
    """Benchmark baseline: read and parse the same body, answer an empty card list. Off by default."""
    if not current_app.extensions["relapse_cds.settings"].bench_endpoint:
        raise ApiError(404, "not-found", "not found")
    body = _body()
    return jsonify({"cards": [], "parsed": type(body).__name__})


@bp.get("/health")
def health():
    knowledge = current_app.extensions["relapse_cds.knowledge"]
    return jsonify({"status": "ok", "knowledgeVersion": knowledge.version})
