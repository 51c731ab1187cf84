"""Selection, the first pass over the raw prefetch JSON, before any model validation (parse.py is next).

For each raw resource, in one pass: is it relevant (a code the mappings know), is it this patient's,
is its id sent twice with different content, and can it change the answer? Validating a resource
with fhir.resources costs about 0.15 ms, and a real chart holds hundreds of records the prefetch's
code filter lets through (a blast count from every differential over years): only those that can
change the assessment are handed on to be validated (`lazy`, the default).

Cannot change any answer (not validated, not read, not on the timeline; counted in the answer as
`recordsNotRead`; if invalid, simply not named):
- a peripheral blast count dated more than the blast window (14 days, + 2 days slack) from every day
  ANY relapse record may have (partial dates give ranges): the rules read blasts only at a relapse.
  When a relapse record's onset cannot be read from the raw JSON (undated, unparseable), or a count's
  date cannot, the count is validated;
- a Condition that records a remission and nothing else, dated before every day a relapse record may
  have: a remission decides only after a relapse (a second remission, or one between two relapses);
- an MRD result dated before the work-up window (7 days, + 2 days slack) of every day a relapse record
  may have: the contract ignores results dated earlier (rules/inputs.py `mrd_considered`); so is every
  MRD result when no relapse is recorded;
- a genomic Variant whose raw value is certainly not "Present" (an absent result raises no flag);
- a Specimen no MRD result names (a Specimen is read only through the result that names it).
Everything else relevant is validated: the Patient, Procedures, every other Condition, MRD results.
`lazy=False` validates every relevant record: the reference the property tests hold the lazy path to,
and what a client gets that asks for the whole timeline (request extension `org.relapse-cds.timeline`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ..features.dates import parse_fhir_date
from ..knowledge.mappings import CodeMap
from ..rules.flags import BLASTS_WINDOW_DAYS
from ..rules.inputs import WORKUP_DAYS_BEFORE
from .parse import is_json_object, label

CONDITION_CONCEPTS = (
    "all-diagnosis", "all-in-remission", "all-in-relapse", "all-failed-remission", "lineage-b-precursor", "lineage-t-cell",
    "lineage-not-stated", "subtype-etv6-runx1", "subtype-bcr-abl1", "subtype-kmt2a", "down-syndrome",
)
OBSERVATION_CONCEPTS = ("mrd", "peripheral-blasts", "genetic-variant-assessment")
PROCEDURE_CONCEPTS = ("hsct",)
RESOURCE_CONCEPTS = {"Condition": CONDITION_CONCEPTS, "Observation": OBSERVATION_CONCEPTS, "Procedure": PROCEDURE_CONCEPTS}
#: Days added on each side of a window: a raw date and the validated model's date could differ in how
#: a dateTime is cut to a day; validating a few records more costs nothing, one too few could.
SLACK_DAYS = 2

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
    #: Codes that make a Condition a remission and nothing else; the URLs of morphology extensions.
    remission_only_codes: frozenset[Code] = frozenset()
    morphology_urls: frozenset[str] = frozenset()

    @classmethod
    def from_codemap(cls, codemap: CodeMap) -> "Selector":
        def codes(*concepts: str) -> frozenset[Code]:
            return frozenset((e.system, e.code) for concept in concepts for e in codemap.codes(concept))

        return cls(
            {rtype: codes(*concepts) for rtype, concepts in RESOURCE_CONCEPTS.items()},
            relapse_codes=codes("all-in-relapse"), all_codes=codes("all-diagnosis"), relapse_statuses=codes("status-relapse"),
            variant_codes=codes("genetic-variant-assessment"), mrd_codes=codes("mrd"), present_codes=codes("variant-present"),
            remission_only_codes=codes("all-in-remission") - codes(*(c for c in CONDITION_CONCEPTS if c != "all-in-remission")),
            morphology_urls=codemap.extension_urls.get("histology-morphology-behavior", frozenset()),
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
        a Condition 'relapse' (it may record one) or 'remission' (it records a remission and nothing else)."""
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
        if rtype == "Condition":
            if self.may_be_relapse(resource):
                return "relapse"
            if codes & wanted <= self.remission_only_codes and self._no_morphology(resource) and _plain_codings(resource.get("code")):
                return "remission"
        return rtype

    def _no_morphology(self, condition: Mapping) -> bool:
        """No morphology extension (lineage and subtype are read from it at any date)."""
        extensions = condition.get("extension")
        if extensions is None:
            return True
        return isinstance(extensions, list) and all(
            isinstance(e, Mapping) and isinstance(e.get("url"), str) and e["url"] not in self.morphology_urls for e in extensions
        )

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
    kept: list[tuple[Mapping, str]] = []  # (resource, kind) of this patient's relevant resources
    relapse_spans: list[tuple[date, date] | None] = []
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
        if isinstance(rid, str) and (rtype, rid) in clashing_ids:
            clashes[label(resource)] = None
        if kind == "relapse":
            relapse_spans.append(_raw_span(resource.get("onsetDateTime"), resource.get("onsetPeriod")))
        kept.append((resource, kind))

    # An unreadable relapse date could be any day: then no window can be drawn, every count may decide.
    windows = _Windows(relapse_spans, BLASTS_WINDOW_DAYS + SLACK_DAYS) if lazy and None not in relapse_spans else None
    picks: list[Pick] = []
    specimens: list[Mapping] = []
    named: set[str] | None = set()  # ids MRD results name (None: one names a Specimen in a way not read here)
    for resource, kind in kept:
        if kind == "Specimen":
            specimens.append(resource)
            continue
        if lazy and not _decides(resource, kind, selector, windows):
            continue
        if kind == "mrd" and named is not None:
            named = _add_specimen_names(named, resource.get("specimen"))
        picks.append(Pick(resource, kind == "relapse"))
    picks += [Pick(s) for s in specimens if not lazy or named is None or s.get("id") in named]
    return Selection(tuple(picks), tuple(problems), tuple(clashes), len(kept) - len(picks))


