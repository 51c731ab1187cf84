"""FHIR dates as the rules need them: partial dates, and time counted in calendar months.

FHIR allows `2016`, `2016-03`, `2016-03-14` and dateTimes. The data contract says: order by the
earliest possible day and say so. `FhirDate` keeps both ends of the interval a partial date stands
for, so the assessment can tell when a partial date makes a month band uncertain.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T.*)?$")


@dataclass(frozen=True, order=True)
class FhirDate:
    """A FHIR date/dateTime reduced to the interval of calendar days it may mean."""

    earliest: date
    latest: date
    text: str

    @property
    def partial(self) -> bool:
        return self.earliest != self.latest

    def __str__(self) -> str:
        return self.text


def parse_fhir_date(value: object) -> FhirDate | None:
    """Parse a FHIR date or dateTime; None when absent or not a valid date.

    A dateTime keeps the calendar date it was written with (its local date): a relapse recorded
    at 23:30 on the 14th happened on the 14th in the reporting clinic's calendar.
    """
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, date) else str(value)
    match = _DATE.match(text)
    if not match:
        return None
    year, month, day = match.group(1), match.group(2), match.group(3)
    try:
        y = int(year)
        if month is None:
            return FhirDate(date(y, 1, 1), date(y, 12, 31), text)
        m = int(month)
        if day is None:
            return FhirDate(date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]), text)
        d = date(y, m, int(day))
        return FhirDate(d, d, text)
    except ValueError:
        return None


def add_months(start: date, months: int) -> date:
    """The same day of the month `months` later; the month's last day when that day does not exist.

    31 August + 18 months is 28 (or 29) February: a relapse on that day is at 18 months.
    """
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    if year > date.max.year:  # FHIR allows year 9999; the calendar ends there (such a date is implausible anyway)
        return date.max
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def whole_years_between(birth: date, on: date) -> int:
    """Completed years of age on a day (the birthday itself counts as reached)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def days_between(a: date, b: date) -> int:
    return abs((b - a).days)
