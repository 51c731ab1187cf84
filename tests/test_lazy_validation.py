"""Lazy validation: only records that can change the answer are validated (service/fhir/select.py),
and the answer is the one validating everything gives. Property: on random charts (relapses with
full, partial, missing and broken dates, remissions before and after, blast counts near and far, MRD
results with and without Specimens, Variants present and absent, invalid records anywhere), the lazy
path and the validate-everything path give the same assessment. The only differences allowed are
what the lazy path does not read: a record that cannot change the answer is not on its timeline,
not named among the records not used when invalid, and counted in `recordsNotRead`."""

from __future__ import annotations

import copy
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_builders import (
    HGNC,
    LOINC,
    PATIENT_ID,
    SCT,
    blasts,
    cc,
    diagnosis,
    hsct,
    mrd,
    patient,
    record,
    relapse,
    remission,
    variant,
)
from service.fhir.cache import ModelCache
from service.fhir.parse import label, validate_resource
from service.fhir.select import select
from service.pipeline import evaluate
from service.render import EXTENSION_KEY, render

AS_OF = date(2024, 6, 1)
START = date(2015, 1, 1)


def _assess(app, prefetch: dict, *, lazy: bool, cache: ModelCache | None = None) -> dict:
    knowledge, service, selector = (app.extensions[k] for k in ("relapse_cds.knowledge", "relapse_cds.service", "relapse_cds.selector"))
    evaluation = evaluate(copy.deepcopy(prefetch), PATIENT_ID, knowledge, service, selector, AS_OF, lazy=lazy, cache=cache)
    return render(evaluation.assessment, knowledge, PATIENT_ID, AS_OF.isoformat()).extension[EXTENSION_KEY]


def _day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


@st.composite
def dates(draw, low: int = 0, high: int = 3000) -> str | None:
    """A date as an EHR may send it: a day, a dateTime, a month, a year, missing or broken."""
    offset = draw(st.integers(low, high))
    form = draw(st.sampled_from(["day", "day", "day", "datetime", "month", "year", "none", "broken"]))
    day = _day(offset)
    return {"day": day, "datetime": f"{day}T23:30:00+02:00", "month": day[:7], "year": day[:4], "none": None, "broken": "2019-02-30"}[form]


def _break(resource: dict, how: str) -> dict:
    if how == "element":
        resource["vendorFlag"] = True
    elif how == "status":
        resource["status"] = 7
    return resource


breakage = st.sampled_from(["none", "none", "none", "element", "status"])


@st.composite
def charts(draw) -> dict:
    resources = [patient(birth=draw(st.sampled_from(["2008-04-02", "2012-11", None])))]
    resources.append(diagnosis(draw(dates(0, 400))))
    relapse_days = draw(st.lists(st.integers(300, 2800), min_size=0, max_size=3))
    for offset in relapse_days:
        form = draw(st.sampled_from(["day", "day", "month", "datetime", "year", "none", "broken"]))
        onset = {"day": _day(offset), "month": _day(offset)[:7], "datetime": f"{_day(offset)}T00:30:00+09:00", "year": _day(offset)[:4],
                 "none": None, "broken": "2019-02-30"}[form]
        sites = draw(st.sampled_from([("marrow",), ("cns",), ("marrow", "cns"), ()]))
        resources.append(_break(relapse(onset, sites=sites), draw(st.sampled_from(["none", "none", "element"]))))
    for _ in range(draw(st.integers(0, 4))):
        resources.append(_break(remission(draw(dates(0, 3000))), draw(breakage)))
    anchors = relapse_days or [draw(st.integers(0, 3000))]
    for _ in range(draw(st.integers(0, 12))):
        near = draw(st.sampled_from(anchors)) + draw(st.integers(-40, 40))
        when = draw(st.one_of(st.just(_day(max(near, 0))), dates()))
        count = blasts(when, draw(st.sampled_from([500.0, 9000.0, 15000.0])), status=draw(st.sampled_from(["final", "final", "preliminary"])))
        resources.append(_break(count, draw(breakage)))
    specimen_ids = []
    for i in range(draw(st.integers(0, 3))):
        sid = f"spec-{i}"
        specimen_ids.append(sid)
        kind = draw(st.sampled_from(["119359002", "119297000"]))  # marrow, blood
        specimen = {"resourceType": "Specimen", "id": sid, "subject": {"reference": f"Patient/{PATIENT_ID}"}, "type": cc(SCT, kind)}
        resources.append(_break(specimen, draw(st.sampled_from(["none", "none", "element"]))))
    for _ in range(draw(st.integers(0, 5))):
        near = draw(st.sampled_from(anchors)) + draw(st.integers(-20, 90))
        where = draw(st.sampled_from(["marrow", "specimen", "missing-specimen", "blood"]))
        kw = {"body_site": "marrow"} if where == "marrow" else {"body_site": None}
        if where == "specimen" and specimen_ids:
            kw["specimen"] = f"Specimen/{draw(st.sampled_from(specimen_ids))}"
        elif where == "missing-specimen":
            kw["specimen"] = "Specimen/not-sent"
        resources.append(_break(mrd(_day(max(near, 0)), draw(st.sampled_from([0.01, 0.1, 0.5]))), draw(breakage)) | kw_fix(kw))
    for _ in range(draw(st.integers(0, 4))):
        genes = draw(st.sampled_from([("HGNC:11998",), ("HGNC:13176",), ("HGNC:3495", "HGNC:10471"), ("HGNC:7881",)]))
        resources.append(_break(variant(*genes, present=draw(st.booleans())), draw(breakage)))
    if draw(st.booleans()):
        resources.append(hsct(draw(dates(300, 3000))))
    order = draw(st.permutations(range(len(resources))))
    return record(*(resources[i] for i in order))


