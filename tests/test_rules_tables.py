"""COG Table 4 and the HSCT branches, cell by cell, plus properties that must hold for every case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.rules.cog import cog_risk
from service.rules.hsct import hsct_indication
from service.rules.possible import BANDS, BOOLS, LINEAGES, ORDERS, SITES, UNDETERMINED, Case, Possible, decide

B, T = "b-precursor", "t-cell"


def case(lineage=B, site="marrow", band="<18", order="first", after_hsct=False, mrd_high=False) -> Case:
    return Case(lineage, site, band, order, after_hsct, mrd_high)


# Seed Table 4, transcribed independently of service/rules/cog.py.
TABLE_4 = [
    ("cns", "<18", "intermediate"), ("cns", "18-36", "low"), ("cns", ">36", "low"),
    ("testis", "<18", "intermediate"), ("testis", "18-36", "low"), ("testis", ">36", "low"),
    ("marrow", "<18", "high"), ("marrow", "18-36", "high"), ("marrow", ">36", "intermediate"),
    ("combined", "<18", "high"), ("combined", "18-36", "high"), ("combined", ">36", "intermediate"),
    # CNS and testis together, no marrow: both sites are in the "Isolated CNS or Testicular" column.
    ("cns-testis", "<18", "intermediate"), ("cns-testis", "18-36", "low"), ("cns-testis", ">36", "low"),
]


@pytest.mark.parametrize(("site", "band", "expected"), TABLE_4)
def test_cog_table_4_b_precursor_every_cell(site, band, expected):
    assert cog_risk(case(site=site, band=band)).value == expected


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("band", BANDS)
def test_every_relapsed_t_all_is_high_risk(site, band):
    assert cog_risk(case(lineage=T, site=site, band=band)).value == "high"


@pytest.mark.parametrize("lineage", LINEAGES)
def test_second_relapse_is_outside_table_4(lineage):
    assert cog_risk(case(lineage=lineage, order="later")).value == "not-applicable"


def test_extramedullary_pattern_outside_table_is_not_forced_into_a_column():
    assert cog_risk(case(site="extramedullary-other")).value == "undetermined"


HSCT_BRANCHES = [
    # (case kwargs, expected, rule)
    (dict(site="marrow", band="<18"), "recommended", "hsct.early-b-marrow"),
    (dict(site="marrow", band="18-36"), "recommended", "hsct.early-b-marrow"),
    (dict(site="combined", band="18-36"), "consider", "hsct.early-b-combined"),
    (dict(site="combined", band="<18", mrd_high=False), "consider", "hsct.early-b-combined"),
    (dict(site="marrow", band="18-36"), "recommended", "hsct.early-b-marrow"),
    (dict(site="marrow", band=">36", mrd_high=False), "not-recommended", "hsct.late-b-marrow-low-mrd"),
    (dict(site="combined", band=">36", mrd_high=True), "consider", "hsct.late-b-marrow-high-mrd"),
    (dict(lineage=T, site="marrow", band=">36"), "recommended", "hsct.t-cell-marrow"),
    (dict(lineage=T, site="combined", band="<18"), "recommended", "hsct.t-cell-marrow"),
    (dict(site="cns", band="<18"), "consider", "hsct.early-cns"),
    (dict(site="cns", band="18-36"), "not-recommended", "hsct.late-cns"),
    (dict(lineage=T, site="cns", band=">36"), "not-recommended", "hsct.late-cns"),
    (dict(lineage=T, site="cns", band="<18"), "consider", "hsct.early-cns"),
    (dict(site="testis", band=">36"), "not-recommended", "hsct.late-testicular"),
    (dict(site="testis", band="<18"), "not-recommended", "hsct.early-testicular"),
    (dict(order="later", site="marrow", band=">36"), "recommended", "hsct.later-marrow-relapse"),
    (dict(order="later", site="cns"), "undetermined", "hsct.later-extramedullary-relapse"),
    (dict(lineage="t-cell", site="testis", band=">36"), "undetermined", "hsct.t-cell-testicular"),
    (dict(lineage="t-cell", site="cns-testis", band="18-36"), "undetermined", "hsct.t-cell-testicular"),
    (dict(after_hsct=True, site="marrow", band="<18"), "consider", "hsct.relapse-after-hsct"),
    (dict(after_hsct=True, site="testis", band=">36"), "consider", "hsct.extramedullary-relapse-after-hsct"),
    (dict(after_hsct=True, site="cns", band="<18"), "consider", "hsct.extramedullary-relapse-after-hsct"),
    (dict(after_hsct=True, order="later"), "consider", "hsct.relapse-after-hsct"),
    (dict(site="cns-testis", band="<18"), "undetermined", "hsct.early-cns-testicular"),
    (dict(site="cns-testis", band="18-36"), "not-recommended", "hsct.late-cns-testicular"),
    (dict(site="cns-testis", band=">36"), "not-recommended", "hsct.late-cns-testicular"),
    (dict(site="extramedullary-other"), "undetermined", "hsct.site-not-covered"),
]


@pytest.mark.parametrize(("kwargs", "expected", "rule"), HSCT_BRANCHES)
def test_hsct_every_branch(kwargs, expected, rule):
    outcome = hsct_indication(case(**kwargs))
    assert (outcome.value, outcome.rule) == (expected, rule)


cases = st.builds(Case, st.sampled_from(LINEAGES), st.sampled_from(SITES), st.sampled_from(BANDS),
                  st.sampled_from(ORDERS), st.sampled_from(BOOLS), st.sampled_from(BOOLS))
RISK_ORDER = {"low": 0, "intermediate": 1, "high": 2}


@given(cases)
def test_a_later_relapse_is_never_riskier(c):
    """Monotone in time: moving the same first relapse to a later band never raises the COG risk."""
    here = cog_risk(c).value
    for later in BANDS[BANDS.index(c.band) + 1:]:
        there = cog_risk(Case(c.lineage, c.site, later, c.order, c.after_hsct, c.mrd_high)).value
        if here in RISK_ORDER and there in RISK_ORDER:
            assert RISK_ORDER[there] <= RISK_ORDER[here]


@given(cases)
def test_marrow_involvement_is_never_less_risky_than_isolated_extramedullary(c):
    if c.site not in ("cns", "testis") or c.order != "first":
        return
    marrow = cog_risk(Case(c.lineage, "marrow", c.band, c.order, c.after_hsct, c.mrd_high)).value
    assert RISK_ORDER[marrow] >= RISK_ORDER[cog_risk(c).value]


@given(cases)
def test_t_cell_first_relapse_is_always_high(c):
    if c.lineage == T and c.order == "first":
        assert cog_risk(c).value == "high"


@given(cases)
def test_mrd_only_matters_for_late_b_precursor_marrow_relapse(c):
    flipped = Case(c.lineage, c.site, c.band, c.order, c.after_hsct, not c.mrd_high)
    if hsct_indication(c).value != hsct_indication(flipped).value:
        assert (c.lineage, c.band, c.order, c.after_hsct) == (B, ">36", "first", False)
        assert c.site in ("marrow", "combined")


def subsets(values):
    return st.sets(st.sampled_from(values), min_size=1).map(frozenset)


possibles = st.builds(Possible, subsets(LINEAGES), subsets(SITES), subsets(BANDS), subsets(ORDERS), subsets(BOOLS), subsets(BOOLS))


@given(possibles, st.data())
@pytest.mark.parametrize("rule", [cog_risk, hsct_indication])
def test_knowing_more_never_changes_a_decided_answer(rule, possible, data):
    """The contract's missing-fact rule: an answer given with facts missing must hold whatever they are."""
    decision = decide(rule, possible)
    narrowed = Possible(*(frozenset([data.draw(st.sampled_from(sorted(getattr(possible, f), key=str)))])
                          for f in ("lineage", "site", "band", "order", "after_hsct", "mrd_high")))
    if decision.value != UNDETERMINED:
        assert decide(rule, narrowed).value == decision.value
    else:
        assert decision.missing or decision.rules  # undetermined names what is missing, or why not covered
        assert set(decision.open_values) >= {decide(rule, narrowed).value} - {UNDETERMINED}


