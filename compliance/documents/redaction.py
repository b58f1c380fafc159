"""The redaction check every outbound document passes before it is written, failing closed.

`compliance.documents.outbound` builds documents from safe views only; this module checks the finished text anyway, so a
changed template, a new rule or a bug cannot leak a worker. A document fails when its text contains:

- a worker pseudonym (wp_...), a worker-group label (wg_...), an e-mail address or a phone number;
- any value taken from the evidence behind the document's findings that could identify someone: pseudonyms, the
  ids of restricted or worker-safety records, free text quoted verbatim, identifier-like tokens in free text;
- a count of fewer than five workers ("3 workers", "two interns"): write "a number of workers";
- the exact date of a worker-related event (grievance, protected activity, adverse action, monitoring...), in any
  usual format; months are fine;
- the name of a monitoring partner that has not agreed to be named.

Each violation names the finding and the field that caused it, so the officer knows what to change.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field

from compliance.documents import outbound
from compliance.domain import models
from compliance.errors import RedactionError

PSEUDONYM = re.compile(r"\bwp_[0-9a-f]{6,}", re.IGNORECASE)
GROUP_LABEL = re.compile(r"\bwg_[\w:-]+", re.IGNORECASE)
# Every pattern is linear in the text it reads: each match may start only where a token starts (a look-behind)
# and runs for a bounded length, so a document holding one 100,000-character "word" is checked at once.
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
# Nine to twenty digits, optionally after "+", in groups separated by one space, dot, hyphen or bracket.
PHONE = re.compile(r"(?<![\w/-])\+?\(?\d(?:[ .()-]{0,2}\d){8,19}(?![\w-])")
_SMALL = r"(?:[1-4]|one|two|three|four)"
_PEOPLE = (r"(?:workers?|employees?|interns?|children|child|persons?|people|complainants?|members?|migrants?|"
           r"women|men|officers?|organisers?|representatives?|individuals?)")
SMALL_COUNT = re.compile(rf"\b{_SMALL}[ \t]+(?:[A-Za-z-]+[ \t]+){{0,2}}?{_PEOPLE}\b", re.IGNORECASE)
#: A token in free text that looks like an identifier: letters and digits with at least four digits, five to 64
#: characters (see ``id_tokens``).
ID_TOKEN = re.compile(r"(?<!\w)\w[\w./-]{3,62}\w(?!\w)")


def id_tokens(text: str) -> list[str]:
    """The identifier-like tokens of `text` (ID_TOKEN with at least four digits), read in linear time."""
    return [token for token in ID_TOKEN.findall(text) if sum(c.isdigit() for c in token) >= 4]
#: Quoted free text shorter than this is not matched (it would match ordinary words).
MIN_QUOTE = 12

_MONTH_NAMES = {name.lower(): n for n, name in enumerate(outbound.MONTHS, 1)}
_MONTH_NAMES |= {name[:3].lower(): n for name, n in list(_MONTH_NAMES.items())}
_MONTH = "|".join(sorted(_MONTH_NAMES, key=len, reverse=True))
_DATE_FORMS = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\.?,?\s+(\d{{4}})\b", re.IGNORECASE), ("d", "M", "y")),
    (re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE), ("M", "d", "y")),
    (re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b"), ("d", "m", "y")),
    (re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b"), ("m", "d", "y")),  # read both ways: fail closed
    (re.compile(r"\b(\d{4})/(\d{1,2})/(\d{1,2})\b"), ("y", "m", "d")),
]


@dataclass(frozen=True)
class Violation:
    finding: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{'finding ' + self.finding if self.finding else 'the template'}, {self.field}: {self.reason}"


@dataclass
class Guard:
    """What a document must not contain, learnt from the evidence behind its findings."""

    #: (text as lower case, finding key, field, reason)
    values: list[tuple[str, str | None, str, str]] = field(default_factory=list)
    #: Exact dates of worker-related events: date -> (finding key, field).
    worker_dates: dict[dt.date, tuple[str | None, str]] = field(default_factory=dict)
    #: Dates the document may print although a worker event fell on them (its own date, its deadlines).
    allowed_dates: set[dt.date] = field(default_factory=set)
    #: Values the document is meant to show (facility and contract ids...), never denied, lower case.
    allowed_values: set[str] = field(default_factory=set)

    def allow(self, *values: str | None) -> None:
        self.allowed_values.update(v.strip().lower() for v in values if v)

    def deny(self, text: str, finding: str | None, where: str, reason: str) -> None:
        text = text.strip()
        if text and text.lower() not in self.allowed_values:
            self.values.append((text.lower(), finding, where, reason))

    def learn(self, finding: str | None, records: Iterable[models.EvidenceBase]) -> None:
        """Deny what `records` (the evidence behind `finding`) could reveal."""
        for record in records:
            closed = record.sensitivity in outbound.CLOSED_SENSITIVITIES
            where = f"evidence {record.id}"
            if closed:
                self.deny(record.id, finding, f"{where}.id", f"the id of a {record.sensitivity.value} record")
            if type(record).worker_event:
                self.worker_dates.setdefault(record.date, (finding, f"{where}.date"))
            person = type(record).person_field
            if person and getattr(record, person, None):
                self.deny(getattr(record, person), finding, f"{where}.{person}", "a worker pseudonym")
            for name, value in _free_text(record):
                if len(value.strip()) >= MIN_QUOTE:
                    self.deny(value, finding, f"{where}.{name}", "text quoted from the evidence")
                for token in id_tokens(value):
                    self.deny(token, finding, f"{where}.{name}", "an identifier from the evidence")
                for pattern in (EMAIL, PHONE, PSEUDONYM):
                    for match in pattern.finditer(value):
                        self.deny(match.group(0), finding, f"{where}.{name}", "an identifier from the evidence")

    def deny_monitors(self, names: Iterable[str], cleared: frozenset[str]) -> None:
        for name in sorted(set(names) - cleared):
            self.deny(name, None, "monitor", f'the monitoring partner "{name}" has not agreed to be named')

    def check(self, text: str) -> list[Violation]:
        """Every reason `text` may not go out; empty when it may."""
        found: list[Violation] = []
        lowered = text.lower()
        for pattern, reason in ((PSEUDONYM, "a worker pseudonym"), (GROUP_LABEL, "a worker-group label"),
                                (EMAIL, "an e-mail address"), (PHONE, "a phone number")):
            found += [Violation(None, "text", f'{reason} ("{m.group(0)}")') for m in pattern.finditer(text)]
        for match in SMALL_COUNT.finditer(text):
            found.append(Violation(None, "text", f'a count below {outbound.MIN_CELL} ("{match.group(0)}"): '
                                                 f'write "{outbound.A_NUMBER}"'))
        for needle, finding, where, reason in self.values:
            if _contains(lowered, needle):
                found.append(Violation(finding, where, reason))
        for day in sorted(set(_dates(text)) - self.allowed_dates):
            if day in self.worker_dates:
                finding, where = self.worker_dates[day]
                found.append(Violation(finding, where, f"the exact date of a worker-related event ({day}); "
                                                       "give the month only"))
        return sorted(set(found), key=lambda v: (v.finding or "", v.field, v.reason))

    def require_clean(self, text: str, document: str) -> dict[str, object]:
        """Raise RedactionError unless `text` passes; returns the check's record for the audit trail."""
        violations = self.check(text)
        if violations:
            raise RedactionError(document, violations)
        return {"passed": True, "checked_values": len(self.values), "worker_dates": len(self.worker_dates)}


