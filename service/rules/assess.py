"""The assessment: relapse number, COG risk, HSCT indication, flags, missing facts, and the facts used.

Pure: a Features object in, an Assessment out. This is the whole clinical reasoning of the service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..features.model import Features, Message
from .cog import cog_risk
from .flags import FlagResult, prognostic_flags
from .hsct import hsct_indication
from .inputs import RuleInputs, derive, mrd_considered
from .possible import UNDETERMINED, Decision, Possible, decide
from .timeline import Event, events
from .timing import whole_months


@dataclass(frozen=True)
class Fact:
    """One fact the assessment used, with the FHIR references it was read from."""

    name: str
    value: object
    sources: tuple[str, ...]
    date: str | None = None


@dataclass(frozen=True)
class Assessment:
    relapse_number: int | None
    cog: Decision
    hsct: Decision
    flags: FlagResult
    facts: tuple[Fact, ...]
    contradictions: tuple[Message, ...]
    notes: tuple[Message, ...]
    problems: tuple[str, ...]
    inputs: RuleInputs
    has_all_diagnosis: bool
    #: Completed HSCT Procedures dated after the assessed relapse: the plan is already carried out.
    hsct_after_relapse: tuple[str, ...] = ()
    #: Prefetch domains whose data could not be had: a fact missing for that reason may be on file.
    unavailable: frozenset[str] = frozenset()
    #: The dated records, oldest first, with the part each played (service/rules/timeline.py).
    timeline: tuple[Event, ...] = ()
    #: Relevant records that could not change the answer: not read, not on the timeline.
    records_not_read: int = 0

    @property
    def missing(self) -> tuple[str, ...]:
        seen: list[str] = []
        for name in (*self.cog.missing, *self.hsct.missing):
            if name not in seen:
                seen.append(name)
        return tuple(seen)

    @property
    def relapsed(self) -> bool:
        return self.relapse_number != 0


#: Rule ids produced outside the rule tables (no relapse; contradictory record).
SPECIAL_RULES = ("cog.no-relapse", "hsct.no-relapse", "contradiction")


def all_rule_ids() -> frozenset[str]:
    """Every rule id the assessment can report: the knowledge loader checks cards/ words each one."""
    cases = Possible().cases()
    return frozenset({cog_risk(c).rule for c in cases} | {hsct_indication(c).rule for c in cases} | set(SPECIAL_RULES))


def assess(features: Features) -> Assessment:
    inputs = derive(features)
    relapse_number = _relapse_number(features)
    if relapse_number == 0:
        # No relapse recorded (and the Conditions were available): Table 4 does not apply
        # (`not-applicable`). The contract gives hsct no "not applicable" value; we answer
        # `not-recommended` (nothing is missing, and the PDQ summary gives transplant a role only after
        # relapse) and show no card, so no clinician reads a transplant claim about first remission.
        cog = Decision("not-applicable", ("cog.no-relapse",), ())
        hsct = Decision("not-recommended", ("hsct.no-relapse",), ())
    elif inputs.contradictions:
        cog = Decision(UNDETERMINED, ("contradiction",), ())
        hsct = Decision(UNDETERMINED, ("contradiction",), ())
    else:
        cog = decide(cog_risk, inputs.possible)
        hsct = decide(hsct_indication, inputs.possible)
    flags = prognostic_flags(features, inputs)
    return Assessment(
        relapse_number=relapse_number,
        cog=cog,
        hsct=hsct,
        flags=flags,
        facts=merged(_facts(features, inputs)),
        contradictions=inputs.contradictions,
        notes=inputs.notes + flags.notes,
        problems=features.problems,
        inputs=inputs,
        has_all_diagnosis=bool(features.all_diagnoses),
        hsct_after_relapse=_hsct_after_relapse(inputs),
        unavailable=features.unavailable,
        timeline=events(features, inputs),
        records_not_read=features.records_not_read,
    )


def _hsct_after_relapse(inputs: RuleInputs) -> tuple[str, ...]:
    """Transplants dated after the assessed relapse in every reading of the record."""
    found: list[tuple[str, ...]] = []
    for reading in inputs.readings:
        features, episode = reading.features, reading.features.assessed_relapse
        if episode is None or features.unplaced_relapse_sources:
            return ()
        found.append(tuple(p.source for p in features.hsct_procedures if p.date is not None and p.date.earliest > episode.date.latest))
    return tuple(s for s in found[0] if all(s in other for other in found[1:])) if found else ()


def _relapse_number(features: Features) -> int | None:
    """Relapses counted by distinct onset dates; unknown when Conditions are unavailable or undated,
    or when records without a remission between them may be one relapse or several."""
    if "conditions" in features.unavailable or features.unplaced_relapse_sources or not features.relapses_settled:
        return None
    return len(features.relapses)


def merged(facts: list[Fact]) -> tuple[Fact, ...]:
    """One fact, one row: the same fact recorded by several records (a remission repeated as an
    encounter diagnosis at every visit) is listed once, with all of them as its sources, in the order
    first met. A chart of 3,000 records listed its second remission 128 times."""
    rows: list[Fact] = []
    index: dict[tuple, int] = {}
    for fact in facts:
        key = (fact.name, json.dumps(fact.value, sort_keys=True, default=str), fact.date)
        if key in index:
            first = rows[index[key]]
            rows[index[key]] = replace(first, sources=tuple(dict.fromkeys(first.sources + fact.sources)))
        else:
            index[key] = len(rows)
            rows.append(fact)
    return tuple(rows)


def _facts(features: Features, inputs: RuleInputs) -> list[Fact]:
    facts: list[Fact] = []
    if features.patient_source:
        if features.birth_date:
            facts.append(Fact("birthDate", features.birth_date.text, (features.patient_source,)))
        if features.sex:
            facts.append(Fact("sex", features.sex, (features.patient_source,)))
    diagnosis = features.diagnosis
    if diagnosis:
        facts.append(Fact("diagnosisDate", diagnosis.date.text, (diagnosis.source,), diagnosis.date.text))
    for lineage, sources in sorted(features.lineage_sources.items()):
        facts.append(Fact("immunophenotype", lineage, sources))
    if features.lineage_not_stated_sources and not features.lineage_sources:
        facts.append(Fact("immunophenotype", "lineage not stated (ICD-O-3 9835/3)", features.lineage_not_stated_sources))
    for subtype, sources in sorted(features.subtype_sources.items()):
        facts.append(Fact("geneticSubtype", subtype, sources))
    # Numbered relapses where the record settles how many there are; otherwise numbered records.
    numbered = "relapse" if features.relapses_settled else "relapseRecord"
    for number, episode in enumerate(features.relapses, start=1):
        sites = sorted(episode.sites) + [f"unrecognised site {c}" for c in episode.unrecognised_sites]
        if episode.unstated_site_sources:
            sites.append("site not stated")
        facts.append(Fact(f"{numbered}{number}", {"date": episode.date.text, "sites": sites}, episode.sources, episode.date.text))
    if features.unplaced_relapse_sources:
        facts.append(Fact("relapseNotPlaced", "relapse record that cannot be placed in time (no onset date, not valid FHIR, or too many records to group)", features.unplaced_relapse_sources))
    # On a settled record the relapse facts are about its one reading (the record itself, or the
    # record less relapse records too many to group).
    facts.extend(_facts_of_relapse(inputs.readings[0].features if len(inputs.readings) == 1 else features, inputs))
    return facts + _gene_facts(features)


def _facts_of_relapse(features: Features, inputs: RuleInputs) -> list[Fact]:
    """Facts about the assessed relapse. On a record read more than one way only those that do not
    depend on which records form the latest relapse are listed."""
    facts: list[Fact] = []
    settled = len(inputs.readings) == 1
    episode = features.assessed_relapse if settled else None
    diagnosis = features.diagnosis
    if episode and diagnosis and episode.date.latest > diagnosis.date.earliest:  # not for a relapse dated before it
        months = whole_months(diagnosis.date.earliest, episode.date.earliest)
        band = next(iter(inputs.possible.band)) if len(inputs.possible.band) == 1 else None
        facts.append(Fact("monthsFromDiagnosis", {"months": months, "band": band}, (diagnosis.source, *episode.sources)))
    if len(inputs.possible.site) == 1 and episode:
        facts.append(Fact("relapseSite", next(iter(inputs.possible.site)), episode.sources))
    for remission in features.remissions:
        if episode and remission.date and remission.date.earliest > episode.date.earliest:
            facts.append(Fact("secondRemission", True, (remission.source,), remission.date.text))
    for procedure in features.hsct_procedures:
        after = episode is not None and procedure.date is not None and procedure.date.earliest > episode.date.latest
        facts.append(Fact("hsctAfterRelapse" if after else "hsct", "hematopoietic stem cell transplant",
                          (procedure.source,), procedure.date.text if procedure.date else None))
    mrd = inputs.end_reinduction_mrd
    if mrd:
        facts.append(Fact("endReinductionMrd", mrd.original, (mrd.source,), mrd.date.text))
    for result in mrd_considered(features):  # results before every relapse's work-up are ignored (contract)
        if result.from_marrow is False:
            facts.append(Fact("mrdNotFromMarrow", f"{result.original} (site not stated as bone marrow: reported, not used)", (result.source,), result.date.text))
        elif result.from_marrow is None:
            facts.append(Fact("mrdSiteUnknown", f"{result.original} (its specimen could not be read: site unknown)", (result.source,), result.date.text))
    if settled:
        for result in inputs.readings[0].workup_mrd:
            facts.append(Fact("relapseWorkupMrd", result.original, (result.source,), result.date.text))
    for count in features.blast_counts:
        if episode and abs((count.date.earliest - episode.date.earliest).days) <= 14:
            facts.append(Fact("peripheralBlasts", count.original, (count.source,), count.date.text))
    return facts


def _gene_facts(features: Features) -> list[Fact]:
    facts: list[Fact] = []
    for gene, sources in sorted(features.gene_sources.items()):
        facts.append(Fact("geneAlteration", gene, sources))
    if features.down_syndrome_sources:
        facts.append(Fact("downSyndrome", True, features.down_syndrome_sources))
    return facts
