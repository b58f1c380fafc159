"""The store on a real database: migrations, imports, versions kept, the quarantine, reading as of a date."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import postgres_schema
from sqlmodel import SQLModel

from compliance import store as store_package
from compliance.domain import models
from compliance.errors import RunInProgress, StoreError
from compliance.store import Store, normalise_url

FACILITY = "TH2020112B8R4N8"


def contract(**overrides):
    data = dict(
        ocid="ocds-h6vhtk-000001", id="K1", buyers=[{"id": "GB-PPON-AAAA-1111-BBBB", "name": "University A"}],
        supplier={"id": "GB-COH-01234567", "name": "Reseller Ltd"}, brands=["BrandH"],
        items=[{"id": "1", "brand": "BrandH", "model": "NB-450"}], signed_on="2024-03-04",
        period={"start": "2024-03-04", "end": "2026-03-03"}, clause_set={"id": "EWCC-v2-UK", "version": "2.0"},
    )
    data.update(overrides)
    return models.Contract.model_validate(data)


def grievance(id_: str, date: str, **fields):
    return models.EVIDENCE_ADAPTER.validate_python(
        {"type": "grievance", "id": id_, "facility_id": FACILITY, "date": date, "issue_categories": ["wages"], **fields})


def seeded(store: Store) -> Store:
    store.add_contracts([contract()], "contracts.yaml")
    store.add_facilities([models.Facility(id=FACILITY, name="Plant 2", country="TH")],
                         [models.ProductionLink(brand="BrandH", model="NB-450", facility_id=FACILITY)], "facilities.yaml")
    return store


def test_migrations_create_exactly_the_declared_schema(store: Store):
    current, head = store.revisions()
    assert current == head
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       SQLModel.metadata)
    assert differences == []


def test_a_new_database_must_be_initialised_first(store_url: str):
    fresh = Store(store_url)
    try:
        with pytest.raises(StoreError, match="not initialised. Run 'compliance db init' first"):
            fresh.require_current()
        assert fresh.upgrade() == (None, fresh.revisions()[1])
        fresh.require_current()
        assert fresh.upgrade()[0] == fresh.upgrade()[1]  # a second upgrade changes nothing
    finally:
        fresh.close()


def test_an_outdated_schema_is_refused(store: Store):
    from alembic import command

    command.downgrade(store._alembic_config(), "base")
    with pytest.raises(StoreError, match="not initialised"):
        store.require_current()


def test_importing_the_same_records_twice_adds_nothing(store: Store):
    seeded(store)
    records = [grievance("G-1", "2024-05-01"), grievance("G-2", "2024-06-01")]
    first = store.add_evidence(records, "grievances.json")
    second = store.add_evidence(records, "grievances.json")
    assert (first.added, first.unchanged) == (2, 0)
    assert (second.added, second.updated, second.unchanged) == (0, 0, 2)
    changed = store.add_evidence([grievance("G-2", "2024-06-01", status="closed")], "grievances.json")
    assert (changed.added, changed.updated) == (0, 1)
    assert store.counts()["evidence records"] == 2


def test_evidence_naming_an_unknown_contract_or_facility_is_quarantined_and_the_good_record_kept(store: Store):
    seeded(store)
    good = grievance("G-1", "2024-05-01")
    unknown_facility = models.EVIDENCE_ADAPTER.validate_python(
        {"type": "grievance", "id": "G-9", "facility_id": "FAC-NOWHERE", "date": "2024-05-01",
         "issue_categories": ["wages"]})
    unknown_contract = grievance("G-8", "2024-05-01", contract_id="K404")
    summary = store.add_evidence([good, unknown_facility, unknown_contract], "batch.json")
    assert (summary.added, summary.quarantined) == (1, 2)
    assert [str(p) for p in summary.problems] == [
        "batch.json: row 2: facility_id: a facility in the store (import the facility first); found 'FAC-NOWHERE'",
        "batch.json: row 3: contract_id: a contract in the store (import the contract first); found 'K404'",
    ]
    assert store.counts()["evidence records"] == 1
    assert [(q.record_id, q.status) for q in store.quarantine()] == [("G-9", "open"), ("G-8", "open")]
    # once the contract exists, importing the record again resolves its quarantine entry
    store.add_contracts([contract(id="K404", ocid="ocds-h6vhtk-000404")], "more.yaml")
    assert store.add_evidence([unknown_contract], "batch-fixed.json").added == 1
    assert [q.record_id for q in store.quarantine()] == ["G-9"]
    assert [q.record_id for q in store.quarantine(status="resolved")] == ["G-8"]


def test_a_corrected_record_supersedes_the_stored_one_and_the_old_version_is_kept(store: Store):
    seeded(store)
    store.add_evidence([grievance("G-1", "2024-05-01")], "first.json")
    first_known = dt.datetime.now(dt.timezone.utc)
    store.add_evidence([grievance("G-1", "2024-05-01", status="closed"), grievance("G-2", "2024-05-02")],
                       "second.json")
    versions = store.evidence_versions("G-1")
    assert [(v["version"], v["source_file"], v["payload"]["status"]) for v in versions] == [
        (1, "first.json", "open"), (2, "second.json", "closed")]
    assert versions[0]["known_until"] == versions[1]["known_from"]
    k1 = store.contract("K1")
    now = store.evidence_for(k1, [FACILITY], dt.date(2024, 6, 30))
    then = store.evidence_for(k1, [FACILITY], dt.date(2024, 6, 30), known_at=first_known)
    assert [(r.id, r.status) for r in now] == [("G-1", "closed"), ("G-2", "open")]
    assert [(r.id, r.status) for r in then] == [("G-1", "open")]


def test_contracts_are_read_as_known_at_a_moment(store: Store):
    seeded(store)
    before = dt.datetime.now(dt.timezone.utc)
    store.add_contracts([contract(status="terminated"), contract(id="K2", ocid="ocds-h6vhtk-000002")], "v2.yaml")
    assert [(c.id, c.status) for c in store.contracts()] == [("K1", "terminated"), ("K2", "active")]
    assert [(c.id, c.status) for c in store.contracts(known_at=before)] == [("K1", "active")]
    assert store.contract("K1", known_at=before).status == "active"


def test_evidence_is_read_as_of_a_date_and_only_for_the_contract_or_its_facilities(store: Store):
    seeded(store)
    store.add_contracts([contract(id="K2", ocid="ocds-h6vhtk-000002")], "more.yaml")
    store.add_evidence([
        grievance("G-1", "2024-05-01"),
        grievance("G-2", "2024-07-01"),
        grievance("G-3", "2024-05-02", contract_id="K2"),  # about another contract
        models.EVIDENCE_ADAPTER.validate_python({"type": "factory_disclosure", "id": "D-1", "contract_id": "K1",
                                                 "date": "2024-04-01", "model": "NB-450"}),
    ], "mixed.json")
    k1 = store.contract("K1")
    seen = store.evidence_for(k1, [FACILITY], dt.date(2024, 6, 30))
    assert [r.id for r in seen] == ["D-1", "G-1"]
    assert isinstance(seen[1], models.Grievance) and seen[1].issue_categories == ["wages"]


def test_contracts_round_trip_through_the_store(store: Store):
    seeded(store)
    assert store.contracts() == [contract()]
    assert store.contracts(statuses=["expired"]) == []


def test_urls():
    assert normalise_url("data/x.db") == "sqlite:///data/x.db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"


def test_the_store_is_one_facade_of_modules_that_import_no_higher_layer():
    """Layers, lowest first: errors, domain, sources and rules, evaluation, store, escalation, documents, api, cli. The
    store reads the domain and raises errors; what it is given (rows, findings) is made above it."""
    package = Path(store_package.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        used = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        above = {name for name in used if name.startswith(("compliance.sources", "compliance.evaluation",
                                                           "compliance.escalation", "compliance.documents",
                                                           "compliance.api", "compliance.cli"))}
        assert above == set(), path.name
        assert path.read_text().count("\n") < 600, path.name
    assert not (package / "database.py").exists()


def test_the_postgresql_run_lock_belongs_to_one_store_not_the_whole_database(postgres_url: str):
    """Two stores in two schemas of one database run independently; a second run on the same store is refused."""
    with postgres_schema() as other_url:
        first, other, same = Store(postgres_url), Store(other_url), Store(postgres_url)
        try:
            with first.run_lock():
                with other.run_lock():  # another store: not blocked
                    pass
                with pytest.raises(RunInProgress):
                    with same.run_lock():
                        pass
        finally:
            for store in (first, other, same):
                store.close()
