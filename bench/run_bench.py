"""Benchmark the nightly run on a synthetic consortium: wall time, records/s and peak memory, SQLite and PostgreSQL.

For each evidence size, `bench/consortium.py` writes a seeded consortium (400 contracts, 3,000 facilities, evidence
of all 21 types as CSV files); a fresh store is loaded through the real import path (`compliance import ...`),
then each measured step runs as a child process:

  run (full)        `compliance run` on the freshly loaded store: every active contract is evaluated
  run (no change)   `compliance run` again, nothing changed since
  run (+1% new)     `compliance run` after importing 1% new evidence (a nightly drop: recent records about a few
                    facilities)
  run --full        `compliance run --full`: the same store, every contract evaluated again (the nightly truth)
  check (largest)   `compliance check` of the contract that reads the most evidence records, end to end
  floor             the same evidence rows read from the store, plus the plain-Python reference evaluation of the
                    same rules on the same contracts, findings included (the rules that read findings need them):
                    what any evaluation has to pay; run/floor is the engine's and the store's overhead, measured in
                    the same benchmark

and the CLI start-up (`compliance --help`, best of 5). The last full run is then checked against the reference
evaluator: every stored finding must equal the finding the reference evaluation gives (rule, contract, key,
severity, message, evidence...), and the benchmark fails if one differs. Timings are printed, never asserted.

Usage:
  python bench/run_bench.py                       # 10,000 and 100,000 records on SQLite
  python bench/run_bench.py --full                # also 1,000,000 records
  python bench/run_bench.py --sizes 10000 --database-url postgresql://postgres@127.0.0.1:5432/test
  COMPLIANCE_BENCH_DATABASE_URL=postgresql://... make bench     # SQLite and PostgreSQL

--database-url is "sqlite" or a postgresql:// URL (a fresh schema per size, dropped afterwards); repeat it to
compare backends. Without it: SQLite, plus PostgreSQL when COMPLIANCE_BENCH_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import consortium  # noqa: E402
from import_bench import Child, fresh_store  # noqa: E402

from compliance.store import display_url  # noqa: E402

AS_OF = consortium.AS_OF
RULES = ROOT / "rules"


@dataclass
class Step:
    name: str
    child: Child
    records: int
    note: str = ""


@dataclass
class Bench:
    backend: str
    size: int
    evidence: int = 0
    steps: list[Step] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)


def cli(args: list[str], env: dict[str, str], workdir: Path) -> Child:
    return measured([sys.executable, "-m", "compliance", *args], env, workdir)


def python(args: list[str], env: dict[str, str], workdir: Path) -> Child:
    """Run `python bench/run_bench.py ARGS` (an internal step) the way the CLI steps run."""
    return measured([sys.executable, str(Path(__file__).resolve()), *args], env, workdir)


def _tree(root: int) -> list[int]:
    """`root` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _high_water_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measured(command: list[str], env: dict[str, str], workdir: Path) -> Child:
    """Run `command`: wall time, and the peak RSS of the largest process of its tree (the run's own process or one
    of its workers), sampled from /proc (VmHWM: a process's own high-water mark, not the memory of this process it
    was forked from, which wait4's ru_maxrss would report). Elsewhere than Linux, wait4's ru_maxrss."""
    import threading

    out_path, err_path = workdir / "child.out", workdir / "child.err"
    peaks = [0.0]
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, cwd=ROOT)
        linux = os.path.isdir(f"/proc/{process.pid}")
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peaks.append(max([0.0, *(_high_water_mb(pid) for pid in _tree(process.pid))]))
        sampler = threading.Thread(target=sample, daemon=True)
        if linux:
            sampler.start()
        process.wait()
        seconds = time.perf_counter() - t0
        done.set()
        if linux:
            sampler.join()
    peak = max(peaks)
    if not linux:
        import resource

        scale = 1024 * 1024 if sys.platform == "darwin" else 1024
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale
    return Child(seconds, peak, process.returncode, out_path.read_text(), err_path.read_text())


