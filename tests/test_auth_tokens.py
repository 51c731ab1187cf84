"""Trusting CDS clients, over real HTTP: `relapse-cds serve` (gunicorn, 2 workers) with a clients file.
The token matrix of the issue, plus the public routes and the shape of a refusal."""

from __future__ import annotations

import sys
import threading
import time

import pytest
import requests

from conftest import FIXTURES, SERVICE_URL, check_body
from jwt_fixtures import (ISS_A, ISS_B, ISS_C, PUBLIC_URL, JwksServer, Keys, claims, hs256_with_public_key, public_jwk,
                          sign, tampered, write_clients)
from server_process import free_port, running
from test_fetch import as_stored

pytestmark = pytest.mark.e2e
FEEDBACK = SERVICE_URL + "/feedback"


@pytest.fixture(scope="module")
def keys():
    return Keys()


@pytest.fixture(scope="module")
def jwks(keys):
    server = JwksServer([public_jwk(keys.c, "c-1")])
    yield server
    server.close()


@pytest.fixture(scope="module")
def config(tmp_path_factory, keys, jwks):
    directory = tmp_path_factory.mktemp("trust")
    return {"RELAPSE_CDS_CLIENTS": str(write_clients(directory, keys, jwks.url)), "RELAPSE_CDS_PUBLIC_URL": PUBLIC_URL,
            "RELAPSE_CDS_REPLAY_DB": str(directory / "replay.sqlite3"), "RELAPSE_CDS_METRICS_TOKEN": METRICS_TOKEN}


#: What a Prometheus scraper is configured to send to GET /metrics (RELAPSE_CDS_METRICS_TOKEN).
METRICS_TOKEN = "scraper-" + "s3cr3t" * 6


def serve(config: dict, log_path):
    port = free_port()
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    return running(command, log_path, port, env=config)


@pytest.fixture(scope="module")
def server(config, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with serve(config, log_path) as base:
        yield base, log_path


BODY = as_stored(FIXTURES / "b-early-marrow-tp53-ikzf1.json")


def call(base: str, token: str | None, path: str = SERVICE_URL, scheme: str = "Bearer") -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    response = requests.post(base + path, json=BODY, headers=headers, timeout=30)
    check_body(path, response.status_code, response.json())
    return response


def _replayed(k: Keys, base: str) -> str:
    token = sign(k.a, "a-1", claims(ISS_A, SERVICE_URL))
    assert call(base, token).status_code == 200
    return token


#: (case, token builder, expected status). Builders get the keys, the server URL and the jwks_url.
MATRIX = [
    ("no token", lambda k, b, u: None, 401),
    ("malformed", lambda k, b, u: "not.a.jwt", 401),
    ("alg none", lambda k, b, u: sign(None, "a-1", claims(ISS_A, SERVICE_URL), alg="none"), 401),
    ("HS256 keyed with the public key", lambda k, b, u: hs256_with_public_key(k.a, "a-1", claims(ISS_A, SERVICE_URL)), 401),
    ("another key with the same kid", lambda k, b, u: sign(k.a_impostor, "a-1", claims(ISS_A, SERVICE_URL)), 401),
    ("unknown kid", lambda k, b, u: sign(k.a, "a-9", claims(ISS_A, SERVICE_URL)), 401),
    ("tampered payload", lambda k, b, u: tampered(sign(k.a, "a-1", claims(ISS_A, SERVICE_URL)), tenant="other"), 401),
    ("unknown iss", lambda k, b, u: sign(k.a, "a-1", claims("https://evil.example.org", SERVICE_URL)), 401),
    ("wrong aud", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, aud="https://other.example.org" + SERVICE_URL)), 401),
    ("aud of another endpoint", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, FEEDBACK)), 401),
    ("aud as a list", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, aud=[PUBLIC_URL + SERVICE_URL])), 401),
    ("expired", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, exp=int(time.time()) - 120)), 401),
    ("exp years ahead", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, exp=253402300799)), 401),
    ("no exp", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, exp=...)), 401),
    ("iat in the future", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, iat=int(time.time()) + 600)), 401),
    ("no iat", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, iat=...)), 401),
    ("no jti", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, jti=...)), 401),
    ("replayed jti", lambda k, b, u: _replayed(k, b), 401),
    ("wrong tenant", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, tenant="another-hospital")), 401),
    ("no tenant where one is configured", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL, tenant=...)), 401),
    ("jku not allowed", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL), jku="https://evil.example.org/jwks.json"), 401),
    ("jku of another client", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL), jku=u), 401),
    ("RS256 (not accepted)", lambda k, b, u: sign(k.b, "b-1", claims(ISS_B, SERVICE_URL), alg="RS256"), 401),
    ("ES384 token naming an RSA key", lambda k, b, u: sign(k.a, "b-1", claims(ISS_B, SERVICE_URL), alg="ES384"), 401),
    ("valid ES384 (client A, jwks_file, tenant)", lambda k, b, u: sign(k.a, "a-1", claims(ISS_A, SERVICE_URL)), 200),
    ("valid RS384 (client B, inline jwks)", lambda k, b, u: sign(k.b, "b-1", claims(ISS_B, SERVICE_URL)), 200),
    ("valid ES384 (client C, jwks_url, its jku)", lambda k, b, u: sign(k.c, "c-1", claims(ISS_C, SERVICE_URL), jku=u), 200),
    ("valid with sub and nbf", lambda k, b, u: sign(k.b, "b-1", claims(ISS_B, SERVICE_URL, sub="client-id", nbf=int(time.time()) - 5)), 200),
    ("valid, exp passed within the leeway", lambda k, b, u: sign(k.b, "b-1", claims(ISS_B, SERVICE_URL, exp=int(time.time()) - 20)), 200),
]