def kw_fix(kw: dict) -> dict:
    """bodySite/specimen members for an MRD result (the builder already set a marrow bodySite)."""
    out: dict = {}
    if kw.get("body_site") is None:
        out["bodySite"] = cc(SCT, "87612001")  # blood
    if "specimen" in kw:
        out["specimen"] = {"reference": kw["specimen"]}
    return out


def _same_answer(lazy: dict, full: dict, read: set[str]) -> None:
    """Equal but for the records the lazy path did not read (`read`: labels of those it did)."""
    lazy_problems, full_problems = lazy.pop("problems", []), full.pop("problems", [])
    lazy_timeline, full_timeline = lazy.pop("timeline", []), full.pop("timeline", [])
    not_read = lazy.pop("recordsNotRead", 0)
    assert "recordsNotRead" not in full
    assert lazy == full
    assert lazy_timeline == [e for e in full_timeline if set(e["source"]) <= read]
    assert len(full_timeline) - len(lazy_timeline) <= not_read
    assert set(lazy_problems) <= set(full_problems)
    for problem in set(full_problems) - set(lazy_problems):  # only about records not read
        assert problem.split(" ", 1)[0].rstrip(":") not in read, problem


def _read_labels(app, chart: dict) -> set[str]:
    resources = [chart["patient"]] + [e["resource"] for k in ("conditions", "observations", "procedures", "specimens") if chart.get(k) for e in chart[k]["entry"]]
    return {label(p.resource) for p in select(resources, PATIENT_ID, app.extensions["relapse_cds.selector"]).picks}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(charts())
def test_lazy_and_validate_everything_give_the_same_assessment(app, chart):
    _same_answer(_assess(app, chart, lazy=True), _assess(app, chart, lazy=False), _read_labels(app, chart))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(charts(), st.booleans())
def test_a_chart_opened_again_gives_the_same_assessment_from_the_cache(app, chart, after_answer):
    for key in ("conditions", "observations", "procedures", "specimens"):
        for n, entry in enumerate((chart.get(key) or {}).get("entry", [])):
            entry["resource"]["meta"] = {"versionId": str(n % 3 + 1)}
    cache = ModelCache(1000, store_after_answer=after_answer)
    first = _assess(app, chart, lazy=True, cache=cache)
    cache.store_pending()  # the service does this once the answer is sent
    misses = cache.misses
    again = _assess(app, chart, lazy=True, cache=cache)
    assert first == again == _assess(app, chart, lazy=True)
    assert cache.misses == misses and cache.hits >= misses  # the second opening validated nothing anew


