"""Commands for the store: db, import, contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from compliance.cli.common import RECORD_NUMBER, store_of

# ---------------------------------------------------------------------------------------------------------------------
# db


@click.group()
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
    from compliance import api

    store = store_of(ctx)
    before, after = store.upgrade()
    if before == after:
        click.echo(f"{api.store_name(store)} is up to date (schema revision {after}).")
    else:
        click.echo(f"{api.store_name(store)}: schema revision {before or 'none'} -> {after}.")


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
    from compliance import api

    store = store_of(ctx)
    current, head = store.revisions()
    click.echo(f"database: {api.store_name(store)}")
    click.echo(f"schema revision: {current or 'none (run compliance db init)'} (current: {head})")
    if current == head:
        for name, count in store.counts().items():
            click.echo(f"{name}: {count}")


# ---------------------------------------------------------------------------------------------------------------------
# import


@click.group("import")
def import_() -> None:
    """Import contracts and facilities (each file whole, or not at all) and evidence (row by row)."""


def _import(ctx: click.Context, importer: str, *args: Any) -> None:
    """Run one of api.import_* on an up-to-date store and print a line per file."""
    from compliance import api

    store = store_of(ctx)
    store.require_current()
    for summary in getattr(api, importer)(store, *args):
        click.echo(str(summary))


@import_.command("contracts")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_contracts(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Import contracts from YAML or JSON files, or from OCDS release or record packages (JSON).

    \b
    Example:
        compliance import contracts contracts/contracts.yaml
        compliance import contracts contracts/ocds/release-package.json
    """
    _import(ctx, "import_contracts", files)


