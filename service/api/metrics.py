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


def register_metrics(app: Flask) -> None:
    """Count and time every call of the CDS service endpoint, whatever its outcome."""

    @app.before_request
    def _start() -> None:
        if request.endpoint == "cds.invoke":
            g.relapse_cds_started = time.perf_counter()

    @app.after_request
    def _count(response):
        started = g.pop("relapse_cds_started", None)
        if started is not None:
            metrics.observe_latency(time.perf_counter() - started)
            metrics.inc("relapse_cds_invocations_total", status=str(response.status_code))
        return response

    app.register_blueprint(bp)
