"""Turn a contract, its supply chain and its evidence into the facts rules see, as of a date.

The facts of one contract form a bundle: the contract, its items, the facilities linked to its
products, those links, and the evidence about the contract or its facilities dated on or before the
as-of date. Fact values are normalised for the engine: dates become whole days since 1970-01-01,
enumerations their text, and missing values are left out (a missing field never satisfies a test).
The engine and the reference evaluator read the same bundle.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from compliance.domain import models

FactKey = tuple[str, str]  # (fact type, record id)
EPOCH = dt.date(1970, 1, 1)


def epoch_day(day: dt.date) -> int:
    """Dates are integer days since 1970-01-01 inside the engine (it has no date type)."""
    return (day - EPOCH).days


def from_epoch_day(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=days)


def normalise(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a flat engine fact: dates -> epoch days, enums -> text, missing values dropped."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if value is None:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, dt.date):
            value = epoch_day(value)
        elif isinstance(value, list):
            value = [v.value if isinstance(v, enum.Enum) else v for v in value]
        out[name] = value
    return out


@dataclass
class ContractFacts:
    """Everything the rules may read about one contract, as of one date."""

    contract: models.Contract
    as_of: dt.date
    #: Normalised facts, in a deterministic order (context first, then evidence by date and id).
    facts: list[dict[str, Any]] = field(default_factory=list)
    #: The same records as people read them (real dates), for messages.
    display: dict[FactKey, dict[str, Any]] = field(default_factory=dict)
    #: The normalised facts by (type, id).
    by_key: dict[FactKey, dict[str, Any]] = field(default_factory=dict)
    facility_ids: set[str] = field(default_factory=set)
    #: When the evidence was reduced to what the rules read (``relevance``): the display records of the corrective
    #: actions repeat findings read (the latest report per facility, CAP and action, if a verified completion), by
    #: facility. None: repeat findings read them from `facts`.
    closures: dict[str, list[dict[str, Any]]] | None = None
    _typed: dict[str, list[dict[str, Any]]] | None = field(default=None, repr=False, compare=False)
    _indexes: dict[tuple[str, tuple[str, ...]], Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def as_of_day(self) -> int:
        return epoch_day(self.as_of)

    def add(self, record: dict[str, Any]) -> None:
        key = (record["type"], record["id"])
        if key in self.display:
            raise ValueError(f"two {record['type']} records have the id {record['id']!r}")
        self.display[key] = record
        self.by_key[key] = normalise(record)
        self.facts.append(self.by_key[key])
        self._typed = None
        self._indexes = {}

    def indexed(self, fact_type: str, fields: tuple[str, ...], build: Any) -> dict[tuple[Any, ...], list[Any]]:
        """`build(self.of_type(fact_type), fields)`, kept until a fact is added: an index looked up per finding."""
        if (fact_type, fields) not in self._indexes:
            self._indexes[(fact_type, fields)] = build(self.of_type(fact_type), fields)
        return self._indexes[(fact_type, fields)]

    def of_type(self, fact_type: str) -> list[dict[str, Any]]:
        """The normalised facts of one type, in order (indexed once, for lookups repeated per finding)."""
        if self._typed is None:
            self._typed = {}
            for fact in self.facts:
                self._typed.setdefault(fact["type"], []).append(fact)
        return self._typed.get(fact_type, [])


def contract_record(contract: models.Contract) -> dict[str, Any]:
    return {
        "type": "contract",
        "id": contract.id,
        "ocid": contract.ocid,
        "supplier_id": contract.supplier.id,
        "brands": list(contract.brands),
        "buyer_ids": [b.id for b in contract.buyers],
        "signed_on": contract.signed_on,
        "start": contract.period.start,
        "end": contract.period.end,
        "max_extent": contract.period.max_extent,
        "renewal_decision_on": contract.renewal_decision_on,
        "clause_set": contract.clause_set.id,
        "framework": contract.framework.ref if contract.framework else None,
        "status": contract.status,
    }


def link_id(link: models.ProductionLink) -> str:
    return f"{link.brand}/{link.model or '*'}/{link.facility_id}/{link.tier.value}"


def linked(contract: models.Contract, links: Iterable[models.ProductionLink], as_of: dt.date
           ) -> list[models.ProductionLink]:
    """The production links of the contract's products valid on `as_of`: same brand, the same model or any model,
    and `as_of` within the link's valid_from and valid_to (a factory the product left, or has not reached yet, is
    not linked)."""
    models_by_brand: dict[str, set[str]] = {}
    for item in contract.items:
        models_by_brand.setdefault(item.brand, set()).add(item.model)
    return [
        link for link in links
        if link.brand in models_by_brand and (link.model is None or link.model in models_by_brand[link.brand])
        and link.valid_on(as_of)
    ]


def build(
    contract: models.Contract,
    facilities: dict[str, models.Facility],
    links: Iterable[models.ProductionLink],
    evidence: Iterable[models.EvidenceBase],
    as_of: dt.date,
) -> ContractFacts:
    """The facts of `contract` as of `as_of`.

    Evidence counts for a contract when it names the contract, or names no contract and is about a
    facility linked to the contract's products. Evidence dated after `as_of` is left out, and so are the
    events a record dates after it (``models.known_on``), so a re-run as of a past date sees what was known
    then.
    """
    bundle = ContractFacts(contract=contract, as_of=as_of)
    bundle.add(contract_record(contract))
    for item in contract.items:
        bundle.add({
            "type": "contract_item", "id": item.id, "contract_id": contract.id, "brand": item.brand,
            "model": item.model, "cpv": item.cpv, "quantity": item.quantity,
            "disclosure_in_scope": item.disclosure_in_scope,
        })
    contract_links = sorted(linked(contract, links, as_of), key=link_id)
    bundle.facility_ids = {link.facility_id for link in contract_links}
    for facility_id in sorted(bundle.facility_ids):
        facility = facilities.get(facility_id)
        if facility is not None:
            bundle.add({"type": "facility", **facility.model_dump(include=set(models.CONTEXT_FACT_FIELDS["facility"]))})
    seen_links: set[str] = set()
    for link in contract_links:
        if link_id(link) in seen_links:
            continue
        seen_links.add(link_id(link))
        bundle.add({"type": "production_link", "id": link_id(link), **link.model_dump(exclude={"tier"}),
                    "tier": link.tier.value})
    relevant = [
        record for record in evidence
        if record.date <= as_of and models.counts(record)
        and (record.contract_id == contract.id
             or (record.contract_id is None and record.facility_id in bundle.facility_ids))
    ]
    for record in sorted(relevant, key=lambda r: (r.date, r.id)):
        bundle.add(models.known_on(record, as_of).model_dump())
    return bundle


@dataclass(frozen=True)
class Match:
    """A rule fired: which aliases bound which records.

    `bindings` maps each alias to a record id, or for a threshold alias to ("window", group values,
    member ids). The same structure comes out of the reference evaluator, so the two can be compared.
    """

    rule_id: str
    bindings: tuple[tuple[str, Any], ...]
