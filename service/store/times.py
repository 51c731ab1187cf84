"""Times in the store are naive UTC (the same on SQLite, which has no time zones, and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def naive_utc(moment: datetime | int | float) -> datetime:
    """An aware datetime in UTC, or a JWT NumericDate (seconds since the epoch), as naive UTC."""
    if isinstance(moment, (int, float)):
        return datetime.fromtimestamp(moment, timezone.utc).replace(tzinfo=None)
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
