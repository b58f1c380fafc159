"""Evaluate contracts: choose the rules and parameters for each, run the engine, cross-check, explain.

For every contract the engine's matches are compared with the reference evaluator's. Any difference
is an engine fault, reported with the rule, the contract and the records involved: durable_rules has
documented silent defects, so a wrong answer must never pass unnoticed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from compliance.domain import models
from compliance.domain.facts import ContractFacts, Match
from compliance.errors import Problem
from compliance.rules import compiler, jurisdictions, reference, spec, strata
from compliance.rules.library import RuleLibrary, in_family, override_problems, resolve

#: rule id -> its parameters
Params = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class EngineFault:
    """The engine and the reference evaluation disagree about one match."""

    rule_id: str
    contract_id: str
    missed: bool  # True: the reference found it and the engine did not; False: only the engine found it
    bindings: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        facts = ", ".join(f"{alias}={_binding_text(value)}" for alias, value in self.bindings)
        what = "missed a match the reference evaluation found" if self.missed else \
            "reported a match the reference evaluation does not confirm"
        return f"engine fault: rule {self.rule_id}, contract {self.contract_id}: the engine {what} ({facts})"


def _binding_text(value: Any) -> str:
    if isinstance(value, tuple) and value and value[0] == "window":
        return f"window {list(value[1])} of {len(value[2])} records [{', '.join(value[2])}]"
    return str(value)


#: PM-04: a finding within this many days after the same problem was closed and verified at the same
#: facility is a repeat, and its severity is raised one level (proposed default: 24 months).
REPEAT_WINDOW_DAYS = 730

#: Who may verify a closure: the workers' side or a closure audit, never the supplier alone (GR-05).
VERIFIED_CLOSURE = models.INDEPENDENT_VERIFIERS


def verified_closures(rule_id: str, facility_id: str | None, bundle: ContractFacts) -> list[dict[str, Any]]:
    """The corrective actions for `rule_id`'s family at the facility completed and verified by the workers' side
    (the latest report of each action), by completion date."""
    if facility_id is None:
        return []
    if bundle.closures is not None:  # the evidence was reduced: the latest reports were kept aside
        latest = bundle.closures.get(facility_id, [])
    else:
        actions = [f for f in bundle.facts if f["type"] == "corrective_action" and f.get("facility_id") == facility_id]
        latest = [bundle.display[("corrective_action", f["id"])]
                  for f in reference.latest_only(actions, ["cap_id", "action_ref"])]
    return sorted(
        (r for r in latest
         if r.get("rule_id") and in_family(rule_id, r["rule_id"])
         and r["status"] == "completed" and r.get("completed_on") and r.get("verified_by") in VERIFIED_CLOSURE),
        key=lambda r: (r["completed_on"], r["id"]))


def repeat_reason(rule_id: str, facility_id: str | None, observed_on: dt.date | None,
                  bundle: ContractFacts) -> str | None:
    """Why a finding is a repeat (PM-04), or None: a corrective action for the same rule at the same facility
    was completed and verified by the workers' side before the new evidence, within REPEAT_WINDOW_DAYS."""
    if observed_on is None:
        return None
    closures = [r for r in verified_closures(rule_id, facility_id, bundle)
                if r["completed_on"] < observed_on <= r["completed_on"] + dt.timedelta(days=REPEAT_WINDOW_DAYS)]
    if not closures:
        return None
    last = closures[-1]
    return (f"repeat finding: the same problem at this facility was closed on {last['completed_on']} "
            f"({last['cap_id']} action {last['action_ref']}, verified by {last['verified_by'].replace('_', ' ')})")


#: The harm each kind of remedy repairs, by rule family: a remedy recorded without a `finding_ref` settles the
#: findings of these families at its facility (for its worker group, when both name one).
REMEDY_COVERS: dict[str, tuple[str, ...]] = {
    "fee_reimbursement": ("FL-01", "FL-02", "FL-03", "FL-07"),
    "back_pay": ("WH-04",),
    "unlawful_deductions": ("WH-04",),
    "injury_compensation": ("HS-01",),
    "medical_costs": ("HS-01", "HS-02"),
    "reinstatement": ("FA-01", "GR-03", "DI-01"),
    "child_remediation": ("YS-01",),
}


