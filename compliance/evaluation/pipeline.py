"""Evaluating many contracts at once, fast and in bounded memory, with the findings one contract at a time gives.

* **Read once.** A contract's evidence is a union of partitions (the records about one of its facilities that
  name no contract, and the records naming it); contracts that share facilities are evaluated together, in a
  *group*, which reads each partition once, a few facilities at a time (rows stream, chunk by chunk).
* **Reduce.** ``relevance.Reducer`` keeps only the records some rule can read (the rest cannot change a finding);
  the engine and the reference evaluator both get the kept records.
* **Per facility.** The rules whose matches stay within one facility (``relevance.facility_local``: most of the
  library) are evaluated on each facility's records once for all the contracts linked to it; the other rules on
  each contract's facts. Sessions stay small and are deleted afterwards (``engine.Session``).
* **In parallel.** Groups are evaluated by several processes (``evaluate_groups``), or, on PostgreSQL, by
  processes on several hosts sharing a run (``api.run`` with workers); the run's own process stores the result.
* **Only what changed.** Each contract's inputs (the contract, its facilities and links, the digests of the
  evidence partitions it reads, the rule library, the software version and the as-of date) are hashed
  (``inputs``); a contract whose inputs equal those of the last run that covered it keeps that run's findings
  without being evaluated, and one whose evidence changed at some facilities keeps its facility-local findings
  at the others (``reuse``). ``run --full`` evaluates every contract.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import pydantic

from compliance import __version__
from compliance.domain import facts, models
from compliance.domain.facts import Match
from compliance.errors import StoreError
from compliance.evaluation.contract import ContractResult, Evaluator, facility_parameters, rule_parameters
from compliance.rules import jurisdictions, relevance, strata
from compliance.rules.library import RuleLibrary
from compliance.store import partition_digest


class EvidenceReader(Protocol):
    """What the pipeline reads from the store, and nothing more: evidence partitions and what the last run kept.
    ``compliance.store.Store`` is one; a test or another back end can be another."""

    url: str

    def evidence_partitions(self, as_of: dt.date, known_at: dt.datetime | None = None) -> Iterable[Any]: ...

    def evidence_payloads(self, facility_ids: Iterable[str], contract_ids: Iterable[str], as_of: dt.date,
                          known_at: dt.datetime | None = None, **options: Any) -> Iterable[Any]: ...

    def last_inputs(self, contract_ids: Iterable[str]) -> dict[str, Any]: ...

    def firing_counts(self, contract_ids: Iterable[str]) -> dict[str, int]: ...

    def current_findings(self, contract_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]: ...

    def close(self) -> None: ...


#: Where a fact read by the reducer carries its stored payload (no rule can name this field).
PAYLOAD = "\x00payload"


@dataclass
class RunScope:
    """The contracts of a run or a check with what they read besides evidence, as known at one moment."""

    as_of: dt.date
    known_at: dt.datetime | None
    contracts: dict[str, models.Contract]
    facilities: dict[str, models.Facility]
    links: list[models.ProductionLink]
    #: contract id -> the facilities linked to its products
    linked: dict[str, set[str]] = field(default_factory=dict)
    #: contract id -> {rule id: parameters} of the rules that apply to it
    params: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: contract id -> linked facility id -> its country (the jurisdiction packs apply by it)
    countries: dict[str, dict[str, str]] = field(default_factory=dict)
    #: contract id -> facility id -> {rule id: parameters} at the facilities whose jurisdiction pack changes them
    sites: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    #: contract id -> the facilities ("" for none) whose evidence the facility-local rules are evaluated on, when
    #: not all of them (their findings elsewhere are those of the last run: see ``Reuse``)
    units: dict[str, set[str]] = field(default_factory=dict)
    #: contract id -> the findings of the last run kept at the other facilities (which rules reading findings read)
    kept: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: the contracts left out because the as-of date is outside their term: contract id -> (contract, why)
    outside: dict[str, tuple[models.Contract, str]] = field(default_factory=dict)


def scope(library: RuleLibrary, contracts: Iterable[models.Contract], as_of: dt.date,
              known_at: dt.datetime | None, facilities: dict[str, models.Facility],
              links: list[models.ProductionLink]) -> RunScope:
    """The contracts evaluated as of `as_of` (those within their term: ``models.Period.outside``; the others are
    in ``outside``), with the facilities linked to them on that date and their rules' parameters."""
    out = RunScope(as_of, known_at, {}, facilities, links)
    for contract in contracts:
        why = contract.period.outside(as_of)
        if why is not None:
            out.outside[contract.id] = (contract, why)
            continue
        out.contracts[contract.id] = contract
        out.linked[contract.id] = {link.facility_id for link in facts.linked(contract, links, as_of)}
        out.params[contract.id] = rule_parameters(library, contract)
        out.countries[contract.id] = jurisdictions.facility_countries(
            facilities[f] for f in out.linked[contract.id] if f in facilities)
        out.sites[contract.id] = facility_parameters(library, contract, out.countries[contract.id])
    return out


