"""Domain models: contracts, the supply chain behind them, evidence and findings.

Pure data (pydantic), no I/O. Field names follow OCDS for contracts and Open Supply Hub for facilities
where those standards have a name for the thing. Evidence records are flat on purpose: every field is a
fact property the rules can test, and durable_rules handles flat facts best (see ``engine``).

Kept as one module on purpose, although it is long: most of it is the evidence types, one tagged union whose
classes each declare, in one place, their fields and what is known about the type (how long a record stays
valid, whether it records a worker-related event, how it is described to a supplier, its template example).
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import functools
import re
import typing
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    TypeAdapter,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from compliance.domain.vocabulary import Vocabulary, literal_values, spelling_key

# ---------------------------------------------------------------------------------------------------------------------
# Vocabularies


class Severity(str, enum.Enum):
    """The finding classes suppliers already know from RBA audits, most serious first."""

    PRIORITY = "priority"
    MAJOR = "major"
    MINOR = "minor"
    OBSERVATION = "observation"

    @property
    def rank(self) -> int:
        """0 for Priority (most serious) to 3 for Observation; sorts findings most serious first."""
        return list(Severity).index(self)

    @property
    def code(self) -> str:
        return {"priority": "P", "major": "MA", "minor": "MI", "observation": "OBS"}[self.value]

    @property
    def label(self) -> str:
        return self.value.capitalize()

    def raised(self, levels: int) -> Severity:
        """This severity raised by `levels` (Observation -> Minor -> Major -> Priority); never lowered."""
        order = list(Severity)
        return order[max(0, self.rank - max(levels, 0))]

    @property
    def response_days(self) -> int:
        """Default days to respond: CAP in 7 (Priority) or 14 days (RBA VAP), 30 for an observation."""
        return {"priority": 7, "major": 14, "minor": 14, "observation": 30}[self.value]


class FPRW(str, enum.Enum):
    """ILO Fundamental Principles and Rights at Work categories (a) to (e)."""

    FREEDOM_OF_ASSOCIATION = "freedom_of_association"
    FORCED_LABOUR = "forced_labour"
    CHILD_LABOUR = "child_labour"
    DISCRIMINATION = "discrimination"
    HEALTH_AND_SAFETY = "health_and_safety"


#: UKUPC's five HRDD objectives, by number.
HRDD_OBJECTIVES: dict[int, str] = {
    1: "transparency in high-risk supply chains",
    2: "worker-driven approaches to identify and manage risk",
    3: "shared responsibility and stakeholder engagement",
    4: "access to remedy and preventing retaliation",
    5: "promoting the Fundamental Principles and Rights at Work",
}


class Sensitivity(str, enum.Enum):
    """Who may see a record; controls what may ever go to a supplier."""

    PUBLIC = "public"
    BUYER_ONLY = "buyer_only"
    RESTRICTED = "restricted"
    WORKER_SAFETY = "worker_safety"


class Tier(str, enum.Enum):
    FINAL_ASSEMBLY = "final_assembly"
    STRATEGIC_COMPONENT = "strategic_component"
    OTHER = "other"


#: The ILO's eleven indicators of forced labour (ILO, "ILO Indicators of Forced Labour", 2012), in its order.
IloIndicator = Literal[
    "abuse_of_vulnerability", "deception", "restriction_of_movement", "isolation", "physical_and_sexual_violence",
    "intimidation_and_threats", "retention_of_identity_documents", "withholding_of_wages", "debt_bondage",
    "abusive_working_and_living_conditions", "excessive_overtime",
]
ILO_INDICATORS: tuple[str, ...] = typing.get_args(IloIndicator)

#: Other names read as a vocabulary's value: the shorter name rule tests gave an indicator before the indicators
#: were a vocabulary.
VOCABULARY_ALIASES: dict[str, str] = {"retention_of_documents": "retention_of_identity_documents"}

#: Where an evidence record comes from, as a code: officers write the words ("Worker-driven monitoring", "Social
#: audit"), which read as the code; a source not listed is "other". Rules and letters read it (a monitoring finding
#: is worker-driven unless its source says otherwise; a letter names the kind of evidence from it).
EvidenceSource = Literal[
    "worker_driven_monitoring", "monitoring_organisation", "monitoring_partner", "worker_voice_app", "grievance",
    "social_audit", "brand_audit", "brand_investigation", "supplier", "buyer", "brand_statement", "authority",
    "media", "ngo", "union", "other",
]
EVIDENCE_SOURCES: tuple[str, ...] = typing.get_args(EvidenceSource)

#: Whether what a record says is established: an allegation (a media or NGO report, a worker's account not yet
#: verified) makes a finding that asks for verification; a confirmation makes it the breach (the same finding); a
#: record the supplier denies, not verified independently, stays disputed; a withdrawn record counts for nothing.
Verification = Literal["alleged", "confirmed", "disputed", "withdrawn"]

#: How precisely a record's `date` is known: public reports often give only a month ("2016-10") or a year ("2017").
DatePrecision = Literal["day", "month", "year"]

#: What a labour agency named on a record did: recruited the workers (fees, deception happen there), or employs
#: them and dispatches them to the facility (agency or dispatch workers).
AgencyRole = Literal["recruiter", "dispatch_employer", "other"]

#: Where a production link is known from: disclosure-grade sources (the contractor's factory disclosure, the brand's
#: published supplier list, a component supplier's disclosure, Open Supply Hub) and sources that only suggest the link
#: (research, the media), which the contractor is asked to confirm (TR-03-LINK) and which do not route a finding to
#: the brand's working group as a confirmed link.
LinkSource = Literal["contractor_disclosure", "brand_supplier_list", "component_disclosure", "open_supply_hub",
                     "research", "media"]
LINK_SOURCES: tuple[str, ...] = typing.get_args(LinkSource)
UNCONFIRMED_LINK_SOURCES: frozenset[str] = frozenset({"research", "media"})

#: Who verified that a remedy reached the workers (paid, reinstated...): the workers' side, a closure audit or an
#: authority, or the supplier's side (its own word), or someone else.
Verifier = Literal[
    "worker_driven_monitoring", "monitoring_partner", "union", "workers", "worker_survey", "closure_audit",
    "authority", "supplier", "contractor", "brand", "other",
]
#: The verifiers whose word closes a remedy: independent of the supplier (the supplier, the contractor or the
#: brand verifying their own payment does not, nor an unnamed "other").
INDEPENDENT_VERIFIERS: frozenset[str] = frozenset(typing.get_args(Verifier)) - {
    "supplier", "contractor", "brand", "other"}

#: The ISO 3166-1 code for an unknown country ("ZZ", user-assigned, the usual "unknown region"): a facility must
#: have a country, and a sub-tier site named only by its product or region in a report has this one.
UNKNOWN_COUNTRY = "ZZ"

#: Other words for a field's values, by field (a word may mean one thing in one field and another elsewhere:
#: "contractor" is a source of information from the supplier, but a verifier of its own).
FIELD_ALIASES: dict[str, dict[str, str]] = {
    "source": {
        "wdm": "worker_driven_monitoring", "worker_driven": "worker_driven_monitoring",
        "worker_led_monitoring": "worker_driven_monitoring",
        "monitoring_organization": "monitoring_organisation", "worker_voice": "worker_voice_app",
        "grievance_mechanism": "grievance", "hotline": "grievance", "worker_hotline": "grievance",
        "audit": "social_audit", "third_party_audit": "social_audit", "rba_audit": "social_audit",
        "rba_vap": "social_audit", "contractor": "supplier", "reseller": "supplier", "media_report": "media",
        "press": "media", "news": "media", "civil_society": "ngo", "ngo_report": "ngo", "trade_union": "union",
        "government": "authority",
        "labour_inspectorate": "authority", "labor_inspectorate": "authority",
        # a production link's source (LinkSource): an alias reads only as a value of the field it is read for
        "disclosure": "contractor_disclosure", "supplier_disclosure": "contractor_disclosure",
        "contractor_list": "contractor_disclosure", "disclosure_form": "contractor_disclosure",
        "factory_disclosure": "contractor_disclosure", "brand_public_list": "brand_supplier_list",
        "brand_list": "brand_supplier_list", "brand_supplier_disclosure": "brand_supplier_list",
        "supplier_list": "brand_supplier_list", "component_supplier_disclosure": "component_disclosure",
        "component_supplier_list": "component_disclosure", "os_hub": "open_supply_hub", "oshub": "open_supply_hub",
        "osh": "open_supply_hub", "open_apparel_registry": "open_supply_hub", "ngo_research": "research",
        "academic_research": "research",
    },
    "verification": {
        "verified": "confirmed", "substantiated": "confirmed", "established": "confirmed",
        "allegation": "alleged", "unverified": "alleged", "reported": "alleged", "claimed": "alleged",
        "denied": "disputed", "contested": "disputed", "denied_by_supplier": "disputed",
        "retracted": "withdrawn",
    },
    "activity": {"demonstration": "protest", "walkout": "strike", "work_stoppage": "strike", "sit_in": "protest",
                 "collective_complaint": "petition", "grievance": "complaint"},
    "verified_by": {
        "wdm": "worker_driven_monitoring", "worker_driven": "worker_driven_monitoring",
        "independent_monitor": "monitoring_partner", "monitor": "monitoring_partner",
        "electronics_watch": "monitoring_partner", "trade_union": "union", "worker_representatives": "workers",
        "worker": "workers", "survey": "worker_survey", "audit": "closure_audit", "auditor": "closure_audit",
        "labour_inspectorate": "authority", "labor_inspectorate": "authority", "government": "authority",
        "factory": "supplier", "employer": "supplier", "reseller": "contractor",
    },
    "agency_role": {
        "recruitment_agency": "recruiter", "recruitment_agent": "recruiter", "recruiting": "recruiter",
        "dispatch": "dispatch_employer", "dispatch_agency": "dispatch_employer", "employer": "dispatch_employer",
        "employer_of_record": "dispatch_employer", "labour_dispatch": "dispatch_employer",
    },
}


# ---------------------------------------------------------------------------------------------------------------------
# Open Supply Hub identifiers

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_OS_ID_SHAPE = re.compile(r"^[A-Z]{2}\d{7}[0-9A-HJKMNP-TV-Z]{6}$")


def os_id_check_character(first_14: str) -> str:
    """The check character of an Open Supply Hub OS ID, given its first 14 characters."""
    country = ord(first_14[0]) + ord(first_14[1])
    rest = sum(_CROCKFORD.index(ch) for ch in first_14[2:])
    return _CROCKFORD[(country + rest) % 32]


@functools.lru_cache(maxsize=65536)  # a large import names the same few thousand facilities again and again
def os_id_problem(value: str) -> str | None:
    """Why `value` is not a valid OS ID, or None if it is one."""
    if len(value) != 15:
        return f"an OS ID has 15 characters, got {len(value)}"
    if not _OS_ID_SHAPE.match(value):
        return "an OS ID is a 2-letter country code, 7 digits (year and day) and 6 Crockford base-32 characters"
    expected = os_id_check_character(value[:14])
    if value[14] != expected:
        return f"the check character is {value[14]!r} but should be {expected!r}"
    return None


#: Internal facility ids, for sites that have no OS ID (yet): "FAC-" then letters, digits, "-" or "_".
INTERNAL_FACILITY_ID = re.compile(r"^FAC-[A-Za-z0-9_-]{1,60}$")


def validate_facility_id(value: str) -> str:
    value = value.strip()
    if INTERNAL_FACILITY_ID.match(value):
        return value
    problem = os_id_problem(value.upper().replace("-", "").replace(" ", ""))
    if problem:
        raise ValueError(f"{value!r} is not a facility id: {problem} (use FAC-... for sites without an OS ID)")
    return value.upper().replace("-", "").replace(" ", "")


FacilityId = Annotated[str, Field(min_length=1, max_length=64)]


#: Free text used as a code (a Code area, an issue category): stored in one spelling, so that records written by
#: different people meet ("Working hours", "working hours" and "working_hours" are one area), the spelling the
#: fixed vocabularies compare.
_CODE = AfterValidator(lambda value: code_value(value))
Code = Annotated[str, _CODE]

#: Other names of the code areas the qualitative rules read (an audit's "Wages and Benefits", a monitor's
#: "overtime"): read as the area's code, so that an audit scheme's own headings reach the rule of their area.
CODE_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(["hours", "overtime", "working_time", "hours_of_work", "excessive_hours", "excessive_overtime",
                     "excessive_working_hours", "working_hours_and_rest_days", "rest_days"], "working_hours"),
    **dict.fromkeys(["wage", "wages_and_benefits", "wages_benefits", "pay", "remuneration", "wage_arrears",
                     "unpaid_wages", "underpayment", "minimum_wage", "compensation_and_benefits"], "wages"),
    **dict.fromkeys(["non_discrimination", "discrimination_and_harassment", "equal_treatment"], "discrimination"),
    **dict.fromkeys(["foa", "freedom_of_association_and_collective_bargaining", "collective_bargaining",
                     "union_rights", "trade_union_rights", "foa_and_cb"], "freedom_of_association"),
    **dict.fromkeys(["osh", "ohs", "health_safety", "occupational_health_and_safety", "occupational_safety_and_health",
                     "health_and_safety_(osh)", "h&s", "safety"], "health_and_safety"),
    **dict.fromkeys(["forced_labor", "freely_chosen_employment", "forced_or_compulsory_labour", "bonded_labour"],
                    "forced_labour"),
    **dict.fromkeys(["child_labor", "underage_workers", "underage_labour", "underage_labor"], "child_labour"),
    **dict.fromkeys(["young_worker", "juvenile_workers", "juvenile_labour", "minors"], "young_workers"),
    **dict.fromkeys(["student_interns", "student_workers", "interns", "internships", "student_labour",
                     "student_internship"], "student_internships"),
}


def code_value(value: str) -> str:
    """A code as stored: one spelling (``spelling_key``), and the area's code for another name of it."""
    key = spelling_key(value)
    return CODE_SYNONYMS.get(key, key)

