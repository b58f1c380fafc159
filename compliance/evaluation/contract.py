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
from compliance.rules import compiler, reference, spec, strata
from compliance.rules.library import RuleLibrary, family_keys, in_family, override_problems


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
VERIFIED_CLOSURE = {"closure_audit", "monitoring_partner", "union", "worker_survey"}


def repeat_reason(rule_id: str, facility_id: str | None, observed_on: dt.date | None,
                  bundle: ContractFacts) -> str | None:
    """Why a finding is a repeat (PM-04), or None: a corrective action for the same rule at the same facility
    was completed and verified by the workers' side before the new evidence, within REPEAT_WINDOW_DAYS."""
    if facility_id is None or observed_on is None:
        return None
    if bundle.closures is not None:  # the evidence was reduced: the latest reports were kept aside
        latest = bundle.closures.get(facility_id, [])
    else:
        actions = [f for f in bundle.facts if f["type"] == "corrective_action" and f.get("facility_id") == facility_id]
        latest = [bundle.display[("corrective_action", f["id"])]
                  for f in reference.latest_only(actions, ["cap_id", "action_ref"])]
    closures = sorted(
        (r for r in latest
         if r.get("rule_id") and in_family(rule_id, r["rule_id"])
         and r["status"] == "completed" and r.get("completed_on") and r.get("verified_by") in VERIFIED_CLOSURE
         and r["completed_on"] < observed_on <= r["completed_on"] + dt.timedelta(days=REPEAT_WINDOW_DAYS)),
        key=lambda r: (r["completed_on"], r["id"]))
    if not closures:
        return None
    last = closures[-1]
    return (f"repeat finding: the same problem at this facility was closed on {last['completed_on']} "
            f"({last['cap_id']} action {last['action_ref']}, verified by {last['verified_by'].replace('_', ' ')})")


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


def contract_parameter_problems(library: RuleLibrary, contract: models.Contract) -> list[Problem]:
    """Problems with a contract's parameter overrides (unknown rule, unknown parameter, wrong type)."""
    by_id = {r.id: r for r in library.rules}
    return [Problem(f"contract {contract.id}", None, f"parameters.{rule_id}" if rule_id in by_id else "parameters",
                    p.message)
            for rule_id, overrides in contract.parameters.items()
            for p in override_problems(by_id, rule_id, overrides, ())]


def rule_parameters(library: RuleLibrary, contract: models.Contract) -> dict[str, dict[str, Any]]:
    """The applicable rules for `contract` and their parameters: defaults < clause set < contract.

    An override keyed by a rule id also reaches the rule's variants (TR-01 -> TR-01-DD); within one level the
    more specific key wins (TR-01-DD over TR-01)."""
    clause_set = library.clause_set(contract.clause_set.id, contract.clause_set.version)
    levels = [clause_set.parameters if clause_set is not None else {}, contract.parameters]
    out = {}
    for rule in library.rules:
        if not rule.applies_to.matches(contract):
            continue
        params = dict(rule.params)
        for overrides in levels:
            for key in family_keys(rule.id, overrides):
                params.update({name: value for name, value in overrides[key].items() if name in rule.params})
        out[rule.id] = params
    return out


