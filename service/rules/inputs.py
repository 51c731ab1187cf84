"""From the features object to what the rules may assume: the possible values of each rule input,
the contradictions that forbid any answer, and notes on how dates were read."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..features.dates import FhirDate
from ..features.model import CNS, MARROW, TESTIS, Features, Measurement, Message
from .possible import BOOLS, LINEAGES, ORDERS, SITES, Possible, Readings
from .readings import reading_notes, relapse_readings
from .timing import band_of

#: End-reinduction MRD at or above 10^-3 is high. PDQ summary: "Patients with low MRD (<10-3) had a
#: 10-year EFS of 73%, while those with high MRD (>10-3) had a 10-year EFS of 10%" [24]. The summary
#: leaves exactly 10^-3 unassigned; the contract (flag `high-mrd`: ">= 10^-3") puts it with high, the
#: conservative side (it keeps a transplant discussion open rather than closing it).
MRD_HIGH_AT = 1e-3
#: Contract: "The end-of-reinduction MRD is the first marrow result dated 28 days or more after the
#: assessed relapse" (the PDQ summary: CR2 "at the end of the first month of treatment").
REINDUCTION_DAYS = 28
#: Contract: "a marrow result from 7 days before to 27 days after the relapse is the relapse work-up,
#: never read as end-of-reinduction MRD". Results dated earlier are ignored.
WORKUP_DAYS_BEFORE = 7


def days_after(result_date: FhirDate, relapse: FhirDate) -> tuple[int, int]:
    """The fewest and the most days a (possibly partial) date can lie after the relapse."""
    return (result_date.earliest - relapse.latest).days, (result_date.latest - relapse.earliest).days


def mrd_considered(features: Features) -> tuple[Measurement, ...]:
    """The MRD results the rules consider. Contract: results dated earlier than the work-up window are
    ignored. Read against the EARLIEST dated relapse record (the window of any relapse the record may
    hold), so a result that may fall in any relapse's window counts; every result while a relapse record
    is undated (it could be any day); none without a relapse record (no MRD rule applies)."""
    if features.undated_relapse_sources:
        return features.mrd_results
    dated = [e.date.earliest for e in (*features.relapses, *features.ambiguous_relapses)]
    if not dated:
        return ()
    first = min(dated)
    return tuple(m for m in features.mrd_results if (m.date.latest - first).days >= -WORKUP_DAYS_BEFORE)


def in_workup(mrd: Measurement, relapse: FhirDate) -> bool | None:
    """Is the result certainly (True), certainly not (False) or maybe (None) in the relapse work-up window?"""
    fewest, most = days_after(mrd.date, relapse)
    if fewest >= -WORKUP_DAYS_BEFORE and most < REINDUCTION_DAYS:
        return True
    if most < -WORKUP_DAYS_BEFORE or fewest >= REINDUCTION_DAYS:
        return False
    return None


@dataclass(frozen=True)
class ReadingInputs:
    """One settled reading of the record, and what the rules may assume on it."""

    features: Features
    possible: Possible
    end_reinduction_mrd: Measurement | None
    #: Bone-marrow MRD results certainly in the relapse work-up window (7 days before to 27 after).
    workup_mrd: tuple[Measurement, ...]
    #: How this reading was read where it needs saying (a partial date that spans month bands).
    notes: tuple[Message, ...] = ()
    #: A marrow MRD result that may be the end-of-reinduction one is on file (even if its date or site
    #: leaves it undecided): ordering MRD is then not what is needed.
    mrd_on_file: bool = False


@dataclass(frozen=True)
class RuleInputs:
    possible: Possible | Readings
    contradictions: tuple[Message, ...]
    notes: tuple[Message, ...]
    readings: tuple[ReadingInputs, ...]

    @property
    def mrd_on_file(self) -> bool:
        return any(r.mrd_on_file for r in self.readings)

    @property
    def end_reinduction_mrd(self) -> Measurement | None:
        """The end-of-reinduction MRD result, when every reading takes the same one."""
        found = {r.end_reinduction_mrd for r in self.readings}
        return found.pop() if len(found) == 1 else None


def classify_sites(sites: frozenset[str], unknown: int, sex: str | None) -> frozenset[str]:
    """Site pattern(s) of a relapse: the known sites plus `unknown` sites that could be anything."""
    options = [MARROW, CNS, "other"] + ([] if sex == "female" else [TESTIS])
    patterns = set()
    # Site patterns depend on which sites occur, not how often: more unknown sites than options add
    # nothing, and bounding them keeps a record with hundreds of unstated sites from costing 4^n.
    for extra in itertools.product(options, repeat=min(unknown, len(options))):
        every = set(sites) | set(extra)
        if MARROW in every:
            patterns.add("marrow" if every == {MARROW} else "combined")
        elif every == {CNS}:
            patterns.add("cns")
        elif every == {TESTIS}:
            patterns.add("testis")
        elif every == {CNS, TESTIS}:
            patterns.add("cns-testis")
        else:
            patterns.add("extramedullary-other")
    return frozenset(patterns)


def derive(features: Features) -> RuleInputs:
    """What the record allows each rule input to be, over every reading of its relapse history.
    Missing facts keep every value they could take."""
    contradictions: list[Message] = []
    if "conditions" not in features.unavailable:
        lineages = frozenset(features.lineage_sources)
        if len(lineages) > 1:
            contradictions.append(Message.of(
                "contradiction_lineage", b_sources=", ".join(features.lineage_sources["b-precursor"]),
                t_sources=", ".join(features.lineage_sources["t-cell"]),
            ))
        _check_order_of_events(features, contradictions)
        contradictions.extend(Message.of("contradiction_id_clash", ref=ref) for ref in features.id_clashes)
    readings = tuple(_derive_reading(r) for r in relapse_readings(features))
    notes: list[Message] = []
    for reading in readings:
        notes.extend(n for n in reading.notes if n not in notes)
    dated = (*features.all_diagnoses, *features.relapses, *features.hsct_procedures, *mrd_considered(features))
    partial = [d for d in dated if d.date is not None and d.date.partial]
    if partial or (features.birth_date and features.birth_date.partial):
        notes.append(Message.of("note_partial_dates"))
    notes.extend(reading_notes(features))
    notes.extend(features.notes)
    possible = readings[0].possible if len(readings) == 1 else Readings(tuple(r.possible for r in readings))
    return RuleInputs(possible, tuple(contradictions), tuple(notes), readings)


def _derive_reading(features: Features) -> ReadingInputs:
    """What one settled reading allows each rule input to be."""
    because: dict[str, tuple[str, ...]] = {}
    notes: list[Message] = []
    if "conditions" in features.unavailable:
        because.update(
            lineage=("immunophenotype",), site=("relapseSite",), band=("diagnosisDate", "relapseDate"),
            order=("relapseDate",), after_hsct=("relapseDate",), mrd_high=("relapseDate",),
        )
        return ReadingInputs(features, Possible(because=tuple(because.items())), None, ())

    lineages = frozenset(features.lineage_sources)
    if len(lineages) != 1:
        lineages = frozenset(LINEAGES)
        because["lineage"] = ("immunophenotype",)

    episode = features.assessed_relapse
    undated = len(features.unplaced_relapse_sources)
    dated = len(features.relapses)

    # Which relapse this is. Relapses are counted by distinct onset dates; an undated relapse
    # Condition may be one of the dated episodes recorded again, or another episode.
    if undated == 0:
        orders = frozenset({"first" if dated == 1 else "later"})
    elif dated == 0:
        orders = frozenset({"first"} if undated == 1 else ORDERS)
    else:
        orders = frozenset(ORDERS if dated == 1 else {"later"})
    unplaced = _unplaced_relapse_facts(features)
    if len(orders) > 1:
        because["order"] = unplaced

    # Site and timing of the assessed relapse: unknown if an undated relapse may be the latest.
    if episode is None or undated:
        sites, bands = frozenset(SITES), frozenset(["<18", "18-36", ">36"])
        because["site"] = unplaced
        because["band"] = unplaced if features.diagnosis else ("diagnosisDate", *unplaced)
    else:
        unknown_sites = len(episode.unstated_site_sources) + len(episode.unrecognised_sites)
        sites = classify_sites(episode.sites, unknown_sites, features.sex)
        if len(sites) > 1:
            because["site"] = ("relapseSite",)
        diagnosis = features.diagnosis
        if diagnosis is None:
            bands = frozenset(["<18", "18-36", ">36"])
            because["band"] = ("diagnosisDate",)
        else:
            # Reading of "use the earliest possible day for ordering": events are ORDERED by their
            # earliest day, but a month band is a measurement. A partial date keeps every band its
            # days allow, so `decide` withholds where they would give different answers and names
            # the imprecise date; where they agree, the answer stands.
            _, bands = band_of(diagnosis.date, episode.date)
            if len(bands) > 1:
                because["band"] = tuple(
                    name for name, d in (("diagnosisDate", diagnosis.date), ("relapseDate", episode.date)) if d.partial
                )
                notes.append(Message.of(
                    "note_partial_band", diagnosis_date=diagnosis.date, relapse_date=episode.date, bands=", ".join(sorted(bands)),
                ))

    after_hsct = _after_hsct(features, because)
    mrd, mrd_high, on_file = _end_reinduction_mrd(features, because)
    workup = _workup_mrd(features)
    possible = Possible(
        lineage=lineages, site=sites, band=bands, order=orders, after_hsct=after_hsct, mrd_high=mrd_high,
        because=tuple(because.items()),
    )
    return ReadingInputs(features, possible, mrd, workup, tuple(notes), on_file)


def _check_order_of_events(features: Features, contradictions: list[Message]) -> None:
    """Contradictions the record certainly contains. Partial dates that merely MAY be out of order
    are not contradictions: their band is uncertain instead (see `derive`)."""
    diagnosis = features.diagnosis
    # Every dated relapse record, however the records group into relapses: their dates can contradict.
    every_dated = sorted((*features.relapses, *features.ambiguous_relapses), key=lambda e: (e.date.earliest, e.sources))
    for episode in every_dated:
        if episode.date.earliest > features.as_of:
            contradictions.append(Message.of("contradiction_relapse_future", date=episode.date, sources=", ".join(episode.sources)))
        if diagnosis and episode.date.latest <= diagnosis.date.earliest:
            # Same day: often one Condition whose status was changed to relapse (as HL7 mCODE records a
            # new episode); the card says so.
            key = "contradiction_relapse_on_diagnosis_day" if episode.date == diagnosis.date else "contradiction_relapse_before_diagnosis"
            contradictions.append(Message.of(
                key, date=episode.date, sources=", ".join(episode.sources), diagnosis_date=diagnosis.date, diagnosis_source=diagnosis.source,
            ))
        if TESTIS in episode.sites and features.sex == "female":
            contradictions.append(Message.of("contradiction_testis_female", sources=", ".join(episode.sources)))
    if diagnosis and features.birth_date and features.birth_date.earliest > diagnosis.date.latest:
        contradictions.append(Message.of(
            "contradiction_birth_after_diagnosis", birth_date=features.birth_date, patient_source=features.patient_source,
            diagnosis_date=diagnosis.date, diagnosis_source=diagnosis.source,
        ))
    if diagnosis and diagnosis.date.earliest > features.as_of:
        contradictions.append(Message.of("contradiction_diagnosis_future", date=diagnosis.date, source=diagnosis.source))


def _unplaced_relapse_facts(features: Features) -> tuple[str, ...]:
    """The missing facts that keep a relapse from being placed in time: a readable record (one was not
    valid FHIR), an onset date (one has none), or which records form one episode (dated records too
    close together to tell one relapse from two)."""
    named = (
        ("readableRelapseRecord", features.unreadable_relapse_sources),
        ("relapseDate", features.undated_relapse_sources),
        ("relapseEpisode", features.ambiguous_relapses),
    )
    return tuple(name for name, sources in named if sources) or ("relapseDate",)


def _after_hsct(features: Features, because: dict[str, tuple[str, ...]]) -> frozenset[bool]:
    """Was there a transplant before the assessed relapse? Unknown procedures keep both answers."""
    if "procedures" in features.unavailable:
        because["after_hsct"] = ("priorHsct",)
        return frozenset(BOOLS)
    episode = features.assessed_relapse
    if not features.hsct_procedures:
        return frozenset({False})
    if episode is None or features.unplaced_relapse_sources:
        because["after_hsct"] = _unplaced_relapse_facts(features)
        return frozenset(BOOLS)
    if any(p.date is not None and p.date.latest < episode.date.earliest for p in features.hsct_procedures):
        return frozenset({True})
    # Undated, or a partial date that may fall before or after the relapse: both remain possible.
    if any(p.date is None or p.date.earliest < episode.date.earliest for p in features.hsct_procedures):
        because["after_hsct"] = ("hsctDate",)
        return frozenset(BOOLS)
    return frozenset({False})


def _end_reinduction_mrd(
    features: Features, because: dict[str, tuple[str, ...]]
) -> tuple[Measurement | None, frozenset[bool], bool]:
    """The end-of-reinduction MRD (contract: the first bone-marrow result dated 28 days or more after
    the assessed relapse), whether it is high, and whether any result that may be it is on file.

    Never guessed: every result that may be the first one (a partial date can put it before another)
    must be certainly 28 days or more after the relapse, certainly from marrow, and on the same side of
    10^-3; otherwise the MRD is unknown."""
    episode = features.assessed_relapse
    if episode is None or features.unplaced_relapse_sources:
        # Which result is "end of reinduction" depends on the relapse date: that is what is missing.
        because["mrd_high"] = _unplaced_relapse_facts(features)
        return None, frozenset(BOOLS), False
    because["mrd_high"] = ("endReinductionMrd",)
    if "observations" in features.unavailable:
        return None, frozenset(BOOLS), False  # results not had (or a failed search): the first one may be missing
    # Results whose site is unknown (their specimen could not be read) may be the first marrow result.
    candidates = [
        m for m in features.mrd_results
        if m.from_marrow is not False and days_after(m.date, episode.date)[1] >= REINDUCTION_DAYS
    ]
    if not candidates:
        return None, frozenset(BOOLS), False
    bound = min(m.date.latest for m in candidates)
    may_be_first = sorted((m for m in candidates if m.date.earliest <= bound), key=lambda m: (m.date.earliest, m.source))
    first = may_be_first[0]
    if any(m.from_marrow is None or days_after(m.date, episode.date)[0] < REINDUCTION_DAYS for m in may_be_first):
        return None, frozenset(BOOLS), True
    sides = {mrd_is_high(m) for m in may_be_first}
    if None in sides or len(sides) > 1:
        return (first if len(may_be_first) == 1 else None), frozenset(BOOLS), True
    del because["mrd_high"]
    return first, frozenset(sides), True


def _workup_mrd(features: Features) -> tuple[Measurement, ...]:
    """Bone-marrow MRD results certainly dated in the relapse work-up (7 days before to 27 after)."""
    episode = features.assessed_relapse
    if episode is None or features.unplaced_relapse_sources:
        return ()
    return tuple(m for m in features.mrd_results if m.from_marrow is True and in_workup(m, episode.date) is True)


def mrd_is_high(result: Measurement) -> bool | None:
    """True/False when the result tells which side of 10^-3 it is on; None when it cannot."""
    if result.value is None:
        return None
    v, comparator = result.value, result.comparator
    if comparator in (None, ""):
        return v >= MRD_HIGH_AT
    if comparator == "<":
        return False if v <= MRD_HIGH_AT else None
    if comparator == "<=":
        return False if v < MRD_HIGH_AT else None
    if comparator in (">", ">="):
        return True if v >= MRD_HIGH_AT else None
    return None