def settling_remedy(finding: models.Finding, bundle: ContractFacts) -> dict[str, Any] | None:
    """A remedy that settles the finding, or None: a remediation record at its facility, dated on or after the latest
    evidence behind it, complete and verified independently of the supplier (``remedy_closed``), for this finding
    (its `finding_ref` names the finding, its rule or its evidence) or, naming none, for the harm its kind repairs."""
    if finding.observed_on is None:
        return None
    remedies = [bundle.display[("remediation", fact["id"])] for fact in bundle.of_type("remediation")
                if fact.get("remedy_closed") and fact.get("facility_id") == finding.facility_id]
    if not remedies:  # the common case, decided without reading the finding's evidence
        return None
    group = next((bundle.display[key].get("worker_group") for key in bundle.display
                  if key[1] in finding.evidence_ids and bundle.display[key].get("worker_group")), None)
    for record in remedies:
        if record["date"] < finding.observed_on:
            continue
        ref = record.get("finding_ref")
        if ref:
            if ref == finding.key or ref in finding.evidence_ids or in_family(finding.rule_id, ref):
                return record
        elif any(in_family(finding.rule_id, f) for f in REMEDY_COVERS.get(record["kind"], ())) \
                and (group is None or record.get("worker_group") in (None, group)):
            return record
    return None


def closed_by(rule_id: str, facility_id: str | None, observed_on: dt.date | None,
              bundle: ContractFacts) -> dict[str, Any] | None:
    """The verified closure that covers a breach, or None: a corrective action for the rule's family at the facility
    completed and verified by the workers' side on or after the day of the latest evidence behind it. What the
    closure covers is settled; evidence dated after it makes the finding again (a repeat, PM-04)."""
    if observed_on is None:
        return None
    return next((r for r in verified_closures(rule_id, facility_id, bundle) if r["completed_on"] >= observed_on), None)


#: The parameter of an event rule that says how far back its events make findings (in days).
LOOK_BACK = "look_back_days"


def within_look_back(finding: models.Finding, params: dict[str, Any]) -> bool:
    """Whether the latest evidence behind a finding is within its rule's look-back horizon (``look_back_days``, for
    rules about events): an older event no longer makes the finding. Unremedied harm it caused stays GR-04's, which
    reads the remedy owed; a remedied one no longer stands against a renewal."""
    days = params.get(LOOK_BACK)
    return days is None or finding.observed_on is None or (finding.as_of - finding.observed_on).days <= days


def settled(finding: models.Finding, bundle: ContractFacts) -> bool:
    """Whether the harm a finding states is settled: a breach covered by a verified closure, or a breach (or a
    request for the facts) whose harm a remedy verified independently has repaired in full. Settled findings are not
    made, and later rules do not read them (FL-06 does not count a remedied indicator)."""
    if finding.facility_id is None or finding.verdict not in ("breach", "insufficient_evidence"):
        return False
    if finding.verdict == "breach" and closed_by(finding.rule_id, finding.facility_id, finding.observed_on, bundle):
        return True
    return settling_remedy(finding, bundle) is not None


#: How a finding resting on evidence not yet established says so, before the rule's own message.
UNVERIFIED_PREFIX = {
    "alleged": "Alleged, not yet verified:",
    "disputed": "Disputed by the supplier, not verified independently:",
}
#: What the contractor is asked while a finding is not established: the facts, not yet the remedy of a breach.
VERIFICATION_ACTIONS = {
    "alleged": ["Within 14 days, give the facility's account of what is alleged, with its documents (records, payslips, "
                "policies), and allow the independent monitor to verify it with the workers."],
    "disputed": ["Within 30 days, allow the independent monitor to verify the facts with the workers, and give the "
                 "documents on which the supplier's denial rests."],
}


def established(verdict: str, verifications: set[str]) -> str:
    """A breach is only as established as the evidence it rests on: any record disputed by the supplier (and not
    verified independently) makes it "disputed", any record alleged and not yet verified makes it "alleged" (an
    information request asking for verification), and its confirmation makes it the breach, with the same key. Other
    verdicts (data gaps, due diligence) are not claims about a practice and stay as they are."""
    if verdict != "breach":
        return verdict
    if "disputed" in verifications:
        return "disputed"
    if "alleged" in verifications:
        return "alleged"
    return verdict


def _finding_order(finding: models.Finding) -> tuple[Any, ...]:
    """Most serious first, then by rule, facility and key."""
    return (finding.severity.rank, finding.rule_id, finding.facility_id or "", finding.key)


