"""Commands for evidence: templates officers fill in, the evidence types, a record's versions, and erasure."""

from __future__ import annotations

from pathlib import Path

import click

from compliance.cli.common import store_of


@click.group()
def evidence() -> None:
    """Evidence: templates for officers, the types, where a stored record came from, and erasure."""


@evidence.command("template")
@click.argument("type_name", metavar="TYPE")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="File to write [default: TYPE-template.FORMAT in the current directory]")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists")
def evidence_template(type_name: str, fmt: str, output: Path | None, force: bool) -> None:
    """Write a template for one evidence type: a header row and one example row.

    The example row (id EXAMPLE-...) shows what to fill in; the import skips rows whose id starts with
    EXAMPLE-. An XLSX template also has dropdowns for fixed values and a "Field guide" sheet.
    `compliance evidence types` lists the types.

    \b
    Example:
        compliance evidence template working_hours
        compliance evidence template grievance --format xlsx -o grievances.xlsx
        compliance import evidence working_hours-template.csv
    """
    from compliance import api

    api.check_evidence_type(type_name)  # an unknown type is refused before anything else
    output = output or Path(f"{type_name}-template.{fmt}")
    if output.exists() and not force:
        raise click.UsageError(f"{output} already exists; use --force to overwrite it, or -o to write another file")
    if not output.parent.is_dir():
        raise click.UsageError(f"cannot write {output}: directory {output.parent} does not exist")
    written = api.write_evidence_template(type_name, fmt, output)
    click.echo(f"Wrote {output}: the {type_name} template, {written.columns} columns and one example row "
               f"({written.example_id}).")
    click.echo(written.note)
    click.echo(f"To import it once filled in: compliance import evidence {output}")


@evidence.command("types")
def evidence_types() -> None:
    """List the evidence types, each with what a record of it holds.

    \b
    Example:
        compliance evidence types
    """
    from compliance import api

    types = api.evidence_types()
    width = max(len(name) for name, _description in types)
    for name, description in types:
        click.echo(f"{name:<{width}}  {description}")


@evidence.command("history")
@click.argument("evidence_id")
@click.pass_context
def evidence_history(ctx: click.Context, evidence_id: str) -> None:
    """Show every version of an evidence record: file and row, import batch, who imported it and when,
    its content hash, and the span of time the store held it.

    \b
    Example:
        compliance evidence history WV-MX-0437
    """


    store = store_of(ctx)
    store.require_current()
    for version in store.evidence_versions(evidence_id):
        until = f"until {version['known_until']:%Y-%m-%d %H:%M:%S} UTC" if version["known_until"] else "current"
        click.echo(f"version {version['version']}: {version['source_file']}, row {version['source_row'] or '-'}; "
                   f"batch {version['batch_id']} imported by {version['imported_by']} at "
                   f"{version['known_from']:%Y-%m-%d %H:%M:%S} UTC ({until}); sha256 {version['content_hash']}")
        for name, value in version["payload"].items():
            if value not in (None, [], ""):
                click.echo(f"    {name}: {value}")


def _country(value: str | None) -> str | None:
    if value is not None and not (len(value) == 2 and value.isascii() and value.isalpha()):
        raise click.BadParameter(f"{value!r} is not a country code; use two letters, e.g. TH")
    return value.upper() if value else None


@evidence.command("erase")
@click.argument("value", required=False)
@click.option("--record", "record_id", metavar="ID", help="Erase this evidence record instead of a value")
@click.option("--reason", required=True, help="Why (e.g. the erasure request's reference); never the value itself")
@click.option("--country", metavar="CC", callback=lambda _ctx, _param, value: _country(value),
              help="Read a local phone number VALUE in this country (e.g. TH)")
@click.pass_context
def evidence_erase(ctx: click.Context, value: str | None, record_id: str | None, reason: str,
                   country: str | None) -> None:
    """Erase a raw value (a worker's name, phone, e-mail, id number...) or a whole evidence record from every table
    that may hold it: evidence and its earlier versions, the quarantine, findings, run snapshots, file names.

    The value is found however it is spelt (case, accents, dashes, spaces; a phone number in any format of the
    same number) and replaced by [erased]; an evidence id holding it is renamed ERASED-... everywhere. The erasure
    is logged (who, when, what kind, the reason, rows changed; never the value) in a chained log that
    'compliance audit verify' checks. Without VALUE, the value is asked for without echo (kept out of the shell's
    history).

    \b
    Example:
        compliance evidence erase --reason "erasure request ER-2025-004"
        compliance evidence erase --record GRV-2025-0113 --reason "entered in error (ticket 5512)"
    """
    from compliance import api

    if value is not None and record_id is not None:
        raise click.UsageError("give a VALUE or --record ID, not both")
    store = store_of(ctx)
    if record_id is not None:
        entry = api.erase_record(store, record_id, reason)
    else:
        if value is None:
            value = click.prompt("Value to erase", hide_input=True, err=True)
        entry = api.erase_value(store, value, reason, country)
    changes = ", ".join(f"{table} {count}" for table, count in entry.changed.items()) or "nothing held it"
    click.echo(f"Erased {entry.kind}: {changes}. Logged as erasure {entry.seq} by {entry.actor} at {entry.at}.")
