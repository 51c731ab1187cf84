"""Deciding under missing facts, as the data contract asks.

"When a fact is missing but every possible value of it gives the same answer, give that answer;
otherwise answer `undetermined` and name the fact in `missing`." A missing fact is therefore not a
None the rules must special-case: it is the set of all values it could take. A rule is a plain
function of one fully-known `Case`; `decide` runs it on every combination the known facts allow and
answers only when they all agree. A clinician never gets an answer that a missing fact could flip.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, fields

# The value domains. Sites: isolated marrow, combined marrow + extramedullary, isolated CNS,
# isolated testis, CNS and testis together without marrow, and any other extramedullary pattern (a
# site the mappings do not know, without marrow), which the PDQ summary's tables do not cover.
LINEAGES = ("b-precursor", "t-cell")
SITES = ("marrow", "combined", "cns", "testis", "cns-testis", "extramedullary-other")
BANDS = ("<18", "18-36", ">36")  # months from diagnosis, COG Table 4 rows
ORDERS = ("first", "later")  # first relapse, or second or later
BOOLS = (False, True)


@dataclass(frozen=True)
class Case:
    """One fully-known combination of the facts the relapse rules depend on."""

    lineage: str
    site: str
    band: str
    order: str
    after_hsct: bool  # the assessed relapse follows a hematopoietic stem cell transplant
    mrd_high: bool  # end-reinduction MRD >= 10^-3


@dataclass(frozen=True)
class Possible:
    """For each Case field, the values the record allows (one value = known), and which missing
    facts (contract vocabulary) are behind a field that is not known."""

    lineage: frozenset = frozenset(LINEAGES)
    site: frozenset = frozenset(SITES)
    band: frozenset = frozenset(BANDS)
    order: frozenset = frozenset(ORDERS)
    after_hsct: frozenset = frozenset(BOOLS)
    mrd_high: frozenset = frozenset(BOOLS)
    because: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (field, missing facts)

    def cases(self) -> list[Case]:
        names = [f.name for f in fields(Case)]
        pools = [sorted(getattr(self, n), key=str) for n in names]
        return [Case(*combo) for combo in itertools.product(*pools)]

    def missing_for(self, field_name: str) -> tuple[str, ...]:
        for name, facts in self.because:
            if name == field_name:
                return facts
        return (field_name,)


@dataclass(frozen=True)
class Readings:
    """A record that can be read more than one way (two relapse records that may be one relapse):
    the Possible of each reading. Cases are those of every reading; an answer stands only where all
    agree, and where the readings themselves differ, `because` names what would tell them apart.
    Field by field it reads like a Possible (each field the union over the readings)."""

    options: tuple[Possible, ...]
    because: tuple[str, ...] = ("relapseEpisode",)

    def __getattr__(self, name: str):
        if name in _CASE_FIELDS:
            return frozenset().union(*(getattr(p, name) for p in self.options))
        raise AttributeError(name)

    def cases(self) -> list[Case]:
        return list(dict.fromkeys(c for p in self.options for c in p.cases()))

    def missing_for(self, field_name: str) -> tuple[str, ...]:
        found: list[str] = []
        for p in self.options:
            if len(getattr(p, field_name)) > 1:
                found.extend(m for m in p.missing_for(field_name) if m not in found)
        if len({getattr(p, field_name) for p in self.options}) > 1:
            found.extend(m for m in self.because if m not in found)
        return tuple(found) or (field_name,)


_CASE_FIELDS = frozenset(f.name for f in fields(Case))


@dataclass(frozen=True)
class Outcome:
    """What a rule answers for one Case, and the id of the rule (branch) that produced it."""

    value: str
    rule: str


@dataclass(frozen=True)
class Decision:
    """The answer over all possible Cases."""

    value: str  # the agreed value, or "undetermined"
    rules: tuple[str, ...]  # rule ids that fired (several when Cases agree through different branches)
    missing: tuple[str, ...]  # facts whose absence prevented an answer (empty when decided)
    open_values: tuple[str, ...] = ()  # when the cases disagree: the answers still possible (never "undetermined")
    #: When undetermined: the rules behind each answer still possible, so a card can word each one
    #: as its rule does.
    open_rules: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def rules_for(self, value: str) -> tuple[str, ...]:
        return next((rules for v, rules in self.open_rules if v == value), self.rules)

    @property
    def fired(self) -> tuple[str, ...]:
        """The rules that gave the answer: all of `rules` when every possible case agrees (also on
        "undetermined"); none when the cases disagree, for then no rule gave the answer."""
        return () if self.open_values else self.rules

    @property
    def candidates(self) -> tuple[str, ...]:
        """When the cases disagree: the rules that would answer, one or more per possible answer."""
        return self.rules if self.open_values else ()


UNDETERMINED = "undetermined"


def decide(rule: Callable[[Case], Outcome], possible: Possible | Readings) -> Decision:
    """Run `rule` on every Case the record allows (in every reading of it); answer only if all agree."""
    options = possible.options if isinstance(possible, Readings) else (possible,)
    per_reading = [{case: rule(case) for case in option.cases()} for option in options]
    values = {o.value for outcomes in per_reading for o in outcomes.values()}
    rules = tuple(sorted({o.rule for outcomes in per_reading for o in outcomes.values()}))
    if len(values) == 1:
        return Decision(values.pop(), rules, ())
    missing: list[str] = []
    for option, outcomes in zip(options, per_reading):
        for f in fields(Case):
            if len(getattr(option, f.name)) > 1 and _matters(f.name, outcomes):
                missing.extend(m for m in option.missing_for(f.name) if m not in missing)
    if isinstance(possible, Readings) and len({frozenset(o.value for o in outcomes.values()) for outcomes in per_reading}) > 1:
        missing.extend(m for m in possible.because if m not in missing)
    by_value: dict[str, set[str]] = {}
    for outcomes in per_reading:
        for o in outcomes.values():
            by_value.setdefault(o.value, set()).add(o.rule)
    open_rules = tuple((v, tuple(sorted(by_value[v]))) for v in sorted(values))
    # The answers a recorded fact could still lead to; "undetermined" is not one of them (a case no
    # rule decides is why the answer is withheld, not a possible answer).
    return Decision(UNDETERMINED, rules, tuple(missing), tuple(sorted(values - {UNDETERMINED})), open_rules)


def _matters(field_name: str, outcomes: dict[Case, Outcome]) -> bool:
    """Does changing this field alone, the others held fixed, change the answer for some Case?"""
    groups: dict[tuple, set[str]] = {}
    for case, outcome in outcomes.items():
        key = tuple(getattr(case, f.name) for f in fields(Case) if f.name != field_name)
        groups.setdefault(key, set()).add(outcome.value)
    return any(len(v) > 1 for v in groups.values())