# ---------------------------------------------------------------------------------------------------------------------
# Parties, contracts and the supply chain


#: The largest whole number a record may hold: what the engine and both databases compare exactly (64 bits).
MAX_WHOLE_NUMBER = 2 ** 63 - 1
#: Characters no text may hold: control characters but tab and line breaks (PostgreSQL refuses NUL), lone
#: surrogates (not encodable) and the non-characters U+FFFE and U+FFFF.
BAD_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _value_problem(value: Any) -> str | None:
    if isinstance(value, str):
        if (bad := BAD_CHARACTER.search(value)) is not None:
            what = "a character that is not text (U+FFFF, or a lone surrogate)" if bad.group() == "\uffff" else \
                f"the character U+{ord(bad.group()):04X}, which text may not hold"
            return f"contains {what}; remove it"
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_WHOLE_NUMBER <= value <= MAX_WHOLE_NUMBER:
            return f"is too large: whole numbers go up to {MAX_WHOLE_NUMBER:,}"
    elif isinstance(value, (list, tuple)):
        return next((p for item in value if (p := _value_problem(item)) is not None), None)
    return None


@functools.cache
def _vocabularies(cls: type[BaseModel]) -> dict[str, Vocabulary]:
    """The fields of a model with a closed set of values (a Literal of strings), worked out once per class."""
    return {name: Vocabulary(values, VOCABULARY_ALIASES | FIELD_ALIASES.get(name, {}))
            for name, info in cls.model_fields.items() if (values := literal_values(info.annotation)) is not None}


@functools.cache
def _day_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model that hold a day (a date, not a moment)."""
    return tuple(name for name, info in cls.model_fields.items() if info.annotation in (dt.date, dt.date | None))


def _day_of(value: Any) -> Any:
    """The day a timestamp names, as written ("2025-01-31T23:59:00+07:00" is 2025-01-31): exports often give a
    moment where a record holds a day. Anything else is left for validation."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str) and len(value) > 10 and value[10] in "T ":
        try:
            dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value
        return value[:10]
    return value


