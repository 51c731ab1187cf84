"""Pick, from raw prefetch JSON, the resources the rules can use, before any model validation.

Validating a resource costs ~0.1 ms; a chart may hold thousands of routine labs. A set lookup on the
raw codes keeps only the Conditions, Observations and Procedures whose codes the mappings know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..knowledge.mappings import CodeMap

CONDITION_CONCEPTS = (
    "all-diagnosis", "all-in-remission", "all-in-relapse", "lineage-b-precursor", "lineage-t-cell",
    "lineage-not-stated", "subtype-etv6-runx1", "subtype-bcr-abl1", "subtype-kmt2a", "down-syndrome",
)
OBSERVATION_CONCEPTS = ("mrd", "peripheral-blasts", "genetic-variant-assessment")
PROCEDURE_CONCEPTS = ("hsct",)
RESOURCE_CONCEPTS = {"Condition": CONDITION_CONCEPTS, "Observation": OBSERVATION_CONCEPTS, "Procedure": PROCEDURE_CONCEPTS}


@dataclass(frozen=True)
class Selector:
    """Codes that make a resource relevant, per resource type, as a set of (system, code)."""

    codes: Mapping[str, frozenset[tuple[str, str]]]

    @classmethod
    def from_codemap(cls, codemap: CodeMap) -> "Selector":
        return cls({
            rtype: frozenset((e.system, e.code) for concept in concepts for e in codemap.codes(concept))
            for rtype, concepts in RESOURCE_CONCEPTS.items()
        })

    def relevant(self, resource: Mapping) -> bool:
        rtype = resource.get("resourceType")
        if rtype in ("Patient", "Specimen"):
            return True
        wanted = self.codes.get(rtype)
        if wanted is None:
            return False
        return any((c.get("system"), c.get("code")) in wanted for c in _raw_codings(resource.get("code")))


def _raw_codings(concept: object) -> Iterable[Mapping]:
    if isinstance(concept, Mapping):
        codings = concept.get("coding")
        if isinstance(codings, list):
            return [c for c in codings if isinstance(c, Mapping)]
    return ()


def subject_id(resource: Mapping) -> str | None:
    """The Patient id a resource points at through subject/patient, when it says one."""
    ref = resource.get("subject") or resource.get("patient")
    if not isinstance(ref, Mapping):
        return None
    text = ref.get("reference")
    if not isinstance(text, str) or "Patient/" not in text:
        return None
    return text.rsplit("Patient/", 1)[1].split("/", 1)[0] or None
