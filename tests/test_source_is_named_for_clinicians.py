"""Clinicians read "the NCI PDQ summary": the word "seed" (the repository's name for the source file)
never appears in what the product shows or documents: card texts, rendered cards, the README, logs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from conftest import FIXTURES, SERVICE_URL, load_fixture
from test_fixture_patients import as_request

ROOT = Path(__file__).resolve().parent.parent
SEED = re.compile(r"\bseed", re.IGNORECASE)
DOCUMENTED = [ROOT / "README.md", *sorted((ROOT / "cards").glob("*.yaml")), *sorted((ROOT / "mappings").glob("*"))]


@pytest.mark.parametrize("path", DOCUMENTED, ids=lambda p: p.name)
def test_no_documented_line_says_seed(path):
    lines = [f"{n}: {line}" for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if SEED.search(line)]
    assert lines == []


def test_no_card_or_log_line_says_seed(client, caplog):
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    for path in sorted(FIXTURES.glob("*.json")):
        body = client.post(SERVICE_URL, json=as_request(load_fixture(path)["bundle"])).get_json()
        shown.append(str(body))
    assert shown and not any(SEED.search(text) for text in shown)
    assert caplog.records and not [r.getMessage() for r in caplog.records if SEED.search(r.getMessage())]
