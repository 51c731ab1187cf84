"""Store settings from the environment (RELAPSE_CDS_DATABASE_URL and friends); see the README table."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RETENTION_DAYS = 365
SQLITE_FILE = "relapse-cds.sqlite3"


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/relapse-cds, else ~/.local/share/relapse-cds (the container sets its own)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "relapse-cds"


@dataclass(frozen=True)
class StoreSettings:
    #: RELAPSE_CDS_DATA_DIR: where the default SQLite file and a generated patient-hash key live.
    data_dir: Path
    #: RELAPSE_CDS_DATABASE_URL: `sqlite:///path` or `postgresql://user@host:port/db`; default SQLite in data_dir.
    database_url: str | None = None
    #: RELAPSE_CDS_RETENTION_DAYS: audit rows, feedback and expired jti older than this are purged.
    retention_days: int = DEFAULT_RETENTION_DAYS
    #: RELAPSE_CDS_PATIENT_HASH_KEY: the HMAC key for patient ids; unset: generated once in data_dir.
    patient_hash_key: str | None = None

    @classmethod
    def from_env(cls) -> "StoreSettings":
        raw_days = os.environ.get("RELAPSE_CDS_RETENTION_DAYS", "").strip()
        try:
            days = int(raw_days) if raw_days else DEFAULT_RETENTION_DAYS
        except ValueError:
            raise ValueError(f"RELAPSE_CDS_RETENTION_DAYS must be a whole number of days, got {raw_days!r}") from None
        if days <= 0:
            raise ValueError(f"RELAPSE_CDS_RETENTION_DAYS must be positive, got {days}")
        data_dir = os.environ.get("RELAPSE_CDS_DATA_DIR", "").strip()
        return cls(
            data_dir=Path(data_dir) if data_dir else default_data_dir(),
            database_url=os.environ.get("RELAPSE_CDS_DATABASE_URL", "").strip() or None,
            retention_days=days,
            patient_hash_key=os.environ.get("RELAPSE_CDS_PATIENT_HASH_KEY", "").strip() or None,
        )

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / SQLITE_FILE}"

    def describe(self) -> dict:
        """For `relapse-cds config`: the URL without its password, never the key itself."""
        from sqlalchemy.engine import make_url

        try:
            shown = make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - a malformed URL is reported by open_store, not here
            shown = "(unparsable URL)"
        return {
            "data_dir": str(self.data_dir), "database_url": shown, "retention_days": self.retention_days,
            "patient_hash_key": "from RELAPSE_CDS_PATIENT_HASH_KEY" if self.patient_hash_key else "generated file in data_dir",
        }