class _Model(BaseModel):
    # Infinity and NaN are refused as values (a float field holding "1e999" or "inf" is a problem at its field).
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _days_of_timestamps(cls, data: Any) -> Any:
        """A day field given a timestamp takes the day written in it, so that a record of 2025-01-31T23:59 counts on
        2025-01-31 as a record of 2025-01-31 does (the boundary day is the same whatever the export wrote)."""
        fields = _day_fields(cls)
        if not fields or not isinstance(data, dict):
            return data
        changed = {name: day for name in fields if name in data and (day := _day_of(data[name])) is not data[name]}
        return {**data, **changed} if changed else data

    @model_validator(mode="wrap")
    @classmethod
    def _closed_vocabularies(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Fields with a closed set of values read "In progress" as in_progress. A value outside the set is a
        problem at its field naming the allowed values and the closest, reported with the record's other problems.
        (A model validator: pydantic allows no field validator before the evidence types' discriminator `type`.)"""
        vocabularies = _vocabularies(cls)
        if not vocabularies or not isinstance(data, dict):
            return handler(data)
        refused: list[InitErrorDetails] = []
        for name, vocabulary in vocabularies.items():
            value = data.get(name)
            if value is None:
                continue
            try:
                allowed = vocabulary.read(value)
            except ValueError as error:
                refused.append(InitErrorDetails(type=PydanticCustomError("vocabulary", str(error)), loc=(name,),
                                                input=value))
                continue
            if allowed != value:
                data = {**data, name: allowed}  # a copy: the caller's data stays as it was given
        if not refused:
            return handler(data)
        try:
            handler(data)
        except ValidationError as error:
            # The record's other problems, kept as they are (pydantic's own message for a refused value is dropped).
            refused_fields = {details["loc"] for details in refused}
            refused += [InitErrorDetails(type=PydanticCustomError(e["type"], e["msg"]), loc=e["loc"], input=e["input"])
                        for e in error.errors(include_url=False) if e["loc"] not in refused_fields]
        raise ValidationError.from_exception_data(cls.__name__, refused)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Every value is one every store and the engine keep exactly: no control character in text, no whole
        number beyond 64 bits (a problem at its field, so an evidence row is quarantined, not the file lost)."""
        if (problem := _value_problem(value)) is not None:
            raise ValueError(problem)
        return value


class Consortium(_Model):
    id: str = Field(description="Consortium code, e.g. LUPC")
    name: str


class Institution(_Model):
    """A buying institution (an Electronics Watch affiliate)."""

    id: str = Field(description="OCDS party id, e.g. GB-PPON-AAAA-1111-BBBB")
    name: str
    consortia: list[str] = Field(default_factory=list)


class Supplier(_Model):
    """The contractual counterparty: usually a reseller, sometimes the brand itself."""

    id: str
    name: str
    role: Literal["reseller", "brand_direct"] = "reseller"


class Brand(_Model):
    id: str
    name: str


#: Days after a contract's end during which it is still evaluated: findings raised in its term are closed and their
#: remedy followed up after the last delivery (a contract's `period.tail_days` changes it).
DEFAULT_TAIL_DAYS = 180


class Period(_Model):
    """A contract's term: from `start` to `end`. `max_extent` is only how far it may be extended (OCDS
    maxExtentDate); an extension agreed moves `end`. The contract is evaluated from `start` until `tail_days` after
    `end`."""

    start: dt.date
    end: dt.date
    max_extent: dt.date | None = None
    tail_days: int = Field(default=DEFAULT_TAIL_DAYS, ge=0, le=3650,
                           description="Days after the end the contract is still evaluated (closing findings, remedy)")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        if self.max_extent and self.max_extent < self.end:
            raise ValueError(f"max_extent ({self.max_extent}) is before end ({self.end})")
        return self

    @property
    def evaluated_until(self) -> dt.date:
        """The last day the contract is evaluated: its end plus the tail."""
        return self.end + dt.timedelta(days=self.tail_days)

    def outside(self, day: dt.date) -> str | None:
        """Why the contract is not evaluated on `day` (before its start, or after its end and tail), or None."""
        if day < self.start:
            return f"outside its term: it starts on {self.start}"
        if day > self.evaluated_until:
            return (f"outside its term: it ended on {self.end} and was evaluated until {self.evaluated_until} "
                    f"({self.tail_days} days after the end)")
        return None


class ContractItem(_Model):
    id: str
    brand: str
    model: str = Field(description="Product model (manufacturer part or model name)")
    description: str | None = None
    cpv: str | None = Field(default=None, description="CPV classification code, e.g. 30213100")
    quantity: int | None = Field(default=None, ge=0)
    disclosure_in_scope: bool = Field(default=True, description="Whether factory disclosure is required for it")


class ClauseSetRef(_Model):
    id: str = Field(description="Clause set adopted, e.g. EWCC-v2-UK")
    version: str


class FrameworkRef(_Model):
    ref: str = Field(description="Framework reference, e.g. ITS5071 LU")
    ocid: str | None = None
    title: str | None = None


ContractStatus = Literal["pending", "active", "cancelled", "terminated", "expired"]


DeadlineName = Literal["information", "containment", "cap_priority", "cap", "observation", "cascade", "reminder",
                       "cure"]


class Deadline(_Model):
    """A period a letter gives the contractor: calendar days, or working days where the clause says so."""

    days: int = Field(ge=0, le=365)
    working_days: bool = Field(default=False, description="Count working days (weekends and public holidays skipped)")


#: The periods letters give (DOMAIN §D.3, RBA VAP conventions), by name; a clause set's `deadlines:` and a
#: contract's `deadlines:` override them in turn. `calendar` (not a period) names the public holidays skipped when
#: counting working days.
DEADLINE_DEFAULTS: dict[str, tuple[Deadline, str]] = {
    "information": (Deadline(days=30), "L1: information or disclosure requested"),
    "containment": (Deadline(days=7), "L2-P: containment of a Priority finding (a rule's shorter period wins)"),
    "cap_priority": (Deadline(days=7), "corrective action plan for a Priority finding"),
    "cap": (Deadline(days=14), "corrective action plan (rectification plan) for a Major or Minor finding"),
    "observation": (Deadline(days=30), "response to an observation"),
    "cascade": (Deadline(days=5, working_days=True), "confirmation that the letter went to the brand and factory"),
    "reminder": (Deadline(days=7), "L3: the overdue item, after a missed date"),
    "cure": (Deadline(days=30), "L5: cure period of a notice of default"),
}
DEFAULT_HOLIDAY_CALENDAR = "GB-ENG"


class Contract(_Model):
    """A public contract (OCDS-style identifiers) and the human-rights conditions it adopted."""

    ocid: str = Field(pattern=r"^ocds-[a-z0-9]{6}-.+$", description="Open Contracting id: prefix + local id")
    id: str = Field(description="contract.id, unique within the store")
    award_id: str | None = None
    title: str | None = None
    buyers: list[Institution] = Field(min_length=1)
    supplier: Supplier
    brands: list[str] = Field(min_length=1)
    items: list[ContractItem] = Field(min_length=1)
    signed_on: dt.date = Field(description="dateSigned")
    period: Period
    renewal_decision_on: dt.date | None = Field(default=None, description="Renewal or extension decision date")
    clause_set: ClauseSetRef
    framework: FrameworkRef | None = None
    status: ContractStatus = "active"
    value: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    #: Per-contract parameter overrides: {rule id: {parameter: value}}.
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: The contract's own periods for letters (e.g. its rectification clause), over the clause set's.
    deadlines: dict[DeadlineName, Deadline] = Field(default_factory=dict)
    #: Public holidays skipped when counting working days: ISO country, optionally "-" subdivision (GB-SCT).
    calendar: str | None = Field(default=None, pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        unknown = sorted({item.brand for item in self.items} - set(self.brands))
        if unknown:
            raise ValueError(f"items name brands {unknown} that are not in the contract's brands {self.brands}")
        ids = [item.id for item in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError("item ids must be unique within a contract")
        return self


_WORKERS_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+)"
_WORKER_FORMS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(rf"^{_WORKERS_NUMBER}$"), lambda n: (n, n)),
    (re.compile(rf"^{_WORKERS_NUMBER}\s*(?:-|\u2013|to)\s*{_WORKERS_NUMBER}$"), lambda lo, hi: (lo, hi)),
    (re.compile(rf"^(?:less than|fewer than|under|<)\s*{_WORKERS_NUMBER}$"), lambda n: (None, n - 1)),
    (re.compile(rf"^(?:up to|at most|<=)\s*{_WORKERS_NUMBER}$"), lambda n: (None, n)),
    (re.compile(rf"^{_WORKERS_NUMBER}\s*\+$"), lambda n: (n, None)),
    (re.compile(rf"^(?:at least|>=)\s*{_WORKERS_NUMBER}$"), lambda n: (n, None)),
    (re.compile(rf"^(?:more than|over|>)\s*{_WORKERS_NUMBER}$"), lambda n: (n + 1, None)),
]


def parse_workers(cell: str) -> tuple[int | None, int | None]:
    """(least, most) workers a size band allows, from "250", "1,001-5,000", "Less than 1000", "1000+" (the forms of
    Open Supply Hub's number_of_workers); an open end is None, never 0. ValueError if it is not one of the forms."""
    text = " ".join(cell.strip().lower().split())
    for pattern, build in _WORKER_FORMS:
        match = pattern.match(text)
        if match:
            low, high = build(*(int(g.replace(",", "")) for g in match.groups()))
            if low is not None and high is not None and high < low:
                raise ValueError(f"{cell!r} is a range whose end is below its start")
            if high is not None and high < 0:
                raise ValueError(f"{cell!r} leaves no possible number of workers")
            return low, high
    raise ValueError(f"cannot read {cell!r} as a number of workers; expected a number (250, 1,000), a range "
                     "(1001-5000), 'Less than 1000' or '1000+'")


class Facility(_Model):
    """A production site, identified by its Open Supply Hub OS ID or an internal FAC-... id."""

    id: FacilityId = Field(description="OS ID (15 characters, checked) or an internal id FAC-...")
    name: str
    address: str | None = None
    country: str = Field(pattern=r"^[A-Z]{2}$", description=(
        f"ISO 3166-1 alpha-2; {UNKNOWN_COUNTRY} when unknown (a sub-tier site a report does not name)"))
    parent_company: str | None = None
    risk_level: Literal["low", "medium", "high"] | None = Field(
        default=None, description="Internal risk profile (migrant, agency and intern shares, country risk, history)")
    workers_min: int | None = Field(default=None, ge=0)
    workers_max: int | None = Field(default=None, ge=0)
    agencies: list[str] = Field(
        default_factory=list, description="Labour agencies and recruiters declared to supply its workers, as written")

    @field_validator("id")
    @classmethod
    def _facility_id(cls, value: str) -> str:
        return validate_facility_id(value)

    @field_validator("agencies", mode="before")
    @classmethod
    def _agency_list(cls, value: Any) -> Any:
        """A CSV cell lists several agencies separated by ";"."""
        if isinstance(value, str):
            return [name.strip() for name in value.split(";") if name.strip()]
        return value

    @model_validator(mode="after")
    def _country_matches(self) -> Facility:
        if not self.id.startswith("FAC-") and self.id[:2] != self.country:
            raise ValueError(f"OS ID {self.id} is for country {self.id[:2]}, but country is {self.country}")
        return self


class ProductionLink(_Model):
    """A product model (or a whole brand, when model is empty) made at a facility, at a tier, from `valid_from`
    until `valid_to` (either open), as its `source` says. A link with no source predates sources and counts as
    disclosed."""

    brand: str
    model: str | None = None
    facility_id: FacilityId
    tier: Tier = Tier.FINAL_ASSEMBLY
    source: LinkSource | None = Field(default=None, description="Where the link is known from (LINK_SOURCES)")
    valid_from: dt.date | None = Field(default=None, description="First day the facility makes it (open: always)")
    valid_to: dt.date | None = Field(default=None, description="Last day the facility makes it (open: still does)")

    @field_validator("facility_id")
    @classmethod
    def _facility_id(cls, value: str) -> str:
        return validate_facility_id(value)

    @model_validator(mode="after")
    def _ordered(self) -> ProductionLink:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to ({self.valid_to}) is before valid_from ({self.valid_from})")
        return self

    def valid_on(self, day: dt.date) -> bool:
        """Whether the facility makes the product on `day`."""
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)

    @property
    def confirmed(self) -> bool:
        """Whether the link rests on a disclosure-grade source (not only on research or the media)."""
        return self.source not in UNCONFIRMED_LINK_SOURCES


# ---------------------------------------------------------------------------------------------------------------------
# Evidence: a tagged union on `type`

#: The contract id the evidence templates' example rows name.
TEMPLATE_CONTRACT_ID = "CALLOFF-2025-001"


_PARTIAL_DATE = re.compile(r"^(?P<year>(19|20)\d\d)(-(?P<month>\d\d?))?$")


def period_end(day: dt.date, precision: str) -> dt.date:
    """The last day of the period a date of `precision` names (its month, its year, or the day itself)."""
    if precision == "year":
        return day.replace(month=12, day=31)
    if precision == "month":
        return day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return day


def period_start(day: dt.date, precision: str) -> dt.date:
    """The first day of the period a date of `precision` names (its month, its year, or the day itself)."""
    if precision == "year":
        return day.replace(month=1, day=1)
    if precision == "month":
        return day.replace(day=1)
    return day


def period_text(day: dt.date, precision: str) -> str:
    """A date as precisely as it is known: 2016-10-14, 2016-10 or 2016."""
    return str(day.year) if precision == "year" else f"{day:%Y-%m}" if precision == "month" else day.isoformat()


class EvidenceBase(_Model):
    """Fields every evidence record has.

    `date` is the day the record is about (the grievance received, the action taken, the status
    reported); windows, "latest" and "as of" visibility all use it. Worker identities never appear:
    `subject` and `worker_group` hold pseudonyms or group labels only.
    """

    id: str = Field(min_length=1, max_length=120)
    contract_id: str | None = Field(default=None, description="Set when the record is about one contract")
    facility_id: FacilityId | None = None
    date: dt.date = Field(description="A day (2016-10-14), a month (2016-10) or a year (2016)")
    date_precision: DatePrecision = Field(
        default="day", description="Set from `date`: a month or a year where only that is known")
    verification: Verification = Field(
        default="confirmed", description="alleged, confirmed, disputed (denied by the supplier) or withdrawn")
    estimated: list[str] = Field(
        default_factory=list, description="The fields whose values are estimates (say how in estimate_basis)")
    estimate_basis: str | None = Field(default=None, description="How the estimated values were arrived at")
    source: EvidenceSource | None = Field(
        default=None, description="Where it comes from: worker_driven_monitoring, social_audit, supplier... (other)")
    sensitivity: Sensitivity = Sensitivity.BUYER_ONLY
    agency: str | None = Field(
        default=None, description="The labour agency or recruiter involved, if any, named as written (spellings match)")
    agency_role: AgencyRole | None = Field(
        default=None, description="What the agency did: recruiter, dispatch_employer (employs and dispatches) or other")

    #: How long a record of this type describes the facility (days); None for events, which do not go stale.
    #: The evidence-freshness rules (EX-...) read it as their default, overridable like any rule parameter.
    validity_days: ClassVar[int | None] = None
    #: The field that names one worker (a pseudonym, never a name): intake pseudonymises it and the worker
    #: identity columns of a file (worker_name, employee_number, phone...) into it. None: no person field.
    person_field: ClassVar[str | None] = None

    # What each type declares about itself (a test checks every type declares the ones without a default):
    #: How the kind of evidence is described to a supplier when the record's `source` does not say
    #: (`outbound.basis_label`); "information received" says nothing about where it came from.
    label: ClassVar[str]
    #: Whether it records something that happened to or was said by workers (privacy): its date goes out as a
    #: month only, and the redaction check refuses the exact date in any outbound document.
    worker_event: ClassVar[bool]
    #: The fields that count affected workers; documents give the largest, from five up (else "a number of workers").
    worker_count_fields: ClassVar[tuple[str, ...]] = ()
    #: The evidence template (`evidence_template`): the short code of its example id (EXAMPLE-AF), and realistic
    #: example values where a value derived from the field's type would be silly (lists as lists).
    template_code: ClassVar[str]
    template_hints: ClassVar[dict[str, Any]] = {}

    @field_validator("facility_id")
    @classmethod
    def _facility_id(cls, value: str | None) -> str | None:
        return None if value is None else validate_facility_id(value)

    @model_validator(mode="before")
    @classmethod
    def _approximate_date(cls, data: Any) -> Any:
        """A `date` of a month ("2016-10") or a year ("2017") is kept as the first day of that period with its
        precision; a day with a coarser precision stated is moved to the first day of its period. Rules read the
        period conservatively (``date_end``, ``known_on``)."""
        if not isinstance(data, dict) or data.get("date") is None:
            return data
        value = data["date"]
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        if text is not None and (shape := _PARTIAL_DATE.match(text)):
            year, month = int(shape["year"]), shape["month"]
            precision = "month" if month else "year"
            if month and not 1 <= int(month) <= 12:
                return data  # left for validation to refuse as a date
            return {**data, "date": dt.date(year, int(month or 1), 1), "date_precision": precision}
        precision = data.get("date_precision")
        if precision in ("month", "year"):
            try:
                day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value).strip()[:10])
            except ValueError:
                return data
            return {**data, "date": day.replace(day=1, month=1 if precision == "year" else day.month)}
        return data

    @computed_field(description="The first day `date` may be: the day itself, or the first of its month or year")
    @property
    def date_start(self) -> dt.date:
        # Rules read it where a record answers another of an approximate date: a request in the month of a report
        # dated only by that month may have followed it. (`getattr`: relevance computes it on stored payloads.)
        return period_start(self.date, getattr(self, "date_precision", None) or "day")

    @property
    def date_end(self) -> dt.date:
        """The last day `date` may be: the day itself, or the end of its month or year."""
        return period_end(self.date, self.date_precision)


