"""COG relapse risk group: PDQ summary Table 4, "Children's Oncology Group ALL Relapse Risk
Stratification for B-Precursor ALL", and its footnote "All relapsed T-cell ALL is considered high risk".

                           Isolated CNS or testicular   Bone marrow or combined
  <18 months from dx       Intermediate                  High
  18-36 months from dx     Low                           High
  >36 months from dx       Low                           Intermediate

Month bands follow the data contract: 18 months to the day is in 18-36; 36 months to the day is still
18-36; one day later is >36 (see `timing.py`). The table is for FIRST relapse ("The COG has divided
patients with first relapse into three risk categories"): a second or later relapse is
`not-applicable`, as the contract settles.
"""

from __future__ import annotations

from .possible import Case, Outcome

_TABLE_4 = {
    ("extramedullary", "<18"): "intermediate",
    ("extramedullary", "18-36"): "low",
    ("extramedullary", ">36"): "low",
    ("marrow", "<18"): "high",
    ("marrow", "18-36"): "high",
    ("marrow", ">36"): "intermediate",
}
# Reading: CNS and testis relapsing together without marrow is still an isolated (extramedullary)
# relapse, and both of its sites are in the column "Isolated CNS or Testicular Relapse": that column
# gives the same answer whichever site is taken, so we use it.
_COLUMN = {
    "marrow": "marrow", "combined": "marrow",
    "cns": "extramedullary", "testis": "extramedullary", "cns-testis": "extramedullary",
}


def cog_risk(case: Case) -> Outcome:
    """COG risk group of one fully-known case."""
    if case.order != "first":
        return Outcome("not-applicable", "cog.not-first-relapse")
    if case.lineage == "t-cell":
        # Table 4 footnote a: "All relapsed T-cell ALL is considered high risk." (any site, any time)
        return Outcome("high", "cog.t-cell")
    column = _COLUMN.get(case.site)
    if column is None:
        # Extramedullary relapse at a site the mappings do not know, without marrow: Table 4 has no
        # column for it. We do not force it into "isolated CNS or testicular".
        return Outcome("undetermined", "cog.site-not-in-table")
    # The rule id names the site (cog.b-precursor.cns, ...testis), so that a card cites the studies of
    # that site only (a CNS card does not cite a testicular study).
    return Outcome(_TABLE_4[(column, case.band)], f"cog.b-precursor.{column if column == 'marrow' else case.site}")
