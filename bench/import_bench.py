"""Benchmark the import of a large evidence file: rows per second and peak memory, SQLite and PostgreSQL.

Generates a seeded CSV (several evidence types, grievances with raw worker identities so pseudonymisation runs,
about 200 facilities with valid OS IDs and 20 contracts, grievances skewed towards a few facilities, 0.1% of the
rows deliberately bad so the quarantine is measured too), seeds a fresh store with the contracts and facilities,
then runs `python -m compliance import evidence FILE` as a child process twice: the first import, and a re-import
of the same file (every record unchanged). Prints wall time (CLI start-up included), rows per second and the
child's peak RSS. Timings are for reading, never asserted by tests; the counts are checked.

Usage: python bench/import_bench.py [--rows 100000 1000000] [--database-url URL ...] [--seed 7] [--keep]

--database-url is "sqlite" (the default: a fresh SQLite file in a temporary directory) or a postgresql:// URL
(a fresh schema per size, dropped afterwards); repeat it to compare backends.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import csv
import datetime as dt
import itertools
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from consortium import CROCKFORD, os_id  # bench/ is on the path when a benchmark runs as a script

from compliance.domain import models
from compliance.store import Store, display_url, normalise_url

ROOT = Path(__file__).resolve().parent.parent
START = dt.date(2022, 1, 1)
DAYS = 1270  # up to mid-2025
EXIT_QUARANTINED = 8
#: One row in BAD_EVERY is deliberately bad, in turn: a day-first date, a bad OS ID check character, an
#: unknown contract (each quarantined by a different stage: intake, validation, the store).
BAD_EVERY = 1000
BAD_KINDS = ("day_first_date", "bad_check_character", "unknown_contract")

COUNTRIES = ("TH", "CN", "VN", "MY", "MX", "CZ", "PH", "ID", "IN", "TW")
BRANDS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware")
COLUMNS = ("id", "type", "date", "contract_id", "facility_id", "source",
           "employee_number", "worker_name", "channel", "issue_categories", "status", "acknowledged_on",
           "responded_on", "activity", "audit_id", "scheme", "code_area", "classification", "ilo_indicator",
           "worker_group", "n_reporting", "confidence", "sample_workers", "pct_weeks_over_60", "max_week_hours",
           "max_consecutive_days", "records_discrepancy", "period_end", "paid_on", "n_workers",
           "underpayment_amount", "currency", "unlawful_deductions", "payslips_transparent", "cap_id",
           "action_ref", "due_date")
#: (type, share of rows).
MIX = (("grievance", 0.30), ("protected_activity", 0.05), ("working_hours", 0.15), ("audit_finding", 0.12),
       ("monitoring_finding", 0.15), ("wage_record", 0.15), ("corrective_action", 0.08))
FIRST_NAMES = ("Somchai", "Nguyen Van", "Maria", "Jana", "Aung", "Siti", "Li", "Jose", "Olena", "Ravi", "Mai",
               "Tran Thi")
LAST_NAMES = ("Srisuk", "An", "Hernandez Lopez", "Novakova", "Kyaw", "Rahman", "Wei", "Santos", "Bondarenko", "Kumar")
ISSUES = ("wages", "overtime", "fees", "documents", "harassment", "dormitory", "safety", "discrimination")
CODE_AREAS = ("working_hours", "wages", "fees", "health_and_safety", "freely_chosen", "freedom_of_association")
ILO = ("", "", "", "debt_bondage", "retention_of_identity_documents", "deception", "excessive_overtime")
CURRENCIES = {"TH": "THB", "CN": "CNY", "VN": "VND", "MY": "MYR", "MX": "MXN", "CZ": "CZK", "PH": "PHP",
              "ID": "IDR", "IN": "INR", "TW": "TWD"}


# ---------------------------------------------------------------------------------------------------------------------
# The synthetic portfolio and evidence file


@dataclass
class Portfolio:
    contracts: list[models.Contract]
    facilities: list[models.Facility]
    links: list[models.ProductionLink]


def portfolio(seed: int, n_contracts: int = 20, n_facilities: int = 200) -> Portfolio:
    rng = random.Random(seed)
    taken: set[str] = set()
    facilities = []
    for i in range(n_facilities):
        country = COUNTRIES[i % len(COUNTRIES)]
        facilities.append(models.Facility(id=os_id(rng, country, taken), name=f"Bench plant {i}", country=country,
                                          address=f"{i} Example Industrial Estate",
                                          risk_level=rng.choice(["low", "medium", "high"])))
    contracts, links = [], []
    for c in range(n_contracts):
        brand = BRANDS[c % len(BRANDS)]
        signed = START + dt.timedelta(days=rng.randrange(365))
        items = [{"id": str(i + 1), "brand": brand, "model": f"{brand[:2].upper()}-{c}-{i}"} for i in range(3)]
        contracts.append(models.Contract.model_validate(dict(
            ocid=f"ocds-h6vhtk-b{c:05d}", id=f"BENCH-K{c:02d}",
            buyers=[{"id": f"GB-PPON-{c:04d}", "name": f"University {c}"}],
            supplier={"id": f"GB-COH-{c:08d}", "name": f"Reseller {c}"}, brands=[brand], items=items,
            signed_on=signed, period={"start": signed, "end": signed + dt.timedelta(days=1095)},
            clause_set={"id": "EWCC-v2-UK", "version": "2.0"})))
        for item in items:
            for site in rng.sample(facilities, 3):
                links.append(models.ProductionLink(brand=brand, model=item["model"], facility_id=site.id))
    unique = {(k.brand, k.model, k.facility_id): k for k in links}
    return Portfolio(contracts, facilities, list(unique.values()))


def write_evidence(path: Path, rows: int, seed: int, world: Portfolio) -> int:
    """Write `rows` evidence rows to `path`, one at a time (nothing is held in memory); returns the bad rows."""
    rng = random.Random(seed + 1)
    facility_ids = [f.id for f in world.facilities]
    country = {f.id: f.country for f in world.facilities}
    contract_ids = [c.id for c in world.contracts]
    # Grievances are skewed: a handful of facilities (a Zipf-like tail) get most of them.
    grievance_weights = list(itertools.accumulate(1 / (rank + 1) ** 1.3 for rank in range(len(facility_ids))))
    skewed = rng.sample(facility_ids, len(facility_ids))
    type_weights = list(itertools.accumulate(share for _t, share in MIX))
    types = [t for t, _share in MIX]
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for n in range(rows):
            kind = types[min(bisect.bisect(type_weights, rng.random() * type_weights[-1]), len(types) - 1)]
            if kind in ("grievance", "protected_activity"):
                site = skewed[bisect.bisect(grievance_weights, rng.random() * grievance_weights[-1])]
            else:
                site = rng.choice(facility_ids)
            day = START + dt.timedelta(days=rng.randrange(DAYS))
            row = dict.fromkeys(COLUMNS, "")
            row.update(id=f"BX-{n:08d}", type=kind, date=day.isoformat(), facility_id=site,
                       contract_id=rng.choice(contract_ids) if rng.random() < 0.2 else "")
            _fill(row, rng, kind, day, country[site])
            if n % BAD_EVERY == BAD_EVERY - 1:
                bad += 1
                problem = BAD_KINDS[(n // BAD_EVERY) % len(BAD_KINDS)]
                if problem == "day_first_date":
                    row["date"] = day.strftime("%d/%m/%Y")
                elif problem == "bad_check_character":
                    good = site[-1]
                    row["facility_id"] = site[:-1] + CROCKFORD[(CROCKFORD.index(good) + 1) % len(CROCKFORD)]
                else:
                    row["contract_id"] = f"NO-SUCH-CONTRACT-{n}"
            writer.writerow(row.values())
    return bad


def _fill(row: dict[str, str], rng: random.Random, kind: str, day: dt.date, country: str) -> None:
    def later(low: int, high: int) -> str:
        return (day + dt.timedelta(days=rng.randrange(low, high))).isoformat()

    if kind in ("grievance", "protected_activity"):
        # Raw identities: the import turns them into pseudonyms (an employee number, else the name).
        worker = rng.randrange(40_000)
        if rng.random() < 0.8:
            row["employee_number"] = f"{country}-E-{worker:05d}"
        row["worker_name"] = f"{FIRST_NAMES[worker % len(FIRST_NAMES)]} {LAST_NAMES[worker // 7 % len(LAST_NAMES)]}"
        row["source"] = "worker_voice_app"
    if kind == "grievance":
        late = rng.random() < 0.1
        row.update(channel=rng.choice(["worker_voice_app", "hotline", "monitoring_partner"]),
                   issue_categories=";".join(rng.sample(ISSUES, rng.randrange(1, 3))),
                   status=rng.choice(["open", "acknowledged", "in_progress", "resolved"]),
                   acknowledged_on=later(8, 20) if late else later(0, 7),
                   responded_on="" if rng.random() < 0.2 else (later(31, 60) if late else later(7, 30)))
    elif kind == "protected_activity":
        row["activity"] = rng.choice(["complaint", "spoke_to_monitors", "petition", "union_activity"])
    elif kind == "working_hours":
        row.update(source="social_audit", sample_workers=str(rng.randrange(20, 200)),
                   pct_weeks_over_60=f"{rng.random() / 3:.3f}", max_week_hours=str(rng.randrange(40, 90)),
                   max_consecutive_days=str(rng.randrange(5, 21)),
                   records_discrepancy=rng.choice(["true", "false", ""]))
    elif kind == "audit_finding":
        row.update(source="social_audit", audit_id=f"AUD-{rng.randrange(5000):04d}", scheme="RBA VAP",
                   code_area=rng.choice(CODE_AREAS), ilo_indicator=rng.choice(ILO),
                   classification=rng.choice(["priority", "major", "minor", "conformance", "observation"]))
    elif kind == "monitoring_finding":
        row.update(source="worker_driven_monitoring", code_area=rng.choice(CODE_AREAS), ilo_indicator=rng.choice(ILO),
                   worker_group=f"wg_{rng.choice(['migrant', 'agency', 'intern'])}_{rng.randrange(30)}",
                   n_reporting=str(rng.randrange(1, 80)), confidence=rng.choice(["low", "medium", "high"]))
    elif kind == "wage_record":
        row.update(source="worker_driven_monitoring",
                   period_end=(day - dt.timedelta(days=rng.randrange(1, 15))).isoformat(),
                   paid_on="" if rng.random() < 0.05 else later(0, 20), n_workers=str(rng.randrange(10, 3000)),
                   underpayment_amount=str(rng.choice([0, 0, 0, rng.randrange(1000, 900_000)])),
                   currency=CURRENCIES[country], unlawful_deductions=rng.choice(["true", "false"]),
                   payslips_transparent=rng.choice(["true", "false", ""]))
    elif kind == "corrective_action":
        row.update(source="supplier", cap_id=f"CAP-{rng.randrange(800):03d}", action_ref=f"a{rng.randrange(1, 6)}",
                   code_area=rng.choice(CODE_AREAS), due_date=later(14, 120),
                   status=rng.choice(["not_started", "in_progress", "completed"]))


# ---------------------------------------------------------------------------------------------------------------------
# Stores


@contextlib.contextmanager
def fresh_store(target: str, workdir: Path, label: str, keep: bool) -> Iterator[str]:
    """The URL of a fresh, empty store: a SQLite file in `workdir`, or a new PostgreSQL schema (dropped after,
    the way the tests' `store_url` fixture does it)."""
    if target == "sqlite":
        yield f"sqlite:///{workdir / f'store-{label}.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(target))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{target}{'&' if '?' in target else '?'}options=-csearch_path%3D{schema}"
    finally:
        if keep:
            print(f"kept PostgreSQL schema {schema}")
        else:
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def seed_store(url: str, world: Portfolio) -> None:
    store = Store(url)
    try:
        store.upgrade()
        store.add_contracts(world.contracts, "bench-contracts")
        store.add_facilities(world.facilities, world.links, "bench-facilities")
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------------------------------
# Running the import


@dataclass
class Child:
    seconds: float
    peak_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str


def run_child(args: list[str], env: dict[str, str], workdir: Path) -> Child:
    """Run `python -m compliance ARGS`; wall time and the child's own peak RSS (os.wait4, not the parent's)."""
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "compliance", *args], env=env, stdout=out, stderr=err,
                                   cwd=ROOT)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - t0
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return Child(seconds, usage.ru_maxrss / scale, process.returncode, out_path.read_text(), err_path.read_text())