#: What the service log must say for each refusal (the client only ever sees "invalid or missing credentials").
REASONS = {
    "no token": "no bearer token", "malformed": "malformed token", "alg none": "alg 'none' not accepted",
    "HS256 keyed with the public key": "alg 'HS256' not accepted", "another key with the same kid": "InvalidSignatureError",
    "unknown kid": "kid 'a-9' is not in the key set", "tampered payload": "InvalidSignatureError",
    "unknown iss": "is not a trusted client", "wrong aud": "InvalidAudienceError", "aud of another endpoint": "InvalidAudienceError",
    "aud as a list": "InvalidAudienceError", "expired": "ExpiredSignatureError", "no exp": "MissingRequiredClaimError", "exp years ahead": "exp is more than a day ahead",
    "iat in the future": "ImmatureSignatureError", "no iat": "MissingRequiredClaimError", "no jti": "MissingRequiredClaimError",
    "replayed jti": "jti replayed", "wrong tenant": "tenant 'another-hospital' is not the tenant configured",
    "no tenant where one is configured": "tenant None is not the tenant configured", "jku not allowed": "is not the jwks_url configured",
    "jku of another client": "is not the jwks_url configured", "RS256 (not accepted)": "alg 'RS256' not accepted",
    "ES384 token naming an RSA key": "InvalidKeyError",
}


@pytest.mark.parametrize(("case", "build", "status"), MATRIX, ids=[m[0] for m in MATRIX])
def test_token_matrix(server, keys, jwks, case, build, status):
    base, log_path = server
    token = build(keys, base, jwks.url)
    logged_before = len(log_path.read_text())
    response = call(base, token)
    assert response.status_code == status, response.text
    if status == 401:
        assert REASONS[case] in log_path.read_text()[logged_before:]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["issue"][0]["diagnostics"] == "invalid or missing credentials"
        assert len(response.json()["issue"]) == 1
    else:
        assert response.json()["extension"]["org.relapse-cds.assessment"]["cogRisk"] == "high"
    if token:
        assert token not in log_path.read_text()


def test_matrix_is_the_size_the_issue_asks(server):
    assert len(MATRIX) >= 18


def test_refusals_are_logged_with_the_reason(server, keys):
    base, log_path = server
    call(base, sign(keys.a, "a-1", claims(ISS_A, SERVICE_URL, tenant="another-hospital")))
    time.sleep(0.2)
    assert "tenant 'another-hospital' is not the tenant configured" in log_path.read_text()


def test_a_jti_is_accepted_once_across_two_workers(server, keys):
    """The same token sent by 8 clients at once lands on both workers: exactly one is answered."""
    base, _ = server
    token = sign(keys.b, "b-1", claims(ISS_B, SERVICE_URL))
    barrier, statuses = threading.Barrier(8), []

    def send():
        barrier.wait()
        statuses.append(call(base, token).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [401] * 7


def test_a_jti_is_remembered_across_restarts(config, keys, tmp_path):
    token = sign(keys.b, "b-1", claims(ISS_B, SERVICE_URL))
    with serve(config, tmp_path / "first.log") as base:
        assert call(base, token).status_code == 200
    with serve(config, tmp_path / "second.log") as base:
        assert call(base, token).status_code == 401


def test_public_routes_need_no_token(server):
    base, _ = server
    assert requests.get(base + "/cds-services", timeout=10).status_code == 200
    # A token sent to discovery is ignored (discovery holds no PHI), even a bad one.
    assert requests.get(base + "/cds-services", headers={"Authorization": "Bearer junk"}, timeout=10).status_code == 200
    health = requests.get(base + "/health", timeout=10)
    assert health.status_code == 200 and health.json()["mode"] == "authenticated"
    preflight = requests.options(base + SERVICE_URL, headers={"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.status_code < 400 and "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_every_other_route_is_protected(server, keys):
    """Routes added later (the feedback endpoint) are covered by the same policy, aud per path."""
    base, _ = server
    assert call(base, None, FEEDBACK).status_code == 401
    assert call(base, sign(keys.a, "a-1", claims(ISS_A, SERVICE_URL)), FEEDBACK).status_code == 401  # aud of invoke
    assert call(base, sign(keys.a, "a-1", claims(ISS_A, FEEDBACK)), FEEDBACK).status_code != 401
    assert requests.post(base + "/bench/parse-only", json={}, timeout=10).status_code == 401
    assert call(base, "x", SERVICE_URL, scheme="Basic").status_code == 401


def test_a_metrics_scraper_reads_metrics_with_its_token_and_nothing_else(server, keys):
    base, log_path = server

    def metrics(token: str | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return requests.get(base + "/metrics", headers=headers, timeout=10)

    scraped = metrics(METRICS_TOKEN)
    assert scraped.status_code == 200 and "relapse_cds_invocation_seconds" in scraped.text
    assert metrics(None).status_code == 401
    assert metrics(METRICS_TOKEN[:-1] + "x").status_code == 401
    assert metrics(sign(keys.a, "a-1", claims(ISS_A, "/metrics"))).status_code == 200  # a client's JWT, as before
    assert requests.head(base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).status_code == 200
    # The scraper's token opens /metrics only.
    for path in ("/metrics/", "/cds-services/relapse-all-assessment", "/bench/parse-only"):
        assert requests.get(base + path, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).status_code in (401, 404, 405)
    assert call(base, METRICS_TOKEN).status_code == 401
    assert call(base, METRICS_TOKEN, FEEDBACK).status_code == 401
    assert requests.post(base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).status_code in (401, 405)
    assert METRICS_TOKEN[:-1] not in log_path.read_text()  # neither the token nor the wrong one is logged
