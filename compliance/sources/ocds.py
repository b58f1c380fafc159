"""Contracts from Open Contracting Data Standard (OCDS 1.1) release and record packages.

`compliance import contracts` reads a JSON file that is an OCDS package here; every other contract file keeps
our own shape (``models.Contract``). This module only turns OCDS into raw contract dicts in our shape; ``records``
validates them with ``models.Contract`` so that problems read like every other contract problem, but it names
the place with the OCDS path (``releases[0].contracts[1].period.startDate``) and its line in the file.

Packages
    * release package: ``{"releases": [...]}``. Releases with the same ``ocid`` are merged (below) into one
      compiled release first, so a package holding an award release and a later contract release of one
      process gives one contract, not two.
    * record package: ``{"records": [...]}``. Each record's ``compiledRelease`` is used when present;
      otherwise its embedded ``releases[]`` are merged (a record holding only linked releases, ``{"url": ...}``,
      is a problem: there is nothing to read).

Merging releases (a simplified OCDS merge): releases are taken in ``date`` order (the file's order for equal
dates); a later release's fields overwrite an earlier one's, field by field: objects are merged key by key,
arrays of objects that all have an ``id`` are merged by ``id`` (a new id is appended, a known id is merged into
the earlier object), any other value (a string, a number, an array of strings...) replaces the earlier one,
and ``null`` removes it. Whole-release fields such as ``tag`` therefore end up as the latest release's.

Mapping: each entry of a release's ``contracts[]`` becomes one contract (a release without ``contracts[]``,
such as a planning, tender or award release not yet followed by a contract, gives none).

============================  =========================================================================
our field                     OCDS
============================  =========================================================================
ocid                          release ``ocid``
id, award_id, title           contract ``id``, ``awardID``, ``title``
status                        contract ``status``: ``pending``, ``active``, ``cancelled`` or ``terminated``
                              (the OCDS contractStatus codes); absent means active
signed_on                     contract ``dateSigned`` (the date part of the ISO date-time)
period.start/end/max_extent   contract ``period.startDate`` / ``endDate`` / ``maxExtentDate`` (date parts)
value, currency               contract ``value.amount``, ``value.currency``
buyers                        release ``buyer``, then every ``parties[]`` entry with role ``buyer`` (by id,
                              once each); a name missing from a reference is taken from ``parties[]``
supplier                      ``suppliers[0]`` of the award whose ``id`` is the contract's ``awardID``, its
                              name completed from ``parties[]``; role is always ``reseller``
items                         contract ``items[]``, or the award's ``items[]`` when the contract has none:
                              ``id``, ``description``, ``quantity``; ``cpv`` is ``classification.id`` when
                              ``classification.scheme`` is ``CPV`` (else the first CPV entry of
                              ``additionalClassifications[]``)
brands                        the ``brands`` extension field, else the items' brands (sorted, once each)
framework                     the first ``relatedProcesses[]`` entry (the contract's, then the release's)
                              whose ``relationship`` includes ``framework``: ref = its ``identifier`` (or its
                              ``title`` when it has none), ocid = its ``identifier`` when ``scheme`` is
                              ``ocid``, title = its ``title``
clause_set                    the ``clauseSet`` extension field (required)
renewal_decision_on           the ``renewalDecisionDate`` extension field (date part)
parameters                    the ``parameters`` extension field
============================  =========================================================================

Extension fields: OCDS has no place for these, so they are read from fields we define (OCDS names only;
our own snake_case names such as ``clause_set`` are not accepted in an OCDS file):

* on a contract: ``clauseSet`` ``{"id": ..., "version": ...}`` (required: the human-rights clause set the
  contract adopted, e.g. ``{"id": "EWCC-v2-UK", "version": "2.0"}``); ``renewalDecisionDate`` (the renewal or
  extension decision date, an ISO date or date-time); ``brands`` (a list of brand names, when the contract's
  brands are not just those of its items); ``parameters`` (per-rule parameter overrides, ``{rule id:
  {parameter: value}}``, as in our own contract files).
* on an item: ``brand`` and ``model`` (required; or, instead of each, an ``attributes[]`` entry
  ``{"name": "brand", "value": ...}`` / ``{"name": "model", "value": ...}``); ``disclosure_in_scope``
  (true or false: whether factory disclosure is required for the item; default true).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compliance.errors import Problem

Loc = tuple[Any, ...]

#: The OCDS contractStatus codes; each is also one of our contract statuses.
CONTRACT_STATUSES = ("pending", "active", "cancelled", "terminated")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ].*)?$")


def is_ocds_package(value: Any) -> bool:
    """Whether `value` is an OCDS release package (has "releases") or record package (has "records")."""
    return isinstance(value, dict) and ("releases" in value or "records" in value)


def loc_text(loc: Loc) -> str:
    """`("releases", 0, "contracts", 1, "period")` -> `releases[0].contracts[1].period`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Releases and where their parts are in the file


