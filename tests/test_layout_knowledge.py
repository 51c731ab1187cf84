"""cards/layout.yaml is checked at start-up like cards.yaml: a reviewer's edit that drops a placeholder
or cites a reference the rule does not cite stops start-up with a message naming it."""

from __future__ import annotations

import pytest
import yaml

from service.knowledge import KnowledgeError
from service.knowledge.layout import load_layout
from service.knowledge.locate import knowledge_dir

SHIPPED = knowledge_dir("cards") / "layout.yaml"


def load_edited(tmp_path, knowledge, edit):
    layout = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    edit(layout)
    path = tmp_path / "layout.yaml"
    path.write_text(yaml.safe_dump(layout), encoding="utf-8")
    rule_refs = {rule: [r["ref"] for r in body["refs"]] for rule, body in knowledge.cards.rules.items()}
    return load_layout(path, rule_refs, set(knowledge.cards.references))


def test_the_shipped_layout_loads(tmp_path, knowledge):
    assert load_edited(tmp_path, knowledge, lambda layout: None)["basis"]["title"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda l: l["phrases"].update(reference_short="[{number}] {author}"), "phrases.reference_short must use exactly"),
    (lambda l: l["formats"].pop("mrd"), "formats.mrd missing"),
    (lambda l: l["decisive_refs"].update({"hsct.early-b-marrow": ["5"]}), "reference 5 is not among the rule's refs"),
    (lambda l: l["decisive_refs"].update({"hsct.early-b-marrow": ["39", "40", "41", "44"]}), "decisive_refs"),
    (lambda l: l["decisive_refs"].update({"hsct.no-such-rule": ["39"]}), "no such rule"),
    (lambda l: l["values"].update(months=["Jan"]), "12 month names"),
    (lambda l: l["mrd_roles"].pop("relapse-work-up"), "mrd_roles.relapse-work-up missing"),
])
def test_a_broken_layout_stops_start_up_with_a_message(tmp_path, knowledge, edit, message):
    with pytest.raises(KnowledgeError, match="layout") as caught:
        load_edited(tmp_path, knowledge, edit)
    assert message in str(caught.value)
