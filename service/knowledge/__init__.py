"""The knowledge the service runs on, loaded and validated once at start-up."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ..rules.assess import all_rule_ids
from ..rules.flags import FLAG_NAMES
from .cards import CardTexts, load_cards
from .errors import KnowledgeError
from .layout import load_layout
from .locate import knowledge_dir
from .mappings import CodeMap, load_mappings
from .treatment import TreatmentTexts, load_treatment

__all__ = ["Knowledge", "KnowledgeError", "load_knowledge"]

#: Missing-fact names the rules can report (contract vocabulary, plus priorHsct/peripheralBlasts).
MISSING_NAMES = ("diagnosisDate", "relapseDate", "relapseEpisode", "readableRelapseRecord", "relapseSite", "immunophenotype", "endReinductionMrd", "hsctDate", "priorHsct", "birthDate", "peripheralBlasts", "relapseMarrowMrd", "failedReinductionDate")


@dataclass(frozen=True)
class Knowledge:
    codemap: CodeMap
    cards: CardTexts
    version: str  # sha256 over the knowledge files: says which reviewed texts and codes produced a card
    #: Treatment options, transplant work-up and HSCT order check (cards/options.yaml, cards/transplant.yaml).
    treatment: TreatmentTexts | None = None


def _version(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths, key=str):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_knowledge(extra_mapping_files: Iterable[Path] = ()) -> Knowledge:
    extra = [Path(p) for p in extra_mapping_files]
    codemap = load_mappings(extra)
    cards = load_cards(all_rule_ids(), FLAG_NAMES, MISSING_NAMES)
    rule_refs = {rule: [ref["ref"] for ref in body["refs"]] for rule, body in cards.rules.items()}
    cards = replace(cards, layout=load_layout(knowledge_dir("cards") / "layout.yaml", rule_refs, set(cards.references)))
    files = [*Path(knowledge_dir("cards")).glob("*.yaml"), *(Path(f) for f in codemap.files)]
    treatment = load_treatment(cards.references)
    return Knowledge(codemap, cards, _version(files), treatment)
