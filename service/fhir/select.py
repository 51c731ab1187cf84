"""Selection, the first pass over the raw prefetch JSON, before any model validation (parse.py is next).

For each raw resource, in one pass: is it relevant (a code the mappings know), is it this patient's,
is its id sent twice with different content, and can it change the answer? Validating a resource
with fhir.resources costs about 0.15 ms, so what cannot change the answer is not handed on:
- a genomic Variant whose raw value is certainly not "Present" (an absent result raises no flag and
  is listed nowhere in the answer);
- a Specimen no MRD result names (a Specimen is read only through the result that names it).
Everything else relevant is validated: the assessment's timeline lists every dated result, remission
and ALL record, so a blast count far from any relapse is part of the answer too. (Commit 5380725
validated only blast counts within 14 days of a date a relapse record may have, and remissions that
may follow the first relapse record; the timeline of every result, added since, reads them all.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..knowledge.mappings import CodeMap
from .parse import label

CONDITION_CONCEPTS = (
    "all-diagnosis", "all-in-remission", "all-in-relapse", "all-failed-remission", "lineage-b-precursor", "lineage-t-cell",
    "lineage-not-stated", "subtype-etv6-runx1", "subtype-bcr-abl1", "subtype-kmt2a", "down-syndrome",
)
OBSERVATION_CONCEPTS = ("mrd", "peripheral-blasts", "genetic-variant-assessment")
PROCEDURE_CONCEPTS = ("hsct",)
RESOURCE_CONCEPTS = {"Condition": CONDITION_CONCEPTS, "Observation": OBSERVATION_CONCEPTS, "Procedure": PROCEDURE_CONCEPTS}

Code = tuple[str, str]


@dataclass(frozen=True)
class Selector:
    """Codes that make a resource relevant, per resource type, as a set of (system, code)."""

    codes: Mapping[str, frozenset[Code]]
    #: Codes that make a Condition a relapse (C91.02), or an ALL Condition that is one when its
    #: clinicalStatus is relapse/recurrence: used to judge a Condition that fails validation.
    relapse_codes: frozenset[Code] = frozenset()
    all_codes: frozenset[Code] = frozenset()
    relapse_statuses: frozenset[Code] = frozenset()
    #: Observation kinds, read in the order the features reader reads them (a Variant first, then MRD).
    variant_codes: frozenset[Code] = frozenset()
    mrd_codes: frozenset[Code] = frozenset()
    present_codes: frozenset[Code] = frozenset()

    @classmethod
    def from_codemap(cls, codemap: CodeMap) -> "Selector":
        def codes(*concepts: str) -> frozenset[Code]:
            return frozenset((e.system, e.code) for concept in concepts for e in codemap.codes(concept))

        return cls(
            {rtype: codes(*concepts) for rtype, concepts in RESOURCE_CONCEPTS.items()},
            relapse_codes=codes("all-in-relapse"), all_codes=codes("all-diagnosis"), relapse_statuses=codes("status-relapse"),
            variant_codes=codes("genetic-variant-assessment"), mrd_codes=codes("mrd"), present_codes=codes("variant-present"),
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
        return self.kind(resource) is not None

    def kind(self, resource: Mapping) -> str | None:
        """What a raw resource is to the rules, None when irrelevant: its type, or for an Observation
        'variant', 'mrd' or 'blasts' (read in that order, as the features reader reads them), or for
        a Condition 'relapse' when it may record one."""
        rtype = resource.get("resourceType")
        if rtype in ("Patient", "Specimen"):
            return rtype
        wanted = self.codes.get(rtype)
        if wanted is None:
            return None
        codes = _string_codes(resource.get("code"))
        if not codes & wanted:
            return None
        if rtype == "Observation":
            if codes & self.variant_codes:
                return "variant"
            return "mrd" if codes & self.mrd_codes else "blasts"
        if rtype == "Condition" and self.may_be_relapse(resource):
            return "relapse"
        return rtype

    def certainly_not_present(self, variant: Mapping) -> bool:
        """Is the raw value of a Variant certainly not 'Present' (so it can raise no flag)? Any coding
        that is not plainly strings keeps it (validation will say what it is)."""
        value = variant.get("valueCodeableConcept")
        if value is None:
            return True
        codings = value.get("coding") if isinstance(value, Mapping) else ()
        if codings is None:
            return True
        if not isinstance(codings, list):
            return False
        for coding in codings:
            if not isinstance(coding, Mapping):
                return False
            system, code = coding.get("system"), coding.get("code")
            if not (system is None or isinstance(system, str)) or not (code is None or isinstance(code, str)):
                return False
            if (system, code) in self.present_codes:
                return False
        return True


@dataclass(frozen=True)
class Pick:
    """A raw resource handed on to be validated, and whether it may record a relapse."""

    resource: Mapping
    may_be_relapse: bool = False


@dataclass(frozen=True)
class Selection:
    picks: tuple[Pick, ...]
    problems: tuple[str, ...]
    #: Labels of relevant resources sent twice under one id with different content.
    clashes: tuple[str, ...]
    #: Relevant records of this patient that cannot change the answer: not validated, not read.
    skipped: int = 0


def select(
    resources: Sequence[Mapping],
    patient_id: str | None,
    selector: Selector,
    clashing_ids: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
    *,
    lazy: bool = True,
) -> Selection:
    """The resources to validate, in the order sent (Specimens last). `lazy=False` keeps every
    relevant resource of the patient (the validate-everything path the property tests compare against)."""
    problems: list[str] = []
    clashes: dict[str, None] = {}
    picks: list[Pick] = []
    specimens: list[Mapping] = []
    named: set[str] | None = set()  # ids MRD results name (None: one names a Specimen in a way not read here)
    relevant = 0
    for resource in resources:
        kind = selector.kind(resource)
        if kind is None:
            continue
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if rtype == "Patient":
            owner = rid
            if patient_id is not None and owner is None:
                problems.append("Patient without an id ignored: it cannot be told to be this patient")
                continue
        else:
            owner = subject_id(resource)
        if patient_id is not None and owner is not None and owner != patient_id:
            problems.append(f"{label(resource)} ignored: it is about another patient")
            continue
        relevant += 1
        if isinstance(rid, str) and (rtype, rid) in clashing_ids:
            clashes[label(resource)] = None
        if kind == "Specimen":
            specimens.append(resource)
            continue
        if lazy and kind == "variant" and selector.certainly_not_present(resource):
            continue
        if kind == "mrd" and named is not None:
            named = _add_specimen_names(named, resource.get("specimen"))
        picks.append(Pick(resource, kind == "relapse"))
    picks += [Pick(s) for s in specimens if not lazy or named is None or s.get("id") in named]
    return Selection(tuple(picks), tuple(problems), tuple(clashes), relevant - len(picks))


def _add_specimen_names(named: set[str], specimen: object) -> set[str] | None:
    """Every path segment of an MRD result's specimen reference: a superset of the id it names."""
    if specimen is None:
        return named
    reference = specimen.get("reference") if isinstance(specimen, Mapping) else None
    if reference is None and isinstance(specimen, Mapping):
        return named  # no reference (display only, or a logical identifier): it names no Specimen here
    if not isinstance(reference, str):
        return None
    named.update(reference.split("/"))
    return named


def _raw_codings(concept: object) -> Iterable[Mapping]:
    if isinstance(concept, Mapping):
        codings = concept.get("coding")
        if isinstance(codings, list):
            return [c for c in codings if isinstance(c, Mapping)]
    return ()


def _string_codes(concept: object) -> set[Code]:
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