@dataclass
class Result:
    backend: str
    rows: int
    first: Child
    again: Child
    quarantined: int
    failures: list[str]


def bench_one(target: str, label: str, rows: int, csv_path: Path, bad: int, world: Portfolio, workdir: Path,
              keep: bool, key: str) -> Result:
    with fresh_store(target, workdir, label, keep) as url:
        seed_store(url, world)
        env = {**os.environ, "COMPLIANCE_PSEUDONYM_KEY": key}
        env.pop("COMPLIANCE_PSEUDONYM_KEY_FILE", None)
        env.pop("COMPLIANCE_DATABASE_URL", None)
        command = ["--db", url, "import", "evidence", str(csv_path)]
        first = run_child(command, env, workdir)
        store = Store(url)
        try:
            backend = store.engine.dialect.name
            counts = store.counts()
            quarantined, stored = counts["quarantined rows (open)"], counts["evidence records"]
        finally:
            store.close()
        again = run_child(command, env, workdir)
        store = Store(url)
        try:
            batches = store.batches(kind="evidence")
            # the re-import reports the bad rows again but queues no second entry for them
            requarantined = len(store.quarantine(batch_id=batches[-1].id)) if batches else 0
            open_entries = len(store.quarantine())
            stored_after = store.counts()["evidence records"]
        finally:
            store.close()
    failures = []
    expected_exit = EXIT_QUARANTINED if bad else 0  # fewer than BAD_EVERY rows: none is bad
    for name, child in (("import", first), ("re-import", again)):
        if child.exit_code != expected_exit:
            failures.append(f"{name} exited {child.exit_code}, expected {expected_exit}:\n"
                            f"{child.stdout}{child.stderr[-2000:]}")
    if stored + quarantined != rows:
        failures.append(f"import: {stored} stored + {quarantined} quarantined != {rows} rows generated")
    if quarantined != bad:
        failures.append(f"import: {quarantined} rows quarantined, {bad} were generated bad")
    if len(batches) != 2 or batches[0].added != rows - bad or batches[0].status != "complete":
        failures.append(f"import: batch says {batches[0].added if batches else '-'} added, expected {rows - bad}")
    if len(batches) == 2 and (batches[1].unchanged != rows - bad or batches[1].added or batches[1].updated
                              or batches[1].status != "complete"):
        failures.append(f"re-import: batch says {batches[1].added} added, {batches[1].updated} updated, "
                        f"{batches[1].unchanged} unchanged; expected {rows - bad} unchanged")
    if len(batches) == 2 and batches[1].quarantined != bad:
        failures.append(f"re-import: batch says {batches[1].quarantined} quarantined, expected {bad}")
    if stored_after != stored or requarantined != 0 or open_entries != bad:
        failures.append(f"re-import: {stored_after} stored (was {stored}), {requarantined} new quarantine entries "
                        f"(expected 0), {open_entries} open (expected {bad})")
    return Result(backend, rows, first, again, quarantined, failures)