def groups(scope: RunScope, contract_ids: Iterable[str], parts: int = 4) -> list[list[str]]:
    """Contracts that share facilities, together, so that a facility's evidence is read by as few groups as
    possible: a brand's contracts (they read its factories), then the groups that share the most facilities
    merged while a group reads at most about 1/`parts` of the facilities (so that parallel workers still share
    the work). Largest groups first, so that the workers finish together."""
    by_brand: dict[str, list[str]] = {}
    for contract_id in contract_ids:
        by_brand.setdefault(sorted(scope.contracts[contract_id].brands)[0], []).append(contract_id)
    work = [(set().union(*(scope.linked[c] for c in ids)), sorted(ids)) for ids in by_brand.values()]
    cap = len(set().union(*(sites for sites, _ids in work))) / max(parts, 1) if work else 0
    while True:
        best: tuple[int, int, int] | None = None
        for i in range(len(work)):
            for j in range(i + 1, len(work)):
                shared = len(work[i][0] & work[j][0])
                if shared and len(work[i][0] | work[j][0]) <= cap and (best is None or shared > best[0]):
                    best = (shared, i, j)
        if best is None:
            break
        _shared, i, j = best
        work[i] = (work[i][0] | work[j][0], sorted(work[i][1] + work[j][1]))
        del work[j]
    return [ids for _sites, ids in sorted(work, key=lambda w: (-len(w[0]) * len(w[1]), w[1][0]))]


# ---------------------------------------------------------------------------------------------------------------------
# Evaluating a group of contracts