class AuditFinding(EvidenceBase):
    """One finding of a social audit (e.g. RBA VAP); an audit is valid for two years."""

    validity_days: ClassVar[int | None] = 730
    label: ClassVar[str] = "social audit evidence"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "AF"
    template_hints: ClassVar[dict[str, Any]] = {
        "audit_id": "VAP-2025-0113", "scheme": "RBA VAP", "code_area": "working_hours", "classification": "major",
        "ilo_indicator": "excessive_overtime", "source": "social_audit",
        "summary": "Timecards for 12 sampled weeks show 14 workers over 60 hours a week"}
    type: Literal["audit_finding"] = "audit_finding"
    audit_id: str | None = None
    scheme: str | None = Field(default=None, description="e.g. RBA VAP")
    code_area: Code
    classification: Literal["priority", "major", "minor", "conformance", "observation"]
    ilo_indicator: IloIndicator | None = None
    summary: str | None = None


class Grievance(EvidenceBase):
    """A worker's or worker group's complaint, through any channel (grievance app, hotline, monitors)."""

    person_field: ClassVar[str | None] = "complainant"
    label: ClassVar[str] = "worker grievances"
    worker_event: ClassVar[bool] = True
    template_code: ClassVar[str] = "G"
    template_hints: ClassVar[dict[str, Any]] = {
        "channel": "worker_hotline", "issue_categories": ["wages", "threats"], "status": "in_progress",
        "acknowledged_on": "2025-04-03", "responded_on": "2025-04-25"}
    type: Literal["grievance"] = "grievance"
    channel: str | None = None
    issue_categories: list[Code] = Field(min_length=1)
    complainant: str | None = Field(default=None, description="Pseudonym (wp_...) - never a name")
    status: Literal["open", "acknowledged", "in_progress", "resolved", "closed"] = "open"
    acknowledged_on: dt.date | None = None
    responded_on: dt.date | None = Field(default=None, description="Substantive response or plan given to the complainant")
    sensitivity: Sensitivity = Sensitivity.WORKER_SAFETY


class MonitoringFinding(EvidenceBase):
    """A finding of worker-driven monitoring (e.g. an Electronics Watch monitoring partner)."""

    validity_days: ClassVar[int | None] = 730
    label: ClassVar[str] = "independent worker-driven monitoring"
    worker_event: ClassVar[bool] = True
    template_code: ClassVar[str] = "MF"
    template_hints: ClassVar[dict[str, Any]] = {
        "report_id": "EW-MR-TH-2025-01", "code_area": "recruitment_fees", "ilo_indicator": "debt_bondage",
        "n_reporting": "12", "confidence": "medium",
        "summary": "Workers repay loans taken to cover recruitment fees of about 20,000 THB from their wages"}
    type: Literal["monitoring_finding"] = "monitoring_finding"
    report_id: str | None = None
    code_area: Code
    classification: Literal["priority", "major", "minor"] | None = Field(
        default=None, description="The monitor's own severity of the violation it reports, where it gives one")
    worker_group: str | None = None
    ilo_indicator: IloIndicator | None = Field(default=None, description="ILO forced-labour indicator, if one applies")
    n_reporting: int | None = Field(default=None, ge=0)
    confidence: Literal["low", "medium", "high"] | None = None
    summary: str | None = None
    monitor: str | None = Field(default=None, description="The monitoring partner that gathered it")
    monitor_may_be_named: bool = Field(
        default=False, description="The partner (and the secretariat) agreed to be named in letters to suppliers")
    sensitivity: Sensitivity = Sensitivity.RESTRICTED


class FactoryDisclosure(EvidenceBase):
    """The contractor disclosed the facility making a product model (the disclosure date is `date`)."""

    label: ClassVar[str] = "the contractor's disclosures"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "FD"
    template_hints: ClassVar[dict[str, Any]] = {
        "contract_id": TEMPLATE_CONTRACT_ID, "brand": "Northwind", "model": "NB-450 G9", "tier": "final_assembly",
        "source": "supplier"}
    type: Literal["factory_disclosure"] = "factory_disclosure"
    brand: str | None = None
    model: str
    tier: Tier = Tier.FINAL_ASSEMBLY


