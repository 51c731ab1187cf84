"""Prognostic flags: facts the PDQ summary names as changing the outlook after relapse.

A flag is raised only when the record shows it; a flag that cannot be told (its facts missing) is
listed as not assessed with the facts it lacks, never silently dropped. Where the relapse history can
be read more than one way, a flag stands only if every reading raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..features.dates import days_between, whole_years_between
from ..features.model import Features, Measurement, Message
from .inputs import ReadingInputs, RuleInputs, days_after, mrd_is_high

AGE_10_PLUS = 10  # "Age 10 years and older at diagnosis ... independent predictor of poor outcome" [13]
# "those older than age 15 years did much worse (3-year OS, 15%)" [18]. Reading: ages are in completed
# years, as in the PDQ summary's groups "1 to 9", "10 to 15", "older than 15": a child of 15 years and 6 months
# is in the 10-15 group, so the flag starts at the 16th birthday.
AGE_OVER_15_FROM = 16
HIGH_BLASTS_PER_UL = 10_000  # "high peripheral blast counts (>10,000/uL) ... late marrow relapses" [10]
BLASTS_WINDOW_DAYS = 14  # contract: "dated within 14 days of the relapse"
#: "Patients with an isolated CNS relapse who show greater than 0.01% MRD in a morphologically normal
#: marrow have a worse prognosis (5-year EFS, 30%) than ... less than 0.01% (5-year EFS, 60%)" [107].
#: The marrow is the relapse work-up marrow (contract: 7 days before to 27 days after the relapse).
EM_MARROW_MRD_ABOVE = 1e-4
#: "age older than 6 years at diagnosis was noted to be an adverse prognostic factor for patients with
#: an isolated extramedullary relapse in one study" [106]. Reading (contract): completed years, as for
#: `age-over-15`: "older than 6" starts at the 7th birthday.
EM_AGE_FROM = 7
#: A failed reinduction is recorded by a C91.00 Condition dated at the end of the first month of
#: reinduction or later (contract; the PDQ summary: persistent disease "at the end of the first month
#: of reinduction therapy"). One dated sooner is part of the relapse itself.
NO_CR2_FROM_DAYS = 28
#: Site patterns of an isolated extramedullary relapse (no marrow).
EXTRAMEDULLARY = frozenset({"cns", "testis", "cns-testis", "extramedullary-other"})
MARROW_SITES = frozenset({"marrow", "combined"})

#: Every flag this module can raise (the contract's, plus relapse-after-hsct); cards/ must word each.
FLAG_NAMES: tuple[str, ...] = (
    "t-cell", "tp53-alteration", "ikzf1-deletion", "etv6-runx1", "age-10-plus", "age-over-15",
    "high-peripheral-blasts", "down-syndrome", "high-mrd", "no-cr2", "relapse-after-hsct",
    "em-relapse-marrow-mrd", "em-relapse-age-over-6",
)


@dataclass(frozen=True)
class Flag:
    name: str
    sources: tuple[str, ...]
    #: A value quoted from the record (e.g. "12.0 %"), or a worded message for the card, or nothing.
    detail: str | Message | None = None
    #: Which of the flag's texts applies (cards/: a flag's `variants`), e.g. "marrow" for the MRD figures
    #: measured in marrow relapses; None: its general text.
    variant: str | None = None


@dataclass(frozen=True)
class FlagResult:
    raised: tuple[Flag, ...]
    not_assessed: tuple[tuple[str, tuple[str, ...]], ...]  # (flag, missing facts)
    #: How records were read for the flags where it needs saying (e.g. a C91.00 record after a remission).
    notes: tuple[Message, ...] = ()


def prognostic_flags(features: Features, inputs: RuleInputs) -> FlagResult:
    """Flags of the record: those about the patient, then those about the relapse in each reading."""
    raised: list[Flag] = []
    not_assessed: list[tuple[str, tuple[str, ...]]] = []

    if set(features.lineage_sources) == {"t-cell"}:
        raised.append(Flag("t-cell", features.lineage_sources["t-cell"]))
    if features.gene_sources.get("tp53"):
        raised.append(Flag("tp53-alteration", features.gene_sources["tp53"]))
    ikzf1 = features.gene_sources.get("ikzf1", ()) + features.gene_sources.get("ikzf1-type-not-stated", ())
    if ikzf1:
        unstated = None if features.gene_sources.get("ikzf1") else Message.of("flag_ikzf1_type_not_stated")
        raised.append(Flag("ikzf1-deletion", ikzf1, unstated))
    etv6 = features.gene_sources.get("etv6-runx1", ()) + features.subtype_sources.get("etv6-runx1", ())
    if etv6:
        raised.append(Flag("etv6-runx1", etv6))
    if features.down_syndrome_sources:
        raised.append(Flag("down-syndrome", features.down_syndrome_sources))
    _age_flags(features, raised, not_assessed)

    notes: list[Message] = []
    if features.relapses or features.unplaced_relapse_sources:
        per_reading = [_relapse_flags(reading) for reading in inputs.readings]
        _agree(per_reading, raised, not_assessed)
        notes = list(dict.fromkeys(n for result in per_reading for n in result.notes))
    return FlagResult(tuple(raised), tuple(not_assessed), tuple(notes))


def _agree(per_reading: list[FlagResult], raised: list[Flag], not_assessed: list) -> None:
    """A flag every reading raises is raised (its sources from all of them; the general text where the
    readings' subgroups differ); one only some readings raise is not assessed, for want of knowing
    which records are one relapse."""
    by_name = [{f.name: f for f in result.raised} for result in per_reading]
    for name, flag in by_name[0].items():
        found = [flags[name] for flags in by_name if name in flags]
        if len(found) < len(by_name):
            continue
        sources = tuple(dict.fromkeys(s for f in found for s in f.sources))
        details = {f.detail for f in found}
        variants = {f.variant for f in found}
        raised.append(Flag(name, sources, flag.detail if len(details) == 1 else None, flag.variant if len(variants) == 1 else None))
    names_raised = {f.name for f in raised}
    for flags, result in zip(by_name, per_reading):
        for name in flags:
            if name not in names_raised and all(n != name for n, _ in not_assessed):
                not_assessed.append((name, ("relapseEpisode",)))
        for name, missing in result.not_assessed:
            if name not in names_raised and all(n != name for n, _ in not_assessed):
                not_assessed.append((name, missing))


def _relapse_flags(reading: ReadingInputs) -> FlagResult:
    """Flags about the assessed relapse, on one settled reading."""
    features, possible = reading.features, reading.possible
    raised: list[Flag] = []
    not_assessed: list[tuple[str, tuple[str, ...]]] = []
    notes: list[Message] = []
    mrd = reading.end_reinduction_mrd
    if mrd is not None and mrd_is_high(mrd):
        # The BFM and St. Jude figures were measured in marrow relapses: shown only for one.
        raised.append(Flag("high-mrd", (mrd.source,), mrd.original, "marrow" if possible.site <= MARROW_SITES else None))
    _blasts_flag(features, possible, raised, not_assessed)
    _no_cr2_flag(features, raised, not_assessed, notes)
    _em_marrow_mrd_flag(reading, raised, not_assessed)
    _em_age_flag(features, possible, raised, not_assessed)
    if possible.after_hsct == frozenset({True}):
        raised.append(Flag("relapse-after-hsct", tuple(p.source for p in features.hsct_procedures)))
    return FlagResult(tuple(raised), tuple(not_assessed), tuple(notes))


@dataclass(frozen=True)
class _Age:
    """Age at diagnosis in completed years: the fewest and the most the (possibly partial) dates allow."""

    youngest: int
    oldest: int
    sources: tuple[str, ...]
    imprecise: tuple[str, ...]  # the partial dates that make youngest and oldest differ
    shown: Message


def _age_at_diagnosis(features: Features) -> _Age | tuple[str, ...]:
    """The age at diagnosis, or the facts lacking to tell it (birthDate, diagnosisDate)."""
    diagnosis = features.diagnosis
    lacking = tuple(n for n, v in (("birthDate", features.birth_date), ("diagnosisDate", diagnosis)) if v is None)
    if lacking:
        return lacking
    birth, dx = features.birth_date, diagnosis.date
    youngest = whole_years_between(birth.latest, dx.earliest)
    oldest = whole_years_between(birth.earliest, dx.latest)
    shown = Message.of("flag_age", years=youngest) if youngest == oldest else Message.of("flag_age_range", youngest=youngest, oldest=oldest)
    return _Age(
        youngest, oldest, tuple(s for s in (features.patient_source, diagnosis.source) if s),
        tuple(n for n, d in (("birthDate", birth), ("diagnosisDate", dx)) if d.partial), shown,
    )


def _age_flags(features: Features, raised: list[Flag], not_assessed: list) -> None:
    """Age at diagnosis in completed years. With a partial birth or diagnosis date, a flag is raised
    only when every day the dates allow gives it; otherwise it is listed as not assessed."""
    age = _age_at_diagnosis(features)
    if not isinstance(age, _Age):
        not_assessed.extend((flag, age) for flag in ("age-10-plus", "age-over-15"))
        return
    for flag, threshold in (("age-10-plus", AGE_10_PLUS), ("age-over-15", AGE_OVER_15_FROM)):
        if age.youngest >= threshold:
            raised.append(Flag(flag, age.sources, age.shown))
        elif age.oldest >= threshold:
            not_assessed.append((flag, age.imprecise))


def exceeds(result: Measurement, threshold: float) -> bool | None:
    """Is the result strictly above `threshold`? None when a comparator leaves it open (e.g. "<20000")."""
    v, comparator = result.value, result.comparator
    if v is None:
        return None
    if comparator in (None, ""):
        return v > threshold
    if comparator == ">":
        return True if v >= threshold else None
    if comparator == ">=":
        return True if v > threshold else None
    if comparator in ("<", "<="):
        return False if v <= threshold else None
    return None


def _blasts_flag(features: Features, possible, raised: list[Flag], not_assessed: list) -> None:
    """High peripheral blasts matter at a LATE MARROW relapse (BFM [10]). Reading: "late" is the PDQ
    summary's >36 months from diagnosis (BFM's own "late" is >= 6 months after the end of therapy, which
    the record does not give), and "marrow relapses" includes combined ones (the summary's wording, not
    only [10]'s "isolated"): the flag is raised only when the relapse is certainly both."""
    episode = features.assessed_relapse
    if episode is None or not possible.site & MARROW_SITES or ">36" not in possible.band:
        return  # certainly not a late marrow relapse (or no relapse placed in time)
    near = [m for m in features.blast_counts if days_between(m.date.earliest, episode.date.earliest) <= BLASTS_WINDOW_DAYS]
    usable = [m for m in near if exceeds(m, HIGH_BLASTS_PER_UL) is not None]
    # The count closest to the relapse date describes the relapse; on a tie, the higher count (caution).
    closest = min(usable, key=lambda m: (days_between(m.date.earliest, episode.date.earliest), -m.value), default=None)
    if not (possible.site <= MARROW_SITES and possible.band == frozenset({">36"})):
        # It may be a late marrow relapse: a high count is then listed as not assessed, naming what
        # would tell, rather than silently dropped. (With no high count there is nothing to withhold.)
        if closest is not None and exceeds(closest, HIGH_BLASTS_PER_UL):
            uncertain = [f for f, open_ in (("site", not possible.site <= MARROW_SITES), ("band", possible.band != frozenset({">36"}))) if open_]
            facts = tuple(dict.fromkeys(m for f in uncertain for m in possible.missing_for(f)))
            not_assessed.append(("high-peripheral-blasts", facts))
        return
    if closest is None:
        not_assessed.append(("high-peripheral-blasts", ("peripheralBlasts",)))
    elif exceeds(closest, HIGH_BLASTS_PER_UL):
        raised.append(Flag("high-peripheral-blasts", (closest.source,), closest.original))


def _no_cr2_flag(features: Features, raised: list[Flag], not_assessed: list, notes: list[Message]) -> None:
    """Failed reinduction: positive evidence only (a C91.00-type Condition, not the one dating the
    diagnosis, dated 28 days or more after the assessed relapse), never the mere absence of a remission.
    A partial date that may fall either side of day 28 leaves the flag not assessed.

    Reading (the contract is silent): a C91.00 record dated after a remission recorded after the relapse
    is not a failed reinduction (the remission was reached); it is not read as one, and a note says so."""
    episode, diagnosis = features.assessed_relapse, features.diagnosis
    if episode is None:
        return
    remissions = [r for r in features.remissions if r.date is not None and r.date.earliest > episode.date.latest]
    certain, maybe = [], []
    for c in features.failed_remission_candidates:
        if c.date is None or (diagnosis is not None and c.source == diagnosis.source):
            continue
        reached = next((r for r in remissions if r.date.latest < c.date.earliest), None)
        if reached is not None:
            if days_after(c.date, episode.date)[1] >= NO_CR2_FROM_DAYS:
                notes.append(Message.of("note_failed_after_remission", source=c.source, date=c.date, remission=reached.source))
            continue
        fewest, most = days_after(c.date, episode.date)
        if fewest >= NO_CR2_FROM_DAYS:
            certain.append(c.source)
        elif most >= NO_CR2_FROM_DAYS:
            maybe.append(c.source)
    if certain:
        raised.append(Flag("no-cr2", tuple(certain)))
    elif maybe:
        not_assessed.append(("no-cr2", ("failedReinductionDate",)))


def _em_marrow_mrd_flag(reading: ReadingInputs, raised: list[Flag], not_assessed: list) -> None:
    """Isolated CNS relapse with marrow MRD above 0.01% in the relapse work-up [107]. Raised only when
    the relapse is certainly an isolated CNS relapse; a high result where it may be one is listed as
    not assessed; an isolated CNS relapse with no work-up marrow MRD read lists the flag as not assessed."""
    possible = reading.possible
    if "cns" not in possible.site:
        return
    results = [m for m in reading.workup_mrd if exceeds(m, EM_MARROW_MRD_ABOVE) is not None]
    high = [m for m in results if exceeds(m, EM_MARROW_MRD_ABOVE)]
    if possible.site != frozenset({"cns"}):
        if high:
            not_assessed.append(("em-relapse-marrow-mrd", possible.missing_for("site")))
        return
    if high:
        first = min(high, key=lambda m: (m.date.earliest, m.source))
        raised.append(Flag("em-relapse-marrow-mrd", tuple(m.source for m in high), first.original))
    elif not results:
        not_assessed.append(("em-relapse-marrow-mrd", ("relapseMarrowMrd",)))


def _em_age_flag(features: Features, possible, raised: list[Flag], not_assessed: list) -> None:
    """Isolated extramedullary relapse in a child older than 6 at diagnosis (from the 7th birthday) [106].
    [106] studied FIRST isolated extramedullary relapse of B-precursor ALL: the flag is raised only for
    that subgroup (a flag's card shows figures of the subgroup they were measured in); where lineage or
    relapse order is unknown, it is listed as not assessed."""
    if not possible.site & EXTRAMEDULLARY or "b-precursor" not in possible.lineage or "first" not in possible.order:
        return
    certain_site = possible.site <= EXTRAMEDULLARY
    subgroup_open = tuple(
        m for field_name, value in (("lineage", "b-precursor"), ("order", "first"))
        if getattr(possible, field_name) != frozenset({value}) for m in possible.missing_for(field_name)
    )
    age = _age_at_diagnosis(features)
    if not isinstance(age, _Age):
        if certain_site:
            not_assessed.append(("em-relapse-age-over-6", age))
        return
    if age.oldest < EM_AGE_FROM:
        return
    if age.youngest >= EM_AGE_FROM and certain_site and not subgroup_open:
        raised.append(Flag("em-relapse-age-over-6", age.sources, age.shown))
        return
    missing = (() if certain_site else possible.missing_for("site")) + subgroup_open
    missing += age.imprecise if age.youngest < EM_AGE_FROM else ()
    not_assessed.append(("em-relapse-age-over-6", missing))