class GroupEvaluator:
    """Evaluates groups of contracts in this process, with one compiled ruleset and one engine session.

    The rules whose matches lie within one facility's records (``relevance.facility_local``) are evaluated on each
    facility's evidence once for all the contracts linked to it (with the same parameters), and the evidence a
    contract alone names with it; the other rules on each contract's facts. The engine's matches are cross-checked
    against the reference evaluation on the same facts (``engine=False``: the reference evaluation alone)."""

    def __init__(self, library: RuleLibrary, cross_check: bool = True, engine: bool = True):
        self.library = library
        self.evaluator = Evaluator(library, cross_check=cross_check, engine=engine)
        self.local = local_rules(library)
        #: The evidence types the other rules (and repeat findings and settled findings) read.
        self.contract_types = sorted(relevance.types_read(
            [r for r in library.rules if r.id not in self.local]) | {"corrective_action", "remediation"})

    def evaluate(self, store: EvidenceReader, scope: RunScope, contract_ids: list[str], findings: bool = True
                 ) -> dict[str, ContractResult]:
        """Read the group's evidence once, a few facilities at a time, and evaluate each contract. Facilities whose
        facility-local findings are kept (``RunScope.units``) are read for the types the other rules read only."""
        full: set[str] = set()
        sites: set[str] = set()
        for c in contract_ids:
            sites |= scope.linked[c]
            full |= scope.linked[c] if c not in scope.units else scope.linked[c] & scope.units[c]
        return self.evaluate_chunks(scope, contract_ids, store.evidence_payloads(
            full, contract_ids, scope.as_of, scope.known_at, partial=sites - full, types=self.contract_types), findings)

    def evaluate_chunks(self, scope: RunScope, contract_ids: list[str],
                        chunks: Iterable[tuple[list[dict[str, Any]], bool]], findings: bool = True
                        ) -> dict[str, ContractResult]:
        """Evaluate contracts on their evidence, given as chunks of stored payloads (dated on or before the as-of
        date; every record of a facility in the same chunk), each with whether it holds every type or only those
        the contract-wide rules read. Only the records a rule may read are kept (``relevance``) and validated.
        `findings` False: matches only (``ContractResult.facts`` counts them)."""
        rules_local = [r for r in self.library.rules if r.id in self.local]
        rules_contract = [r for r in self.library.rules if r.id not in self.local]
        local = {c: {r: v for r, v in scope.params[c].items() if r in self.local} for c in contract_ids}
        other = {c: {r: v for r, v in scope.params[c].items() if r not in self.local} for c in contract_ids}
        # The facilities whose jurisdiction pack changes parameters: the records their parameters may read are kept.
        site_sets = [site for c in contract_ids for site in scope.sites[c].values()]
        reducers = (relevance.Plan(rules_local, scope.as_of, [*local.values(), *site_sets], closures=False).reducer(),
                    relevance.Plan(rules_contract, scope.as_of, [*other.values(), *site_sets]).reducer())
        # The rules whose conditions read findings are matched after the rules they read (``Evaluator.complete``).
        early = self.evaluator.early
        other = {c: {r: v for r, v in rules.items() if r in early} for c, rules in other.items()}
        for chunk, complete in chunks:
            batch = []
            for payload in chunk:
                if not models.counts(payload):
                    continue
                fact = relevance.fact_from_payload(payload, scope.as_of)
                fact[PAYLOAD] = payload
                batch.append(fact)
            for reducer in reducers if complete else reducers[1:]:
                reducer.add(batch)
        kept = [_partitions(reducer.finish()) for reducer in reducers]
        closures = reducers[1].closures()
        records: dict[str, tuple[models.EvidenceBase, dict[str, Any]]] = {}  # id -> (record, as displayed)

        def record(fact: dict[str, Any]) -> tuple[models.EvidenceBase, dict[str, Any]]:
            if fact["id"] not in records:
                try:
                    validated = models.EVIDENCE_ADAPTER.validate_python(fact[PAYLOAD])
                except pydantic.ValidationError as error:  # stored valid, so the store was changed behind us
                    first = error.errors()[0]
                    raise StoreError(f"evidence record {fact['id']} is damaged in the store: {first['msg']} at "
                                     f"{'.'.join(str(p) for p in first['loc'])}. Import the record again to replace "
                                     "it, or restore the store from a backup.") from None
                validated = models.known_on(validated, scope.as_of)
                records[fact["id"]] = (validated, validated.model_dump())
            return records[fact["id"]]

        own: dict[str, set[tuple[Any, Any]]] = {}
        for partitions in (*kept, {(f.get("facility_id"), f.get("contract_id")): [] for f in closures}):
            for key in partitions:
                if key[1] is not None:
                    own.setdefault(key[1], set()).add(key)
        shared: dict[tuple[Any, ...], tuple[list[Match], list[Any], facts.ContractFacts]] = {}
        results = {}
        for contract_id in contract_ids:
            contract = scope.contracts[contract_id]
            mine = own.get(contract_id, set())
            # Facility-local rules: each facility's records naming no contract (shared by every contract with the
            # same parameters), with the records naming this contract there, if any; and this contract's records
            # elsewhere.
            units = [((f, None), (f, contract_id)) if (f, contract_id) in kept[0] else ((f, None),)
                     for f in sorted(scope.linked[contract_id], key=str)]
            units += [(key,) for key in sorted(mine, key=repr) if key[0] not in scope.linked[contract_id]]
            if contract_id in scope.units:
                units = [u for u in units if (u[0][0] or "") in scope.units[contract_id]]
            matches: list[Match] = []
            faults: list[Any] = []
            bundles = []
            for unit in units:
                if not any(key in kept[0] for key in unit):
                    continue
                # A facility's matches are its own: with its jurisdiction pack's parameters, if any.
                site = scope.sites[contract_id].get(unit[0][0] or "")
                params = local[contract_id] if site is None else {r: v for r, v in site.items() if r in self.local}
                signature = json.dumps(params, sort_keys=True, default=str)
                memo = (unit, signature) if len(unit) == 1 and unit[0][1] is None else (unit, contract_id)
                if memo not in shared:
                    bundle = facts.ContractFacts(contract=contract, as_of=scope.as_of)
                    for fact in sorted((f for key in unit for f in kept[0].get(key, [])), key=_order):
                        bundle.add(record(fact)[1])
                    jurisdictions.fill_fee_caps(self.library.jurisdictions, bundle, scope.countries[contract_id])
                    found, wrong = self.evaluator.matches(bundle, params)
                    shared[memo] = (found, wrong, bundle)
                found, wrong, bundle = shared[memo]
                matches += found
                faults += [dataclasses.replace(fault, contract_id=contract_id) for fault in wrong]
                bundles.append(bundle)
            # The other rules: the contract's facts, with the records they may read.
            partitions = {(f, None) for f in scope.linked[contract_id]} | mine
            evidence = [record(f)[0] for key in partitions for f in kept[1].get(key, [])]
            bundle = facts.build(contract, scope.facilities, scope.links, evidence, scope.as_of)
            jurisdictions.fill_fee_caps(self.library.jurisdictions, bundle, scope.countries[contract_id])
            found, wrong = self.evaluator.matches(bundle, other[contract_id], scope.sites[contract_id])
            matches += found
            faults += wrong
            result = ContractResult(contract, scope.as_of, rules_applied=sorted(scope.params[contract_id]),
                                    facts=len(matches), faults=faults)
            if findings:
                for part in bundles:  # the records the facility-local matches bound, for the messages
                    bundle.display.update(part.display)
                    bundle.by_key.update(part.by_key)
                bundle.closures = {}
                for fact in relevance.latest_closures(closures, partitions):
                    if fact.get("facility_id") is not None:  # a repeat is at a facility (evaluation.repeat_reason)
                        bundle.closures.setdefault(fact["facility_id"], []).append(record(fact)[1])
                kept_findings = [models.Finding.model_validate(f) for f in scope.kept.get(contract_id, [])]
                result.findings, later = self.evaluator.complete(matches, bundle, scope.params[contract_id],
                                                                 kept_findings, sites=scope.sites[contract_id])
                result.faults += later
            results[contract_id] = result
        return results