class _Release:
    """One release to read contracts from (as published, compiled or merged) and the file place of its parts."""

    def __init__(self, value: dict[str, Any], base: Loc, origins: dict[Loc, Loc] | None = None):
        self.value = value
        self.base = base
        #: For merged releases: merged place -> file place, for every key and merged array element.
        self.origins = origins

    def where(self, loc: Loc) -> Loc:
        """The file place of `loc` (a place in this release); for merged releases, the release it came from."""
        if self.origins is None:
            return self.base + tuple(loc)
        for cut in range(len(loc), 0, -1):
            if tuple(loc[:cut]) in self.origins:
                return self.origins[tuple(loc[:cut])] + tuple(loc[cut:])
        return self.base + tuple(loc)


def _has_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "id" in v for v in value)


def _merge_into(target: dict[str, Any], source: dict[str, Any], loc: Loc, src: Loc, origins: dict[Loc, Loc]) -> None:
    for key, value in source.items():
        here, there = loc + (key,), src + (key,)
        if value is None:
            target.pop(key, None)
            continue
        if isinstance(value, dict):
            if not isinstance(target.get(key), dict):
                target[key] = {}
            origins[here] = there
            _merge_into(target[key], value, here, there, origins)
        elif _has_ids(value):
            if not _has_ids(target.get(key)):
                target[key] = []
            merged: list[dict[str, Any]] = target[key]
            origins[here] = there
            for j, element in enumerate(value):
                i = next((i for i, old in enumerate(merged) if str(old["id"]) == str(element["id"])), None)
                if i is None:
                    merged.append({})
                    i = len(merged) - 1
                origins[here + (i,)] = there + (j,)
                _merge_into(merged[i], element, here + (i,), there + (j,), origins)
        else:
            if isinstance(target.get(key), (dict, list)):  # forget where the parts of the replaced value came from
                for stale in [k for k in origins if len(k) > len(here) and k[:len(here)] == here]:
                    del origins[stale]
            target[key] = value
            origins[here] = there


