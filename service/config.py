"""Settings, from environment variables (RELAPSE_CDS_*) over embedded defaults. No external server needed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


def _number(name: str, default, kind=int):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _int(name: str, default: int) -> int:
    return _number(name, default, int)


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _deadline(name: str, default: float) -> float:
    value = _number(name, default, float)
    if value > 25:  # below gunicorn's 30 s worker timeout, which would kill the request
        raise ValueError(f"{name} must be at most 25 seconds, got {value}")
    return value


def _path(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw) if raw else None


def _origins(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return Settings.cors_origins
    return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


@dataclass(frozen=True)
class Settings:
    """Effective configuration. Each field documents its environment variable in the README table."""

    #: RELAPSE_CDS_EXTRA_MAPPINGS: site mapping files added to mappings/ (os.pathsep-separated).
    extra_mappings: tuple[Path, ...] = ()
    #: RELAPSE_CDS_MAX_BODY_BYTES: larger request bodies get 413.
    max_body_bytes: int = 10 * 1024 * 1024
    #: RELAPSE_CDS_MAX_JSON_DEPTH: deeper JSON nesting gets 413 (FHIR needs far less than 64).
    max_json_depth: int = 64
    #: RELAPSE_CDS_BENCH_ENDPOINT: expose POST /bench/parse-only (benchmark baseline); off by default.
    bench_endpoint: bool = False
    #: RELAPSE_CDS_LOG_LEVEL: logging level of the service's own logger.
    log_level: str = "INFO"
    #: RELAPSE_CDS_CORS_ORIGINS: origins browsers may call from (comma-separated; `*` any; empty: none).
    cors_origins: tuple[str, ...] = ("*",)
    #: RELAPSE_CDS_CLIENTS: YAML file of trusted CDS clients; unset: open mode (development only).
    clients_file: Path | None = None
    #: RELAPSE_CDS_PUBLIC_URL: base URL the EHR calls; a JWT's aud is this plus the endpoint's path.
    public_url: str | None = None
    #: RELAPSE_CDS_FETCH_DEADLINE_S: one deadline for all FHIR fetching in a request.
    fetch_deadline_s: float = 3.0
    #: RELAPSE_CDS_FHIR_ALLOW: fhirServer base URLs open mode may fetch from (comma-separated).
    fhir_allow: tuple[str, ...] = ()
    #: RELAPSE_CDS_FHIR_CA_BUNDLE: CA certificates (PEM) for FHIR servers and jwks_url behind a private CA.
    fhir_ca_bundle: Path | None = None
    #: RELAPSE_CDS_REPLAY_DB: SQLite file remembering JWT ids (jti) until they expire; shared by workers.
    replay_db: Path = Path("relapse-cds-replay.sqlite3")
    extras: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        raw_extra = os.environ.get("RELAPSE_CDS_EXTRA_MAPPINGS", "")
        return cls(
            extra_mappings=tuple(Path(p) for p in raw_extra.split(os.pathsep) if p.strip()),
            max_body_bytes=_int("RELAPSE_CDS_MAX_BODY_BYTES", cls.max_body_bytes),
            max_json_depth=_int("RELAPSE_CDS_MAX_JSON_DEPTH", cls.max_json_depth),
            bench_endpoint=_bool("RELAPSE_CDS_BENCH_ENDPOINT", False),
            log_level=os.environ.get("RELAPSE_CDS_LOG_LEVEL", "INFO").upper(),
            cors_origins=_origins(os.environ.get("RELAPSE_CDS_CORS_ORIGINS")),
            clients_file=_path("RELAPSE_CDS_CLIENTS"),
            public_url=(os.environ.get("RELAPSE_CDS_PUBLIC_URL", "").strip().rstrip("/") or None),
            fetch_deadline_s=_deadline("RELAPSE_CDS_FETCH_DEADLINE_S", cls.fetch_deadline_s),
            fhir_allow=tuple(u.strip().rstrip("/") for u in os.environ.get("RELAPSE_CDS_FHIR_ALLOW", "").split(",") if u.strip()),
            fhir_ca_bundle=_path("RELAPSE_CDS_FHIR_CA_BUNDLE"),
            replay_db=_path("RELAPSE_CDS_REPLAY_DB") or cls.replay_db,
        )

    def describe(self) -> dict:
        return {f.name: (list(map(str, v)) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self) if f.name != "extras"}
