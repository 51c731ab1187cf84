"""Reading the file given to `relapse-cds assess`: every problem names the file and says what is
wrong or absent, in words a newcomer can act on (not a bare JSON decoder message)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path


def read_json_object(path: str) -> dict:
    """The JSON object in `path` (`-`: stdin); ValueError naming the file and the problem otherwise."""
    name = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not UTF-8 text; expected a JSON file") from None
    except OSError as exc:
        raise ValueError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not text.strip():
        raise ValueError(f"{name}: the file is empty; expected a FHIR Bundle or a CDS Hooks request (JSON)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"{name}: the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name}: a JSON {type(data).__name__.replace('list', 'array')}; expected a JSON object: a FHIR Bundle or a CDS Hooks request")
    return data


def bundle_gaps(bundle: Mapping) -> list[str]:
    """What a whole-record Bundle lacks that changes how its answer reads. ValueError when it holds
    no resource at all: an empty record is not a patient without a relapse."""
    entries = bundle.get("entry")
    resources = [e.get("resource") for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []
    types = {r.get("resourceType") for r in resources if isinstance(r, Mapping)}
    if not types:
        raise ValueError("the Bundle has no entries with a resource: there is nothing to assess")
    gaps = []
    if "Patient" not in types:
        gaps.append("the Bundle holds no Patient: birth date and sex are unknown, so the age flags cannot be assessed")
    if "Condition" not in types:
        gaps.append("the Bundle holds no Condition: no ALL diagnosis and no relapse are recorded in it")
    return gaps
