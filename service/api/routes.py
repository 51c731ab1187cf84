"""CDS Hooks endpoints: discovery, invocation, and a parse-only baseline for the benchmark."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date

from flask import Blueprint, after_this_request, current_app, jsonify, request
from marshmallow import ValidationError

from ..logs import log_call
from ..pipeline import TooManyToRead, evaluate
from ..render import Rendered, render
from ..treatment.orders import hsct_orders, order_cards
from .audit import record_invocation
from .body import read_json
from .errors import ApiError
from .fetching import prefetch_with_fetched
from .limits import check_prefetch_size
from .order_schemas import OrderSignContextSchema
from .schemas import HookRequestSchema, PatientViewContextSchema, whole_timeline

log = logging.getLogger("relapse_cds")
bp = Blueprint("cds", __name__)
_REQUEST_SCHEMA = HookRequestSchema()
#: The context schema of each hook a service answers.
_CONTEXT_SCHEMAS = {"patient-view": PatientViewContextSchema(), "order-sign": OrderSignContextSchema()}


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


def _after_sending(work: Callable[[], None] | None, *objects: object) -> None:
    """Once the server has sent the answer, do `work` (what the EHR need not wait for), then drop a
    request's parsed body and pipeline objects: freeing some hundred thousand objects takes 1.5-3 ms
    on the benchmark's chart, which the EHR then no longer waits for (gunicorn closes the response
    after writing it). Garbage is collected last, so that no collection need run inside a request
    (service/gc_policy.py)."""
    kept = list(objects)
    collector = current_app.extensions["relapse_cds.gc"]

    def _then() -> None:
        try:
            if work is not None:
                work()
        finally:
            kept.clear()
            collector.collect()

    @after_this_request
    def _keep(response):
        response.call_on_close(_then)
        return response


@bp.get("/cds-services")
def discovery():
    services = current_app.extensions["relapse_cds.services"]
    return jsonify({"services": [s.discovery() for s in services.values()]})


@bp.post("/cds-services/<service_id>")
def invoke(service_id: str):
    started = time.perf_counter()
    service = current_app.extensions["relapse_cds.services"].get(service_id)
    if service is None:
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
        context = _CONTEXT_SCHEMAS[service.hook].load(hook_request["context"])
    except ValidationError as exc:
        raise ApiError(400, "invalid", f"invalid {service.hook} context", [f"context.{m}" for m in _messages(exc)]) from None

    settings = current_app.extensions["relapse_cds.settings"]
    check_prefetch_size(hook_request.get("prefetch"), settings.max_resources_per_key, settings.max_resources)
    knowledge = current_app.extensions["relapse_cds.knowledge"]
    orders = hsct_orders(context["draftOrders"], knowledge, context["patientId"]) if service.hook == "order-sign" else None
    if orders == []:  # order-sign without an HSCT order: nothing to check, no card
        log_call(log, hookInstance=hook_request["hookInstance"], service=service.id, cards=0, hsctOrders=0,
                 ms=round((time.perf_counter() - started) * 1000, 1))
        return jsonify({"cards": []})
    today = date.today()
    completed = prefetch_with_fetched(hook_request, context["patientId"], service)
    cache = current_app.extensions["relapse_cds.model_cache"]
    cache.store_pending()  # an earlier answer's records, if its response was never closed (a test client)
    try:
        evaluation = evaluate(
            completed.prefetch, context["patientId"], knowledge, service, current_app.extensions["relapse_cds.selector"],
            today, notes=completed.notes, cache=cache,
            shapes=current_app.extensions["relapse_cds.shapes"],
            max_validated=settings.max_validated, lazy=not whole_timeline(hook_request),
        )
    except TooManyToRead as exc:
        raise ApiError(413, "too-costly", str(exc)) from None
    rendered = render(evaluation.assessment, knowledge, context["patientId"], today.isoformat())
    if orders is not None:  # order-sign: one card answering the HSCT order(s), the assessment beside it
        rendered = Rendered(order_cards(evaluation.assessment, knowledge, orders), rendered.extension)
    a = evaluation.assessment
    if rendered.cards:
        record_invocation(service.id, hook_request, context["patientId"], a, rendered.cards, started)
    log_call(  # no patient id, no token: the hookInstance ties a line to the EHR's call
        log, hookInstance=hook_request["hookInstance"], service=service.id, cards=len(rendered.cards),
        cogRisk=a.cog.value, hsct=a.hsct.value, missing=len(a.missing), ms=round((time.perf_counter() - started) * 1000, 1),
    )
    _after_sending(cache.store_pending, body, hook_request, completed, evaluation, rendered)
    return jsonify({"cards": rendered.cards, "extension": rendered.extension})


@bp.post("/bench/parse-only")
def parse_only():
    """Benchmark baseline: read and parse the same body, answer an empty card list. Off by default."""
    if not current_app.extensions["relapse_cds.settings"].bench_endpoint:
        raise ApiError(404, "not-found", "not found")
    body = _body()
    _after_sending(None, body)  # as patient-view does: the baseline is the same reading of the body
    return jsonify({"cards": [], "parsed": type(body).__name__})


@bp.get("/health")
def health():
    knowledge = current_app.extensions["relapse_cds.knowledge"]
    # Open mode (no RELAPSE_CDS_CLIENTS) answers any caller: said here so that monitoring sees it.
    mode = "open" if current_app.extensions.get("relapse_cds.trust") is None else "authenticated"
    return jsonify({"status": "ok", "knowledgeVersion": knowledge.version, "mode": mode})
