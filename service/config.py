"""Settings, from environment variables (RELAPSE_CDS_*) over embedded defaults. No external server needed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _count(name: str, default: int) -> int:
    """A non-negative integer (0 turns the feature off)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not raw.strip().isdigit():
        raise ValueError(f"{name} must be a whole number (0 or more), got {raw!r}")
    return int(raw)


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


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
    #: RELAPSE_CDS_MAX_RESOURCES_PER_KEY / RELAPSE_CDS_MAX_RESOURCES: more resources in one prefetch key,
    #: or in all keys together, get 413; RELAPSE_CDS_MAX_VALIDATED: more resources that can decide the
    #: answer (each is validated, ~0.15 ms) get 413 too. Together they bound what one request costs.
    max_resources_per_key: int = 5000
    max_resources: int = 10000
    max_validated: int = 3000
    #: RELAPSE_CDS_MODEL_CACHE: validated FHIR resources kept per worker for charts opened again (0: off).
    #: Off by default: the cached models are live objects every full garbage collection scans (2048 of
    #: them made each ~70 ms), which costs more at p99 than skipping validation saves.
    model_cache: int = 0
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
            max_resources_per_key=_int("RELAPSE_CDS_MAX_RESOURCES_PER_KEY", cls.max_resources_per_key),
            max_resources=_int("RELAPSE_CDS_MAX_RESOURCES", cls.max_resources),
            max_validated=_int("RELAPSE_CDS_MAX_VALIDATED", cls.max_validated),
            model_cache=_count("RELAPSE_CDS_MODEL_CACHE", cls.model_cache),
        )

    def describe(self) -> dict:
        return {f.name: (list(map(str, v)) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self) if f.name != "extras"}