@given(possibles)
def test_only_facts_that_change_the_answer_are_named_missing(possible):
    decision = decide(hsct_indication, possible)
    for field in ("lineage", "site", "band", "order", "after_hsct", "mrd_high"):
        if len(getattr(possible, field)) == 1:
            assert field not in decision.missing


def test_early_marrow_relapse_is_high_risk_whatever_the_lineage():
    """Contract example: an early marrow relapse is COG high risk whatever the lineage."""
    possible = Possible(lineage=frozenset(LINEAGES), site=frozenset({"marrow"}), band=frozenset({"<18"}),
                        order=frozenset({"first"}), after_hsct=frozenset({False}), mrd_high=frozenset(BOOLS),
                        because=(("lineage", ("immunophenotype",)), ("mrd_high", ("endReinductionMrd",))))
    assert decide(cog_risk, possible).value == "high"
    assert decide(hsct_indication, possible).value == "recommended"


def test_late_marrow_relapse_with_unknown_lineage_names_the_immunophenotype():
    possible = Possible(lineage=frozenset(LINEAGES), site=frozenset({"marrow"}), band=frozenset({">36"}),
                        order=frozenset({"first"}), after_hsct=frozenset({False}), mrd_high=frozenset({False}),
                        because=(("lineage", ("immunophenotype",)),))
    decision = decide(cog_risk, possible)
    assert decision.value == UNDETERMINED
    assert decision.missing == ("immunophenotype",)
    assert decision.open_values == ("high", "intermediate")