def checked(child: Child, what: str, ok: tuple[int, ...] = (0,)) -> Child:
    if child.exit_code not in ok:
        raise RuntimeError(f"{what} exited {child.exit_code}:\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}")
    return child


def run_note(child: Child) -> str:
    try:
        summary = json.loads(child.stdout)
    except ValueError:
        return ""
    counts = {k: len(v) for k, v in summary.items() if isinstance(v, list)}
    note = f"{counts.get('new', 0)} new, {counts.get('still_open', 0)} still open, {counts.get('resolved', 0)} resolved"
    if "evaluated" in summary:
        note = f"{summary['evaluated']} of {summary['evaluated'] + summary.get('reused', 0)} contracts evaluated; " + note
    return note


def contract_sizes(url: str, world: consortium.World) -> dict[str, int]:
    """How many evidence records (as of AS_OF) each active contract reads."""
    import sqlalchemy as sa

    from compliance.store import Store

    store = Store(url)
    try:
        with store.engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT facility_id, contract_id, count(*) FROM evidence WHERE date <= :d "
                "GROUP BY facility_id, contract_id"), {"d": AS_OF}).all()
    finally:
        store.close()
    per_site: dict[str, int] = {}
    per_contract: dict[str, int] = {}
    for site, contract, n in rows:
        if contract is None:
            per_site[site] = per_site.get(site, 0) + n
        else:
            per_contract[contract] = per_contract.get(contract, 0) + n
    totals = {c["id"]: per_contract.get(c["id"], 0) for c in consortium.active_contracts(world)}
    for site, contracts in world.contracts_at.items():
        for contract in contracts:
            if contract in totals:
                totals[contract] += per_site.get(site, 0)
    return totals


def startup(env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "compliance", "--help"], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def supports(flag: str, env: dict[str, str]) -> bool:
    text = subprocess.run([sys.executable, "-m", "compliance", "run", "--help"], env=env, cwd=ROOT,
                          capture_output=True, text=True).stdout
    return flag in text


