"""Small builders for FHIR R4 test resources, so each test states only what it is about."""

from __future__ import annotations

import itertools
from typing import Any

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
UCUM = "http://unitsofmeasure.org"
HGNC = "http://www.genenames.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
MCODE_HISTOLOGY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
SITES = {"marrow": "14016003", "cns": "21483005", "testis": "40689003"}
PATIENT_ID = "pat-1"
_ids = itertools.count(1)


def cc(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def patient(birth: str | None = "2010-05-01", gender: str | None = "male", pid: str = PATIENT_ID) -> dict:
    res: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if birth:
        res["birthDate"] = birth
    if gender:
        res["gender"] = gender
    return res


def condition(code: tuple[str, str], onset: str | None, *, status: str | None = "active", sites: tuple[str, ...] = (),
              morphology: str | None = None, extra_codes: tuple[tuple[str, str], ...] = (), verification: str | None = None,
              pid: str = PATIENT_ID, rid: str | None = None) -> dict:
    res: dict[str, Any] = {
        "resourceType": "Condition", "id": rid or f"cond-{next(_ids)}",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": s, "code": c} for s, c in (code, *extra_codes)]},
    }
    if status:
        res["clinicalStatus"] = cc(CLINICAL, status)
    if verification:
        res["verificationStatus"] = cc(VERIFICATION, verification)
    if onset:
        res["onsetDateTime"] = onset
    if sites:
        res["bodySite"] = [cc(SCT, SITES.get(s, s)) for s in sites]
    if morphology:
        res["extension"] = [{"url": MCODE_HISTOLOGY, "valueCodeableConcept": cc(ICDO3, morphology)}]
    return res


def diagnosis(onset: str | None = "2015-01-10", morphology: str | None = "9811/3", **kw) -> dict:
    return condition((ICD10, "C91.00"), onset, morphology=morphology, **kw)


def relapse(onset: str | None, sites: tuple[str, ...] = ("marrow",), **kw) -> dict:
    return condition((ICD10, "C91.02"), onset, status="relapse", sites=sites, **kw)


def remission(onset: str, **kw) -> dict:
    return condition((ICD10, "C91.01"), onset, status="remission", **kw)


def observation(loinc: str, when: str | None, value: float | None = None, unit: str | None = None, *,
                status: str = "final", body_site: str | None = None, comparator: str | None = None,
                specimen: str | None = None, pid: str = PATIENT_ID) -> dict:
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": f"obs-{next(_ids)}", "status": status,
        "subject": {"reference": f"Patient/{pid}"}, "code": cc(LOINC, loinc),
    }
    if when:
        res["effectiveDateTime"] = when
    if value is not None:
        q: dict[str, Any] = {"value": value}
        if unit is not None:
            q.update(unit=unit, system=UCUM, code=unit)
        if comparator:
            q["comparator"] = comparator
        res["valueQuantity"] = q
    if body_site:
        res["bodySite"] = cc(SCT, SITES.get(body_site, body_site))
    if specimen:
        res["specimen"] = {"reference": specimen}
    return res


def mrd(when: str, value: float, unit: str = "%", **kw) -> dict:
    kw.setdefault("body_site", "marrow")
    return observation("67128-9", when, value, unit, **kw)


def blasts(when: str, value: float, unit: str = "/uL", **kw) -> dict:
    return observation("30376-8", when, value, unit, **kw)


def variant(*hgnc_ids: str, present: bool = True, system: str = HGNC) -> dict:
    return {
        "resourceType": "Observation", "id": f"var-{next(_ids)}", "status": "final",
        "subject": {"reference": f"Patient/{PATIENT_ID}"}, "code": cc(LOINC, "69548-6"),
        "valueCodeableConcept": cc(LOINC, "LA9633-4" if present else "LA9634-2"),
        "component": [{"code": cc(LOINC, "48018-6"), "valueCodeableConcept": cc(system, g)} for g in hgnc_ids],
    }


def hsct(when: str | None, status: str = "completed", code: str = "234336002") -> dict:
    res: dict[str, Any] = {
        "resourceType": "Procedure", "id": f"proc-{next(_ids)}", "status": status,
        "subject": {"reference": f"Patient/{PATIENT_ID}"}, "code": cc(SCT, code),
    }
    if when:
        res["performedDateTime"] = when
    return res


def bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def hook_request(prefetch: dict | None = None, patient_id: str = PATIENT_ID, **extra) -> dict:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def record(*resources: dict) -> dict:
    """A complete prefetch: resources sorted into the service's keys (every key present)."""
    keys = {"patient": None, "conditions": [], "observations": [], "procedures": [], "specimens": []}
    for r in resources:
        rt = r["resourceType"]
        if rt == "Patient":
            keys["patient"] = r
        else:
            keys[{"Condition": "conditions", "Observation": "observations", "Procedure": "procedures", "Specimen": "specimens"}[rt]].append(r)
    return {k: (v if k == "patient" else (bundle(*v) if v else None)) for k, v in keys.items()}
