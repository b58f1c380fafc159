"""Escalation: route findings to working groups, recommend a ladder level, propose new groups.

Buyers gain leverage by acting together. For each finding this module resolves the brands behind its
facility (through production links, counting only brands on live contracts), routes it (freedom of
association and collective bargaining to that group first; otherwise the brand's group; otherwise a
proposal for a new group when a serious concern is shared by enough buyers), and recommends a level of
the escalation ladder E0-E5 with the reason in plain words. The engine recommends; officers decide.

Pure functions over findings, contracts and links: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from compliance.domain import facts, models
from compliance.domain.models import FPRW, Severity
from compliance.domain.policy import Policy
from compliance.escalation import verdicts
from compliance.rules.strata import family

LEVELS = {
    "E0": "record and monitor",
    "E1": "formal request",
    "E2": "finding notice and corrective action plan request",
    "E3": "working-group referral",
    "E4": "contractual remedy",
    "E5": "last resort (termination, performance notice)",
}


@dataclass(frozen=True)
class Leverage:
    """The buyers linked to a facility or brand through live contracts."""

    institutions: tuple[str, ...] = ()
    consortia: tuple[str, ...] = ()
    contracts: tuple[str, ...] = ()
    value: float = 0.0

    def shared(self, policy: Policy) -> bool:
        return len(self.institutions) >= policy.min_institutions or len(self.consortia) >= policy.min_consortia

    def __str__(self) -> str:
        return (f"{len(self.institutions)} institution{'s' if len(self.institutions) != 1 else ''} in "
                f"{len(self.consortia)} consorti{'um' if len(self.consortia) == 1 else 'a'} through {len(self.contracts)} live "
                f"contract{'s' if len(self.contracts) != 1 else ''} worth {self.value:,.0f}")


@dataclass(frozen=True)
class EscalationRecommendation:
    finding: models.Finding
    level: str
    routes: tuple[str, ...]  # working-group ids, primary first; "proposed:..." ids; empty: institution level
    brands: tuple[str, ...]
    leverage: Leverage
    reason: str

    @property
    def legal_review(self) -> bool:
        return self.level in ("E4", "E5")


@dataclass(frozen=True)
class Proposal:
    """A recommendation to form a new working group."""

    id: str
    kind: str  # "brand" or "issue"
    scope: str
    institutions: tuple[str, ...]
    consortia: tuple[str, ...]
    findings: tuple[str, ...]
    facilities: tuple[str, ...]
    brands: tuple[str, ...]
    reason: str


@dataclass
class ContractNetwork:
    """Contracts and production links: who buys what from where, for leverage and brand resolution."""

    contracts: list[models.Contract]
    links: list[models.ProductionLink]
    as_of: dt.date
    _by_facility: dict[str, list[models.Contract]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for contract in self.live():
            for link in facts.linked(contract, self.links, self.as_of):
                bucket = self._by_facility.setdefault(link.facility_id, [])
                if contract not in bucket:
                    bucket.append(contract)

    def live(self) -> list[models.Contract]:
        """Active contracts whose period (with any extension) covers the date."""
        return [c for c in self.contracts
                if c.status == "active" and c.period.start <= self.as_of <= (c.period.max_extent or c.period.end)]

    def contracts_at(self, facility_id: str) -> list[models.Contract]:
        return self._by_facility.get(facility_id, [])

    def links_at(self, facility_id: str) -> list[models.ProductionLink]:
        """The links, valid on the date, of the products of live contracts made at the facility."""
        return [link for c in self.contracts_at(facility_id) for link in facts.linked(c, self.links, self.as_of)
                if link.facility_id == facility_id]

    def brands_at(self, facility_id: str) -> tuple[str, ...]:
        """Brands whose products on a live contract are made at the facility, by a confirmed link (a disclosure,
        a supplier list, Open Supply Hub): a brand linked only by research or the media is not engaged through its
        working group until the link is confirmed (``unconfirmed_brands_at``)."""
        return tuple(sorted({link.brand for link in self.links_at(facility_id) if link.confirmed}))

    def unconfirmed_brands_at(self, facility_id: str) -> tuple[str, ...]:
        """Brands linked to the facility only by research or the media (no confirmed link of the brand there)."""
        confirmed = set(self.brands_at(facility_id))
        return tuple(sorted({link.brand for link in self.links_at(facility_id)} - confirmed))

    def leverage(self, contracts: Iterable[models.Contract]) -> Leverage:
        contracts = sorted({c.id: c for c in contracts}.values(), key=lambda c: c.id)
        return Leverage(
            institutions=tuple(sorted({b.id for c in contracts for b in c.buyers})),
            consortia=tuple(sorted({k for c in contracts for b in c.buyers for k in b.consortia})),
            contracts=tuple(c.id for c in contracts),
            value=sum(c.value or 0 for c in contracts),
        )

    def brand_leverage(self, brand: str) -> Leverage:
        return self.leverage(c for c in self.live() if brand in c.brands)


def _age(finding: models.Finding, as_of: dt.date) -> int:
    """Days since the problem became visible (the latest evidence behind the finding)."""
    return (as_of - (finding.observed_on or as_of)).days


def recommend(findings: list[models.Finding], portfolio: ContractNetwork, groups: list[models.WorkingGroup],
              hints: dict[str, str] | None = None, policy: Policy = Policy(),
              referrals: dict[str, dt.date] | None = None
              ) -> tuple[list[EscalationRecommendation], list[Proposal]]:
    """Route every finding and recommend its ladder level; propose new groups where the thresholds are met.

    `hints` maps rule ids to the escalation level their rule suggests (e.g. E1 for an information request);
    `referrals` maps finding keys to the date an officer decided a working-group referral (E3) for them.
    """
    hints = hints or {}
    referrals = referrals or {}
    as_of = portfolio.as_of
    active = [g for g in groups if g.status == "active"]
    brand_groups = {b: g.id for g in active for b in g.scope.brands}
    issue_groups = {i: g.id for g in active for i in g.scope.issues}
    brands_of = {f.key: _brands(f, portfolio) for f in findings}

    brand_proposals: dict[str, list[models.Finding]] = {}
    serious_by_brand: dict[str, str | None] = {}
    out = []
    for finding in findings:
        brands = brands_of[finding.key]
        leverage = portfolio.leverage(portfolio.contracts_at(finding.facility_id)) if finding.facility_id else \
            portfolio.leverage(c for c in portfolio.live() if c.id == finding.contract_id)
        if finding.verdict in verdicts.NOT_YET_BREACH:
            out.append(_not_yet_breach(finding, brands, leverage, issue_groups, as_of))
            continue
        routes: list[str] = []
        why: list[str] = []
        issue = FPRW.FREEDOM_OF_ASSOCIATION if FPRW.FREEDOM_OF_ASSOCIATION in finding.fprw else None
        if finding.verdict in UNROUTED_VERDICTS:
            why.append(f"{models.VERDICT_LABELS[finding.verdict]}: no working group until the evidence is in")
        elif issue is not None and issue in issue_groups:
            routes.append(issue_groups[issue])
            why.append(f"freedom of association issues always go to {issue_groups[issue]}")
        for brand in brands if finding.verdict not in UNROUTED_VERDICTS else ():
            if brand in brand_groups and brand_groups[brand] not in routes:
                routes.append(brand_groups[brand])
                why.append(f"{brand} products: {brand_groups[brand]} engages {brand}")
        if not routes and finding.verdict not in UNROUTED_VERDICTS:
            for brand in brands:
                if brand not in serious_by_brand:  # once per brand, not once per finding
                    serious_by_brand[brand] = _serious(brand, findings, brands_of, as_of, policy)
                serious = serious_by_brand[brand]
                shared = portfolio.brand_leverage(brand)
                if serious and shared.shared(policy):
                    proposal = f"proposed:brand:{brand}"
                    routes.append(proposal)
                    brand_proposals.setdefault(brand, []).append(finding)
                    why.append(f"no group engages {brand}; {serious}; {shared}: propose a new group")
                elif serious:
                    why.append(f"no group engages {brand}; {serious}, but only {shared}: handle at institution level")
            if not why:
                why.append("no working group covers it: handle at institution level")
        why += _unconfirmed_brands(finding, portfolio)
        level, level_why = _level(finding, routes, hints.get(finding.rule_id), as_of, policy,
                                  referrals.get(finding.key))
        reason = (f"{finding.severity.label} finding {finding.rule_id} ({finding.title}), visible for "
                  f"{_age(finding, as_of)} days: {level} {LEVELS[level]} ({level_why}). " + "; ".join(why) +
                  f". Linked buyers: {leverage}.")
        if level in ("E4", "E5"):
            reason += " Legal review required before acting."
        out.append(EscalationRecommendation(finding, level, tuple(routes), brands, leverage, reason))

    proposals = [_brand_proposal(brand, items, portfolio) for brand, items in sorted(brand_proposals.items())]
    # A new group is for a concern no group covers: findings an existing group already takes up need none.
    covered = {r.finding.key for r in out if any(not route.startswith("proposed:") for route in r.routes)}
    proposals += _issue_proposals([f for f in findings if f.key not in covered], brands_of, issue_groups, portfolio,
                                  policy)
    # Most serious first, then the highest step; among equals, the most collective leverage first.
    out.sort(key=lambda r: (r.finding.severity.rank, -int(r.level[1]), -len(r.leverage.institutions),
                            -r.leverage.value, r.finding.key))
    return out, proposals


def _not_yet_breach(finding: models.Finding, brands: tuple[str, ...], leverage: Leverage,
                    issue_groups: dict[FPRW, str], as_of: dt.date) -> EscalationRecommendation:
    """An alleged or disputed finding (E1, an information request) or one that needs human review (E0, for the
    officer and the working group covering its issue): not a breach, so no breach step whatever its severity."""
    if finding.verdict in verdicts.HUMAN_REVIEW:
        routes = tuple(dict.fromkeys(issue_groups[c] for c in finding.fprw if c in issue_groups))
        level, step = "E0", "no step before the review"
        where = f"; {', '.join(routes)} reviews it with the officer" if routes else ""
    else:
        routes, level, step = (), "E1", "request the contractor's account and evidence"
        where = "; no working group until it is verified"
    reason = (f"{finding.severity.label} finding {finding.rule_id} ({finding.title}), visible for "
              f"{_age(finding, as_of)} days, is {models.VERDICT_LABELS[finding.verdict]}, not a breach: {level} "
              f"{LEVELS[level]} ({step}). Needs {verdicts.what_it_needs(finding.verdict)}{where}. "
              f"Linked buyers: {leverage}.")
    return EscalationRecommendation(finding, level, routes, brands, leverage, reason)


def _brands(finding: models.Finding, portfolio: ContractNetwork) -> tuple[str, ...]:
    if finding.facility_id:
        return portfolio.brands_at(finding.facility_id)
    contract = next((c for c in portfolio.live() if c.id == finding.contract_id), None)
    return tuple(sorted(contract.brands)) if contract else ()


def _unconfirmed_brands(finding: models.Finding, portfolio: ContractNetwork) -> list[str]:
    """Why a brand linked to the finding's facility only by research or the media was not routed to."""
    brands = portfolio.unconfirmed_brands_at(finding.facility_id) if finding.facility_id else ()
    return [f"{brand} is linked to {finding.facility_id} only by research or the media: no working group for "
            f"{brand} until the contractor confirms the link" for brand in brands]