def bench_size(target: str, size: int, files: dict[str, Any], world: consortium.World, workdir: Path, key: str,
               workers: int, keep: bool, check_findings: bool) -> Bench:
    env = {**os.environ, "COMPLIANCE_PSEUDONYM_KEY": key}
    for name in ("COMPLIANCE_PSEUDONYM_KEY_FILE", "COMPLIANCE_DATABASE_URL", "COMPLIANCE_RULES"):
        env.pop(name, None)
    label = f"{size}-{'sqlite' if target == 'sqlite' else 'pg'}"
    with fresh_store(target, workdir, label, keep) as url:
        db = ["--db", url]
        checked(cli([*db, "db", "init"], env, workdir), "db init")
        checked(cli([*db, "import", "contracts", str(files["contracts"])], env, workdir), "import contracts")
        checked(cli([*db, "import", "facilities", str(files["facilities"])], env, workdir), "import facilities")
        loaded = checked(cli([*db, "import", "evidence", *map(str, files["evidence"])], env, workdir),
                         "import evidence")
        from compliance.store import Store

        store = Store(url)
        try:
            backend = store.engine.dialect.name
            counts = store.counts()
        finally:
            store.close()
        result = Bench(backend, size, counts["evidence records"])
        quarantined = counts["quarantined rows (open)"]
        result.info.append(f"import: {result.evidence} records in {loaded.seconds:.1f} s "
                           f"({result.evidence / loaded.seconds:.0f} records/s), {quarantined} quarantined")
        if quarantined:
            result.failures.append(f"{quarantined} generated rows were quarantined")
        run = [*db, "run", "--as-of", AS_OF.isoformat(), "--rules", str(RULES), "--json"]
        if workers > 1:
            run += ["--workers", str(workers)]
        print(f"  {backend} {size}: loaded in {loaded.seconds:.1f} s; running", flush=True)
        full = checked(cli(run, env, workdir), "run (full)", ok=(0, 1))
        result.steps.append(Step("run (full)", full, result.evidence, run_note(full)))
        again = checked(cli(run, env, workdir), "run (no change)", ok=(0, 1))
        result.steps.append(Step("run (no change)", again, result.evidence, run_note(again)))
        delta = checked(cli([*db, "import", "evidence", *map(str, files["delta"])], env, workdir), "import delta")
        result.info.append(f"+1% new evidence: {files['delta_records']} records at {files['delta_sites']} "
                           f"facilities, imported in {delta.seconds:.1f} s")
        after = checked(cli(run, env, workdir), "run (+1% new)", ok=(0, 1))
        total = result.evidence + files["delta_records"]
        result.steps.append(Step("run (+1% new)", after, total, run_note(after)))
        if supports("--full", env):
            forced = checked(cli([*run, "--full"], env, workdir), "run --full", ok=(0, 1))
            result.steps.append(Step("run --full", forced, total, run_note(forced)))
            known_at = json.loads(forced.stdout)["known_at"]
        else:
            known_at = json.loads(after.stdout)["known_at"]
        sizes = contract_sizes(url, world)
        largest = max(sorted(sizes), key=lambda c: sizes[c])
        chosen = [("check (largest)", largest)]
        if sizes[largest] > 10_000:  # the target: one contract with 10,000 evidence records
            chosen.append(("check (10k)", min(sorted(sizes), key=lambda c: abs(sizes[c] - 10_000))))
        for name, contract in chosen:
            check = checked(cli([*db, "check", contract, "--as-of", AS_OF.isoformat(), "--rules", str(RULES),
                                 "--json"], env, workdir), "check", ok=(0, 1))
            result.steps.append(Step(name, check, sizes[contract], f"{contract}: {sizes[contract]} evidence records"))
        moment = ["--db", url, "--as-of", AS_OF.isoformat(), "--known-at", known_at, "--workers", str(workers)]
        floor = checked(python(["floor", *moment], env, workdir), "floor")
        timing = json.loads(floor.stdout)
        result.steps.append(Step("floor", floor, total, f"{timing['matches']} findings"))
        if check_findings:
            out = workdir / f"reference-{label}.json"
            checking = checked(python(["verify", *moment, "--out", str(out)], env, workdir), "verify")
            problems = compare(url, out)
            result.failures += problems
            result.info.append(f"the stored findings equal the reference evaluation of all the evidence "
                               f"({checking.seconds:.0f} s)" if not problems else
                               "FINDINGS DIFFER from the reference evaluation of all the evidence")
    return result


def compare(url: str, reference_file: Path) -> list[str]:
    """Stored findings (those the last run found) against the reference evaluation's, field by field."""
    from compliance.store import Store

    expected = {f["key"]: f for f in json.loads(reference_file.read_text())}
    store = Store(url)
    try:
        stored = {row.key: row.payload for row in store.stored_findings() if row.firing}
    finally:
        store.close()
    problems = []
    for key in sorted(set(expected) | set(stored)):
        if key not in stored:
            problems.append(f"the reference finds {key}, the run does not")
        elif key not in expected:
            problems.append(f"the run found {key}, the reference does not")
        elif stored[key] != expected[key]:
            fields = sorted(k for k in expected[key] if expected[key][k] != stored[key].get(k))
            problems.append(f"{key} differs in {', '.join(fields)}")
    return problems[:20] + ([f"... {len(problems) - 20} more"] if len(problems) > 20 else [])


# ---------------------------------------------------------------------------------------------------------------------
# The floor and the check of the findings (run as child processes by bench_size)

_STATE: dict[str, Any] = {}


def _floor_group(contract_ids: list[str]) -> tuple[int, float]:
    """Read and reduce a group's evidence as the run does, then evaluate it with the reference evaluator alone (no
    engine, no findings): (matches, seconds)."""
    from compliance.evaluation import pipeline
    from compliance.store import Store

    if "store" not in _STATE:
        _STATE["store"] = Store(_STATE["url"])
        _STATE["evaluator"] = pipeline.GroupEvaluator(_STATE["library"], engine=False)
    start = time.perf_counter()
    # With the findings: the rules that read findings need those of the rules before them.
    results = _STATE["evaluator"].evaluate(_STATE["store"], _STATE["portfolio"], contract_ids)
    return sum(len(r.findings) for r in results.values()), time.perf_counter() - start


