"""Validated FHIR models -> Features, through the code maps in `mappings/`.

Each reading follows a row of the data contract; the comment beside it says which.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from ..knowledge.mappings import CodeMap
from .dates import FhirDate, parse_fhir_date
from .model import B_PRECURSOR, CNS, MARROW, T_CELL, TESTIS, Dated, Features, Measurement, Message, RelapseEpisode

_SITE_CONCEPTS = {"site-bone-marrow": MARROW, "site-cns": CNS, "site-testis": TESTIS}
_OBSERVATION_USABLE = {"final", "amended", "corrected"}
#: Largest plausible blast count: 2,000,000/uL is far above any reported leukemic count.
_MAX_BLASTS_PER_UL = 2_000_000


def _codings(concept: Any) -> list[tuple[str | None, str | None]]:
    if concept is None:
        return []
    return [(c.system, c.code) for c in (concept.coding or [])]


def _ref(resource: Any) -> str:
    return f"{resource.get_resource_type()}/{resource.id or '(no id)'}"


class _Reader:
    """Reads one patient's validated resources; collects problems as it goes."""

    def __init__(self, codemap: CodeMap):
        self.codemap = codemap
        self.problems: list[str] = []

    def has(self, concept: str, codings: Iterable[tuple[str | None, str | None]]) -> bool:
        return any(concept in self.codemap.concepts_of(s, c) for s, c in codings)

    # -- Conditions ---------------------------------------------------------------------------------
    def morphology_codings(self, condition: Any) -> list[tuple[str | None, str | None]]:
        """ICD-O-3 morphology in Condition.code or in the mCODE histology-morphology-behavior extension."""
        urls = self.codemap.extension_urls.get("histology-morphology-behavior", frozenset())
        codings = _codings(condition.code)
        for ext in condition.extension or []:
            if ext.url in urls:
                codings += _codings(ext.valueCodeableConcept)
        return codings

    def clinical_status(self, condition: Any) -> str | None:
        codes = _codings(condition.clinicalStatus)
        if self.has("status-relapse", codes):
            return "relapse"
        if self.has("status-remission", codes):
            return "remission"
        return None

    def ignored(self, condition: Any) -> bool:
        return self.has("verification-ignored", _codings(condition.verificationStatus))

    @staticmethod
    def onset(condition: Any) -> FhirDate | None:
        """onsetDateTime, else onsetPeriod.start. A relapse, remission or failed reinduction is dated by
        its onset only: a recordedDate can be years after the event (contract: "Its onsetDateTime is
        the relapse date")."""
        if condition.onsetDateTime is not None:
            return parse_fhir_date(condition.onsetDateTime)
        if condition.onsetPeriod is not None and condition.onsetPeriod.start is not None:
            return parse_fhir_date(condition.onsetPeriod.start)
        return None

    def sites(self, condition: Any) -> tuple[set[str], list[str]]:
        known: set[str] = set()
        unknown: list[str] = []
        for concept in condition.bodySite or []:
            codes = _codings(concept)
            found = {site for name, site in _SITE_CONCEPTS.items() if self.has(name, codes)}
            if found:
                known |= found
            else:
                unknown.append(", ".join(f"{s}|{c}" for s, c in codes) or (concept.text or "text only"))
        return known, unknown


def extract(
    resources: Sequence[Any],
    codemap: CodeMap,
    *,
    as_of: date,
    unavailable: frozenset[str] = frozenset(),
    problems: Sequence[str] = (),
    unreadable_relapses: Sequence[str] = (),
    id_clashes: Sequence[str] = (),
) -> Features:
    """Build the features object from one patient's validated resources."""
    reader = _Reader(codemap)
    reader.problems.extend(problems)
    by_type: dict[str, list[Any]] = defaultdict(list)
    for resource in resources:
        by_type[resource.get_resource_type()].append(resource)
    specimens = {s.id: s for s in by_type["Specimen"] if s.id}

    fields: dict[str, Any] = {"as_of": as_of, "unavailable": unavailable}
    patients = by_type["Patient"]
    if patients:
        patient = patients[0]
        fields.update(birth_date=parse_fhir_date(patient.birthDate), sex=patient.gender, patient_source=_ref(patient))
        if patient.birthDate is not None and fields["birth_date"] is None:
            reader.problems.append(f"{_ref(patient)}: birthDate is not a valid date")
    fields.update(_read_conditions(reader, by_type["Condition"]))
    # A relapse Condition that is not valid FHIR is not "no relapse": it leaves the count unknown.
    fields["unreadable_relapse_sources"] = tuple(unreadable_relapses)
    fields["hsct_procedures"] = _read_procedures(reader, by_type["Procedure"])
    fields.update(_read_observations(reader, by_type["Observation"], specimens))
    fields["id_clashes"] = tuple(id_clashes)
    fields["problems"] = tuple(reader.problems)
    return Features(**fields)


