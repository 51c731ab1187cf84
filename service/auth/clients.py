"""The trusted CDS clients (RELAPSE_CDS_CLIENTS): who may call, with which keys, for which FHIR servers.

The file is read and checked once at start-up (and by `relapse-cds check`); any problem stops start-up
with every problem listed, so that a typo never silently lets a client in or locks one out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

_KEY_SOURCES = ("jwks_file", "jwks", "jwks_url")
_ALLOWED_MEMBERS = {"iss", "tenant", "fhir_servers", *_KEY_SOURCES}


class ClientsError(ValueError):
    """The clients file is unusable; `problems` lists each reason (no key material in them)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TrustedClient:
    iss: str
    #: Keys given in the file (jwks_file or inline jwks); None when they come from jwks_url.
    jwks: Mapping | None
    jwks_url: str | None
    tenant: str | None = None
    #: fhirServer base URLs this client may send, without trailing '/'.
    fhir_servers: tuple[str, ...] = ()
    #: Where the keys come from, for `relapse-cds config` (never the keys themselves).
    key_source: str = ""

    def summary(self) -> dict:
        """What `relapse-cds config` prints: inline key material is masked."""
        return {"iss": self.iss, "keys": self.key_source, "tenant": self.tenant, "fhir_servers": list(self.fhir_servers)}


@dataclass(frozen=True)
class TrustedClients:
    clients: Mapping[str, TrustedClient] = field(default_factory=dict)

    def get(self, iss: object) -> TrustedClient | None:
        return self.clients.get(iss) if isinstance(iss, str) else None

    def __len__(self) -> int:
        return len(self.clients)


def base_url(url: str) -> str:
    """A FHIR base URL as compared: without trailing '/'."""
    return url.rstrip("/")


def _http_url(value: object, https_only: bool) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    schemes = ("https",) if https_only else ("http", "https")
    return parts.scheme in schemes and bool(parts.hostname) and not parts.username and not parts.password


def _jwk_set(value: object, where: str, problems: list[str]) -> Mapping | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("keys"), list) or not value["keys"]:
        problems.append(f"{where}: not a JWK Set (an object with a non-empty 'keys' list)")
        return None
    for i, key in enumerate(value["keys"]):
        if not isinstance(key, Mapping) or not isinstance(key.get("kid"), str) or not isinstance(key.get("kty"), str):
            problems.append(f"{where}: key {i} needs 'kty' and 'kid'")
        elif "d" in key:
            problems.append(f"{where}: key {key['kid']!r} holds a private key; give the public key only")
    return value


def _client(raw: object, i: int, base: Path, problems: list[str]) -> TrustedClient | None:
    where = f"clients[{i}]"
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping")
        return None
    unknown = sorted(set(map(str, raw)) - _ALLOWED_MEMBERS)
    if unknown:
        problems.append(f"{where}: unknown member(s) {', '.join(unknown)}")
    iss = raw.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        problems.append(f"{where}: 'iss' is required (the client's issuer, matched exactly)")
        return None
    where = f"client {iss!r}"
    sources = [s for s in _KEY_SOURCES if raw.get(s) is not None]
    if len(sources) != 1:
        problems.append(f"{where}: exactly one of jwks_file, jwks, jwks_url is required (got {len(sources)})")
        return None
    jwks, jwks_url, source = None, None, sources[0]
    if source == "jwks_file":
        path = Path(str(raw["jwks_file"]))
        path = path if path.is_absolute() else base / path
        try:
            jwks = _jwk_set(json.loads(path.read_text(encoding="utf-8")), f"{where}: jwks_file {path}", problems)
        except (OSError, ValueError) as exc:
            problems.append(f"{where}: jwks_file {path} cannot be read as JSON ({type(exc).__name__})")
        key_source = f"jwks_file {path}"
    elif source == "jwks":
        jwks = _jwk_set(raw["jwks"], f"{where}: jwks", problems)
        key_source = f"jwks (inline, {len(jwks['keys']) if jwks else 0} key(s), not shown)"
    else:
        jwks_url = raw["jwks_url"]
        if not _http_url(jwks_url, https_only=False):
            problems.append(f"{where}: jwks_url must be an http(s) URL")
        key_source = f"jwks_url {jwks_url}"
    tenant = raw.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        problems.append(f"{where}: tenant must be a non-empty string when given")
    servers = raw.get("fhir_servers") or []
    if not isinstance(servers, list) or not all(_http_url(s, https_only=False) for s in servers):
        problems.append(f"{where}: fhir_servers must be a list of http(s) base URLs")
        servers = []
    return TrustedClient(iss, jwks, jwks_url, tenant, tuple(base_url(s) for s in servers), key_source)


def load_clients(path: Path) -> TrustedClients:
    """Read and check the clients file; raise ClientsError listing every problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClientsError([f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"]) from None
    except yaml.YAMLError as exc:
        raise ClientsError([f"{path}: not valid YAML ({type(exc).__name__})"]) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("clients"), list) or not data["clients"]:
        raise ClientsError([f"{path}: must hold a non-empty 'clients' list"])
    problems: list[str] = []
    clients: dict[str, TrustedClient] = {}
    for i, raw in enumerate(data["clients"]):
        client = _client(raw, i, path.parent, problems)
        if client is None:
            continue
        if client.iss in clients:
            problems.append(f"client {client.iss!r}: listed twice")
        clients[client.iss] = client
    if problems:
        raise ClientsError(problems)
    return TrustedClients(clients)
