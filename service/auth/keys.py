"""Public keys of the trusted clients, chosen by `kid`.

Keys from the clients file are fixed. Keys behind a client's `jwks_url` are fetched on first use,
kept for an hour, and fetched again when a token names an unknown `kid` (the client rotated its
keys), at most once a minute per URL so that junk tokens cannot make the service hammer the EHR.
Only the configured `jwks_url` is ever fetched; a token's `jku` never chooses a URL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import requests

from .clients import TrustedClient

log = logging.getLogger("relapse_cds")

CACHE_SECONDS = 3600.0
MIN_REFRESH_SECONDS = 60.0
FETCH_TIMEOUT_S = 3.0
MAX_JWKS_BYTES = 256 * 1024


def _find(jwks: Mapping | None, kid: str) -> Mapping | None:
    for key in (jwks or {}).get("keys") or []:
        if isinstance(key, Mapping) and key.get("kid") == kid:
            return key
    return None


class KeySets:
    """Per-process key cache (each gunicorn worker keeps its own; they are public keys)."""

    def __init__(self, verify_tls: bool | str = True, clock: Callable[[], float] = time.monotonic):
        self._verify = verify_tls
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, Mapping | None]] = {}  # url -> (fetched at, key set)

    def key(self, client: TrustedClient, kid: str) -> Mapping | None:
        """The JWK with this `kid` in the client's key set, or None."""
        if client.jwks_url is None:
            return _find(client.jwks, kid)
        url = client.jwks_url
        with self._lock:
            fetched_at, jwks = self._cached.get(url, (None, None))
        now = self._clock()
        found = _find(jwks, kid)
        stale = fetched_at is None or now - fetched_at > CACHE_SECONDS
        if found is not None and not stale:
            return found
        if fetched_at is not None and now - fetched_at < MIN_REFRESH_SECONDS:
            return found  # refreshed moments ago: an unknown kid stays unknown for now
        fresh = self._fetch(url)
        with self._lock:
            # A failed refresh keeps the last good set (an EHR outage must not lock everyone out).
            self._cached[url] = (now, fresh if fresh is not None else jwks)
        return _find(fresh if fresh is not None else jwks, kid)

    def _fetch(self, url: str) -> Mapping | None:
        try:
            with requests.get(url, timeout=FETCH_TIMEOUT_S, verify=self._verify, allow_redirects=False, stream=True,
                              headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    log.warning("jwks_url %s answered HTTP %d", url, response.status_code)
                    return None
                body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
            if len(body) > MAX_JWKS_BYTES:
                log.warning("jwks_url %s: key set larger than %d bytes; ignored", url, MAX_JWKS_BYTES)
                return None
            data = requests.compat.json.loads(body)
        except (requests.RequestException, ValueError) as exc:
            log.warning("jwks_url %s could not be read: %s", url, type(exc).__name__)
            return None
        if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
            log.warning("jwks_url %s: not a JWK Set", url)
            return None
        return data