def _selected_ids(app, chart: dict, lazy: bool = True) -> set[str]:
    resources = [chart["patient"]] + [e["resource"] for k in ("conditions", "observations", "procedures", "specimens") if chart.get(k) for e in chart[k]["entry"]]
    selection = select(resources, PATIENT_ID, app.extensions["relapse_cds.selector"], lazy=lazy)
    return {p.resource.get("id") for p in selection.picks}


def test_only_blast_counts_near_a_relapse_are_validated(app):
    near, far, undated = blasts("2018-06-10", 14000.0), blasts("2017-01-10", 14000.0), blasts(None, 14000.0)
    edge_in, edge_out = blasts("2018-07-06", 500.0), blasts("2018-07-07", 500.0)  # 16 and 17 days after (14 + 2 slack)
    chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), near, far, undated, edge_in, edge_out)
    chosen = _selected_ids(app, chart)
    assert {near["id"], undated["id"], edge_in["id"]} <= chosen and not {far["id"], edge_out["id"]} & chosen
    assert {far["id"], edge_out["id"]} <= _selected_ids(app, chart, lazy=False)
    answer = _assess(app, chart, lazy=True)
    placed = {src for event in answer["timeline"] for src in event["source"]}
    assert f"Observation/{near['id']}" in placed and f"Observation/{far['id']}" not in placed
    assert answer["recordsNotRead"] == 2


def test_a_partial_relapse_date_widens_the_window_to_every_day_it_may_be(app):
    late_in_month = blasts("2018-07-12", 14000.0)  # within 14 days of 2018-06-30, the last day of "2018-06"
    chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06"), late_in_month)
    assert late_in_month["id"] in _selected_ids(app, chart)


def test_an_undated_or_unreadable_relapse_date_validates_every_count_and_remission(app):
    far, cr1 = blasts("2016-01-10", 14000.0), remission("2014-03-10")
    for onset in (None, "2018-02-30", "not a date"):
        chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), relapse(onset), far, cr1)
        assert {far["id"], cr1["id"]} <= _selected_ids(app, chart), onset


def test_remissions_before_every_relapse_are_not_validated(app):
    cr1, cr2, undated, same_month = remission("2014-03-10"), remission("2018-07-30"), remission(None), remission("2018-06")
    chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), relapse("2019-09"), cr1, cr2, undated, same_month)
    chosen = _selected_ids(app, chart)
    assert {cr2["id"], undated["id"], same_month["id"]} <= chosen and cr1["id"] not in chosen  # "2018-06" may follow the 20th
    no_relapse = record(patient(), diagnosis("2014-02-01"), cr1, blasts("2014-02-02", 9000.0))
    assert _selected_ids(app, no_relapse) == {PATIENT_ID, no_relapse["conditions"]["entry"][0]["resource"]["id"]}


def test_a_remission_that_may_say_more_is_validated(app):
    with_morphology = remission("2014-03-10")
    with_morphology["extension"] = [{"url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior",
                                     "valueCodeableConcept": cc("http://terminology.hl7.org/CodeSystem/icd-o-3", "9837/3")}]
    with_down = remission("2014-03-11")
    with_down["code"]["coding"].append({"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Q90.9"})
    odd_code = remission("2014-03-12")
    odd_code["code"]["coding"].append({"system": 5, "code": "C91.00"})
    chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), with_morphology, with_down, odd_code)
    assert {with_morphology["id"], with_down["id"], odd_code["id"]} <= _selected_ids(app, chart)


def test_an_invalid_blast_count_is_reported(app):
    broken = blasts("2018-06-18", 14000.0)
    broken["vendorFlag"] = True
    chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), broken)
    assert any(p.startswith(f"Observation/{broken['id']}") for p in _assess(app, chart, lazy=True)["problems"])


def test_absent_variants_and_specimens_no_result_names_are_not_validated(app):
    absent, present = variant("HGNC:11998", present=False), variant("HGNC:11998")
    marrow = {"resourceType": "Specimen", "id": "s-marrow", "type": cc(SCT, "119359002")}
    unnamed = {"resourceType": "Specimen", "id": "s-other", "type": cc(SCT, "119359002")}
    result = mrd("2018-07-25", 0.5, body_site=None, specimen="Specimen/s-marrow")
    chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), absent, present, marrow, unnamed, result)
    chosen = _selected_ids(app, chart)
    assert {present["id"], "s-marrow", result["id"]} <= chosen
    assert not {absent["id"], "s-other"} & chosen
    assert {absent["id"], "s-other"} <= _selected_ids(app, chart, lazy=False)


