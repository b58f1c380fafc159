"""Rule tests as data: GIVEN a contract, facilities, evidence and a date, EXPECT exactly these findings.

Test files live beside the rules (any YAML file under the rules directory whose top-level key is
``cases:``). Each case names the rule it tests; its expectation is the exact set of that rule's findings
(evidence ids and severity): a missing finding and an unexpected one both fail. A case expecting nothing
is a near miss. Every case runs through the engine and is cross-checked against the reference evaluator.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from compliance.domain import facts, models
from compliance.domain.models import Severity
from compliance.errors import Problem
from compliance.rules.spec import did_you_mean
from compliance.sources.structured import LocatedData, validation_problems

DEFAULT_CONTRACT: dict[str, Any] = {
    "ocid": "ocds-test00-1", "id": "TEST-CONTRACT",
    "buyers": [{"id": "GB-TEST-1", "name": "Test University", "consortia": ["LUPC"]}],
    "supplier": {"id": "S-TEST", "name": "Test Reseller Ltd"}, "brands": ["TestBrand"],
    "items": [{"id": "1", "brand": "TestBrand", "model": "TB-1"}],
    "signed_on": "2024-01-01", "period": {"start": "2024-01-01", "end": "2026-12-31"},
    "clause_set": {"id": "EWCC-v2-UK", "version": "2.0"},
}
DEFAULT_FACILITY: dict[str, Any] = {"id": "FAC-TEST", "name": "Test factory", "country": "TH"}


class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evidence: list[str] = Field(default_factory=list, description="Ids of the records behind the finding")
    severity: Severity | None = Field(default=None, description="Default: the rule's severity")
    verdict: models.Verdict | None = Field(default=None, description="Default: the rule's verdict")
    subject: str | None = Field(
        default=None, description="The facility the finding is about, or 'contract' for a contract-level finding; "
        "compared only when given")


class Case(BaseModel):
    """One rule test. Unset parts take defaults: one contract, one facility (FAC-TEST) making its products."""

    model_config = ConfigDict(extra="forbid")
    name: str
    rule: str
    as_of: dt.date
    contract: dict[str, Any] = Field(default_factory=dict, description="Changes to the default contract")
    facilities: list[dict[str, Any]] | None = None
    links: list[dict[str, Any]] | None = None
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    expect: list[Expected] = Field(default_factory=list, description="Exactly these findings of the rule")


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[Case] = Field(min_length=1)


@dataclass
class CaseResult:
    case: Case
    file: str
    line: int | None
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not (self.missing or self.extra or self.error)

    def explain(self) -> str:
        if self.error:
            return self.error
        parts = [f"missing {m}" for m in self.missing] + [f"unexpected {e}" for e in self.extra]
        return "; ".join(parts)


def build(case: Case) -> facts.ContractFacts:
    """The case's facts: its contract, facilities, links and evidence as of its date."""
    contract = models.Contract.model_validate({**DEFAULT_CONTRACT, **case.contract})
    facilities = [models.Facility.model_validate(f) for f in (case.facilities or [DEFAULT_FACILITY])]
    if case.links is None:
        links = [models.ProductionLink(brand=i.brand, model=i.model, facility_id=facilities[0].id)
                 for i in contract.items]
    else:
        links = [models.ProductionLink.model_validate(link) for link in case.links]
    evidence = []
    for raw in case.evidence:
        if "facility_id" not in raw and "contract_id" not in raw:
            raw = {**raw, "facility_id": facilities[0].id}
        evidence.append(models.EVIDENCE_ADAPTER.validate_python(raw))
    return facts.build(contract, {f.id: f for f in facilities}, links, evidence, case.as_of)


def _shown(rule_id: str, evidence: list[str], severity: Severity, verdict: str, subject: str | None) -> str:
    about = f" about {subject}" if subject else ""
    shown_verdict = "" if verdict == "breach" else f" ({models.VERDICT_LABELS[verdict]})"
    return f"{rule_id}{about} [{', '.join(evidence) or 'no evidence'}] {severity.label}{shown_verdict}"


