"""Verify a CDS client's JWT (CDS Hooks 2.0, "Trusting CDS Clients") with PyJWT; no cryptography here.

Order matters: nothing the token says is trusted before its signature checks out, except what is
needed to find the key (`iss` picks the client, `kid` the key); `jku` may only repeat the client's
configured `jwks_url`. Every failure raises `AuthFailure` with a reason for the log; the caller
answers 401 without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt

from .clients import TrustedClient, TrustedClients
from .keys import KeySets
from .replay import ReplayCache

#: CDS Hooks 2.0 requires ES384 and RS384 support; nothing else is accepted (never `none`, never HMAC).
ALGORITHMS = ("ES384", "RS384")
LEEWAY_S = 60
#: A CDS Hooks token lives minutes; one claiming more than a day is refused (and never kept that long).
MAX_AHEAD_S = 24 * 3600
_MAX_JTI = 256


class AuthFailure(Exception):
    """Why a token was refused: for the service log only (never the token itself)."""


@dataclass(frozen=True)
class VerifiedClient:
    """The caller, once its token is verified: `iss` (the trusted client) and `tenant` (the JWT's, if any)."""

    iss: str
    tenant: str | None
    jti: str
    client: TrustedClient


def _short(value: object) -> str:
    return repr(value)[:40]


def verify(token: str, audience: str, clients: TrustedClients, keys: KeySets, replay: ReplayCache) -> VerifiedClient:
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthFailure(f"malformed token ({type(exc).__name__})") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise AuthFailure(f"alg {_short(alg)} not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthFailure("no kid in the token header")
    client = clients.get(unverified.get("iss"))
    if client is None:
        raise AuthFailure(f"iss {_short(unverified.get('iss'))} is not a trusted client")
    jku = header.get("jku")
    if jku is not None and jku != client.jwks_url:
        raise AuthFailure(f"jku {_short(jku)} is not the jwks_url configured for {client.iss}")
    jwk = keys.key(client, kid)
    if jwk is None:
        raise AuthFailure(f"kid {_short(kid)} is not in the key set of {client.iss}")
    if jwk.get("alg") not in (None, alg):
        raise AuthFailure(f"key {_short(kid)} is for {_short(jwk.get('alg'))}, the token says {alg}")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg)
        claims = jwt.decode(
            token, key=key, algorithms=[alg], audience=audience, issuer=client.iss, leeway=LEEWAY_S,
            options={"require": ["iss", "aud", "exp", "iat", "jti"], "strict_aud": True},
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:  # bad signature, claims, or a key of the wrong type
        raise AuthFailure(f"token rejected: {type(exc).__name__}") from None
    now = datetime.now(timezone.utc).timestamp()
    iat, exp, jti = claims["iat"], claims["exp"], claims["jti"]
    if not isinstance(iat, (int, float)) or iat > now + LEEWAY_S:
        raise AuthFailure("iat is in the future")
    if exp > now + MAX_AHEAD_S:
        raise AuthFailure("exp is more than a day ahead")
    if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI:
        raise AuthFailure("jti must be a non-empty string")
    tenant = claims.get("tenant")
    if client.tenant is not None and tenant != client.tenant:
        raise AuthFailure(f"tenant {_short(tenant)} is not the tenant configured for {client.iss}")
    expires_at = datetime.fromtimestamp(exp, timezone.utc) + timedelta(seconds=LEEWAY_S)
    if not replay.first_use(client.iss, jti, expires_at):
        raise AuthFailure(f"jti replayed (iss {client.iss})")
    return VerifiedClient(client.iss, tenant if isinstance(tenant, str) else None, jti, client)