def test_a_variant_whose_value_is_not_plainly_absent_is_validated(app):
    odd = variant("HGNC:11998", present=False)
    odd["valueCodeableConcept"]["coding"][0]["code"] = ["LA9634-2"]  # not a string: validation will say
    unreadable = variant("HGNC:11998", present=False)
    unreadable["valueCodeableConcept"]["coding"] = "LA9633-4"
    chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), odd, unreadable)
    assert {odd["id"], unreadable["id"]} <= _selected_ids(app, chart)


def test_the_realistic_chart_reads_only_what_can_decide_and_answers_as_validating_everything(app):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from chart import PATIENT_ID as CHART_PATIENT, chart

    prefetch = chart(300)
    knowledge, service, selector = (app.extensions[k] for k in ("relapse_cds.knowledge", "relapse_cds.service", "relapse_cds.selector"))
    answers = []
    for lazy in (True, False):
        evaluation = evaluate(prefetch, CHART_PATIENT, knowledge, service, selector, AS_OF, lazy=lazy)
        answers.append(render(evaluation.assessment, knowledge, CHART_PATIENT, AS_OF.isoformat()).extension[EXTENSION_KEY])
    resources = [prefetch["patient"]] + [e["resource"] for k in ("conditions", "observations", "procedures", "specimens") for e in prefetch[k]["entry"]]
    selection = select(resources, CHART_PATIENT, selector)
    not_read = answers[0]["recordsNotRead"]
    _same_answer(*answers, {label(p.resource) for p in selection.picks})
    assert answers[0]["relapseNumber"] == 1 and "high-peripheral-blasts" in answers[0]["flags"] and "high-mrd" in answers[0]["flags"]
    absent = [r for r in resources if r.get("valueCodeableConcept", {}).get("coding", [{}])[0].get("code") == "LA9634-2"]
    far_counts = [r for r in resources if r["id"].startswith("blasts-")]
    # Of 178 blast counts one is at the relapse; none of the absent Variants nor the CR1 remissions is read.
    assert selection.skipped == not_read >= len(absent) + len(far_counts) - 1


def test_the_cache_never_serves_another_content_under_the_same_version():
    valid = blasts("2018-06-10", 14000.0)
    valid["meta"] = {"versionId": "1"}
    cache = ModelCache(10)
    model, problem = cache.validated(valid, validate_resource)
    assert problem is None and cache.validated(copy.deepcopy(valid), validate_resource)[0] is model
    changed = copy.deepcopy(valid)
    changed["valueQuantity"]["value"] = 9.0
    assert float(cache.validated(changed, validate_resource)[0].valueQuantity.value) == 9.0
    as_float = copy.deepcopy(changed)  # 9 == 9.0 in Python; FHIR keeps the precision sent ("9.0 %")
    as_float["valueQuantity"]["value"] = 9
    assert as_float == changed and str(cache.validated(as_float, validate_resource)[0].valueQuantity.value) == "9"
    assert len(cache) <= 10


def test_a_cache_that_stores_after_the_answer_holds_nothing_new_until_told():
    """The service's cache: records validated anew wait for `store_pending` (called once the answer
    is sent); until then a request meeting one validates it, and the cache's bound holds after it."""
    cache = ModelCache(3, store_after_answer=True)
    resources = []
    for i in range(5):
        resource = blasts("2018-06-10", 100.0 + i)
        resource["meta"] = {"versionId": "1"}
        resources.append(resource)
    models = [cache.validated(r, validate_resource)[0] for r in resources]
    assert len(cache) == 0 and cache.misses == 0
    assert cache.validated(copy.deepcopy(resources[4]), validate_resource)[0] is not models[4]  # not cached yet
    cache.store_pending()
    assert len(cache) == 3 and cache.misses == 6  # the bound holds; the oldest went first
    assert cache.validated(copy.deepcopy(resources[4]), validate_resource)[0] is not None and cache.hits == 1
    misses = cache.misses
    changed = copy.deepcopy(resources[4])
    changed["valueQuantity"]["value"] = 9.0  # another content under the same version: validated, never served
    assert float(cache.validated(changed, validate_resource)[0].valueQuantity.value) == 9.0
    assert cache.misses == misses + 1  # its version was cached: the new content replaces it at once
    odd = blasts("2018-06-10", 7.0)
    odd["meta"] = {"versionId": "1"}
    odd["issued"] = date(2018, 6, 10)  # not JSON (an in-process caller's object): validated, never cached
    assert cache.validated(odd, validate_resource) == validate_resource(odd)
    cache.store_pending()
    assert cache.misses == misses + 1 and len(cache) == 3


