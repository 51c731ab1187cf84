"""`relapse-cds db upgrade`, `relapse-cds purge`, `relapse-cds report`: the store's commands."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..config import ConfigError
from . import migrate, report
from .config import StoreSettings
from .engine import make_engine
from .identity import PatientHasher
from .store import Store


def _open() -> Store:
    """The store without the patient-hash key (the commands hash nothing: none is generated for them)."""
    settings = StoreSettings.from_env()
    return Store(settings, make_engine(settings.url), PatientHasher(b""))


def _fail(command: str, exc: Exception) -> int:
    print(f"relapse-cds {command}: the database could not be used ({type(exc).__name__}); "
          f"check RELAPSE_CDS_DATABASE_URL and that the database is up", file=sys.stderr)
    return 1


def _attempt(command: str, action, migrated: bool = True):
    """Runs `action` on the store, its schema brought to the newest revision first (a no-op when it is
    there; a fresh database then reports zeros); a database that cannot be used is one line, exit 1."""
    try:
        store = _open()
        if migrated:
            migrate.upgrade(store.engine)
        return action(store), 0
    except ConfigError:
        raise  # a setting of the wrong form: `relapse-cds` prints its one line
    except (SQLAlchemyError, ValueError, OSError) as exc:
        return None, _fail(command, exc)


def db_upgrade(args: argparse.Namespace) -> int:
    revision, status = _attempt("db upgrade", lambda store: migrate.upgrade(store.engine), migrated=False)
    if revision:
        shown = make_url(StoreSettings.from_env().url).render_as_string(hide_password=True)
        print(f"ok: schema at revision {revision} ({shown})")
    return status


def purge(args: argparse.Namespace) -> int:
    result, status = _attempt("purge", lambda store: (store.purge(args.days), args.days or store.settings.retention_days))
    if result:
        counts, days = result
        print(f"purged records older than {days} days: {counts.invocations} invocations, {counts.cards} cards, "
              f"{counts.feedback} feedback items; {counts.jti} expired jti entries")
    return status


def show_report(args: argparse.Namespace) -> int:
    since = datetime.combine(args.since, datetime.min.time()) if args.since else None
    data, status = _attempt("report", lambda store: report.build(store.engine, since))
    if data is None:
        return status
    if args.format == "json":
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.format == "csv":
        sys.stdout.write(report.as_csv(data))
    else:
        sys.stdout.write(report.as_table(data))
    return 0


def add_commands(sub, date_type, positive_type) -> None:
    """Adds the store's subcommands to the `relapse-cds` parser (`date_type` parses YYYY-MM-DD,
    `positive_type` a positive integer)."""
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the database schema to the newest revision").set_defaults(func=db_upgrade)
    p = sub.add_parser("purge", help="delete audit records and feedback older than the retention period")
    p.add_argument("--days", type=positive_type, help="retention in days (default: $RELAPSE_CDS_RETENTION_DAYS, else 365)")
    p.set_defaults(func=purge)
    r = sub.add_parser("report", help="governance report: cards, feedback and override reasons by rule")
    r.add_argument("--since", type=date_type, help="only records from this date (YYYY-MM-DD) (default: all records)")
    form = r.add_mutually_exclusive_group()
    form.add_argument("--json", dest="format", action="store_const", const="json", help="the report as JSON (default: a table)")
    form.add_argument("--csv", dest="format", action="store_const", const="csv", help="one CSV row per rule (default: a table)")
    r.set_defaults(func=show_report, format="table")

