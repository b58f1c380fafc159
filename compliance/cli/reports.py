"""Commands for reports: the renewal dossier of a contract and the portfolio report."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from compliance.cli.common import formats_callback, store_of, templates_option
from compliance.cli.escalation import escalation_options
from compliance.errors import ExitCode

DOSSIER_FORMATS = ("html", "pdf")
PORTFOLIO_FORMATS = ("html", "pdf", "xlsx")


def report_options(formats: tuple[str, ...], default: str) -> Any:
    """--out, --format and --templates, with --as-of, --rules and --groups."""
    def decorate(command: Any) -> Any:
        command = escalation_options(command)
        command = templates_option(command)
        command = click.option("--format", "fmt", default=default, show_default=True, metavar="FORMATS",
                               callback=formats_callback(formats),
                               help=f"Formats to write, separated by commas: {', '.join(formats)}")(command)
        return click.option("--out", "out_dir", default=".", show_default=True,
                            type=click.Path(file_okay=False, path_type=Path),
                            help="Folder to write the files in (made if missing)")(command)
    return decorate


def _finish(rendered: Any, out_dir: Path, formats: list[str]) -> None:
    """Write the checked report, say where, and report engine faults of the escalation check (exit 4)."""
    from compliance import api

    for path in api.write_report(rendered, out_dir, formats):
        click.echo(f"Wrote {path}")
    if "recommendation" in rendered.context:
        click.echo(f"Recommendation: {rendered.context['recommendation']['label']} (the engine recommends; the "
                   "officer decides).")
    for fault in rendered.faults:
        click.secho(f"  {fault}", fg="red", bold=True, err=True)
    if rendered.faults:
        sys.exit(ExitCode.ENGINE_FAULT)


@click.group()
def report() -> None:
    """Reports for people: the renewal dossier of a contract and the portfolio report."""


@report.command("dossier")
@click.argument("contract_id")
@report_options(DOSSIER_FORMATS, "html,pdf")
@click.pass_context
def report_dossier(ctx: click.Context, contract_id: str, out_dir: Path, fmt: list[str], templates: Path | None,
                   rules_dir: Path, groups_file: Path, as_of: dt.date | None) -> None:
    """Write the renewal dossier of a contract: its conditions, transparency, facilities, findings with their age,
    overdue corrective action, unremedied harm, working-group status and a recommendation with its reasons.

    The engine recommends (renew, renew with conditions, defer pending working-group engagement, or legal review);
    the officer decides. The dossier reads the findings stored by `compliance run`. It is checked for anything that
    could identify a worker before it is written (exit 9 if it fails; nothing is written).

    \b
    Example:
        compliance run --as-of 2025-06-30
        compliance report dossier NDNA-CALLOFF-2024-017 --as-of 2025-06-30 --out reports/
    """
    from compliance import api

    rendered = api.dossier(store_of(ctx), api.load_library([rules_dir]), groups_file, contract_id,
                           as_of or dt.date.today(), templates)
    _finish(rendered, out_dir, fmt)


@report.command("portfolio")
@report_options(PORTFOLIO_FORMATS, "html,xlsx")
@click.pass_context
def report_portfolio(ctx: click.Context, out_dir: Path, fmt: list[str], templates: Path | None, rules_dir: Path,
                     groups_file: Path, as_of: dt.date | None) -> None:
    """Write the portfolio report across all contracts: brand x ILO category, open findings by severity and age,
    working-group case load, findings over time and each contract's recommendation.

    XLSX has one sheet per table and a sheet of the open findings (no messages, no evidence ids). Checked for
    anything that could identify a worker before it is written (exit 9 if it fails; nothing is written).

    \b
    Example:
        compliance report portfolio --as-of 2025-06-30 --out reports/ --format html,xlsx
    """
    from compliance import api

    rendered = api.portfolio(store_of(ctx), api.load_library([rules_dir]), groups_file, as_of or dt.date.today(),
                             templates)
    _finish(rendered, out_dir, fmt)
