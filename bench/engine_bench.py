"""Benchmark the evaluation of contracts: engine alone, reference alone, and the cross-checked check.

Prints wall time, records per second and peak RSS for a seeded synthetic portfolio. Timings are for
reading, never asserted by tests.

Usage: python bench/engine_bench.py [--contracts 200] [--records 500] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import time
from pathlib import Path

from compliance.domain import facts, models
from compliance.evaluation.contract import Evaluator, rule_parameters
from compliance.rules import reference
from compliance.rules.library import load_rules

ROOT = Path(__file__).resolve().parent.parent
START = dt.date(2023, 1, 1)


def facility_id(n: int) -> str:
    body = f"TH2023{n % 365 + 1:03d}{n:05d}"[:14]
    return body + models.os_id_check_character(body)


def portfolio(contracts: int, records: int, seed: int):
    rng = random.Random(seed)
    out = []
    for c in range(contracts):
        contract = models.Contract.model_validate(dict(
            ocid=f"ocds-h6vhtk-{c:06d}", id=f"K{c}", buyers=[{"id": "GB-PPON-1", "name": "University"}],
            supplier={"id": "S1", "name": "Reseller"}, brands=["BrandH"],
            items=[{"id": str(i), "brand": "BrandH", "model": f"M{c}-{i}"} for i in range(3)],
            signed_on=START, period={"start": START, "end": START + dt.timedelta(days=1000)},
            clause_set={"id": "EWCC-v2-UK", "version": "2.0"}))
        sites = [models.Facility(id=facility_id(c * 3 + i), name=f"Site {i}", country="TH") for i in range(3)]
        links = [models.ProductionLink(brand="BrandH", model=f"M{c}-{i}", facility_id=sites[i].id) for i in range(3)]
        evidence = []
        for r in range(records):
            site = rng.choice(sites).id
            day = START + dt.timedelta(days=rng.randrange(900))
            kind = rng.random()
            base = {"id": f"E{c}-{r}", "facility_id": site, "date": day}
            if kind < 0.3:
                # Most grievances are acknowledged within a week and answered within a month (GR-02 fires on the rest).
                late = rng.random() < 0.1
                record = {**base, "type": "grievance", "issue_categories": [rng.choice(["wages", "hours", "fees"])],
                          "acknowledged_on": day + dt.timedelta(days=rng.randrange(8, 20) if late else rng.randrange(7)),
                          "responded_on": day + dt.timedelta(days=rng.randrange(31, 60) if late else rng.randrange(7, 30))}
            elif kind < 0.45:
                record = {**base, "type": "protected_activity", "subject": f"wg_{rng.randrange(20)}",
                          "activity": "complaint"}
            elif kind < 0.6:
                record = {**base, "type": "adverse_action", "subject": f"wg_{rng.randrange(20)}", "action": "dismissal",
                          "documented_prior_reason": rng.random() < 0.3}
            elif kind < 0.75:
                record = {**base, "type": "monitoring_finding", "code_area": "fees", "worker_group": f"wg_{rng.randrange(5)}",
                          "ilo_indicator": rng.choice(["debt_bondage", "retention_of_identity_documents", "deception",
                                                       None])}
            elif kind < 0.85:
                record = {**base, "type": "corrective_action", "cap_id": f"CAP{rng.randrange(10)}",
                          "action_ref": f"a{rng.randrange(3)}", "due_date": day + dt.timedelta(days=rng.randrange(60)),
                          "status": rng.choice(["in_progress", "completed"])}
            elif kind < 0.95:
                record = {**base, "type": "working_hours", "max_week_hours": rng.randrange(40, 90),
                          "pct_weeks_over_60": rng.random() / 5, "max_consecutive_days": rng.randrange(3, 14)}
            else:
                record = {**base, "type": "recruitment_fee", "worker_group": "wg_1", "median_fee": rng.choice([0, 500])}
            evidence.append(models.EVIDENCE_ADAPTER.validate_python(record))
        out.append(facts.build(contract, {s.id: s for s in sites}, links, evidence, dt.date(2025, 6, 30)))
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--records", type=int, default=500, help="evidence records per contract")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    library = load_rules([ROOT / "rules"])
    t0 = time.perf_counter()
    bundles = portfolio(args.contracts, args.records, args.seed)
    total = sum(len(b.facts) for b in bundles)
    print(f"portfolio: {args.contracts} contracts, {total} facts, generated in {time.perf_counter() - t0:.1f} s")
    print(f"{'run':<28} {'seconds':>8} {'facts/s':>10} {'findings':>9} {'peak RSS MB':>12}")

    evaluator = Evaluator(library, cross_check=False)
    t0 = time.perf_counter()
    findings = sum(len(evaluator.evaluate(b).findings) for b in bundles)
    seconds = time.perf_counter() - t0
    print(f"{'engine (durable_rules)':<28} {seconds:>8.2f} {total / seconds:>10.0f} {findings:>9} {peak_rss_mb():>12.0f}")

    t0 = time.perf_counter()
    matches = sum(len(reference.evaluate(library.rules, b, rule_parameters(library, b.contract))) for b in bundles)
    seconds = time.perf_counter() - t0
    print(f"{'reference evaluator':<28} {seconds:>8.2f} {total / seconds:>10.0f} {matches:>9} {peak_rss_mb():>12.0f}")

    checked = Evaluator(library, cross_check=True)
    t0 = time.perf_counter()
    results = [checked.evaluate(b) for b in bundles]
    seconds = time.perf_counter() - t0
    faults = sum(len(r.faults) for r in results)
    print(f"{'check (engine + cross-check)':<28} {seconds:>8.2f} {total / seconds:>10.0f} "
          f"{sum(len(r.findings) for r in results):>9} {peak_rss_mb():>12.0f}")
    print(f"engine faults: {faults}")


if __name__ == "__main__":
    main()
