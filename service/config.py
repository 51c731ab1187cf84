"""Settings, from environment variables (RELAPSE_CDS_*) over embedded defaults. No external server needed."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path


class ConfigError(ValueError):
    """A setting that cannot be read. Its message is one line naming the variable and the form it
    expects, which the command line and the gunicorn config print as is (exit 2): an operator fixes
    the variable, no traceback to read. `got` is echoed only when given (a secret never should be)."""

    def __init__(self, variable: str, expected: str, got: str | None = None):
        shown = "" if got is None else f", got {got[:40]!r}"
        super().__init__(f"{variable} must be {expected}{shown}")
        self.variable, self.expected = variable, expected


def _raw(name: str) -> str | None:
    raw = os.environ.get(name)
    return None if raw is None or raw.strip() == "" else raw.strip()


def _secret(name: str, minimum: int) -> str:
    """A secret of at least `minimum` characters, or empty; never echoed in an error."""
    raw = _raw(name)
    if raw is None:
        return ""
    if len(raw) < minimum or not (raw.isascii() and raw.isprintable()) or any(c.isspace() for c in raw):
        raise ConfigError(name, f"a secret of at least {minimum} printable ASCII characters without spaces, e.g. from "
                                f"`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'` (got {len(raw)} characters)")
    return raw


def _int(name: str, default: int, maximum: int | None = None) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    expected = "a positive integer" if maximum is None else f"an integer from 1 to {maximum}"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, expected, raw) from None
    if value <= 0 or (maximum is not None and value > maximum):
        raise ConfigError(name, expected, raw)
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE + _FALSE:
        return raw.lower() in _TRUE
    raise ConfigError(name, "one of " + ", ".join(_TRUE + _FALSE), raw)


def _choice(name: str, default: str, choices: tuple[str, ...], upper: bool = False) -> str:
    raw = _raw(name)
    if raw is None:
        return default
    value = raw.upper() if upper else raw.lower()
    if value not in choices:
        raise ConfigError(name, "one of " + ", ".join(choices), raw)
    return value


def _text(name: str, default: str) -> str:
    return _raw(name) or default


def usable_cpus() -> int:
    """CPUs this process may run on: a container limited by cpusets sees its own share, not the host's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """gunicorn sync workers for CPU-bound work: one per usable CPU, plus one."""
    return usable_cpus() + 1


_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^/:@\s]*:)[^@/\s]*@")


def password_masked(text: str) -> str:
    """`text` with the password of any URL in it (user:password@host) shown as ***."""
    return _URL_PASSWORD.sub(r"\1***@", text)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _seconds(name: str, default: float, maximum: float) -> float:
    raw = _raw(name)
    if raw is None:
        return default
    expected = f"a number of seconds above 0 and at most {maximum:g}"
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, expected, raw) from None
    if not 0 < value <= maximum:
        raise ConfigError(name, expected, raw)
    return value


def _path(name: str) -> Path | None:
    raw = _raw(name)
    return Path(raw) if raw else None


