"""Lazy validation: only records that can change the answer are validated (service/fhir/select.py),
and the answer is the one validating everything gives. Property: on random charts (relapses with
full, partial, missing and broken dates, remissions before and after, blast counts near and far, MRD
results with and without Specimens, Variants present and absent, invalid records anywhere), the lazy
path and the validate-everything path give the same assessment, timeline included; the only
difference allowed is that an invalid record that cannot change the answer is not named among the
records not used."""

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
from service.fhir.parse import validate_resource
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
        form = draw(st.sampled_from(["day", "day", "month", "none"]))
        onset = {"day": _day(offset), "month": _day(offset)[:7], "none": None}[form]
        sites = draw(st.sampled_from([("marrow",), ("cns",), ("marrow", "cns"), ()]))
        resources.append(_break(relapse(onset, sites=sites), draw(st.sampled_from(["none", "none", "element"]))))
    for _ in range(draw(st.integers(0, 4))):
        resources.append(_break(remission(_day(draw(st.integers(0, 3000)))), draw(breakage)))
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


def _same_answer(lazy: dict, full: dict) -> None:
    lazy_problems, full_problems = lazy.pop("problems", []), full.pop("problems", [])
    assert lazy == full
    assert set(lazy_problems) <= set(full_problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(charts())
def test_lazy_and_validate_everything_give_the_same_assessment(app, chart):
    _same_answer(_assess(app, chart, lazy=True), _assess(app, chart, lazy=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(charts())
def test_a_chart_opened_again_gives_the_same_assessment_from_the_cache(app, chart):
    for key in ("conditions", "observations", "procedures", "specimens"):
        for n, entry in enumerate((chart.get(key) or {}).get("entry", [])):
            entry["resource"]["meta"] = {"versionId": str(n % 3 + 1)}
    cache = ModelCache(1000)
    first = _assess(app, chart, lazy=True, cache=cache)
    misses = cache.misses
    again = _assess(app, chart, lazy=True, cache=cache)
    assert first == again == _assess(app, chart, lazy=True)
    assert cache.misses == misses and cache.hits >= misses  # the second opening validated nothing anew


def _selected_ids(app, chart: dict, lazy: bool = True) -> set[str]:
    resources = [chart["patient"]] + [e["resource"] for k in ("conditions", "observations", "procedures", "specimens") if chart.get(k) for e in chart[k]["entry"]]
    selection = select(resources, PATIENT_ID, app.extensions["relapse_cds.selector"], lazy=lazy)
    return {p.resource.get("id") for p in selection.picks}


def test_every_blast_count_is_validated_and_on_the_timeline(app):
    near, far = blasts("2018-06-10", 14000.0), blasts("2017-01-10", 14000.0)
    chart = record(patient(), diagnosis("2014-02-01"), relapse("2018-06-20"), near, far)
    assert {near["id"], far["id"]} <= _selected_ids(app, chart)
    placed = {src for event in _assess(app, chart, lazy=True)["timeline"] for src in event["source"]}
    assert {f"Observation/{near['id']}", f"Observation/{far['id']}"} <= placed


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


def test_the_realistic_chart_skips_its_absent_variants_and_answers_as_validating_everything(app):
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
    assert answers[0] == answers[1]
    assert answers[0]["relapseNumber"] == 1 and "high-peripheral-blasts" in answers[0]["flags"] and "high-mrd" in answers[0]["flags"]
    resources = [prefetch["patient"]] + [e["resource"] for k in ("conditions", "observations", "procedures", "specimens") for e in prefetch[k]["entry"]]
    absent = [r for r in resources if r.get("valueCodeableConcept", {}).get("coding", [{}])[0].get("code") == "LA9634-2"]
    assert absent and select(resources, CHART_PATIENT, selector).skipped == len(absent)


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
