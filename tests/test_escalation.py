"""Escalation: brand resolution, working-group routing, ladder levels and new-group proposals (DOMAIN §A.5).

Every test builds its findings by hand (``models.Finding``), with the contracts, production links and
working groups it needs, and checks ``escalation.recommend``: routes, level, brands, the reason an officer
reads, and the proposals for new groups. No engine and no store: the module is pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from compliance.domain import models
from compliance.domain.models import FPRW, Severity
from compliance.escalation import routing as escalation
from compliance.escalation.routing import ContractNetwork, EscalationRecommendation, Policy, Proposal
from compliance.sources import records

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2025, 6, 30)

FOA = FPRW.FREEDOM_OF_ASSOCIATION
FORCED = FPRW.FORCED_LABOUR

#: The consortia's groups as in contracts/working-groups.yaml.
APPLE_WG = models.WorkingGroup(id="apple", name="Apple working group", scope={"brands": ["Apple"]})
CISCO_WG = models.WorkingGroup(id="cisco", name="Cisco working group", scope={"brands": ["Cisco"]})
FOA_WG = models.WorkingGroup(id="foa_cb", name="FoA/CB working group", scope={"issues": [FOA]})
GROUPS = [APPLE_WG, CISCO_WG, FOA_WG]

# Rules as the findings name them: (title, fprw) per rule id.
RULES: dict[str, tuple[str, list[FPRW]]] = {
    "FL-01": ("Workers paid recruitment fees", [FORCED]),
    "FL-04": ("Identity documents retained without access", [FORCED]),
    "FL-06": ("Forced-labour indicator cluster", [FORCED]),
    "GR-03": ("Retaliation after a complaint, monitor contact or union activity", [FOA]),
    "GR-04": ("Confirmed harm not remedied by the due date", []),
    "WH-01": ("Excessive working hours or no rest day", []),
    "PM-03": ("Corrective action overdue", []),
    "MO-03": ("Audit contradicted by worker-driven monitoring", []),
    "TR-01": ("Final-assembly factories disclosed after signature", []),
    "EX-AUDIT": ("Social audit evidence expired", []),
    "MO-03-X": ("An observation", []),
}

_keys = itertools.count(1)


# ---------------------------------------------------------------------------------------------------------------------
# Builders


def contract(cid: str, products: dict[str, list[str]], buyers: list[tuple[str, list[str]]], *,
             status: str = "active", start: dt.date = dt.date(2024, 1, 1), end: dt.date = dt.date(2026, 12, 31),
             max_extent: dt.date | None = None, value: float | None = 100_000) -> models.Contract:
    """A contract `cid` buying `products` ({brand: [model, ...]}) for `buyers` ([(institution id, consortia)])."""
    items = [{"id": str(n), "brand": brand, "model": model}
             for n, (brand, model) in enumerate(((b, m) for b, ms in products.items() for m in ms), 1)]
    period: dict[str, Any] = {"start": start, "end": end}
    if max_extent:
        period["max_extent"] = max_extent
    return models.Contract(
        ocid=f"ocds-h6vhtk-{cid.lower()}", id=cid,
        buyers=[{"id": i, "name": f"Institution {i}", "consortia": k} for i, k in buyers],
        supplier={"id": f"S-{cid}", "name": f"Reseller of {cid}"}, brands=list(products), items=items,
        signed_on=start, period=period, clause_set={"id": "EWCC-v2-UK", "version": "2.0"}, status=status,
        value=value,
    )


def link(facility_id: str, brand: str, model: str | None) -> models.ProductionLink:
    return models.ProductionLink(brand=brand, model=model, facility_id=facility_id)


def finding(rule_id: str, contract_id: str, facility_id: str | None, severity: Severity, *, age: int = 10,
            fprw: list[FPRW] | None = None, key: str | None = None) -> models.Finding:
    """A finding of `rule_id` on `contract_id` at `facility_id`, whose latest evidence is `age` days old."""
    title, rule_fprw = RULES[rule_id]
    return models.Finding(
        key=key or f"{rule_id}/{contract_id}/{next(_keys):04d}", rule_id=rule_id, rule_version="1.0", title=title,
        clause="EW Contract Conditions v2", contract_id=contract_id, ocid=f"ocds-h6vhtk-{contract_id.lower()}",
        supplier_id=f"S-{contract_id}", facility_id=facility_id, severity=severity,
        fprw=rule_fprw if fprw is None else fprw, message=f"{rule_id} fired", evidence_ids=[f"EV-{rule_id}"],
        respond_by=AS_OF + dt.timedelta(days=severity.response_days), as_of=AS_OF,
        observed_on=AS_OF - dt.timedelta(days=age),
    )


def recommend(findings: list[models.Finding], contracts: list[models.Contract], links: list[models.ProductionLink],
              groups: list[models.WorkingGroup] = GROUPS, **kwargs: Any
              ) -> tuple[dict[str, EscalationRecommendation], list[Proposal]]:
    """recommend() as of AS_OF, with the recommendations by finding key."""
    recs, proposals = escalation.recommend(findings, ContractNetwork(contracts, links, AS_OF), groups, **kwargs)
    assert len(recs) == len(findings)
    return {r.finding.key: r for r in recs}, proposals


def institutions(n: int, consortium: str = "LUPC", prefix: str = "I") -> list[tuple[str, list[str]]]:
    return [(f"GB-PPON-{prefix}{k}", [consortium]) for k in range(1, n + 1)]


def northwind_contracts(buyers: list[tuple[str, list[str]]], facility_model: str = "NB-450") -> list[models.Contract]:
    """One Northwind contract per buyer, each buying the model made at FAC-NW."""
    return [contract(f"NW{k}", {"Northwind": [facility_model]}, [buyer]) for k, buyer in enumerate(buyers, 1)]


NW_LINKS = [link("FAC-NW", "Northwind", "NB-450")]


# ---------------------------------------------------------------------------------------------------------------------
# Brand resolution


def test_only_brands_on_a_live_contract_count_at_a_factory_making_for_several():
    links = [link("FAC-M", "Northwind", "NB-450"), link("FAC-M", "Apple", "MacBook Air"),
             link("FAC-M", "Fabrikam", "FX-14")]
    contracts = [contract("NW1", {"Northwind": ["NB-450"]}, institutions(1))]
    f = finding("WH-01", "NW1", "FAC-M", Severity.MAJOR)
    recs, proposals = recommend([f], contracts, links)
    r = recs[f.key]
    # Apple products are made there, but no contract buys Apple: the Apple group is not engaged.
    assert r.brands == ("Northwind",)
    assert r.routes == ()
    assert r.level == "E2"
    assert "no working group covers it: handle at institution level" in r.reason
    assert proposals == []


def test_a_factory_making_for_two_bought_brands_routes_to_both_groups_in_order():
    links = [link("FAC-M", "Cisco", "C9300"), link("FAC-M", "Apple", "MacBook Air")]
    contracts = [contract("C1", {"Cisco": ["C9300"]}, institutions(1, "SUPC")),
                 contract("A1", {"Apple": ["MacBook Air"]}, institutions(1, "HEPCW", prefix="H"))]
    f = finding("WH-01", "C1", "FAC-M", Severity.MAJOR)
    r = recommend([f], contracts, links)[0][f.key]
    assert r.brands == ("Apple", "Cisco")
    assert r.routes == ("apple", "cisco")
    assert "Apple products: apple engages Apple" in r.reason and "Cisco products: cisco engages Cisco" in r.reason
    # Leverage counts every live contract linked to the facility, whoever raised the finding.
    assert r.leverage.contracts == ("A1", "C1")
    assert r.leverage.institutions == ("GB-PPON-H1", "GB-PPON-I1")
    assert r.leverage.consortia == ("HEPCW", "SUPC")
    assert "Linked buyers: 2 institutions in 2 consortia through 2 live contracts worth 200,000." in r.reason


def test_a_finding_without_a_facility_takes_the_brands_of_its_contract():
    contracts = [contract("A1", {"Apple": ["MacBook Air"]}, institutions(2, "HEPCW"))]
    f = finding("TR-01", "A1", None, Severity.MAJOR)
    r = recommend([f], contracts, [], hints={"TR-01": "E1"})[0][f.key]
    assert r.brands == ("Apple",)
    assert r.routes == ("apple",)
    assert r.level == "E1"
    assert r.leverage.contracts == ("A1",)
    assert "2 institutions in 1 consortium through 1 live contract worth 100,000" in r.reason


def test_a_data_gap_asks_for_the_evidence_and_a_plain_observation_is_recorded():
    contracts = [contract("A1", {"Apple": ["MacBook Air"]}, institutions(2, "HEPCW"))]
    expired = finding("EX-AUDIT", "A1", None, Severity.OBSERVATION).model_copy(update={"verdict": "evidence_expired"})
    observation = finding("MO-03-X", "A1", None, Severity.OBSERVATION)
    recs = recommend([expired, observation], contracts, [], hints={"EX-AUDIT": "E1", "MO-03-X": "E1"})[0]
    assert recs[expired.key].level == "E1"
    assert "evidence expired: request the evidence from the contractor" in recs[expired.key].reason
    assert recs[expired.key].routes == ()  # Apple has a group, but a data gap is not a case for it
    assert "evidence expired: no working group until the evidence is in" in recs[expired.key].reason
    assert recs[observation.key].level == "E0"  # a breach-verdict observation stays recorded and monitored


def test_a_finding_at_an_unlinked_facility_has_no_brand_and_stays_at_institution_level():
    contracts = [contract("A1", {"Apple": ["MacBook Air"]}, institutions(1))]
    f = finding("FL-04", "A1", "FAC-UNKNOWN", Severity.PRIORITY)
    r = recommend([f], contracts, [link("FAC-A", "Apple", "MacBook Air")])[0][f.key]
    assert (r.brands, r.routes, r.level) == ((), (), "E2")
    assert "no working group covers it: handle at institution level" in r.reason
    assert r.leverage == escalation.Leverage()
    assert "Linked buyers: 0 institutions in 0 consortia through 0 live contracts worth 0." in r.reason


# ---------------------------------------------------------------------------------------------------------------------
# Routing to existing groups


def test_freedom_of_association_goes_to_the_foa_group_first_then_the_apple_group():
    contracts = [contract("A1", {"Apple": ["MacBook Air"]}, institutions(2, "HEPCW"))]
    f = finding("GR-03", "A1", "FAC-AP", Severity.PRIORITY)
    assert f.fprw == [FOA]
    recs, proposals = recommend([f], contracts, [link("FAC-AP", "Apple", "MacBook Air")])
    r = recs[f.key]
    assert r.routes == ("foa_cb", "apple")
    assert r.brands == ("Apple",)
    assert r.level == "E3"
    assert "freedom of association issues always go to foa_cb; Apple products: apple engages Apple" in r.reason
    assert "E3 working-group referral (Priority findings are referred at once)" in r.reason
    assert proposals == []


def test_freedom_of_association_at_a_brand_without_a_group_goes_to_the_foa_group_only():
    # Serious and shared at Northwind, but the issue group takes it: no brand proposal.
    contracts = northwind_contracts(institutions(3))
    f = finding("GR-03", "NW1", "FAC-NW", Severity.PRIORITY)
    recs, proposals = recommend([f], contracts, NW_LINKS)
    r = recs[f.key]
    assert r.routes == ("foa_cb",)
    assert r.brands == ("Northwind",)
    assert r.level == "E3"
    assert "no group engages" not in r.reason
    assert proposals == []


def test_freedom_of_association_without_an_active_issue_group_goes_to_the_brand_group():
    proposed_foa = models.WorkingGroup(id="foa_cb", name="FoA", scope={"issues": [FOA]}, status="proposed")
    contracts = [contract("C1", {"Cisco": ["C9300"]}, institutions(1, "SUPC"))]
    f = finding("GR-03", "C1", "FAC-C", Severity.PRIORITY)
    r = recommend([f], contracts, [link("FAC-C", "Cisco", None)], groups=[APPLE_WG, CISCO_WG, proposed_foa])[0][f.key]
    assert r.routes == ("cisco",)
    assert "freedom of association" not in r.reason
    assert "Cisco products: cisco engages Cisco" in r.reason


def test_a_cisco_finding_goes_to_the_cisco_group():
    contracts = [contract("C1", {"Cisco": ["C9300"]}, institutions(1, "SUPC"))]
    f = finding("PM-03", "C1", "FAC-C", Severity.MINOR)
    r = recommend([f], contracts, [link("FAC-C", "Cisco", "C9300")])[0][f.key]
    assert (r.routes, r.brands, r.level) == (("cisco",), ("Cisco",), "E2")
    assert "E2 finding notice and corrective action plan request (a Minor finding needs a corrective action plan)" \
        in r.reason


# ---------------------------------------------------------------------------------------------------------------------
# Brand proposals: serious (a Priority finding, or enough ageing Majors) and shared (enough buyers)


def test_a_priority_finding_at_a_brand_without_a_group_shared_by_three_institutions_proposes_a_brand_group():
    contracts = northwind_contracts(institutions(3))
    f = finding("FL-04", "NW1", "FAC-NW", Severity.PRIORITY, age=30)
    recs, proposals = recommend([f], contracts, NW_LINKS)
    r = recs[f.key]
    assert r.routes == ("proposed:brand:Northwind",)
    assert r.brands == ("Northwind",)
    assert r.level == "E3"
    assert r.reason.startswith("Priority finding FL-04 (Identity documents retained without access), visible for "
                               "30 days: E3 working-group referral")
    assert ("no group engages Northwind; 1 open Priority finding; 3 institutions in 1 consortium through 3 live "
            "contracts worth 300,000: propose a new group") in r.reason
    assert proposals == [Proposal(
        id="proposed:brand:Northwind", kind="brand", scope="engage Northwind on its suppliers' findings",
        institutions=("GB-PPON-I1", "GB-PPON-I2", "GB-PPON-I3"), consortia=("LUPC",), findings=(f.key,),
        facilities=("FAC-NW",), brands=("Northwind",),
        reason=("serious findings about Northwind, which no working group engages, shared by 3 institutions in "
                "1 consortium through 3 live contracts worth 300,000"),
    )]


def test_two_consortia_are_enough_to_share_a_concern():
    contracts = northwind_contracts([("GB-PPON-A", ["LUPC"]), ("GB-PPON-B", ["NEUPC"])])
    f = finding("FL-06", "NW1", "FAC-NW", Severity.PRIORITY)
    recs, [proposal] = recommend([f], contracts, NW_LINKS)
    assert recs[f.key].routes == ("proposed:brand:Northwind",)
    assert proposal.institutions == ("GB-PPON-A", "GB-PPON-B")
    assert proposal.consortia == ("LUPC", "NEUPC")


def test_every_finding_about_the_brand_joins_the_proposal_once_it_is_serious():
    # The Priority finding makes the brand serious; the Minor finding at another Northwind site rides along.
    contracts = [*northwind_contracts(institutions(3)), contract("NW9", {"Northwind": ["DT-300"]}, institutions(1))]
    links = [*NW_LINKS, link("FAC-CZ", "Northwind", "DT-300")]
    p = finding("FL-04", "NW1", "FAC-NW", Severity.PRIORITY)
    m = finding("PM-03", "NW9", "FAC-CZ", Severity.MINOR)
    recs, [proposal] = recommend([p, m], contracts, links)
    assert recs[m.key].routes == ("proposed:brand:Northwind",)
    assert recs[m.key].level == "E2"
    assert proposal.findings == tuple(sorted([p.key, m.key]))
    assert proposal.facilities == ("FAC-CZ", "FAC-NW")
    # Brand leverage counts every live Northwind contract, not only those linked to one facility.
    assert proposal.institutions == ("GB-PPON-I1", "GB-PPON-I2", "GB-PPON-I3")
    assert len(recs[m.key].leverage.contracts) == 1


def test_a_priority_finding_shared_by_too_few_buyers_stays_at_institution_level():
    contracts = northwind_contracts(institutions(2))  # 2 institutions, 1 consortium
    f = finding("FL-04", "NW1", "FAC-NW", Severity.PRIORITY)
    recs, proposals = recommend([f], contracts, NW_LINKS)
    r = recs[f.key]
    assert r.routes == ()
    assert r.brands == ("Northwind",)
    assert r.level == "E2"
    assert "a Priority containment notice: no working group covers it yet" in r.reason
    assert ("no group engages Northwind; 1 open Priority finding, but only 2 institutions in 1 consortium through "
            "2 live contracts worth 200,000: handle at institution level") in r.reason
    assert proposals == []


def test_the_thresholds_are_policy():
    contracts = northwind_contracts(institutions(1))
    f = finding("FL-04", "NW1", "FAC-NW", Severity.PRIORITY)
    recs, proposals = recommend([f], contracts, NW_LINKS)
    assert recs[f.key].routes == () and proposals == []
    recs, [proposal] = recommend([f], contracts, NW_LINKS, policy=Policy(min_institutions=1))
    assert recs[f.key].routes == ("proposed:brand:Northwind",)
    assert recs[f.key].level == "E3"
    assert proposal.institutions == ("GB-PPON-I1",)
    # The consortium threshold alone can also be lowered.
    recs, proposals = recommend([f], contracts, NW_LINKS, policy=Policy(min_consortia=1))
    assert [p.id for p in proposals] == ["proposed:brand:Northwind"]


def _majors(n: int, age: int) -> list[models.Finding]:
    """`n` Major findings of different rules at one Northwind site (so no issue proposal), `age` days old."""
    return [finding(rule, "NW1", "FAC-NW", Severity.MAJOR, age=age) for rule in ["FL-01", "GR-04", "WH-01"][:n]]


def test_three_ageing_major_findings_at_a_brand_without_a_group_propose_a_brand_group():
    contracts = northwind_contracts(institutions(3))
    findings = _majors(3, age=91)
    recs, [proposal] = recommend(findings, contracts, NW_LINKS)
    for f in findings:
        r = recs[f.key]
        assert r.routes == ("proposed:brand:Northwind",)
        assert "no group engages Northwind; 3 Major findings older than 90 days; 3 institutions" in r.reason
        # A Major with a group to go to, unresolved for more than 90 days, is a referral.
        assert r.level == "E3"
        assert "E3 working-group referral (a Major finding unresolved after 91 days" in r.reason
    assert proposal.id == "proposed:brand:Northwind" and proposal.kind == "brand"
    assert proposal.findings == tuple(sorted(f.key for f in findings))


@pytest.mark.parametrize("findings", [
    pytest.param(_majors(2, age=91), id="two-majors"),
    pytest.param(_majors(3, age=90), id="three-majors-not-older-than-90-days"),
    pytest.param([*_majors(2, age=91), finding("FL-04", "NW1", "FAC-NW", Severity.MINOR, age=200)],
                 id="two-majors-and-a-minor"),
])
def test_fewer_than_three_ageing_majors_are_not_serious_enough(findings: list[models.Finding]):
    recs, proposals = recommend(findings, northwind_contracts(institutions(3)), NW_LINKS)
    assert proposals == []
    for r in recs.values():
        assert r.routes == ()
        assert r.level == "E2"
        assert "no working group covers it: handle at institution level" in r.reason


def test_the_ageing_major_thresholds_are_policy():
    contracts = northwind_contracts(institutions(3))
    recs, proposals = recommend(_majors(2, age=91), contracts, NW_LINKS, policy=Policy(ageing_majors=2))
    assert [p.id for p in proposals] == ["proposed:brand:Northwind"]
    assert all("2 Major findings older than 90 days" in r.reason for r in recs.values())
    recs, proposals = recommend(_majors(3, age=60), contracts, NW_LINKS, policy=Policy(major_age_days=30))
    assert [p.id for p in proposals] == ["proposed:brand:Northwind"]
    assert all(r.level == "E3" for r in recs.values())


def test_ageing_majors_shared_by_too_few_buyers_stay_at_institution_level():
    recs, proposals = recommend(_majors(3, age=120), northwind_contracts(institutions(2)), NW_LINKS)
    assert proposals == []
    for r in recs.values():
        assert (r.routes, r.level) == ((), "E2")
        assert "3 Major findings older than 90 days, but only 2 institutions in 1 consortium" in r.reason
        assert "handle at institution level" in r.reason


# ---------------------------------------------------------------------------------------------------------------------
# Issue proposals: the same labour-rights issue across facilities or brands


#: Three facilities, each making for a different brand that no group engages, each on one contract.
ISSUE_CONTRACTS = [contract("NW1", {"Northwind": ["NB-450"]}, institutions(1, prefix="N")),
                   contract("FB1", {"Fabrikam": ["FX-14"]}, institutions(1, "NEUPC", prefix="F")),
                   contract("CT1", {"Contoso": ["CX-12"]}, institutions(1, "APUC", prefix="C"))]
ISSUE_LINKS = [link("FAC-TH", "Northwind", "NB-450"), link("FAC-MX", "Fabrikam", "FX-14"),
               link("FAC-MY", "Contoso", "CX-12"), link("FAC-TH2", "Northwind", None)]


def test_the_same_issue_at_three_facilities_of_different_brands_proposes_an_issue_group():
    findings = [finding("FL-01", "NW1", "FAC-TH", Severity.MAJOR), finding("FL-01", "FB1", "FAC-MX", Severity.MAJOR),
                finding("FL-01", "CT1", "FAC-MY", Severity.MAJOR)]
    recs, proposals = recommend(findings, ISSUE_CONTRACTS, ISSUE_LINKS)
    assert proposals == [Proposal(
        id="proposed:issue:FL-01", kind="issue", scope="Workers paid recruitment fees across suppliers",
        institutions=("GB-PPON-C1", "GB-PPON-F1", "GB-PPON-N1"), consortia=("APUC", "LUPC", "NEUPC"),
        findings=tuple(sorted(f.key for f in findings)), facilities=("FAC-MX", "FAC-MY", "FAC-TH"),
        brands=("Contoso", "Fabrikam", "Northwind"),
        reason=("FL-01 (Workers paid recruitment fees) at 3 facilities (FAC-MX, FAC-MY, FAC-TH) of 3 brands "
                "(Contoso, Fabrikam, Northwind) within 730 days, and no group covers the issue; linked buyers: "
                "3 institutions in 3 consortia through 3 live contracts worth 300,000"),
    )]
    # Each brand alone is not serious (recent Majors only), so the findings stay at institution level.
    assert all(r.routes == () and r.level == "E2" for r in recs.values())


def test_the_same_issue_at_two_facilities_of_two_brands_also_proposes_an_issue_group():
    findings = [finding("FL-01", "NW1", "FAC-TH", Severity.MAJOR), finding("FL-01", "FB1", "FAC-MX", Severity.MAJOR)]
    _, proposals = recommend(findings, ISSUE_CONTRACTS, ISSUE_LINKS)
    assert [(p.id, p.facilities, p.brands) for p in proposals] == [
        ("proposed:issue:FL-01", ("FAC-MX", "FAC-TH"), ("Fabrikam", "Northwind"))]


def test_the_same_issue_at_two_facilities_of_one_brand_proposes_nothing():
    findings = [finding("FL-01", "NW1", "FAC-TH", Severity.MAJOR), finding("FL-01", "NW1", "FAC-TH2", Severity.MAJOR)]
    recs, proposals = recommend(findings, ISSUE_CONTRACTS, ISSUE_LINKS)
    assert {r.brands for r in recs.values()} == {("Northwind",)}
    assert proposals == []


def test_a_process_rule_without_a_labour_rights_category_proposes_no_issue_group():
    findings = [finding("PM-03", "NW1", "FAC-TH", Severity.MINOR), finding("PM-03", "FB1", "FAC-MX", Severity.MINOR),
                finding("PM-03", "CT1", "FAC-MY", Severity.MINOR)]
    assert all(f.fprw == [] for f in findings)
    assert recommend(findings, ISSUE_CONTRACTS, ISSUE_LINKS)[1] == []


def test_an_issue_an_existing_group_covers_proposes_no_issue_group():
    findings = [finding("GR-03", "NW1", "FAC-TH", Severity.PRIORITY),
                finding("GR-03", "FB1", "FAC-MX", Severity.PRIORITY),
                finding("GR-03", "CT1", "FAC-MY", Severity.PRIORITY)]
    recs, proposals = recommend(findings, ISSUE_CONTRACTS, ISSUE_LINKS)
    assert proposals == []
    assert all(r.routes == ("foa_cb",) and r.level == "E3" for r in recs.values())
    # Without the freedom-of-association group, the same findings do propose one (and each brand has 1
    # institution only, so no brand group is proposed).
    recs, proposals = recommend(findings, ISSUE_CONTRACTS, ISSUE_LINKS, groups=[APPLE_WG, CISCO_WG])
    assert [p.id for p in proposals] == ["proposed:issue:GR-03"]
    assert all(r.routes == () and r.level == "E2" for r in recs.values())


@pytest.mark.parametrize("kwargs", [
    pytest.param({"severity": Severity.OBSERVATION}, id="observations"),
    pytest.param({"severity": Severity.MAJOR, "age": 731}, id="older-than-the-window"),
])
def test_observations_and_old_findings_do_not_count_towards_an_issue(kwargs: dict[str, Any]):
    findings = [finding("FL-01", "NW1", "FAC-TH", Severity.MAJOR), finding("FL-01", "FB1", "FAC-MX", Severity.MAJOR),
                finding("FL-01", "CT1", "FAC-MY", **kwargs)]
    _, proposals = recommend(findings, ISSUE_CONTRACTS, ISSUE_LINKS, policy=Policy(issue_brands=3))
    assert proposals == []
    _, proposals = recommend(findings[:2] + [finding("FL-01", "CT1", "FAC-MY", Severity.MAJOR, age=730)],
                             ISSUE_CONTRACTS, ISSUE_LINKS, policy=Policy(issue_brands=3))
    assert [p.id for p in proposals] == ["proposed:issue:FL-01"]


def test_a_brand_and_an_issue_proposal_can_come_together_in_a_stable_order():
    contracts = [*ISSUE_CONTRACTS, contract("NW2", {"Northwind": ["NB-450"]}, institutions(2, prefix="X"))]
    findings = [finding("FL-01", "NW1", "FAC-TH", Severity.PRIORITY), finding("FL-01", "FB1", "FAC-MX", Severity.MAJOR),
                finding("FL-01", "CT1", "FAC-MY", Severity.MAJOR)]
    recs, proposals = recommend(findings, contracts, ISSUE_LINKS)
    assert [p.id for p in proposals] == ["proposed:brand:Northwind", "proposed:issue:FL-01"]
    assert recs[findings[0].key].routes == ("proposed:brand:Northwind",)


# ---------------------------------------------------------------------------------------------------------------------
# Contracts that are not live


@pytest.mark.parametrize("dead", [
    pytest.param({"status": "expired"}, id="status-expired"),
    pytest.param({"status": "terminated"}, id="status-terminated"),
    pytest.param({"end": dt.date(2025, 6, 29)}, id="period-ended"),
    pytest.param({"start": dt.date(2025, 7, 1), "end": dt.date(2027, 6, 30)}, id="not-started"),
])
def test_contracts_that_are_not_live_give_no_leverage(dead: dict[str, Any]):
    live = northwind_contracts(institutions(2))
    gone = contract("NW9", {"Northwind": ["NB-450"]}, [("GB-PPON-OLD", ["NEUPC"])], **dead)
    f = finding("FL-04", "NW1", "FAC-NW", Severity.PRIORITY)
    portfolio = ContractNetwork([*live, gone], NW_LINKS, AS_OF)
    assert [c.id for c in portfolio.live()] == ["NW1", "NW2"]
    assert [c.id for c in portfolio.contracts_at("FAC-NW")] == ["NW1", "NW2"]
    assert portfolio.brand_leverage("Northwind").consortia == ("LUPC",)
    recs, proposals = recommend([f], [*live, gone], NW_LINKS)
    r = recs[f.key]
    assert r.leverage.institutions == ("GB-PPON-I1", "GB-PPON-I2")
    assert r.routes == () and proposals == []
    assert "but only 2 institutions in 1 consortium through 2 live contracts" in r.reason
    # The same contract, live, would make the concern shared (a second consortium).
    alive = contract("NW9", {"Northwind": ["NB-450"]}, [("GB-PPON-OLD", ["NEUPC"])])
    assert [p.id for p in recommend([f], [*live, alive], NW_LINKS)[1]] == ["proposed:brand:Northwind"]


def test_an_extension_keeps_a_contract_live_after_its_end():
    extended = contract("A1", {"Apple": ["MacBook Air"]}, institutions(1), end=dt.date(2025, 3, 31),
                        max_extent=dt.date(2026, 3, 31))
    f = finding("WH-01", "A1", "FAC-AP", Severity.MAJOR)
    r = recommend([f], [extended], [link("FAC-AP", "Apple", None)])[0][f.key]
    assert r.routes == ("apple",)


@pytest.mark.parametrize("dead", [
    pytest.param({"status": "expired"}, id="status-expired"),
    pytest.param({"end": dt.date(2025, 1, 15)}, id="period-ended"),
])
def test_a_brand_bought_only_on_an_expired_contract_does_not_resolve_at_a_facility(dead: dict[str, Any]):
    # The Mexican site assembles for Cisco (live) and Apple (expired contract): only Cisco counts.
    contracts = [contract("C1", {"Cisco": ["C9300"]}, institutions(1, "SUPC")),
                 contract("A0", {"Apple": ["MacBook Air"]}, institutions(2, "HEPCW", prefix="H"), **dead)]
    links = [link("FAC-MX", "Cisco", "C9300"), link("FAC-MX", "Apple", "MacBook Air")]
    f = finding("WH-01", "C1", "FAC-MX", Severity.MAJOR)
    g = finding("WH-01", "A0", "FAC-MX", Severity.MAJOR)
    recs, _ = recommend([f, g], contracts, links)
    for r in recs.values():
        assert r.brands == ("Cisco",)
        assert r.routes == ("cisco",)
        assert r.leverage.contracts == ("C1",)


@pytest.mark.parametrize("dead", [
    pytest.param({"status": "expired"}, id="status-expired"),
    pytest.param({"end": dt.date(2025, 1, 15)}, id="period-ended"),
])
def test_a_contract_level_finding_on_an_expired_contract_resolves_no_brand(dead: dict[str, Any]):
    expired = contract("A0", {"Apple": ["MacBook Air"]}, institutions(2, "HEPCW"), **dead)
    f = finding("TR-01", "A0", None, Severity.MAJOR)
    r = recommend([f], [expired], [])[0][f.key]
    assert r.leverage.contracts == ()  # leverage already ignores it
    assert r.brands == ()  # but today: ("Apple",)
    assert r.routes == ()  # but today: ("apple",)


def test_a_brand_whose_contracted_products_are_made_elsewhere_does_not_resolve_at_the_facility():
    # One contract buys Northwind NB-450 (made at FAC-M) and Apple MacBook Air (made at FAC-AP). FAC-M also
    # makes an Apple model no contract buys: Apple's products on contract are not made there.
    both = contract("K1", {"Northwind": ["NB-450"], "Apple": ["MacBook Air"]}, institutions(1))
    links = [link("FAC-M", "Northwind", "NB-450"), link("FAC-M", "Apple", "iPhone 15"),
             link("FAC-AP", "Apple", "MacBook Air")]
    f = finding("WH-01", "K1", "FAC-M", Severity.MAJOR)
    r = recommend([f], [both], links)[0][f.key]
    assert r.brands == ("Northwind",)  # today: ("Apple", "Northwind")
    assert r.routes == ()  # today: ("apple",)


# ---------------------------------------------------------------------------------------------------------------------
# Ladder levels


APPLE_CONTRACTS = [contract("A1", {"Apple": ["MacBook Air"]}, institutions(2, "HEPCW"))]
APPLE_LINKS = [link("FAC-AP", "Apple", "MacBook Air")]
NW_ALONE = northwind_contracts(institutions(1))


@pytest.mark.parametrize("rule, severity, age, contracts, links, hints, level, why", [
    ("MO-03", Severity.OBSERVATION, 10, NW_ALONE, NW_LINKS, {}, "E0", "E0 record and monitor (an observation)"),
    ("MO-03", Severity.OBSERVATION, 400, APPLE_CONTRACTS, APPLE_LINKS, {"MO-03": "E1"}, "E0", "(an observation)"),
    ("TR-01", Severity.MAJOR, 10, NW_ALONE, NW_LINKS, {"TR-01": "E1"}, "E1",
     "E1 formal request (the rule asks for information first)"),
    ("PM-03", Severity.MINOR, 10, NW_ALONE, NW_LINKS, {"PM-03": "E1"}, "E1", "(the rule asks for information first)"),
    ("PM-03", Severity.MINOR, 10, NW_ALONE, NW_LINKS, {}, "E2", "(a Minor finding needs a corrective action plan)"),
    ("PM-03", Severity.MINOR, 400, APPLE_CONTRACTS, APPLE_LINKS, {}, "E2", "(a Minor finding needs a corrective"),
    ("WH-01", Severity.MAJOR, 10, NW_ALONE, NW_LINKS, {}, "E2", "(a Major finding needs a corrective action plan)"),
    ("WH-01", Severity.MAJOR, 90, APPLE_CONTRACTS, APPLE_LINKS, {}, "E2", "(a Major finding needs a corrective"),
    ("WH-01", Severity.MAJOR, 91, APPLE_CONTRACTS, APPLE_LINKS, {}, "E3",
     "E3 working-group referral (a Major finding unresolved after 91 days, for collective engagement)"),
    ("TR-01", Severity.MAJOR, 91, APPLE_CONTRACTS, APPLE_LINKS, {"TR-01": "E1"}, "E3", "unresolved after 91 days"),
    ("WH-01", Severity.MAJOR, 400, NW_ALONE, NW_LINKS, {}, "E2", "(a Major finding needs a corrective"),
    ("FL-04", Severity.PRIORITY, 1, APPLE_CONTRACTS, APPLE_LINKS, {"FL-04": "E1"}, "E3",
     "E3 working-group referral (Priority findings are referred at once)"),
    ("FL-04", Severity.PRIORITY, 400, NW_ALONE, NW_LINKS, {}, "E2",
     ("E2 finding notice and corrective action plan request (a Priority containment notice: no working group "
      "covers it yet)")),
])
def test_ladder_levels(rule: str, severity: Severity, age: int, contracts: list[models.Contract],
                       links: list[models.ProductionLink], hints: dict[str, str], level: str, why: str):
    facility = links[0].facility_id
    f = finding(rule, contracts[0].id, facility, severity, age=age)
    r = recommend([f], contracts, links, hints=hints)[0][f.key]
    assert r.level == level
    assert why in r.reason
    assert r.reason.startswith(f"{severity.label} finding {rule} ({f.title}), visible for {age} days: {level} ")
    assert r.legal_review is False
    assert "Legal review required" not in r.reason


def test_a_priority_finding_still_open_more_than_90_days_after_referral_needs_a_contractual_remedy():
    f = finding("FL-04", "A1", "FAC-AP", Severity.PRIORITY, age=200)
    r = recommend([f], APPLE_CONTRACTS, APPLE_LINKS, referrals={f.key: AS_OF - dt.timedelta(days=91)})[0][f.key]
    assert r.level == "E4"
    assert r.routes == ("apple",)
    assert r.legal_review is True
    assert "E4 contractual remedy (still open 91 days after the working-group referral)" in r.reason
    assert r.reason.endswith("Legal review required before acting.")


@pytest.mark.parametrize("days_ago", [0, 90])
def test_a_recent_referral_stays_a_referral(days_ago: int):
    f = finding("FL-04", "A1", "FAC-AP", Severity.PRIORITY, age=200)
    r = recommend([f], APPLE_CONTRACTS, APPLE_LINKS, referrals={f.key: AS_OF - dt.timedelta(days=days_ago)})[0][f.key]
    assert (r.level, r.legal_review) == ("E3", False)
    assert "Legal review" not in r.reason


def test_a_referral_only_escalates_a_priority_finding_and_only_its_own():
    major = finding("WH-01", "A1", "FAC-AP", Severity.MAJOR, age=30)
    priority = finding("FL-04", "A1", "FAC-AP", Severity.PRIORITY, age=30)
    long_ago = AS_OF - dt.timedelta(days=365)
    recs, _ = recommend([major, priority], APPLE_CONTRACTS, APPLE_LINKS, referrals={major.key: long_ago})
    assert recs[major.key].level == "E2"
    assert recs[priority.key].level == "E3"


def test_the_remedy_delay_is_policy():
    f = finding("FL-04", "A1", "FAC-AP", Severity.PRIORITY)
    referrals = {f.key: AS_OF - dt.timedelta(days=31)}
    assert recommend([f], APPLE_CONTRACTS, APPLE_LINKS, referrals=referrals)[0][f.key].level == "E3"
    r = recommend([f], APPLE_CONTRACTS, APPLE_LINKS, referrals=referrals,
                  policy=Policy(priority_remedy_days=30))[0][f.key]
    assert r.level == "E4" and r.legal_review


@pytest.mark.parametrize("level", list(escalation.LEVELS))
def test_legal_review_is_required_exactly_for_e4_and_e5(level: str):
    f = finding("FL-04", "A1", "FAC-AP", Severity.PRIORITY)
    r = EscalationRecommendation(f, level, ("apple",), ("Apple",), escalation.Leverage(), "reason")
    assert r.legal_review is (level in ("E4", "E5"))


# ---------------------------------------------------------------------------------------------------------------------
# Order and determinism


def _mixed() -> tuple[list[models.Finding], list[models.Contract], list[models.ProductionLink]]:
    contracts = [*northwind_contracts(institutions(3)), *APPLE_CONTRACTS, *ISSUE_CONTRACTS[1:],
                 contract("C1", {"Cisco": ["C9300"]}, institutions(1, "SUPC", prefix="S"))]
    links = [*NW_LINKS, *APPLE_LINKS, *ISSUE_LINKS[1:3], link("FAC-C", "Cisco", None)]
    findings = [
        finding("MO-03", "C1", "FAC-C", Severity.OBSERVATION, key="k-obs"),
        finding("PM-03", "A1", "FAC-AP", Severity.MINOR, key="k-minor"),
        finding("WH-01", "A1", "FAC-AP", Severity.MAJOR, age=120, key="k-major-old"),
        finding("TR-01", "NW1", None, Severity.MAJOR, key="k-major-e1"),
        finding("FL-01", "FB1", "FAC-MX", Severity.MAJOR, key="k-major-b"),
        finding("FL-01", "CT1", "FAC-MY", Severity.MAJOR, key="k-major-a"),
        finding("FL-01", "NW2", "FAC-NW", Severity.MAJOR, key="k-major-c"),
        finding("GR-03", "C1", "FAC-C", Severity.PRIORITY, key="k-p-foa"),
        finding("FL-04", "NW1", "FAC-NW", Severity.PRIORITY, key="k-p-nw"),
        finding("FL-06", "A1", "FAC-AP", Severity.PRIORITY, key="k-p-apple"),
    ]
    return findings, contracts, links


def test_recommendations_come_most_serious_first_then_highest_level_then_most_leverage():
    findings, contracts, links = _mixed()
    hints = {"TR-01": "E1", "MO-03": "E1"}
    referrals = {"k-p-apple": AS_OF - dt.timedelta(days=100)}
    recs, proposals = escalation.recommend(findings, ContractNetwork(contracts, links, AS_OF), GROUPS, hints,
                                           referrals=referrals)
    assert [(r.finding.key, r.level, r.routes) for r in recs] == [
        # Priority: the referral that did not work, then the referrals, most linked institutions first (3, then 1).
        ("k-p-apple", "E4", ("apple",)),
        ("k-p-nw", "E3", ("proposed:brand:Northwind",)),
        ("k-p-foa", "E3", ("foa_cb", "cisco")),
        # Major: the ageing one with a group, then E2 by leverage (Northwind's 3 institutions first), then by key,
        # then E1.
        ("k-major-old", "E3", ("apple",)),
        ("k-major-c", "E2", ("proposed:brand:Northwind",)),
        ("k-major-a", "E2", ()),
        ("k-major-b", "E2", ()),
        ("k-major-e1", "E1", ("proposed:brand:Northwind",)),
        ("k-minor", "E2", ("apple",)),
        ("k-obs", "E0", ("cisco",)),
    ]
    assert [p.id for p in proposals] == ["proposed:brand:Northwind", "proposed:issue:FL-01"]


def test_the_same_inputs_give_the_same_recommendations_in_the_same_order():
    findings, contracts, links = _mixed()
    hints = {"TR-01": "E1"}

    def run(fs: list[models.Finding], cs: list[models.Contract], ls: list[models.ProductionLink]):
        return escalation.recommend(fs, ContractNetwork(cs, ls, AS_OF), GROUPS, hints)

    first = run(findings, contracts, links)
    assert run(findings, contracts, links) == first
    # Input order does not matter either.
    again = run(list(reversed(findings)), list(reversed(contracts)), list(reversed(links)))
    assert [dataclasses.astuple(r) for r in again[0]] == [dataclasses.astuple(r) for r in first[0]]
    assert again[1] == first[1]


# ---------------------------------------------------------------------------------------------------------------------
# The shipped example data (contracts/): who is linked to what, as of the demo date


def test_the_example_portfolio_links_northwind_to_two_consortia_and_resolves_shared_sites():
    contracts = records.load_contracts(ROOT / "contracts" / "contracts.yaml")
    _, links = records.load_facilities(ROOT / "contracts" / "facilities.yaml")
    groups, _ = records.load_working_groups(ROOT / "contracts" / "working-groups.yaml")
    portfolio = ContractNetwork(contracts, links, AS_OF)
    assert {g.id for g in groups} == {"apple", "cisco", "foa_cb"}
    northwind = portfolio.brand_leverage("Northwind")
    assert northwind.consortia == ("LUPC", "NEUPC")
    assert northwind.shared(Policy())
    assert [c.id for c in portfolio.contracts_at("TH2020112B8R4N8")] == ["NDNA-CALLOFF-2024-017",
                                                                          "NDNA-CALLOFF-2024-031"]
    # Shared sites: the Penang site makes for two bought brands; the Mexican one for Cisco and for Fabrikam,
    # whose contract has expired.
    assert portfolio.brands_at("MY2021045K7Q2MV") == ("Cisco", "Contoso Devices")
    assert portfolio.brands_at("MX2022061T5VB2S") == ("Cisco",)


def test_one_problem_on_several_contracts_counts_once():
    """The same evidence at a shared facility is a finding on every linked contract, but one problem."""
    contracts = northwind_contracts(institutions(3))
    findings = [finding("FL-01", c.id, "FAC-NW", Severity.MAJOR, age=100) for c in contracts]
    recs, proposals = recommend(findings, contracts, NW_LINKS)
    assert proposals == []
    assert all(r.routes == () for r in recs.values())


def test_due_diligence_shown_goes_to_the_brand_group_not_to_a_breach_notice():
    contracts = [contract("AP1", {"Apple": ["MacBook"]}, institutions(1))]
    shown = finding("TR-01", "AP1", None, Severity.OBSERVATION).model_copy(update={"verdict": "due_diligence_shown"})
    recs, _ = recommend([shown], contracts, [link("FAC-AP", "Apple", "MacBook")])
    assert (recs[shown.key].routes, recs[shown.key].level) == (("apple",), "E3")
    assert "due diligence shown by the contractor: engage the brand collectively" in recs[shown.key].reason
    nobody = [contract("NW1", {"Northwind": ["NB-450"]}, institutions(1))]
    lone = finding("TR-01", "NW1", None, Severity.OBSERVATION).model_copy(update={"verdict": "due_diligence_shown"})
    recs, _ = recommend([lone], nobody, NW_LINKS)
    assert (recs[lone.key].routes, recs[lone.key].level) == ((), "E1")