def local_rules(library: RuleLibrary) -> set[str]:
    """The rules whose matches lie within one facility's evidence (``relevance.facility_local``) and that read no
    findings (those are evaluated on the contract, after the findings they read)."""
    return {r.id for r in library.rules if relevance.facility_local(r) and strata.is_base(r)}


def _partitions(kept: list[dict[str, Any]]) -> dict[tuple[Any, Any], list[dict[str, Any]]]:
    out: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for fact in kept:
        out.setdefault((fact.get("facility_id"), fact.get("contract_id")), []).append(fact)
    return out


def _order(fact: dict[str, Any]) -> tuple[Any, ...]:
    return (fact["date"], fact["id"])


def result_json(result: ContractResult) -> dict[str, Any]:
    """A contract's result as stored by a shared run's partition (JSON)."""
    return {"findings": [f.model_dump(mode="json") for f in result.findings],
            "faults": [str(fault) for fault in result.faults]}


# ---------------------------------------------------------------------------------------------------------------------
# Several processes on this host

_WORKER: dict[str, Any] = {}


def _start_worker(open_reader: Callable[[str], EvidenceReader], url: str, library: RuleLibrary, scope: RunScope,
                  cross_check: bool) -> None:
    _WORKER.update(open_reader=open_reader, url=url, scope=scope, evaluator=GroupEvaluator(library, cross_check))


def _work(contract_ids: list[str]) -> dict[str, dict[str, Any]]:
    store = _WORKER.get("store")
    if store is None:
        store = _WORKER["store"] = _WORKER["open_reader"](_WORKER["url"])
    results = _WORKER["evaluator"].evaluate(store, _WORKER["scope"], contract_ids)
    return {c: result_json(r) for c, r in results.items()}


def evaluate_groups(store: EvidenceReader, open_reader: Callable[[str], EvidenceReader], library: RuleLibrary,
                    scope: RunScope, work: list[list[str]], workers: int,
                    log: Callable[..., None]) -> dict[str, dict[str, Any]]:
    """Evaluate groups of contracts with `workers` processes (forked from this one; each opens its own connection
    with `open_reader(store.url)`), results as JSON by contract id. The calling process only waits."""
    results: dict[str, dict[str, Any]] = {}
    if not work:
        return results
    # Forked children must not share this process's database connections: close them first.
    store.close()
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1 \
        else "spawn"
    with ProcessPoolExecutor(max_workers=min(workers, len(work)), mp_context=multiprocessing.get_context(method),
                             initializer=_start_worker,
                             initargs=(open_reader, store.url, library, scope, True)) as pool:
        pending = {pool.submit(_work, group) for group in work}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                for contract_id, result in future.result().items():
                    results[contract_id] = result
                    log("contract_evaluated", contract_id=contract_id, findings=len(result["findings"]),
                        faults=len(result["faults"]))
    return results


# ---------------------------------------------------------------------------------------------------------------------
# What changed since the last run


