"""The features object: what the FHIR record says about the relapse, with where each fact came from.

It holds no FHIR models and no mappings: the rules read it without knowing FHIR exists. Every value
carries the FHIR references it was read from, so a card can show its basis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .dates import FhirDate

#: Relapse sites the mappings recognise.
MARROW, CNS, TESTIS = "marrow", "cns", "testis"
B_PRECURSOR, T_CELL = "b-precursor", "t-cell"


@dataclass(frozen=True)
class Message:
    """A sentence for the cards, named by key into `messages` of cards/cards.yaml, with the values it
    quotes. The reader and the rules say what they found; the reviewed wording lives with the cards."""

    key: str
    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, key: str, **values: object) -> "Message":
        return cls(key, tuple((name, str(value)) for name, value in values.items()))


@dataclass(frozen=True)
class Dated:
    """A dated record (a Condition, Procedure...) reduced to its date and FHIR reference."""

    date: FhirDate | None
    source: str


@dataclass(frozen=True)
class RelapseEpisode:
    """All relapse Conditions sharing one onset date: one relapse (the contract counts by date)."""

    date: FhirDate
    sites: frozenset[str]
    #: Conditions of the episode with no bodySite, and bodySite codes the mappings do not know.
    unstated_site_sources: tuple[str, ...]
    unrecognised_sites: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Measurement:
    """A numeric result converted to the unit the rules use (fraction for MRD, /uL for blasts)."""

    value: float | None  # None: the result could not be read (unknown unit, implausible value)
    comparator: str | None
    date: FhirDate
    source: str
    original: str  # the value as the EHR sent it, e.g. "0.5 %"
    #: For MRD: True when from bone marrow, False when from blood or an unstated site, None when it names
    #: a specimen that could not be read (so the site is unknown).
    from_marrow: bool | None = True


@dataclass(frozen=True)
class Features:
    """Everything the rules may use about one patient. Empty/None means not found in the record."""

    as_of: date
    #: Prefetch domains ("patient", "conditions", "observations", "procedures") whose data could not be had.
    unavailable: frozenset[str] = frozenset()
    birth_date: FhirDate | None = None
    sex: str | None = None
    patient_source: str | None = None
    all_diagnoses: tuple[Dated, ...] = ()  # ALL Conditions dating the diagnosis (not relapse/remission)
    lineage_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # lineage -> sources
    lineage_not_stated_sources: tuple[str, ...] = ()
    subtype_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # etv6-runx1/bcr-abl1/kmt2a
    #: Every dated relapse record, records of one onset day merged, sorted by date. Neighbours are two
    #: relapses only where `remission_between` says a remission is recorded between them; otherwise
    #: they may be one relapse recorded twice (see service/rules/readings.py).
    relapses: tuple[RelapseEpisode, ...] = ()
    #: For each pair of neighbouring `relapses`: is a remission certainly recorded between them?
    remission_between: tuple[bool, ...] = ()
    #: Relapse records too many to read every way they could be grouped: they cannot be placed in time.
    ambiguous_relapses: tuple[RelapseEpisode, ...] = ()
    undated_relapse_sources: tuple[str, ...] = ()  # relapse Conditions without onset
    #: Conditions that may record a relapse but are not valid FHIR R4 (skipped, and named in problems).
    unreadable_relapse_sources: tuple[str, ...] = ()
    #: Resources the rules read that were sent twice under one id with different content.
    id_clashes: tuple[str, ...] = ()
    remissions: tuple[Dated, ...] = ()
    failed_remission_candidates: tuple[Dated, ...] = ()  # C91.00-type Conditions (no-cr2 evidence if dated after the relapse)
    hsct_procedures: tuple[Dated, ...] = ()
    mrd_results: tuple[Measurement, ...] = ()
    blast_counts: tuple[Measurement, ...] = ()
    gene_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # tp53/ikzf1/etv6-runx1 -> sources
    down_syndrome_sources: tuple[str, ...] = ()
    #: Records read but not usable (invalid FHIR, unknown unit, implausible value...), for the card.
    problems: tuple[str, ...] = ()
    #: How the record was read where it needed saying (a date from recordedDate, relapses that may be one).
    notes: tuple[Message, ...] = ()
    #: Relevant records that could not change the answer, so were neither validated nor read
    #: (service/fhir/select.py says which): counted for the informatician, not on the timeline.
    records_not_read: int = 0

    @property
    def diagnosis(self) -> Dated | None:
        """The Condition dating the diagnosis: the earliest dated ALL diagnosis."""
        dated = [d for d in self.all_diagnoses if d.date is not None]
        return min(dated, key=lambda d: (d.date.earliest, d.source)) if dated else None

    @property
    def unplaced_relapse_sources(self) -> tuple[str, ...]:
        """Relapse records that cannot be placed in time (undated, unreadable, or too many to group): while
        there are any, the relapse count and which relapse is the latest are unknown."""
        ambiguous = tuple(src for episode in self.ambiguous_relapses for src in episode.sources)
        return self.undated_relapse_sources + ambiguous + self.unreadable_relapse_sources

    @property
    def relapses_settled(self) -> bool:
        """True when every pair of neighbouring relapse records is certainly two relapses."""
        return all(self.remission_between)

    @property
    def assessed_relapse(self) -> RelapseEpisode | None:
        """The most recent dated relapse: the one assessed. Read it on a settled reading (see
        service/rules/readings.py): on an unsettled record it is only the latest record."""
        return self.relapses[-1] if self.relapses else None
