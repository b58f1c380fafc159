"""Jurisdiction packs: the legal limits of one country as rule parameters, each value with its source.

A pack (``rules/jurisdictions/TH.yaml``) sets rule parameters keyed by rule id and parameter name exactly as a
clause set or a contract overrides them (an entry keyed TR-01 reaches TR-01-DD too), and every value names the
statute or document it comes from and whether it is ``proposed`` (an interpretation, or law not settled). A pack
may also give legal recruitment-fee caps by the worker's origin country (``recruitment_fee_caps``): a
``recruitment_fee`` record that applies the legal-limit standard, names the workers' ``origin_country`` and states
no ``legal_limit`` of its own is read with the cap of its facility's pack (``fill_fee_caps``).

A parameter resolves per facility, the most specific level winning: the contract's override, the pack of the
facility's country, the contract's clause set, the rule's default (``library.resolve``).

How a contract with facilities in several countries is evaluated (``matches_by_facility``): the rules run once
with the contract's parameters (no pack), then, for each distinct parameter set its facilities' packs give, once
more with only the rules whose parameters that set changes; each run keeps the matches at the facilities of its
set (a match is at the facility its finding names: the facility bound, else the first bound record's
``facility_id``; a match at no facility keeps the contract's parameters). This was chosen over carrying resolved
values on the facts because parameters are already facts of their own (one ``__params`` fact per rule and
session): the compiler, the engine adapter, the reference evaluator and the relevance reducer stay as they are and
keep reading one parameter set per session, so the engine's results stay exactly comparable with the reference
evaluator's on every run, and one session per contract is live at a time (the runs follow each other). A contract
whose facilities have no pack, or packs that change nothing it applies, is evaluated once, as before. A fee cap
varies per record (by origin country), not per facility, so it is filled in on the record instead, before both
the engine and the reference read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic import Field

from compliance.rules.spec import ParamValue, _Spec

if TYPE_CHECKING:
    from compliance.domain.facts import ContractFacts, Match

#: The file name of a pack is its country code: rules/jurisdictions/TH.yaml.
PACK_KEY = "jurisdiction"


class Source(_Spec):
    """Where a value comes from: the statute and article, and a public address or the document's name."""

    source: str = Field(min_length=3, description="Statute and article, e.g. Labour Protection Act B.E. 2541, s.26")
    url: str | None = Field(default=None, description="A public address of the text, when there is one")
    proposed: bool = Field(default=False, description="The law is not settled, or the value is an interpretation")
    note: str | None = None

    def cited(self, country: str) -> str:
        return f"{country} pack: {self.source}" + (", proposed" if self.proposed else "")


class PackValue(Source):
    """One parameter value of a pack."""

    value: ParamValue


class FeeCap(Source):
    """The legal cap on the recruitment fee a worker from one origin country may pay, in `currency` (none for a
    zero cap)."""

    value: float = Field(ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class Pack(_Spec):
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 of the facilities it applies to")
    name: str
    #: rule id -> parameter name -> value with its source, keyed like clause-set parameters
    parameters: dict[str, dict[str, PackValue]] = Field(default_factory=dict)
    #: worker's origin country (ISO alpha-2) -> the legal recruitment-fee cap for workers from there
    recruitment_fee_caps: dict[str, FeeCap] = Field(default_factory=dict)

    @property
    def proposed(self) -> bool:
        values = [v for params in self.parameters.values() for v in params.values()]
        return any(v.proposed for v in [*values, *self.recruitment_fee_caps.values()])

    def overrides(self) -> dict[str, dict[str, Any]]:
        """The parameters as a clause set holds them (rule id -> name -> value)."""
        return {rule_id: {name: v.value for name, v in params.items()} for rule_id, params in self.parameters.items()}


class PackFile(_Spec):
    jurisdiction: Pack


# ---------------------------------------------------------------------------------------------------------------------
# Resolution


def fee_cap(packs: dict[str, Pack], country: str | None, origin: str | None, currency: str | None
            ) -> tuple[float, str] | None:
    """The legal fee cap for a worker from `origin` at a facility in `country`, with its citation; None when the
    pack has none, or states it in another currency than the fee's (a zero cap needs none)."""
    pack = packs.get(country or "")
    cap = pack.recruitment_fee_caps.get(origin or "") if pack else None
    if cap is None or (cap.value and cap.currency != currency):
        return None
    return cap.value, cap.cited(pack.country)  # type: ignore[union-attr]


def fill_fee_caps(packs: dict[str, Pack], bundle: ContractFacts, countries: dict[str, str]) -> None:
    """Give each recruitment fee that applies the legal limit but states none the cap of its facility's pack for
    its workers' origin country (`countries`: facility id -> country), on the fact the rules read and on the
    record messages show. The same bundle then reaches the engine and the reference evaluation."""
    if not packs:
        return
    for fact in bundle.of_type("recruitment_fee"):
        if fact.get("standard_applied") != "legal_limit" or fact.get("legal_limit") is not None:
            continue
        found = fee_cap(packs, countries.get(fact.get("facility_id") or ""), fact.get("origin_country"),
                        fact.get("currency"))
        if found is not None:
            fact["legal_limit"] = found[0]
            display = bundle.display[("recruitment_fee", fact["id"])]
            display.update(legal_limit=found[0], legal_limit_source=found[1])


# ---------------------------------------------------------------------------------------------------------------------
# Evaluating with parameters that differ by facility


Params = dict[str, dict[str, Any]]


def matches_by_facility(run: Callable[[Params], tuple[list[Match], list[Any]]], params: Params,
                        sites: dict[str, Params], facility_of: Callable[[Match], str | None]
                        ) -> tuple[list[Match], list[Any]]:
    """The matches of the rules in `params` where each facility's own parameters (`sites`: facility id -> its
    parameters, for the facilities whose parameters differ from the contract's) replace the contract's, and the
    engine faults of every run. `run(params)` matches the rules of `params` on the whole contract."""
    matches, faults = run(params)
    differing = {f: {r: p for r, p in site.items() if r in params and p != params[r]} for f, site in sites.items()}
    differing = {f: rules for f, rules in differing.items() if rules}
    if not differing:
        return matches, faults
    # The contract's run stands wherever a facility's own parameters do not differ for the rule matched.
    kept = [m for m in matches if m.rule_id not in differing.get(facility_of(m) or "", {})]
    by_set: dict[str, tuple[Params, set[str]]] = {}
    for facility_id, rules in sorted(differing.items()):
        signature = repr(sorted(rules.items()))
        by_set.setdefault(signature, (rules, set()))[1].add(facility_id)
    for rules, facilities in by_set.values():
        more, wrong = run(rules)
        kept += [m for m in more if facility_of(m) in facilities]
        faults += [f for f in wrong if f not in faults]
    return sorted(set(kept), key=repr), faults


def facility_countries(facilities: Iterable[Any]) -> dict[str, str]:
    """facility id -> country of facility records or facts (anything with `id` and `country`)."""
    out = {}
    for facility in facilities:
        get = facility.get if isinstance(facility, dict) else lambda name, f=facility: getattr(f, name, None)
        if get("country"):
            out[get("id")] = get("country")
    return out
