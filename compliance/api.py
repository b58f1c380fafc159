"""What the CLI does, as functions a Python caller can use too: import, check, demo."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from compliance import facts, loader, models
from compliance.db import ImportSummary, Store
from compliance.errors import InputError, Problem
from compliance.evaluation import ContractResult, Evaluator, contract_parameter_problems
from compliance.loader import RuleLibrary

#: The date the shipped example data is checked as of, so the demo prints the same findings every day.
DEMO_AS_OF = dt.date(2025, 6, 30)


def load_library(paths: Iterable[Path]) -> RuleLibrary:
    """Read and check the rule library; raises InputError listing every problem in every file."""
    return loader.load_rules(list(paths))


def _gather(paths: Iterable[Path], read) -> list[tuple[Path, object]]:  # noqa: ANN001
    """Read every file first, so that a problem in any of them stops the import before anything is written."""
    out, problems = [], []
    for path in paths:
        try:
            out.append((path, read(path)))
        except InputError as error:
            problems += error.problems
    if problems:
        raise InputError(problems)
    return out


def import_contracts(store: Store, paths: Iterable[Path]) -> list[ImportSummary]:
    parsed = _gather(paths, loader.load_contracts)
    return [store.add_contracts(contracts, str(path)) for path, contracts in parsed]  # type: ignore[arg-type]


def import_facilities(store: Store, paths: Iterable[Path]) -> list[ImportSummary]:
    parsed = _gather(paths, loader.load_facilities)
    return [store.add_facilities(*pair, str(path)) for path, pair in parsed]  # type: ignore[misc]


def import_evidence(store: Store, paths: Iterable[Path], evidence_type: str | None = None) -> list[ImportSummary]:
    parsed = _gather(paths, lambda p: loader.load_evidence(p, evidence_type))
    seen: dict[str, str] = {}
    problems = []
    for path, records in parsed:
        for record in records:  # type: ignore[attr-defined]
            if record.id in seen and seen[record.id] != str(path):
                problems.append(Problem(str(path), None, f"evidence {record.id}",
                                        f"the same id is also in {seen[record.id]}"))
            seen[record.id] = str(path)
    if problems:
        raise InputError(problems)
    return [store.add_evidence(records, str(path)) for path, records in parsed]  # type: ignore[arg-type]


def contract_facts(store: Store, contract: models.Contract, as_of: dt.date,
                   facilities: dict[str, models.Facility] | None = None,
                   links: list[models.ProductionLink] | None = None) -> facts.ContractFacts:
    facilities = store.facilities() if facilities is None else facilities
    links = store.production_links() if links is None else links
    linked_ids = {link.facility_id for link in facts.linked(contract, links)}
    evidence = store.evidence_for(contract, linked_ids, as_of)
    return facts.build(contract, facilities, links, evidence, as_of)


def check(store: Store, library: RuleLibrary, contract_ids: Iterable[str] | None, as_of: dt.date,
          cross_check: bool = True) -> list[ContractResult]:
    """Evaluate contracts (by id, or every active contract when `contract_ids` is None) as of a date."""
    store.require_current()
    if contract_ids is None:
        contracts = store.contracts(statuses=["active"])
    else:
        contracts = [store.contract(contract_id) for contract_id in contract_ids]
    problems = [p for c in contracts for p in contract_parameter_problems(library, c)]
    if problems:
        raise InputError(problems)
    evaluator = Evaluator(library, cross_check=cross_check)
    facilities, links = store.facilities(), store.production_links()
    return [evaluator.evaluate(contract_facts(store, c, as_of, facilities, links)) for c in contracts]


@dataclass
class DemoResult:
    imports: list[ImportSummary] = field(default_factory=list)
    results: list[ContractResult] = field(default_factory=list)
    library: RuleLibrary | None = None


def demo(store: Store, data_dir: Path, rules_dir: Path, as_of: dt.date = DEMO_AS_OF) -> DemoResult:
    """Initialise the store, import the example data in `data_dir` and check every active contract."""
    result = DemoResult(library=load_library([rules_dir]))
    store.upgrade()
    result.imports += import_contracts(store, sorted(data_dir.glob("contracts.*")))
    result.imports += import_facilities(store, sorted(data_dir.glob("facilities.*")))
    evidence_files = sorted(p for p in (data_dir / "evidence").iterdir() if p.suffix in (".json", ".yaml", ".yml", ".csv"))
    result.imports += import_evidence(store, evidence_files)
    result.results = check(store, result.library, None, as_of)
    return result