class Correspondence(EvidenceBase):
    """A letter or formal request, e.g. the contractor's formal request to its supplier (due diligence)."""

    label: ClassVar[str] = "correspondence with the contractor"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "COR"
    template_hints: ClassVar[dict[str, Any]] = {
        "contract_id": TEMPLATE_CONTRACT_ID, "kind": "information_request", "sender": "University of Exampleshire",
        "recipient": "Example IT Reseller Ltd", "subject_matter": "factory_disclosure", "model": "NB-450 G9",
        "due_on": "2025-04-30", "response_on": "2025-04-22", "substantive": "true", "source": "buyer"}
    type: Literal["correspondence"] = "correspondence"
    kind: Literal[
        "formal_request_to_supplier", "information_request", "finding_notice", "reminder", "supplier_response", "other"
    ]
    sender: str | None = None
    recipient: str | None = None
    subject_matter: Code | None = Field(default=None, description="e.g. factory_disclosure, cap")
    model: str | None = None
    due_on: dt.date | None = None
    response_on: dt.date | None = None
    substantive: bool | None = None


class Remediation(EvidenceBase):
    """Remedy owed to workers for confirmed harm, and how far it has reached them (as of `date`). Remedy is owed
    before it is quantified: the amount and the due date are unknown until agreed, and some remedies are not money
    (reinstatement, schooling for a child). The workers owed stay owed after they leave (`former_workers`)."""

    label: ClassVar[str] = "remediation reports"
    worker_event: ClassVar[bool] = False
    worker_count_fields: ClassVar[tuple[str, ...]] = ("workers_due",)
    template_code: ClassVar[str] = "REM"
    #: The fields each computed field is worked out from (a message reading it says when they are estimated).
    computed_from: ClassVar[dict[str, tuple[str, ...]]] = {
        "remedy_complete": ("amount_due", "amount_paid", "workers_due", "workers_paid", "completed_on"),
        "remedy_closed": ("amount_due", "amount_paid", "workers_due", "workers_paid", "completed_on")}
    template_hints: ClassVar[dict[str, Any]] = {
        "finding_ref": "MF-TH-01", "kind": "fee_reimbursement", "worker_group": "wg_migrant_mm",
        "former_workers": "true", "confirmed_on": "2024-10-15", "due_date": "2025-01-13", "amount_due": "62000000",
        "amount_paid": "41000000", "workers_due": "3100", "workers_paid": "2060",
        "verified_by": "monitoring_partner", "source": "supplier"}
    type: Literal["remediation"] = "remediation"
    finding_ref: str | None = None
    kind: Literal[
        "fee_reimbursement", "back_pay", "unlawful_deductions", "compensation", "injury_compensation",
        "medical_costs", "reinstatement", "return_travel", "child_remediation", "other",
    ]
    worker_group: str | None = Field(default=None, description="The workers owed (a group label)")
    former_workers: bool | None = Field(
        default=None, description="Workers who have left are among those owed: they are still owed")
    confirmed_on: dt.date | None = Field(default=None, description="When the liability was confirmed")
    due_date: dt.date | None = Field(default=None, description="When the remedy is due, once agreed")
    amount_due: float | None = Field(default=None, ge=0, description="Blank until the harm is quantified")
    amount_paid: float | None = Field(default=None, ge=0, description="Paid so far; blank is unknown, not 0")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    workers_due: int | None = Field(default=None, ge=0)
    workers_paid: int | None = Field(default=None, ge=0, description="Workers who have received the remedy")
    completed_on: dt.date | None = Field(
        default=None, description="When the remedy reached every worker owed (for a remedy with no amount, e.g. "
        "reinstatement or schooling)")
    verified_by: Verifier | None = Field(
        default=None, description="Who verified that workers received it: the workers' side, a closure audit or an "
        "authority closes it; the supplier's own word does not")

    # Computed fields read the record's fields only, through functions of the record: the store derives them from
    # stored payloads without building the model (``rules.relevance``).

    @computed_field(description="Whether the record shows the remedy complete: no shortfall on record, and paid in "
                    "full by the amount or by the workers counted, or completed_on given")
    @property
    def remedy_complete(self) -> bool:
        return _remedy_complete(self)

    @computed_field(description="Whether the remedy is complete and verified independently of the supplier: what "
                    "closes it")
    @property
    def remedy_closed(self) -> bool:
        return _remedy_complete(self) and getattr(self, "verified_by", None) in INDEPENDENT_VERIFIERS

    @property
    def amount_outstanding(self) -> float | None:
        """The amount still owed, when both the amount due and the amount paid are known (not a fact field)."""
        if self.amount_due is None or self.amount_paid is None:
            return None
        return max(self.amount_due - self.amount_paid, 0)


def _remedy_complete(record: Any) -> bool:
    """Whether a remediation record shows the remedy complete (`Remediation.remedy_complete`)."""
    amounts, workers = (record.amount_due, record.amount_paid), (record.workers_due, record.workers_paid)
    if any(due is not None and paid is not None and paid < due for due, paid in (amounts, workers)):
        return False
    if getattr(record, "completed_on", None) is not None:  # (a payload stored before the field has none)
        return True
    # Paid in full by one count (the amount, or the workers) with no shortfall in the other: done. Nothing due
    # (an amount of 0, as stored records may hold) is settled.
    return any(due is not None and (paid is not None or due == 0) for due, paid in (amounts, workers))


class ProtectedActivity(EvidenceBase):
    """A worker or worker group complained, spoke to monitors, petitioned, organised or went on strike."""

    person_field: ClassVar[str | None] = "subject"
    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = True
    template_code: ClassVar[str] = "PA"
    template_hints: ClassVar[dict[str, Any]] = {"activity": "complaint"}
    type: Literal["protected_activity"] = "protected_activity"
    subject: str = Field(description="Worker pseudonym (wp_...) or worker-group label (wg_...)")
    activity: Literal["complaint", "spoke_to_monitors", "petition", "union_activity", "strike", "protest",
                      "testimony"]
    sensitivity: Sensitivity = Sensitivity.WORKER_SAFETY


class AdverseAction(EvidenceBase):
    """An action against a worker or worker group (dismissal, transfer, threat...)."""

    person_field: ClassVar[str | None] = "subject"
    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = True
    worker_count_fields: ClassVar[tuple[str, ...]] = ("n_affected",)
    template_code: ClassVar[str] = "AA"
    template_hints: ClassVar[dict[str, Any]] = {
        "action": "dismissal", "n_affected": "1", "documented_prior_reason": "false"}
    type: Literal["adverse_action"] = "adverse_action"
    subject: str = Field(description="Worker pseudonym (wp_...) or worker-group label (wg_...)")
    action: Literal[
        "dismissal", "non_renewal", "transfer", "demotion", "discipline", "blacklisting", "deportation_threat",
        "violence", "threat",
    ]
    n_affected: int | None = Field(default=None, ge=0)
    documented_prior_reason: bool = False
    sensitivity: Sensitivity = Sensitivity.WORKER_SAFETY


class RecruitmentFee(EvidenceBase):
    """Recruitment fees a worker group paid, against the zero-fee standard or the legal limit. Reports give a median
    or only an average; a fee not given is unknown (not 0: a record of workers who paid nothing says 0)."""

    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = True
    worker_count_fields: ClassVar[tuple[str, ...]] = ("n_workers",)
    template_code: ClassVar[str] = "RF"
    computed_from: ClassVar[dict[str, tuple[str, ...]]] = {
        "fee_at_least": ("median_fee", "average_fee"),
        "fee_months_of_wage": ("median_fee", "average_fee", "monthly_basic_wage")}
    template_hints: ClassVar[dict[str, Any]] = {
        "n_workers": "3100", "median_fee": "20000", "average_fee": "21500", "legal_limit": "3200",
        "standard_applied": "zero_fee", "via_wage_deduction": "false", "monthly_basic_wage": "9900",
        "loans_reported": "true", "origin_country": "MM", "agency": "Example Manpower Services Co., Ltd.",
        "agency_role": "recruiter"}
    type: Literal["recruitment_fee"] = "recruitment_fee"
    worker_group: str
    n_workers: int | None = Field(default=None, ge=0)
    median_fee: float | None = Field(default=None, ge=0, description="The median fee paid, when known")
    average_fee: float | None = Field(default=None, ge=0, description="The average (mean) fee, when reported")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    legal_limit: float | None = Field(
        default=None, ge=0, description="The legal cap on the fee; when left out, the jurisdiction pack of the "
        "facility's country gives it for the workers' origin country")
    origin_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$",
                                       description="The workers' origin country (ISO 3166-1 alpha-2)")
    standard_applied: Literal["zero_fee", "legal_limit"] = "zero_fee"
    via_wage_deduction: bool | None = None
    monthly_basic_wage: float | None = Field(default=None, gt=0, description="In the fee's currency")
    loans_reported: bool | None = Field(default=None, description="Workers report loans taken to pay the fee")

    @computed_field(description="A fee some worker paid at least: the larger of the median and the average given "
                    "(each is at most the highest fee paid), unknown when neither is")
    @property
    def fee_at_least(self) -> float | None:
        return _fee_at_least(self)

    @computed_field(description="fee_at_least in months of basic wage (debt-bondage indicator), when the wage is known")
    @property
    def fee_months_of_wage(self) -> float | None:
        fee = _fee_at_least(self)
        if self.monthly_basic_wage is None or fee is None:
            return None
        return round(fee / self.monthly_basic_wage, 4)


def _fee_at_least(record: Any) -> float | None:
    """`RecruitmentFee.fee_at_least`, as a function of the record's fields (see `_remedy_complete`)."""
    fees = (record.median_fee, getattr(record, "average_fee", None))  # (a payload stored before it has none)
    return max((fee for fee in fees if fee is not None), default=None)


