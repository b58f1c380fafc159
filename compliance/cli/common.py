"""What the commands share: option parsers and options written once, and the store of the invocation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from compliance.domain.models import MAX_WHOLE_NUMBER

#: The dates a command accepts: wide enough for any contract, narrow enough that deadlines and windows computed
#: from them stay dates.
EARLIEST_DATE, LATEST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
#: Record numbers (quarantine entries, import batches): positive and within the databases' integers.
RECORD_NUMBER = click.IntRange(1, MAX_WHOLE_NUMBER)


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2025-06-30") from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise click.BadParameter(f"{value} is outside the dates compliance works with ({EARLIEST_DATE} to "
                                 f"{LATEST_DATE})")
    return day


def parse_moment(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime | None:
    """A moment in UTC: a date means the end of that day; a date and time without a zone is UTC."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if not EARLIEST_DATE <= day <= LATEST_DATE:
                raise ValueError
            return dt.datetime.combine(day, dt.time.max, tzinfo=dt.timezone.utc)
        moment = dt.datetime.fromisoformat(value)
        if not EARLIEST_DATE <= moment.date() <= LATEST_DATE:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or a date and time from {EARLIEST_DATE} to {LATEST_DATE}; "
                                 "use YYYY-MM-DD or "
                                 "YYYY-MM-DDTHH:MM:SS (UTC unless a zone is given), e.g. 2025-06-30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


# Options several commands share, written once.
as_of_option = click.option("--as-of", callback=parse_date, metavar="DATE",
                            help="Evaluate as of this date (YYYY-MM-DD) [default: today]")
known_at_option = click.option(
    "--known-at", callback=parse_moment, metavar="WHEN",
    help="Read the store as it was at this moment: records imported later are left out, corrected ones are read "
         "in their version then (a date means the end of that day, UTC) [default: now]")
rules_option = click.option("--rules", "rules_dir", default="rules", show_default=True, envvar="COMPLIANCE_RULES",
                            type=click.Path(exists=True, path_type=Path),
                            help="Rule library directory [env COMPLIANCE_RULES]")


def formats_callback(allowed: tuple[str, ...]) -> Any:
    """A --format callback: a comma-separated list of `allowed` formats, each once, in the order given."""
    def parse(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
        formats = [f.strip().lower() for f in value.split(",") if f.strip()]
        unknown = [f for f in formats if f not in allowed]
        if unknown or not formats:
            raise click.BadParameter(f"{value!r}: expected one or more of {', '.join(allowed)}, separated by commas, "
                                     f"e.g. {','.join(allowed)}")
        return list(dict.fromkeys(formats))
    return parse


templates_option = click.option(
    "--templates", type=click.Path(exists=True, file_okay=False, path_type=Path), envvar="COMPLIANCE_TEMPLATES",
    help="Your institution's template folder (overrides the shipped templates; its images, fonts and stylesheets "
         "may appear in documents) [env COMPLIANCE_TEMPLATES]")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of text")




def store_of(ctx: click.Context) -> Any:
    """The store named by --db (or its environment variable), closed when the command ends."""
    from compliance import api

    store = api.open_store(ctx.obj["db"])
    ctx.call_on_close(store.close)
    return store
