"""The treatment knowledge files: validated at start-up, references and figures the PDQ summary's own.

The figure check is the one `relapse-cds check --pdq-summary` runs; here it also runs on texts made
wrong on purpose, so that it is known to fail when it should."""

from __future__ import annotations

import shutil

import pytest
import yaml

from service.cli import main
from service.knowledge import KnowledgeError
from service.knowledge.figures import CORRECTIONS, card_texts, figures_not_in_summary
from service.knowledge.locate import knowledge_dir
from service.knowledge.treatment import load_treatment
from test_knowledge_against_seed import SEED, _normalise, pytestmark as needs_summary, seed_references  # noqa: F401 - a fixture

SUMMARY_SNIPPET = "survival 40% to 50% ... (total dose, 12–14 Gy) ... 1 g/m2 ... between 1.32 and 1.4 Gy ... above 1.2 Gy"


@needs_summary
def test_treatment_references_are_the_summarys(seed_references):
    references = yaml.safe_load((knowledge_dir("cards") / "references-treatment.yaml").read_text(encoding="utf-8"))["references"]
    assert len(references) >= 40
    for number, body in references.items():
        assert _normalise(body["citation"]) == seed_references[number], number
        assert _normalise(body["title"]) in seed_references[number]


@needs_summary
def test_every_figure_on_a_treatment_card_is_in_the_summary(knowledge):
    summary = SEED.read_text(encoding="utf-8")
    t = knowledge.treatment
    texts = [*card_texts(t.options, "options"), *card_texts(t.work_up, "work_up"), *card_texts(t.order_check, "order_check")]
    assert len(texts) > 100
    assert figures_not_in_summary(summary, texts) == []


@needs_summary
def test_the_check_command_with_the_summary(capsys):
    assert main(["check", "--pdq-summary", str(SEED)]) == 0
    assert "every figure is in the PDQ summary" in capsys.readouterr().out


def test_only_the_two_documented_misprints_are_exempt():
    assert set(CORRECTIONS) == {"13.2", "12 Gy"}
    ok = [("a", "survival 40% to 50%; TBI 12–14 Gy; 1 g/m2; between 13.2 and 14 Gy; above 12 Gy")]
    assert figures_not_in_summary(SUMMARY_SNIPPET, ok) == []
    wrong = [("b", "survival 45%"), ("c", "TBI 13 Gy"), ("d", "5 g/m2"), ("e", "in 7 of 9 patients"), ("f", "12.5%")]
    problems = figures_not_in_summary(SUMMARY_SNIPPET, wrong)
    assert [p.split(":")[0] for p in problems] == ["b", "b", "c", "c", "d", "d", "e", "e", "f", "f"]


@pytest.mark.parametrize(("file", "edit", "expected"), [
    ("options.yaml", lambda d: d["situations"].pop("after-hsct"), "situations.after-hsct missing"),
    ("options.yaml", lambda d: d["situations"]["t-marrow"]["sections"][0]["items"][0]["refs"].append({"ref": "999"}), "reference 999"),
    ("options.yaml", lambda d: d["situations"]["t-marrow"].__setitem__("summary", "x" * 140), "summary"),
    ("options.yaml", lambda d: d["situations"]["t-marrow"]["sections"][0]["items"][0].__setitem__("when", {"band": ["<12"]}), "band"),
    ("options.yaml", lambda d: d["situations"].__setitem__("unknown-situation", d["situations"]["t-marrow"]), "unknown-situation"),
    ("transplant.yaml", lambda d: d["order_check"]["summaries"].pop("not-recommended"), "not-recommended missing"),
    ("transplant.yaml", lambda d: d["order_check"].__setitem__("override_reasons", []), "override_reasons"),
])
def test_a_bad_treatment_file_stops_start_up(tmp_path, knowledge, file, edit, expected):
    for name in ("options.yaml", "transplant.yaml", "references-treatment.yaml"):
        shutil.copy(knowledge_dir("cards") / name, tmp_path / name)
    data = yaml.safe_load((tmp_path / file).read_text(encoding="utf-8"))
    edit(data)
    (tmp_path / file).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError) as raised:
        load_treatment(knowledge.cards.references, tmp_path)
    assert expected in str(raised.value)
