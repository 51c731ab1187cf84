"""Every figure on a treatment card must be the PDQ summary's own.

Two checks on each card text: every number in it occurs as a number in the summary, and every number
with a unit (%, Gy, g/m2) occurs with that unit. The only exceptions are the summary's two misprints
corrected on the transplant work-up card (reviewed in cards/transplant.yaml's notes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Misprint corrections (figure on the card -> what the summary prints). Nothing else is exempt.
CORRECTIONS: dict[str, str] = {
    "13.2": "1.32 Gy (cyclophosphamide with TBI 'between 1.32 and 1.4 Gy'; the total dose is 12-14 Gy)",
    "12 Gy": "1.2 Gy (cyclophosphamide and etoposide with TBI 'doses above 1.2 Gy')",
}
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?")
_WITH_UNIT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s?(%|Gy|g/m2)")


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def _figures(text: str) -> tuple[set[str], set[str]]:
    return set(_NUMBER.findall(text)), {f"{n} {u}" if u != "%" else f"{n}%" for n, u in _WITH_UNIT.findall(text)}


def figures_not_in_summary(summary: str, texts: Iterable[tuple[str, str]]) -> list[str]:
    """Problems, one per figure of (place, text) pairs that the summary does not contain."""
    numbers, with_units = _figures(normalise(summary))
    problems = []
    for place, text in texts:
        found_numbers, found_units = _figures(text)
        for figure in sorted(found_units - with_units - CORRECTIONS.keys()):
            problems.append(f"{place}: {figure!r} is not in the PDQ summary")
        for number in sorted(found_numbers - numbers - CORRECTIONS.keys()):
            problems.append(f"{place}: the number {number!r} is not in the PDQ summary")
    return problems


#: Members that are identifiers, not text a clinician reads (reference numbers are the summary's own).
_NOT_TEXT = frozenset({"url", "system", "code", "ref", "level"})


def card_texts(node: object, place: str) -> Iterable[tuple[str, str]]:
    """Every string a card may show from a loaded knowledge file, with where it sits."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in _NOT_TEXT:
                yield from card_texts(value, f"{place}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from card_texts(value, f"{place}.{i}")
    elif isinstance(node, str):
        yield place, node
