"""relapse-cds: a CDS Hooks service for relapsed childhood acute lymphoblastic leukemia."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from .config import Settings

if TYPE_CHECKING:
    from .store import StoreSettings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, store_settings: StoreSettings | None = None) -> Flask:
    """Application factory: knowledge is loaded and validated here, once; a bad file stops start-up.
    The store (audit trail, feedback) is opened and migrated here too; a database that is down does not
    stop start-up (see service/store/store.py)."""
    # Imported here, not at the top: `relapse-cds serve` makes sockets cooperative (gevent) before the
    # app is created, and an HTTP client library (requests, for fetching and key sets) loaded before
    # that would keep unpatched SSL and fail on its first HTTPS call.
    from . import metrics
    from .api.answer_json import AnswerJSONProvider
    from .auth import build_trust, register_trust
    from .config import demo_page_enabled
    from .definition import hsct_order_service, relapse_service
    from .fhir.cache import ModelCache
    from .fhir.parse import new_shape_validator
    from .fhir.select import Selector
    from .gc_policy import AfterAnswer, configure_at_start
    from .knowledge import load_knowledge
    from .logs import configure_logging
    from .store import StoreSettings, open_store

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)  # here, so serve and gunicorn log alike
    knowledge = load_knowledge(settings.extra_mappings)
    store = open_store(store_settings or StoreSettings.from_env())
    # None: open mode (no RELAPSE_CDS_CLIENTS). JWT ids are remembered in the service's database.
    trust = build_trust(settings, replay=store.jti_cache)
    service = relapse_service(knowledge.codemap)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = AnswerJSONProvider(app)
    app.json.sort_keys = False
    app.json.compact = True
    app.extensions["relapse_cds.settings"] = settings
    app.extensions["relapse_cds.knowledge"] = knowledge
    app.extensions["relapse_cds.service"] = service
    #: Every service by id (discovery lists them all): patient-view, and the order-sign HSCT order check.
    app.extensions["relapse_cds.services"] = {s.id: s for s in (service, hsct_order_service(knowledge.codemap))}
    app.extensions["relapse_cds.selector"] = Selector.from_codemap(knowledge.codemap)
    # Records validated anew are cached after the answer is sent (routes.py), not while the EHR waits.
    app.extensions["relapse_cds.model_cache"] = ModelCache(settings.model_cache, store_after_answer=True)
    app.extensions["relapse_cds.shapes"] = new_shape_validator()  # records checked against one of their shape
    app.extensions["relapse_cds.store"] = store
    metrics.prepare()
    app.extensions["relapse_cds.trust"] = trust

    from .api.cors import register_cors
    from .api.errors import register_error_handlers
    from .api.feedback import bp as feedback_bp
    from .api.metrics import register_metrics, requests_in_flight
    from .api.routes import bp

    register_trust(app, trust, settings.metrics_token)  # before any view: every route not listed as public needs a valid JWT (GET /metrics: or the scraper's token)
    app.register_blueprint(bp)
    app.register_blueprint(feedback_bp)
    register_metrics(app)
    store.audit.busy = lambda: requests_in_flight() > 0  # audit commits wait for a gap between requests
    app.extensions["relapse_cds.gc"] = AfterAnswer(requests_in_flight)  # garbage collected once an answer is sent
    if demo_page_enabled(settings):  # the testing page at / (service/web/): open mode, or RELAPSE_CDS_DEMO_PAGE=on
        from .web import bp as web_bp

        app.register_blueprint(web_bp)
    register_error_handlers(app)
    register_cors(app, settings.cors_origins)
    configure_at_start()  # everything loaded so far is frozen; later collections wait for a quiet moment
    return app