def run(evaluator: Any, cases: list[tuple[Case, str, int | None]]) -> list[CaseResult]:
    """Run every case through `evaluator` (an evaluation.Evaluator, cross-checking) and compare exactly."""
    results = []
    for case, file, line in cases:
        result = CaseResult(case, file, line)
        try:
            outcome = evaluator.evaluate(build(case))
        except (ValidationError, ValueError) as error:
            result.error = f"the case's data is not valid: {error}"
            results.append(result)
            continue
        rule = evaluator.library.rule(case.rule)
        wanted, actual = set(), set()
        findings = [f for f in outcome.findings if f.rule_id == case.rule]
        by_subject = any(e.subject for e in case.expect)  # a case names subjects for all its findings or none
        for e in case.expect:
            wanted.add(_shown(case.rule, sorted(e.evidence), e.severity or rule.severity,
                              e.verdict or rule.then.verdict, e.subject if by_subject else None))
        for f in findings:
            subject = (f.facility_id or "contract") if by_subject else None
            actual.add(_shown(f.rule_id, f.evidence_ids, f.severity, f.verdict, subject))
        result.missing = sorted(wanted - actual)
        result.extra = sorted(actual - wanted)
        if outcome.faults:
            result.error = "; ".join(str(fault) for fault in outcome.faults)
        results.append(result)
    return results


def junit(results: list[CaseResult]) -> bytes:
    """JUnit XML for CI: one test case per rule case, failures with their explanation."""
    failures = [r for r in results if not r.passed]
    suite = ET.Element("testsuite", name="compliance rules", tests=str(len(results)), failures=str(len(failures)))
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r.case.rule, name=r.case.name,
                             file=r.file, line=str(r.line or 0))
        if not r.passed:
            ET.SubElement(case, "failure", message=r.explain()).text = r.explain()
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def coverage(library: Any) -> dict[str, dict[str, dict[str, list[str]]]]:
    """Which FPRW categories, HRDD objectives and clauses have rules, and which rules have firing/near-miss tests."""
    firing = {case.rule for case, *_ in library.cases if case.expect}
    near = {case.rule for case, *_ in library.cases if not case.expect}
    groups: dict[str, dict[str, list[str]]] = {
        "fprw": {c.value: [] for c in models.FPRW},
        "hrdd_objective": {str(n): [] for n in models.HRDD_OBJECTIVES},
        "clause": {},
    }
    for rule in library.rules:
        for category in rule.fprw:
            groups["fprw"][category.value].append(rule.id)
        for objective in rule.hrdd_objectives:
            groups["hrdd_objective"][str(objective)].append(rule.id)
        groups["clause"].setdefault(rule.clause, []).append(rule.id)
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for kind, entries in groups.items():
        out[kind] = {
            name: {"rules": sorted(ids), "untested": sorted(i for i in ids if i not in firing or i not in near)}
            for name, ids in entries.items()
        }
    return out


def load_cases(path: Path, data: LocatedData, problems: list[Problem], known_rules: set[str]
               ) -> list[tuple[Case, str, int | None]]:
    """Cases of one test file (already read with line numbers); problems are appended with their place."""
    name = str(path)
    try:
        parsed = CaseFile.model_validate(data.value)
    except ValidationError as error:
        problems += validation_problems(error, name, data, vocabulary=set(Case.model_fields) | set(Expected.model_fields))
        return []
    out = []
    for i, case in enumerate(parsed.cases):
        line = data.line_of(("cases", i))
        if case.rule not in known_rules:
            problems.append(Problem(name, data.line_of(("cases", i, "rule")), f"case {case.name!r}",
                                    f'unknown rule "{case.rule}"{did_you_mean(case.rule, known_rules)}'))
            continue
        try:
            build(case)  # the contract, facilities and evidence must be valid records too
        except ValidationError as error:
            problems += [Problem(name, line, f"case {case.name!r}" + (f": {p.field}" if p.field else ""), p.message)
                         for p in validation_problems(error, name, None, tags=models.EVIDENCE_TYPES)]
            continue
        except ValueError as error:
            problems.append(Problem(name, line, f"case {case.name!r}", str(error)))
            continue
        out.append((case, name, line))
    return out
