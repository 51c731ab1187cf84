"""Trust: which callers may use the service (CDS Hooks 2.0, "Trusting CDS Clients").

One app-level policy (`register_trust`, called by the app factory) guards every route except the
public ones below, so endpoints added later (feedback, ...) are protected without doing anything. A
metrics scraper's static token (RELAPSE_CDS_METRICS_TOKEN) opens GET /metrics, and nothing else.

Views read the caller from `flask.g.cds_client`: a `VerifiedClient` (`.iss`, `.tenant`, `.client`
with its `fhir_servers`) when clients are configured, or None in open mode and on public routes.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, g, request

from .. import metrics
from ..api.errors import outcome
from ..config import Settings
from .clients import ClientsError, TrustedClient, TrustedClients, load_clients
from .keys import KeySets
from .replay import FailClosed, ReplayCache, ReplayUnavailable, replay_cache_for
from .verify import AuthFailure, VerifiedClient, verify

__all__ = ["ClientsError", "ReplayCache", "Trust", "TrustedClient", "TrustedClients", "VerifiedClient",
           "build_trust", "load_clients", "register_trust", "replay_cache_for"]

log = logging.getLogger("relapse_cds")

#: Routes open to anyone. Discovery holds no PHI: a token sent there is ignored (not verified). The
#: testing page (service/web/: `/`, its assets under /page/, its synthetic examples) decides itself
#: whether it is on; it calls the service like any client, so with clients it gets no answer without a JWT.
PUBLIC_GET_PATHS = frozenset({"/cds-services", "/health", "/", "/examples"})
PUBLIC_GET_PREFIXES = ("/page/", "/examples/")
UNAUTHORIZED_MESSAGE = "invalid or missing credentials"


@dataclass(frozen=True)
class Trust:
    clients: TrustedClients
    public_url: str  # without trailing '/'; aud = public_url + request path
    keys: KeySets
    replay: ReplayCache


def is_public(method: str, path: str) -> bool:
    if method == "OPTIONS":  # CORS preflight carries no credentials by design
        return True
    return method in ("GET", "HEAD") and (path in PUBLIC_GET_PATHS or path.startswith(PUBLIC_GET_PREFIXES))


def _unauthorized():
    response = outcome(401, "login", UNAUTHORIZED_MESSAGE)
    response.headers["WWW-Authenticate"] = 'Bearer realm="relapse-cds"'
    return response


def _is_metrics_scraper(token: str, scraper_token: bytes) -> bool:
    """GET /metrics with the configured scraper token (Prometheus sends a static bearer token; it cannot
    make a CDS client's JWT). Compared in constant time; valid for /metrics only."""
    return (bool(scraper_token) and request.method in ("GET", "HEAD") and request.path == "/metrics"
            and hmac.compare_digest(token.encode(), scraper_token))


def register_trust(app: Flask, trust: Trust | None, metrics_token: str = "") -> None:
    """Install the policy. `trust` None is open mode (development): every caller is let in.
    `metrics_token`: printable ASCII (service/config.py checks it), so it compares as the header's bytes."""
    scraper_token = metrics_token.encode()

    @app.before_request
    def _authenticate():
        g.cds_client = None
        if trust is None or is_public(request.method, request.path):
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        bearer = scheme.lower() == "bearer"
        if bearer and _is_metrics_scraper(token, scraper_token):
            return None
        if not bearer or not token:
            log.warning("client authentication failed: %s %s: no bearer token", request.method, request.path[:80])
            metrics.inc("relapse_cds_auth_failures_total", reason="missing")
            return _unauthorized()
        try:
            g.cds_client = verify(token, trust.public_url + request.path, trust.clients, trust.keys, trust.replay)
        except AuthFailure as exc:
            log.warning("client authentication failed: %s %s: %s", request.method, request.path[:80], exc)
            metrics.inc("relapse_cds_auth_failures_total", reason="invalid")
            return _unauthorized()
        except ReplayUnavailable as exc:
            # Fail closed: a token whose jti cannot be checked is not accepted, and the client is told to
            # retry rather than that its credentials are wrong.
            log.error("client authentication impossible: replay cache unavailable (%s)", exc)
            metrics.inc("relapse_cds_auth_failures_total", reason="replay-cache-unavailable")
            return outcome(503, "transient", "credentials cannot be checked right now; try again")
        return None


def build_trust(settings: Settings, replay: ReplayCache | None = None) -> Trust | None:
    """The policy for these settings: None (open mode) without RELAPSE_CDS_CLIENTS. Raises ValueError
    (ClientsError lists each problem) when the clients file or RELAPSE_CDS_PUBLIC_URL is unusable.
    `replay`: the jti store to use (the service database's); RELAPSE_CDS_REPLAY_DB, when set, names a
    separate SQLite file instead. Either fails closed (see replay.FailClosed)."""
    if settings.clients is None:
        return None
    clients = load_clients(settings.clients)
    if not settings.public_url or not settings.public_url.startswith(("https://", "http://")):
        raise ValueError("RELAPSE_CDS_PUBLIC_URL (the base URL the EHR calls, e.g. https://cds.example.org) "
                         "is required when RELAPSE_CDS_CLIENTS is set: every token's aud is checked against it")
    verify_tls = str(settings.fhir_ca_bundle) if settings.fhir_ca_bundle else True
    if settings.replay_db is not None or replay is None:
        replay = replay_cache_for(settings.replay_db or Path("relapse-cds-replay.sqlite3"))
    return Trust(clients, settings.public_url.rstrip("/"), KeySets(verify_tls), FailClosed(replay))
