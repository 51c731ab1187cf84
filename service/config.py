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
        )

    def describe(self) -> dict:
        return {f.name: (list(map(str, v)) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self) if f.name != "extras"}


def demo_page_enabled() -> bool:
    """The testing page at `/` (service/web/): on in open mode, off once trusted clients are configured
    (RELAPSE_CDS_CLIENTS), unless RELAPSE_CDS_DEMO_PAGE=on; RELAPSE_CDS_DEMO_PAGE=off turns it off."""
    setting = os.environ.get("RELAPSE_CDS_DEMO_PAGE", "").strip().lower()
    if setting in ("on", "off"):
        return setting == "on"
    if setting:
        raise ValueError(f"RELAPSE_CDS_DEMO_PAGE must be 'on' or 'off', got {setting[:32]!r}")
    return not os.environ.get("RELAPSE_CDS_CLIENTS", "").strip()
