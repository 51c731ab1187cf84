"""Prefetch in all its states (CDS Hooks 2.0): present, key absent, null (no data), OperationOutcome."""

from __future__ import annotations

from conftest import SERVICE_URL, assessment_of
from fhir_builders import bundle, diagnosis, hook_request, mrd, patient, record, relapse
from render_md import plain

OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}


def late_marrow_record(**overrides):
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2019-06-01"), mrd("2019-07-05", 0.5, "%"))
    prefetch.update(overrides)
    return prefetch


def test_complete_prefetch(client):
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(late_marrow_record())))
    assert (a["cogRisk"], a["hsct"], a["missing"]) == ("intermediate", "consider", [])


def test_absent_observations_key_reports_mrd_missing(client):
    prefetch = late_marrow_record()
    del prefetch["observations"]
    response = client.post(SERVICE_URL, json=hook_request(prefetch))
    a = assessment_of(response)
    assert (a["cogRisk"], a["hsct"], a["missing"]) == ("intermediate", "undetermined", ["endReinductionMrd"])
    assert any("prefetch observations absent" in p for p in a["problems"])
    missing_card = [c for c in response.get_json()["cards"] if c["extension"]["org.relapse-cds.card"]["kind"] == "missing"]
    assert missing_card and missing_card[0]["indicator"] == "info"
    assert "Observations (MRD, blasts, genetics)" in plain(missing_card[0]["detail"]), "the missing card says what was not received"
    basis = [c for c in response.get_json()["cards"] if c["extension"]["org.relapse-cds.card"]["kind"] == "basis"]
    assert "prefetch observations absent" in basis[0]["detail"], "the basis card lists the records not used"


def test_operation_outcome_in_place_of_data_is_like_absent(client):
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(late_marrow_record(observations=OUTCOME))))
    assert a["hsct"] == "undetermined" and any("OperationOutcome" in p for p in a["problems"])


def test_null_means_no_data(client):
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(late_marrow_record(procedures=None))))
    assert a["hsct"] == "consider" and not any("procedures" in p for p in a.get("problems", []))


def test_absent_procedures_key_makes_prior_hsct_unknown(client):
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"))
    del prefetch["procedures"]
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))
    assert a["cogRisk"] == "high" and a["hsct"] == "undetermined" and a["missing"] == ["priorHsct"]


def test_absent_conditions_withholds_everything(client):
    prefetch = late_marrow_record()
    del prefetch["conditions"]
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))
    assert a["relapseNumber"] is None and a["cogRisk"] == a["hsct"] == "undetermined"
    assert {"relapseSite", "relapseDate"} <= set(a["missing"])


def test_no_prefetch_at_all(client):
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(None)))
    assert a["relapseNumber"] is None and len(a["problems"]) >= 4


def test_invalid_resource_inside_prefetch_is_skipped_and_named(client):
    broken = relapse("2016-05-01", sites=("cns",))
    broken["onsetDateTime"] = {"not": "a date"}
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"))
    prefetch["conditions"]["entry"].append({"resource": broken})
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))
    assert any(broken["id"] in p and "not valid FHIR" in p for p in a["problems"])
    # An unreadable relapse record may be a second relapse: the count is unknown, not 1.
    assert a["relapseNumber"] is None and a["cogRisk"] == "undetermined" and "readableRelapseRecord" in a["missing"]


def test_invalid_resource_that_is_not_a_relapse_is_skipped_and_the_rest_answered(client):
    broken = mrd("2016-02-10", 0.5)
    broken["effectiveDateTime"] = {"not": "a date"}
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"))
    prefetch["observations"] = bundle(broken)
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))
    assert a["relapseNumber"] == 1 and a["cogRisk"] == "high" and a["hsct"] == "recommended"
    assert any(broken["id"] in p and "not valid FHIR" in p for p in a["problems"])


def test_a_paged_bundle_says_only_the_first_page_was_read(client):
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"))
    prefetch["conditions"]["link"] = [{"relation": "next", "url": "https://ehr.example/fhir/Condition?page=2"}]
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))
    assert any("further pages" in p for p in a["problems"])


def test_single_resource_and_bundle_forms_are_both_read(client):
    prefetch = record(patient(), diagnosis("2015-01-10"))
    prefetch["conditions"] = bundle(diagnosis("2015-01-10"), relapse("2016-01-10"))
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))
    assert a["relapseNumber"] == 1