def _modifier_holds(modifier: spec.Modifier, env: reference.Env, bundle: ContractFacts, params: dict[str, Any]) -> bool:
    """Whether a severity modifier holds on a match: its tests on the matched fact it names, and (``exists``) some
    fact of a type (a finding of an earlier rule, say) satisfying its tests, which read the matched facts by alias."""
    as_of = bundle.as_of_day
    if modifier.alias is not None and \
            reference.holds(modifier.where, env.get(modifier.alias, {}), modifier.alias, env, params, as_of) is not True:
        return False
    exists = modifier.exists
    if exists is None:
        return True
    candidates = bundle.of_type(exists.fact)
    equal = reference.equality_lookup(exists.where, "", env)
    if equal is not None:  # only facts whose fields equal the matched values can satisfy the tests: look them up
        fields, values = equal
        candidates = [] if None in values else bundle.indexed(exists.fact, fields, reference.index_by).get(values, [])
    return any(reference.holds(exists.where, fact, "", env, params, as_of) is True for fact in candidates)


def _indicator(rule: spec.Rule, context: dict[str, Any]) -> str | None:
    """The ILO forced-labour indicator a finding of `rule` evidences: the rule's, or its matched record's."""
    indicator = rule.ilo_indicator
    if indicator is None or isinstance(indicator, str):
        return indicator
    alias, field = indicator.from_.split(".")
    value = context.get(alias, {}).get(field)
    if indicator.map is not None:
        value = indicator.map.get(str(value))
    return value if value in models.ILO_INDICATORS else None


@dataclass
class ContractResult:
    contract: models.Contract
    as_of: dt.date
    findings: list[models.Finding] = field(default_factory=list)
    faults: list[EngineFault] = field(default_factory=list)
    rules_applied: list[str] = field(default_factory=list)
    facts: int = 0
    #: Why the contract was not evaluated (the as-of date is outside its term), or None when it was.
    outside_term: str | None = None


def contract_parameter_problems(library: RuleLibrary, contract: models.Contract) -> list[Problem]:
    """Problems with a contract's parameter overrides (unknown rule, unknown parameter, wrong type)."""
    by_id = {r.id: r for r in library.rules}
    return [Problem(f"contract {contract.id}", None, f"parameters.{rule_id}" if rule_id in by_id else "parameters",
                    p.message)
            for rule_id, overrides in contract.parameters.items()
            for p in override_problems(by_id, rule_id, overrides, ())]


def rule_parameters(library: RuleLibrary, contract: models.Contract, country: str | None = None
                    ) -> dict[str, dict[str, Any]]:
    """The applicable rules for `contract` and their parameters, at a facility in `country` (None: where no
    jurisdiction pack applies): defaults < clause set < the country's jurisdiction pack < contract.

    An override keyed by a rule id also reaches the rule's variants (TR-01 -> TR-01-DD); within one level the
    more specific key wins (TR-01-DD over TR-01). ``library.resolve`` says where each value came from."""
    return {rule.id: {name: setting.value
                      for name, setting in resolve(library, rule, contract, country).items()}
            for rule in library.rules if rule.applies_to.matches(contract)}


def facility_parameters(library: RuleLibrary, contract: models.Contract, countries: dict[str, str]
                        ) -> dict[str, dict[str, dict[str, Any]]]:
    """facility id -> the parameters of `contract`'s rules there, for the facilities (`countries`: facility id ->
    country) whose jurisdiction pack changes them; the others have the contract's (``rule_parameters``)."""
    wanted = {country for country in countries.values() if country in library.jurisdictions}
    if not wanted:
        return {}
    base = rule_parameters(library, contract)
    by_country = {country: rule_parameters(library, contract, country) for country in sorted(wanted)}
    return {facility_id: by_country[country] for facility_id, country in countries.items()
            if country in by_country and by_country[country] != base}


def facility_of(rule: spec.Rule, match: Match, bundle: ContractFacts) -> str | None:
    """The facility a match is at, as its finding names it: the facility bound, else the first bound record's."""
    facility_id = None
    for alias, value in match.bindings:
        if isinstance(value, tuple):  # a threshold window: its group
            assert rule.when.threshold is not None
            record = dict(zip(rule.when.threshold.group_by, value[1]))
        else:
            fact_type = rule.alias_fact(alias)
            record = bundle.display[(fact_type, value)]
            if fact_type == "facility":
                facility_id = facility_id or value
        facility_id = facility_id or record.get("facility_id")
    return facility_id


