"""Pick, from raw prefetch JSON, the resources the rules can use, before any model validation.

Validating a resource costs ~0.1 ms; a chart may hold thousands of routine labs. A set lookup on the
raw codes keeps only the Conditions, Observations and Procedures whose codes the mappings know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..knowledge.mappings import CodeMap

CONDITION_CONCEPTS = (
    "all-diagnosis", "all-in-remission", "all-in-relapse", "all-failed-remission", "lineage-b-precursor", "lineage-t-cell",
    "lineage-not-stated", "subtype-etv6-runx1", "subtype-bcr-abl1", "subtype-kmt2a", "down-syndrome",
)
OBSERVATION_CONCEPTS = ("mrd", "peripheral-blasts", "genetic-variant-assessment")
PROCEDURE_CONCEPTS = ("hsct",)
RESOURCE_CONCEPTS = {"Condition": CONDITION_CONCEPTS, "Observation": OBSERVATION_CONCEPTS, "Procedure": PROCEDURE_CONCEPTS}


@dataclass(frozen=True)
class Selector:
    """Codes that make a resource relevant, per resource type, as a set of (system, code)."""

    codes: Mapping[str, frozenset[tuple[str, str]]]
    #: Codes that make a Condition a relapse (C91.02), or an ALL Condition that is one when its
    #: clinicalStatus is relapse/recurrence: used to judge a Condition that fails validation.
    relapse_codes: frozenset[tuple[str, str]] = frozenset()
    all_codes: frozenset[tuple[str, str]] = frozenset()
    relapse_statuses: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def from_codemap(cls, codemap: CodeMap) -> "Selector":
        def codes(*concepts: str) -> frozenset[tuple[str, str]]:
            return frozenset((e.system, e.code) for concept in concepts for e in codemap.codes(concept))

        return cls(
            {rtype: codes(*concepts) for rtype, concepts in RESOURCE_CONCEPTS.items()},
            relapse_codes=codes("all-in-relapse"), all_codes=codes("all-diagnosis"), relapse_statuses=codes("status-relapse"),
        )

    def may_be_relapse(self, condition: Mapping) -> bool:
        """Could this (raw, possibly invalid) Condition record a relapse? When it cannot be read, that
        decides whether its loss leaves the relapse count unknown. Unsure counts as yes."""
        codes = _string_codes(condition.get("code"))
        if codes & self.relapse_codes:
            return True
        if not codes & self.all_codes:
            return False
        status = condition.get("clinicalStatus")
        if status is None:
            return False
        statuses = _string_codes(status)
        return not statuses or bool(statuses & self.relapse_statuses)

    def relevant(self, resource: Mapping) -> bool:
        rtype = resource.get("resourceType")
        if rtype in ("Patient", "Specimen"):
            return True
        wanted = self.codes.get(rtype)
        if wanted is None:
            return False
        return bool(_string_codes(resource.get("code")) & wanted)


def _raw_codings(concept: object) -> Iterable[Mapping]:
    if isinstance(concept, Mapping):
        codings = concept.get("coding")
        if isinstance(codings, list):
            return [c for c in codings if isinstance(c, Mapping)]
    return ()


def _string_codes(concept: object) -> set[tuple[str, str]]:
    """(system, code) pairs of a raw CodeableConcept, skipping members that are not strings."""
    return {
        (c["system"], c["code"]) for c in _raw_codings(concept)
        if isinstance(c.get("system"), str) and isinstance(c.get("code"), str)
    }


def subject_id(resource: Mapping) -> str | None:
    """The Patient id a resource points at through subject/patient, when it says one."""
    ref = resource.get("subject") or resource.get("patient")
    if not isinstance(ref, Mapping):
        return None
    text = ref.get("reference")
    if not isinstance(text, str) or "Patient/" not in text:
        return None
    return text.rsplit("Patient/", 1)[1].split("/", 1)[0] or None
