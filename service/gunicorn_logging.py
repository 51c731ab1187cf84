"""gunicorn's own log without PHI: it writes a malformed request line, or the URI of a failed request,
verbatim, and a client may have put patient data or a token in the query string or path."""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

from .config import Settings
from .logs import formatter

_QUERY = re.compile(r"\?[^\s'\"]*")
_REQUEST_LINE = re.compile(r"(Invalid request from ip=[^:]+: [^:'\"]+).*", re.DOTALL)


def redact(message: str) -> str:
    """Drop query strings, and the echoed request line of an invalid request (it may hold anything)."""
    return _QUERY.sub("?<redacted>", _REQUEST_LINE.sub(r"\1 <request line redacted>", message))


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


class RedactingLogger(Logger):
    """gunicorn logger class (setting `logger_class`) whose error log passes through `redact`."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.error_log.addFilter(_RedactFilter())
        log_format = Settings.from_env().log_format
        if log_format != "text":  # JSON lines for log shippers: gunicorn's own lines as well
            for handler in self.error_log.handlers + self.access_log.handlers:
                handler.setFormatter(formatter(log_format))
