"""Commands for the store: db, import, contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from compliance.cli import _store, cli


# ---------------------------------------------------------------------------------------------------------------------
# db


@cli.group()
def db() -> None:
    """Create and migrate the database schema."""


@db.command("init")
@click.pass_context
def db_init(ctx: click.Context) -> None:
    """Create the database schema, or bring it up to date.

    \b
    Example:
        compliance --db compliance.db db init
    """
    from compliance.db import display_url

    store = _store(ctx)
    before, after = store.upgrade()
    if before == after:
        click.echo(f"{display_url(store.url)} is up to date (schema revision {after}).")
    else:
        click.echo(f"{display_url(store.url)}: schema revision {before or 'none'} -> {after}.")


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending schema migrations (the same as init on an existing database).

    \b
    Example:
        compliance --db postgresql://compliance@db.example.ac.uk/compliance db upgrade
    """
    ctx.invoke(db_init)


@db.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the schema revision and how many records the store holds.

    \b
    Example:
        compliance db status
    """
    from compliance.db import display_url

    store = _store(ctx)
    current, head = store.revisions()
    click.echo(f"database: {display_url(store.url)}")
    click.echo(f"schema revision: {current or 'none (run compliance db init)'} (current: {head})")
    if current == head:
        for name, count in store.counts().items():
            click.echo(f"{name}: {count}")


# ---------------------------------------------------------------------------------------------------------------------
# import


@cli.group("import")
def import_() -> None:
    """Import contracts, facilities and evidence (each file whole, or not at all)."""


def _import(ctx: click.Context, importer: str, *args: Any) -> None:
    """Run one of api.import_* on an up-to-date store and print a line per file."""
    from compliance import api

    store = _store(ctx)
    store.require_current()
    for summary in getattr(api, importer)(store, *args):
        click.echo(str(summary))


@import_.command("contracts")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_contracts(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Import contracts from YAML or JSON files.

    \b
    Example:
        compliance import contracts contracts/contracts.yaml
    """
    _import(ctx, "import_contracts", files)


@import_.command("facilities")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_facilities(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Import production facilities and production links (YAML, JSON, or facilities as CSV).

    \b
    Example:
        compliance import facilities contracts/facilities.yaml
    """
    _import(ctx, "import_facilities", files)


@import_.command("evidence")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "evidence_type", metavar="TYPE", help="Evidence type for records without a 'type' field")
@click.pass_context
def import_evidence(ctx: click.Context, files: tuple[Path, ...], evidence_type: str | None) -> None:
    """Import evidence records from JSON, YAML or CSV files.

    \b
    Example:
        compliance import evidence contracts/evidence/monitoring.json
        compliance import evidence hours.csv --type working_hours
    """
    _import(ctx, "import_evidence", files, evidence_type)


# ---------------------------------------------------------------------------------------------------------------------
# contracts


@cli.group()
def contracts() -> None:
    """List the contracts in the store."""


@contracts.command("list")
@click.pass_context
def contracts_list(ctx: click.Context) -> None:
    """List contracts: id, status, supplier, brands and period.

    \b
    Example:
        compliance contracts list
    """
    store = _store(ctx)
    store.require_current()
    for c in store.contracts():
        click.echo(f"{c.id:<28} {c.status:<10} {c.supplier.name:<32} {', '.join(c.brands):<24} "
                   f"{c.period.start} to {c.period.end}")
