"""Rules that read findings: which findings a rule reads, the order rules are evaluated in, and the finding fact.

Some contract conditions are graded by other findings: a corrective action overdue for more than 90 days is a
Priority matter when the finding it corrects is Priority (PM-03), remedy is owed at the severity of the harm it
remedies (GR-04). A rule reads findings with a ``finding`` pattern (``match``, ``absent`` or ``threshold``) or a
modifier whose ``exists`` is a finding. Every such pattern names the findings it reads by a test at the top of its ``where``:

* ``rule_id == "FL-03"`` or ``rule_id in ["WH-01", "WH-02"]``: those rules' findings;
* ``rule_family == "PM-03"`` or ``rule_family in [...]``: the findings of a rule and its variants (PM-03-P...);
* ``base == true``: the findings of every rule that reads evidence only (no findings).

Rules are evaluated in strata: first every rule that reads no findings (the base rules), then each rule after
the rules it reads. A rule cannot read its own findings or a rule that reads it back: ``rules validate`` refuses
such a cycle and names it. A finding is read as of the same evaluation (the same contract and as-of date),
whatever its lifecycle state: the evidence shows it now. The engine and the reference evaluator read the same
finding facts, so the differential checks cover these rules like every other.
"""

from __future__ import annotations

from typing import Any

from compliance.domain import models
from compliance.domain.facts import ContractFacts
from compliance.rules.grammar import Test
from compliance.rules.spec import Rule, SpecProblem

FINDING = models.FINDING_FACT

#: The fields by which a finding pattern names the findings it reads, and how to write them.
NAMING = ('rule_id == "RULE"', 'rule_id in ["RULE", ...]', 'rule_family == "RULE"', "base == true")


def family(rule_id: str) -> str:
    """The clause a rule id belongs to: its first two parts (FL-02 for FL-02-P, TR-01 for TR-01-DD)."""
    return "-".join(rule_id.split("-")[:2])


def finding_patterns(rule: Rule) -> list[tuple[tuple[str | int, ...], list[Any]]]:
    """Where `rule` reads findings: (location in the rule, the pattern's where list) for each."""
    when, out = rule.when, []
    if when.threshold is not None and when.threshold.fact == FINDING:
        out.append((("when", "threshold"), when.threshold.where))
    out += [(("when", "match", i), p.where) for i, p in enumerate(when.match) if p.fact == FINDING]
    out += [(("when", "absent", i), a.where) for i, a in enumerate(when.absent) if a.fact == FINDING]
    out += [(("then", "modifiers", i, "exists"), m.exists.where) for i, m in enumerate(rule.then.modifiers)
            if m.exists is not None and m.exists.fact == FINDING]
    return out


def is_base(rule: Rule) -> bool:
    """Whether `rule` reads evidence only (no findings)."""
    return not finding_patterns(rule)


def matches_on_evidence(rule: Rule) -> bool:
    """Whether `rule`'s conditions (its `when`) read evidence only, so that it matches with the base rules; only its
    modifiers may read findings (then its findings are made in its stratum, after those it reads)."""
    return all(loc[0] == "then" for loc, _where in finding_patterns(rule))


def _named(where: list[Any], rules: dict[str, Rule]) -> set[str] | None:
    """The rules whose findings a pattern reads, from the naming tests at the top of its `where`; None when it has
    none. Several naming tests must all hold, so what they name is the intersection."""
    named: set[str] | None = None
    for test in where:
        if not isinstance(test, Test):
            continue
        if test.field in ("rule_id", "rule_family") and test.op in ("==", "in"):
            if test.op == "in":
                values = set(test.values)
            elif test.operand is not None and isinstance(test.operand.base, str) and not test.operand.offsets:
                values = {test.operand.base}
            else:
                continue  # a join (rule_id == action.rule_id) narrows the findings but does not name rules
            key = (lambda r: r) if test.field == "rule_id" else family
            ids = {r for r in rules if key(r) in values}
        elif test.field == "base" and test.op == "==" and test.operand is not None and test.operand.base is True:
            ids = {r for r, rule in rules.items() if is_base(rule)}
        else:
            continue
        named = ids if named is None else named & ids
    return named


def reads(rule: Rule, rules: dict[str, Rule]) -> tuple[set[str], list[SpecProblem]]:
    """The rules whose findings `rule` reads, and the problems of its finding patterns (none named, or a name that
    is no rule's), located within the rule."""
    out: set[str] = set()
    problems = []
    for loc, where in finding_patterns(rule):
        named = _named(where, rules)
        if named is None:
            problems.append(SpecProblem(loc + ("where",), "a pattern of fact \"finding\" must say whose findings it "
                                        f"reads, with one of these tests at the top of its where: {'; '.join(NAMING)}"))
            continue
        if not named:
            problems.append(SpecProblem(loc + ("where",), "no rule of the library has the findings this pattern "
                                        "reads: check its rule_id or rule_family values"))
        out |= named
    return out, problems


