"""Commands for rule authors: validate, list, show, test, coverage, schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from compliance.cli.common import json_option, rules_option, store_of
from compliance.domain.models import FPRW as FPRW_CATEGORIES
from compliance.errors import ExitCode

# ---------------------------------------------------------------------------------------------------------------------
# rules


@click.group()
def rules() -> None:
    """Work with the rule library (contract conditions as YAML)."""


@rules.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--sizes", is_flag=True, help="Also list how many engine rules each rule compiles to, largest first")
def rules_validate(paths: tuple[Path, ...], sizes: bool) -> None:
    """Check rule files and report every problem, each with its file and line.

    The library is also checked against the engine's limits: at most 256 engine rules (one per alternative of a
    rule's conditions), and a ruleset the engine itself agrees to create.

    \b
    Example:
        compliance rules validate rules/
        compliance rules validate --sizes
    """
    from compliance import api

    library = api.load_library(paths or (Path("rules"),))
    by_rule = api.engine_rule_sizes(library)
    engine_rules = sum(by_rule.values())
    if sizes:
        for rule_id, size in sorted(by_rule.items(), key=lambda item: (-item[1], item[0])):
            click.echo(f"{rule_id:<12} {size:>4} engine rule{'s' if size != 1 else ''}")
    click.echo(f"{len(library.rules)} rules, {len(library.clause_sets)} clause sets and {len(library.cases)} test "
               f"cases in {len(library.files)} files are valid ({engine_rules} engine rules).")


@rules.command("list")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--area", help="Only rules of this area (the rule file's name, e.g. forced-labour)")
@click.option("--fprw", type=click.Choice([c.value for c in FPRW_CATEGORIES]), help="Only this ILO FPRW category")
@click.option("--severity", type=click.Choice(["priority", "major", "minor", "observation"]))
@json_option
def rules_list(paths: tuple[Path, ...], area: str | None, fprw: str | None, severity: str | None,
               as_json: bool) -> None:
    """List the rules: id, severity, area, ILO category and title.

    \b
    Example:
        compliance rules list --fprw forced_labour
    """
    from compliance import api

    library = api.load_library(paths or (Path("rules"),))
    chosen = [r for r in library.rules
              if (area is None or library.area(r.id) == area)
              and (fprw is None or fprw in [c.value for c in r.fprw])
              and (severity is None or r.severity.value == severity)]
    if as_json:
        click.echo(json.dumps([{"id": r.id, "version": r.version, "title": r.title, "area": library.area(r.id),
                                "severity": r.severity.value, "fprw": [c.value for c in r.fprw],
                                "hrdd_objectives": r.hrdd_objectives, "clause": r.clause} for r in chosen], indent=2))
        return
    rows = [(r.id, r.severity.code, library.area(r.id), ",".join(c.value for c in r.fprw) or "-", r.title)
            for r in chosen]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(4)]
    for row in rows:
        click.echo(" ".join(f"{cell:<{width}}" for cell, width in zip(row, widths)) + f" {row[4]}")
    click.echo(f"{len(chosen)} of {len(library.rules)} rules.")


@rules.command("show")
@click.argument("rule_id")
@click.option("--facility", "facility_id", metavar="OSID",
              help="Also show each parameter's value at this facility (from the store), with where it came from")
@click.option("--contract", "contract_id", metavar="ID", help="With --facility: for this contract (its clause set and "
              "its own overrides)")
@rules_option
@click.pass_context
def rules_show(ctx: click.Context, rule_id: str, facility_id: str | None, contract_id: str | None,
               rules_dir: Path) -> None:
    """Show a rule in plain language: what it checks, which clause, which evidence it reads.

    With --facility, each parameter's value there and the level it came from: the contract's override, the
    jurisdiction pack of the facility's country (with its source), the contract's clause set or the rule's default.

    \b
    Example:
        compliance rules show GR-03
        compliance rules show YS-04 --facility CN2019155M1PSK2 --contract C-1
    """
    from compliance import api

    if contract_id is not None and facility_id is None:
        raise click.UsageError("--contract needs --facility")
    library = api.load_library([rules_dir])
    text = api.describe_rule(library, rule_id)
    if facility_id is None:
        click.echo(text, nl=False)
        return
    facility, settings = api.parameters_at(store_of(ctx), library, rule_id, facility_id, contract_id)
    click.echo(text, nl=False)
    place = f"{facility.id} ({facility.name}, {facility.country})" + (f" for contract {contract_id}"
                                                                     if contract_id else "")
    if not settings:
        click.echo(f"{rule_id} has no parameters to set at {place}.")
        return
    click.echo(f"Parameters at {place}:")
    for name, setting in settings.items():
        click.echo(f"  - {name} = {setting.value}  [{setting.level}] {setting.why}")


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as JUnit XML, for CI")
def rules_test(paths: tuple[Path, ...], junit_file: Path | None) -> None:
    """Run the rule tests (files with 'cases:' beside the rules); exit 1 if any fails.

    \b
    Example:
        compliance rules test rules/ --junit rule-tests.xml
    """
    from compliance import api

    results = api.test_rules(api.load_library(paths or (Path("rules"),)), junit_file)
    for r in results:
        if not r.passed:
            click.echo(f"FAIL {r.file}:{r.line}: {r.case.rule}: {r.case.name}: {r.explain()}")
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results)} cases for {len({r.case.rule for r in results})} rules: {len(results) - failed} passed, "
               f"{failed} failed.")
    if failed:
        sys.exit(ExitCode.FINDINGS)


@rules.command("coverage")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--catalogue", "catalogue", is_flag=True,
              help="List the 40 catalogue entries, the rules that implement each and every deliberate difference "
                   "(a Markdown table; with --json, the same as data).")
@json_option
def rules_coverage(paths: tuple[Path, ...], catalogue: bool, as_json: bool) -> None:
    """Show which ILO categories, HRDD objectives and clauses have rules, and which rules lack tests.

    A rule counts as tested when it has a case that fires and a near miss that must not.

    \b
    Example:
        compliance rules coverage
        compliance rules coverage --catalogue
    """
    from compliance import api

    library = api.load_library(paths or (Path("rules"),))
    if catalogue:
        click.echo(json.dumps(api.catalogue_coverage(library), indent=2) if as_json
                   else api.catalogue_table(library), nl=False if not as_json else True)
        return
    report = api.rule_coverage(library)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    titles = {"fprw": "ILO FPRW categories", "hrdd_objective": "UKUPC HRDD objectives", "clause": "Clauses"}
    for kind, entries in report.items():
        click.secho(titles[kind], bold=True)
        for name, entry in entries.items():
            rules_text = ", ".join(entry["rules"]) or "NO RULES"
            untested = f"; untested: {', '.join(entry['untested'])}" if entry["untested"] else ""
            click.echo(f"  {name}: {rules_text}{untested}")


@rules.command("schema")
def rules_schema() -> None:
    """Print the rule language's JSON schema, generated from its definition so it cannot drift.

    \b
    Example:
        compliance rules schema > rule-schema.json
    """
    from compliance import api

    click.echo(json.dumps(api.rule_schema(), indent=2))