def _read_conditions(reader: _Reader, conditions: Sequence[Any]) -> dict[str, Any]:
    diagnoses: list[Dated] = []
    remissions: list[Dated] = []
    failed: list[Dated] = []
    relapse_parts: dict[FhirDate, list[tuple[str, set[str], list[str]]]] = defaultdict(list)
    undated_relapses: list[str] = []
    lineage: dict[str, list[str]] = defaultdict(list)
    not_stated: list[str] = []
    subtypes: dict[str, list[str]] = defaultdict(list)
    down: list[str] = []
    notes: list[Message] = []

    for condition in conditions:
        ref = _ref(condition)
        if reader.ignored(condition):
            reader.problems.append(f"{ref} ignored: verificationStatus refuted or entered-in-error")
            continue
        codes = _codings(condition.code)
        if reader.has("down-syndrome", codes):
            down.append(ref)
        morphology = reader.morphology_codings(condition)
        for concept, value in (("lineage-b-precursor", B_PRECURSOR), ("lineage-t-cell", T_CELL)):
            if reader.has(concept, morphology):
                lineage[value].append(ref)
        if reader.has("lineage-not-stated", morphology):
            not_stated.append(ref)
        for subtype in ("etv6-runx1", "bcr-abl1", "kmt2a"):
            if reader.has(f"subtype-{subtype}", morphology):
                subtypes[subtype].append(ref)

        is_all = reader.has("all-diagnosis", codes)
        status = reader.clinical_status(condition)
        onset = reader.onset(condition)
        # Contract: a relapse is C91.02, or an ALL code with clinicalStatus relapse/recurrence.
        if reader.has("all-in-relapse", codes) or (is_all and status == "relapse"):
            if onset is None:
                undated_relapses.append(ref)
            else:
                known, unknown = reader.sites(condition)
                relapse_parts[onset].append((ref, known, unknown))
        # Contract: second remission is C91.01, or an ALL code with clinicalStatus remission.
        elif reader.has("all-in-remission", codes) or (is_all and status == "remission"):
            remissions.append(Dated(onset, ref))
        elif is_all:
            # Contract: the date of diagnosis is onsetDateTime, or onsetPeriod.start, else recordedDate.
            dated_by = onset or parse_fhir_date(condition.recordedDate)
            diagnoses.append(Dated(dated_by, ref))
            if reader.has("all-failed-remission", codes) and onset is not None:
                failed.append(Dated(onset, ref))
            if onset is None and dated_by is not None:
                notes.append(Message.of("note_recorded_date", ref=ref, date=dated_by))
            elif dated_by is None:
                reader.problems.append(f"{ref}: ALL diagnosis without onset or recorded date")

    relapses = []
    for onset in sorted(relapse_parts, key=lambda d: (d.earliest, d.text)):
        parts = relapse_parts[onset]
        relapses.append(RelapseEpisode(
            date=onset,
            sites=frozenset(s for _, known, _ in parts for s in known),
            unstated_site_sources=tuple(ref for ref, known, unknown in parts if not known and not unknown),
            unrecognised_sites=tuple(code for _, _, unknown in parts for code in unknown),
            sources=tuple(ref for ref, _, _ in parts),
        ))
    relapses = _merge_same_day(relapses)
    return {
        "notes": tuple(notes),
        "all_diagnoses": tuple(diagnoses),
        "lineage_sources": {k: tuple(v) for k, v in lineage.items()},
        "lineage_not_stated_sources": tuple(not_stated),
        "subtype_sources": {k: tuple(v) for k, v in subtypes.items()},
        "relapses": tuple(relapses),
        "remission_between": _remission_between(relapses, remissions),
        "undated_relapse_sources": tuple(undated_relapses),
        "remissions": tuple(remissions),
        "failed_remission_candidates": tuple(failed),
        "down_syndrome_sources": tuple(down),
    }


