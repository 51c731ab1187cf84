"""HSCT indication: is allogeneic transplantation the plan for this relapse (in the next remission)?

Values: `recommended`; `consider` (the PDQ summary says benefit is unclear or needs study);
`not-recommended` (the summary gives chemotherapy / chemoradiation as the standard, or names no
transplant role where it gives a standard); `undetermined` (facts missing, or the summary gives no
guidance: never a referral). The answer is the plan for the second (or later) remission: an
unrecorded remission is not a missing fact (data contract, settled readings). Each branch names the
summary sentence it implements; cards/ words each outcome in the summary's own strength.
"""

from __future__ import annotations

from .possible import Case, Outcome


def hsct_indication(case: Case) -> Outcome:
    """HSCT indication of one fully-known case. Precedence: prior HSCT, then relapse order, then site.

    Reading (precedence): a second marrow relapse AFTER a transplant meets two readings, the contract's
    settled "second or later marrow relapse: recommended" and the issue's "relapse after a prior HSCT:
    consider". We apply the PDQ summary's more specific section, "Relapse after allogeneic HSCT for relapsed
    ALL" ("a second ablative allogeneic HSCT may be feasible ... 10% to 30%"): `consider`.
    """
    if case.after_hsct:
        # "For patients relapsing after an allogeneic HSCT for ALL, a second ablative allogeneic HSCT
        # may be feasible ... approximately 10% to 30% may achieve long-term EFS." [92-94; 57,95: 3iiA]
        # The Procedure code (234336002) does not say allogeneic; the card says so.
        if case.site in ("cns", "testis", "cns-testis"):
            # Isolated CNS / testicular relapse after HSCT: "Whether a second allogeneic transplant is
            # necessary to treat isolated CNS and testicular relapse is unknown" [101]: its own rule, worded
            # as unknown; `consider` (the contract's value for a benefit the summary calls unclear).
            return Outcome("consider", "hsct.extramedullary-relapse-after-hsct")
        return Outcome("consider", "hsct.relapse-after-hsct")
    if case.order == "later":
        if case.site in ("marrow", "combined"):
            # "because cure with chemotherapy alone is rare, transplant is generally considered a
            # reasonable approach for those achieving remission" [53-57: 3iiA]
            return Outcome("recommended", "hsct.later-marrow-relapse")
        # The PDQ summary gives no guidance for a second or later ISOLATED extramedullary relapse. Reading:
        # no answer it does not give (`undetermined`, no referral suggested); the card says it is silent.
        return Outcome("undetermined", "hsct.later-extramedullary-relapse")
    if case.site in ("marrow", "combined"):
        if case.lineage == "t-cell":
            # "these patients are usually treated with allogeneic HSCT in CR2, regardless of time to relapse" [5]
            return Outcome("recommended", "hsct.t-cell-marrow")
        if case.site == "combined" and case.band in ("<18", "18-36"):
            # Reading (conservative; the summary is ambiguous here): its transplant statement is for "an
            # early marrow relapse" [7,25,39-47], and it keeps combined relapses apart ("patients with
            # combined marrow/extramedullary relapse have a better prognosis than those with a marrow
            # relapse" [5,13]); the BFM group counts "an early or late combined marrow/extramedullary
            # relapse" as intermediate risk, treated "with chemotherapy alone in CR2", end-reinduction MRD
            # predicting outcome [24]; COG Table 4 calls it high risk. Where the summary's groupings lead
            # to different transplant thinking, its benefit is unclear: `consider` (a transplant-team
            # discussion, not a referral), and the card says that COG and BFM differ.
            return Outcome("consider", "hsct.early-b-combined")
        if case.band in ("<18", "18-36"):
            # "For B-precursor patients with an early marrow relapse, allogeneic transplant ... performed in
            # second remission has been reported in most studies to result in higher leukemia-free survival"
            # [7,25,39-47]. Reading: "early" is the PDQ summary's "<36 months"; at exactly 36 months the contract puts
            # the relapse in the 18-36 band, where Table 4 calls a marrow relapse HIGH risk. We keep the two
            # consistent (a COG high-risk marrow relapse is never told "chemotherapy"): early = within 36
            # months inclusive.
            return Outcome("recommended", "hsct.early-b-marrow")
        # Reading (set by the product issue): chemotherapy is the standard (`not-recommended`), and
        # `consider` only with end-reinduction MRD >= 10^-3; `undetermined` while MRD is unknown.
        # Late B-precursor marrow relapse: "a primary chemotherapy approach after achievement of CR2 has
        # resulted in survival rates of approximately 50%, and it is not clear whether allogeneic
        # transplantation is associated with superior cure rate" [5,9,30,48-51]. "Whether transplantation
        # benefits patients with late marrow relapse but a high level of MRD after reinduction requires
        # further study" -> `consider` when end-reinduction MRD >= 10^-3 [22,24].
        if case.mrd_high:
            return Outcome("consider", "hsct.late-b-marrow-high-mrd")
        return Outcome("not-recommended", "hsct.late-b-marrow-low-mrd")
    if case.site == "cns":
        if case.band == "<18":
            # "The use of transplantation to treat isolated CNS relapse occurring less than 18 months from
            # diagnosis, especially T-cell CNS relapse, requires further study." [110,111]
            return Outcome("consider", "hsct.early-cns")
        # ">18 months ... transplantation is generally not recommended for this group" [112]. Exactly 18
        # months is in the ">= 18 months" group (contract, settled readings).
        return Outcome("not-recommended", "hsct.late-cns")
    if case.site in ("testis", "cns-testis") and case.lineage == "t-cell":
        # The summary's testicular guidance (POG [113], Dutch series [114]) gives no transplant guidance
        # for T-cell ALL; its T-cell transplant statements are for marrow relapse [5]. Reading: no answer
        # it does not give (`undetermined`, no referral suggested); the card says it is silent.
        return Outcome("undetermined", "hsct.t-cell-testicular")
    if case.site == "testis":
        if case.band == ">36":
            # Late testicular relapse: standard is chemotherapy with local therapy; 3-year EFS about 85% [113,114].
            return Outcome("not-recommended", "hsct.late-testicular")
        # Reading (contract leaves it to us): the PDQ summary names no transplant role for isolated testicular
        # relapse at any time; its standard ("intensive chemotherapy that includes high-dose methotrexate",
        # local radiation if no CR) is stated without regard to timing [114]. So `not-recommended`, and the
        # card gives the poorer figure for relapse during therapy (3-year EFS about 40% [113]).
        return Outcome("not-recommended", "hsct.early-testicular")
    if case.site == "cns-testis":
        # The PDQ summary treats each site alone; for both together we answer only where the two sites'
        # guidance agrees (as for any fact the record leaves open). From 18 months: CNS "transplantation
        # is generally not recommended" [112], testis: chemotherapy with local therapy [113,114] ->
        # `not-recommended`. Within 18 months they differ (CNS: "requires further study" [110,111] =
        # consider; testis: no transplant role = not-recommended): `undetermined`, the card says why.
        if case.band == "<18":
            return Outcome("undetermined", "hsct.early-cns-testicular")
        return Outcome("not-recommended", "hsct.late-cns-testicular")
    # Extramedullary relapse at a site the mappings do not know, without marrow.
    return Outcome("undetermined", "hsct.site-not-covered")
