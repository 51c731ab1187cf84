"""The governance report: how the cards were received, by rule and by card kind.

JSON shape (fixed): {"cards": N, "feedback": M, "unknownCardFeedback": K, "rules": [{"rule", "cards",
"accepted", "overridden", "overrideReasons": {code: count}}], ...} plus invocations, cards by kind and
indicator, feedback by outcome, processing time (median, p95) and how often each missing fact blocked
a recommendation. A card counts once for each of its rules; so does each feedback item on it.
Feedback is counted by when it was received, cards by when they were given.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter
from datetime import datetime

from sqlalchemy import Engine, func, select

from .schema import card, feedback, invocation

NO_REASON = "no coded reason"


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)


def _tally() -> dict:
    return {"cards": 0, "accepted": 0, "overridden": 0, "overrideReasons": Counter()}


def build(engine: Engine, since: datetime | None = None) -> dict:
    inv_filter = [invocation.c.recorded_at >= since] if since else []
    fb_filter = [feedback.c.received_at >= since] if since else []
    with engine.connect() as connection:
        invocations = connection.execute(
            select(invocation.c.processing_ms, invocation.c.missing, invocation.c.cog_risk, invocation.c.hsct).where(*inv_filter)
        ).all()
        cards = connection.execute(
            select(card.c.kind, card.c.indicator, card.c.rules).join(invocation).where(*inv_filter)
        ).all()
        rated = connection.execute(
            select(feedback.c.outcome, feedback.c.override_code, card.c.kind, card.c.rules)
            .select_from(feedback.outerjoin(card, card.c.uuid == feedback.c.card_uuid)).where(*fb_filter)
        ).all()
        latest = connection.execute(select(func.max(invocation.c.recorded_at))).scalar()

    by_rule: dict[str, dict] = {}
    by_kind: dict[str, dict] = {}
    for kind, _indicator, rules in cards:
        by_kind.setdefault(kind, _tally())["cards"] += 1
        for rule in json.loads(rules):
            by_rule.setdefault(rule, _tally())["cards"] += 1
    unknown = 0
    for outcome, code, kind, rules in rated:
        if kind is None:
            unknown += 1
            continue
        for tally in [by_kind.setdefault(kind, _tally())] + [by_rule.setdefault(r, _tally()) for r in json.loads(rules)]:
            tally[outcome] += 1
            if outcome == "overridden" and code:
                tally["overrideReasons"][code] += 1

    times = [row.processing_ms for row in invocations]
    blocked = Counter(m for row in invocations for m in json.loads(row.missing))
    return {
        "cards": len(cards),
        "feedback": len(rated),
        "unknownCardFeedback": unknown,
        "rules": [{"rule": rule, **_plain(t)} for rule, t in sorted(by_rule.items(), key=_most_overridden)],
        "since": since.isoformat() if since else None,
        "invocations": len(invocations),
        "cardKinds": [{"kind": kind, **_plain(t)} for kind, t in sorted(by_kind.items(), key=_most_overridden)],
        "cardsByIndicator": dict(Counter(indicator for _k, indicator, _r in cards).most_common()),
        "feedbackByOutcome": dict(Counter(row.outcome for row in rated).most_common()),
        "processingMs": {"median": round(statistics.median(times), 2) if times else None, "p95": _percentile(times, 0.95)},
        "missingBlocked": dict(blocked.most_common()),
        "undetermined": {"cogRisk": sum(r.cog_risk == "undetermined" for r in invocations),
                         "hsct": sum(r.hsct == "undetermined" for r in invocations)},
        "lastInvocation": latest.isoformat() if latest else None,
    }


def _plain(tally: dict) -> dict:
    return {**tally, "overrideReasons": dict(tally["overrideReasons"].most_common())}


def _most_overridden(item: tuple[str, dict]) -> tuple:
    name, t = item
    return (-t["overridden"], -t["cards"], name)


def _rate(row: dict) -> str:
    rated = row["accepted"] + row["overridden"]
    return f"{100 * row['overridden'] / rated:.0f}%" if rated else "-"


def _reasons(row: dict) -> str:
    """Coded reasons, most frequent first; overrides without a coded reason are shown as such."""
    parts = [f"{code} ({n})" for code, n in row["overrideReasons"].items()]
    uncoded = row["overridden"] - sum(row["overrideReasons"].values())
    if uncoded:
        parts.append(f"{NO_REASON} ({uncoded})")
    return ", ".join(parts) or "-"


def as_table(report: dict) -> str:
    """Plain text: the most overridden rule first, with its reasons."""
    head = (f"Since {report['since'] or 'the first record'}: {report['invocations']} invocations with cards, "
            f"{report['cards']} cards, {report['feedback']} feedback items "
            f"({report['unknownCardFeedback']} on cards the store does not know)")
    processing = report["processingMs"]
    timing = (f"median {processing['median']} ms, p95 {processing['p95']} ms" if processing["median"] is not None
              else "no invocation recorded")
    lines = [head, f"Processing time: {timing}", ""]
    for title, key, name in (("By rule", "rules", "rule"), ("By card kind", "cardKinds", "kind")):
        rows = [(r[name], str(r["cards"]), str(r["accepted"]), str(r["overridden"]), _rate(r), _reasons(r)) for r in report[key]]
        lines += [title, *_columns((name, "cards", "accepted", "overridden", "overridden %", "override reasons"), rows), ""]
    if report["missingBlocked"]:
        rows = [(fact, str(n)) for fact, n in report["missingBlocked"].items()]
        lines += ["Missing facts that blocked a recommendation", *_columns(("missing fact", "invocations"), rows), ""]
    return "\n".join(lines).rstrip() + "\n"


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, rows)]


def as_csv(report: dict) -> str:
    """One row per rule: rule, cards, accepted, overridden, override reasons as code=count;..."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rule", "cards", "accepted", "overridden", "override_reasons"])
    for r in report["rules"]:
        writer.writerow([r["rule"], r["cards"], r["accepted"], r["overridden"],
                         ";".join(f"{code}={n}" for code, n in r["overrideReasons"].items())])
    return out.getvalue()
