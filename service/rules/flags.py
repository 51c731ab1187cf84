"""Prognostic flags: facts the seed names as changing the outlook after relapse.

A flag is raised only when the record shows it; a flag that cannot be told (its facts missing) is
listed as not assessed with the facts it lacks, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..features.dates import days_between, whole_years_between
from ..features.model import Features, Measurement, Message
from .inputs import RuleInputs, days_if_early, mrd_is_high

AGE_10_PLUS = 10  # "Age 10 years and older at diagnosis ... independent predictor of poor outcome" [13]
# "those older than age 15 years did much worse (3-year OS, 15%)" [18]. Reading: ages are in completed
# years, as in the seed's groups "1 to 9", "10 to 15", "older than 15": a child of 15 years and 6 months
# is in the 10-15 group, so the flag starts at the 16th birthday.
AGE_OVER_15_FROM = 16
HIGH_BLASTS_PER_UL = 10_000  # "high peripheral blast counts (>10,000/uL) ... late marrow relapses" [10]
BLASTS_WINDOW_DAYS = 14  # contract: "dated within 14 days of the relapse"

#: Every flag this module can raise (the contract's, plus relapse-after-hsct); cards/ must word each.
FLAG_NAMES: tuple[str, ...] = (
    "t-cell", "tp53-alteration", "ikzf1-deletion", "etv6-runx1", "age-10-plus", "age-over-15",
    "high-peripheral-blasts", "down-syndrome", "high-mrd", "no-cr2", "relapse-after-hsct",
)


@dataclass(frozen=True)
class Flag:
    name: str
    sources: tuple[str, ...]
    #: A value quoted from the record (e.g. "12.0 %"), or a worded message for the card, or nothing.
    detail: str | Message | None = None


@dataclass(frozen=True)
class FlagResult:
    raised: tuple[Flag, ...]
    not_assessed: tuple[tuple[str, tuple[str, ...]], ...]  # (flag, missing facts)


def prognostic_flags(features: Features, inputs: RuleInputs) -> FlagResult:
    raised: list[Flag] = []
    not_assessed: list[tuple[str, tuple[str, ...]]] = []
    possible = inputs.possible

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

    if features.relapses or features.unplaced_relapse_sources:
        mrd = inputs.end_reinduction_mrd
        if mrd is not None and mrd_is_high(mrd):
            days = days_if_early(mrd, features.assessed_relapse.date) if features.assessed_relapse else None
            raised.append(Flag("high-mrd", (mrd.source,), Message.of("flag_mrd_early", value=mrd.original, days=days) if days else mrd.original))
        _blasts_flag(features, inputs, raised, not_assessed)
        _no_cr2_flag(features, raised)
        if possible.after_hsct == frozenset({True}):
            raised.append(Flag("relapse-after-hsct", tuple(p.source for p in features.hsct_procedures)))
    return FlagResult(tuple(raised), tuple(not_assessed))


def _age_flags(features: Features, raised: list[Flag], not_assessed: list) -> None:
    """Age at diagnosis in completed years. With a partial birth or diagnosis date, a flag is raised
    only when every day the dates allow gives it; otherwise it is listed as not assessed."""
    diagnosis = features.diagnosis
    lacking = tuple(n for n, v in (("birthDate", features.birth_date), ("diagnosisDate", diagnosis)) if v is None)
    if lacking:
        not_assessed.extend((flag, lacking) for flag in ("age-10-plus", "age-over-15"))
        return
    birth, dx = features.birth_date, diagnosis.date
    youngest = whole_years_between(birth.latest, dx.earliest)
    oldest = whole_years_between(birth.earliest, dx.latest)
    sources = tuple(s for s in (features.patient_source, diagnosis.source) if s)
    imprecise = tuple(n for n, d in (("birthDate", birth), ("diagnosisDate", dx)) if d.partial)
    shown = Message.of("flag_age", years=youngest) if youngest == oldest else Message.of("flag_age_range", youngest=youngest, oldest=oldest)
    for flag, threshold in (("age-10-plus", AGE_10_PLUS), ("age-over-15", AGE_OVER_15_FROM)):
        if youngest >= threshold:
            raised.append(Flag(flag, sources, shown))
        elif oldest >= threshold:
            not_assessed.append((flag, imprecise))


def _above_threshold(count: Measurement) -> bool | None:
    """Is the count > 10,000/uL? None when a comparator leaves it open (e.g. "<20000")."""
    v, comparator = count.value, count.comparator
    if comparator in (None, ""):
        return v > HIGH_BLASTS_PER_UL
    if comparator in (">", ">="):
        return True if v >= HIGH_BLASTS_PER_UL and (comparator == ">" or v > HIGH_BLASTS_PER_UL) else None
    if comparator in ("<", "<="):
        return False if v <= HIGH_BLASTS_PER_UL else None
    return None


def _blasts_flag(features: Features, inputs: RuleInputs, raised: list[Flag], not_assessed: list) -> None:
    """High peripheral blasts matter at a LATE MARROW relapse (BFM [10]). Reading: "late" is the seed's
    >36 months from diagnosis (BFM's own "late" is >= 6 months after the end of therapy, which the record
    does not give), and "marrow relapses" includes combined ones (the seed's wording, not only [10]'s
    "isolated"): the flag is raised only when the relapse is certainly both."""
    possible, episode = inputs.possible, features.assessed_relapse
    marrow = {"marrow", "combined"}
    if episode is None or not possible.site & marrow or ">36" not in possible.band:
        return  # certainly not a late marrow relapse (or no relapse placed in time)
    near = [m for m in features.blast_counts if days_between(m.date.earliest, episode.date.earliest) <= BLASTS_WINDOW_DAYS]
    usable = [m for m in near if m.value is not None and _above_threshold(m) is not None]
    # The count closest to the relapse date describes the relapse; on a tie, the higher count (caution).
    closest = min(usable, key=lambda m: (days_between(m.date.earliest, episode.date.earliest), -m.value), default=None)
    if not (possible.site <= marrow and possible.band == frozenset({">36"})):
        # It may be a late marrow relapse: a high count is then listed as not assessed, naming what
        # would tell, rather than silently dropped. (With no high count there is nothing to withhold.)
        if closest is not None and _above_threshold(closest):
            uncertain = [f for f, open_ in (("site", not possible.site <= marrow), ("band", possible.band != frozenset({">36"}))) if open_]
            facts = tuple(dict.fromkeys(m for f in uncertain for m in possible.missing_for(f)))
            not_assessed.append(("high-peripheral-blasts", facts))
        return
    if closest is None:
        not_assessed.append(("high-peripheral-blasts", ("peripheralBlasts",)))
    elif _above_threshold(closest):
        raised.append(Flag("high-peripheral-blasts", (closest.source,), closest.original))


def _no_cr2_flag(features: Features, raised: list[Flag]) -> None:
    """Failed reinduction: positive evidence only (a C91.00-type Condition, not the one dating the
    diagnosis, with onset after the assessed relapse), never the mere absence of a remission."""
    episode, diagnosis = features.assessed_relapse, features.diagnosis
    if episode is None:
        return
    evidence = tuple(
        c.source for c in features.failed_remission_candidates
        if c.date is not None and c.date.earliest > episode.date.earliest
        and (diagnosis is None or c.source != diagnosis.source)
    )
    if evidence:
        raised.append(Flag("no-cr2", evidence))
