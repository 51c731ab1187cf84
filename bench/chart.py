"""A realistic relapsed-ALL chart for the benchmark: years of records that the rules really read.

What an EHR sends for a child treated for three years and more: peripheral blast counts from every
differential, a series of marrow MRD results each with its Specimen, genomic Variant panels at
diagnosis and at relapse, the ALL diagnosis repeated as an encounter diagnosis at every visit (C91.00,
then C91.01 in remission, C91.02 in relapse), a transplant, and routine labs that the prefetch's code
filter would not send but a careless client does (the selector drops them). Resources look like an
EHR's: identifiers, meta, categories, reference ranges, performers.

`chart(n)` scales the history: about `n` resources the rules read (the clinical story stays the same,
so the answer does too); the routine labs come on top. Deterministic for a seed. Up to 300 records
the whole history scales; past 300 a longer or denser history adds what grows with time, blood counts
and visits (blast counts, encounter diagnoses), while the marrow MRD series (one per treatment phase)
and the sequencing panels (one per diagnosis) stay as they are at 300. `grow_all=True` scales every
kind alike (a patient with 180 marrow aspirates: the upper bound, also reported).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

PATIENT_ID = "chart-patient"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HGNC = "http://www.genenames.org"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
MCODE_HISTOLOGY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"

DIAGNOSIS = date(2019, 3, 4)
CR1 = date(2019, 4, 2)
RELAPSE = date(2022, 5, 10)  # 38 months: a late marrow relapse, where blasts and MRD decide
CR2 = date(2022, 6, 14)
TRANSPLANT = date(2022, 9, 20)
END = date(2023, 3, 1)

#: Genes of a leukemia panel (HGNC id, symbol). Present at diagnosis: ETV6-RUNX1; at relapse also TP53.
PANEL = [("HGNC:11998", "TP53"), ("HGNC:13176", "IKZF1"), ("HGNC:7881", "NRAS"), ("HGNC:6407", "KRAS"), ("HGNC:3236", "EGFR"),
         ("HGNC:1787", "CDKN2A"), ("HGNC:9008", "PAX5"), ("HGNC:6192", "JAK2"), ("HGNC:2434", "CRLF2"), ("HGNC:7132", "MLL"),
         ("HGNC:1097", "BRAF"), ("HGNC:9644", "PTPN11"), ("HGNC:7765", "NF1"), ("HGNC:2514", "CREBBP"), ("HGNC:10451", "RB1")]
_ROUTINE = [("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 8, 14), ("777-3", "Platelets [#/volume] in Blood", "10*3/uL", 20, 400),
            ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 132, 146),
            ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 10, 200)]


def _cc(system: str, code: str, display: str, text: str | None = None) -> dict:
    concept: dict = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


class _Chart:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.counter = 0
        self.conditions: list[dict] = []
        self.observations: list[dict] = []
        self.procedures: list[dict] = []
        self.specimens: list[dict] = []

    def rid(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:05d}"

    def base(self, rtype: str, prefix: str, when: date) -> dict:
        rid = self.rid(prefix)
        stamp = datetime.combine(when, datetime.min.time(), timezone.utc) + timedelta(hours=self.rng.randrange(8, 18))
        return {
            "resourceType": rtype, "id": rid,
            "meta": {"versionId": str(self.rng.randrange(1, 4)), "lastUpdated": stamp.isoformat().replace("+00:00", "Z")},
            "identifier": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.798268", "value": rid.upper()}],
            "subject": {"reference": f"Patient/{PATIENT_ID}", "display": "Chart Patient"},
        }

    # -- Conditions -------------------------------------------------------------------------------------
    def condition(self, code: str, display: str, status: str, onset: date, recorded: date, *, site: bool = False, morphology: bool = False) -> None:
        res = self.base("Condition", "cond", recorded)
        res.update({
            "clinicalStatus": _cc(CLINICAL, status, status.title()),
            "verificationStatus": _cc(VERIFICATION, "confirmed", "Confirmed"),
            "category": [_cc("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis")],
            "code": _cc(ICD10, code, display, display),
            "encounter": {"reference": f"Encounter/enc-{recorded.isoformat()}"},
            "onsetDateTime": onset.isoformat(), "recordedDate": recorded.isoformat(),
        })
        if site:
            res["bodySite"] = [_cc(SCT, "14016003", "Bone marrow structure")]
        if morphology:
            res["extension"] = [{"url": MCODE_HISTOLOGY, "valueCodeableConcept": _cc(ICDO3, "9811/3", "B lymphoblastic leukemia/lymphoma, NOS")}]
        self.conditions.append(res)

    # -- Observations -----------------------------------------------------------------------------------
    def lab(self, code: str, display: str, when: date, value: float, unit: str, low: float | None = None, high: float | None = None, prefix: str = "lab") -> dict:
        res = self.base("Observation", prefix, when)
        stamp = f"{when.isoformat()}T{self.rng.randrange(7, 12):02d}:{self.rng.randrange(60):02d}:00Z"
        res.update({
            "status": "final",
            "category": [_cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")],
            "code": _cc(LOINC, code, display, display), "effectiveDateTime": stamp, "issued": stamp.replace("Z", ".000Z"),
            "performer": [{"reference": "Organization/lab-1", "display": "Hospital laboratory"}],
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        })
        if low is not None and high is not None:
            res["referenceRange"] = [{"low": {"value": low, "unit": unit, "system": UCUM, "code": unit},
                                      "high": {"value": high, "unit": unit, "system": UCUM, "code": unit}}]
        return res

    def blasts(self, when: date, per_ul: float) -> None:
        manual = self.rng.random() < 0.3
        code, display = ("708-8", "Blasts [#/volume] in Blood by Manual count") if manual else ("30376-8", "Blasts [#/volume] in Blood")
        res = self.lab(code, display, when, round(per_ul / 1000, 2), "10*3/uL", 0, 0, prefix="blasts")
        res["derivedFrom"] = [{"reference": f"DiagnosticReport/cbc-{when.isoformat()}"}]
        self.observations.append(res)

    def marrow_mrd(self, when: date, percent: float, with_specimen: bool = True) -> None:
        res = self.lab("67128-9", "Abnormal leukocytes/Leukocytes in Specimen by Flow cytometry", when, percent, "%", prefix="mrd")
        res["method"] = _cc(SCT, "4520001", "Flow cytometry")
        if with_specimen:
            specimen = self.base("Specimen", "spec", when)
            specimen.update({
                "status": "available", "type": _cc(SCT, "119359002", "Bone marrow specimen"),
                "collection": {"collectedDateTime": f"{when.isoformat()}T08:30:00Z", "bodySite": _cc(SCT, "14016003", "Bone marrow structure"),
                               "method": _cc(SCT, "396487001", "Sampling of bone marrow")},
            })
            self.specimens.append(specimen)
            res["specimen"] = {"reference": f"Specimen/{specimen['id']}"}
        else:
            res["bodySite"] = _cc(SCT, "14016003", "Bone marrow structure")
        self.observations.append(res)

    def variant(self, when: date, genes: list[tuple[str, str]], present: bool) -> None:
        res = self.base("Observation", "variant", when)
        components = [{"code": _cc(LOINC, "48018-6", "Gene studied [ID]"), "valueCodeableConcept": _cc(HGNC, hgnc, symbol)} for hgnc, symbol in genes]
        res.update({
            "status": "final",
            "category": [_cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")],
            "code": _cc(LOINC, "69548-6", "Genetic variant assessment"), "effectiveDateTime": when.isoformat(),
            "valueCodeableConcept": _cc(LOINC, "LA9633-4" if present else "LA9634-2", "Present" if present else "Absent"),
            "method": _cc(LOINC, "LA26398-0", "Sequencing"), "component": components,
        })
        self.observations.append(res)

    def routine(self, when: date) -> None:
        code, display, unit, low, high = self.rng.choice(_ROUTINE)
        self.observations.append(self.lab(code, display, when, round(self.rng.uniform(low, high), 1), unit, low, high))


def _days(start: date, end: date, count: int, rng: random.Random) -> list[date]:
    """`count` distinct-ish days spread over [start, end), sorted."""
    span = max((end - start).days, 1)
    return sorted(start + timedelta(days=int(i * span / count) + rng.randrange(0, max(span // count, 1))) for i in range(count))


#: Past this many records, only blood counts and visits grow (unless grow_all).
STORY_RECORDS = 300


def chart(deciding: int = 300, routine: int = 100, seed: int = 11, *, grow_all: bool = False) -> dict:
    """A prefetch dict (patient, conditions, observations, procedures, specimens) with about
    `deciding` resources that pass the code filter, and `routine` labs that do not."""
    c = _Chart(seed)
    rng = c.rng
    # Shares as in a real three-year chart: ~59% blast counts, 6% MRD + 6% Specimens, 11% variants,
    # ~17% encounter diagnoses, the rest transplant and patient.
    story = deciding if grow_all else min(deciding, STORY_RECORDS)
    n_mrd = max(6, round(story * 0.06))
    n_panels = max(2, round(story * 0.107 / 16))
    n_conditions = max(8, round(deciding * 0.17))
    n_blasts = max(10, deciding - 1 - 2 * n_mrd - 16 * n_panels - n_conditions - 2)

    # Blast counts: high at diagnosis and at relapse, nought in remission. The relapse workup has one
    # count two days before the relapse date (the one the rules read), others far from it.
    for day in _days(DIAGNOSIS - timedelta(days=1), END, n_blasts - 1, rng):
        if abs((day - RELAPSE).days) <= 14:
            day = day + timedelta(days=30)  # keep exactly one count in the relapse window
        high = day < CR1 or RELAPSE <= day < CR2
        c.blasts(day, rng.uniform(4000, 9000) if high else 0)
    c.blasts(RELAPSE - timedelta(days=2), 14200)

    # Marrow MRD: end of induction, follow-up in CR1, relapse workup, end of reinduction (high), after HSCT.
    c.marrow_mrd(CR1, 0.008)
    c.marrow_mrd(RELAPSE, 62.0, with_specimen=False)
    c.marrow_mrd(RELAPSE + timedelta(days=35), 0.3)  # end of reinduction: 3 x 10^-3, high
    before = (n_mrd - 3) // 2
    for day in _days(CR1 + timedelta(days=60), RELAPSE - timedelta(days=90), before, rng):
        c.marrow_mrd(day, 0.0)
    for day in _days(TRANSPLANT + timedelta(days=30), END, n_mrd - 3 - before, rng):
        c.marrow_mrd(day, 0.0)

    # Variant panels: half at diagnosis, half at relapse. ETV6-RUNX1 fusion present at diagnosis, TP53 at relapse.
    for i in range(n_panels):
        at_relapse = i >= n_panels // 2
        when = (RELAPSE + timedelta(days=3)) if at_relapse else (DIAGNOSIS + timedelta(days=5))
        c.variant(when, [("HGNC:3495", "ETV6"), ("HGNC:10471", "RUNX1")], present=not at_relapse)
        if at_relapse:
            c.variant(when, [PANEL[0]], present=True)
        for gene in PANEL[1:] if at_relapse else PANEL:
            c.variant(when, [gene], present=False)

    # Encounter diagnoses: the episode's code at each visit, its onset the episode's start.
    episodes = [("C91.00", "Acute lymphoblastic leukemia not having achieved remission", "active", DIAGNOSIS, CR1),
                ("C91.01", "Acute lymphoblastic leukemia, in remission", "remission", CR1, RELAPSE),
                ("C91.02", "Acute lymphoblastic leukemia, in relapse", "relapse", RELAPSE, CR2),
                ("C91.01", "Acute lymphoblastic leukemia, in remission", "remission", CR2, END)]
    weights = (0.2, 0.45, 0.1, 0.25)
    for (code, display, status, onset, until), weight in zip(episodes, weights):
        visits = max(1, round(n_conditions * weight))
        for day in _days(onset, until, visits, rng):
            c.condition(code, display, status, onset, day, site=code == "C91.02", morphology=code == "C91.00" and day == onset)

    hsct = c.base("Procedure", "proc", TRANSPLANT)
    hsct.update({"status": "completed", "code": _cc(SCT, "234336002", "Hemopoietic stem cell transplant"),
                 "performedDateTime": TRANSPLANT.isoformat(), "performer": [{"actor": {"reference": "Practitioner/bmt-1"}}]})
    c.procedures.append(hsct)
    for day in _days(DIAGNOSIS, END, routine, rng):
        c.routine(day)

    patient = {"resourceType": "Patient", "id": PATIENT_ID, "meta": {"versionId": "3", "lastUpdated": "2023-02-01T10:00:00Z"},
               "identifier": [{"system": "urn:mrn", "value": "000123"}], "name": [{"family": "Chart", "given": ["Patient"]}],
               "birthDate": "2011-09-14", "gender": "female"}
    return {"patient": patient, "conditions": _searchset(c.conditions), "observations": _searchset(c.observations),
            "procedures": _searchset(c.procedures), "specimens": _searchset(c.specimens)}


def _searchset(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"https://ehr.example/fhir/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in resources]}


def hook_request(deciding: int = 300, routine: int = 100, *, grow_all: bool = False) -> dict:
    return {"hook": "patient-view", "hookInstance": "0b6d4a2e-2a70-4c3c-9d59-2f1f51d0c002",
            "context": {"userId": "Practitioner/bench", "patientId": PATIENT_ID}, "prefetch": chart(deciding, routine, grow_all=grow_all)}