def _release_date(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _merged(releases: list[tuple[Loc, dict[str, Any]]], say: Callable[[Loc, str], None]) -> _Release | None:
    """Merge releases (file place, release) in date order; None (with problems said) when a date is unusable."""
    if len(releases) == 1:
        return _Release(releases[0][1], releases[0][0])
    dated = []
    for place, release in releases:
        moment = _release_date(release.get("date"))
        if moment is None:
            found = release.get("date")
            say(place + ("date",), "missing; releases are merged in date order, so each needs its date" if found is None
                else f"{found!r} is not an ISO 8601 date-time; releases are merged in date order")
            continue
        dated.append((moment, place, release))
    if len(dated) != len(releases):
        return None
    dated.sort(key=lambda d: d[0])  # stable: the file's order for equal dates
    value: dict[str, Any] = {}
    origins: dict[Loc, Loc] = {}
    for _, place, release in dated:
        _merge_into(value, release, (), place, origins)
    return _Release(value, dated[-1][1], origins)


def _releases(package: dict[str, Any], say: Callable[[Loc, str], None]) -> list[_Release]:
    """The releases of a release or record package to read contracts from, compiled or merged as needed."""
    out: list[_Release] = []
    if "records" in package:
        records = package["records"]
        if not isinstance(records, list):
            say(("records",), "must be an array of records")
            return out
        for r, record in enumerate(records):
            if not isinstance(record, dict):
                say(("records", r), "must be an object")
                continue
            compiled = record.get("compiledRelease")
            if isinstance(compiled, dict):
                out.append(_Release(compiled, ("records", r, "compiledRelease")))
                continue
            releases = record.get("releases")
            if not isinstance(releases, list) or not releases:
                say(("records", r), "has neither a compiledRelease nor embedded releases[]")
                continue
            embedded = []
            for i, release in enumerate(releases):
                if not isinstance(release, dict):
                    say(("records", r, "releases", i), "must be an object")
                elif "url" in release and "ocid" not in release:
                    say(("records", r, "releases", i), "is a linked release (url only); embed the release or "
                        "give the record a compiledRelease")
                else:
                    embedded.append((("records", r, "releases", i), release))
            if len(embedded) == len(releases):
                merged = _merged(embedded, say)
                if merged is not None:
                    out.append(merged)
        return out
    releases = package["releases"]
    if not isinstance(releases, list):
        say(("releases",), "must be an array of releases")
        return out
    by_ocid: dict[Any, list[tuple[Loc, dict[str, Any]]]] = {}
    for i, release in enumerate(releases):
        if not isinstance(release, dict):
            say(("releases", i), "must be an object")
            continue
        key = release.get("ocid") if isinstance(release.get("ocid"), str) else ("no ocid", i)
        by_ocid.setdefault(key, []).append((("releases", i), release))
    for group in by_ocid.values():
        if len(group) == 1:
            place, release = group[0]
            out.append(_Release(release, place))
        else:
            merged = _merged(group, say)
            if merged is not None:
                out.append(merged)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Contracts


@dataclass
class OcdsContract:
    """One contract read from an OCDS package: the raw dict in our model's shape, and its places in the file."""

    raw: dict[str, Any]
    #: The file place (OCDS path) of the contract object.
    place: Loc
    #: our field's place -> file place, for the parts whose OCDS path is not just our path renamed.
    sources: dict[Loc, Loc] = field(default_factory=dict)
    #: Places (in our shape) already reported as problems while reading; validation repeats none of them.
    reported: list[Loc] = field(default_factory=list)
    line_of: Callable[[Loc], int | None] = lambda loc: None

    def where(self, loc: Loc) -> Loc:
        """The file place of `loc`, a place in our model's shape (as in a pydantic error's `loc`)."""
        loc = tuple(loc)
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in self.sources:
                return self.sources[loc[:cut]] + loc[cut:]
        return self.place + loc

    def locate(self, loc: Loc) -> tuple[int | None, str]:
        """(line, OCDS path) for a place in our model's shape."""
        place = self.where(loc)
        return self.line_of(place), loc_text(place)

    def is_reported(self, loc: Loc) -> bool:
        return any(tuple(loc)[:len(r)] == r for r in self.reported)


def _date_part(value: Any) -> Any:
    """The date part of an ISO date or date-time; anything else as it is, for validation to report."""
    return value[:10] if isinstance(value, str) and _DATE.match(value) else value


def _id(value: Any) -> Any:
    """OCDS ids may be strings or integers; ours are strings."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _objects(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


class _Reader:
    """Reads the contracts of one release, collecting problems."""

    def __init__(self, release: _Release, name: str, data: Any, problems: list[Problem]):
        self.release = release
        self.value = release.value
        self.name = name
        self.data = data
        self.problems = problems
        self.parties = {str(p["id"]): (k, p) for k, p in _objects(self.value.get("parties")) if "id" in p}

    def line_of(self, place: Loc) -> int | None:
        return self.data.line_of(place) if self.data is not None else None

    def say(self, loc: Loc, message: str, contract: OcdsContract | None = None, ours: Loc | None = None) -> None:
        place = self.release.where(loc)
        self.problems.append(Problem(self.name, self.line_of(place), loc_text(place), message))
        if contract is not None and ours is not None:
            contract.reported.append(ours)

    def organisation(self, ref: dict[str, Any]) -> dict[str, Any]:
        out = {key: _id(ref[key]) if key == "id" else ref[key] for key in ("id", "name") if key in ref}
        party = self.parties.get(str(ref.get("id")))
        if "name" not in out and party and "name" in party[1]:
            out["name"] = party[1]["name"]
        return out

    def contracts(self) -> list[OcdsContract]:
        value = self.value
        contracts = value.get("contracts")
        if contracts is None:
            return []  # a planning, tender or award release: nothing to read yet
        if not isinstance(contracts, list):
            self.say(("contracts",), "must be an array of contracts")
            return []
        out = []
        for j, contract in enumerate(contracts):
            if not isinstance(contract, dict):
                self.say(("contracts", j), "must be an object")
                continue
            out.append(self.contract(j, contract))
        return out

    def contract(self, j: int, contract: dict[str, Any]) -> OcdsContract:
        at: Loc = ("contracts", j)
        where = self.release.where
        result = OcdsContract({}, where(at), line_of=self.line_of)
        raw, sources = result.raw, result.sources

        sources[("ocid",)] = where(("ocid",))
        if self.value.get("ocid") is not None:
            raw["ocid"] = self.value["ocid"]
        for ours, theirs in (("id", "id"), ("award_id", "awardID"), ("title", "title")):
            sources[(ours,)] = where(at + (theirs,))
            if contract.get(theirs) is not None:
                raw[ours] = _id(contract[theirs])

        status = contract.get("status")
        sources[("status",)] = where(at + ("status",))
        if status in CONTRACT_STATUSES:
            raw["status"] = status
        elif status is not None:
            self.say(at + ("status",), f"{status!r} is not an OCDS contract status; expected one of "
                     f"{', '.join(CONTRACT_STATUSES)}", result, ("status",))

        sources[("signed_on",)] = where(at + ("dateSigned",))
        if contract.get("dateSigned") is not None:
            raw["signed_on"] = _date_part(contract["dateSigned"])
        sources[("period",)] = where(at + ("period",))
        period = contract.get("period")
        if isinstance(period, dict):
            raw["period"] = {}
            for ours, theirs in (("start", "startDate"), ("end", "endDate"), ("max_extent", "maxExtentDate")):
                sources[("period", ours)] = where(at + ("period", theirs))
                if period.get(theirs) is not None:
                    raw["period"][ours] = _date_part(period[theirs])
        elif period is not None:
            raw["period"] = period  # not an object: validation says so
        money = contract.get("value")
        sources[("value",)] = where(at + ("value", "amount"))
        sources[("currency",)] = where(at + ("value", "currency"))
        if isinstance(money, dict):
            for ours, theirs in (("value", "amount"), ("currency", "currency")):
                if money.get(theirs) is not None:
                    raw[ours] = money[theirs]
        elif money is not None:
            sources[("value",)] = where(at + ("value",))
            raw["value"] = money

        self.buyers(result)
        award = self.supplier(at, contract, result)
        self.items(at, contract, award, result)
        self.brands(at, contract, result)
        self.framework(at, contract, result)
        self.extensions(at, contract, result)
        return result

    def buyers(self, result: OcdsContract) -> None:
        buyers: list[dict[str, Any]] = []
        seen: set[str] = set()
        candidates: list[tuple[Loc, dict[str, Any]]] = []
        if isinstance(self.value.get("buyer"), dict):
            candidates.append((("buyer",), self.value["buyer"]))
        for k, party in _objects(self.value.get("parties")):
            roles = party.get("roles")
            if isinstance(roles, list) and "buyer" in roles:
                candidates.append((("parties", k), party))
        for loc, ref in candidates:
            key = str(ref.get("id"))
            if key in seen:
                continue
            seen.add(key)
            result.sources[("buyers", len(buyers))] = self.release.where(loc)
            buyers.append(self.organisation(ref))
        result.sources[("buyers",)] = self.release.where(("buyer",))
        if not buyers:
            self.say(("buyer",), 'missing; give the release a buyer, or a party with the role "buyer"',
                     result, ("buyers",))
        result.raw["buyers"] = buyers

    def supplier(self, at: Loc, contract: dict[str, Any], result: OcdsContract) -> tuple[Loc, dict[str, Any]] | None:
        """Set the supplier from the contract's award; return (place, award) when the award is found."""
        result.sources[("supplier",)] = self.release.where(at + ("awardID",))
        award_id = contract.get("awardID")
        if award_id is None:
            self.say(at + ("awardID",), "missing; the supplier is read from the award the contract names",
                     result, ("supplier",))
            return None
        awards = _objects(self.value.get("awards"))
        found = next(((a, award) for a, award in awards if str(award.get("id")) == str(award_id)), None)
        if found is None:
            self.say(at + ("awardID",), f"no award in awards[] has the id {award_id!r}; the supplier is read "
                     "from that award", result, ("supplier",))
            return None
        a, award = found
        suppliers = _objects(award.get("suppliers"))
        if not suppliers:
            self.say(("awards", a, "suppliers"), "missing; the award names no supplier", result, ("supplier",))
            return ("awards", a), award
        s, ref = suppliers[0]
        result.sources[("supplier",)] = self.release.where(("awards", a, "suppliers", s))
        result.raw["supplier"] = self.organisation(ref)
        return ("awards", a), award

    def items(self, at: Loc, contract: dict[str, Any], award: tuple[Loc, dict[str, Any]] | None,
              result: OcdsContract) -> None:
        where = self.release.where
        if "items" not in contract and award is not None and "items" in award[1]:
            base, items = award[0] + ("items",), award[1]["items"]
        else:
            base, items = at + ("items",), contract.get("items")
        result.sources[("items",)] = where(base)
        if items is None:
            return  # validation reports the missing items at `base`
        if not isinstance(items, list):
            result.raw["items"] = items
            return
        out: list[Any] = []
        for k, item in enumerate(items):
            here = base + (k,)
            result.sources[("items", k)] = where(here)
            if not isinstance(item, dict):
                out.append(item)
                continue
            raw: dict[str, Any] = {}
            for name in ("id", "description", "quantity", "disclosure_in_scope"):
                if item.get(name) is not None:
                    raw[name] = _id(item[name]) if name == "id" else item[name]
            cpv = self.cpv(here, item)
            if cpv is not None:
                raw["cpv"], place = cpv
                result.sources[("items", k, "cpv")] = where(place)
            attributes = {str(a.get("name", "")).strip().lower(): (m, a)
                          for m, a in _objects(item.get("attributes")) if "value" in a}
            for name in ("brand", "model"):
                if item.get(name) is not None:
                    raw[name] = item[name]
                elif name in attributes:
                    m, attribute = attributes[name]
                    raw[name] = attribute["value"]
                    result.sources[("items", k, name)] = where(here + ("attributes", m, "value"))
                else:
                    self.say(here + (name,), f'missing; OCDS items have no {name}, add the extension field "{name}" '
                             f'or an attributes entry {{"name": "{name}", "value": ...}}', result, ("items", k, name))
            out.append(raw)
        result.raw["items"] = out

    def brands(self, at: Loc, contract: dict[str, Any], result: OcdsContract) -> None:
        """The contract's `brands` extension field, else its items' brands (sorted, once each)."""
        if contract.get("brands") is not None:
            result.raw["brands"] = contract["brands"]
            result.sources[("brands",)] = self.release.where(at + ("brands",))
            return
        items = result.raw.get("items")
        brands = {i["brand"] for i in items if isinstance(i, dict) and isinstance(i.get("brand"), str)} \
            if isinstance(items, list) else set()
        result.sources[("brands",)] = result.sources[("items",)]
        if brands:
            result.raw["brands"] = sorted(brands)
        else:
            result.reported.append(("brands",))  # no brands because of the items, whose problems say why

    @staticmethod
    def cpv(here: Loc, item: dict[str, Any]) -> tuple[Any, Loc] | None:
        classification = item.get("classification")
        if isinstance(classification, dict) and str(classification.get("scheme", "")).upper() == "CPV" \
                and classification.get("id") is not None:
            return _id(classification["id"]), here + ("classification", "id")
        for m, extra in _objects(item.get("additionalClassifications")):
            if str(extra.get("scheme", "")).upper() == "CPV" and extra.get("id") is not None:
                return _id(extra["id"]), here + ("additionalClassifications", m, "id")
        return None

    def framework(self, at: Loc, contract: dict[str, Any], result: OcdsContract) -> None:
        candidates = [(at + ("relatedProcesses", r), p) for r, p in _objects(contract.get("relatedProcesses"))]
        candidates += [(("relatedProcesses", r), p) for r, p in _objects(self.value.get("relatedProcesses"))]
        for loc, process in candidates:
            relationship = process.get("relationship")
            codes = relationship if isinstance(relationship, list) else [relationship]
            if "framework" not in codes:
                continue
            framework: dict[str, Any] = {}
            identifier, title = process.get("identifier"), process.get("title")
            ref = identifier if identifier is not None else title
            if ref is not None:
                framework["ref"] = _id(ref)
            if identifier is not None and str(process.get("scheme", "")).lower() == "ocid":
                framework["ocid"] = identifier
            if title is not None:
                framework["title"] = title
            result.raw["framework"] = framework
            result.sources[("framework",)] = self.release.where(loc)
            result.sources[("framework", "ref")] = self.release.where(loc + ("identifier",))
            return

    def extensions(self, at: Loc, contract: dict[str, Any], result: OcdsContract) -> None:
        where = self.release.where
        result.sources[("clause_set",)] = where(at + ("clauseSet",))
        if contract.get("clauseSet") is None:
            self.say(at + ("clauseSet",), "missing; OCDS has no field for the adopted human-rights clause set, add "
                     'the extension field {"id": ..., "version": ...}', result, ("clause_set",))
        else:
            result.raw["clause_set"] = contract["clauseSet"]
        result.sources[("renewal_decision_on",)] = where(at + ("renewalDecisionDate",))
        if contract.get("renewalDecisionDate") is not None:
            result.raw["renewal_decision_on"] = _date_part(contract["renewalDecisionDate"])
        result.sources[("parameters",)] = where(at + ("parameters",))
        if contract.get("parameters") is not None:
            result.raw["parameters"] = contract["parameters"]


def read_package(value: dict[str, Any], name: str, data: Any = None) -> tuple[list[OcdsContract], list[Problem]]:
    """Every contract of an OCDS package, and the problems found reading it (not yet validated).

    `data`, when given, has `line_of(loc)` (a ``structured.LocatedData``) and locates problems by line.
    """
    problems: list[Problem] = []

    def say(loc: Loc, message: str) -> None:
        problems.append(Problem(name, data.line_of(loc) if data is not None else None, loc_text(loc), message))

    out: list[OcdsContract] = []
    for release in _releases(value, say):
        out += _Reader(release, name, data, problems).contracts()
    return out, problems
