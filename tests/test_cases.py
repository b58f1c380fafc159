"""The case corpus: cases modelled on publicly reported electronics supply-chain abuses, run as an officer runs them.

Each folder under tests/cases/ holds what a procurement officer imports (contracts, facilities and production
links, evidence) and `expected.yaml`: what the contract conditions say should come out, written from the conditions
(the rule catalogue, severity and routing), never copied from the product's output. A case runs in a fresh SQLite
store through the command line: `db init`, the imports, `run --as-of`, `findings list --json`, `escalations list
--json` and `report dossier`. A failure lists every missing or unexpected finding, route and recommendation.

expected.yaml:

    as_of: 2017-12-15
    findings:                       # every finding the latest run must find, and no other
      - {rule: YS-03, severity: major, verdict: breach, facility: CN..., contract: ...}   # contract: optional
    not_expected:                   # what must never appear (any verdict unless one is given)
      - {rule: YS-01}
      - {rule: FL-01, verdict: breach}
    routes:                         # escalation recommendations (`compliance escalations list`)
      - {rule: YS-03, facility: CN..., level: E2, routes: [apple]}
    proposals: [proposed:brand:Northwind]   # new working groups proposed (all of them; [] for none)
    dossier: {CONTRACT-ID: renew_with_conditions}   # renew, renew_with_conditions, defer, legal_review

A rule named as a catalogue entry (`FL-02`) also matches its variants (`FL-02-P`), which carry its condition with
another verdict or severity; the severity and verdict stated still have to match.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from compliance.cli import cli

CASES = Path(__file__).resolve().parent / "cases"
DEFAULT_GROUPS = Path(__file__).resolve().parent.parent / "contracts" / "working-groups.yaml"
RULES = Path(__file__).resolve().parent.parent / "rules"
OUTCOME_LABELS = {
    "Legal review for contractual remedy": "legal_review",
    "Defer pending working-group engagement": "defer",
    "Renew with conditions": "renew_with_conditions",
    "Renew": "renew",
}


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "expected.yaml").is_file())


@dataclass
class Outcome:
    """What the command line gave for one case, and every problem met on the way (imports refused...)."""

    findings: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    proposals: list[str]
    dossiers: dict[str, str]
    problems: list[str]


def _invoke(runner: CliRunner, db: Path, args: list[str], problems: list[str], ok: tuple[int, ...] = (0,),
            both: bool = False) -> str:
    """Standard output of a command (with standard error when `both`); an unexpected exit code is a problem."""
    result = runner.invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    if result.exit_code not in ok:
        problems.append(f"`compliance {' '.join(args)}` exited {result.exit_code}: "
                        f"{(result.output + result.stderr).strip()[-1500:]}")
    return result.output if both else result.stdout


def run_case(case: Path, tmp: Path) -> Outcome:
    """Run a case as an officer would, in a fresh store."""
    expected = yaml.safe_load((case / "expected.yaml").read_text())
    as_of = str(expected["as_of"])
    groups = case / "working-groups.yaml" if (case / "working-groups.yaml").exists() else DEFAULT_GROUPS
    db = tmp / "store.db"
    runner = CliRunner()
    problems: list[str] = []
    _invoke(runner, db, ["db", "init"], problems)
    _invoke(runner, db, ["import", "contracts", str(case / "contracts.yaml")], problems)
    _invoke(runner, db, ["import", "facilities", str(case / "facilities.yaml")], problems)
    evidence = sorted(str(p) for p in (case / "evidence").iterdir() if p.suffix in (".yaml", ".csv", ".json"))
    # Exit 8 (rows quarantined) is reported row by row: each refused row is a problem of its own.
    out = _invoke(runner, db, ["import", "evidence", *evidence], problems, ok=(0, 8), both=True)
    problems += [line.strip() for line in out.splitlines() if "quarantined:" in line]
    _invoke(runner, db, ["run", "--as-of", as_of, "--rules", str(RULES)], problems, ok=(0, 1))
    stored = json.loads(_invoke(runner, db, ["findings", "list", "--json"], problems) or "[]")
    findings = [row["finding"] | {"verdict": row["verdict"], "severity": row["severity"]}
                for row in stored if row["firing"]]
    routes = json.loads(_invoke(runner, db, ["escalations", "list", "--json", "--as-of", as_of, "--rules", str(RULES),
                                             "--groups", str(groups)], problems) or "[]")
    proposals = sorted(p["id"] for p in json.loads(_invoke(
        runner, db, ["groups", "proposals", "--json", "--as-of", as_of, "--rules", str(RULES), "--groups", str(groups)],
        problems) or "[]"))
    dossiers = {}
    for contract_id in expected.get("dossier", {}):
        text = _invoke(runner, db, ["report", "dossier", contract_id, "--as-of", as_of, "--format", "html",
                                    "--out", str(tmp / "reports"), "--rules", str(RULES), "--groups", str(groups)],
                       problems)
        label = re.search(r"^Recommendation: (.+?) \(the engine recommends", text, re.M)
        dossiers[contract_id] = OUTCOME_LABELS.get(label.group(1), label.group(1)) if label else "(no dossier)"
    return Outcome(findings, routes, proposals, dossiers, problems)


def _rule_matches(expected_rule: str, rule_id: str) -> bool:
    return rule_id == expected_rule or rule_id.startswith(expected_rule + "-")


def _finding_matches(want: dict[str, Any], got: dict[str, Any]) -> bool:
    return (_rule_matches(want["rule"], got["rule_id"])
            and all(want[k] == got[field] for k, field in (("severity", "severity"), ("verdict", "verdict"),
                                                           ("facility", "facility_id"), ("contract", "contract_id"))
                    if k in want))


def _describe(f: dict[str, Any]) -> str:
    return (f"{f['rule_id']} {f['severity']} {f['verdict']} at {f.get('facility_id') or '(no facility)'} "
            f"on {f['contract_id']}: {f.get('message', '')[:160]}")


def compare(expected: dict[str, Any], outcome: Outcome) -> list[str]:
    """Every difference between what the conditions say and what came out, one line each."""
    problems = [f"problem: {p}" for p in outcome.problems]
    unmatched = list(outcome.findings)
    for want in expected.get("findings", []):
        match = next((f for f in unmatched if _finding_matches(want, f)), None)
        if match is None:
            near = [_describe(f) for f in outcome.findings if _rule_matches(want["rule"], f["rule_id"])]
            problems.append(f"missing finding {want}" + (f" (found instead: {'; '.join(near)})" if near else ""))
        else:
            unmatched.remove(match)
    problems += [f"unexpected finding {_describe(f)}" for f in unmatched]
    for banned in expected.get("not_expected", []):
        problems += [f"finding that must not appear ({banned}): {_describe(f)}" for f in outcome.findings
                     if _rule_matches(banned["rule"], f["rule_id"])
                     and all(banned[k] == f[field] for k, field in (("verdict", "verdict"), ("facility", "facility_id"))
                             if k in banned)]
    for want in expected.get("routes", []):
        candidates = [r for r in outcome.routes if _rule_matches(want["rule"], r["rule_id"])
                      and want.get("facility", r["facility_id"]) == r["facility_id"]
                      and want.get("contract", r["contract_id"]) == r["contract_id"]]
        if not candidates:
            problems.append(f"missing escalation for {want}")
        for r in candidates:
            if r["level"] != want["level"] or sorted(r["routes"]) != sorted(want["routes"]):
                problems.append(f"escalation of {r['rule_id']} at {r['facility_id']} on {r['contract_id']}: expected "
                                f"{want['level']} to {want['routes'] or 'institution level'}, got {r['level']} to "
                                f"{r['routes'] or 'institution level'} ({r['reason'][:200]})")
    if "proposals" in expected and sorted(expected["proposals"]) != outcome.proposals:
        problems.append(f"new-group proposals: expected {sorted(expected['proposals'])}, got {outcome.proposals}")
    for contract_id, outcome_name in expected.get("dossier", {}).items():
        got = outcome.dossiers.get(contract_id)
        if got != outcome_name:
            problems.append(f"dossier of {contract_id}: expected {outcome_name}, got {got}")
    return problems


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_case(case: Path, tmp_path: Path) -> None:
    expected = yaml.safe_load((case / "expected.yaml").read_text())
    assert isinstance(expected["as_of"], dt.date), "expected.yaml: as_of must be a date"
    problems = compare(expected, run_case(case, tmp_path))
    assert not problems, f"case {case.name} (see {case.name}/case.md):\n  " + "\n  ".join(problems)


def test_every_case_is_documented_and_names_no_worker() -> None:
    """Each case says where its facts come from; none names a worker (only pseudonyms or group labels)."""
    assert len(case_dirs()) >= 10
    for case in case_dirs():
        text = (case / "case.md").read_text()
        assert "http" in text and "## Sources" in text, f"{case.name}/case.md must list its public sources"
        for name in ("contracts.yaml", "facilities.yaml"):
            assert (case / name).is_file(), f"{case.name} has no {name}"
        assert any((case / "evidence").iterdir()), f"{case.name} has no evidence"
