"""Fetch from the EHR's FHIR server what the prefetch lacks (CDS Hooks 2.0, "FHIR Resource Access").

For each prefetch key the request omits (or gives as an OperationOutcome) the service runs the query
its prefetch template declares, against `fhirServer`, with the bearer token from `fhirAuthorization`.
Keys are fetched concurrently under one deadline; searches follow `Bundle.link[relation=next]` (also
from a prefetched first page) to the same origin only, up to a cap. The result is a prefetch in which
fetched keys sit exactly where prefetched ones would: a searchset Bundle, the Patient, or an
OperationOutcome when the fetch failed (that domain is then missing data on the cards).

Safety: no request goes to a server not on the caller's list (no SSRF), redirects are not followed,
TLS is verified, and the access token is never logged or kept.
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
import requests.adapters

from .. import jsontext, metrics
from ..definition import PATIENT_TOKEN, ServiceDefinition

log = logging.getLogger("relapse_cds")

MAX_PAGES = 20
MAX_RESOURCES = 5000
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchPolicy:
    deadline_s: float = 3.0
    verify_tls: bool | str = True  # a CA bundle path for a private CA
    max_pages: int = MAX_PAGES
    max_resources: int = MAX_RESOURCES
    max_depth: int = 64  # JSON nesting, as for a request body (RELAPSE_CDS_MAX_JSON_DEPTH)


class FetchFailure(Exception):
    """A query that could not be answered; `code` is a FHIR issue type, the message names no token."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class PatientUnreadable(FetchFailure):
    """The Patient itself could not be read: the service cannot answer (412)."""


@dataclass
class Completed:
    prefetch: dict
    notes: list[str] = field(default_factory=list)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _query_url(base: str, template: str, patient_id: str) -> str:
    path, _, query = template.replace(PATIENT_TOKEN, patient_id).partition("?")
    url = f"{base}/{path}"
    return f"{url}?{urlencode(parse_qsl(query, keep_blank_values=True))}" if query else url


_pool: tuple[int, requests.Session] | None = None


