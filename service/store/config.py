"""The store's part of the settings (RELAPSE_CDS_DATABASE_URL and friends, read in service/config.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings

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
    retention_days: int = Settings.retention_days
    #: RELAPSE_CDS_PATIENT_HASH_KEY: the HMAC key for patient ids; unset: generated once in data_dir.
    patient_hash_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "StoreSettings":
        return cls(
            data_dir=Path(settings.data_dir) if settings.data_dir else default_data_dir(),
            database_url=settings.database_url or None,
            retention_days=settings.retention_days,
            patient_hash_key=settings.patient_hash_key or None,
        )

    @classmethod
    def from_env(cls) -> "StoreSettings":
        """Read with the other settings (service/config.py): one parser, one error form."""
        return cls.from_settings(Settings.from_env())

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / SQLITE_FILE}"
