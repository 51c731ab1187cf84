"""Discovery: the service says what it is and asks, by code, for exactly the data its rules read.

The expected concepts per query are written here independently of service/fhir/select.py: every
concept in mappings/ is either searched for by code, or read inside a resource so fetched."""

from __future__ import annotations

from urllib.parse import parse_qsl

from service.knowledge.mappings import CONCEPTS

SEARCHED = {
    "conditions": {"all-diagnosis", "all-in-remission", "all-in-relapse", "all-failed-remission", "lineage-b-precursor",
                   "lineage-t-cell", "lineage-not-stated", "subtype-etv6-runx1", "subtype-bcr-abl1", "subtype-kmt2a",
                   "down-syndrome"},
    "observations": {"mrd", "peripheral-blasts", "genetic-variant-assessment"},
    "procedures": {"hsct"},
    "specimens": {"specimen-bone-marrow"},
}
#: Concepts read inside a fetched resource (body sites, statuses, Variant components), never searched for.
READ_INSIDE = {"site-bone-marrow", "site-cns", "site-testis", "status-relapse", "status-remission", "verification-ignored",
               "variant-present", "gene-studied", "dna-change-type", "change-deletion", "gene-tp53", "gene-ikzf1",
               "gene-etv6", "gene-runx1"}
RESOURCE = {"conditions": "Condition", "observations": "Observation", "procedures": "Procedure", "specimens": "Specimen"}


#: Read in the order-sign context (draftOrders), never searched for.
DRAFT_ORDERS = {"hsct-order"}


def service(client) -> dict:
    services = client.get("/cds-services").get_json()["services"]
    assert [s["hook"] for s in services] == ["patient-view", "order-sign"]
    return services[0]


def test_the_order_sign_service_has_the_same_prefetch(client):
    patient_view, order_sign = client.get("/cds-services").get_json()["services"]
    assert "hsct" in order_sign["id"] and order_sign["id"] != patient_view["id"]
    assert order_sign["prefetch"] == patient_view["prefetch"]
    assert order_sign["title"].strip() and order_sign["description"].strip()


def test_the_service_declares_itself(client):
    s = service(client)
    assert s["hook"] == "patient-view" and "relapse" in s["id"]
    assert s["title"].strip() and s["description"].strip()


def test_every_concept_is_searched_for_or_read_inside_a_fetched_resource():
    searched = set().union(*SEARCHED.values())
    assert searched | READ_INSIDE | DRAFT_ORDERS == CONCEPTS and not searched & READ_INSIDE


def test_each_query_is_for_this_patient_and_names_exactly_the_codes_of_its_concepts(client, knowledge):
    prefetch = service(client)["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert set(prefetch) == {"patient", *SEARCHED}
    for key, concepts in SEARCHED.items():
        resource, _, query = prefetch[key].partition("?")
        assert resource == RESOURCE[key]
        params = dict(parse_qsl(query, keep_blank_values=True))
        assert params.pop("patient") == "{{context.patientId}}"
        (name, value), = params.items()
        assert name == ("type" if key == "specimens" else "code")
        asked = set(value.split(","))
        expected = {f"{e.system}|{e.code}" for concept in concepts for e in knowledge.codemap.codes(concept)}
        assert asked == expected, key
