"""The façade every front end calls: one function per thing a user does (import, check, run, escalate, draft a
letter, make a report, ...), each a few lines over the layers below. The command line (`compliance.cli`) imports
nothing else of the library; a web front end would use the same functions. `__all__` is the public API.

Kept as one module on purpose, although it is long: it is the list of what the product does, and each function
only orders calls into rules/, sources/, evaluation/, store/, escalation/ and documents/.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import multiprocessing
import os
import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance import __version__
from compliance.documents import outbound
from compliance.domain import facts, models
from compliance.domain.lifecycle import FINDING_STATES
from compliance.domain.models import EVIDENCE_TYPES, FPRW, VERDICT_LABELS, Severity
from compliance.errors import ConfigurationError, EngineError, InputError, NotFound, Problem, StoreError
from compliance.escalation import agencies as labour_agencies
from compliance.escalation import routing as escalation
from compliance.evaluation import pipeline
from compliance.evaluation.contract import ContractResult, Evaluator, contract_parameter_problems, rule_parameters
from compliance.rules.library import RuleLibrary, load_rules
from compliance.rules.spec import did_you_mean
from compliance.sources import intake, records
from compliance.sources.pseudonyms import Pseudonymiser
from compliance.store import ImportSummary, RunSummary, Store, display_url, evidence_hash

__all__ = [
    "agencies",
    "agency",
    "catalogue_coverage",
    "catalogue_table",
    "check",
    "check_evidence_type",
    "contract_facts",
    "decide",
    "demo",
    "DEMO_AS_OF",
    "DemoResult",
    "describe_rule",
    "digest",
    "digest_text",
    "dossier",
    "draft_letter",
    "engine_rule_sizes",
    "erase_record",
    "erase_value",
    "escalation_levels",
    "EscalationReport",
    "escalations",
    "evidence_types",
    "EVIDENCE_TYPES",
    "explain",
    "export_findings",
    "FINDING_STATES",
    "FPRW",
    "import_contracts",
    "import_evidence",
    "import_facilities",
    "ImportOptions",
    "ImportSource",
    "join",
    "letter_text",
    "leverage",
    "load_library",
    "open_store",
    "portfolio",
    "quarantine_problem_text",
    "report_policy",
    "rule_coverage",
    "rule_schema",
    "run",
    "RunResult",
    "Severity",
    "store_name",
    "stored_finding",
    "TemplateWritten",
    "test_rules",
    "VERDICT_LABELS",
    "write_evidence_template",
    "write_letter",
    "write_quarantine",
    "write_report",
]

#: What a letter reference may start with (PREFIX-YEAR-NNNN).
LETTER_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,19}")

# What front ends pass back, by the names they know.
ImportOptions = intake.Options
ImportSource = intake.Source

#: The date the shipped example data is checked as of, so the demo prints the same findings every day.
DEMO_AS_OF = dt.date(2025, 6, 30)


def load_library(paths: Iterable[Path]) -> RuleLibrary:
    """Read and check the rule library; raises InputError listing every problem in every file."""
    return load_rules(list(paths))


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
    parsed = _gather(paths, records.load_contracts)
    return [store.add_contracts(contracts, str(path)) for path, contracts in parsed]  # type: ignore[arg-type]


def import_facilities(store: Store, paths: Iterable[Path]) -> list[ImportSummary]:
    parsed = _gather(paths, records.load_facilities)
    return [store.add_facilities(*pair, str(path)) for path, pair in parsed]  # type: ignore[misc]


def import_evidence(store: Store, paths: Iterable[Path], options: intake.Options | None = None,
                    pseudonymiser: Pseudonymiser | None = None,
                    progress: Callable[[intake.Source], Callable[[int], None] | None] | None = None,
                    ) -> list[ImportSummary]:
    """Import evidence files row by row: good rows are stored, bad rows quarantined with their reasons.

    Every file is opened and checked first (format, encoding, header), so a file that cannot be read at all
    stops the import before anything is written. Worker identifiers are pseudonymised with the configured key
    (`pseudonyms.Pseudonymiser.from_environment`) before any row is validated or stored. `progress(source)` may
    return a callback that receives the number of rows done after each chunk."""
    options = options or intake.Options()
    paths = list(paths)
    for path in paths:
        intake.check_options(options, str(path))
    pseudonymiser = pseudonymiser or Pseudonymiser.from_environment()
    sources = _gather(paths, lambda path: intake.open_source(path, options))
    store.check_pseudonym_key(pseudonymiser.fingerprint)
    # Local phone numbers are read in the facility's country: the store knows it for facilities without an OS ID.
    options = dataclasses.replace(options, countries={id_: f.country for id_, f in store.facilities().items()})
    summaries = []
    for _path, source in sources:
        assert isinstance(source, intake.Source)
        settings = {"type": options.evidence_type, "day_first": options.day_first,
                    "sensitivity": options.sensitivity, "encoding": options.encoding, "format": source.format}
        summary = store.import_evidence(source.name, source.file_hash, intake.rows(source, options, pseudonymiser),
                                        {k: v for k, v in settings.items() if v not in (None, False)},
                                        progress=progress(source) if progress else None)
        summary.warnings = list(source.warnings)
        summaries.append(summary)
    return summaries


def erase_value(store: Store, value: str, reason: str, country: str | None = None) -> Any:
    """Erase a raw value (a worker's name, phone number, e-mail, id number...) from every table that may hold it, the
    same value however spelt (`country`: read a local phone number in it), and log the erasure without the value;
    returns the log entry (its `changed` counts rows per table)."""
    from compliance.sources.identities import eraser

    store.require_current()
    try:
        kind, replace = eraser(value, country)
    except ValueError as error:
        raise InputError([Problem("erase", None, "value", f"{error}; give the whole value")]) from None
    return store.erase(kind, reason, replace=replace)


def erase_record(store: Store, record_id: str, reason: str) -> Any:
    """Erase an evidence record (its current and earlier versions and its quarantine entries; its id elsewhere is
    renamed ERASED-...) and log the erasure; returns the log entry."""
    store.require_current()
    try:
        store.evidence_versions(record_id)
    except NotFound:
        if not any(q.record_id == record_id for q in store.quarantine(None)):
            raise NotFound(f'no evidence record "{record_id}" in the store or its quarantine') from None
    return store.erase("an evidence record", reason, record_id=record_id)


def contract_facts(store: Store, contract: models.Contract, as_of: dt.date,
                   facilities: dict[str, models.Facility] | None = None,
                   links: list[models.ProductionLink] | None = None,
                   snapshot: dict[str, str] | None = None, known_at: dt.datetime | None = None
                   ) -> facts.ContractFacts:
    """The contract's facts from the store; `snapshot`, when given, receives the ids and content hashes of the
    evidence records read."""
    facilities = store.facilities(known_at) if facilities is None else facilities
    links = store.production_links(known_at) if links is None else links
    linked_ids = {link.facility_id for link in facts.linked(contract, links, as_of)}
    evidence = store.evidence_for(contract, linked_ids, as_of, known_at)
    if snapshot is not None:
        snapshot.update((record.id, evidence_hash(record)) for record in evidence)
    return facts.build(contract, facilities, links, evidence, as_of)


def check(store: Store, library: RuleLibrary, contract_ids: Iterable[str] | None, as_of: dt.date,
          cross_check: bool = True, known_at: dt.datetime | None = None) -> list[ContractResult]:
    """Evaluate contracts (by id, or every active contract when `contract_ids` is None) as of a date; with
    `known_at`, on the store as it was at that moment (records imported later left out, corrected ones read in
    the version current then). The contracts' evidence is read once and reduced to what the rules can read
    (``pipeline``); the findings are those of each contract on all its evidence."""
    store.require_current()
    if contract_ids is None:
        contracts = store.contracts(statuses=["active"], known_at=known_at)
    else:
        contracts = [store.contract(contract_id, known_at) for contract_id in contract_ids]
    _require_valid_parameters(library, contracts)
    scope = pipeline.scope(library, contracts, as_of, known_at, store.facilities(known_at),
                           store.production_links(known_at))
    results = pipeline.GroupEvaluator(library, cross_check).evaluate(store, scope, sorted(scope.contracts))
    results |= {c.id: ContractResult(c, as_of, outside_term=why) for c, why in scope.outside.values()}
    return [results[c.id] for c in contracts]


def _require_valid_parameters(library: RuleLibrary, contracts: list[models.Contract]) -> None:
    """Refuse contracts whose parameter overrides name an unknown rule or parameter, or the wrong type."""
    problems = [p for c in contracts for p in contract_parameter_problems(library, c)]
    if problems:
        raise InputError(problems)


@dataclass
class RunResult:
    summary: RunSummary
    #: The findings of the contracts the run evaluated, as stored (JSON).
    payloads: list[dict[str, Any]]
    #: The contracts evaluated, and those whose findings were kept because their inputs had not changed (their
    #: findings are in the store: `findings` reads them).
    evaluated: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    store: Store | None = field(default=None, repr=False)
    #: The active contracts not evaluated because the as-of date is outside their term: contract id -> why. Their
    #: stored findings are left as they are (neither still found nor resolved).
    outside_term: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def findings(self) -> list[models.Finding]:
        """Every finding the run found (with those of the contracts kept unchanged, read from the store)."""
        payloads = list(self.payloads)
        if self.reused and self.store is not None:
            payloads += [f for found in self.store.current_findings(self.reused).values() for f in found]
        return sorted((models.Finding.model_validate(p) for p in payloads), key=lambda f: f.key)

    def finding(self, key: str) -> models.Finding | None:
        """One finding the run found, or None (without building all of them)."""
        payload = self._by_key.get(key)
        contract_id = key.split("/", 1)[-1].rsplit("/", 1)[0]  # keys are rule/contract/digest
        if payload is None and self.store is not None and contract_id in self.reused:
            rows = self.store.stored_findings(key=key)
            payload = rows[0].payload if rows and rows[0].firing else None
        return None if payload is None else models.Finding.model_validate(payload)

    @functools.cached_property
    def _by_key(self) -> dict[str, dict[str, Any]]:
        return {p["key"]: p for p in self.payloads}

    def raised_at_or_above(self, severity: str) -> bool:
        """Whether the run found a new or reopened finding (or one whose waiver expired) at least this serious:
        what `run --fail-on` exits 1 for."""
        limit = models.Severity(severity).rank
        changed = self.summary.new + self.summary.reopened + self.summary.waiver_expired
        return any(finding.severity.rank <= limit for key in changed if (finding := self.finding(key)) is not None)


def run(store: Store, library: RuleLibrary, as_of: dt.date, actor: str | None = None, wait: bool = False,
        log: Callable[..., None] | None = None, workers: int = 1,
        known_at: dt.datetime | None = None, full: bool = False) -> RunResult:
    """Evaluate every active contract as of a date, store the findings and say what changed since the last run.

    Holds the store's run lock throughout (RunInProgress at once if another run has it, unless `wait`). A contract
    whose inputs (the contract, its facilities and links, the evidence it reads, the rule library, the software,
    the as-of date) equal those of the last run that covered it keeps that run's findings without being
    evaluated, unless `full`. With `workers` > 1 the contracts are evaluated in groups by several processes: on
    SQLite processes forked here; on PostgreSQL partitions that this process, `workers - 1` helper processes it
    starts and any `join` (`compliance run --join`, also on other hosts) claim one by one. This process stores
    the merged result in one transaction.

    The run reads the store as known at `known_at` (default: the moment it starts, so records imported while it
    runs wait for the next run) and records that moment: the same as-of date and known-at moment give the same
    findings later, whatever was imported or corrected since."""
    log = log or (lambda event, **fields: None)
    store.require_current()
    log("waiting_for_lock" if wait else "taking_lock")
    with store.run_lock(wait):
        started = dt.datetime.now(dt.timezone.utc)
        known = known_at or started
        log("run_started", as_of=as_of, known_at=known, library_hash=library.content_hash(), workers=workers,
            full=full)
        elapsed = pipeline.timer()
        contracts = store.contracts(statuses=["active"], known_at=known)
        _require_valid_parameters(library, contracts)
        scope = pipeline.scope(library, contracts, as_of, known, store.facilities(known),
                               store.production_links(known))
        for contract_id, (_contract, why) in sorted(scope.outside.items()):
            log("contract_outside_term", contract_id=contract_id, reason=why)
        contracts = list(scope.contracts.values())
        inputs = pipeline.inputs(store, library, scope)
        kept = pipeline.Reuse() if full else pipeline.reuse(store, library, scope, inputs)
        todo = [c.id for c in contracts if c.id not in kept.whole]
        log("inputs_read", seconds=elapsed(), partitions=len(inputs.partitions),
            records=sum(n for _d, n in inputs.partitions.values()), evaluate=len(todo), reuse=len(kept.whole),
            facilities_changed=sum(len(units) for units in scope.units.values()))
        for contract_id in sorted(kept.whole):
            log("contract_reused", contract_id=contract_id)
        work = pipeline.groups(scope, todo, parts=2 * workers if workers > 1 else 1)
        if workers > 1 and store.engine.dialect.name == "postgresql":
            partials = _shared(store, library, as_of, known, work, scope, workers, log)
        elif workers > 1 and len(work) > 1:
            partials = pipeline.evaluate_groups(store, Store, library, scope, work, workers, log)
        else:
            partials = {}
            evaluator = pipeline.GroupEvaluator(library)
            for group in work:
                for contract_id, result in evaluator.evaluate(store, scope, group).items():
                    partials[contract_id] = pipeline.result_json(result)
                    log("contract_evaluated", contract_id=contract_id, findings=len(result.findings),
                        faults=len(result.faults))
        log("contracts_evaluated", seconds=elapsed(), contracts=len(todo))
        faults = [fault for c in todo for fault in partials[c]["faults"]]
        if faults:  # never store findings the reference evaluation does not confirm
            raise EngineError("; ".join(faults) + ". Nothing was stored.")
        findings = [f for c in todo for f in kept.partial.get(c, []) + partials.pop(c)["findings"]]
        summary = store.record_run(
            as_of=as_of, contract_ids=[c.id for c in contracts], findings=findings,
            library_hash=library.content_hash(), software_version=__version__, started_at=started, actor=actor,
            known_at=known, partitions=inputs.partitions, reused=kept.whole, inputs={c.id: {
                "inputs_hash": inputs.hashes[c.id], "base_hash": inputs.bases[c.id], "units": inputs.units[c.id],
                "evaluated": c.id not in kept.whole} for c in contracts})
        log("run_stored", run_id=summary.run_id, seconds=elapsed(), **summary.counts())
    return RunResult(summary, findings, todo, sorted(kept.whole), store,
                     outside_term={c: why for c, (_contract, why) in sorted(scope.outside.items())})


def _partition_evaluator(store: Store, library: RuleLibrary, as_of: dt.date, known_at: dt.datetime | None,
                         log: Callable[..., None], scope: pipeline.RunScope | None = None
                         ) -> Callable[[list[str]], dict[str, Any]]:
    """Evaluate a partition (a group of contracts) into JSON-ready results by contract: findings and engine
    faults. `scope` is the run's scope, read from the store when this process did not start the run."""
    evaluator = pipeline.GroupEvaluator(library)
    scopes: list[pipeline.RunScope] = [scope] if scope is not None else []

    def evaluate(contract_ids: list[str]) -> dict[str, Any]:
        if not scopes:
            contracts = store.contracts(known_at=known_at)
            scopes.append(pipeline.scope(library, contracts, as_of, known_at, store.facilities(known_at),
                                                 store.production_links(known_at)))
        results = {}
        for contract_id, result in evaluator.evaluate(store, scopes[0], contract_ids).items():
            log("contract_evaluated", contract_id=contract_id, findings=len(result.findings),
                faults=len(result.faults))
            results[contract_id] = pipeline.result_json(result)
        return results
    return evaluate


def _shared(store: Store, library: RuleLibrary, as_of: dt.date, known_at: dt.datetime, work: list[list[str]],
            scope: pipeline.RunScope, workers: int, log: Callable[..., None]) -> dict[str, dict[str, Any]]:
    """Share a run with `workers - 1` helper processes through the store: each claims the run's partitions one by
    one with a row lock, as `run --join` from another host does."""
    if store.engine.dialect.name != "postgresql":
        raise StoreError("several processes can share a run on PostgreSQL only; run with --workers 1 on SQLite")
    if not work:
        return {}
    token = str(uuid.uuid4())
    store.open_partitions(token, as_of, known_at, library.content_hash(), work)
    log("partitions_opened", token=token, partitions=len(work))
    evaluate = _partition_evaluator(store, library, as_of, known_at, log, scope)
    # Helpers start afresh (spawn): no database connection or engine state of this process is shared with them.
    context = multiprocessing.get_context("spawn")
    helpers = [context.Process(target=_join_in_helper, args=(store.url, library, token), daemon=True)
               for _ in range(min(workers - 1, len(work) - 1))]
    for helper in helpers:
        helper.start()
    me = f"{socket.gethostname()}:{os.getpid()}"
    try:
        store.work_partitions(token, evaluate, me)
        for helper in helpers:
            helper.join()
        while store.pending_partitions(token):  # a helper still at work, or one that died: its claim is free again
            store.work_partitions(token, evaluate, me)
            time.sleep(0.2)
        return store.close_partitions(token)
    except BaseException:
        for helper in helpers:
            helper.kill()
            helper.join()
        store.close_partitions(token)
        raise


def _join_in_helper(url: str, library: RuleLibrary, token: str) -> None:
    """A helper process of a shared run: its own store connection, the same library, the run's partitions."""
    store = Store(url)
    try:
        join(store, library, token)
    except NotFound:
        pass  # the run finished before this helper started: nothing left to do
    finally:
        store.close()


def join(store: Store, library: RuleLibrary, token: str | None = None, log: Callable[..., None] | None = None
         ) -> int:
    """Work on a run in progress started with several workers (this host or another): claim its pending
    partitions one by one. Returns how many contracts this process evaluated."""
    log = log or (lambda event, **fields: None)
    store.require_current()
    done = 0
    shared = store.shared_runs()
    if token is not None and token not in {run[0] for run in shared}:
        raise NotFound(f'no run in progress with id "{token}" (it may have finished); `compliance run --join` '
                       "without an id helps any run in progress")
    for shared_token, as_of, known_at, library_hash in shared:
        if token is not None and shared_token != token:
            continue
        if library_hash != library.content_hash():
            raise InputError([Problem("rules", None, None, f"run {shared_token} uses another version of the rule "
                                      "library; join it with the same rules directory")])
        done += store.work_partitions(shared_token, _partition_evaluator(store, library, as_of, known_at, log),
                                      f"{socket.gethostname()}:{os.getpid()}")
    return done


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
    evidence_files = sorted(p for p in (data_dir / "evidence").iterdir() if p.suffix in intake.FORMATS)
    try:
        pseudonymiser = Pseudonymiser.from_environment()
    except ConfigurationError:
        # The demo store is made afresh from fictional data: a key made up for this run is enough.
        pseudonymiser = Pseudonymiser(secrets.token_hex(32))
    result.imports += import_evidence(store, evidence_files, pseudonymiser=pseudonymiser)
    result.results = check(store, result.library, None, as_of)
    return result


# ---------------------------------------------------------------------------------------------------------------------
# Escalation


@dataclass
class EscalationReport:
    as_of: dt.date
    groups: list[models.WorkingGroup]
    recommendations: list[escalation.EscalationRecommendation]
    proposals: list[escalation.Proposal]
    faults: list[str] = field(default_factory=list)
    #: Labour agencies implicated in a breach at one site: their other sites to monitor.
    monitoring: list[labour_agencies.MonitoringRecommendation] = field(default_factory=list)

    def recommendation(self, finding_key: str) -> escalation.EscalationRecommendation:
        for r in self.recommendations:
            if r.finding.key == finding_key:
                return r
        raise NotFound(f'no open finding "{finding_key}" as of {self.as_of}')


def escalations(store: Store, library: RuleLibrary, groups_path: Path, as_of: dt.date) -> EscalationReport:
    """Check every active contract, then route each finding and recommend its escalation."""
    groups, thresholds = records.load_working_groups(groups_path)
    policy = escalation.Policy(**thresholds)
    results = check(store, library, None, as_of)
    findings = [f for r in results for f in r.findings]
    referrals: dict[str, dt.date] = {}
    for decision in store.decisions():
        if decision.decided_level == "E3":
            referrals[decision.finding_key] = decision.decided_at.date()
    portfolio = escalation.ContractNetwork(store.contracts(), store.production_links(), as_of)
    hints = {r.id: r.then.escalation for r in library.rules if r.then.escalation}
    recommendations, proposals = escalation.recommend(findings, portfolio, groups, hints, policy, referrals)
    known = agencies(store, as_of)
    named = {r.id: r for a in known.values() for r in a.evidence}
    return EscalationReport(as_of, groups, recommendations, proposals,
                            [str(fault) for r in results for fault in r.faults],
                            labour_agencies.monitoring(findings, named, known))


# ---------------------------------------------------------------------------------------------------------------------
# Labour agencies


def agencies(store: Store, as_of: dt.date) -> dict[str, labour_agencies.Agency]:
    """Every labour agency named on evidence dated by `as_of` or declared on a facility, by name key."""
    store.require_current()
    return labour_agencies.index((r for r in store.agency_evidence() if r.date <= as_of), store.facilities())


def agency(store: Store, name: str, as_of: dt.date) -> dict[str, Any]:
    """What involves one agency (any spelling of its name): facilities, contracts, evidence, the findings of the
    latest run that rest on its evidence, and the monitoring recommended for its other sites. NotFound with a
    did-you-mean when no record names it."""
    known = agencies(store, as_of)
    found = labour_agencies.find(known, name)
    if found is None:
        raise NotFound(f'no labour agency "{name}" on any evidence or facility'
                       f"{labour_agencies.suggestion(known, name)}")
    named = {r.id: r for a in known.values() for r in a.evidence}
    mine = {r.id for r in found.evidence}
    current = [models.Finding.model_validate(row.payload) for row in store.stored_findings()
               if row.firing and mine & set(row.payload.get("evidence_ids", []))]
    network = escalation.ContractNetwork(store.contracts(), store.production_links(), as_of)
    facilities = store.facilities()
    contracts = {r.contract_id for r in found.evidence if r.contract_id}
    contracts |= {c.id for f in found.facilities for c in network.contracts_at(f)}
    monitoring = [m for m in labour_agencies.monitoring(current, named, known) if m.key == found.key]
    return {
        "agency": found.name, "key": found.key, "spellings": sorted(found.spellings),
        "roles": found.roles,
        "facilities": [{"id": f, "name": facilities[f].name if f in facilities else None,
                        "country": facilities[f].country if f in facilities else None,
                        "declared": f in found.declared_at,
                        "evidence": sum(1 for r in found.evidence if r.facility_id == f)} for f in found.facilities],
        "contracts": sorted(contracts),
        "evidence": [{"id": r.id, "type": r.type, "date": models.period_text(r.date, r.date_precision),  # type: ignore[attr-defined]
                      "role": r.agency_role, "facility_id": r.facility_id, "contract_id": r.contract_id,
                      "agency": r.agency} for r in found.evidence],
        "findings": [{"key": f.key, "rule_id": f.rule_id, "title": f.title, "severity": f.severity.value,
                      "verdict": f.verdict, "contract_id": f.contract_id, "facility_id": f.facility_id}
                     for f in sorted(current, key=lambda f: (f.severity.rank, f.key))],
        "monitoring": [dataclasses.asdict(m) for m in monitoring],
    }


def decide(store: Store, report: EscalationReport, finding_key: str, decision: str, reason: str,
           level: str | None = None, decided_by: str | None = None) -> object:
    """Record an officer's decision on a recommendation: accept it, change its level, or reject it."""
    recommendation = report.recommendation(finding_key)
    if decision == "change" and level is None:
        raise InputError([Problem("decision", None, "level", "a changed decision needs the level decided, E0 to E5")])
    if not reason.strip():
        raise InputError([Problem("decision", None, "reason", "a decision needs a reason")])
    return store.add_decision(finding_key, recommendation.level, decision,
                              level if decision == "change" else None, reason, decided_by)


def digest(report: EscalationReport, group_id: str, since: dt.date) -> dict[str, object]:
    """What was routed to a working group since a date, in aggregate: no messages, no worker identifiers.

    Finding messages can name worker-group labels and record ids, so a digest carries rule titles,
    severities, facilities and counts only: it is meant to be shared with the secretariat.
    """
    group = next((g for g in report.groups if g.id == group_id), None)
    if group is None:
        raise NotFound(f'no working group "{group_id}"{did_you_mean(group_id, {g.id for g in report.groups})}')
    routed = [r for r in report.recommendations
              if group_id in r.routes and (r.finding.observed_on or report.as_of) >= since]
    by_severity: dict[str, int] = {}  # most serious first, as the recommendations are ordered
    by_rule: dict[str, list[escalation.EscalationRecommendation]] = {}
    for r in routed:
        by_severity[r.finding.severity.label] = by_severity.get(r.finding.severity.label, 0) + 1
        by_rule.setdefault(r.finding.rule_id, []).append(r)
    issues = [
        {"rule_id": rule_id, "title": items[0].finding.title, "severity": items[0].finding.severity.label,
         "findings": len(items), "facilities": sorted({r.finding.facility_id or "-" for r in items}),
         "contracts": len({r.finding.contract_id for r in items}), "levels": sorted({r.level for r in items})}
        for rule_id, items in sorted(by_rule.items())
    ]
    institutions = sorted({inst for r in routed for inst in r.leverage.institutions})
    return {
        "group": {"id": group.id, "name": group.name, "secretariat": group.secretariat},
        "as_of": report.as_of.isoformat(), "since": since.isoformat(), "findings": len(routed),
        "by_severity": by_severity, "issues": issues, "institutions_linked": len(institutions),
    }


def digest_text(report: EscalationReport, group_id: str, since: dt.date, fmt: str = "md",
                templates: Path | None = None) -> str:
    """The digest of a working group (`digest`) as Markdown, HTML or JSON, rendered with the shipped templates or
    an institution's (`templates`) and checked for anything that could identify a worker (RedactionError)."""
    from compliance.documents import digest as digests

    return digests.render(digest(report, group_id, since), fmt, templates)


# ---------------------------------------------------------------------------------------------------------------------
# Letters to contractors


def escalation_levels(store: Store, report: EscalationReport) -> dict[str, str]:
    """Each open finding's escalation level: the officer's latest decision where there is one, else the
    recommendation."""
    levels = {r.finding.key: r.level for r in report.recommendations}
    for decision in store.decisions():  # oldest first: the latest decision wins
        if decision.decided_level is None:
            levels.pop(decision.finding_key, None)
        else:
            levels[decision.finding_key] = decision.decided_level
    return {key: level for key, level in levels.items() if level}


def draft_letter(store: Store, library: RuleLibrary, contract_id: str, kind: str, dated: dt.date,
                 finding_keys: Iterable[str] = (), facility_id: str | None = None, templates: Path | None = None,
                 language: str = "en", contact: str = "", prefix: str = "HRDD", groups_path: Path | None = None,
                 actor: str | None = None) -> Any:
    """Generate a letter of `kind` (L1...L6) to the contractor of a contract from its stored findings, check it
    for anything that could identify a worker, and store it as a draft (LetterRow) with its next reference.

    Without `finding_keys` the letter cites the findings its kind is for (letters.default_findings); L4 and L5
    need the working groups file (`groups_path`) to know which findings are referred or at contractual remedy.
    Raises RedactionError (nothing stored) when the text fails the check."""
    from compliance.documents import environment as documents
    from compliance.documents import letters, redaction
    from compliance.store import LETTER_REFERENCE, LetterRow

    store.require_current()
    if not LETTER_PREFIX.fullmatch(prefix):
        raise InputError([Problem("letter", None, "reference-prefix", f"{prefix!r} cannot start a letter reference: "
                                  "use 1 to 20 letters, digits, '-' or '_', starting with a letter or digit "
                                  "(e.g. HRDD)")])
    if kind not in letters.LETTER_KINDS:
        raise InputError([Problem("letter", None, "type", f"unknown letter type {kind!r}; expected one of "
                                  f"{', '.join(letters.LETTER_KINDS)}")])
    contract = store.contract(contract_id)
    rows = {row.key: row for row in store.stored_findings(contract_id=contract_id)}
    report = None
    if kind in ("L4", "L5") and not finding_keys or kind == "L4":
        if groups_path is None:
            raise InputError([Problem("letter", None, "groups", f"an {kind} letter needs the working groups file "
                                      "(--groups) to know the escalation of each finding")])
        report = escalations(store, library, groups_path, dated)
    if finding_keys:
        unknown = [key for key in finding_keys if key not in rows]
        if unknown:
            raise InputError([Problem("letter", None, "finding", f'no finding "{key}" on contract {contract_id}'
                                      f"{did_you_mean(key, set(rows))}") for key in unknown])
        chosen = [rows[key] for key in dict.fromkeys(finding_keys)]
    else:
        levels = escalation_levels(store, report) if report is not None else {}
        chosen = letters.default_findings(kind, rows.values(), levels)
    if facility_id is not None:
        chosen = [row for row in chosen if row.facility_id == facility_id]
    if not chosen:
        raise InputError([Problem("letter", None, "findings", f"no findings for an {kind} letter on contract "
                                  f"{contract_id}" + (f" at facility {facility_id}" if facility_id else "") +
                                  "; run `compliance run` first, or name findings with --finding")])
    findings = [models.Finding.model_validate(row.payload) for row in chosen]
    evidence = store.evidence_records(i for f in findings for i in f.evidence_ids)
    facilities = store.facilities()
    groups = []
    if kind == "L4" and report is not None:
        names = {g.id: g.name for g in report.groups}
        keys = {f.key for f in findings}
        groups = list(dict.fromkeys(names.get(route, route) for r in report.recommendations if r.finding.key in keys
                                    for route in r.routes if not route.startswith("proposed:")))
    cited = set(rows) & {f.key for f in findings}
    previous = [{"reference": letter.reference, "date": letter.dated} for letter in store.letters(contract_id, "sent")
                if cited & set(letter.finding_keys)]
    clause_set = library.clause_set(contract.clause_set.id, contract.clause_set.version)
    context = letters.context(kind, contract, clause_set, findings, evidence, facilities, dated, LETTER_REFERENCE,
                              groups, contact)
    context["previous"] = previous
    env = documents.environment(templates, language)
    name = letters.template_name(env, kind, language)
    document = documents.render(env, name, context)
    guard = redaction.Guard(allowed_dates=letters.safe_dates(context) | {p["date"] for p in previous})
    guard.allow(contract.id, contract.ocid, contract.supplier.name, contract.title, contact, context["secretariat"],
                *contract.brands,
                *(b.name for b in contract.buyers), *(site["name"] for site in context["facilities"]),
                *(site["os_id"] for site in context["facilities"]), *(f.facility_id for f in findings))
    for finding in findings:
        guard.learn(finding.key, [evidence[i] for i in finding.evidence_ids if i in evidence])
    guard.deny_monitors(store.monitors(), outbound.monitors_cleared(evidence.values()))
    checked = guard.require_clean(documents.readable_text(document, env),
                                  f"the {kind} letter for contract {contract_id}")
    origin, template_hash = documents.template_fingerprint(env, name)
    row = LetterRow(reference=LETTER_REFERENCE, letter_type=kind, contract_id=contract.id,
                    supplier_id=contract.supplier.id, facility_id=facility_id,
                    finding_keys=[f.key for f in findings], dated=dated, template=f"{origin}:{name}",
                    template_hash=template_hash, software_version=__version__, content_hash="", text=document,
                    redaction=checked, created_by=actor or "")
    return store.add_letter(row, prefix)


def explain(store: Store, library: RuleLibrary, contract_id: str, rule_id: str, as_of: dt.date) -> list[str]:
    """Why a rule fired on a contract (conditions with their actual values), or why it did not."""
    from compliance.rules import explain as explaining

    store.require_current()
    if rule_id not in library.sources:
        raise NotFound(f'no rule "{rule_id}"{did_you_mean(rule_id, set(library.sources))}')
    contract = store.contract(contract_id)
    bundle = Evaluator(library, engine=False).bundle_for(rule_id, contract_facts(store, contract, as_of))
    return explaining.explain(library.rule(rule_id), bundle, rule_parameters(library, contract).get(rule_id))


# ---------------------------------------------------------------------------------------------------------------------
# Reports: the renewal dossier and the portfolio report


def report_policy(groups_path: Path) -> escalation.Policy:
    """The routing and remedy thresholds of the working-groups file (its `policy:`), defaults for the rest."""
    _groups, thresholds = records.load_working_groups(groups_path)
    return escalation.Policy(**thresholds)


def dossier(store: Store, library: RuleLibrary, groups_path: Path, contract_id: str, as_of: dt.date,
            templates: Path | None = None, report: EscalationReport | None = None) -> Any:
    """The renewal dossier of a contract (DOMAIN §D.1) from its stored findings and the escalation report as of a
    date, rendered with the shipped template or an institution's (`templates`) and checked for anything that could
    identify a worker: returns a `reports.Rendered` to write with `reports.write`; raises RedactionError (nothing
    written) when the check fails. `report` reuses an escalation report already made for the same date."""
    from compliance.documents import reports

    store.require_current()
    store.contract(contract_id)  # an unknown contract is named before anything is evaluated
    report = report or escalations(store, library, groups_path, as_of)
    rendered = reports.dossier(store, report, report_policy(groups_path), contract_id, as_of, templates,
                               rules=library.rules)
    rendered.faults = list(report.faults)
    return rendered


def portfolio(store: Store, library: RuleLibrary, groups_path: Path, as_of: dt.date, templates: Path | None = None,
              report: EscalationReport | None = None) -> Any:
    """The portfolio report across every contract (brand x ILO category, open findings by severity and age,
    working-group case load, findings over time, each contract's recommendation), checked like the dossier:
    returns a `reports.Rendered` (HTML and XLSX sheets) to write with `reports.write`."""
    from compliance.documents import reports

    store.require_current()
    report = report or escalations(store, library, groups_path, as_of)
    rendered = reports.portfolio(store, report, report_policy(groups_path), as_of, templates, rules=library.rules)
    rendered.faults = list(report.faults)
    return rendered


# ---------------------------------------------------------------------------------------------------------------------
# The store, the rule library and evidence templates, as the front ends need them


def open_store(url: str | None = None) -> Store:
    """The store at `url` (a SQLite path or URL, or postgresql://...; default compliance.db), not yet checked."""
    return Store(url)


def store_name(store: Store) -> str:
    """The store's URL as it may be shown: without a password."""
    return display_url(store.url)


def engine_rule_sizes(library: RuleLibrary) -> dict[str, int]:
    """How many engine rules each rule compiles to (one per alternative of its conditions)."""
    from compliance.rules import compiler

    early, late = compiler.compile_library(library.rules)
    return {**early.sizes, **late.sizes}


def describe_rule(library: RuleLibrary, rule_id: str) -> str:
    """A rule in plain language: what it checks, its clause, the evidence it reads."""
    from compliance.rules import describe

    if rule_id not in library.sources:
        raise NotFound(f'no rule "{rule_id}"{did_you_mean(rule_id, set(library.sources))}')
    return describe.describe(library, rule_id)


def parameters_at(store: Store, library: RuleLibrary, rule_id: str, facility_id: str,
                  contract_id: str | None = None) -> tuple[models.Facility, dict[str, Any]]:
    """A rule's parameters at a facility (for a contract, if named): each value with the level it came from and
    why (``library.resolve``)."""
    from compliance.rules.library import resolve

    if rule_id not in library.sources:
        raise NotFound(f'no rule "{rule_id}"{did_you_mean(rule_id, set(library.sources))}')
    store.require_current()
    facilities = store.facilities()
    if facility_id not in facilities:
        raise NotFound(f'no facility "{facility_id}" in the store{did_you_mean(facility_id, set(facilities))}')
    facility = facilities[facility_id]
    contract = store.contract(contract_id) if contract_id is not None else None
    return facility, resolve(library, library.rule(rule_id), contract, facility.country)


def test_rules(library: RuleLibrary, junit_file: Path | None = None) -> list[Any]:
    """Run the library's rule tests (cases beside the rules); with `junit_file`, also write JUnit XML."""
    from compliance.rules import ruletests

    results = ruletests.run(Evaluator(library), library.cases)
    if junit_file is not None:
        junit_file.write_bytes(ruletests.junit(results))
    return results


test_rules.__test__ = False  # type: ignore[attr-defined]  # a library function, not a test for pytest to collect


def catalogue_coverage(library: RuleLibrary) -> list[dict[str, Any]]:
    """Each of the 40 catalogue entries with the rules implementing it and their deliberate differences."""
    from compliance.rules import catalogue

    return catalogue.entries(library)


def catalogue_table(library: RuleLibrary) -> str:
    """``catalogue_coverage`` as the Markdown table the README holds."""
    from compliance.rules import catalogue

    return catalogue.table(library)


def rule_coverage(library: RuleLibrary) -> dict[str, Any]:
    """Which ILO categories, HRDD objectives and clauses have rules, and which rules lack tests."""
    from compliance.rules import ruletests

    return ruletests.coverage(library)


def rule_schema() -> dict[str, Any]:
    """The rule language's JSON schema, generated from its definition."""
    from compliance.rules import spec

    return spec.RuleFile.model_json_schema(by_alias=True)


def evidence_types() -> list[tuple[str, str]]:
    """Each evidence type with a line on what a record of it holds, by name."""
    from compliance.sources import evidence_template as template

    return [(name, template.type_description(name)) for name in sorted(models.EVIDENCE_TYPES)]


@dataclass
class TemplateWritten:
    path: Path
    columns: int
    example_id: str
    note: str


def check_evidence_type(type_name: str) -> None:
    """Refuse an unknown evidence type (NotFound/InputError with a did-you-mean) before anything is written."""
    from compliance.sources import evidence_template as template

    template.evidence_class(type_name)


def write_evidence_template(type_name: str, fmt: str, output: Path) -> TemplateWritten:
    """Write the CSV or XLSX template of an evidence type: a header row and one example row."""
    from compliance.sources import evidence_template as template

    template.write_template(type_name, fmt, output)
    return TemplateWritten(output, len(template.template_columns(type_name)), template.example_row(type_name)["id"],
                           template.EXAMPLE_NOTE)


def quarantine_problem_text(problem: dict[str, Any]) -> str:
    """A stored quarantine reason as the import reported it."""
    return str(intake.FieldProblem(**problem))


def write_quarantine(store: Store, output: Path, batch_id: int | None = None) -> int:
    """Write the open quarantined rows to a CSV for correction; returns how many."""
    from compliance.documents import export

    store.require_current()
    rows = store.quarantine("open", batch_id)
    with output.open("w", encoding="utf-8-sig", newline="") as stream:
        export.write_quarantine_csv(rows, stream)
    return len(rows)


def export_findings(store: Store, fmt: str, stream: Any = None, output: Path | None = None, sheets: str = "contract",
                    contract_id: str | None = None, state: str | None = None) -> int:
    """Export the stored findings (for the buyer's own use) as CSV or JSON to `output` or `stream`, or as XLSX to
    `output`; returns how many."""
    from compliance.documents import export

    data = export.rows(store.stored_findings(contract_id=contract_id, state=state))
    if fmt == "xlsx":
        assert output is not None
        export.write_xlsx(data, output, sheets)
        return len(data)
    writer = export.write_csv if fmt == "csv" else export.write_json
    if output is None:
        writer(data, stream)
    else:
        with open(output, "w", encoding="utf-8", newline="") as out:
            writer(data, out)
    return len(data)


def leverage(store: Store, as_of: dt.date) -> dict[str, dict[str, escalation.Leverage]]:
    """Collective leverage (institutions, consortia, contract value) per facility, supplier and brand."""
    store.require_current()
    return escalation.leverage_table(escalation.ContractNetwork(store.contracts(), store.production_links(), as_of))


def write_letter(letter: Any, out_dir: Path, formats: Iterable[str], templates: Path | None = None) -> list[Path]:
    """Write a stored letter's text (exactly as checked) as files of the given formats; returns their paths.
    `templates`: the institution's template folder it was drafted with, whose assets its PDF may use."""
    from compliance.documents import environment as documents

    return documents.write(letter.text, out_dir / letter.reference, formats, f"{letter.reference} {letter.letter_type}",
                           templates, dated=letter.dated)


def letter_text(letter: Any) -> str:
    """A stored letter as plain text."""
    from compliance.documents import environment as documents

    return documents.to_text(letter.text)


def write_report(rendered: Any, out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write a checked dossier or portfolio report (from `dossier` or `portfolio`) in the given formats."""
    from compliance.documents import reports

    return reports.write(rendered, out_dir, formats)


def stored_finding(store: Store, key: str) -> Any:
    """One stored finding by its key (NotFound if the store has none)."""
    rows = store.stored_findings(key=key)
    if not rows:
        raise NotFound(f'no finding "{key}" in the store')
    return rows[0]
