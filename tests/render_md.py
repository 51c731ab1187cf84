"""Read card Markdown as a clinician sees it: backslash escapes removed (no Markdown library needed)."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()<>#+!|~:.])")


def plain(markdown: str) -> str:
    return _ESCAPE.sub(r"\1", markdown)