class Evaluator:
    """Compiles a rule library once and evaluates contracts with it, cross-checking every result."""

    def __init__(self, library: RuleLibrary, cross_check: bool = True, engine: bool = True):
        self.library = library
        self.cross_check = cross_check
        #: False: the reference evaluation alone (to measure what evaluating costs without the engine)
        self.use_engine = engine
        self.compiled = compiler.compile_rules(library.rules)
        self._session: Any = None
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

    def _engine(self) -> Any:
        if self._session is None:
            from compliance.rules import engine  # imported late: `compliance --help` stays fast

            self._session = engine.Session(self.compiled)
        return self._session

    def evaluate(self, bundle: ContractFacts) -> ContractResult:
        contract = bundle.contract
        params = rule_parameters(self.library, contract)
        matches, faults = self.matches(bundle, {r: p for r, p in params.items() if r in self.early})
        result = ContractResult(contract, bundle.as_of, rules_applied=sorted(params), facts=len(bundle.facts),
                                faults=faults)
        result.findings, later_faults = self.complete(matches, bundle, params)
        result.faults += later_faults
        return result

    def complete(self, early_matches: Iterable[Match], bundle: ContractFacts, params: dict[str, dict[str, Any]],
                 kept: Iterable[models.Finding] = (), until: int | None = None
                 ) -> tuple[list[models.Finding], list[EngineFault]]:
        """The findings of `early_matches` (the matches of the rules whose conditions read evidence only) and of the
        rules whose conditions read findings, stratum by stratum (``strata``), each stratum's findings made on the
        findings before it; with the engine faults of the later strata. `kept`: base findings of this contract kept
        from an earlier run (not among the matches), which later rules read too; `until`: the strata before this
        one only."""
        by_rule: dict[str, list[Match]] = {}
        for match in early_matches:
            by_rule.setdefault(match.rule_id, []).append(match)
        found = self.findings([m for rule_id in self.layers[0] for m in by_rule.get(rule_id, [])], bundle, params)
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
                more, wrong = self.matches(strata.narrowed(current, types), late)
                matches += more
                faults += wrong
            new = self.findings(matches, current, params)
            found += new
            read += new
        return sorted(found, key=_finding_order), faults

    def bundle_for(self, rule_id: str, bundle: ContractFacts) -> ContractFacts:
        """`bundle` with the findings `rule_id` may read (those of the strata before its own), to explain it."""
        if rule_id in self.base:
            return bundle
        level = next(n for n, layer in enumerate(self.layers) if rule_id in layer)
        params = rule_parameters(self.library, bundle.contract)
        matches, _faults = self.matches(bundle, {r: p for r, p in params.items() if r in self.early})
        findings, _faults = self.complete(matches, bundle, params, until=level)
        return strata.with_findings(bundle, [(f, f.rule_id in self.base) for f in findings])

    def matches(self, bundle: ContractFacts, params: dict[str, dict[str, Any]]) -> tuple[list[Match], list[EngineFault]]:
        """The engine's matches of the rules in `params` on `bundle`, and where the reference evaluation (when
        cross-checking) disagrees with them."""
        if not self.use_engine:
            return reference.evaluate(self.library.rules, bundle, params), []
        matches = self._engine().evaluate(bundle, params)
        faults = []
        if self.cross_check:
            expected = set(reference.evaluate(self.library.rules, bundle, params))
            found = set(matches)
            for match in sorted(expected - found, key=repr):
                faults.append(EngineFault(match.rule_id, bundle.contract.id, True, match.bindings))
            for match in sorted(found - expected, key=repr):
                faults.append(EngineFault(match.rule_id, bundle.contract.id, False, match.bindings))
        return matches, faults

    def findings(self, matches: Iterable[Match], bundle: ContractFacts, params: dict[str, dict[str, Any]]
                 ) -> list[models.Finding]:
        """The findings of `matches` on the contract of `bundle` (whose display records hold the records bound),
        most serious first."""
        return sorted((self.finding(match, bundle, params[match.rule_id]) for match in matches), key=_finding_order)

    # -- findings -----------------------------------------------------------------------------------------------------

    def finding(self, match: Match, bundle: ContractFacts, params: dict[str, Any]) -> models.Finding:
        rule = self._rules[match.rule_id]
        contract = bundle.contract
        context: dict[str, Any] = {**params, "as_of": bundle.as_of, "contract_id": contract.id}
        evidence_ids: set[str] = set()
        evidence_dates: list[dt.date] = []
        identity: list[Any] = []
        facility_id = None
        for alias, value in match.bindings:
            if isinstance(value, tuple):  # a threshold window
                record, members = self._window_display(rule, bundle, value)
                for member in members:
                    evidence_ids.update(member["evidence_ids"] if member["type"] == models.FINDING_FACT
                                        else [member["id"]])
                evidence_dates += [m["date"] for m in members]
                identity.append([alias, list(value[1])])
            else:
                fact_type = rule.alias_fact(alias)
                record = bundle.display[(fact_type, value)]
                if fact_type in models.EVIDENCE_TYPES:
                    evidence_ids.add(value)
                    evidence_dates.append(record["date"])
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
            message=self._message(rule, context),
            evidence_ids=sorted(evidence_ids),
            observed_on=observed_on,
            required_actions=rule.then.required_actions,
            buyer_actions=rule.then.buyer_actions,
            letter_type=rule.then.letter,
            verdict=rule.then.verdict,
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