def _merge_same_day(episodes: list[RelapseEpisode]) -> list[RelapseEpisode]:
    """`2019-05-03` and `2019-05-03T10:00:00Z` are one onset date: relapses count by calendar day."""
    merged: list[RelapseEpisode] = []
    for episode in episodes:
        last = merged[-1] if merged else None
        if last and last.date.earliest == episode.date.earliest and last.date.latest == episode.date.latest:
            merged[-1] = RelapseEpisode(
                last.date, last.sites | episode.sites, last.unstated_site_sources + episode.unstated_site_sources,
                last.unrecognised_sites + episode.unrecognised_sites, last.sources + episode.sources,
            )
        else:
            merged.append(episode)
    return merged


def _remission_between(episodes: list[RelapseEpisode], remissions: list[Dated]) -> tuple[bool, ...]:
    """For each pair of neighbouring relapse records: is a remission certainly dated between them?

    Contract: "Two records with different dates are two relapses only when a remission is recorded
    between them". A partial date counts only if all its days fall between (the conservative side: a
    remission that may be outside leaves the two records possibly one relapse). n log n: remissions
    sorted by their earliest day, with the smallest latest day of every suffix.
    """
    dated = sorted((r.date for r in remissions if r.date is not None), key=lambda d: d.earliest)
    starts = [d.earliest for d in dated]
    suffix_min_latest = [d.latest for d in dated]
    for i in range(len(dated) - 2, -1, -1):
        suffix_min_latest[i] = min(suffix_min_latest[i], suffix_min_latest[i + 1])
    between = []
    for first, second in zip(episodes, episodes[1:]):
        i = bisect.bisect_right(starts, first.date.latest)  # remissions starting after the first record
        between.append(i < len(dated) and suffix_min_latest[i] < second.date.earliest)
    return tuple(between)


def _read_procedures(reader: _Reader, procedures: Sequence[Any]) -> tuple[Dated, ...]:
    found = []
    for procedure in procedures:
        if not reader.has("hsct", _codings(procedure.code)):
            continue
        if procedure.status != "completed":
            reader.problems.append(f"{_ref(procedure)} ignored: status {procedure.status}, not completed")
            continue
        when = procedure.performedDateTime or (procedure.performedPeriod.start if procedure.performedPeriod else None)
        found.append(Dated(parse_fhir_date(when), _ref(procedure)))
    return tuple(found)


def _observation_date(observation: Any) -> FhirDate | None:
    if observation.effectiveDateTime is not None:
        return parse_fhir_date(observation.effectiveDateTime)
    if observation.effectivePeriod is not None and observation.effectivePeriod.start is not None:
        return parse_fhir_date(observation.effectivePeriod.start)
    return None


def _read_observations(reader: _Reader, observations: Sequence[Any], specimens: dict[str, Any]) -> dict[str, Any]:
    mrd: list[Measurement] = []
    blasts: list[Measurement] = []
    genes: dict[str, list[str]] = defaultdict(list)
    for observation in observations:
        ref = _ref(observation)
        codes = _codings(observation.code)
        if observation.status not in _OBSERVATION_USABLE:
            reader.problems.append(f"{ref} ignored: status {observation.status}")
            continue
        if reader.has("genetic-variant-assessment", codes):
            for gene in _variant_genes(reader, observation):
                genes[gene].append(ref)
            continue
        is_mrd, is_blasts = reader.has("mrd", codes), reader.has("peripheral-blasts", codes)
        if not (is_mrd or is_blasts):
            continue
        when = _observation_date(observation)
        if when is None:
            reader.problems.append(f"{ref} ignored: no effective date")
            continue
        if is_mrd:
            mrd.append(_measure(reader, observation, when, "mrd-fraction", upper=1.0, from_marrow=_from_marrow(reader, observation, specimens)))
        else:
            blasts.append(_measure(reader, observation, when, "blasts-per-microliter", upper=_MAX_BLASTS_PER_UL))
    return {"mrd_results": tuple(mrd), "blast_counts": tuple(blasts), "gene_sources": {k: tuple(v) for k, v in genes.items()}}