def _contains(haystack: str, needle: str) -> bool:
    """`needle` in `haystack` as a whole word or phrase (so "E-2093" does not match inside "E-20931")."""
    return re.search(rf"(?<![\w]){re.escape(needle)}(?![\w])", haystack) is not None


def _free_text(record: models.EvidenceBase) -> list[tuple[str, str]]:
    """The record's free-text values: strings not drawn from a fixed vocabulary or a set of codes, and not the
    buyer's own product names (ids and dates aside)."""
    out = []
    for name, info in type(record).model_fields.items():
        if name in {"id", "type", "contract_id", "facility_id", "date", "sensitivity"} | models.PRODUCT_FIELDS:
            continue
        value = getattr(record, name)
        values = value if isinstance(value, list) else [value]
        if _vocabulary(info.annotation) or models.is_code(info.annotation, info.metadata):
            continue
        out += [(name, v) for v in values if isinstance(v, str)]
    return out


def _vocabulary(annotation: object) -> bool:
    """True when the annotation only admits fixed values (Literal or enum), possibly optional or in a list."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return True
    return all(typing.get_origin(a) is typing.Literal or (isinstance(a, type) and issubclass(a, enum.Enum))
               or (typing.get_origin(a) is list and _vocabulary(typing.get_args(a)[0])) for a in args)


def _dates(text: str) -> Iterable[dt.date]:
    for pattern, order in _DATE_FORMS:
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups()))
            try:
                month = int(parts["m"]) if "m" in parts else _MONTH_NAMES[parts["M"].lower().rstrip(".")]
                yield dt.date(int(parts["y"]), month, int(parts["d"]))
            except (ValueError, KeyError):
                continue
