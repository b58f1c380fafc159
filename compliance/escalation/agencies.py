"""Labour agencies and recruiters: where each works, and monitoring of its other sites when it is implicated at one.

Workers are often recruited or employed by an agency that supplies several factories: fees charged, documents held
or deception practised at one site are likely at the others. An agency is named on evidence (`agency`, with its
`agency_role`) or declared on a facility (`Facility.agencies`). People write its name differently, so names meet
on `vocabulary.name_key` and are shown as written (the most used spelling first).

An agency is implicated at a site when a breach finding there rests on evidence naming it; the other sites where it
appears (on any evidence, or declared) are then recommended for monitoring: a recommendation for the officer and
the monitoring partners' priorities (ladder E0, record and monitor), not a finding about those sites.

Pure functions over evidence, facilities and findings: no I/O.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from compliance.domain import models
from compliance.domain.vocabulary import name_key


@dataclass
class Agency:
    """One agency as the store knows it: its spellings, its evidence and its sites."""

    key: str
    spellings: Counter[str] = field(default_factory=Counter)
    evidence: list[models.EvidenceBase] = field(default_factory=list)
    #: Facilities that declare it (`Facility.agencies`).
    declared_at: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        """The name as most often written (the first written, on a tie)."""
        return self.spellings.most_common(1)[0][0]

    @property
    def facilities(self) -> list[str]:
        """Every site it appears at: on evidence, or declared."""
        return sorted({r.facility_id for r in self.evidence if r.facility_id} | self.declared_at)

    @property
    def roles(self) -> list[str]:
        return sorted({r.agency_role for r in self.evidence if r.agency_role})


def index(evidence: Iterable[models.EvidenceBase], facilities: dict[str, models.Facility]) -> dict[str, Agency]:
    """Every agency named on evidence or declared on a facility, by its name key (sorted by key)."""
    out: dict[str, Agency] = {}
    for record in evidence:
        if record.agency and record.agency.strip():
            agency = out.setdefault(name_key(record.agency), Agency(name_key(record.agency)))
            agency.spellings[record.agency.strip()] += 1
            agency.evidence.append(record)
    for facility in facilities.values():
        for name in facility.agencies:
            agency = out.setdefault(name_key(name), Agency(name_key(name)))
            agency.spellings[name.strip()] += 1
            agency.declared_at.add(facility.id)
    return dict(sorted(out.items()))


def find(agencies: dict[str, Agency], name: str) -> Agency | None:
    """The agency `name` spells (any spelling), or None."""
    return agencies.get(name_key(name))


def suggestion(agencies: dict[str, Agency], name: str) -> str:
    """'; did you mean "X"?' naming the known agency closest to `name` (compared by name key), or ""."""
    close = difflib.get_close_matches(name_key(name), list(agencies), n=1, cutoff=0.6)
    return f'; did you mean "{agencies[close[0]].name}"?' if close else ""


@dataclass(frozen=True)
class MonitoringRecommendation:
    """Monitor an agency's other sites: it is implicated in breach findings at one or more sites."""

    agency: str
    key: str
    findings: tuple[str, ...]  # finding keys of the breaches that implicate it
    rules: tuple[str, ...]
    implicated_at: tuple[str, ...]  # facilities of those breaches
    other_sites: tuple[str, ...]
    reason: str


def implicating(finding: models.Finding, records: dict[str, models.EvidenceBase]) -> set[str]:
    """The name keys of the agencies the evidence of a breach finding names (none for any other verdict)."""
    if finding.verdict != "breach":
        return set()
    return {name_key(r.agency) for i in finding.evidence_ids if (r := records.get(i)) is not None and r.agency}


def _sites(finding: models.Finding, records: dict[str, models.EvidenceBase], key: str) -> set[str]:
    """Where a finding implicates an agency: its facility, or (a contract-level finding) that of the evidence."""
    if finding.facility_id:
        return {finding.facility_id}
    return {r.facility_id for i in finding.evidence_ids if (r := records.get(i)) is not None
            and r.agency and name_key(r.agency) == key and r.facility_id}


def monitoring(findings: Iterable[models.Finding], records: dict[str, models.EvidenceBase],
               agencies: dict[str, Agency]) -> list[MonitoringRecommendation]:
    """One recommendation per agency implicated in a breach at a site and present at other sites (by agency)."""
    implicated: dict[str, list[models.Finding]] = {}
    for finding in findings:
        for key in implicating(finding, records):
            implicated.setdefault(key, []).append(finding)
    out = []
    for key, items in sorted(implicated.items()):
        agency = agencies.get(key)
        if agency is None:
            continue
        at = sorted({site for f in items for site in _sites(f, records, key)})
        others = tuple(f for f in agency.facilities if f not in at)
        if not others:
            continue
        rules = tuple(sorted({f.rule_id for f in items}))
        titles = "; ".join(sorted({f"{f.rule_id} {f.title}" for f in items}))
        out.append(MonitoringRecommendation(
            agency=agency.name, key=key, findings=tuple(sorted(f.key for f in items)), rules=rules,
            implicated_at=tuple(at), other_sites=others,
            reason=(f"{agency.name} ({', '.join(agency.roles) or 'role not stated'}) is named in the evidence of "
                    f"breach findings at {', '.join(at)} ({titles}); it also works at {', '.join(others)}: "
                    "monitor those sites for the same practices (E0, record and monitor; a priority for the "
                    "monitoring partners)."),
        ))
    return out
