"""Domain models: identifiers and consistency checks, with no I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from compliance.domain import models
from compliance.domain.models import Severity, os_id_check_character, os_id_problem, validate_facility_id


def test_os_id_check_character_matches_the_open_supply_hub_algorithm():
    # Worked by hand: ord('T') + ord('H') = 156; digits 2+0+2+0+1+1+2 = 8; B=11, 8, R=25, 4, N=21 -> 229 % 32 = 5
    assert os_id_check_character("TH2020112B8R4N") == "8"
    assert os_id_problem("TH2020112B8R4N8") is None


@pytest.mark.parametrize("value, problem", [
    ("TH2020112B8R4N", "an OS ID has 15 characters, got 14"),
    ("TH2020112B8R4N9", "the check character is '9' but should be '8'"),
    ("TH20201I2B8R4N8", "an OS ID is a 2-letter country code, 7 digits (year and day) and 6 Crockford base-32 characters"),
])
def test_bad_os_ids_say_what_is_wrong(value: str, problem: str):
    assert os_id_problem(value) == problem


def test_facility_ids_accept_hyphenated_os_ids_and_internal_ids():
    assert validate_facility_id("TH-2020112-B8R4N-8") == "TH2020112B8R4N8"
    assert validate_facility_id("FAC-unknown-site_1") == "FAC-unknown-site_1"
    with pytest.raises(ValueError, match="use FAC-"):
        validate_facility_id("factory 7")


def test_facility_country_must_match_its_os_id():
    with pytest.raises(ValidationError, match="is for country TH, but country is MY"):
        models.Facility(id="TH2020112B8R4N8", name="x", country="MY")


def test_contract_items_must_name_the_contract_brands():
    with pytest.raises(ValidationError, match="items name brands"):
        models.Contract.model_validate(dict(
            ocid="ocds-h6vhtk-1", id="K", buyers=[{"id": "b", "name": "B"}], supplier={"id": "s", "name": "S"},
            brands=["Cisco"], items=[{"id": "1", "brand": "Apple", "model": "M"}], signed_on="2024-01-01",
            period={"start": "2024-01-01", "end": "2025-01-01"}, clause_set={"id": "c", "version": "1"}))


def test_evidence_is_a_tagged_union_that_rejects_unknown_fields():
    record = models.EVIDENCE_ADAPTER.validate_python(
        {"type": "adverse_action", "id": "AA-1", "facility_id": "TH2020112B8R4N8", "date": "2024-10-02",
         "subject": "wg_a", "action": "dismissal"})
    assert isinstance(record, models.AdverseAction)
    assert record.sensitivity is models.Sensitivity.WORKER_SAFETY  # worker-related evidence defaults to the strictest label
    with pytest.raises(ValidationError, match="worker_name"):
        models.EVIDENCE_ADAPTER.validate_python({**record.model_dump(), "worker_name": "A. Person"})


def test_every_evidence_type_the_engine_issue_names_exists():
    assert {"audit_finding", "grievance", "monitoring_finding", "factory_disclosure", "correspondence", "remediation",
            "protected_activity", "adverse_action", "recruitment_fee", "working_hours", "external_signal"} <= set(
        models.EVIDENCE_TYPES)


def test_severities_sort_most_serious_first_with_rba_codes():
    assert sorted(Severity, key=lambda s: s.rank) == [Severity.PRIORITY, Severity.MAJOR, Severity.MINOR,
                                                      Severity.OBSERVATION]
    assert [s.code for s in Severity] == ["P", "MA", "MI", "OBS"]


def test_the_readme_documents_every_evidence_type_and_field():
    """The evidence table in the README is what officers fill in: it must list exactly the model's fields."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.*) \|$", readme, flags=re.M))
    common = {"id", "type", "date", "contract_id", "facility_id", "source", "sensitivity", "date_precision",
              "verification", "estimated", "estimate_basis", "agency", "agency_role", "date_start"}
    intro = readme[readme.index("**Evidence** (`compliance import evidence`"):readme.index("| `type` | Fields besides")]
    assert not {name for name in common if f"`{name}`" not in intro}, "the common fields are described before the table"
    for name, cls in models.EVIDENCE_TYPES.items():
        assert name in rows, f"README has no row for evidence type {name}"
        documented = set(re.findall(r"`([a-z_0-9]+)`", rows[name])) - common
        fields = set(models.field_annotations(cls)) - common
        assert documented == fields, f"{name}: README lacks {sorted(fields - documented)}, " \
                                     f"names fields that do not exist {sorted(documented - fields)}"


# ---------------------------------------------------------------------------------------------------------------------
# What each evidence type declares about itself

#: Declared by every type in its own class body: nothing privacy-relevant is inherited by accident.
DECLARED = ("label", "worker_event", "template_code")


@pytest.mark.parametrize("type_name", sorted(models.EVIDENCE_TYPES))
def test_every_evidence_type_carries_complete_metadata(type_name: str):
    cls = models.EVIDENCE_TYPES[type_name]
    assert [name for name in DECLARED if name not in vars(cls)] == [], f"{cls.__name__} does not declare them"
    assert isinstance(cls.label, str) and cls.label.strip()
    assert isinstance(cls.worker_event, bool)
    assert isinstance(cls.template_code, str) and cls.template_code.isupper()
    assert cls.validity_days is None or (isinstance(cls.validity_days, int) and cls.validity_days > 0)
    assert cls.person_field is None or cls.person_field in cls.model_fields
    assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring: the template's description is its first line"
    # Hints name fields of the type; worker counts are whole-number fields of it.
    assert isinstance(cls.template_hints, dict) and set(cls.template_hints) <= set(cls.model_fields)
    for name in cls.worker_count_fields:
        assert name in cls.model_fields and int in (cls.model_fields[name].annotation, *getattr(
            cls.model_fields[name].annotation, "__args__", ())), name
    # A type whose records name one worker records what happened to workers: its dates are private.
    if cls.person_field:
        assert cls.worker_event


def test_worker_event_types_are_those_about_workers():
    assert {name for name, cls in models.EVIDENCE_TYPES.items() if cls.worker_event} == {
        "grievance", "protected_activity", "adverse_action", "monitoring_finding", "practice_observation",
        "foa_event", "osh_incident", "document_retention", "recruitment_fee", "age_verification"}


def test_template_codes_are_distinct():
    codes = [cls.template_code for cls in models.EVIDENCE_TYPES.values()]
    assert len(codes) == len(set(codes))