def strata(rules: list[Rule]) -> tuple[list[list[str]], list[tuple[str, SpecProblem]]]:
    """The rule ids in evaluation order, stratum by stratum (the base rules first), and the problems found, each
    with the id of the rule to change: unnamed finding patterns, and cycles (a rule reading its own findings, or
    rules reading each other's), named."""
    by_id = {r.id: r for r in rules}
    deps: dict[str, set[str]] = {}
    problems: list[tuple[str, SpecProblem]] = []
    for rule in rules:
        deps[rule.id], found = reads(rule, by_id)
        problems += [(rule.id, p) for p in found]
    level: dict[str, int] = {}
    visiting: list[str] = []

    def place(rule_id: str) -> int:
        if rule_id in level:
            return level[rule_id]
        if rule_id in visiting:
            cycle = visiting[visiting.index(rule_id):] + [rule_id]
            raise _Cycle(cycle)
        visiting.append(rule_id)
        level[rule_id] = 1 + max((place(d) for d in deps[rule_id]), default=-1) if deps[rule_id] else 0
        visiting.pop()
        return level[rule_id]

    for rule_id in sorted(deps):
        while rule_id not in level:
            try:
                place(rule_id)
            except _Cycle as cycle:
                first = cycle.rules[0]
                if len(cycle.rules) == 2:
                    message = f"rule {first} reads its own findings; a rule can read only findings of other rules"
                else:
                    message = (f"these rules read each other's findings: {' reads '.join(cycle.rules)}; a rule can "
                               "read only findings of rules evaluated before it")
                problems.append((first, SpecProblem(_first_reading(by_id[first], cycle.rules[1], by_id), message)))
                for member in cycle.rules:  # placed, so that each cycle is reported once
                    level.setdefault(member, 0)
                visiting.clear()
    layers: list[list[str]] = [[] for _ in range(max(level.values(), default=0) + 1)]
    for rule_id in sorted(level):
        layers[level[rule_id]].append(rule_id)
    return layers, problems


class _Cycle(Exception):
    def __init__(self, rules: list[str]):
        super().__init__(rules)
        self.rules = rules


def _first_reading(rule: Rule, read: str, rules: dict[str, Rule]) -> tuple[str | int, ...]:
    """Where `rule` reads the findings of `read`."""
    for loc, where in finding_patterns(rule):
        if read in (_named(where, rules) or set()):
            return loc + ("where",)
    return ("when",)


def types_read(rule: Rule) -> set[str]:
    """The fact types `rule`'s patterns (and modifiers that search facts) read."""
    when = rule.when
    out = {p.fact for p in when.match} | {a.fact for a in when.absent}
    out |= {m.exists.fact for m in rule.then.modifiers if m.exists is not None}
    if when.threshold is not None:
        out.add(when.threshold.fact)
    return out


def finding_record(finding: models.Finding, base: bool, evidence: dict[str, list[dict[str, Any]]]
                   ) -> dict[str, Any]:
    """The fact a finding is to the rules that read it (its fields: ``models.CONTEXT_FACT_FIELDS["finding"]``);
    `evidence` holds the contract's evidence records as displayed, by id."""
    records = [record for record_id in finding.evidence_ids for record in evidence.get(record_id, [])]
    groups = {_worker_group(record) for record in records}
    # The person or group its evidence is about (pseudonyms and group labels only: identities never reach a record).
    subjects = {record.get("subject") or record.get("complainant") or record.get("worker_group") for record in records}
    return {
        "type": FINDING, "id": finding.key, "rule_id": finding.rule_id, "rule_family": family(finding.rule_id),
        "base": base, "severity": finding.severity.value,
        "severity_base": (finding.severity_base or finding.severity).value, "verdict": finding.verdict,
        "facility_id": finding.facility_id,
        "worker_group": groups.pop() if len(groups) == 1 else None,
        "subject": subjects.pop() if len(subjects) == 1 else None,
        "evidence_id": finding.evidence_ids[0] if len(finding.evidence_ids) == 1 else None,
        "evidence_ids": list(finding.evidence_ids), "date": finding.observed_on or finding.as_of,
        "ilo_indicator": finding.ilo_indicator,
    }


def _worker_group(record: dict[str, Any]) -> str | None:
    """The worker group a record is about: its worker_group, or its subject when that is a group label (wg_...)."""
    subject = record.get("subject")
    return record.get("worker_group") or (subject if isinstance(subject, str) and subject.startswith("wg_") else None)


def with_findings(bundle: ContractFacts, findings: list[tuple[models.Finding, bool]]) -> ContractFacts:
    """A copy of `bundle` that also holds `findings` (each with whether its rule is a base rule) as facts."""
    out = ContractFacts(contract=bundle.contract, as_of=bundle.as_of, facts=list(bundle.facts),
                        display=dict(bundle.display), by_key=dict(bundle.by_key), facility_ids=bundle.facility_ids,
                        closures=bundle.closures)
    evidence: dict[str, list[dict[str, Any]]] = {}
    for (fact_type, record_id), record in bundle.display.items():
        if fact_type in models.EVIDENCE_TYPES:
            evidence.setdefault(record_id, []).append(record)
    for finding, base in sorted(findings, key=lambda f: f[0].key):
        out.add(finding_record(finding, base, evidence))
    return out


def narrowed(bundle: ContractFacts, types: set[str]) -> ContractFacts:
    """A view of `bundle` with only the facts of `types` (what a stratum's rules read), for the engine to be fed
    no more than it needs."""
    return ContractFacts(contract=bundle.contract, as_of=bundle.as_of,
                         facts=[f for f in bundle.facts if f["type"] in types], display=bundle.display,
                         by_key=bundle.by_key, facility_ids=bundle.facility_ids, closures=bundle.closures)