@import_.command("facilities")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_facilities(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Import production facilities and production links (YAML, JSON, or facilities as CSV, including an
    Open Supply Hub download).

    \b
    Example:
        compliance import facilities contracts/facilities.yaml
        compliance import facilities contracts/oshub-facilities.csv
    """
    _import(ctx, "import_facilities", files)


@import_.command("evidence")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "evidence_type", metavar="TYPE", help="Evidence type of rows without a type column")
@click.option("--day-first", is_flag=True,
              help="Dates are written day first, as UK spreadsheets do (31/01/2025); never guessed without it")
@click.option("--sensitivity", metavar="LABEL",
              help="Sensitivity of rows without a sensitivity column: public, buyer_only, restricted or "
                   "worker_safety [default: each type's own]")
@click.option("--encoding", default="utf-8-sig", show_default=True, metavar="NAME",
              help="Text encoding of CSV, JSON and YAML files (UTF-8 with or without BOM by default)")
@click.pass_context
def import_evidence(ctx: click.Context, files: tuple[Path, ...], evidence_type: str | None, day_first: bool,
                    sensitivity: str | None, encoding: str) -> None:
    """Import evidence records from CSV, XLSX, JSON Lines, JSON or YAML files.

    Good rows are imported; each bad row is reported with its row, field, value and what was expected, and
    kept in the quarantine (see 'compliance quarantine'). Importing the same file again adds nothing; a
    changed record supersedes the stored one, whose earlier version is kept. Worker identifiers (names,
    employee numbers, phone numbers) are pseudonymised with the key in COMPLIANCE_PSEUDONYM_KEY_FILE (or
    COMPLIANCE_PSEUDONYM_KEY) before anything is stored, and identities in free text (phones, e-mails, id
    numbers, messaging handles and links, names the file's identity columns give) are masked; an id that
    carries one is refused. Exit code 8 when rows were quarantined.

    \b
    Example:
        compliance import evidence contracts/evidence/monitoring.json
        compliance import evidence grievances.xlsx --type grievance --day-first
    """
    import sys

    from compliance import api
    from compliance.errors import ExitCode

    store = store_of(ctx)
    store.require_current()
    options = api.ImportOptions(evidence_type=evidence_type, day_first=day_first, sensitivity=sensitivity,
                             encoding=encoding)
    bars: list[Any] = []

    def progress(source: api.ImportSource) -> Any:
        if not sys.stderr.isatty():
            return None  # quiet when not on a terminal (cron, pipes)
        bar = click.progressbar(length=max(source.estimated_rows, 1), label=source.name, file=sys.stderr)
        bar.__enter__()
        bars.append(bar)
        return bar.update

    try:
        summaries = api.import_evidence(store, files, options, progress=progress)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    shown = 20
    for summary in summaries:
        click.echo(str(summary))
        for warning in summary.warnings:
            click.echo(f"  warning: {warning}", err=True)
        for problem in summary.problems[:shown]:
            click.echo(f"  quarantined: {problem}", err=True)
        if summary.quarantined:
            more = summary.quarantined - min(shown, len(summary.problems))
            click.echo(f"  {summary.quarantined} row{'s' if summary.quarantined != 1 else ''} quarantined"
                       + (f" (problems of {more} more not shown)" if more > 0 else "")
                       + f": compliance quarantine list --batch {summary.batch_id}", err=True)
    if any(summary.quarantined for summary in summaries):
        sys.exit(ExitCode.QUARANTINED)


# ---------------------------------------------------------------------------------------------------------------------
# the quarantine


@click.group()
def quarantine() -> None:
    """Evidence rows refused at import: list them, export them for correction, dismiss them.

    A quarantined row is resolved by importing a corrected record with the same id (the corrected
    export, or the corrected original file)."""


@quarantine.command("list")
@click.option("--batch", "batch_id", type=RECORD_NUMBER, metavar="N", help="Only rows from this import batch")
@click.option("--file", "source_file", metavar="FILE", help="Only rows from this file (as it was imported)")
@click.option("--status", type=click.Choice(["open", "resolved", "dismissed", "all"]), default="open",
              show_default=True, help="Which entries to list")
@click.pass_context
def quarantine_list(ctx: click.Context, batch_id: int | None, source_file: str | None, status: str) -> None:
    """List quarantined rows: entry, batch, file and row, record id, and why each was refused.

    \b
    Example:
        compliance quarantine list --batch 12
    """
    store = store_of(ctx)
    store.require_current()
    rows = store.quarantine(None if status == "all" else status, batch_id, source_file)
    for row in rows:
        reasons = "; ".join(_problem_text(p) for p in row.problems)
        click.echo(f"{row.id:>6}  batch {row.batch_id:<5} {row.source_file}: {row.unit} {row.source_row}  "
                   f"{row.record_id or '-'}  [{row.status}]  {reasons}")
    click.echo(f"{len(rows)} entr{'ies' if len(rows) != 1 else 'y'}.")


def _problem_text(problem: dict[str, Any]) -> str:
    from compliance import api

    return api.quarantine_problem_text(problem)


@quarantine.command("show")
@click.argument("entry_id", type=RECORD_NUMBER)
@click.pass_context
def quarantine_show(ctx: click.Context, entry_id: int) -> None:
    """Show one quarantined row: its fields as read (identities already pseudonymised) and its problems.

    \b
    Example:
        compliance quarantine show 3
    """
    store = store_of(ctx)
    store.require_current()
    row = store.quarantine_entry(entry_id)
    click.echo(f"entry {row.id}: {row.source_file}, {row.unit} {row.source_row} (batch {row.batch_id}), {row.status}"
               + (f" - {row.resolution}" if row.resolution else ""))
    for problem in row.problems:
        click.echo(f"  problem: {_problem_text(problem)}")
    for name, value in row.raw.items():
        click.echo(f"  {name}: {value}")


@quarantine.command("export")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write (open it in a spreadsheet, correct the rows, import it)")
@click.option("--batch", "batch_id", type=RECORD_NUMBER, metavar="N", help="Only rows from this import batch")
@click.pass_context
def quarantine_export(ctx: click.Context, output: Path, batch_id: int | None) -> None:
    """Write the open quarantined rows to a CSV file for correction, with a quarantine_reason column.

    Import the corrected file as usual: each corrected row resolves its entry. The reason column is
    ignored on import.

    \b
    Example:
        compliance quarantine export --batch 12 -o to-correct.csv
        compliance import evidence to-correct.csv
    """
    from compliance import api

    count = api.write_quarantine(store_of(ctx), output, batch_id)
    click.echo(f"{count} quarantined row{'s' if count != 1 else ''} written to {output}.")


@quarantine.command("dismiss")
@click.argument("entry_id", type=RECORD_NUMBER)
@click.option("--reason", required=True, help="Why the row will not be corrected (kept with the entry)")
@click.pass_context
def quarantine_dismiss(ctx: click.Context, entry_id: int, reason: str) -> None:
    """Close a quarantined row that will not be corrected (e.g. a test row); the entry is kept.

    \b
    Example:
        compliance quarantine dismiss 3 --reason "test row from the partner's export"
    """
    store = store_of(ctx)
    store.require_current()
    row = store.dismiss_quarantined(entry_id, reason)
    click.echo(f"entry {row.id} dismissed.")


# ---------------------------------------------------------------------------------------------------------------------
# contracts


@click.group()
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
    store = store_of(ctx)
    store.require_current()
    for c in store.contracts():
        click.echo(f"{c.id:<28} {c.status:<10} {c.supplier.name:<32} {', '.join(c.brands):<24} "
                   f"{c.period.start} to {c.period.end}")
