"""The dated records of the relapse, in the order they happened, each with the part it played.

Pure, like the rules: Features and RuleInputs in, events out. The testing page draws them as a
timeline, the cards format facts from them (an MRD fraction, a blast count per microlitre), and the
assessment extension lists them so that an informatician sees which MRD result counted as
end-of-reinduction and which was the relapse work-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..features.dates import FhirDate
from ..features.model import Features, Measurement
from .inputs import RuleInputs, in_workup

# Event kinds (stable names: the page and the extension use them).
DIAGNOSIS, ALL_RECORD, NO_REMISSION = "diagnosis", "all-record", "no-remission"
RELAPSE, RELAPSE_UNPLACED, REMISSION, HSCT, MRD, BLASTS = "relapse", "relapse-unplaced", "remission", "hsct", "mrd", "blasts"
# Roles of an MRD result.
END_REINDUCTION, WORKUP, BEFORE_RELAPSE, LATER, NOT_MARROW, SITE_UNKNOWN, UNREADABLE = (
    "end-of-reinduction", "relapse-work-up", "before-relapse", "later", "not-marrow", "site-unknown", "unreadable",
)


@dataclass(frozen=True)
class Event:
    kind: str
    date: FhirDate
    sources: tuple[str, ...]
    sites: tuple[str, ...] = ()
    #: For MRD (a fraction) and blasts (per microlitre): the value in the rules' unit, when readable.
    amount: float | None = None
    comparator: str | None = None
    original: str | None = None
    role: str | None = None


def events(features: Features, inputs: RuleInputs) -> tuple[Event, ...]:
    """Every dated record the rules read, oldest first (undated ones cannot be placed on a timeline)."""
    found: list[Event] = []
    diagnosis = features.diagnosis
    failed = {d.source for d in features.failed_remission_candidates}
    for record in features.all_diagnoses:
        if record.date is None:
            continue
        kind = DIAGNOSIS if record is diagnosis else NO_REMISSION if record.source in failed else ALL_RECORD
        found.append(Event(kind, record.date, (record.source,)))
    for episode in features.relapses:
        found.append(Event(RELAPSE, episode.date, episode.sources, _sites(episode)))
    for episode in features.ambiguous_relapses:
        found.append(Event(RELAPSE_UNPLACED, episode.date, episode.sources, _sites(episode)))
    found += [Event(REMISSION, r.date, (r.source,)) for r in features.remissions if r.date is not None]
    found += [Event(HSCT, p.date, (p.source,)) for p in features.hsct_procedures if p.date is not None]
    found += [_measurement(MRD, m, _mrd_role(m, features, inputs)) for m in features.mrd_results]
    found += [_measurement(BLASTS, b, None if b.value is not None else UNREADABLE) for b in features.blast_counts]
    return tuple(sorted(found, key=lambda e: (e.date.earliest, e.kind, e.sources)))


def _sites(episode) -> tuple[str, ...]:
    sites = sorted(episode.sites) + [f"unrecognised site {code}" for code in episode.unrecognised_sites]
    return tuple(sites + (["site not stated"] if episode.unstated_site_sources else []))


def _measurement(kind: str, m: Measurement, role: str | None) -> Event:
    return Event(kind, m.date, (m.source,), amount=m.value, comparator=m.comparator, original=m.original, role=role)


def _mrd_role(m: Measurement, features: Features, inputs: RuleInputs) -> str:
    """What the result counted as: the rules' end-of-reinduction MRD, or why another result was not."""
    if inputs.end_reinduction_mrd is not None and m.source == inputs.end_reinduction_mrd.source:
        return END_REINDUCTION
    if m.from_marrow is False:
        return NOT_MARROW
    if m.from_marrow is None:
        return SITE_UNKNOWN
    if m.value is None:
        return UNREADABLE
    if any(in_workup(m, episode.date) for episode in features.relapses):
        return WORKUP
    episode = features.assessed_relapse
    if episode is not None and m.date.earliest < episode.date.earliest:
        return BEFORE_RELAPSE
    return LATER
