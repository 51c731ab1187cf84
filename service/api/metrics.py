"""GET /metrics (Prometheus text, counts only), and the timing of every CDS service call."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request

from .. import metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def exposition():
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


_in_flight = 0


def requests_in_flight() -> int:
    """CDS service calls this process is answering now: a hint for background work (the audit writer
    waits for a quiet moment), not a count anything depends on."""
    return _in_flight


def register_metrics(app: Flask) -> None:
    """Count and time every call of the CDS service endpoint, whatever its outcome."""

    @app.before_request
    def _start() -> None:
        global _in_flight
        if request.endpoint == "cds.invoke":
            g.relapse_cds_started = time.perf_counter()
            g.relapse_cds_in_flight = True
            _in_flight += 1

    @app.teardown_request
    def _finished(_exc) -> None:
        global _in_flight
        if g.pop("relapse_cds_in_flight", False):
            _in_flight -= 1

    @app.after_request
    def _count(response):
        started = g.pop("relapse_cds_started", None)
        if started is not None:
            metrics.observe_latency(time.perf_counter() - started)
            metrics.inc("relapse_cds_invocations_total", status=str(response.status_code))
        return response

    app.register_blueprint(bp)