class DocumentRetention(EvidenceBase):
    """Identity documents (passport, work permit...) held by someone other than the worker."""

    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = True
    worker_count_fields: ClassVar[tuple[str, ...]] = ("n_affected",)
    template_code: ClassVar[str] = "DR"
    template_hints: ClassVar[dict[str, Any]] = {
        "documents": ["passport", "work_permit"], "holder": "labour_agency", "access_on_request": "false",
        "n_affected": "30"}
    type: Literal["document_retention"] = "document_retention"
    worker_group: str
    documents: list[str] = Field(min_length=1, description="passport, work_permit, id_card...")
    holder: Literal["worker", "employer", "labour_agency", "recruitment_agent", "dormitory_operator", "other"]
    access_on_request: bool
    n_affected: int | None = Field(default=None, ge=0)


class WorkingHours(EvidenceBase):
    """Aggregated hours for a sample of workers over a period ending on `date`."""

    validity_days: ClassVar[int | None] = 365
    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "WH"
    template_hints: ClassVar[dict[str, Any]] = {
        "sample_workers": "80", "pct_weeks_over_60": "0.23", "max_week_hours": "78", "max_consecutive_days": "13",
        "legal_monthly_overtime_cap": "36", "pct_months_over_legal_cap": "0.4", "records_discrepancy": "true"}
    type: Literal["working_hours"] = "working_hours"
    sample_workers: int | None = Field(default=None, ge=0)
    pct_weeks_over_60: float | None = Field(default=None, ge=0, le=1)
    max_week_hours: float | None = Field(default=None, ge=0)
    max_consecutive_days: int | None = Field(default=None, ge=0)
    legal_monthly_overtime_cap: float | None = Field(
        default=None, ge=0, description="The legal limit on overtime hours a month, where it is stricter than 60 hours "
        "a week (e.g. 36 in China)")
    pct_months_over_legal_cap: float | None = Field(
        default=None, ge=0, le=1, description="Share of sampled worker-months over the legal overtime cap")
    records_discrepancy: bool | None = None


class CorrectiveAction(EvidenceBase):
    """A status report on one action of a corrective action plan (CAP); the latest report counts."""

    label: ClassVar[str] = "corrective action plan reports"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "CA"
    template_hints: ClassVar[dict[str, Any]] = {
        "date": "2025-05-14", "cap_id": "CAP-TH-2025-02", "action_ref": "a1", "finding_ref": "MF-TH-03",
        "description": "Single timecard system for agency and direct workers", "due_date": "2025-04-30",
        "status": "completed", "completed_on": "2025-05-12", "extended_to": "2025-05-15", "rule_id": "WH-03",
        "code_area": "working_hours", "verified_by": "monitoring_partner", "source": "supplier"}
    type: Literal["corrective_action"] = "corrective_action"
    cap_id: str
    action_ref: str = Field(description="The action's id within the CAP; reports on one action share it")
    finding_ref: str | None = None
    description: str | None = None
    due_date: dt.date
    status: Literal["not_started", "in_progress", "completed", "rejected"]
    completed_on: dt.date | None = None
    extended_to: dt.date | None = Field(default=None, description="Approved extension of the due date")
    rule_id: str | None = Field(default=None, description="The rule whose finding the action corrects, e.g. FL-01")
    code_area: Code | None = Field(default=None, description="The code area corrected, e.g. working_hours")
    verified_by: Literal[
        "supplier", "contractor", "brand", "closure_audit", "monitoring_partner", "union", "worker_survey"
    ] | None = Field(default=None, description="Who verified completion; workers' side or a closure audit counts")


class ExternalSignal(EvidenceBase):
    """A media, NGO, brand or authority report about a facility."""

    label: ClassVar[str] = "published reports"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "ES"
    template_hints: ClassVar[dict[str, Any]] = {
        "source_type": "media", "issue": "chemical_exposure", "reliability": "medium", "source": "media",
        "url": "https://news.example.org/2025/03/battery-plant-workers-hospitalised",
        "summary": "Local press reports battery workers taken to hospital after solvent fumes in a coating hall"}
    type: Literal["external_signal"] = "external_signal"
    source_type: Literal["media", "ngo", "brand_statement", "authority", "other"]
    issue: Code
    summary: str | None = None
    url: str | None = None
    reliability: Literal["low", "medium", "high"] = "medium"
    sensitivity: Sensitivity = Sensitivity.PUBLIC
    verification: Verification = Field(
        default="alleged", description="A published report is an allegation until verified (confirmed)")


def _total_bounds(record: Any) -> tuple[int | None, int | None]:
    """The least and the most workers a workforce record allows: its count, else its size band's bounds. A function
    of the record's fields, as computed fields are derived from stored payloads too (``rules.relevance``)."""
    if record.total_workers is not None:
        return record.total_workers, record.total_workers
    band = getattr(record, "total_workers_band", None)  # (a payload stored before the field has none)
    return parse_workers(band) if band is not None else (None, None)


def _share_bounds(part: int | None, low: int | None, high: int | None) -> tuple[float | None, float | None]:
    """The least and the most `part` can be as a share of a total known to lie between `low` and `high` (either may
    be unknown); (None, None) when `part` is unknown. Nothing is a share of 0 whatever the total."""
    if part is None:
        return None, None
    if part == 0:
        return 0.0, 0.0
    return (None if high is None else round(part / max(high, part), 4),
            None if low is None else round(part / max(low, part), 4))


class WorkforceComposition(EvidenceBase):
    """Who works at a facility on `date`: totals, student interns and dispatch (agency) workers. A count not given
    is unknown, never 0; a total known only as a size band ("1,000-4,999") is given as its bounds."""

    validity_days: ClassVar[int | None] = 365
    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "WC"
    computed_from: ClassVar[dict[str, tuple[str, ...]]] = {
        "total_workers_min": ("total_workers", "total_workers_band"),
        "total_workers_max": ("total_workers", "total_workers_band"),
        "intern_share": ("student_interns", "total_workers", "total_workers_band"),
        "intern_share_at_most": ("student_interns", "total_workers", "total_workers_band"),
        "dispatch_share": ("dispatch_workers", "total_workers", "total_workers_band"),
        "dispatch_share_at_most": ("dispatch_workers", "total_workers", "total_workers_band")}
    template_hints: ClassVar[dict[str, Any]] = {
        "total_workers": "3200", "total_workers_band": "1000-4999", "student_interns": "290",
        "dispatch_workers": "310", "max_intern_share_in_position": "0.18", "interns_on_night_shift": "0",
        "intern_weekly_hours_max": "40", "internship_related_to_study": "true", "intern_coercion": "false",
        "source": "social_audit"}
    type: Literal["workforce_composition"] = "workforce_composition"
    total_workers: int | None = Field(default=None, gt=0, description="All workers, when counted")
    total_workers_band: str | None = Field(
        default=None, pattern=r"^[0-9A-Za-z ,+<>=\u2013-]{1,40}$",  # a size, not free text (nothing to mask)
        description='All workers as a size band, when only that is known: "1000-4999", "1,000 to 4,999", "More '
        'than 10000", "1000+", "Less than 500"')
    student_interns: int | None = Field(default=None, ge=0, description="Blank is unknown, not 0")
    dispatch_workers: int | None = Field(default=None, ge=0, description="Blank is unknown, not 0")
    max_intern_share_in_position: float | None = Field(
        default=None, ge=0, le=1, description="Highest share of interns in any one position or line")
    interns_on_night_shift: int | None = Field(default=None, ge=0)
    intern_weekly_hours_max: float | None = Field(default=None, ge=0)
    internship_related_to_study: bool | None = None
    intern_coercion: bool | None = Field(
        default=None, description="Interns kept at work under threat, e.g. diploma or credits withheld")

    @field_validator("total_workers_band")
    @classmethod
    def _readable_band(cls, value: str | None) -> str | None:
        if value is not None:
            parse_workers(value)  # a band that does not read is a problem at its field
        return value

    @model_validator(mode="after")
    def _band_holds_total(self) -> WorkforceComposition:
        total, band = self.total_workers, self.total_workers_band
        if total is not None and band is not None:
            low, high = parse_workers(band)
            if not (low or 0) <= total <= (high or total):
                raise ValueError(f"total_workers ({total}) lies outside total_workers_band ({band})")
        return self

    @computed_field(description="The least the total can be: total_workers, else the band's lower bound")
    @property
    def total_workers_min(self) -> int | None:
        return _total_bounds(self)[0]

    @computed_field(description="The most the total can be: total_workers, else the band's upper bound")
    @property
    def total_workers_max(self) -> int | None:
        return _total_bounds(self)[1]

    # With a size band a share is known only within bounds: the share (what the limits are tested on, so that a
    # breach is certain) is the least it can be, of the band's upper bound; `..._at_most` is the most, of its lower
    # bound. With a counted total both are the share.

    @computed_field(description="Student interns as a share of all workers; with a size band, the least it can be")
    @property
    def intern_share(self) -> float | None:
        return _share_bounds(self.student_interns, *_total_bounds(self))[0]

    @computed_field(description="The most the interns' share can be: of the size band's lower bound")
    @property
    def intern_share_at_most(self) -> float | None:
        return _share_bounds(self.student_interns, *_total_bounds(self))[1]

    @computed_field(description="Dispatch (agency) workers as a share of all workers; with a size band, the least")
    @property
    def dispatch_share(self) -> float | None:
        return _share_bounds(self.dispatch_workers, *_total_bounds(self))[0]

    @computed_field(description="The most the dispatch workers' share can be: of the size band's lower bound")
    @property
    def dispatch_share_at_most(self) -> float | None:
        return _share_bounds(self.dispatch_workers, *_total_bounds(self))[1]