@dataclass
class Inputs:
    """The evidence partitions a run reads and what each contract's findings depend on."""

    #: (facility id or None, contract id or None) -> (digest, records) of every partition a contract reads
    partitions: dict[tuple[str | None, str | None], tuple[str, int]] = field(default_factory=dict)
    #: contract id -> the hash of all its inputs
    hashes: dict[str, str] = field(default_factory=dict)
    #: contract id -> the hash of its inputs besides evidence, facilities and links (the contract, the rules,
    #: the software, the as-of date): with the evidence of a facility, what its facility-local findings there
    #: depend on
    bases: dict[str, str] = field(default_factory=dict)
    #: contract id -> facility id ("" for none) -> digest of the evidence the contract reads there
    units: dict[str, dict[str, str]] = field(default_factory=dict)


def _sha(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def inputs(store: EvidenceReader, library: RuleLibrary, scope: RunScope) -> Inputs:
    """Digest the evidence partitions the contracts read (ids and content hashes only, streamed from an index) and
    hash each contract's inputs."""
    out = Inputs()
    sites = set().union(*scope.linked.values()) if scope.linked else set()
    for facility_id, contract_id, rows in store.evidence_partitions(scope.as_of, scope.known_at):
        unread = facility_id not in sites if contract_id is None else contract_id not in scope.contracts
        if unread:
            continue
        out.partitions[(facility_id, contract_id)] = (partition_digest(rows), len(rows))
    own: dict[str, list[str | None]] = {}
    for facility_id, contract_id in out.partitions:
        if contract_id is not None:
            own.setdefault(contract_id, []).append(facility_id)
    library_hash = library.content_hash()
    for contract_id, contract in scope.contracts.items():
        linked = scope.linked[contract_id]
        units: dict[str, str] = {}
        for facility_id in sorted(linked | {f for f in own.get(contract_id, []) if f is not None}) + (
                [None] if None in own.get(contract_id, []) else []):
            shared = out.partitions.get((facility_id, None)) if facility_id in linked else None
            mine = out.partitions.get((facility_id, contract_id))
            if shared or mine:
                # A facility whose jurisdiction pack sets its parameters: they are among its inputs (its country).
                site = scope.sites.get(contract_id, {}).get(facility_id or "")
                units[facility_id or ""] = _sha([facility_id in linked, shared and shared[0], mine and mine[0]]
                                                + ([site] if site else []))
        base = _sha({"library": library_hash, "software": __version__, "as_of": scope.as_of.isoformat(),
                     "contract": contract.model_dump(mode="json")})
        out.bases[contract_id], out.units[contract_id] = base, units
        out.hashes[contract_id] = _sha({
            "base": base, "units": units,
            "facilities": [scope.facilities[f].model_dump(mode="json") for f in sorted(linked)
                           if f in scope.facilities],
            "links": sorted((facts.link_id(k), k.model_dump(mode="json")) for k in facts.linked(contract, scope.links, scope.as_of)),
        })
    return out


@dataclass
class Reuse:
    """What a run keeps of the last one: the findings of contracts whose inputs are unchanged, and for contracts
    whose evidence changed at some facilities only, the facility-local findings at the others."""

    #: the contracts whose inputs are unchanged: their stored findings stand (nothing to evaluate)
    whole: set[str] = field(default_factory=set)
    #: contract id -> the facility-local findings kept (the facilities to evaluate are in RunScope.units)
    partial: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def reuse(store: EvidenceReader, library: RuleLibrary, scope: RunScope, found: Inputs) -> Reuse:
    """Compare each contract's inputs with those of the last run that covered it (whose findings are the stored
    findings still found, when their number is the number that run recorded). Sets ``scope.units``."""
    out = Reuse()
    previous = store.last_inputs(found.hashes)
    candidates = [c for c in found.hashes if c in previous and previous[c].base_hash == found.bases[c]]
    counts = store.firing_counts(candidates)
    candidates = [c for c in candidates if counts[c] == previous[c].findings]
    out.whole = {c for c in candidates if previous[c].inputs_hash == found.hashes[c]}
    partial = [c for c in candidates if c not in out.whole]
    stored = store.current_findings(partial)
    local = local_rules(library)
    for contract_id in partial:
        units = found.units[contract_id]
        same = {u for u, digest in units.items() if previous[contract_id].units.get(u) == digest}
        scope.units[contract_id] = set(units) - same
        out.partial[contract_id] = scope.kept[contract_id] = [
            f for f in stored[contract_id] if f["rule_id"] in local and (f["facility_id"] or "") in same]
    return out


def timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: round(time.perf_counter() - start, 3)


