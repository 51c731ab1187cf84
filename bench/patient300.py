"""A realistic 300-resource patient for the benchmark: a relapsed B-ALL with years of routine labs."""

from __future__ import annotations

import random
from datetime import date, timedelta

PATIENT_ID = "bench-patient"
_LABS = [("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 8, 14), ("6690-2", "Leukocytes [#/volume] in Blood", "10*3/uL", 1, 12),
         ("777-3", "Platelets [#/volume] in Blood", "10*3/uL", 20, 400), ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 132, 146),
         ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.2, 5.1), ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 10, 200)]


def _ref() -> dict:
    return {"reference": f"Patient/{PATIENT_ID}"}


def _cc(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def build(total: int = 300, seed: int = 7) -> dict:
    """Prefetch dict with `total` resources in all (Patient + Conditions + Observations + Procedures)."""
    rng = random.Random(seed)
    icd, sct, loinc = "http://hl7.org/fhir/sid/icd-10-cm", "http://snomed.info/sct", "http://loinc.org"
    status = lambda c: _cc("http://terminology.hl7.org/CodeSystem/condition-clinical", c, c.title())  # noqa: E731
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "2008-04-02", "gender": "male",
               "name": [{"family": "Bench", "given": ["Patient"]}], "identifier": [{"system": "urn:mrn", "value": "000123"}]}
    conditions = [
        {"resourceType": "Condition", "id": "dx", "subject": _ref(), "code": _cc(icd, "C91.00", "ALL not having achieved remission"),
         "clinicalStatus": status("active"), "onsetDateTime": "2014-02-11",
         "extension": [{"url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior",
                        "valueCodeableConcept": _cc("http://terminology.hl7.org/CodeSystem/icd-o-3", "9811/3", "B lymphoblastic leukemia/lymphoma, NOS")}]},
        {"resourceType": "Condition", "id": "cr1", "subject": _ref(), "code": _cc(icd, "C91.01", "ALL in remission"), "clinicalStatus": status("remission"), "onsetDateTime": "2014-03-15"},
        {"resourceType": "Condition", "id": "rel1", "subject": _ref(), "code": _cc(icd, "C91.02", "ALL in relapse"), "clinicalStatus": status("relapse"),
         "onsetDateTime": "2018-06-20", "bodySite": [_cc(sct, "14016003", "Bone marrow structure")]},
        {"resourceType": "Condition", "id": "cr2", "subject": _ref(), "code": _cc(icd, "C91.01", "ALL in remission"), "clinicalStatus": status("remission"), "onsetDateTime": "2018-07-25"},
    ]
    observations = [
        {"resourceType": "Observation", "id": "mrd-1", "status": "final", "subject": _ref(), "code": _cc(loinc, "67128-9", "Abnormal leukocytes/Leukocytes in Specimen by Flow cytometry"),
         "bodySite": _cc(sct, "14016003", "Bone marrow structure"), "effectiveDateTime": "2018-07-24",
         "valueQuantity": {"value": 0.3, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}},
        {"resourceType": "Observation", "id": "blasts-1", "status": "final", "subject": _ref(), "code": _cc(loinc, "30376-8", "Blasts [#/volume] in Blood"),
         "effectiveDateTime": "2018-06-19", "valueQuantity": {"value": 14.2, "unit": "10*3/uL", "system": "http://unitsofmeasure.org", "code": "10*3/uL"}},
    ]
    procedures = [{"resourceType": "Procedure", "id": f"bmbx-{i}", "status": "completed", "subject": _ref(),
                   "code": _cc(sct, "396487001", "Sampling of bone marrow"), "performedDateTime": f"201{4 + i}-06-01"} for i in range(4)]
    start = date(2014, 2, 11)
    while 1 + len(conditions) + len(observations) + len(procedures) < total:
        code, display, unit, low, high = rng.choice(_LABS)
        day = start + timedelta(days=rng.randrange(0, 1800))
        observations.append({
            "resourceType": "Observation", "id": f"lab-{len(observations)}", "status": "final", "subject": _ref(),
            "category": [_cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")],
            "code": _cc(loinc, code, display), "effectiveDateTime": f"{day.isoformat()}T08:00:00Z",
            "valueQuantity": {"value": round(rng.uniform(low, high), 1), "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        })
    searchset = lambda rs: {"resourceType": "Bundle", "type": "searchset", "total": len(rs), "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r, "search": {"mode": "match"}} for r in rs]}  # noqa: E731
    return {"patient": patient, "conditions": searchset(conditions), "observations": searchset(observations),
            "procedures": searchset(procedures), "specimens": None}


def hook_request(total: int = 300) -> dict:
    return {"hook": "patient-view", "hookInstance": "0b6d4a2e-2a70-4c3c-9d59-2f1f51d0c001",
            "context": {"userId": "Practitioner/bench", "patientId": PATIENT_ID}, "prefetch": build(total)}
