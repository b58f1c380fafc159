"""A seeded synthetic consortium for the run benchmark: contracts, facilities, links and evidence files.

The world (the same for every evidence size, given the seed):

* 6 purchasing consortia and 150 member institutions;
* 25 brands with 8 product models each, and 15 resellers;
* 3,000 facilities (Open Supply Hub ids with valid check characters): 150 final-assembly plants shared by the
  brands (contract manufacturers), component factories, and sites no contract is linked to; a few are high risk;
* production links: each model made at 1-2 final-assembly plants and 2-5 strategic-component factories, and
  each brand with 4-8 component factories for all its models;
* 400 contracts: an institution buys 2-4 models of one or two brands through a reseller (most of them from a
  national framework, so the popular models are bought again and again), signed 2021-2025, mostly active, a few
  with their own rule parameters.

Evidence (``write_evidence``): records of all 21 evidence types, one CSV file per type, as partners export them.
Most records describe a facility (no contract), some name a contract; worker identities are raw employee numbers
(the import pseudonymises them). Skew: grievances, protected activities and adverse actions follow a Zipf tail
over the facilities (a handful of sites get most of them), and 2% of the facilities are problem sites where
violations are common; elsewhere most records are compliant. Corrective actions and remediation come as
sequences of status reports; factory disclosures follow the contracts' models; most external signals are
followed by an information request. Dates run from 2022-01-01 to the as-of date, 2025-06-30.

``write_evidence(..., first=N)`` writes records numbered from N: the benchmark's "1% new evidence" is a second
call with new ids, dated in the last 30 days before the as-of date, about a few facilities (a nightly drop from
a monitoring partner and a grievance channel).

Usage as a script: python bench/consortium.py OUT_DIR --records 100000 [--seed 7]
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.domain import models

AS_OF = dt.date(2025, 6, 30)
START = dt.date(2022, 1, 1)
DAYS = (AS_OF - START).days + 1
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
COUNTRIES = (("CN", 30), ("TH", 12), ("VN", 12), ("MY", 10), ("MX", 8), ("CZ", 5), ("PH", 7), ("ID", 5), ("IN", 6),
             ("TW", 5))
CONSORTIA = ("LUPC", "NEUPC", "SUPC", "APUC", "TUCO", "NWUPC")
BRANDS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware", "Wingtip", "Lucerne",
          "Margie", "Alpine", "Fourth Coffee", "Humongous", "Relecloud", "Woodgrove", "Trey", "Wide World",
          "Blue Yonder", "Coho", "Datum", "Graphic", "Nod", "Olympia", "Southridge", "VanArsdel")
CODE_AREAS = ("working_hours", "wages", "fees", "health_and_safety", "freely_chosen", "freedom_of_association",
              "dormitories", "chemicals", "discrimination", "young_workers", "grievance", "management_systems")
ILO = ("debt_bondage", "retention_of_identity_documents", "deception", "excessive_overtime",
       "abusive_working_and_living_conditions", "restriction_of_movement", "withholding_of_wages",
       "intimidation_and_threats")
ISSUES = ("wages", "overtime", "fees", "documents", "harassment", "dormitory", "safety", "discrimination", "food")
CURRENCY = {"TH": "THB", "CN": "CNY", "VN": "VND", "MY": "MYR", "MX": "MXN", "CZ": "CZK", "PH": "PHP", "ID": "IDR",
            "IN": "INR", "TW": "TWD"}
#: (type, share of the random records). Factory disclosures come from the contracts instead.
MIX = (("grievance", 0.20), ("working_hours", 0.12), ("wage_record", 0.12), ("corrective_action", 0.05),
       ("audit_finding", 0.08), ("monitoring_finding", 0.06), ("protected_activity", 0.05),
       ("correspondence", 0.045), ("workforce_composition", 0.035), ("adverse_action", 0.025),
       ("age_verification", 0.025), ("osh_incident", 0.02), ("recruitment_fee", 0.02), ("remediation", 0.015),
       ("grievance_mechanism", 0.015), ("document_retention", 0.01), ("practice_observation", 0.004),
       ("external_signal", 0.008), ("foa_event", 0.006), ("monitor_access_request", 0.006))
#: Types whose records are about workers: a few facilities get most of them.
SKEWED = {"grievance", "protected_activity", "adverse_action"}
#: Per type, the columns of its file (besides id, type, date, contract_id, facility_id, source).
COMMON = ("id", "type", "date", "contract_id", "facility_id", "source")


def columns(type_name: str) -> list[str]:
    cls = models.EVIDENCE_TYPES[type_name]
    own = [n for n in cls.model_fields if n not in COMMON and n != "sensitivity"]
    if cls.person_field:
        own = ["employee_number" if n == cls.person_field else n for n in own]
    return [*COMMON, *own]


# ---------------------------------------------------------------------------------------------------------------------
# The world: consortia, institutions, brands, facilities, links, contracts


@dataclass
class Facility:
    id: str
    country: str
    tier: str  # final_assembly, strategic_component, unlinked
    problem: bool
    risk: str


@dataclass
class World:
    seed: int
    facilities: list[Facility]
    contracts: list[dict[str, Any]]
    links: list[dict[str, Any]]
    models_of: dict[str, list[str]]
    #: facility id -> ids of the contracts whose products are made there (all statuses)
    contracts_at: dict[str, list[str]] = field(default_factory=dict)
    #: (brand, model) -> final-assembly facility ids
    assembly_of: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def linked(self) -> list[str]:
        return sorted(self.contracts_at)


def os_id(rng: random.Random, country: str, taken: set[str]) -> str:
    """A well-formed Open Supply Hub id (valid check character) not in `taken`."""
    while True:
        body = (f"{country}20{rng.randrange(18, 25)}{rng.randrange(1, 366):03d}"
                + "".join(rng.choice(CROCKFORD) for _ in range(5)))
        value = body + models.os_id_check_character(body)
        if value not in taken:
            taken.add(value)
            return value


def world(seed: int = 7, n_facilities: int = 3000, n_contracts: int = 400) -> World:
    rng = random.Random(seed)
    taken: set[str] = set()
    countries = [c for c, w in COUNTRIES for _ in range(w)]
    facilities = []
    for i in range(n_facilities):
        tier = "final_assembly" if i < 150 else "strategic_component" if i < 1500 else "unlinked"
        country = rng.choice(countries)
        problem = rng.random() < 0.02
        risk = "high" if problem or rng.random() < 0.1 else rng.choice(["low", "medium", "medium"])
        facilities.append(Facility(os_id(rng, country, taken), country, tier, problem, risk))
    assembly = [f.id for f in facilities if f.tier == "final_assembly"]
    components = [f.id for f in facilities if f.tier == "strategic_component"]
    links: dict[tuple[str, str | None, str, str], dict[str, Any]] = {}
    models_of: dict[str, list[str]] = {}
    assembly_of: dict[tuple[str, str], list[str]] = {}
    for b, brand in enumerate(BRANDS):
        models_of[brand] = [f"{brand[:2].upper()}{b:02d}-{kind}{n}" for n, kind in
                            zip(range(8), ("NB", "NB", "NB", "DT", "DT", "MN", "DS", "TB"))]
        plants = rng.sample(assembly, 6)
        for model in models_of[brand]:
            assembly_of[(brand, model)] = rng.sample(plants, rng.randint(1, 2))
            for site in assembly_of[(brand, model)]:
                links[(brand, model, site, "final_assembly")] = {"brand": brand, "model": model, "facility_id": site,
                                                                  "tier": "final_assembly", "source": "contractor_disclosure"}
            for site in rng.sample(components, rng.randint(2, 5)):
                links[(brand, model, site, "strategic_component")] = {
                    "brand": brand, "model": model, "facility_id": site, "tier": "strategic_component",
                    "source": "contractor_disclosure"}
        for site in rng.sample(components, rng.randint(4, 8)):
            links[(brand, None, site, "strategic_component")] = {"brand": brand, "facility_id": site,
                                                                 "tier": "strategic_component", "source": "research"}
    institutions = [{"id": f"GB-PPON-{i:04d}-BENCH", "name": f"University of Benchshire {i}",
                     "consortia": [CONSORTIA[i % len(CONSORTIA)]] + ([CONSORTIA[(i + 2) % 6]] if i % 17 == 0 else [])}
                    for i in range(150)]
    resellers = [{"id": f"GB-COH-{7_000_000 + r:08d}", "name": f"Bench Reseller {r} Ltd", "role": "reseller"}
                 for r in range(15)]
    # Popular brands and models are bought again and again (frameworks): Zipf-like weights.
    brand_weights = list(itertools.accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(BRANDS))))
    contracts = []
    for c in range(n_contracts):
        brands = [BRANDS[bisect.bisect(brand_weights, rng.random() * brand_weights[-1])]]
        if rng.random() < 0.15:
            other = BRANDS[bisect.bisect(brand_weights, rng.random() * brand_weights[-1])]
            if other not in brands:
                brands.append(other)
        items = []
        for brand in brands:
            chosen = rng.sample(models_of[brand][:6], rng.randint(1, 3))
            if rng.random() < 0.3:
                chosen.append(models_of[brand][6])  # a docking station: not in disclosure scope
            for model in chosen:
                items.append({"id": str(len(items) + 1), "brand": brand, "model": model, "cpv": "30213100",
                              "quantity": rng.randrange(20, 2000), "disclosure_in_scope": not model.split("-")[1]
                              .startswith("DS")})
        signed = dt.date(2021, 7, 1) + dt.timedelta(days=rng.randrange(1400))
        years = rng.choice([2, 3, 4])
        end = signed + dt.timedelta(days=365 * years - 1)
        status = "active" if end >= AS_OF and signed <= AS_OF else "expired" if end < AS_OF else "pending"
        if status == "active" and rng.random() < 0.03:
            status = "terminated"
        contract: dict[str, Any] = {
            "ocid": f"ocds-h6vhtk-bench{c:04d}", "id": f"BENCH-{c:04d}", "award_id": f"AW-BENCH-{c:04d}",
            "title": f"IT equipment call-off {c}", "buyers": [rng.choice(institutions)], "supplier": rng.choice(resellers),
            "brands": brands, "items": items, "signed_on": signed.isoformat(),
            "period": {"start": signed.isoformat(), "end": end.isoformat()},
            "clause_set": {"id": "EWCC-v2-UK-NDNA" if rng.random() < 0.6 else "EWCC-v2-UK", "version": "2.0"},
            "status": status, "value": rng.randrange(50, 5000) * 1000, "currency": "GBP",
        }
        if rng.random() < 0.3:
            contract["renewal_decision_on"] = (end - dt.timedelta(days=rng.randrange(60, 200))).isoformat()
        if rng.random() < 0.04:
            contract["parameters"] = rng.choice([{"GR-03": {"window_days": 365}}, {"WH-01": {"max_week_hours": 60}},
                                                 {"FL-06": {"min_indicators": 3}}, {"EX-AUDIT": {"validity_days": 365}}])
        contracts.append(contract)
    out = World(seed, facilities, contracts, list(links.values()), models_of, assembly_of=assembly_of)
    for contract in contracts:
        wanted = {(i["brand"], i["model"]) for i in contract["items"]}
        sites = {k["facility_id"] for k in out.links
                 if (k["brand"], k.get("model")) in wanted or (k.get("model") is None and k["brand"] in contract["brands"])}
        for site in sites:
            out.contracts_at.setdefault(site, []).append(contract["id"])
    return out


def write_world(w: World, directory: Path) -> tuple[Path, Path]:
    """contracts.json and facilities.json (with the production links) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    contracts = directory / "contracts.json"
    contracts.write_text(json.dumps({"contracts": w.contracts}, indent=1))
    facilities = directory / "facilities.json"
    rng = random.Random(w.seed + 11)
    records = []
    for n, f in enumerate(w.facilities):
        record = {"id": f.id, "name": f"Bench plant {n}", "country": f.country, "risk_level": f.risk,
                  "workers_min": 500, "workers_max": rng.choice([1000, 5000, 10000])}
        if rng.random() > 0.02:  # a few disclosures lack the street address (TR-03)
            record["address"] = f"{n} Example Industrial Estate"
        records.append(record)
    facilities.write_text(json.dumps({"facilities": records, "production_links": w.links}, indent=1))
    return contracts, facilities


