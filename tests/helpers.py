"""Small builders for rule tests: contracts, facilities, links, evidence, and one cross-checked evaluation.

The shipped rule library is loaded once per process, and each library gets one ``Evaluator`` (and so
one engine session), because durable_rules rulesets are never freed.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

from compliance.domain import facts, models
from compliance.evaluation.contract import ContractResult, Evaluator
from compliance.rules.library import RuleLibrary, load_rules

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "rules"

#: The default facility (an internal id: no OS ID check digit to get right) and a second linked one.
FACILITY = "FAC-A"
OTHER_FACILITY = "FAC-B"
#: A facility that no contract product is linked to.
UNLINKED_FACILITY = "FAC-Z"
BRAND = "BrandH"
MODEL = "NB-450"
OTHER_MODEL = "NB-460"
SIGNED_ON = dt.date(2024, 3, 4)
AS_OF = dt.date(2025, 1, 31)

_library: RuleLibrary | None = None
_evaluators: dict[int, Evaluator] = {}
_ids = itertools.count(1)


def library() -> RuleLibrary:
    """The shipped rules and clause sets, loaded once."""
    global _library
    if _library is None:
        _library = load_rules([RULES_DIR])
    return _library


def evaluator(lib: RuleLibrary | None = None) -> Evaluator:
    """One cross-checking Evaluator (and engine session) per library object."""
    lib = lib or library()
    if id(lib) not in _evaluators:
        _evaluators[id(lib)] = Evaluator(lib)
    return _evaluators[id(lib)]


def make_contract(**overrides: Any) -> models.Contract:
    """A valid active contract K1 for BrandH models NB-450 and NB-460 under EWCC-v2-UK, with `overrides`."""
    data: dict[str, Any] = dict(
        ocid="ocds-h6vhtk-0a1b2c",
        id="K1",
        buyers=[{"id": "GB-PPON-1", "name": "University A"}],
        supplier={"id": "S1", "name": "Reseller Ltd"},
        brands=[BRAND],
        items=[{"id": "1", "brand": BRAND, "model": MODEL}, {"id": "2", "brand": BRAND, "model": OTHER_MODEL}],
        signed_on=SIGNED_ON.isoformat(),
        period={"start": SIGNED_ON.isoformat(), "end": "2026-03-03"},
        clause_set={"id": "EWCC-v2-UK", "version": "2.0"},
    )
    data.update(overrides)
    return models.Contract.model_validate(data)


def facility(facility_id: str = FACILITY, **fields: Any) -> models.Facility:
    data = {"id": facility_id, "name": f"Plant {facility_id}", "address": f"{facility_id} Industrial Estate",
            "country": "TH", **fields}
    return models.Facility.model_validate(data)


def link(
    facility_id: str = FACILITY, model: str | None = MODEL, brand: str = BRAND, **fields: Any
) -> models.ProductionLink:
    return models.ProductionLink.model_validate({"brand": brand, "model": model, "facility_id": facility_id, **fields})


DEFAULT_FACILITIES = (FACILITY, OTHER_FACILITY, UNLINKED_FACILITY)
#: FAC-A makes NB-450, FAC-B makes every BrandH model; FAC-Z is not linked to BrandH at all.
DEFAULT_LINKS = (link(FACILITY, MODEL), link(OTHER_FACILITY, None), link(UNLINKED_FACILITY, "X-1", brand="OtherBrand"))


def evidence(type: str, **fields: Any) -> models.EvidenceBase:  # noqa: A002 - the record's own field name
    """A validated evidence record; `facility_id` defaults to FAC-A and `id` to a fresh one."""
    data = {"type": type, "facility_id": FACILITY, **fields}
    data.setdefault("id", f"EV-{next(_ids)}")
    if isinstance(data.get("date"), dt.date):
        data["date"] = data["date"].isoformat()
    return models.EVIDENCE_ADAPTER.validate_python(data)


def bundle(
    records: list[models.EvidenceBase],
    as_of: dt.date = AS_OF,
    contract: models.Contract | None = None,
    facilities: list[models.Facility] | None = None,
    links: list[models.ProductionLink] | None = None,
) -> facts.ContractFacts:
    contract = contract or make_contract()
    facilities = facilities if facilities is not None else [facility(f) for f in DEFAULT_FACILITIES]
    links = links if links is not None else list(DEFAULT_LINKS)
    return facts.build(contract, {f.id: f for f in facilities}, links, records, as_of)


def run(
    records: list[models.EvidenceBase],
    as_of: dt.date = AS_OF,
    contract: models.Contract | None = None,
    library: RuleLibrary | None = None,  # noqa: F811 - the brief's keyword name
    facilities: list[models.Facility] | None = None,
    links: list[models.ProductionLink] | None = None,
) -> ContractResult:
    """Evaluate one contract as of `as_of`; the engine and the reference evaluation must agree."""
    result = evaluator(library).evaluate(bundle(records, as_of, contract, facilities, links))
    assert result.faults == [], [str(f) for f in result.faults]
    return result


def found(result: ContractResult, rule_id: str) -> set[tuple[str, tuple[str, ...]]]:
    """The (rule id, evidence ids) of the findings of one rule."""
    return {(f.rule_id, tuple(f.evidence_ids)) for f in result.findings if f.rule_id == rule_id}


def messages(result: ContractResult, rule_id: str) -> list[str]:
    return [f.message for f in result.findings if f.rule_id == rule_id]


def days(n: int, start: dt.date = SIGNED_ON) -> dt.date:
    return start + dt.timedelta(days=n)


#: One contract (K1, Northwind NB-450, disclosure out of scope) and its factory, as files officers import:
#: the command-line tests load them through `compliance import`.
CONTRACTS = """contracts:
  - ocid: ocds-h6vhtk-000001
    id: K1
    buyers: [{id: GB-PPON-AAAA-1111-BBBB, name: University of Exampleshire}]
    supplier: {id: GB-COH-01234567, name: Example IT Reseller Ltd}
    brands: [Northwind]
    items: [{id: "1", brand: Northwind, model: NB-450, disclosure_in_scope: false}]
    signed_on: 2024-03-04
    period: {start: 2024-03-04, end: 2026-03-03}
    clause_set: {id: EWCC-v2-UK, version: "2.0"}
"""
FACILITIES = """facilities:
  - {id: TH2020112B8R4N8, name: Example Electronics Plant 2, address: "99 Moo 4, Samut Sakhon", country: TH}
production_links:
  - {brand: Northwind, model: NB-450, facility_id: TH2020112B8R4N8}
"""


def example_store(path: Path, as_of: dt.date | None = None) -> str:
    """A SQLite store at `path` with the shipped example data imported (and, with `as_of`, a run stored then); its
    URL."""
    from compliance import api

    url = f"sqlite:///{path}"
    store = api.open_store(url)
    try:
        api.demo(store, ROOT / "contracts", ROOT / "rules")
        if as_of is not None:
            api.run(store, api.load_library([ROOT / "rules"]), as_of)
    finally:
        store.close()
    return url
