"""Which of the PDQ summary's treatment situations the assessed relapse is in.

Pure: an Assessment in, a Situation out (no Flask, no FHIR, no I/O). A situation is named only when
it holds for every case the record allows (the same rule as `decide`: a missing fact never picks a
situation); the facts still open are handed on so that the card shows every option they allow, each
labelled with the timing or lineage it is for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..features.dates import FhirDate, parse_fhir_date
from .assess import Assessment
from .possible import Case
from .timing import whole_months

#: The situations, in the order their cards are shown. Each has its text in cards/options.yaml.
SITUATIONS: tuple[str, ...] = (
    "b-first-marrow", "t-marrow", "refractory-or-multiply-relapsed", "later-marrow",
    "isolated-cns", "isolated-testicular", "after-hsct",
)
_MARROW = ("marrow", "combined")
_RELAPSE_FACT = re.compile(r"relapse\d+")


@dataclass(frozen=True)
class HsctTime:
    """Completed months from the last transplant before the relapse to the relapse (a range when a date is partial)."""

    months: str
    hsct_date: str
    relapse_date: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Situation:
    keys: tuple[str, ...]
    #: The values each fact may still take (one value = known): the card shows the items they allow.
    lineage: frozenset[str]
    site: frozenset[str]
    band: frozenset[str]
    after_hsct: frozenset[bool]
    #: "intermediate" when the BFM intermediate-risk group may apply; "early-combined" where COG and BFM differ.
    bfm: frozenset[str]
    hsct_time: HsctTime | None
    #: HSCT recommended or to be considered, on a record that does not contradict itself.
    transplant_on_table: bool
    #: Is a bone-marrow MRD result after the relapse recorded? None when the results could not be had.
    mrd_after_relapse: bool | None


def case_situations(case: Case) -> frozenset[str]:
    """The situations of one fully-known case."""
    found = set()
    if case.after_hsct:
        found.add("after-hsct")
    if case.order == "later":
        found.add("refractory-or-multiply-relapsed")
        if case.site in _MARROW:
            found.add("later-marrow")
    elif case.site in _MARROW:
        found.add("t-marrow" if case.lineage == "t-cell" else "b-first-marrow")
    elif case.site == "cns":
        found.add("isolated-cns")
    elif case.site == "testis":
        found.add("isolated-testicular")
    return frozenset(found)


def bfm_groups(site: frozenset[str], band: frozenset[str]) -> frozenset[str]:
    """BFM intermediate risk: "a late isolated marrow relapse or an early or late combined marrow/
    extramedullary relapse" [24]. An early combined relapse is COG high risk (Table 4): there the two differ."""
    groups = set()
    if "combined" in site or ("marrow" in site and ">36" in band):
        groups.add("intermediate")
    if "combined" in site and band & {"<18", "18-36"}:
        groups.add("early-combined")
    return frozenset(groups)


def situation_of(assessment: Assessment) -> Situation:
    possible = assessment.inputs.possible
    usable = assessment.relapsed and not assessment.contradictions
    keys: set[str] = set()
    if usable:
        per_case = [case_situations(c) for c in possible.cases()]
        keys = set(frozenset.intersection(*per_case)) if per_case else set()
        if any(f.name == "no-cr2" for f in assessment.flags.raised):
            keys.add("refractory-or-multiply-relapsed")
    on_table = usable and assessment.hsct.value in ("recommended", "consider")
    mrd: bool | None = assessment.inputs.end_reinduction_mrd is not None
    if not mrd and "observations" in assessment.unavailable:
        mrd = None
    return Situation(
        keys=tuple(k for k in SITUATIONS if k in keys),
        lineage=frozenset(possible.lineage), site=frozenset(possible.site), band=frozenset(possible.band),
        after_hsct=frozenset(possible.after_hsct),
        bfm=bfm_groups(frozenset(possible.site), frozenset(possible.band)) if "b-first-marrow" in keys else frozenset(),
        hsct_time=hsct_time(assessment) if "after-hsct" in keys else None,
        transplant_on_table=on_table, mrd_after_relapse=mrd,
    )


def hsct_time(assessment: Assessment) -> HsctTime | None:
    """Time from the last transplant before the assessed relapse to that relapse, from the facts the
    assessment used; None when a date is missing."""
    relapses = [f for f in assessment.facts if _RELAPSE_FACT.fullmatch(f.name) and f.date]
    relapse = parse_fhir_date(relapses[-1].date) if relapses else None
    if relapse is None:
        return None
    before: list[tuple[FhirDate, tuple[str, ...]]] = []
    for fact in assessment.facts:
        when = parse_fhir_date(fact.date) if fact.name == "hsct" else None
        if when is not None and when.latest < relapse.earliest:
            before.append((when, fact.sources))
    if not before:
        return None
    when, sources = max(before, key=lambda b: b[0].earliest)
    shortest, longest = whole_months(when.latest, relapse.earliest), whole_months(when.earliest, relapse.latest)
    months = str(shortest) if shortest == longest else f"{shortest} to {longest}"
    return HsctTime(months, when.text, relapse.text, (*sources, *relapses[-1].sources))
