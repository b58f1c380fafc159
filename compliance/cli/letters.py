"""Commands for letters to contractors: draft (checked for worker safety, stored), list, show, write, approve, sent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from compliance.cli.common import (
    formats_callback,
    json_option,
    parse_date,
    rules_option,
    store_of,
    templates_option,
)

format_option = click.option("--format", "formats", default="html,pdf,docx,txt", show_default=True,
                             callback=formats_callback(("html", "pdf", "docx", "txt")),
                             help="Formats to write, comma-separated: html, pdf, docx, txt")
out_option = click.option("--out", "out_dir", default="letters", show_default=True,
                          type=click.Path(file_okay=False, path_type=Path), help="Folder the files are written to")


@click.group()
def letter() -> None:
    """Letters to contractors (L1-L6): draft, approve, mark sent.

    A draft is checked before anything is written: it may not reveal a worker (no pseudonyms or identifiers, no
    content of restricted or worker-safety records, no counts below 5, worker events by month only, no
    monitoring partner without consent). A failing draft is not stored or written (exit 9).
    """


@letter.command("draft")
@click.argument("contract_id")
@click.option("--type", "kind", required=True, metavar="TYPE",
              type=click.Choice(["L1", "L2", "L2-P", "L3", "L4", "L5", "L6"], case_sensitive=False),
              help="L1 information request, L2 notice of concern, L2-P Priority notice, L3 reminder, L4 escalation "
                   "notice, L5 notice of default, L6 closure")
@click.option("--finding", "finding_keys", multiple=True, metavar="KEY",
              help="Cite this finding (repeatable) [default: the contract's findings this letter type is for]")
@click.option("--facility", "facility_id", metavar="ID", help="Only findings at this facility")
@click.option("--date", "dated", callback=parse_date, metavar="DATE", help="The letter's date [default: today]")
@templates_option
@click.option("--language", default="en", show_default=True, help="Language: letters/TYPE.LANG.html.j2 is used "
              "when your folder has it, and dates are written in it")
@click.option("--contact", default="", envvar="COMPLIANCE_LETTER_CONTACT",
              help="Named officer who signs and answers [env COMPLIANCE_LETTER_CONTACT]")
@click.option("--reference-prefix", "prefix", default="HRDD", show_default=True,
              help="Letters are numbered PREFIX-YEAR-NNNN")
@click.option("--groups", "groups_file", default="contracts/working-groups.yaml", show_default=True,
              envvar="COMPLIANCE_WORKING_GROUPS", type=click.Path(dir_okay=False, path_type=Path),
              help="Working groups file, for L4 and L5 [env COMPLIANCE_WORKING_GROUPS]")
@rules_option
@out_option
@format_option
@click.pass_context
def letter_draft(ctx: click.Context, contract_id: str, kind: str, finding_keys: tuple[str, ...],
                 facility_id: str | None, dated: dt.date | None, templates: Path | None, language: str, contact: str,
                 prefix: str, groups_file: Path, rules_dir: Path, out_dir: Path, formats: list[str]) -> None:
    """Draft a letter to a contract's contractor from its stored findings, and write it.

    The letter cites the findings its type is for (run `compliance run` first), combines them per contractor,
    numbers the required actions with calendar dates (from each finding's severity and the contract's or its
    clause set's deadlines, working days where they say so) and is stored as a draft with its reference.

    \b
    Example:
        compliance letter draft NDNA-CALLOFF-2024-017 --type L2 --contact "J. Smith, Contracts Manager"
        compliance letter draft NDNA-CALLOFF-2024-017 --type L2-P --templates our-templates --format pdf,docx
    """
    from compliance import api

    kind = kind.upper()
    library = api.load_library([rules_dir])
    row = api.draft_letter(store_of(ctx), library, contract_id, kind, dated or dt.date.today(), finding_keys,
                           facility_id, templates, language, contact, prefix,
                           groups_file if groups_file.exists() else None)
    paths = api.write_letter(row, out_dir, formats, templates)
    click.echo(f"Letter {row.reference} ({kind}, {len(row.finding_keys)} finding"
               f"{'s' if len(row.finding_keys) != 1 else ''}) drafted for {row.contract_id}; redaction check passed.")
    for path in paths:
        click.echo(f"  {path}")
    click.echo(f"Next: review it, then `compliance letter approve {row.reference}` and, once sent, "
               f"`compliance letter sent {row.reference}`.")


@letter.command("list")
@click.option("--contract", "contract_id", metavar="ID", help="Only this contract's letters")
@click.option("--state", type=click.Choice(["draft", "approved", "sent"]), help="Only letters in this state")
@json_option
@click.pass_context
def letter_list(ctx: click.Context, contract_id: str | None, state: str | None, as_json: bool) -> None:
    """List stored letters: reference, type, contract, date, state and findings cited.

    \b
    Example:
        compliance letter list --contract NDNA-CALLOFF-2024-017 --state draft
    """
    rows = store_of(ctx).letters(contract_id, state)
    if as_json:
        click.echo(json.dumps([_summary(row) for row in rows], indent=2))
        return
    for row in rows:
        who = row.sent_by if row.state == "sent" else row.approved_by if row.state == "approved" else row.created_by
        click.echo(f"{row.reference:<16} {row.letter_type:<4} {row.contract_id:<24} {row.dated}  {row.state:<8} "
                   f"{len(row.finding_keys):>3} findings  ({who})")
    if not rows:
        click.echo("No letters.")


def _summary(row: object) -> dict[str, object]:
    fields = ("reference", "letter_type", "contract_id", "supplier_id", "facility_id", "finding_keys", "dated",
              "template", "template_hash", "software_version", "content_hash", "redaction", "state", "created_at",
              "created_by", "approved_at", "approved_by", "sent_at", "sent_by")
    return {name: (value.isoformat() if isinstance(value := getattr(row, name), (dt.date, dt.datetime)) else value)
            for name in fields}


@letter.command("show")
@click.argument("reference")
@json_option
@click.pass_context
def letter_show(ctx: click.Context, reference: str, as_json: bool) -> None:
    """Print a stored letter as text, with its record (findings, template, hash, state).

    \b
    Example:
        compliance letter show HRDD-2025-0001
    """
    from compliance import api

    row = store_of(ctx).letter(reference)
    if as_json:
        click.echo(json.dumps(_summary(row), indent=2))
        return
    click.echo(f"{row.reference} {row.letter_type} {row.state}; template {row.template} ({row.template_hash[:12]}); "
               f"sha256 {row.content_hash}")
    click.echo(f"Findings: {', '.join(row.finding_keys)}")
    click.echo("")
    click.echo(api.letter_text(row), nl=False)


@letter.command("write")
@click.argument("reference")
@out_option
@format_option
@templates_option
@click.pass_context
def letter_write(ctx: click.Context, reference: str, out_dir: Path, formats: list[str], templates: Path | None
                 ) -> None:
    """Write a stored letter's files again (the stored text, exactly as checked and approved).

    \b
    Example:
        compliance letter write HRDD-2025-0001 --format pdf
    """
    from compliance import api

    for path in api.write_letter(store_of(ctx).letter(reference), out_dir, formats, templates):
        click.echo(str(path))


@letter.command("approve")
@click.argument("reference")
@click.option("--by", "actor", help="Who approves it [default: the current user]")
@click.pass_context
def letter_approve(ctx: click.Context, reference: str, actor: str | None) -> None:
    """Approve a draft letter for sending (an L5 notice of default after legal review).

    \b
    Example:
        compliance letter approve HRDD-2025-0001 --by "A. Officer"
    """
    row = store_of(ctx).approve_letter(reference, actor)
    click.echo(f"Letter {row.reference} approved by {row.approved_by}.")


@letter.command("sent")
@click.argument("reference")
@click.option("--by", "actor", help="Who sent it [default: the current user]")
@click.pass_context
def letter_sent(ctx: click.Context, reference: str, actor: str | None) -> None:
    """Mark an approved letter as sent: the findings it cites move to "notified" (history records the letter).

    \b
    Example:
        compliance letter sent HRDD-2025-0001
    """
    row, moved = store_of(ctx).send_letter(reference, actor)
    click.echo(f"Letter {row.reference} marked sent by {row.sent_by}; {len(moved)} finding"
               f"{'s' if len(moved) != 1 else ''} moved to notified.")
    for key in moved:
        click.echo(f"  {key}")