def _serious(brand: str, findings: list[models.Finding], brands_of: dict[str, tuple[str, ...]], as_of: dt.date,
             policy: Policy) -> str | None:
    """Why the open findings about a brand are serious enough for collective engagement, or None."""
    # One problem at a shared facility is a finding on every linked contract: count problems, not findings.
    problems = {(f.rule_id, f.facility_id, tuple(f.evidence_ids)): f for f in findings
                if brand in brands_of[f.key] and f.verdict not in verdicts.NOT_YET_BREACH}
    mine = list(problems.values())
    priority = [f for f in mine if f.severity is Severity.PRIORITY]
    if priority:
        return f"{len(priority)} open Priority finding{'s' if len(priority) != 1 else ''}"
    ageing = [f for f in mine if f.severity is Severity.MAJOR and _age(f, as_of) > policy.major_age_days]
    if len(ageing) >= policy.ageing_majors:
        return f"{len(ageing)} Major findings older than {policy.major_age_days} days"
    return None


#: Findings that are data gaps or not yet due: they ask for evidence, they are not a case for a working group.
UNROUTED_VERDICTS = verdicts.DATA_GAPS


def _level(finding: models.Finding, routes: list[str], hint: str | None, as_of: dt.date, policy: Policy,
           referred_on: dt.date | None = None) -> tuple[str, str]:
    age = _age(finding, as_of)
    if finding.severity is Severity.PRIORITY:
        # A contractual remedy only follows a referral that did not work: it needs the recorded E3 decision.
        if referred_on is not None and (as_of - referred_on).days > policy.priority_remedy_days:
            return "E4", f"still open {(as_of - referred_on).days} days after the working-group referral"
        if not routes:
            return "E2", "a Priority containment notice: no working group covers it yet"
        return "E3", "Priority findings are referred at once"
    if finding.verdict == "due_diligence_shown":
        # The reseller did what it could; the brand is the one to move: collective engagement, not a breach notice.
        if routes:
            return "E3", "due diligence shown by the contractor: engage the brand collectively"
        return "E1", "due diligence shown by the contractor: keep requesting the outcome"
    if finding.severity is Severity.OBSERVATION:
        if finding.verdict in ("insufficient_evidence", "evidence_expired") and hint == "E1":
            return "E1", f"{models.VERDICT_LABELS[finding.verdict]}: request the evidence from the contractor"
        return "E0", "an observation"
    if finding.severity is Severity.MAJOR and routes and age > policy.major_age_days:
        return "E3", f"a Major finding unresolved after {age} days, for collective engagement"
    if hint == "E1":
        return "E1", "the rule asks for information first"
    return "E2", f"a {finding.severity.label} finding needs a corrective action plan"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _brand_proposal(brand: str, findings: list[models.Finding], portfolio: ContractNetwork) -> Proposal:
    leverage = portfolio.brand_leverage(brand)
    return Proposal(
        id=f"proposed:brand:{brand}", kind="brand", scope=f"engage {brand} on its suppliers' findings",
        institutions=leverage.institutions, consortia=leverage.consortia,
        findings=tuple(sorted(f.key for f in findings)),
        facilities=tuple(sorted({f.facility_id for f in findings if f.facility_id})), brands=(brand,),
        reason=f"serious findings about {brand}, which no working group engages, shared by {leverage}",
    )


