"""Persistence: the audit trail of invocations and cards, clinicians' feedback, and the JWT `jti` replay
cache, in one SQL database (SQLite by default, PostgreSQL by URL) behind SQLAlchemy 2.x and Alembic."""

from __future__ import annotations

from .config import StoreSettings
from .store import Store, StoreError, open_store

__all__ = ["Store", "StoreError", "StoreSettings", "open_store"]