def _verify_contract(contract_id: str) -> list[dict[str, Any]]:
    """The findings of one contract by the reference evaluator on all its evidence, read the way of the first
    version (one contract at a time, no reduction): the oracle the run is compared with."""
    from compliance import api
    from compliance.evaluation import contract as evaluation
    from compliance.store import Store

    if "store" not in _STATE:
        _STATE["store"] = Store(_STATE["url"])
    store, library, p = _STATE["store"], _STATE["library"], _STATE["portfolio"]
    # The reference evaluator alone, stratum by stratum (rules that read findings after the rules they read).
    evaluator = _STATE.setdefault("finder", evaluation.Evaluator(library, cross_check=False, engine=False))
    bundle = api.contract_facts(store, p.contracts[contract_id], p.as_of, p.facilities, p.links, known_at=p.known_at)
    return [f.model_dump(mode="json") for f in evaluator.evaluate(bundle).findings]


def _pool(url: str, as_of: dt.date, known_at: dt.datetime, workers: int) -> tuple[Any, Any, Any]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from compliance import api
    from compliance.evaluation import pipeline
    from compliance.store import Store

    store = Store(url)
    try:
        library = api.load_library([RULES])
        p = pipeline.scope(library, store.contracts(statuses=["active"], known_at=known_at), as_of, known_at,
                               store.facilities(known_at), store.production_links(known_at))
    finally:
        store.close()
    _STATE.update(url=url, library=library, portfolio=p)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    return pool, p, pipeline


def floor(url: str, as_of: dt.date, known_at: dt.datetime, workers: int) -> None:
    """The floor: the run's reading of the evidence (the same rows, read and reduced the same way, in the same
    number of processes), then the plain-Python reference evaluation of the same rules, without the engine,
    findings or storing. Prints the seconds spent evaluating and the matches."""
    pool, p, pipeline = _pool(url, as_of, known_at, workers)
    with pool:
        results = list(pool.map(_floor_group, pipeline.groups(p, sorted(p.contracts))))
    print(json.dumps({"seconds": sum(r[1] for r in results), "matches": sum(r[0] for r in results)}))


def verify(url: str, as_of: dt.date, known_at: dt.datetime, workers: int, out: Path) -> None:
    pool, p, _pipeline = _pool(url, as_of, known_at, workers)
    with pool:
        findings = [f for found in pool.map(_verify_contract, sorted(p.contracts), chunksize=4) for f in found]
    out.write_text(json.dumps(findings))


# ---------------------------------------------------------------------------------------------------------------------


