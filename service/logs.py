"""The service's own log (`relapse_cds` logger), configured once by the app factory, so that
`relapse-cds serve` and gunicorn with docker/gunicorn.conf.py log alike.

Two forms (RELAPSE_CDS_LOG_FORMAT): `text`, one readable line, and `json`, one JSON object a line for
log shippers. What is logged never carries PHI or tokens: callers log the hookInstance and the
answers, never patient ids, names, bodies or headers; exceptions are logged by type and frames only.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

LOGGER = "relapse_cds"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and the record's
    `fields` (structured values a caller passes with extra={"fields": {...}})."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in line})
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__  # the type only: a message may quote patient data
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


class _ServiceHandler(logging.StreamHandler):
    """The handler this module installs; told apart so that configuring again replaces it. It writes
    to whatever sys.stderr is when a line is logged (a test harness may swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str, log_format: str) -> None:
    """Give the service's logger its own stderr handler at `level` in `log_format`. Idempotent: a
    second app (tests, a reload) replaces the handler rather than doubling every line. The logger
    does not propagate, so a root handler (the CLI's basicConfig) does not print it twice."""
    logger = logging.getLogger(LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, _ServiceHandler)]:
        logger.removeHandler(old)
    handler = _ServiceHandler()
    handler.setFormatter(formatter(log_format))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def log_call(logger: logging.Logger, **fields: object) -> None:
    """One line per answered call: `key=value ...` as text, and the same keys as JSON fields. Callers
    pass the hookInstance and the answers, never a patient id or anything from a header."""
    logger.info(" ".join(f"{k}=%s" for k in fields), *fields.values(), extra={"fields": fields})