class AgeVerification(EvidenceBase):
    """Ages checked at a facility (audit, monitoring or authority): children and young workers found."""

    validity_days: ClassVar[int | None] = 365
    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = True
    worker_count_fields: ClassVar[tuple[str, ...]] = ("under_minimum_age",)
    template_code: ClassVar[str] = "AV"
    template_hints: ClassVar[dict[str, Any]] = {
        "workers_checked": "150", "legal_minimum_age": "15", "under_minimum_age": "0", "youngest_age": "16",
        "under_18_night_shift": "2", "under_18_overtime": "0", "under_18_hazardous_work": "0",
        "forged_documents": "false", "agency": "Example Labour Dispatch Company", "agency_role": "dispatch_employer",
        "source": "social_audit"}
    type: Literal["age_verification"] = "age_verification"
    workers_checked: int | None = Field(default=None, ge=0)
    legal_minimum_age: int = Field(default=15, ge=14, le=18, description="15 under ILO C138, or the higher national age")
    under_minimum_age: int | None = Field(
        default=None, ge=0, description="Workers found below the legal minimum age; blank is unknown, not 0")
    youngest_age: int | None = Field(default=None, ge=5, le=18)
    under_18_night_shift: int | None = Field(default=None, ge=0)
    under_18_overtime: int | None = Field(default=None, ge=0)
    under_18_hazardous_work: int | None = Field(default=None, ge=0)
    forged_documents: bool | None = None


class OSHIncident(EvidenceBase):
    """A health-and-safety incident in the workplace or in employer-provided housing or food."""

    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = True
    template_code: ClassVar[str] = "OSH"
    template_hints: ClassVar[dict[str, Any]] = {
        "incident_type": "chemical_exposure", "location": "workplace", "deaths": "0", "hospitalised": "7",
        "chemical": "N-methyl-2-pyrrolidone (NMP)", "authority_notified": "false", "source": "supplier",
        "summary": "Seven coating-hall workers taken to hospital with dizziness after a ventilation fan failed"}
    type: Literal["osh_incident"] = "osh_incident"
    incident_type: Literal[
        "fire", "explosion", "poisoning", "food_poisoning", "chemical_exposure", "structural_collapse",
        "mass_illness", "injury", "other",
    ]
    location: Literal["workplace", "dormitory", "offsite_dormitory", "canteen", "other"] = "workplace"
    deaths: int = Field(default=0, ge=0)
    hospitalised: int | None = Field(default=None, ge=0)
    chemical: str | None = None
    authority_notified: bool | None = None
    summary: str | None = None


class FoAEvent(EvidenceBase):
    """An event touching freedom of association: action against union officers, or interference."""

    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = True
    template_code: ClassVar[str] = "FOA"
    template_hints: ClassVar[dict[str, Any]] = {
        "event": "dismissal", "subject_role": "union_officer", "related_activity": "organising",
        "status": "unresolved",
        "summary": "Branch secretary dismissed for absence after attending a union federation meeting"}
    type: Literal["foa_event"] = "foa_event"
    event: Literal[
        "dismissal", "suspension", "discipline", "non_renewal", "barred_from_union_office",
        "excluded_from_bargaining", "refusal_to_recognise", "refusal_to_bargain", "employer_dominated_union",
        "protection_contract", "surveillance", "union_history_screening", "obstruction_of_representatives",
    ]
    subject_role: Literal[
        "union_officer", "union_organiser", "worker_representative", "union_member", "workers"
    ] | None = None
    related_activity: str | None = Field(default=None, description="e.g. organising, bargaining, petition")
    status: Literal["alleged", "confirmed", "unresolved", "resolved"] = "confirmed"
    summary: str | None = None


class WageRecord(EvidenceBase):
    """Wages for one pay period (aggregated): when paid, shortfalls, deductions and payslips."""

    validity_days: ClassVar[int | None] = 365
    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = False
    worker_count_fields: ClassVar[tuple[str, ...]] = ("n_workers",)
    template_code: ClassVar[str] = "WR"
    computed_from: ClassVar[dict[str, tuple[str, ...]]] = {"days_late": ("paid_on", "period_end")}
    template_hints: ClassVar[dict[str, Any]] = {
        "date": "2025-03-14", "period_end": "2025-02-28", "paid_on": "2025-03-12", "n_workers": "85",
        "underpayment_amount": "0", "unlawful_deductions": "false", "payslips_transparent": "true"}
    type: Literal["wage_record"] = "wage_record"
    period_end: dt.date
    paid_on: dt.date | None = None
    n_workers: int | None = Field(default=None, ge=0)
    underpayment_amount: float | None = Field(default=None, ge=0, description="Total shortfall, incl. overtime premium")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    unlawful_deductions: bool | None = None
    payslips_transparent: bool | None = None

    @computed_field(description="Days between the end of the pay period and payment, when paid")
    @property
    def days_late(self) -> int | None:
        return None if self.paid_on is None else (self.paid_on - self.period_end).days


class GrievanceMechanism(EvidenceBase):
    """An assessment of a facility's operational grievance mechanism (UNGP 31 criteria)."""

    validity_days: ClassVar[int | None] = 730
    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "GM"
    template_hints: ClassVar[dict[str, Any]] = {
        "exists": "true", "anonymous_channel": "true", "languages_cover_workforce": "false",
        "covers_all_worker_categories": "true", "awareness_rate": "0.66", "non_retaliation_policy": "true"}
    type: Literal["grievance_mechanism"] = "grievance_mechanism"
    exists: bool
    anonymous_channel: bool | None = None
    languages_cover_workforce: bool | None = None
    covers_all_worker_categories: bool | None = Field(
        default=None, description="Agency, migrant and student workers can use it too")
    awareness_rate: float | None = Field(default=None, ge=0, le=1, description="Share of workers who know of it")
    non_retaliation_policy: bool | None = None


class MonitorAccessRequest(EvidenceBase):
    """A monitor's request for factory access and a meeting with management; `date` is the request."""

    label: ClassVar[str] = "monitoring access requests"
    worker_event: ClassVar[bool] = False
    template_code: ClassVar[str] = "MAR"
    template_hints: ClassVar[dict[str, Any]] = {
        "contract_id": TEMPLATE_CONTRACT_ID, "requested_by": "Electronics Watch",
        "contractor_request_on": "2025-04-04", "status": "granted", "granted_on": "2025-04-20",
        "meeting_with_management": "true", "source": "monitoring_organisation"}
    type: Literal["monitor_access_request"] = "monitor_access_request"
    requested_by: str | None = Field(default=None, description="e.g. Electronics Watch")
    contractor_request_on: dt.date | None = Field(
        default=None, description="When the contractor formally asked its supplier to grant access (due diligence)")
    status: Literal["pending", "no_response", "granted", "refused"]
    granted_on: dt.date | None = None
    meeting_with_management: bool | None = None


class PracticeObservation(EvidenceBase):
    """A labour practice observed (audit, worker-driven monitoring, grievance or testimony), coded."""

    label: ClassVar[str] = "information received"
    worker_event: ClassVar[bool] = True
    worker_count_fields: ClassVar[tuple[str, ...]] = ("n_affected",)
    template_code: ClassVar[str] = "PO"
    template_hints: ClassVar[dict[str, Any]] = {
        "practice": "records_falsified", "worker_group": "wg_agency_line3", "n_affected": "18", "coercion": "false",
        "systematic": "true",
        "summary": "Hours over 48 a week are recorded on a second timecard that payroll does not see"}
    type: Literal["practice_observation"] = "practice_observation"
    practice: Literal[
        # freely chosen employment
        "resignation_penalty", "wage_or_deposit_forfeiture", "movement_restriction",
        # working time and records
        "involuntary_overtime", "records_falsified",
        # discrimination
        "discriminatory_hiring", "discriminatory_testing", "discriminatory_pay", "discriminatory_termination",
        # health and safety
        "untrained_chemical_handling", "missing_exposure_monitoring", "missing_protective_equipment",
        "dormitory_critical_failure", "food_safety_failure",
    ]
    worker_group: str | None = None
    n_affected: int | None = Field(default=None, ge=0)
    coercion: bool | None = Field(default=None, description="Threats, penalties or coercion accompany the practice")
    systematic: bool | None = Field(default=None, description="A policy or pattern, not an isolated case")
    summary: str | None = None


Evidence = Annotated[
    Union[
        AuditFinding,
        Grievance,
        MonitoringFinding,
        FactoryDisclosure,
        Correspondence,
        Remediation,
        ProtectedActivity,
        AdverseAction,
        RecruitmentFee,
        DocumentRetention,
        WorkingHours,
        CorrectiveAction,
        ExternalSignal,
        WorkforceComposition,
        AgeVerification,
        OSHIncident,
        FoAEvent,
        WageRecord,
        GrievanceMechanism,
        MonitorAccessRequest,
        PracticeObservation,
    ],
    Field(discriminator="type"),
]

#: Titled, so that a validation error names evidence rather than listing the validators of every type.
EVIDENCE_ADAPTER: TypeAdapter[Evidence] = TypeAdapter(Evidence, config=ConfigDict(title="Evidence"))

#: type name -> model class, for every evidence type.
EVIDENCE_TYPES: dict[str, type[EvidenceBase]] = {
    cls.model_fields["type"].default: cls
    for cls in EvidenceBase.__subclasses__()
}

# ---------------------------------------------------------------------------------------------------------------------
# Facts: what rules see


#: The fact type of a finding read by a later rule.
FINDING_FACT = "finding"