class Evaluator:
    """Compiles a rule library once and evaluates contracts with it, cross-checking every result."""

    def __init__(self, library: RuleLibrary, cross_check: bool = True, engine: bool = True):
        self.library = library
        self.cross_check = cross_check
        #: False: the reference evaluation alone (to measure what evaluating costs without the engine)
        self.use_engine = engine
        #: the rules whose conditions read evidence only, and those that read findings: two rulesets
        self.compiled = compiler.compile_library(library.rules)
        self._sessions: dict[int, Any] = {}
        self._rules = {r.id: r for r in library.rules}
        #: rule ids stratum by stratum: the rules that read evidence only, then each rule after those it reads
        self.layers, _problems = strata.strata(library.rules)  # a loaded library has no problems
        self.base = set(self.layers[0]) if self.layers else set()
        #: the rules whose conditions read evidence only: matched together with the base rules (their modifiers
        #: may read findings, so their findings are made in their stratum)
        self.early = {r.id for r in library.rules if strata.matches_on_evidence(r)}
        self._types = {r.id: strata.types_read(r) for r in library.rules}
        #: the fact types a rule cannot match without (its match and threshold patterns)
        self._needs = {r.id: {p.fact for p in r.when.match} | ({r.when.threshold.fact} if r.when.threshold else set())
                       for r in library.rules}

    def _engine(self, rule_ids: Iterable[str]) -> Any:
        """The engine session of the ruleset holding `rule_ids` (all early, or all reading findings)."""
        part = 0 if all(rule_id in self.early for rule_id in rule_ids) else 1
        if part not in self._sessions:
            from compliance.rules import engine  # imported late: `compliance --help` stays fast

            self._sessions[part] = engine.Session(self.compiled[part])
        return self._sessions[part]

    def evaluate(self, bundle: ContractFacts) -> ContractResult:
        contract = bundle.contract
        params = rule_parameters(self.library, contract)
        sites = self.prepare(bundle)
        matches, faults = self.matches(bundle, {r: p for r, p in params.items() if r in self.early}, sites)
        result = ContractResult(contract, bundle.as_of, rules_applied=sorted(params), facts=len(bundle.facts),
                                faults=faults)
        result.findings, later_faults = self.complete(matches, bundle, params, sites=sites)
        result.faults += later_faults
        return result

    def prepare(self, bundle: ContractFacts, countries: dict[str, str] | None = None) -> dict[str, Params]:
        """The parameters of the contract's facilities whose jurisdiction pack changes them (``jurisdictions``),
        by facility id; and the packs' recruitment-fee caps filled in on the bundle's fees. `countries`: facility
        id -> country, else the bundle's facility facts'."""
        if countries is None:
            countries = jurisdictions.facility_countries(bundle.of_type("facility"))
        jurisdictions.fill_fee_caps(self.library.jurisdictions, bundle, countries)
        return facility_parameters(self.library, bundle.contract, countries)

    def complete(self, early_matches: Iterable[Match], bundle: ContractFacts, params: dict[str, dict[str, Any]],
                 kept: Iterable[models.Finding] = (), until: int | None = None, sites: dict[str, Params] | None = None
                 ) -> tuple[list[models.Finding], list[EngineFault]]:
        """The findings of `early_matches` (the matches of the rules whose conditions read evidence only) and of the
        rules whose conditions read findings, stratum by stratum (``strata``), each stratum's findings made on the
        findings before it; with the engine faults of the later strata. `kept`: base findings of this contract kept
        from an earlier run (not among the matches), which later rules read too; `until`: the strata before this
        one only; `sites`: the parameters of the facilities whose own differ (``prepare``)."""
        by_rule: dict[str, list[Match]] = {}
        for match in early_matches:
            by_rule.setdefault(match.rule_id, []).append(match)
        found = self.findings([m for rule_id in self.layers[0] for m in by_rule.get(rule_id, [])], bundle, params,
                              sites)
        read = [*kept, *found]
        faults: list[EngineFault] = []
        for layer in self.layers[1:until]:
            applying = [rule_id for rule_id in layer if rule_id in params]
            if not applying:
                continue
            current = strata.with_findings(bundle, [(f, f.rule_id in self.base) for f in read])
            matches = [m for rule_id in applying if rule_id in self.early for m in by_rule.get(rule_id, [])]
            late = {rule_id: params[rule_id] for rule_id in applying if rule_id not in self.early
                    and all(current.of_type(fact) for fact in self._needs[rule_id])}
            if late:  # conditions that read findings: the engine, on the findings so far
                types = set().union(*(self._types[rule_id] for rule_id in late))
                more, wrong = self.matches(strata.narrowed(current, types), late, sites)
                matches += more
                faults += wrong
            new = self.findings(matches, current, params, sites)
            found += new
            read += new
        return sorted(found, key=_finding_order), faults

    def bundle_for(self, rule_id: str, bundle: ContractFacts) -> ContractFacts:
        """`bundle` with the findings `rule_id` may read (those of the strata before its own), to explain it."""
        if rule_id in self.base:
            return bundle
        level = next(n for n, layer in enumerate(self.layers) if rule_id in layer)
        params = rule_parameters(self.library, bundle.contract)
        sites = self.prepare(bundle)
        matches, _faults = self.matches(bundle, {r: p for r, p in params.items() if r in self.early}, sites)
        findings, _faults = self.complete(matches, bundle, params, until=level, sites=sites)
        return strata.with_findings(bundle, [(f, f.rule_id in self.base) for f in findings])

    def matches(self, bundle: ContractFacts, params: dict[str, dict[str, Any]], sites: dict[str, Params] | None = None
                ) -> tuple[list[Match], list[EngineFault]]:
        """The engine's matches of the rules in `params` on `bundle`, and where the reference evaluation (when
        cross-checking) disagrees with them; at the facilities of `sites` with their own parameters (one run per
        distinct parameter set, ``jurisdictions.matches_by_facility``)."""
        if sites:
            return jurisdictions.matches_by_facility(
                lambda chosen: self._matches(bundle, chosen), params, sites,
                lambda match: facility_of(self._rules[match.rule_id], match, bundle))
        return self._matches(bundle, params)

    def _matches(self, bundle: ContractFacts, params: dict[str, dict[str, Any]]
                 ) -> tuple[list[Match], list[EngineFault]]:
        if not self.use_engine:
            return reference.evaluate(self.library.rules, bundle, params), []
        if not params:
            return [], []
        matches = self._engine(params).evaluate(bundle, params)
        faults = []
        if self.cross_check:
            expected = set(reference.evaluate(self.library.rules, bundle, params))
            found = set(matches)
            for match in sorted(expected - found, key=repr):
                faults.append(EngineFault(match.rule_id, bundle.contract.id, True, match.bindings))
            for match in sorted(found - expected, key=repr):
                faults.append(EngineFault(match.rule_id, bundle.contract.id, False, match.bindings))
        return matches, faults

    def findings(self, matches: Iterable[Match], bundle: ContractFacts, params: dict[str, dict[str, Any]],
                 sites: dict[str, Params] | None = None) -> list[models.Finding]:
        """The findings of `matches` on the contract of `bundle` (whose display records hold the records bound),
        most serious first; each with the parameters of its facility (`sites`, else the contract's). A finding whose
        harm a verified closure or remedy settles (``settled``) is not made."""
        def own(match: Match) -> dict[str, Any]:
            at = sites.get(facility_of(self._rules[match.rule_id], match, bundle) or "") if sites else None
            return (at or params)[match.rule_id]

        made = ((self.finding(match, bundle, own(match)), own(match)) for match in matches)
        return sorted((f for f, p in made if within_look_back(f, p) and not settled(f, bundle)), key=_finding_order)

    # -- findings -----------------------------------------------------------------------------------------------------

    def finding(self, match: Match, bundle: ContractFacts, params: dict[str, Any]) -> models.Finding:
        rule = self._rules[match.rule_id]
        contract = bundle.contract
        context: dict[str, Any] = {**params, "as_of": bundle.as_of, "contract_id": contract.id}
        evidence_ids: set[str] = set()
        evidence_dates: list[dt.date] = []
        verifications: set[str] = set()
        identity: list[Any] = []
        facility_id = None
        for alias, value in match.bindings:
            if isinstance(value, tuple):  # a threshold window
                record, members = self._window_display(rule, bundle, value)
                for member in members:
                    evidence_ids.update(member["evidence_ids"] if member["type"] == models.FINDING_FACT
                                        else [member["id"]])
                evidence_dates += [m["date"] for m in members]
                verifications.update(m.get("verification", "confirmed") for m in members)
                identity.append([alias, list(value[1])])
            else:
                fact_type = rule.alias_fact(alias)
                record = bundle.display[(fact_type, value)]
                if fact_type in models.EVIDENCE_TYPES:
                    evidence_ids.add(value)
                    evidence_dates.append(record["date"])
                    verifications.add(record.get("verification", "confirmed"))
                elif fact_type == models.FINDING_FACT:  # a finding read: the evidence behind it
                    evidence_ids.update(record["evidence_ids"])
                    evidence_dates.append(record["date"])
                pattern = next(p for p in rule.when.match if p.as_ == alias)
                if pattern.latest_per:
                    identity.append([alias, [str(record.get(k)) for k in pattern.latest_per]])
                else:
                    identity.append([alias, value])
                if fact_type == "facility":
                    facility_id = facility_id or value
            facility_id = facility_id or record.get("facility_id")
            context[alias] = record
        env = {alias: bundle.by_key[(rule.alias_fact(alias), value)] for alias, value in match.bindings
               if not isinstance(value, tuple)}
        modifiers = [m.reason for m in rule.then.modifiers if _modifier_holds(m, env, bundle, params)]
        observed_on = max(evidence_dates, default=None)
        if rule.then.verdict == "breach":  # a data gap or due diligence is not a repeat breach
            repeat = repeat_reason(rule.id, facility_id, observed_on, bundle)
            if repeat:
                modifiers.append(repeat)
        severity = rule.severity.raised(len(modifiers))
        verdict = established(rule.then.verdict, verifications)
        message = self._message(rule, context)
        if verdict != rule.then.verdict:
            message = f"{UNVERIFIED_PREFIX[verdict]} {message[:1].lower()}{message[1:]}"
        digest = hashlib.sha256(json.dumps([rule.id, contract.id, sorted(identity)], default=str).encode()).hexdigest()
        return models.Finding(
            key=f"{rule.id}/{contract.id}/{digest[:12]}",
            rule_id=rule.id,
            rule_version=rule.version,
            title=rule.title,
            clause=rule.clause,
            contract_id=contract.id,
            ocid=contract.ocid,
            supplier_id=contract.supplier.id,
            facility_id=facility_id,
            severity=severity,
            severity_base=rule.severity,
            modifiers=modifiers,
            fprw=rule.fprw,
            hrdd_objectives=rule.hrdd_objectives,
            message=message,
            evidence_ids=sorted(evidence_ids),
            observed_on=observed_on,
            required_actions=(VERIFICATION_ACTIONS[verdict] if verdict != rule.then.verdict
                              else rule.then.required_actions),
            buyer_actions=rule.then.buyer_actions,
            letter_type=rule.then.letter if verdict == rule.then.verdict else "L1",
            verdict=verdict,
            ilo_indicator=_indicator(rule, context),
            respond_by=bundle.as_of + dt.timedelta(days=rule.response_days(severity)),
            as_of=bundle.as_of,
        )

    def _window_display(self, rule: spec.Rule, bundle: ContractFacts, value: tuple[Any, ...]
                        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        threshold = rule.when.threshold
        assert threshold is not None
        _, group, ids = value
        members = sorted((bundle.display[(threshold.fact, i)] for i in ids), key=lambda m: (m["date"], m["id"]))
        count = len({m[threshold.distinct] for m in members}) if threshold.distinct else len(members)
        record = dict(zip(threshold.group_by, group))
        record.update(count=count, first_date=members[0]["date"], last_date=members[-1]["date"],
                      ids=[m["id"] for m in members], members=members)
        if threshold.distinct:
            record["values"] = sorted({str(m[threshold.distinct]) for m in members})
        return record, members

    _environment = spec.message_environment()
    _templates: dict[str, Any] = {}  # message text -> its compiled template

    def _message(self, rule: spec.Rule, context: dict[str, Any]) -> str:
        template = self._templates.get(rule.then.message)
        if template is None:
            template = self._templates[rule.then.message] = self._environment.from_string(rule.then.message)
        try:
            text = " ".join(template.render(context).split())
            if note := spec.estimate_note(rule, context):  # estimated values say so, whatever the rule
                text = f"{text[:-1]} {note}." if text.endswith(".") else f"{text} {note}"
            return text[:1].upper() + text[1:]
        except Exception as error:  # noqa: BLE001 - a message must never lose the finding itself
            return f"{rule.title} (the rule's message could not be written: {error})"