def _from_marrow(reader: _Reader, observation: Any, specimens: dict[str, Any]) -> bool | None:
    """Contract: MRD counts when bodySite is bone marrow or the specimen is a bone-marrow specimen.
    None when the result names a specimen that cannot be read: its site is unknown, not "not marrow"."""
    if reader.has("site-bone-marrow", _codings(observation.bodySite)):
        return True
    reference = observation.specimen.reference if observation.specimen else None
    if not reference:
        return False
    if reference.startswith("#"):
        contained = {getattr(c, "id", None): c for c in (observation.contained or [])}
        specimen = contained.get(reference[1:])
    else:
        specimen_id = _specimen_id(reference)
        specimen = specimens.get(specimen_id) if specimen_id else None
    if specimen is None:
        reader.problems.append(f"{_ref(observation)}: its specimen is not among the Specimens read; whether it is bone marrow is unknown")
        return None
    return reader.has("specimen-bone-marrow", _codings(getattr(specimen, "type", None)))


_SPECIMEN_REFERENCE = re.compile(
    r"\A(?:https?://[^\s?#]+/)?Specimen/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?\Z"
)


def _specimen_id(reference: str) -> str | None:
    """The id in `Specimen/x`, `Specimen/x/_history/2` or `<base>/Specimen/x` (FHIR literal references)."""
    match = _SPECIMEN_REFERENCE.match(reference)
    return match.group(1) if match else None


def _measure(reader: _Reader, observation: Any, when: FhirDate, units: str, *, upper: float, from_marrow: bool | None = True) -> Measurement:
    """Convert valueQuantity to the rules' unit; an unknown unit or implausible value gives value=None."""
    ref, quantity = _ref(observation), observation.valueQuantity
    if quantity is None or quantity.value is None:
        reader.problems.append(f"{ref}: no numeric valueQuantity; not used")
        return Measurement(None, None, when, ref, "no value", from_marrow)
    shown = f"{quantity.comparator or ''}{quantity.value} {quantity.code or quantity.unit or '(no unit)'}".strip()
    factor = reader.codemap.unit_factor(units, quantity.system, quantity.code or quantity.unit)
    if factor is None:
        reader.problems.append(f"{ref}: unit {quantity.code or quantity.unit!r} not accepted for {units}; not used")
        return Measurement(None, quantity.comparator, when, ref, shown, from_marrow)
    value = float(quantity.value) * factor
    if not 0 <= value <= upper:
        reader.problems.append(f"{ref}: implausible value {shown}; not used")
        return Measurement(None, quantity.comparator, when, ref, shown, from_marrow)
    return Measurement(value, quantity.comparator, when, ref, shown, from_marrow)


def _variant_genes(reader: _Reader, observation: Any) -> list[str]:
    """Genes a genomics-reporting Variant says are altered (value Present, component Gene studied).

    IKZF1: the PDQ summary's evidence is for IKZF1 *deletion*. A Variant that states its DNA change type
    counts only if that type is a deletion ("ikzf1"); one that states no type still counts, as the
    contract asks, but is marked ("ikzf1-type-not-stated"); another type is kept as a fact only.
    """
    if not reader.has("variant-present", _codings(observation.valueCodeableConcept)):
        return []  # "Absent" Variants may list many genes: never a flag
    genes: set[str] = set()
    change_types: list[list[tuple[str | None, str | None]]] = []
    for component in observation.component or []:
        codes = _codings(component.code)
        if reader.has("gene-studied", codes):
            for gene in ("tp53", "ikzf1", "etv6", "runx1"):
                if reader.has(f"gene-{gene}", _codings(component.valueCodeableConcept)):
                    genes.add(gene)
        elif reader.has("dna-change-type", codes):
            change_types.append(_codings(component.valueCodeableConcept))
    found = ["tp53"] if "tp53" in genes else []
    if "ikzf1" in genes:
        if not change_types:
            found.append("ikzf1-type-not-stated")
        elif any(reader.has("change-deletion", c) for c in change_types):
            found.append("ikzf1")
        else:
            found.append("ikzf1-not-deletion")
    if {"etv6", "runx1"} <= genes:  # one Variant naming both = the fusion (mCODE's way)
        found.append("etv6-runx1")
    return found