#: Fact types besides evidence that every contract session carries, and their fields.
CONTEXT_FACT_FIELDS: dict[str, list[str]] = {
    "contract": [
        "id", "ocid", "supplier_id", "brands", "buyer_ids", "signed_on", "start", "end", "max_extent",
        "renewal_decision_on", "clause_set", "framework", "status",
    ],
    "contract_item": ["id", "contract_id", "brand", "model", "cpv", "quantity", "disclosure_in_scope"],
    "facility": ["id", "name", "address", "country", "parent_company", "risk_level", "workers_min", "workers_max"],
    "production_link": ["id", "brand", "model", "facility_id", "tier", "source", "valid_from", "valid_to"],
    # A finding of an earlier rule, as rules that read findings see it (``rules.strata``): the finding's key, its
    # rule and that rule's family (FL-02 for FL-02-P), whether the rule reads evidence only (``base``), its
    # severity, verdict and facility, the worker group all its evidence names and the subject (a worker's pseudonym
    # or a group label) all its evidence is about, the one evidence record it rests on
    # (when one), all its evidence, the date of its latest evidence (the as-of date when it rests on none), and the
    # ILO forced-labour indicator it evidences (when its rule says).
    "finding": [
        "id", "rule_id", "rule_family", "base", "severity", "severity_base", "verdict", "facility_id",
        "worker_group", "subject", "evidence_id", "evidence_ids", "date", "ilo_indicator",
    ],
}


def fact_fields(fact_type: str) -> list[str]:
    """The fields a fact of `fact_type` can carry, in declaration order (for validation and hints)."""
    if fact_type in CONTEXT_FACT_FIELDS:
        return CONTEXT_FACT_FIELDS[fact_type]
    return list(field_annotations(EVIDENCE_TYPES[fact_type]))


def field_annotations(cls: type[BaseModel]) -> dict[str, Any]:
    """Every field a record of `cls` carries as a fact, with its type: stored fields, then computed ones."""
    out = {name: info.annotation for name, info in cls.model_fields.items()}
    out |= {name: info.return_type for name, info in cls.model_computed_fields.items()}
    return out


def fact_types() -> list[str]:
    return sorted([*CONTEXT_FACT_FIELDS, *EVIDENCE_TYPES])


def date_fields(fact_type: str) -> set[str]:
    """The fields of `fact_type` that hold dates (compared as dates, with day arithmetic)."""
    if fact_type == FINDING_FACT:
        return {"date"}
    if fact_type in CONTEXT_FACT_FIELDS:
        return {f for f in CONTEXT_FACT_FIELDS[fact_type] if f in {
            "signed_on", "start", "end", "max_extent", "renewal_decision_on", "valid_from", "valid_to"}}
    cls = EVIDENCE_TYPES[fact_type]
    return {name for name, annotation in field_annotations(cls).items() if annotation in (dt.date, dt.date | None)}


def is_code(annotation: Any, metadata: Iterable[Any] = ()) -> bool:
    """Whether a field holds codes (``Code``: a code area, issue categories), optional or in a list: values in one
    spelling from a shared set of words, not text a person wrote."""
    if _CODE in metadata:
        return True
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return any(_CODE in getattr(a, "__metadata__", ()) or is_code(a) for a in args)


#: Fields naming the buyer's own products (a disclosure's brand and model): the contract's words, not a worker's.
PRODUCT_FIELDS = frozenset({"brand", "model"})


def is_identifier(name: str) -> bool:
    """Whether an evidence field identifies a record or points to another (id, contract_id, report_id, finding_ref):
    such values are copied everywhere, so intake refuses one that carries a worker's identity."""
    return name == "id" or name.endswith(("_id", "_ref"))


#: The fields that name one worker, in any evidence type (a grievance's complainant, an action's subject).
PERSON_FIELDS = frozenset(cls.person_field for cls in EVIDENCE_TYPES.values() if cls.person_field)


@functools.cache
def free_text_fields(type_name: str) -> frozenset[str]:
    """The fields of an evidence type that people write text in (summaries, descriptions, channels, names of
    organisations, group labels, lists of categories): every text or list-of-text field but identifiers, the person
    field, fixed values and codes of a set form (a currency). Intake masks worker identities in them."""
    cls = EVIDENCE_TYPES[type_name]
    out = set()
    for name, info in cls.model_fields.items():
        if is_identifier(name) or name == cls.person_field or literal_values(info.annotation) is not None:
            continue
        if any(getattr(m, "pattern", None) for m in info.metadata):
            continue
        if info.annotation in (str, str | None, list[str], list[str] | None):
            out.add(name)
    return frozenset(out)


#: Evidence date fields that plan rather than record (a deadline, the end of a pay period): known in advance, they
#: may lie after the as-of date. Every other date field besides `date` records when something happened (a grievance
#: acknowledged, a response given, wages paid, access granted...).
PLANNED_DATE_FIELDS = frozenset({"due_date", "due_on", "extended_to", "period_end"})


@functools.cache
def event_date_fields(fact_type: str) -> frozenset[str]:
    """The date fields of an evidence type, besides `date`, that record when something happened."""
    return frozenset(date_fields(fact_type) - {"date"} - PLANNED_DATE_FIELDS)


class ApproximateDate(dt.date):
    """A date known only to a month or a year, as the rules read it: it is the day rules compare (``read_day``) and
    prints as precisely as it is known ("2016-10"), in messages and documents alike."""

    precision: str = "day"

    def __new__(cls, year: int, month: int = 1, day: int = 1, precision: str = "day") -> ApproximateDate:
        self = super().__new__(cls, year, month, day)
        self.precision = precision
        return self

    def __reduce__(self) -> Any:  # kept across processes with its precision
        return type(self), (self.year, self.month, self.day, self.precision)

    def __str__(self) -> str:
        return period_text(self, self.precision)


def read_day(start: dt.date, precision: str, as_of: dt.date) -> dt.date:
    """The day an approximate date counts as: the last day of its period, or the as-of date when the period has
    not ended. So a deadline counts from the end of the period, a window includes the record when any day of the
    period falls in it, and a record is known from the first day of its period (its stored `date`)."""
    return min(period_end(start, precision), as_of)


def known_on(record: EvidenceBase, as_of: dt.date) -> EvidenceBase:
    """The record as an evaluation as of `as_of` knows it: what happened after that day (an acknowledgement, a
    response, a payment recorded with a later date) is unknown, as if not recorded yet, so that a check as of a
    past date sees what was known then; a date known to a month or a year is read as ``read_day`` says. Every rule
    reads evidence through this, so none needs its own guard."""
    later: dict[str, Any] = {name: None for name in event_date_fields(record.type)
                             if (value := getattr(record, name)) is not None and value > as_of}
    if record.date_precision != "day":
        day = read_day(record.date, record.date_precision, as_of)
        later["date"] = ApproximateDate(day.year, day.month, day.day, record.date_precision)
    return record.model_copy(update=later) if later else record


def stored_default(info: Any) -> Any:
    """A field's default as a stored payload holds it (JSON: an enumeration's value, a copy of a list)."""
    value = info.get_default(call_default_factory=True)
    return value.value if isinstance(value, enum.Enum) else value


def counts(record: EvidenceBase | dict[str, Any]) -> bool:
    """Whether a record counts as evidence at all: a withdrawn record (retracted by whoever reported it) does not."""
    verification = record.get("verification") if isinstance(record, dict) else record.verification
    return verification != "withdrawn"


#: What a finding says about the contract condition. Only "breach" is non-compliance by the contractor;
#: the others are there so officers see due diligence and data gaps rather than silence.
Verdict = Literal["breach", "due_diligence_shown", "insufficient_evidence", "not_yet_due", "evidence_expired",
                  "alleged", "disputed", "human_review"]

VERDICT_LABELS: dict[str, str] = {
    "breach": "breach",
    "due_diligence_shown": "outcome not achieved - due diligence shown",
    "insufficient_evidence": "insufficient evidence",
    "not_yet_due": "not yet due",
    "evidence_expired": "evidence expired",
    "alleged": "alleged - verification requested",
    "disputed": "disputed by the supplier - independent verification requested",
    "human_review": "needs human review",
}


# ---------------------------------------------------------------------------------------------------------------------
# Working groups


class WorkingGroupScope(_Model):
    brands: list[str] = Field(default_factory=list, description="Brands the group engages")
    issues: list[FPRW] = Field(default_factory=list, description="Issue categories the group covers, any brand")


class WorkingGroup(_Model):
    """Buyers engaging a common supplier or issue together, with a monitoring organisation as secretariat."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_:-]*$")
    name: str
    scope: WorkingGroupScope
    members: list[str] = Field(default_factory=list, description="Member institution ids")
    secretariat: str = "Electronics Watch"
    status: Literal["active", "proposed"] = "active"


# ---------------------------------------------------------------------------------------------------------------------
# Findings


class Finding(_Model):
    """One non-compliance finding: which rule, which contract, why, and on what evidence."""

    key: str = Field(description="Stable identity: the same problem has the same key on every run")
    rule_id: str
    rule_version: str
    title: str
    clause: str
    contract_id: str
    ocid: str
    supplier_id: str
    facility_id: str | None = None
    severity: Severity
    severity_base: Severity | None = Field(default=None, description="The rule's severity, before modifiers")
    modifiers: list[str] = Field(default_factory=list, description="Why the severity was raised, one reason each")
    fprw: list[FPRW] = Field(default_factory=list)
    hrdd_objectives: list[int] = Field(default_factory=list)
    message: str = Field(description="One sentence with the actual values that made the rule fire")
    evidence_ids: list[str] = Field(description="The records that made it fire (contract facts excluded)")
    observed_on: dt.date | None = Field(
        default=None, description="Date of the latest evidence behind it: when the problem became visible")
    required_actions: list[str] = Field(default_factory=list, description="What the contractor must do")
    buyer_actions: list[str] = Field(default_factory=list, description="What the buyer or working group does")
    letter_type: str | None = None
    verdict: Verdict = "breach"
    ilo_indicator: str | None = Field(default=None, description="The ILO forced-labour indicator it evidences, if any")
    respond_by: dt.date
    as_of: dt.date
