"""Time from diagnosis to relapse, in calendar months, as COG Table 4's rows need it.

Data contract: "a relapse on the same day of the month 18 months after diagnosis is at 18 months,
which is the 18-36 band; one day earlier is < 18 months. 36 months exactly is still the 18-36 band;
one day later is > 36 months." Partial dates use their earliest possible day (contract); the
assessment notes when the other end of a partial date would fall in another band.
"""

from __future__ import annotations

from datetime import date

from ..features.dates import FhirDate, add_months

EARLY_MONTHS = 18  # Table 4: "<18 months from diagnosis"
LATE_MONTHS = 36  # Table 4: ">36 months from diagnosis"


def band(diagnosis: date, relapse: date) -> str:
    if relapse < add_months(diagnosis, EARLY_MONTHS):
        return "<18"
    if relapse <= add_months(diagnosis, LATE_MONTHS):
        return "18-36"
    return ">36"


def whole_months(diagnosis: date, relapse: date) -> int:
    """Completed calendar months from diagnosis to relapse (for display: "relapse at 14 months")."""
    months = (relapse.year - diagnosis.year) * 12 + relapse.month - diagnosis.month
    while months > 0 and add_months(diagnosis, months) > relapse:
        months -= 1
    return max(months, 0)


def band_of(diagnosis: FhirDate, relapse: FhirDate) -> tuple[str, frozenset[str]]:
    """The band by earliest days, and every band the dates' precision would allow."""
    chosen = band(diagnosis.earliest, relapse.earliest)
    extremes = (band(diagnosis.latest, relapse.earliest), band(diagnosis.earliest, relapse.latest))
    order = ["<18", "18-36", ">36"]
    low, high = order.index(extremes[0]), order.index(extremes[1])
    return chosen, frozenset(order[low : high + 1]) | {chosen}