def _issue_proposals(findings: list[models.Finding], brands_of: dict[str, tuple[str, ...]],
                     issue_groups: dict[FPRW, str], portfolio: ContractNetwork, policy: Policy) -> list[Proposal]:
    """The same issue (a rule and its variants) at several facilities or brands within the window, with no group
    for it: factories of several brands, or one component factory several brands share."""
    since = portfolio.as_of - dt.timedelta(days=policy.issue_window_days)
    by_issue: dict[str, list[models.Finding]] = {}
    for f in findings:
        # Labour-rights issues only (an FPRW category): process findings such as late paperwork need no group.
        if f.facility_id and f.fprw and (f.observed_on or portfolio.as_of) >= since \
                and f.severity is not Severity.OBSERVATION and f.verdict not in verdicts.NOT_YET_BREACH:
            by_issue.setdefault(family(f.rule_id), []).append(f)
    out = []
    for issue, items in sorted(by_issue.items()):
        if any(category in issue_groups for f in items for category in f.fprw):
            continue
        facilities = sorted({f.facility_id for f in items if f.facility_id})
        brands = sorted({b for f in items for b in brands_of[f.key]})
        if len(facilities) < policy.issue_facilities and len(brands) < policy.issue_brands:
            continue
        leverage = portfolio.leverage(c for fac in facilities for c in portfolio.contracts_at(fac))
        title = next((f.title for f in items if f.rule_id == issue), items[0].title)
        out.append(Proposal(
            id=f"proposed:issue:{issue}", kind="issue", scope=f"{title} across suppliers",
            institutions=leverage.institutions, consortia=leverage.consortia,
            findings=tuple(sorted(f.key for f in items)), facilities=tuple(facilities), brands=tuple(brands),
            reason=(f"{issue} ({title}) at {_count(len(facilities), 'facility', 'facilities')} "
                    f"({_sites_text(facilities, portfolio)}) of {_count(len(brands), 'brand', 'brands')} "
                    f"({', '.join(brands)}) within {policy.issue_window_days} days, and no group covers the issue; "
                    f"linked buyers: {leverage}"),
        ))
    return out


def _sites_text(facilities: list[str], portfolio: ContractNetwork) -> str:
    """Facility ids, each a component factory marked so: one component factory serves every brand it supplies."""
    components = {link.facility_id for link in portfolio.links if link.tier is models.Tier.STRATEGIC_COMPONENT}
    return ", ".join(f"component factory {f}" if f in components else f for f in facilities)


def leverage_table(portfolio: ContractNetwork) -> dict[str, dict[str, Leverage]]:
    """Collective leverage per facility, per supplier (the contractor) and per brand, over live contracts."""
    live = portfolio.live()
    facilities = {link.facility_id for c in live for link in facts.linked(c, portfolio.links, portfolio.as_of)}
    suppliers = {c.supplier.id for c in live}
    brands = {b for c in live for b in c.brands}
    return {
        "facility": {f: portfolio.leverage(portfolio.contracts_at(f)) for f in sorted(facilities)},
        "supplier": {s: portfolio.leverage(c for c in live if c.supplier.id == s) for s in sorted(suppliers)},
        "brand": {b: portfolio.brand_leverage(b) for b in sorted(brands)},
    }