def active_contracts(w: World) -> list[dict[str, Any]]:
    return [c for c in w.contracts if c["status"] == "active"]


def duplication(w: World) -> float:
    """How many active contracts read a facility's evidence, on average over the linked facilities."""
    active = {c["id"] for c in active_contracts(w)}
    counts = [len([c for c in ids if c in active]) for ids in w.contracts_at.values()]
    return sum(counts) / len(counts) if counts else 0.0


# ---------------------------------------------------------------------------------------------------------------------
# Evidence


class _Writer:
    """One CSV file per evidence type, opened on first use."""

    def __init__(self, directory: Path, prefix: str):
        self.directory, self.prefix = directory, prefix
        self.files: dict[str, Any] = {}
        self.writers: dict[str, tuple[Any, list[str]]] = {}
        self.counts: dict[str, int] = {}

    def write(self, record: dict[str, Any]) -> None:
        kind = record["type"]
        if kind not in self.writers:
            path = self.directory / f"{self.prefix}{kind.replace('_', '-')}.csv"
            stream = path.open("w", encoding="utf-8", newline="")
            self.files[kind] = stream
            names = columns(kind)
            writer = csv.writer(stream)
            writer.writerow(names)
            self.writers[kind] = (writer, names)
        writer, names = self.writers[kind]
        writer.writerow([_cell(record.get(n)) for n in names])
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def close(self) -> list[Path]:
        for stream in self.files.values():
            stream.close()
        return sorted(Path(s.name) for s in self.files.values())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    if isinstance(value, float):
        return f"{value:.4g}" if value < 1 else f"{value:.2f}"
    return str(value)


