"""Commands for labour agencies and recruiters: where each works, what involves it, and its sites to monitor."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import click

from compliance.cli.common import as_of_option, json_option, store_of


@click.group()
def agencies() -> None:
    """Labour agencies and recruiters named on evidence or declared on facilities (names match in any spelling)."""


@agencies.command("list")
@as_of_option
@json_option
@click.pass_context
def agencies_list(ctx: click.Context, as_of: dt.date | None, as_json: bool) -> None:
    """List every agency with its roles, sites and evidence records.

    \b
    Example:
        compliance agencies list --as-of 2025-06-30
    """
    from compliance import api

    known = api.agencies(store_of(ctx), as_of or dt.date.today())
    rows = [{"agency": a.name, "key": a.key, "spellings": sorted(a.spellings), "roles": a.roles,
             "facilities": a.facilities, "evidence": len(a.evidence)} for a in known.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['agency']}  ({', '.join(row['roles']) or 'role not stated'}): "
                   f"{len(row['facilities'])} site{'s' if len(row['facilities']) != 1 else ''}, "
                   f"{row['evidence']} evidence record{'s' if row['evidence'] != 1 else ''}")
        if len(row["spellings"]) > 1:
            click.echo(click.style(f"    also written: {'; '.join(s for s in row['spellings'] if s != row['agency'])}",
                                   dim=True))
    click.echo(f"{len(rows)} agenc{'y' if len(rows) == 1 else 'ies'}.")


@agencies.command("show")
@click.argument("name")
@as_of_option
@json_option
@click.pass_context
def agencies_show(ctx: click.Context, name: str, as_of: dt.date | None, as_json: bool) -> None:
    """Show what involves one agency: facilities, contracts, evidence, current findings and monitoring advice.

    NAME matches any spelling of the agency's name (case, punctuation and the legal form do not count).

    \b
    Example:
        compliance agencies show "Example Manpower Sdn Bhd" --as-of 2025-06-30
    """
    from compliance import api

    report = api.agency(store_of(ctx), name, as_of or dt.date.today())
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.secho(f"{report['agency']} ({', '.join(report['roles']) or 'role not stated'})", bold=True)
    if len(report["spellings"]) > 1:
        click.echo(f"  written as: {'; '.join(report['spellings'])}")
    click.echo("Facilities:")
    for f in report["facilities"]:
        how = ", ".join(([f"{f['evidence']} evidence"] if f["evidence"] else []) + (["declared"] if f["declared"] else []))
        click.echo(f"  {f['id']}  {f['name'] or '(not in the store)'}"
                   + (f" ({f['country']})" if f["country"] else "") + f"  [{how}]")
    click.echo(f"Contracts: {', '.join(report['contracts']) or '-'}")
    click.echo("Evidence:")
    for e in report["evidence"]:
        click.echo(f"  {e['id']}  {e['type']}  {e['date']}  {e['role'] or 'role not stated'}  "
                   f"{e['facility_id'] or e['contract_id']}")
    click.echo("Current findings:" if report["findings"] else "Current findings: none")
    for f in report["findings"]:
        verdict = "" if f["verdict"] == "breach" else f" ({f['verdict'].replace('_', ' ')})"
        click.echo(f"  {f['severity']:<11} {f['rule_id']:<8} {f['title']}{verdict}  [{f['contract_id']}]")
    for m in report["monitoring"]:
        click.secho("Monitoring recommended:", bold=True)
        for line in textwrap.wrap(m["reason"], width=100):
            click.echo(f"  {line}")
