"""Partial FHIR dates and calendar-month bands (the contract's boundaries)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.features.dates import add_months, parse_fhir_date, whole_years_between
from service.rules.timing import band, band_of, whole_months


@pytest.mark.parametrize(("text", "earliest", "latest"), [
    ("2016", date(2016, 1, 1), date(2016, 12, 31)),
    ("2016-02", date(2016, 2, 1), date(2016, 2, 29)),
    ("2016-03-14", date(2016, 3, 14), date(2016, 3, 14)),
    ("2016-03-14T23:30:00-05:00", date(2016, 3, 14), date(2016, 3, 14)),
])
def test_partial_dates_cover_their_interval(text, earliest, latest):
    parsed = parse_fhir_date(text)
    assert (parsed.earliest, parsed.latest) == (earliest, latest)
    assert parsed.partial == (earliest != latest)


@pytest.mark.parametrize("text", ["", "yesterday", "2016-13", "2016-02-30", "16-03-01", None])
def test_invalid_dates_are_none(text):
    assert parse_fhir_date(text) is None


def test_add_months_clamps_to_month_end():
    assert add_months(date(2020, 8, 31), 18) == date(2022, 2, 28)
    assert add_months(date(2019, 8, 31), 6) == date(2020, 2, 29)
    assert add_months(date(2020, 1, 15), 36) == date(2023, 1, 15)


DX = date(2016, 3, 14)


@pytest.mark.parametrize(("relapse", "expected"), [
    (date(2017, 9, 13), "<18"),  # 17.97 months: one day before 18 months
    (date(2017, 9, 14), "18-36"),  # 18 months to the day
    (date(2019, 3, 14), "18-36"),  # 36 months to the day is still 18-36
    (date(2019, 3, 15), ">36"),  # 36.03 months
])
def test_contract_month_boundaries(relapse, expected):
    assert band(DX, relapse) == expected


@given(st.dates(date(1990, 1, 1), date(2040, 1, 1)), st.integers(0, 120))
def test_band_is_monotone_and_matches_whole_months(dx, days_later_months):
    relapse = add_months(dx, days_later_months)
    months = whole_months(dx, relapse)
    assert months == days_later_months or dx.day > 28  # clamped month ends may count one less
    expected = "<18" if months < 18 else ("18-36" if months < 36 or relapse <= add_months(dx, 36) else ">36")
    assert band(dx, relapse) == expected
    order = ["<18", "18-36", ">36"]
    assert order.index(band(dx, relapse + timedelta(days=1))) >= order.index(band(dx, relapse))


def test_partial_date_band_reports_the_other_possible_bands():
    chosen, allowed = band_of(parse_fhir_date("2016-03"), parse_fhir_date("2017-09-15"))
    assert chosen == "18-36"  # earliest days: 2016-03-01 -> 2017-09-01 is 18 months
    assert allowed == {"<18", "18-36"}


@pytest.mark.parametrize(("birth", "on", "years"), [
    (date(2006, 5, 1), date(2016, 4, 30), 9),
    (date(2006, 5, 1), date(2016, 5, 1), 10),  # the 10th birthday counts as 10
    (date(2008, 2, 29), date(2018, 2, 28), 9),
    (date(2008, 2, 29), date(2018, 3, 1), 10),
])
def test_completed_years(birth, on, years):
    assert whole_years_between(birth, on) == years
