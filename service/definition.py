"""The CDS service, declared in one place: id, hook, title, description and prefetch.

Prefetch queries are built from `mappings/`, so every code the mappings recognise is reachable and a
site's added lab code is fetched without a code change. Queries filter by code so that a patient
with years of routine labs does not ship thousands of resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .fhir.select import CONDITION_CONCEPTS, OBSERVATION_CONCEPTS, PROCEDURE_CONCEPTS
from .knowledge.mappings import CodeMap

PATIENT_TOKEN = "{{context.patientId}}"


@dataclass(frozen=True)
class PrefetchKey:
    key: str
    query: str
    domain: str  # the kind of data it carries; when it cannot be had, this domain is unavailable


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    prefetch: tuple[PrefetchKey, ...] = field(default_factory=tuple)
    usage_requirements: str = (
        "Call on patient-view for children with acute lymphoblastic leukemia. Prefetch the keys "
        "listed; an absent key is reported as missing data on the cards."
    )

    def discovery(self) -> dict:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": {p.key: p.query for p in self.prefetch},
            "usageRequirements": self.usage_requirements,
        }


def _code_param(codemap: CodeMap, concepts: tuple[str, ...]) -> str:
    seen: list[str] = []
    for concept in concepts:
        for entry in codemap.codes(concept):
            token = f"{entry.system}|{entry.code}"
            if token not in seen:
                seen.append(token)
    return ",".join(seen)


def relapse_service(codemap: CodeMap) -> ServiceDefinition:
    keys = [
        PrefetchKey("patient", f"Patient/{PATIENT_TOKEN}", "patient"),
        PrefetchKey("conditions", f"Condition?patient={PATIENT_TOKEN}&code={_code_param(codemap, CONDITION_CONCEPTS)}", "conditions"),
        PrefetchKey("observations", f"Observation?patient={PATIENT_TOKEN}&code={_code_param(codemap, OBSERVATION_CONCEPTS)}", "observations"),
        PrefetchKey("procedures", f"Procedure?patient={PATIENT_TOKEN}&code={_code_param(codemap, PROCEDURE_CONCEPTS)}", "procedures"),
    ]
    specimen_types = _code_param(codemap, ("specimen-bone-marrow",))
    if specimen_types:
        keys.append(PrefetchKey("specimens", f"Specimen?patient={PATIENT_TOKEN}&type={specimen_types}", "specimens"))
    return ServiceDefinition(
        id="relapse-all-assessment",
        hook="patient-view",
        title="Relapsed childhood ALL: risk group and HSCT indication",
        description=(
            "For a child with acute lymphoblastic leukemia in relapse: COG relapse risk group (Table 4), "
            "HSCT indication, prognostic factors and missing data, per the NCI PDQ summary "
            "'Treatment of Relapsed Childhood ALL', with the facts and references behind each card."
        ),
        prefetch=tuple(keys),
    )


def hsct_order_service(codemap: CodeMap) -> ServiceDefinition:
    """order-sign: a drafted HSCT order checked against the relapse assessment; the same prefetch as
    patient-view, since the check needs the whole assessment."""
    return ServiceDefinition(
        id="relapse-all-hsct-order-check",
        hook="order-sign",
        title="Relapsed childhood ALL: HSCT order checked against the indication",
        description=(
            "When a stem cell transplant (or transplant referral) is ordered for a child with relapsed ALL: "
            "the HSCT indication per the NCI PDQ summary 'Treatment of Relapsed Childhood ALL', a warning when "
            "the summary gives chemotherapy as the standard, and the transplant work-up when transplant is indicated."
        ),
        prefetch=relapse_service(codemap).prefetch,
        usage_requirements=(
            "Call on order-sign with the draft orders in context.draftOrders (a Bundle). Only draft "
            "ServiceRequests coding a stem cell transplant (mappings/, concept hsct-order) get a card. "
            "Prefetch the keys listed, as for the patient-view service."
        ),
    )