def early_marrow_record(**keys):
    prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2016-01-10"))
    prefetch.update(keys)
    return prefetch


def test_operation_outcome_for_procedures_makes_prior_hsct_unknown(client):
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(early_marrow_record(procedures=OUTCOME))))
    assert (a["cogRisk"], a["hsct"], a["missing"]) == ("high", "undetermined", ["priorHsct"])


def test_an_error_outcome_inside_a_searchset_is_not_complete_data(client):
    failed = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": dict(OUTCOME, id="search-error"), "search": {"mode": "outcome"}}]}
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(early_marrow_record(procedures=failed))))
    assert (a["hsct"], a["missing"]) == ("undetermined", ["priorHsct"])
    assert any("search reported an error" in p for p in a["problems"])


def test_a_warning_outcome_inside_a_searchset_is_noted_and_the_data_used(client):
    warned = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "informational"}]}}]}
    a = assessment_of(client.post(SERVICE_URL, json=hook_request(early_marrow_record(procedures=warned))))
    assert (a["hsct"], a["missing"]) == ("recommended", [])
    assert any("warning" in p for p in a["problems"])


def test_no_mrd_order_is_suggested_when_the_results_could_not_be_read(client):
    for observations in (OUTCOME, "absent"):
        prefetch = late_marrow_record(observations=observations)
        if observations == "absent":
            del prefetch["observations"]
        cards = client.post(SERVICE_URL, json=hook_request(prefetch)).get_json()["cards"]
        assert not any("suggestions" in c for c in cards)
    read_none = client.post(SERVICE_URL, json=hook_request(late_marrow_record(observations=None))).get_json()["cards"]
    assert any(s["label"].startswith("Order end-of-reinduction") for c in read_none for s in c.get("suggestions", []))


def test_consider_is_info_so_it_does_not_look_like_recommended(client):
    # A late marrow relapse is COG intermediate risk: `consider` alone does not raise a warning.
    response = client.post(SERVICE_URL, json=hook_request(late_marrow_record()))
    assert assessment_of(response)["hsct"] == "consider"
    assert response.get_json()["cards"][0]["indicator"] == "info"


def test_one_id_sent_twice_with_different_content_is_a_contradiction(client):
    first, second = relapse("2016-01-10", rid="rel-1"), relapse("2017-06-10", rid="rel-1")
    response = client.post(SERVICE_URL, json=hook_request(record(patient(), diagnosis("2015-01-10"), first, second)))
    a = assessment_of(response)
    assert (a["cogRisk"], a["hsct"]) == ("undetermined", "undetermined")
    assert any("Condition/rel-1" in c and "different content" in c for c in a["contradictions"])
    same = client.post(SERVICE_URL, json=hook_request(record(patient(), diagnosis("2015-01-10"), first, dict(first))))
    assert assessment_of(same)["relapseNumber"] == 1  # the same resource twice is one resource


def test_an_outcome_of_any_shape_in_a_searchset_fails_the_search_without_a_crash(client):
    for issue in ({"severity": ["error"]}, {"severity": {"a": 1}}, {}, {"severity": "Error"}, "x"):
        odd = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "OperationOutcome", "issue": [issue]}}]}
        a = assessment_of(client.post(SERVICE_URL, json=hook_request(early_marrow_record(procedures=odd))))
        assert (a["hsct"], a["missing"]) == ("undetermined", ["priorHsct"]), issue


def test_an_mrd_whose_specimen_cannot_be_read_is_not_skipped_for_a_later_one(client):
    unresolved = mrd("2019-02-10", 5, body_site=None, specimen="Specimen/bm1")
    later = mrd("2019-03-20", 0.001)
    for specimens in (None, "absent"):
        prefetch = record(patient(), diagnosis("2015-01-10"), relapse("2019-01-10"), unresolved, later)
        if specimens == "absent":
            del prefetch["specimens"]
        else:
            prefetch["specimens"] = specimens
        a = assessment_of(client.post(SERVICE_URL, json=hook_request(prefetch)))
        assert (a["hsct"], a["missing"]) == ("undetermined", ["endReinductionMrd"]), specimens
        assert any(f["name"] == "mrdSiteUnknown" for f in a["facts"])