class _Evidence:
    def __init__(self, w: World, rng: random.Random, first: int, start: dt.date, facilities: list[str] | None):
        self.w, self.rng, self.n = w, rng, first
        self.start, self.days = start, (AS_OF - start).days + 1
        self.by_id = {f.id: f for f in w.facilities}
        pool = facilities or [f.id for f in w.facilities]
        linked = set(w.contracts_at)
        # Monitoring and grievance channels cover the contracted supply chains most: linked sites weigh 8 times more.
        weights = [8.0 if f in linked else 1.0 for f in pool]
        self.sites, self.site_weights = pool, list(itertools.accumulate(weights))
        skew = rng.sample(pool, len(pool))
        self.skewed, self.skew_weights = skew, list(itertools.accumulate(1 / (r + 1) ** 1.1 for r in range(len(skew))))
        self.caps: dict[str, int] = {}
        self.problems = [f for f in pool if self.by_id[f].problem]

    def new_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:08d}"

    def site(self, skewed: bool) -> str:
        if skewed:
            return self.skewed[bisect.bisect(self.skew_weights, self.rng.random() * self.skew_weights[-1])]
        return self.sites[min(bisect.bisect(self.site_weights, self.rng.random() * self.site_weights[-1]),
                              len(self.sites) - 1)]

    def day(self) -> dt.date:
        return self.start + dt.timedelta(days=self.rng.randrange(self.days))

    def base(self, kind: str, site: str | None, day: dt.date, contract_share: float = 0.04) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.new_id(kind[:2].upper()), "type": kind, "date": day.isoformat(),
                                  "facility_id": site}
        if site is not None and site in self.w.contracts_at and self.rng.random() < contract_share:
            record["contract_id"] = self.rng.choice(self.w.contracts_at[site])
        return record

    def worker(self, site: str) -> str:
        return f"{site[:2]}-E-{self.by_id[site].id[-5:]}-{self.rng.randrange(3000):04d}"

    # Each generator yields one or more records (status-report series, signal plus follow-up).

    def records(self, kind: str) -> list[dict[str, Any]]:
        site = self.site(kind in SKEWED)
        if kind in ("monitoring_finding", "practice_observation") and self.problems and self.rng.random() < 0.9:
            site = self.rng.choice(self.problems)  # monitors find problems where there are problems
        bad = self.rng.random() < (0.12 if self.by_id[site].problem else 0.002)
        return getattr(self, kind)(site, self.day(), bad)

    def grievance(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("grievance", site, day)
        ack = None if bad and r.random() < 0.5 else day + dt.timedelta(days=r.randrange(9, 20) if bad else r.randrange(7))
        responded = None if ack is None or (bad and r.random() < 0.5) else \
            day + dt.timedelta(days=r.randrange(31, 60) if bad else r.randrange(8, 30))
        if responded is not None and responded > AS_OF:
            responded = None
        if ack is not None and ack > AS_OF:
            ack = None
        record.update(channel=r.choice(["worker_voice_app", "hotline", "monitoring_partner"]),
                      issue_categories=r.sample(ISSUES, r.randint(1, 2)), employee_number=self.worker(site),
                      status="resolved" if responded else r.choice(["open", "acknowledged", "in_progress"]),
                      acknowledged_on=ack and ack.isoformat(), responded_on=responded and responded.isoformat(),
                      source="worker_voice_app")
        return [record]

    def protected_activity(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("protected_activity", site, day)
        worker = self.worker(site)
        record.update(employee_number=worker, activity=r.choice(["complaint", "spoke_to_monitors", "petition",
                                                                 "union_activity", "testimony"]))
        out = [record]
        if bad and r.random() < 0.3:  # retaliation: the same worker, weeks later
            later = day + dt.timedelta(days=r.randrange(5, 120))
            if later <= AS_OF:
                action = self.base("adverse_action", site, later)
                action.update(employee_number=worker, action=r.choice(["dismissal", "non_renewal", "transfer"]),
                              n_affected=1, documented_prior_reason=False)
                out.append(action)
        return out

    def adverse_action(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("adverse_action", site, day)
        record.update(employee_number=self.worker(site), action=r.choice(["dismissal", "non_renewal", "discipline",
                                                                          "transfer", "demotion"]),
                      n_affected=r.randint(1, 3), documented_prior_reason=r.random() < 0.7)
        return [record]

    def working_hours(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("working_hours", site, day)
        record.update(source="social_audit", sample_workers=r.randrange(20, 200),
                      pct_weeks_over_60=round(r.uniform(0.06, 0.4) if bad else r.uniform(0, 0.05), 3),
                      max_week_hours=r.randrange(73, 90) if bad else r.randrange(45, 72),
                      max_consecutive_days=r.randrange(7, 14) if bad else r.randrange(5, 7),
                      records_discrepancy=bad and r.random() < 0.3)
        return [record]

    def wage_record(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("wage_record", site, day)
        period_end = day - dt.timedelta(days=r.randrange(1, 10))
        paid = period_end + dt.timedelta(days=r.randrange(35, 70) if bad else r.randrange(0, 15))
        record.update(source="worker_driven_monitoring", period_end=period_end.isoformat(),
                      paid_on=paid.isoformat() if paid <= AS_OF else None, n_workers=r.randrange(50, 3000),
                      underpayment_amount=float(r.randrange(1000, 90000)) if bad and r.random() < 0.5 else 0.0,
                      currency=CURRENCY[self.by_id[site].country], unlawful_deductions=bad and r.random() < 0.3,
                      payslips_transparent=not (bad and r.random() < 0.3))
        return [record]

    def corrective_action(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        """A CAP action and its status reports (1 to 3): not started or in progress, then (mostly) completed."""
        r = self.rng
        number = self.caps[site] = self.caps.get(site, 0) + 1
        cap, ref = f"CAP-{site[-6:]}-{number // 4:03d}", f"a{number % 4 + 1}"
        due = day + dt.timedelta(days=r.randrange(30, 120))
        rule = r.choice([None, None, "WH-01", "WH-04", "GR-02", "FL-01", "HS-01"])
        area = r.choice(CODE_AREAS)
        out = []
        statuses = ["in_progress", "completed"] if not bad else ["not_started", "in_progress"]
        when = day
        for status in statuses[:2 if not bad and r.random() < 0.99 else 1]:
            if when > AS_OF:
                break
            record = self.base("corrective_action", site, when, contract_share=0.0)
            record.update(source="supplier", cap_id=cap, action_ref=ref, due_date=due.isoformat(), status=status,
                          rule_id=rule, code_area=area, description="Action of the corrective action plan")
            if status == "completed":
                record.update(completed_on=when.isoformat(),
                              verified_by="supplier" if r.random() < 0.005 else
                              r.choice(["closure_audit", "monitoring_partner", "union", "worker_survey"]))
            elif bad and r.random() < 0.3:
                record["extended_to"] = (due + dt.timedelta(days=60)).isoformat()
            out.append(record)
            when = when + dt.timedelta(days=r.randrange(20, 90))
        return out

    def audit_finding(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("audit_finding", site, day)
        record.update(source="social_audit", audit_id=f"AUD-{site[-5:]}-{day.year}", scheme="RBA VAP",
                      code_area=r.choice(CODE_AREAS),
                      classification=r.choice(["major", "priority"]) if bad else
                      "conformance" if not self.by_id[site].problem and r.random() < 0.1 else
                      r.choice(["minor", "observation", "observation"]),
                      ilo_indicator=r.choice(ILO) if bad and r.random() < 0.3 else None)
        return [record]

    def monitoring_finding(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("monitoring_finding", site, day)
        record.update(source="worker_driven_monitoring" if r.random() < 0.9 else "ngo_report",
                      report_id=f"WDM-{site[-5:]}-{day.year}", code_area=r.choice(CODE_AREAS),
                      worker_group=f"wg_{r.choice(['migrant', 'agency', 'intern', 'line'])}_{r.randrange(4)}",
                      ilo_indicator=r.choice(ILO) if bad or r.random() < 0.05 else None,
                      n_reporting=r.randrange(1, 60), confidence=r.choice(["low", "medium", "high"]))
        return [record]

    def correspondence(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("correspondence", site, day, contract_share=0.6)
        kind = r.choice(["information_request", "information_request", "finding_notice", "reminder",
                         "supplier_response", "other"])
        due = day + dt.timedelta(days=30)
        answered = not bad or r.random() < 0.5
        response = day + dt.timedelta(days=r.randrange(5, 28))
        record.update(kind=kind, sender="Electronics Watch", recipient="contractor",
                      subject_matter=r.choice(["compliance_findings", "chemical_inventory", "trading_conditions",
                                               "other"]) if kind == "information_request" else
                      "cap" if kind == "finding_notice" else "other",
                      due_on=due.isoformat(), response_on=response.isoformat() if answered and response <= AS_OF
                      else None, substantive=answered)
        out = [record]
        if kind == "finding_notice" and answered:  # the plan arrives, and is carried out
            plan_day = day + dt.timedelta(days=r.randrange(3, 14))
            if plan_day <= AS_OF:
                out += self.corrective_action(site, plan_day, bad)
        return out

    def workforce_composition(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("workforce_composition", site, day)
        total = r.randrange(500, 8000)
        record.update(source="monitoring_partner", total_workers=total,
                      student_interns=int(total * (r.uniform(0.1, 0.3) if bad else r.uniform(0, 0.05))),
                      dispatch_workers=int(total * (r.uniform(0.1, 0.4) if bad else r.uniform(0, 0.08))),
                      max_intern_share_in_position=round(r.uniform(0.2, 0.5) if bad else r.uniform(0, 0.15), 3),
                      interns_on_night_shift=r.randrange(1, 40) if bad and r.random() < 0.5 else 0,
                      intern_weekly_hours_max=float(r.randrange(41, 60) if bad else r.randrange(30, 40)),
                      internship_related_to_study=True, intern_coercion=bad and r.random() < 0.2)
        return [record]

    def age_verification(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("age_verification", site, day)
        child = bad and r.random() < 0.2
        record.update(source="social_audit", workers_checked=r.randrange(50, 500), legal_minimum_age=16,
                      under_minimum_age=r.randint(1, 3) if child else 0, youngest_age=r.randrange(14, 16) if child
                      else r.randrange(16, 19), under_18_night_shift=r.randint(1, 5) if bad and r.random() < 0.3 else 0,
                      under_18_overtime=0, under_18_hazardous_work=0, forged_documents=child)
        return [record]

    def osh_incident(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("osh_incident", site, day)
        record.update(source="worker_voice_app",
                      incident_type=r.choice(["fire", "chemical_exposure", "food_poisoning"]) if bad else "injury",
                      location=r.choice(["workplace", "dormitory", "canteen"]), deaths=0,
                      hospitalised=r.randrange(3, 20) if bad else r.randrange(0, 3),
                      authority_notified=r.random() < 0.8, summary="Incident reported by workers")
        return [record]

    def recruitment_fee(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("recruitment_fee", site, day)
        record.update(source="worker_driven_monitoring", worker_group=f"wg_migrant_{r.randrange(4)}",
                      n_workers=r.randrange(5, 200), median_fee=float(r.randrange(200, 2000)) if bad else 0.0,
                      currency="USD", standard_applied="zero_fee", via_wage_deduction=bad and r.random() < 0.3,
                      monthly_basic_wage=float(r.randrange(250, 600)), loans_reported=bad and r.random() < 0.3)
        return [record]

    def remediation(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        """A liability and its payment reports (1 to 3), the last one paid in full unless the site is bad."""
        r = self.rng
        ref, kind = f"REM-{self.new_id('R')}", r.choice(["fee_reimbursement", "back_pay", "unlawful_deductions"])
        due, workers = float(r.randrange(1000, 50000)), r.randrange(5, 100)
        out = []
        reports = r.randint(1, 3)
        when = day
        for n in range(reports):
            if when > AS_OF:
                break
            record = self.base("remediation", site, when, contract_share=0.0)
            paid = due if (n == reports - 1 and not bad) else round(due * (n + 1) / (reports + 1), 2)
            record.update(source="monitoring_partner", finding_ref=ref, kind=kind, confirmed_on=day.isoformat(),
                          due_date=(day + dt.timedelta(days=90)).isoformat(), amount_due=due, amount_paid=paid,
                          currency="USD", workers_due=workers, workers_paid=workers if paid == due else workers // 2,
                          verified_by="monitoring_partner")
            out.append(record)
            when = when + dt.timedelta(days=r.randrange(30, 90))
        return out

    def grievance_mechanism(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("grievance_mechanism", site, day)
        record.update(source="monitoring_partner", exists=not (bad and r.random() < 0.3),
                      anonymous_channel=not bad, languages_cover_workforce=True, covers_all_worker_categories=not bad,
                      awareness_rate=round(r.uniform(0.1, 0.4) if bad else r.uniform(0.6, 0.95), 2),
                      non_retaliation_policy=True)
        return [record]

    def document_retention(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("document_retention", site, day)
        record.update(source="worker_driven_monitoring", worker_group=f"wg_migrant_{r.randrange(4)}",
                      documents=["passport", "work_permit"][:r.randint(1, 2)],
                      holder="employer" if bad else "worker", access_on_request=not bad,
                      n_affected=r.randrange(1, 100))
        return [record]

    def practice_observation(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("practice_observation", site, day)
        record.update(source="worker_driven_monitoring",
                      practice=r.choice(models.PracticeObservation.model_fields["practice"].annotation.__args__),
                      worker_group=f"wg_line_{r.randrange(6)}", n_affected=r.randrange(1, 80),
                      coercion=bad and r.random() < 0.3, systematic=bad, summary="Observed by monitors")
        return [record]

    def external_signal(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("external_signal", site, day, contract_share=0.0)
        record.update(source_type=r.choice(["media", "ngo", "authority"]), issue=r.choice(ISSUES),
                      summary="Reported in the press", reliability=r.choice(["low", "medium", "high"]))
        out = [record]
        if r.random() < 0.9:  # put to the contractor within days
            follow = day + dt.timedelta(days=r.randrange(1, 8))
            if follow <= AS_OF:
                request = self.base("correspondence", site, follow, contract_share=0.0)
                answer = follow + dt.timedelta(days=r.randrange(3, 25))
                request.update(kind="information_request", sender="Electronics Watch", recipient="contractor",
                               subject_matter="other", due_on=(follow + dt.timedelta(days=30)).isoformat(),
                               response_on=answer.isoformat() if answer <= AS_OF else None, substantive=True)
                out.append(request)
        return out

    def foa_event(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("foa_event", site, day)
        record.update(source="union", event=r.choice(["dismissal", "surveillance", "refusal_to_bargain", "discipline"]),
                      subject_role=r.choice(["union_officer", "workers", "union_member"]),
                      related_activity=r.choice([None, "organising", "bargaining"]),
                      status=r.choice(["alleged", "confirmed"]) if bad else "resolved", summary="Reported by the union")
        return [record]

    def monitor_access_request(self, site: str, day: dt.date, bad: bool) -> list[dict[str, Any]]:
        r = self.rng
        record = self.base("monitor_access_request", site, day, contract_share=0.3)
        status = r.choice(["refused", "no_response"]) if bad else "granted"
        record.update(requested_by="Electronics Watch", status=status,
                      contractor_request_on=(day + dt.timedelta(days=r.randrange(2, 20))).isoformat()
                      if r.random() < 0.7 else None,
                      granted_on=(day + dt.timedelta(days=r.randrange(5, 25))).isoformat() if status == "granted"
                      else None, meeting_with_management=True if status == "granted" else None)
        if record["granted_on"] and record["granted_on"] > AS_OF.isoformat():
            record["granted_on"] = None
        return [record]


def _disclosures(w: World, ev: _Evidence) -> list[dict[str, Any]]:
    """Factory disclosures for the contracts' in-scope models: mostly on time, some late or missing."""
    r = ev.rng
    out = []
    for contract in w.contracts:
        signed = dt.date.fromisoformat(contract["signed_on"])
        for item in contract["items"]:
            if not item["disclosure_in_scope"]:
                continue
            for tier, chance in (("final_assembly", 0.93), ("strategic_component", 0.85)):
                if r.random() > chance:
                    continue
                day = signed + dt.timedelta(days=r.randrange(5, 80) if r.random() < 0.9 else r.randrange(90, 400))
                if day > AS_OF:
                    continue
                sites = w.assembly_of[(item["brand"], item["model"])]
                record = ev.base("factory_disclosure", r.choice(sites), day, contract_share=0.0)
                record.update(contract_id=contract["id"], source="contractor", brand=item["brand"],
                              model=item["model"], tier=tier)
                out.append(record)
    return out


def write_evidence(w: World, directory: Path, records: int, seed: int | None = None, first: int = 0,
                   prefix: str = "", recent_days: int | None = None, facilities: list[str] | None = None
                   ) -> tuple[list[Path], dict[str, int]]:
    """Write `records` evidence records (approximately: series are kept whole) as one CSV file per type.

    `first` numbers the records from there (new ids for a second batch); `recent_days` dates them in the last
    days before the as-of date; `facilities` limits them to these sites. Returns the files and counts per type."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random((seed if seed is not None else w.seed) * 1_000_003 + first)
    start = AS_OF - dt.timedelta(days=recent_days - 1) if recent_days else START
    ev = _Evidence(w, rng, first, start, facilities)
    writer = _Writer(directory, prefix)
    written = 0
    if first == 0:
        for record in _disclosures(w, ev):
            writer.write(record)
            written += 1
    kinds = [k for k, _share in MIX]
    weights = list(itertools.accumulate(share for _k, share in MIX))
    while written < records:
        kind = kinds[min(bisect.bisect(weights, rng.random() * weights[-1]), len(kinds) - 1)]
        for record in ev.records(kind):
            writer.write(record)
            written += 1
    return writer.close(), dict(writer.counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    w = world(args.seed)
    write_world(w, args.out)
    files, counts = write_evidence(w, args.out / "evidence", args.records)
    print(f"{len(w.contracts)} contracts ({len(active_contracts(w))} active), {len(w.facilities)} facilities, "
          f"{len(w.links)} links; a linked facility's evidence is read by {duplication(w):.1f} active contracts")
    print(f"{sum(counts.values())} evidence records in {len(files)} files: {counts}")


if __name__ == "__main__":
    main()
