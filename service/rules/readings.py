"""The ways a relapse history can be read, when the record does not settle it.

Data contract: "Two records with different dates are two relapses only when a remission is recorded
between them; without one, they may be one relapse recorded twice: answer only where both readings
agree, else `undetermined` with `relapseEpisode` in `missing`." And: "One relapse recorded twice ...
the relapse dates from the earlier record."

Only the records after the last recorded remission are open to doubt, and for the assessment only one
thing about them matters: where the most recent relapse begins. So a record with n such records has
n readings (not 2^n): in reading j, records j..n-1 are one relapse dated by record j (its sites are
all of theirs), and the records before j are earlier relapses. Each reading is a settled Features
object, so the rules run on it exactly as on any other record.
"""

from __future__ import annotations

from dataclasses import replace

from ..features.model import Features, Message, RelapseEpisode

#: A record with more doubtful relapse records than this is not read every way: its last relapse
#: cannot be placed in time, which withholds what depends on it (the conservative side). Real charts
#: have a handful; the bound keeps a pathological request linear.
MAX_READINGS = 32


def relapse_readings(features: Features) -> tuple[Features, ...]:
    """Every settled reading of the record (one when nothing is in doubt)."""
    records = features.relapses
    if features.relapses_settled:
        return (features,)
    first_open = _start_of_last_segment(features.remission_between)
    if len(records) - first_open > MAX_READINGS:
        return (replace(
            features, relapses=records[:first_open], remission_between=(True,) * max(first_open - 1, 0),
            ambiguous_relapses=features.ambiguous_relapses + records[first_open:],
        ),)
    readings = []
    for j in range(first_open, len(records)):
        latest = merge_episodes(records[j:])
        readings.append(replace(
            features, relapses=records[:j] + (latest,),
            # Before j: each record is an earlier relapse in this reading (how they group does not change
            # the assessed relapse, only the count, which the assessment reports as unknown).
            remission_between=(True,) * j,
        ))
    return tuple(readings)


def _start_of_last_segment(remission_between: tuple[bool, ...]) -> int:
    """Index of the first relapse record after the last recorded remission between records."""
    for i in range(len(remission_between) - 1, -1, -1):
        if remission_between[i]:
            return i + 1
    return 0


def merge_episodes(episodes: tuple[RelapseEpisode, ...]) -> RelapseEpisode:
    """Records read as one relapse: dated by the earliest, with every site any of them names."""
    first = episodes[0]
    if len(episodes) == 1:
        return first
    return RelapseEpisode(
        date=first.date,
        sites=frozenset(s for e in episodes for s in e.sites),
        unstated_site_sources=tuple(s for e in episodes for s in e.unstated_site_sources),
        unrecognised_sites=tuple(c for e in episodes for c in e.unrecognised_sites),
        sources=tuple(s for e in episodes for s in e.sources),
    )


#: A note names at most this many records; the facts list them all.
_NOTE_SOURCES = 3


def reading_notes(features: Features) -> tuple[Message, ...]:
    """One note per run of relapse records with no remission recorded between them."""
    notes: list[Message] = []
    records, between = features.relapses, features.remission_between
    start = 0
    for i in range(len(records)):
        if i == len(records) - 1 or between[i]:
            if i > start:
                run = records[start : i + 1]
                sources = [s for e in run for s in e.sources]
                shown = ", ".join(sources[:_NOTE_SOURCES]) + (f" and {len(sources) - _NOTE_SOURCES} more" if len(sources) > _NOTE_SOURCES else "")
                notes.append(Message.of(
                    "note_one_relapse_or_two", first_date=run[0].date, last_date=run[-1].date, count=len(run), sources=shown,
                ))
            start = i + 1
    return tuple(notes)
