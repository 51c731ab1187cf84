"""A site's mapping file adds codes to a concept the shipped files define and describe: it lists the
codes only (each with display and source). A concept described nowhere is still an error."""

from __future__ import annotations

import shutil

import pytest

from service.knowledge import KnowledgeError
from service.knowledge import mappings
from service.knowledge.locate import knowledge_dir

SITE = """concepts:
  mrd:
    codes:
      - {system: "http://example.org/lab-codes", code: "MRD-FLOW", display: "B-ALL MRD by flow", source: "local lab catalogue 2026"}
"""


def test_a_site_file_needs_no_description(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    codemap = mappings.load_mappings([site])
    assert "mrd" in codemap.concepts_of("http://example.org/lab-codes", "MRD-FLOW")


def test_a_concept_described_in_no_file_is_an_error(tmp_path, monkeypatch):
    shipped = tmp_path / "mappings"
    shutil.copytree(knowledge_dir("mappings"), shipped)
    observations = shipped / "observations.yaml"
    text = observations.read_text()
    start = text.index("  peripheral-blasts:\n    description:")
    end = text.index("\n", start + len("  peripheral-blasts:\n"))
    observations.write_text(text[:start] + "  peripheral-blasts:" + text[end:])
    monkeypatch.setattr(mappings, "default_mapping_files", lambda: sorted(shipped.glob("*.yaml")))
    with pytest.raises(KnowledgeError) as raised:
        mappings.load_mappings()
    assert raised.value.problems == ["concept 'peripheral-blasts' has no description in any mappings file"]