def startup_seconds(env: dict[str, str]) -> float:
    """Wall time of the CLI doing nothing (`--version`): the start-up cost inside every import time."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "compliance", "--version"], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000], help="evidence rows per file (sizes)")
    parser.add_argument("--database-url", action="append", dest="targets", metavar="URL",
                        help='"sqlite" (a fresh SQLite file; the default) or a postgresql:// URL (a fresh schema '
                             "per size); repeat to compare backends")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated files, SQLite stores and PostgreSQL schemas (their names are printed)")
    args = parser.parse_args()
    targets = args.targets or ["sqlite"]
    for target in targets:
        if target != "sqlite" and not target.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            parser.error(f'--database-url {display_url(target)}: expected "sqlite" or a postgresql:// URL '
                         "(the benchmark needs an empty store it may create and drop)")

    workdir = Path(tempfile.mkdtemp(prefix="import-bench-"))
    key = secrets.token_hex(32)  # one made-up key for the whole run (a store refuses a second key)
    world = portfolio(args.seed)
    failures: list[str] = []
    results: list[Result] = []
    try:
        print(f"portfolio: {len(world.contracts)} contracts, {len(world.facilities)} facilities, "
              f"{len(world.links)} production links; CLI start-up {startup_seconds(dict(os.environ)):.2f} s "
              "(included in every import time)")
        for rows in args.rows:
            csv_path = workdir / f"evidence-{rows}.csv"
            t0 = time.perf_counter()
            bad = write_evidence(csv_path, rows, args.seed, world)
            print(f"generated {csv_path.name}: {rows} rows ({bad} bad), {csv_path.stat().st_size / 2**20:.0f} MB "
                  f"in {time.perf_counter() - t0:.1f} s")
            for number, target in enumerate(targets):
                label = f"{rows}-{number}-{'sqlite' if target == 'sqlite' else 'pg'}"
                result = bench_one(target, label, rows, csv_path, bad, world, workdir, args.keep, key)
                results.append(result)
                failures += [f"{result.backend} {rows}: {f}" for f in result.failures]
                print(f"  {result.backend}: import {result.first.seconds:.1f} s, "
                      f"re-import {result.again.seconds:.1f} s", flush=True)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'backend':<11} {'rows':>9} {'import s':>9} {'rows/s':>8} {'peak RSS MB':>12} {'re-import s':>12} "
          f"{'quarantined':>12} {'re-import RSS MB':>17}")
    for r in results:
        print(f"{r.backend:<11} {r.rows:>9} {r.first.seconds:>9.1f} {r.rows / r.first.seconds:>8.0f} "
              f"{r.first.peak_rss_mb:>12.0f} {r.again.seconds:>12.1f} {r.quarantined:>12} {r.again.peak_rss_mb:>17.0f}")
    if failures:
        print()
        for failure in failures:
            print(f"FAILED {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