def table(results: list[Bench], startup_s: float) -> str:
    lines = [f"{'backend':<10} {'records':>9} {'step':<16} {'wall s':>8} {'records/s':>10} {'peak RSS MB':>12}  note"]
    for r in results:
        for step in r.steps:
            rate = step.records / step.child.seconds if step.child.seconds else 0
            lines.append(f"{r.backend:<10} {r.evidence:>9} {step.name:<16} {step.child.seconds:>8.2f} {rate:>10.0f} "
                         f"{step.child.peak_rss_mb:>12.0f}  {step.note}")
        by = {s.name: s.child.seconds for s in r.steps}
        if "run (full)" in by and "floor" in by:
            full = by.get("run --full", by["run (full)"])
            lines.append(f"{'':<10} {'':>9} {'ratios':<16} run/floor {full / by['floor']:.2f}; no change "
                         f"{by['run (no change)'] / by['run (full)']:.0%} and +1% new "
                         f"{by['run (+1% new)'] / by['run (full)']:.0%} of the full run")
    lines.append(f"CLI start-up (compliance --help, best of 5): {startup_s:.2f} s")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("floor", "verify"):
        parser = argparse.ArgumentParser(prog=f"run_bench.py {sys.argv[1]}")
        parser.add_argument("step")
        parser.add_argument("--db", required=True)
        parser.add_argument("--as-of", type=dt.date.fromisoformat, required=True)
        parser.add_argument("--known-at", type=dt.datetime.fromisoformat, required=True)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--out", type=Path)
        args = parser.parse_args()
        if args.step == "floor":
            floor(args.db, args.as_of, args.known_at, args.workers)
        else:
            verify(args.db, args.as_of, args.known_at, args.workers, args.out)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="evidence records per store")
    parser.add_argument("--full", action="store_true", help="add the 1,000,000-record size (about half an hour)")
    parser.add_argument("--database-url", action="append", dest="targets", metavar="URL",
                        help='"sqlite" or a postgresql:// URL (a fresh schema per size); repeat to compare backends '
                             "[default: sqlite, plus $COMPLIANCE_BENCH_DATABASE_URL when set]")
    parser.add_argument("--workers", type=int, default=2, help="processes per run (run --workers) [default: 2]")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-check", dest="check_findings", action="store_false",
                        help="skip comparing the stored findings with the reference evaluation of all the evidence")
    parser.add_argument("--keep", action="store_true", help="keep the generated files, stores and schemas")
    args = parser.parse_args()
    sizes = sorted(set(args.sizes + ([1_000_000] if args.full else [])))
    targets = args.targets or ["sqlite"] + ([os.environ["COMPLIANCE_BENCH_DATABASE_URL"]]
                                            if os.environ.get("COMPLIANCE_BENCH_DATABASE_URL") else [])
    for target in targets:
        if target != "sqlite" and not target.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            parser.error(f'--database-url {display_url(target)}: expected "sqlite" or a postgresql:// URL')
    workdir = Path(tempfile.mkdtemp(prefix="run-bench-"))
    key = secrets.token_hex(32)
    world = consortium.world(args.seed)
    print(f"consortium: {len(world.contracts)} contracts ({len(consortium.active_contracts(world))} active), "
          f"{len(world.facilities)} facilities, {len(world.links)} production links; a linked facility's evidence "
          f"is read by {consortium.duplication(world):.1f} active contracts on average; {os.cpu_count()} CPUs")
    results: list[Bench] = []
    failures: list[str] = []
    try:
        contracts, facilities = consortium.write_world(world, workdir / "world")
        for size in sizes:
            t0 = time.perf_counter()
            evidence, counts = consortium.write_evidence(world, workdir / f"evidence-{size}", size, args.seed)
            rng = random.Random(args.seed + size)
            sites = rng.sample(world.linked, max(1, len(world.linked) // 50))
            delta, delta_counts = consortium.write_evidence(world, workdir / f"delta-{size}", size // 100, args.seed,
                                                            first=10 ** 8, prefix="new-", recent_days=30,
                                                            facilities=sites)
            files = {"contracts": contracts, "facilities": facilities, "evidence": evidence, "delta": delta,
                     "delta_records": sum(delta_counts.values()), "delta_sites": len(sites)}
            print(f"generated {sum(counts.values())} records in {len(evidence)} files in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            for target in targets:
                try:
                    result = bench_size(target, size, files, world, workdir, key, args.workers, args.keep,
                                        args.check_findings)
                except RuntimeError as error:
                    failures.append(f"{display_url(target)} {size}: {error}")
                    print(f"FAILED {failures[-1]}", file=sys.stderr, flush=True)
                    continue
                results.append(result)
                failures += [f"{result.backend} {size}: {f}" for f in result.failures]
                for line in result.info:
                    print(f"  {result.backend} {size}: {line}", flush=True)
            if not args.keep:
                shutil.rmtree(workdir / f"evidence-{size}", ignore_errors=True)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(results, startup(dict(os.environ))))
    if failures:
        print()
        for failure in failures:
            print(f"FAILED {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
