"""JSON text from the network: read fast (json.loads's reading kept for what the fast parser refuses),
and its nesting depth read from the text."""

from __future__ import annotations

import json

import orjson


def loads(raw: bytes) -> object:
    """orjson reads a FHIR chart about twice as fast as json.loads (the benchmark's 480 KiB chart:
    1.2-1.9 ms, against 2.3-4.8). What it refuses (text not UTF-8, a byte order mark, NaN, lone
    surrogates, nesting past 1024 levels) is read by json.loads, which raises its own errors
    (ValueError, RecursionError). Both read an integer beyond the 64-bit range as a float (orjson's
    reading, which json.loads is told to follow), so that a body's numbers do not depend on what else
    it holds; within that range, and for every other value, the two read alike."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw, parse_int=_int_as_orjson_reads_it)


def _int_as_orjson_reads_it(text: str) -> int | float:
    if len(text) < 19:
        return int(text)
    value = int(text)  # more than 4300 digits: ValueError, as json.loads gives
    return value if -(2**63) <= value < 2**64 else float(text)  # float(text): inf past the float range, no error


#: The raw reading keeps only quotes and brackets, objects read as arrays (nesting is all it counts).
_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')


def too_deep(raw: bytes, limit: int) -> bool:
    """Whether a text `loads` has accepted nests containers more than `limit` levels deep, read from
    the text in a few passes at C speed (0.6 ms for a 480 KiB chart; a walk over the parsed values
    took 2-4 ms, on both of the benchmark's endpoints). Valid UTF-8 JSON makes it exact (a body in
    UTF-16 or UTF-32, which has NUL bytes where UTF-8 JSON cannot, is read as UTF-8 first): escaped
    backslashes, then escaped quotes, are dropped (backslashes occur only inside strings); of the
    rest only quotes and brackets are kept, objects read as arrays; what lies between a quote and the
    next is a string's text and is dropped; each further pass removes the innermost empty containers,
    so a body is `limit` levels deep at most when `limit` passes leave nothing. No recursion: a
    hostile body cannot exhaust the stack (the parsers themselves refuse nesting deeper than about
    1,000 levels)."""
    text = raw
    if b"\x00" in text:
        text = text.decode(json.detect_encoding(text), "surrogatepass").encode("utf-8", "surrogatepass")
    if b"\\" in text:
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Most strings hold no bracket and read as two adjacent quotes; dropping adjacent quotes first
    # leaves the quotes alternating, opening first, and around bracket text only: a closing quote
    # next to an opening one has no structure between them. The rest is split on the few quotes left.
    text = text.translate(_AS_ARRAYS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in text:
        text = b"".join(text.split(b'"')[::2])
    # Each pass removes one level. A run of opening brackets as long as the levels still allowed
    # settles it at once: a chain nested far past the limit must not cost `limit` passes.
    for left in range(limit, 0, -1):
        if not text:
            return False
        if b"[" * (left + 1) in text:
            return True
        text = text.replace(b"[]", b"")
    return bool(text)
