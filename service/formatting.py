"""Values as clinicians write them: dates as dates, MRD as a percentage and a power of ten, blast
counts per microlitre, codes as words. Wording comes from cards/layout.yaml; this module only formats.
"""

from __future__ import annotations

from .knowledge.cards import CardTexts
from .rules.assess import Assessment, Fact
from .rules.timeline import Event


def date_text(texts: CardTexts, text: str | None) -> str:
    """'2021-05-14T11:05:00-05:00' -> '14 May 2021'; '2021-04' -> 'Apr 2021'; unreadable text as is."""
    if not text:
        return ""
    parts = text[:10].split("-")
    months = texts.layout["values"]["months"]
    try:
        year = int(parts[0])
        month = months[int(parts[1]) - 1] if len(parts) > 1 else ""
        day = str(int(parts[2])) if len(parts) > 2 else ""
    except (ValueError, IndexError):
        return text
    return " ".join(p for p in texts.layout["formats"]["date"].format(day=day, month=month, year=year).split(" ") if p)


def _significant(value: float) -> str:
    """Two decimals, or two significant digits below 0.01, no trailing zeros: 12, 0.5, 0.0012."""
    return f"{round(value, 2):g}" if abs(value) >= 0.01 else format(value, ".2g")


def mrd_text(texts: CardTexts, fraction: float, comparator: str | None = None) -> str:
    """0.005 -> '0.5% (5 x 10^-3)', with the result's comparator ('<0.01% (< 1 x 10^-4)')."""
    sign = comparator or ""
    mantissa, exponent = f"{fraction:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    scientific = "0" if fraction == 0 else f"{mantissa} x 10^{int(exponent)}"
    return texts.layout["formats"]["mrd"].format(percent=f"{sign}{_significant(fraction * 100)}", scientific=f"{sign + ' ' if sign else ''}{scientific}")


def blasts_text(texts: CardTexts, per_microlitre: float, comparator: str | None = None) -> str:
    return texts.layout["formats"]["blasts"].format(count=f"{comparator or ''}{round(per_microlitre):,}")


def measured(texts: CardTexts, event: Event | None) -> str | None:
    """An MRD or blast result in clinicians' units; None when it could not be read."""
    if event is None or event.amount is None:
        return None
    if event.kind == "mrd":
        return mrd_text(texts, event.amount, event.comparator)
    return blasts_text(texts, event.amount, event.comparator)


def value_of(texts: CardTexts, table: str, key: object) -> str:
    return str(texts.layout["values"][table].get(str(key), key))


def sites_text(texts: CardTexts, sites: object) -> str:
    return " + ".join(value_of(texts, "site", s) for s in (sites if isinstance(sites, (list, tuple)) else [sites]))


def months_text(texts: CardTexts, value: dict) -> str:
    band = value.get("band")
    if band is None:
        return f"{value.get('months')} months"
    return texts.layout["formats"]["months"].format(months=value.get("months"), band=value_of(texts, "band", band))


def measurements_by_source(a: Assessment) -> dict[str, Event]:
    """MRD and blast results of the timeline by their FHIR reference (built once per card)."""
    return {e.sources[0]: e for e in a.timeline if e.kind in ("mrd", "blasts")}


def fact_value(texts: CardTexts, fact: Fact, by_source: dict[str, Event]) -> str:
    """A fact's value in clinicians' words (the extension keeps the machine value)."""
    name, value = fact.name, fact.value
    layout_values = texts.layout["values"]
    if name in ("birthDate", "diagnosisDate"):
        return date_text(texts, str(value))
    if name == "sex":
        return value_of(texts, "sex", value)
    if name == "immunophenotype":
        return value_of(texts, "lineage", value)
    if name == "geneticSubtype":
        return value_of(texts, "subtype", value)
    if name == "geneAlteration":
        return value_of(texts, "gene", value)
    if name == "relapseSite":
        return texts.label("site", value)
    if name.startswith("relapse") and isinstance(value, dict):
        return sites_text(texts, value.get("sites", []))
    if name == "monthsFromDiagnosis" and isinstance(value, dict):
        return months_text(texts, value)
    if name in ("hsct", "hsctAfterRelapse"):
        return str(layout_values["hsct"])
    if value is True:
        return str(layout_values["recorded"])
    if name in ("endReinductionMrd", "peripheralBlasts", "relapseWorkupMrd"):
        return measured(texts, by_source.get(fact.sources[0])) or str(value)
    if name in ("mrdNotFromMarrow", "mrdSiteUnknown"):  # the value, and why it was not used
        event = by_source.get(fact.sources[0])
        shown = measured(texts, event)
        return f"{shown}; {texts.layout['mrd_roles'][event.role]}" if shown and event.role else str(value)
    return plain(value)


def plain(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