class _Windows:
    """The days around every date a relapse record may have, merged and sorted for bisection."""

    def __init__(self, spans: Sequence[tuple[date, date]], days: int):
        #: A remission decides only after a relapse: the earliest day any relapse record may have.
        self.first_relapse = _shift(min(spans)[0], -SLACK_DAYS) if spans else None
        merged: list[list[date]] = []
        for earliest, latest in sorted(spans):
            start, end = _shift(earliest, -days), _shift(latest, days)
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [start for start, _ in merged]
        self.ends = [end for _, end in merged]

    def __contains__(self, day: date) -> bool:
        i = bisect.bisect_right(self.starts, day) - 1
        return i >= 0 and day <= self.ends[i]


def _decides(resource: Mapping, kind: str, selector: Selector, windows: _Windows | None) -> bool:
    """Can this record change the answer? `windows` None: a relapse date is unreadable (every blast
    count and remission may decide)."""
    if kind == "variant":
        return not selector.certainly_not_present(resource)
    if kind == "blasts":
        span = _raw_span(resource.get("effectiveDateTime"), resource.get("effectivePeriod"))
        return windows is None or span is None or span[0] in windows  # the rules place a count by its earliest day
    if kind not in ("remission", "mrd"):
        return True
    if windows is None:
        return True  # a relapse date that cannot be read: any day may follow it
    if windows.first_relapse is None:
        return False  # no relapse record at all: a remission or an MRD result decides nothing
    if kind == "remission":
        span = _raw_span(resource.get("onsetDateTime"), resource.get("onsetPeriod"))
        return span is None or span[1] >= windows.first_relapse
    span = _raw_span(resource.get("effectiveDateTime"), resource.get("effectivePeriod"))
    return span is None or span[1] >= _shift(windows.first_relapse, -WORKUP_DAYS_BEFORE)


def _raw_span(when: object, period: object) -> tuple[date, date] | None:
    """(earliest, latest) day of a raw dateTime, else of a raw Period's start; None when unreadable."""
    if when is None and is_json_object(period):
        when = period.get("start")
    if not isinstance(when, str):
        return None
    if len(when) >= 10 and when[4] == "-" and when[7] == "-" and (len(when) == 10 or when[10] == "T"):
        # A full day, as most records carry it: read in C (a third of the pass over a large chart).
        # A day that does not exist is unreadable here too, and the record is validated.
        try:
            day = date.fromisoformat(when[:10])
        except ValueError:
            return None
        return day, day
    parsed = parse_fhir_date(when)
    return (parsed.earliest, parsed.latest) if parsed else None


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


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


def _plain_codings(concept: object) -> bool:
    """Is a raw CodeableConcept's coding a list of objects whose system and code are strings (or absent)?"""
    codings = concept.get("coding") if is_json_object(concept) else None
    return isinstance(codings, list) and all(
        is_json_object(c) and all(c.get(k) is None or isinstance(c.get(k), str) for k in ("system", "code")) for c in codings
    )


def _string_codes(concept: object) -> set[Code]:
    """(system, code) pairs of a raw CodeableConcept, skipping members that are not strings."""
    codings = concept.get("coding") if is_json_object(concept) else None
    if type(codings) is not list:
        return set()
    found = set()
    for c in codings:
        if is_json_object(c):
            system, code = c.get("system"), c.get("code")
            if isinstance(system, str) and isinstance(code, str):
                found.add((system, code))
    return found


def subject_id(resource: Mapping) -> str | None:
    """The Patient id a resource points at through subject/patient, when it says one."""
    ref = resource.get("subject") or resource.get("patient")
    if not is_json_object(ref):
        return None
    text = ref.get("reference")
    if not isinstance(text, str) or "Patient/" not in text:
        return None
    return text.rsplit("Patient/", 1)[1].split("/", 1)[0] or None