def _http() -> requests.Session:
    """One connection pool per process (made after gunicorn's fork): keep-alive connections to the
    EHR's FHIR server are reused across requests, which saves a TLS handshake per key. It holds no
    credentials: the token goes with each request."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        session = requests.Session()
        session.trust_env = False  # no proxy or .netrc from the environment; TLS settings are ours
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))  # no cookies kept
        _pool = (os.getpid(), session)
    return _pool[1]


class _Session:
    """One key's HTTP conversation: the deadline, the token and the origin it may talk to."""

    def __init__(self, base: str, token: str | None, deadline: float, policy: FetchPolicy):
        self.origin, self.deadline, self.policy = _origin(base), deadline, policy
        self.http = _http()
        self.headers = {"Accept": "application/fhir+json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise FetchFailure("timeout", "no answer within the fetch deadline")
        return left

    def _download(self, url: str) -> tuple[int, bytes]:
        left = self.remaining()
        with self.http.get(url, headers=self.headers, timeout=(left, left), verify=self.policy.verify_tls,
                           allow_redirects=False, stream=True) as response:
            body = bytearray()
            if response.status_code == 200:
                for chunk in response.iter_content(_CHUNK):
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise FetchFailure("too-costly", f"answer larger than {MAX_RESPONSE_BYTES} bytes")
                    self.remaining()
            return response.status_code, bytes(body)

    def get_json(self, url: str) -> Mapping:
        """One FHIR GET; every failure is counted in /metrics by its reason (no URL, no PHI)."""
        try:
            return self._get_json(url)
        except FetchFailure as exc:
            metrics.inc("relapse_cds_fetch_failures_total", reason=exc.code)
            raise

    def _get_json(self, url: str) -> Mapping:
        if _origin(url) != self.origin:
            raise FetchFailure("forbidden", "a link pointed to another server; not followed")
        for attempt in (1, 2):
            try:
                status, body = self._download(url)
                break
            except requests.Timeout:
                raise FetchFailure("timeout", "no answer within the fetch deadline") from None
            except requests.exceptions.SSLError:
                raise FetchFailure("security", "the FHIR server's TLS certificate could not be verified") from None
            except requests.ConnectionError:
                # A pooled keep-alive connection the server has just closed fails like this: once more
                # on a fresh one (a GET is safe to repeat), within the same deadline.
                if attempt == 2:
                    raise FetchFailure("transient", "the FHIR server could not be reached (connection failed)") from None
            except requests.RequestException as exc:
                raise FetchFailure("exception", f"the request failed ({type(exc).__name__})") from None
        if status in (401, 403):
            raise FetchFailure("security", f"the FHIR server refused access (HTTP {status})")
        if status == 404:
            raise FetchFailure("not-found", "the FHIR server has no such resource (HTTP 404)")
        if status != 200:
            raise FetchFailure("exception", f"the FHIR server answered HTTP {status}")
        try:
            data = jsontext.loads(body)
        except (ValueError, RecursionError):
            raise FetchFailure("structure", "the FHIR server's answer is not JSON") from None
        if jsontext.too_deep(body, self.policy.max_depth):
            raise FetchFailure("too-costly", f"the FHIR server's answer nests JSON deeper than {self.policy.max_depth} levels")
        if not isinstance(data, Mapping) or not isinstance(data.get("resourceType"), str):
            raise FetchFailure("structure", "the FHIR server's answer is not a FHIR resource")
        return data


def _next_link(bundle: Mapping) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def _entries(bundle: Mapping) -> list:
    entries = bundle.get("entry")
    return list(entries) if isinstance(entries, list) else []


def _search(session: _Session, first: Mapping | None, url: str | None, key: str, notes: list[str]) -> Mapping:
    """All pages of a search as one searchset Bundle. `first` is a page already in hand (prefetched)."""
    entries: list = []
    pages = 0
    page = first
    while True:
        if page is None:
            page = session.get_json(url)
            if page.get("resourceType") == "OperationOutcome":
                return page  # the server says the search failed: the key stays unavailable
            if page.get("resourceType") != "Bundle":
                raise FetchFailure("structure", f"a search answered {str(page.get('resourceType'))[:40]}, not a Bundle")
        pages += 1
        entries += _entries(page)
        url = _next_link(page)
        if url is None:
            break
        if pages >= session.policy.max_pages or len(entries) >= session.policy.max_resources:
            notes.append(f"fetch {key}: stopped after {pages} page(s) and {len(entries)} entries (the cap); further data was not read")
            break
        if _origin(url) != session.origin:
            notes.append(f"fetch {key}: a next page on another server was not followed; only {pages} page(s) read")
            break
        page = None
    if len(entries) > session.policy.max_resources:
        notes.append(f"fetch {key}: only the first {session.policy.max_resources} of {len(entries)} entries read (the cap)")
        entries = entries[: session.policy.max_resources]
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def _read_patient(session: _Session, url: str, patient_id: str) -> Mapping:
    try:
        patient = session.get_json(url)
    except FetchFailure as exc:
        raise PatientUnreadable(exc.code, exc.message) from None
    if patient.get("resourceType") != "Patient" or patient.get("id") != patient_id:
        raise PatientUnreadable("structure", "the FHIR server's answer is not this Patient")
    return patient


def _outcome(failure: FetchFailure) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": failure.code, "diagnostics": failure.message}]}


def _failure(future: Future, key: str) -> FetchFailure | None:
    if not future.done():
        return FetchFailure("timeout", "no answer within the fetch deadline")
    exc = future.exception()
    if exc is None or isinstance(exc, FetchFailure):
        return exc
    log.error("fetch %s failed: %s", key, type(exc).__name__)  # a bug: its message might quote the token
    return FetchFailure("exception", "the fetch failed unexpectedly")


def to_fetch(prefetch: Mapping, service: ServiceDefinition) -> list[str]:
    """Keys to query: absent, or given as an OperationOutcome, or a Bundle with further pages.
    A key given as null means "nothing recorded": it is not fetched."""
    keys = []
    for spec in service.prefetch:
        value = prefetch.get(spec.key, ...)
        if value is ... or (isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome"):
            keys.append(spec.key)
        elif isinstance(value, Mapping) and value.get("resourceType") == "Bundle" and _next_link(value):
            keys.append(spec.key)
    return keys


def complete_prefetch(
    prefetch: Mapping | None,
    service: ServiceDefinition,
    patient_id: str,
    fhir_server: str | None,
    access_token: str | None,
    allowed_servers: tuple[str, ...],
    policy: FetchPolicy,
) -> Completed:
    """The request's prefetch with what it lacks fetched. Raises PatientUnreadable (-> 412) when the
    Patient had to be read and could not be."""
    result = Completed(dict(prefetch or {}))
    keys = to_fetch(result.prefetch, service)
    if not keys:
        return result
    if not fhir_server:
        return result  # nothing to fetch from: the absent keys are reported as missing data
    base = fhir_server.rstrip("/")
    if base not in allowed_servers:
        log.warning("fhirServer %s is not allowed for this client; nothing fetched", base[:200])
        result.notes.append("fhirServer is not a FHIR server this service may query: keys not prefetched were not fetched")
        return result
    deadline = time.monotonic() + policy.deadline_s
    templates = {spec.key: spec.query for spec in service.prefetch}
    notes: dict[str, list[str]] = {key: [] for key in keys}

    def job(key: str) -> Mapping:
        session = _Session(base, access_token, deadline, policy)
        url = _query_url(base, templates[key], patient_id)
        if key == "patient" and not templates[key].partition("?")[1]:
            return _read_patient(session, url, patient_id)
        given = result.prefetch.get(key)
        first = given if isinstance(given, Mapping) and given.get("resourceType") == "Bundle" else None
        return _search(session, first, url if first is None else None, key, notes[key])

    pool = ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="fhir-fetch")
    futures = {key: pool.submit(job, key) for key in keys}
    pending, patient = set(futures.values()), futures.get("patient")
    while pending:  # until all are done, the deadline passes, or the Patient fails (then 412 at once)
        done, pending = wait(pending, timeout=max(0.0, deadline - time.monotonic()) + 0.2, return_when=FIRST_COMPLETED)
        if not done or (patient in done and patient.exception() is not None):
            break
    pool.shutdown(wait=False, cancel_futures=True)  # late threads end at their own socket timeout
    failure = _failure(patient, "patient") if patient is not None else None
    if failure is not None:
        raise PatientUnreadable(failure.code, failure.message)
    for key, future in futures.items():
        failure = _failure(future, key)
        result.notes += notes[key]
        if failure is not None:
            log.info("fetch %s failed: %s", key, failure.message)
            result.notes.append(f"fetch {key}: {failure.message}")
            # Also when a prefetched first page's further pages failed: incomplete data is not relied on.
            result.prefetch[key] = _outcome(failure)
        else:
            result.prefetch[key] = future.result()
    return result