def test_the_cache_is_bounded():
    cache = ModelCache(3)
    for i in range(10):
        resource = blasts("2018-06-10", 100.0 + i)
        resource["meta"] = {"versionId": "1"}
        cache.validated(resource, validate_resource)
    assert len(cache) == 3
    unversioned = blasts("2018-06-10", 5.0)
    cache.validated(unversioned, validate_resource)
    assert len(cache) == 3 and cache.misses == 10


def test_the_service_answers_a_chart_opened_again_from_its_cache():
    from conftest import SERVICE_URL, CheckedClient, assessment_of
    from fhir_builders import hook_request
    from service import create_app
    from service.config import Settings

    app = create_app(Settings(model_cache=64))
    client = CheckedClient(app.test_client())

    results = [mrd(f"2018-07-{10 + i:02d}", 0.5) for i in range(5)]
    for n, result in enumerate(results):
        result["meta"] = {"versionId": "1", "lastUpdated": f"2018-07-{10 + n:02d}T10:00:00Z"}
    body = hook_request(record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), *results))
    cache = app.extensions["relapse_cds.model_cache"]
    first = assessment_of(client.post(SERVICE_URL, json=body))
    hits = cache.hits
    assert assessment_of(client.post(SERVICE_URL, json=body)) == first
    assert cache.hits >= hits + len(results)


def test_the_cache_validates_what_it_cannot_key_on_content():
    from datetime import date as day

    odd = blasts("2018-06-10", 100.0)
    odd["meta"] = {"versionId": "1"}
    odd["issued"] = day(2018, 6, 10)  # not JSON: an in-process caller's object
    cache = ModelCache(10)
    cache.validated(odd, validate_resource)
    assert len(cache) == 0 and cache.misses == 0


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.from_regex(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?(T.{0,12})?", fullmatch=True), st.text(max_size=14)))
def test_the_raw_day_read_for_the_windows_is_the_day_the_features_read(text):
    """The selection pass reads a full day in C; it must place a record on the day the features reader
    does (or call it unreadable, which validates the record): never on another day."""
    from service.features.dates import parse_fhir_date
    from service.fhir.select import _raw_span

    parsed = parse_fhir_date(text)
    span = _raw_span(text, None)
    assert span is None or (parsed is not None and span == (parsed.earliest, parsed.latest))
    if text.isascii():
        assert span == ((parsed.earliest, parsed.latest) if parsed else None)


def test_a_relapse_record_invalid_only_in_a_required_narrative_status_is_unreadable_on_both_paths(app):
    """Found by an independent review: a record of a known shape whose narrative status is neither
    given nor explained by an extension is invalid FHIR, on the lazy path too, and with a warm cache."""
    div = '<div xmlns="http://www.w3.org/1999/xhtml">relapse</div>'
    first, second = relapse("2016-03-01"), relapse("2019-09-01")
    first["text"] = {"_status": {"extension": [{"url": "http://example.org/why", "valueString": "n/a"}]}, "div": div}
    second["text"] = {"_status": {"extension": []}, "div": div}
    for resource in (first, second):
        resource["meta"] = {"versionId": "1"}
    chart = record(patient(), diagnosis("2014-02-01"), first, remission("2017-01-10"), second)
    cache = ModelCache(100)
    lazy = _assess(app, chart, lazy=True, cache=cache)
    full = _assess(app, chart, lazy=False, cache=cache)
    assert "readableRelapseRecord" in lazy["missing"] and lazy["hsct"] == "undetermined"
    _same_answer(lazy, full, _read_labels(app, chart))
    assert _assess(app, chart, lazy=False) == _assess(app, chart, lazy=False, cache=cache)