def _urls(name: str) -> tuple[str, ...]:
    """Comma-separated base URLs, compared without a trailing '/'."""
    return tuple(u.strip().rstrip("/") for u in (_raw(name) or "").split(",") if u.strip())


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
    #: RELAPSE_CDS_MODEL_CACHE: validated FHIR resources kept per worker for charts opened again (about
    #: 15 KB each). The garbage collector's thresholds are set in create_app so that full collections,
    #: which scan the cached models, stay rare.
    model_cache: int = 2048
    #: RELAPSE_CDS_LOG_FORMAT: `text` (one readable line) or `json` (one JSON object a line, for log shippers).
    log_format: str = "text"
    #: RELAPSE_CDS_HOST, RELAPSE_CDS_PORT: where `relapse-cds serve` listens.
    host: str = "127.0.0.1"
    port: int = 8080
    #: RELAPSE_CDS_WORKERS: gunicorn workers, for `serve` and the container (default: usable CPUs + 1).
    workers: int = field(default_factory=default_workers)
    #: RELAPSE_CDS_BIND: the container's listening address (docker/gunicorn.conf.py).
    bind: str = "0.0.0.0:8080"
    #: RELAPSE_CDS_WORKER_TIMEOUT: seconds before gunicorn restarts a silent worker.
    worker_timeout: int = 30
    #: RELAPSE_CDS_ACCESS_LOG: the container's gunicorn access log (method, path, status, size, time).
    access_log: bool = True
    #: RELAPSE_CDS_GUNICORN_LOG_LEVEL: level of gunicorn's own error log in the container.
    gunicorn_log_level: str = "info"
    #: RELAPSE_CDS_FORWARDED_ALLOW_IPS: proxies whose X-Forwarded-* headers the container trusts.
    forwarded_allow_ips: str = "127.0.0.1"
    #: RELAPSE_CDS_CLIENTS: YAML file of trusted CDS clients; unset: open mode (development only).
    clients: Path | None = None
    #: RELAPSE_CDS_PUBLIC_URL: base URL the EHR calls; a JWT's aud is this plus the endpoint's path.
    public_url: str | None = None
    #: RELAPSE_CDS_FETCH_DEADLINE_S: one deadline for all FHIR fetching in a request (below the worker timeout).
    fetch_deadline_s: float = 3.0
    #: RELAPSE_CDS_FHIR_ALLOW: fhirServer base URLs open mode may fetch from (comma-separated).
    fhir_allow: tuple[str, ...] = ()
    #: RELAPSE_CDS_FHIR_CA_BUNDLE: CA certificates (PEM) for FHIR servers and jwks_url behind a private CA.
    fhir_ca_bundle: Path | None = None
    #: RELAPSE_CDS_REPLAY_DB: a separate SQLite file remembering JWT ids (jti) until they expire; unset,
    #: they are kept in the service's database (RELAPSE_CDS_DATABASE_URL), shared by all workers and servers.
    replay_db: Path | None = None
    #: RELAPSE_CDS_INSECURE_OPEN: allow open mode on a non-loopback address (the container's --insecure-open).
    insecure_open: bool = False
    #: RELAPSE_CDS_DEMO_PAGE: the testing page at / (service/web/): `auto` (on in open mode), `on`, `off`.
    demo_page: str = "auto"
    #: RELAPSE_CDS_DATABASE_URL: the store, sqlite:///path or postgresql://user@host:port/db (empty: SQLite in data_dir).
    database_url: str = ""
    #: RELAPSE_CDS_DATA_DIR: the default SQLite file and a generated patient-hash key (empty: $XDG_DATA_HOME/relapse-cds).
    data_dir: str = ""
    #: RELAPSE_CDS_RETENTION_DAYS: `relapse-cds purge` deletes audit records and feedback older than this.
    retention_days: int = 365
    #: RELAPSE_CDS_PATIENT_HASH_KEY: the HMAC key for patient ids, never printed (empty: generated in data_dir).
    patient_hash_key: str = field(default="", repr=False)  # a secret: not in the object's printed form either
    #: RELAPSE_CDS_METRICS_TOKEN: a bearer token a metrics scraper may send to GET /metrics when clients
    #: are configured (at least 32 printable ASCII characters, never printed; empty: /metrics needs a client's JWT).
    metrics_token: str = field(default="", repr=False)
    extras: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        raw_extra = os.environ.get("RELAPSE_CDS_EXTRA_MAPPINGS", "")
        return cls(
            extra_mappings=tuple(Path(p) for p in raw_extra.split(os.pathsep) if p.strip()),
            max_body_bytes=_int("RELAPSE_CDS_MAX_BODY_BYTES", cls.max_body_bytes),
            max_json_depth=_int("RELAPSE_CDS_MAX_JSON_DEPTH", cls.max_json_depth),
            bench_endpoint=_bool("RELAPSE_CDS_BENCH_ENDPOINT", False),
            log_level=_choice("RELAPSE_CDS_LOG_LEVEL", "INFO", _LOG_LEVELS, upper=True),
            cors_origins=_origins(os.environ.get("RELAPSE_CDS_CORS_ORIGINS")),
            max_resources_per_key=_int("RELAPSE_CDS_MAX_RESOURCES_PER_KEY", cls.max_resources_per_key),
            max_resources=_int("RELAPSE_CDS_MAX_RESOURCES", cls.max_resources),
            max_validated=_int("RELAPSE_CDS_MAX_VALIDATED", cls.max_validated),
            model_cache=_int("RELAPSE_CDS_MODEL_CACHE", cls.model_cache),
            log_format=_choice("RELAPSE_CDS_LOG_FORMAT", "text", ("text", "json")),
            host=_text("RELAPSE_CDS_HOST", cls.host),
            port=_int("RELAPSE_CDS_PORT", cls.port, maximum=65535),
            workers=_int("RELAPSE_CDS_WORKERS", default_workers()),
            bind=_text("RELAPSE_CDS_BIND", cls.bind),
            worker_timeout=_int("RELAPSE_CDS_WORKER_TIMEOUT", cls.worker_timeout),
            access_log=_bool("RELAPSE_CDS_ACCESS_LOG", cls.access_log),
            gunicorn_log_level=_choice("RELAPSE_CDS_GUNICORN_LOG_LEVEL", cls.gunicorn_log_level, ("debug", "info", "warning", "error", "critical")),
            forwarded_allow_ips=_text("RELAPSE_CDS_FORWARDED_ALLOW_IPS", cls.forwarded_allow_ips),
            clients=_path("RELAPSE_CDS_CLIENTS"),
            public_url=(_raw("RELAPSE_CDS_PUBLIC_URL") or "").rstrip("/") or None,
            fetch_deadline_s=_seconds("RELAPSE_CDS_FETCH_DEADLINE_S", cls.fetch_deadline_s, maximum=25),
            fhir_allow=_urls("RELAPSE_CDS_FHIR_ALLOW"),
            fhir_ca_bundle=_path("RELAPSE_CDS_FHIR_CA_BUNDLE"),
            replay_db=_path("RELAPSE_CDS_REPLAY_DB"),
            insecure_open=_bool("RELAPSE_CDS_INSECURE_OPEN", cls.insecure_open),
            demo_page=_choice("RELAPSE_CDS_DEMO_PAGE", cls.demo_page, ("auto", "on", "off")),
            database_url=_text("RELAPSE_CDS_DATABASE_URL", cls.database_url),
            data_dir=_text("RELAPSE_CDS_DATA_DIR", cls.data_dir),
            retention_days=_int("RELAPSE_CDS_RETENTION_DAYS", cls.retention_days),
            patient_hash_key=_text("RELAPSE_CDS_PATIENT_HASH_KEY", cls.patient_hash_key),
            metrics_token=_secret("RELAPSE_CDS_METRICS_TOKEN", minimum=32),
        )

    @staticmethod
    def variable(field_name: str) -> str:
        """The environment variable of a field: RELAPSE_CDS_ + its name in capitals (the README's table)."""
        return "RELAPSE_CDS_" + field_name.upper()

    def describe(self) -> dict:
        """Every setting, for `relapse-cds config`; a password inside a URL (a database URL) is masked."""
        def shown(value: object) -> object:
            if isinstance(value, tuple):
                return [shown(str(v)) for v in value]
            return password_masked(value) if isinstance(value, str) else value

        described = {f.name: shown(getattr(self, f.name)) for f in fields(self) if f.name != "extras"}
        described["patient_hash_key"] = "(set)" if self.patient_hash_key else ""  # a secret: never printed
        if self.metrics_token:  # a secret: never printed
            described["metrics_token"] = "(set)" if self.clients is not None else "(set; unused in open mode: /metrics is open)"
        return described


def demo_page_enabled(settings: Settings) -> bool:
    """The testing page at `/` (service/web/): on in open mode, off once trusted clients are configured
    (RELAPSE_CDS_CLIENTS), unless RELAPSE_CDS_DEMO_PAGE=on; RELAPSE_CDS_DEMO_PAGE=off turns it off."""
    if settings.demo_page != "auto":
        return settings.demo_page == "on"
    return settings.clients is None
