"""The renewal dossier and the portfolio report, as an officer makes them from the shipped example data.

One store is prepared for the module (the example contracts, facilities and evidence, three monthly runs and one
officer's decision), through the command line on a real SQLite file; each test reads what it wrote.
"""

from __future__ import annotations

import csv
import datetime as dt
import html.parser
import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from compliance import api
from compliance.cli import cli
from compliance.documents import charts, renewal_dossier, report_data, reports
from compliance.domain.models import FPRW, Severity
from compliance.errors import InputError
from compliance.escalation import renewal
from compliance.escalation.renewal import Status, recommend
from compliance.escalation.routing import Policy
from compliance.rules import spec
from compliance.store import Store, normalise_url

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "contracts"
RULES = str(ROOT / "rules")
GROUPS = str(DATA / "working-groups.yaml")
AS_OF = dt.date(2025, 6, 30)
RUN_DATES = ("2025-04-30", "2025-05-31", "2025-06-30")
COMMON = ["--as-of", AS_OF.isoformat(), "--rules", RULES, "--groups", GROUPS]
POSTGRES_URL = os.environ.get("COMPLIANCE_TEST_DATABASE_URL")
#: A contract for each outcome the example data gives (with the officer's decision the fixture records).
DEFERRED, LEGAL, CONDITIONS, EXPIRED = ("NDNA-CALLOFF-2024-017", "NET-CALLOFF-2024-088", "AV-CALLOFF-2022-046",
                                        "NDNA-CALLOFF-2023-002")


def invoke(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--db", url, *args])
    assert result.exit_code == code, result.output
    return result.output


@dataclass
class Prepared:
    url: str
    out: Path
    runs: list[dict[str, Any]] = field(default_factory=list)  # `run --json` of each run
    decided: str = ""  # the finding an officer decided E4 for
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)  # contract id -> dossier context
    portfolio: dict[str, Any] = field(default_factory=dict)

    def dossier(self, contract_id: str, fmt: str = "html") -> Path:
        return self.out / f"dossier-{contract_id}-{AS_OF}.{fmt}"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    base = tmp_path_factory.mktemp("reports")
    p = Prepared(f"sqlite:///{base / 'store.db'}", base / "out")
    invoke(p.url, "db", "init")
    invoke(p.url, "import", "contracts", str(DATA / "contracts.yaml"))
    invoke(p.url, "import", "facilities", str(DATA / "facilities.yaml"))
    invoke(p.url, "import", "evidence", *sorted(str(f) for f in (DATA / "evidence").iterdir()))
    for day in RUN_DATES:
        p.runs.append(json.loads(invoke(p.url, "run", "--as-of", day, "--rules", RULES, "--json")))
    recommendations = json.loads(invoke(p.url, "escalations", "list", "--json", *COMMON))
    p.decided = next(r["finding_key"] for r in recommendations if r["contract_id"] == LEGAL
                     and r["severity"] == "minor")
    invoke(p.url, "escalations", "decide", p.decided, "--level", "E4", "--reason", "Breach notice after review",
           *COMMON)
    out = invoke(p.url, "report", "dossier", LEGAL, "--out", str(p.out), *COMMON)  # html and pdf by default
    assert out == (f"Wrote {p.dossier(LEGAL)}\nWrote {p.dossier(LEGAL, 'pdf')}\nRecommendation: Legal review for "
                   "contractual remedy (the engine recommends; the officer decides).\n")
    invoke(p.url, "report", "dossier", DEFERRED, "--out", str(p.out), "--format", "html", *COMMON)
    out = invoke(p.url, "report", "portfolio", "--out", str(p.out), *COMMON)  # html and xlsx by default
    assert out == f"Wrote {p.out / f'portfolio-{AS_OF}.html'}\nWrote {p.out / f'portfolio-{AS_OF}.xlsx'}\n"
    # The other contracts through the API, with one escalation report for all.
    store = Store(p.url)
    try:
        library = api.load_library([Path(RULES)])
        report = api.escalations(store, library, Path(GROUPS), AS_OF)
        for contract in store.contracts():
            rendered = api.dossier(store, library, Path(GROUPS), contract.id, AS_OF, report=report)
            p.contexts[contract.id] = rendered.context
            if not p.dossier(contract.id).exists():
                reports.write(rendered, p.out, ["html"])
        p.portfolio = api.portfolio(store, library, Path(GROUPS), AS_OF, report=report).context
    finally:
        store.close()
    return p


# ---------------------------------------------------------------------------------------------------------------------
# The recommendation


def status(number: int = 1, severity: Severity = Severity.MAJOR, **fields: Any) -> Status:
    return Status(number=number, title=f"Problem {number}", severity=severity, **fields)


POLICY = Policy(priority_remedy_days=90)


@pytest.mark.parametrize("findings, outcome", [
    # legal review: E4/E5 recommended (not rejected) or decided; a Priority finding open too long
    ([status(recommended="E4")], "legal_review"),
    ([status(decided="E5")], "legal_review"),
    ([status(severity=Severity.PRIORITY, age_days=91, recommended="E3")], "legal_review"),
    # ...and not: a rejected E4, a Priority finding open exactly the allowed time
    ([status(recommended="E4", rejected=True)], "renew_with_conditions"),
    ([status(severity=Severity.PRIORITY, age_days=90, recommended="E3")], "defer"),
    # defer: a Priority finding open, a referral to a working group open
    ([status(severity=Severity.PRIORITY, recommended="E2")], "defer"),
    ([status(recommended="E3", groups=("Cisco working group",))], "defer"),
    ([status(decided="E3")], "defer"),
    # ...and not: a rejected referral, an E2 Major
    ([status(recommended="E3", rejected=True)], "renew_with_conditions"),
    ([status(recommended="E2")], "renew_with_conditions"),
    # renew with conditions: Major or Minor open, overdue corrective action, unremedied harm
    ([status(severity=Severity.MINOR, recommended="E2")], "renew_with_conditions"),
    ([status(severity=Severity.OBSERVATION, overdue_plan=True)], "renew_with_conditions"),
    ([status(severity=Severity.OBSERVATION, harm="1,000 THB")], "renew_with_conditions"),
    # renew: nothing open, or observations only
    ([], "renew"),
    ([status(severity=Severity.OBSERVATION, recommended="E0"), status(2, Severity.OBSERVATION, recommended="E1")],
     "renew"),
])
def test_the_recommendation_takes_the_most_cautious_outcome_that_holds(findings: list[Status], outcome: str):
    result = recommend(findings, AS_OF, POLICY)
    assert result.outcome == outcome, result.reasons
    assert result.label == renewal.OUTCOMES[outcome]
    assert result.reasons and all(r[0].isupper() and r.endswith(".") for r in result.reasons)


def test_each_reason_names_its_finding_and_why():
    result = recommend([status(1, Severity.PRIORITY, age_days=120, recommended="E3", groups=("Cisco working group",)),
                        status(2, recommended="E4"), status(3, decided="E5", rejected=True)], AS_OF, POLICY)
    assert result.reasons == [
        "Priority finding 1 (Problem 1) has been open for 120 days since it was first detected, longer than the 90 "
        "days the policy allows for its remedy.",
        "Finding 2 (Problem 2) is at E4 (contractual remedy) as the engine recommends: a contractual remedy needs "
        "legal review before anything is done.",
        "Finding 3 (Problem 3) is at E5 (last resort (termination, performance notice)) as an officer decided: a "
        "contractual remedy needs legal review before anything is done.",
    ]
    deferred = recommend([status(1, Severity.PRIORITY, recommended="E3", groups=("Apple working group",)),
                          status(2, recommended="E3", groups=("Cisco working group", "FoA group"))], AS_OF, POLICY)
    assert deferred.reasons == [
        "Priority finding 1 (Problem 1) is open and referred to Apple working group.",
        "Finding 2 (Problem 2) is referred to Cisco working group and FoA group (E3, working-group referral) and "
        "still open."]


def test_conditions_are_smart_with_dates():
    result = recommend([status(1, Severity.PRIORITY), status(2, Severity.MAJOR), status(3, Severity.MINOR,
                        harm="6,600,000 THB"), status(4, Severity.MINOR, overdue_plan=True),
                        status(5, verdict="due_diligence_shown"), status(6, verdict="insufficient_evidence"),
                        status(7, Severity.OBSERVATION)], AS_OF, POLICY)
    assert [(c["finding"], c["by"]) for c in result.conditions] == [
        (1, dt.date(2025, 7, 7)), (2, dt.date(2025, 7, 14)), (3, dt.date(2025, 7, 30)), (4, dt.date(2025, 7, 30)),
        (5, dt.date(2025, 7, 30)), (6, dt.date(2025, 7, 30))]
    texts = [c["text"] for c in result.conditions]
    assert texts[0] == ("Containment of finding 1 (Problem 1) confirmed and its corrective action plan approved by "
                        "7 July 2025.")
    assert texts[1] == "A corrective action plan for finding 2 (Problem 2) approved by 14 July 2025."
    assert texts[2] == ("Remedy for finding 3 (Problem 3) paid in full to all affected workers (6,600,000 THB "
                        "outstanding) and verified by 30 July 2025.")
    assert "overdue corrective actions of finding 4" in texts[3]
    assert "renewed formal request to the brand" in texts[4] and "evidence missing for finding 6" in texts[5]


def test_every_outcome_on_the_example_data(prepared: Prepared):
    outcomes = {c: prepared.contexts[c]["recommendation"]["outcome"] for c in (DEFERRED, LEGAL, CONDITIONS, EXPIRED)}
    assert outcomes == {DEFERRED: "defer", LEGAL: "legal_review", CONDITIONS: "renew_with_conditions",
                        EXPIRED: "renew"}
    legal = prepared.contexts[LEGAL]
    number = next(f["number"] for f in legal["findings"] if f["decided_level"] == "E4")
    assert any(r.startswith(f"Finding {number} (") and "as an officer decided" in r
               for r in legal["recommendation"]["reasons"])
    assert prepared.contexts[EXPIRED]["notes"][0].startswith("The contract is expired")
    portfolio = {c["id"]: c["outcome"] for c in prepared.portfolio["contracts"]}
    assert portfolio[DEFERRED] == renewal.OUTCOMES["defer"] and portfolio[EXPIRED] is None


# ---------------------------------------------------------------------------------------------------------------------
# Rule tags: what a finding is, for the dossier, comes from its rule in the library


#: The tags of the shipped rules (rules/*.yaml), as the dossier's sections read them.
SHIPPED_TAGS = {"PM-02": {"overdue_plan"}, "PM-02-C": {"overdue_plan"}, "PM-02-P": {"overdue_plan"},
                "PM-03": {"overdue_plan"}, "PM-03-R": {"overdue_plan"}, "FL-02": {"harm"}, "FL-02-P": {"harm"},
                "GR-04": {"harm"}, "MO-03": {"contradiction"}, "WH-03-HRS": {"contradiction"},
                "PM-01": {"non_response"}}


def test_the_shipped_rules_carry_the_tags_the_dossier_reads():
    library = api.load_library([Path(RULES)])
    assert {r.id: set(r.tags) for r in library.rules if r.tags} == SHIPPED_TAGS
    # Every tag of the language is one the reports read.
    assert {report_data.HARM, report_data.OVERDUE_PLAN, report_data.CONTRADICTION, report_data.NO_RESPONSE} == set(
        spec.RULE_TAGS)


def retagged_rules(tmp_path: Path, harm: str) -> Path:
    """A copy of the shipped rules in which rule `harm`, and no other, is tagged harm."""
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    for path in copy.glob("*.yaml"):
        lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line != "    tags: [harm]"]
        if f"  - id: {harm}" in lines:
            start = lines.index(f"  - id: {harm}")
            at = next(i for i in range(start, len(lines)) if lines[i].startswith("    severity: "))
            lines.insert(at + 1, "    tags: [harm]")
        path.write_text("\n".join(lines), encoding="utf-8")
    return copy


def test_the_dossier_sections_come_from_the_rules_tags(prepared: Prepared, tmp_path: Path):
    shipped = prepared.contexts[DEFERRED]
    harm_rules = {f["rule_id"] for f in shipped["findings"] for row in shipped["unremedied_harm"]
                  if row["number"] == f["number"]}
    assert harm_rules and harm_rules <= {"FL-02", "FL-02-P", "GR-04"}
    other = next(f for f in shipped["findings"] if f["rule_id"] not in harm_rules and f["state"] != "waived")
    library = api.load_library([retagged_rules(tmp_path, other["rule_id"])])
    assert {r.id for r in library.rules if "harm" in r.tags} == {other["rule_id"]}
    store = Store(prepared.url)
    try:
        report = api.escalations(store, library, Path(GROUPS), AS_OF)
        context = api.dossier(store, library, Path(GROUPS), DEFERRED, AS_OF, report=report).context
    finally:
        store.close()
    numbers = {f["number"] for f in context["findings"] if f["rule_id"] == other["rule_id"] and f["state"] != "waived"}
    assert {row["number"] for row in context["unremedied_harm"]} == numbers
    # ...and its renewal condition is the remedy paid in full.
    assert any(c["text"].startswith(f"Remedy for finding {min(numbers)} ")
               for c in context["recommendation"]["conditions"])


def test_an_unknown_tag_is_refused_with_its_file_line_and_a_suggestion(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    text = (ROOT / "rules" / "grievance-and-remedy.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("    tags: [harm]", "    tags: [harm, overdue_plans]"), encoding="utf-8")
    line = path.read_text(encoding="utf-8").split("\n").index("    tags: [harm, overdue_plans]") + 1
    with pytest.raises(InputError) as caught:
        api.load_library([path])
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:{line}: rule GR-04: tags[1]: unknown tag 'overdue_plans'; did you mean \"overdue_plan\"? (tags: "
        "harm, overdue_plan, contradiction, non_response)"]


# ---------------------------------------------------------------------------------------------------------------------
# The documents


class Checker(html.parser.HTMLParser):
    """Well-formed (every element closed in order, ids unique) and self-contained (nothing fetched)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    URL_ATTRIBUTES = {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "background", "srcset"}
    EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()

    def _attributes(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if tag == "link" or (tag == "script" and "src" in values) or tag in ("iframe", "object", "embed"):
            self.problems.append(f"<{tag}> loads something")
        for name, value in attrs:
            if name in self.URL_ATTRIBUTES and value and not value.startswith(("#", "data:")):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in self.URL_ATTRIBUTES and value and self.EXTERNAL.match(value):
                self.problems.append(f"<{tag} {name}={value!r}> is external")
            if name == "style" and value and "url(" in value:
                self.problems.append(f"<{tag} style> uses url()")
            if name == "id":
                if value in self.ids:
                    self.problems.append(f"id {value!r} twice")
                self.ids.add(value or "")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attributes(tag, attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attributes(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
        else:
            self.stack.pop()


def check_html(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    assert text.lower().startswith("<!doctype html>")
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert checker.problems == [] and checker.stack == []
    assert {"html", "head", "title", "body", "svg"} <= checker.tags
    assert not re.search(r"url\(", text), "no url() anywhere, not even in a style sheet"
    assert not re.search(r"@import", text)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", text, re.IGNORECASE)
    return text


def test_reports_are_valid_self_contained_html(prepared: Prepared):
    for contract_id in prepared.contexts:
        text = check_html(prepared.dossier(contract_id))
        assert f"<title>Renewal dossier: {contract_id}</title>" in text
    text = check_html(prepared.out / f"portfolio-{AS_OF}.html")
    assert "Working-group case load" in text


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    with path.open("rb") as stream:
        return "\n".join(page.extract_text() for page in PdfReader(stream).pages)


def test_the_dossier_pdf_opens_and_says_what_the_html_says(prepared: Prepared):
    context = prepared.contexts[LEGAL]
    text = " ".join(pdf_text(prepared.dossier(LEGAL, "pdf")).split())
    for expected in (f"Renewal dossier: {LEGAL}", "Recommendation: Legal review for contractual remedy",
                     "The engine recommends; the officer decides", "never excludes a supplier automatically",
                     context["contract"]["ocid"], "Linked facilities", "Example Manufacturing de Mexico",
                     "Findings over time", "Officer's decision", context["recommendation"]["reasons"][0],
                     "Open findings by severity and ILO category", "(b) Forced labour"):
        assert expected in text, expected
    first = context["findings"][0]
    assert f"{first['rule_id']}: {first['title']}" in text


def test_the_portfolio_xlsx_has_a_sheet_per_table(prepared: Prepared):
    from openpyxl import load_workbook

    workbook = load_workbook(prepared.out / f"portfolio-{AS_OF}.xlsx", read_only=True)
    try:
        assert workbook.sheetnames == ["Contracts", "Brand x category", "Brand x severity", "Age", "Working groups",
                                       "Over time", "Open findings"]
        matrix = [list(r) for r in workbook["Brand x category"].iter_rows(values_only=True)]
        context = prepared.portfolio
        assert matrix[0] == ["Brand", *context["categories"], "Open findings"]
        assert matrix[1:] == [[r["brand"], *r["counts"], r["total"]] for r in context["brand_matrix"]]
        findings = list(workbook["Open findings"].iter_rows(values_only=True))
        assert len(findings) - 1 == context["summary"]["open"]
        age = list(workbook["Age"].iter_rows(values_only=True))
        assert age[0] == ("Severity", "under 30 days", "30-89 days", "90-179 days", "180 days or more", "Total")
    finally:
        workbook.close()


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_dossier_renders_in_a_headless_browser_and_is_not_blank(prepared: Prepared, tmp_path: Path):
    from PIL import Image

    png = tmp_path / "dossier.png"
    process = subprocess.Popen(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         "--window-size=1200,1600", prepared.dossier(LEGAL).as_uri()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert png.exists(), "Chromium wrote no screenshot"
    with Image.open(png) as image:
        pixels = image.convert("RGB")
        assert pixels.size == (1200, 1600)
        colours = pixels.getcolors(maxcolors=1200 * 1600)
    assert colours is not None and len(colours) > 50, "a page of text, tables and colour, not a blank one"
    white = sum(count for count, colour in colours if colour == (255, 255, 255))
    assert white < 0.97 * 1200 * 1600
    # The legal-review box is drawn in the Priority red.
    assert any(count > 100 and abs(r - 0xB2) < 12 and abs(g - 0x18) < 12 and abs(b - 0x2B) < 12
               for count, (r, g, b) in colours)


# ---------------------------------------------------------------------------------------------------------------------
# Charts equal the store


def test_the_dossier_charts_equal_counts_from_the_store(prepared: Prepared):
    context = prepared.contexts[LEGAL]
    store = Store(prepared.url)
    try:
        rows = store.stored_findings(contract_id=LEGAL)
        mine = {row.key for row in rows}
        open_rows = [r for r in rows if r.firing and r.state not in ("closed", "withdrawn", "waived")]
    finally:
        store.close()
    # Over time, from what each `run --json` said: new keys, and every key the run still found.
    expected = []
    for day, run in zip(RUN_DATES, prepared.runs):
        found = {k for name in ("new", "still_open", "worsened", "reopened", "waiver_expired") for k in run[name]}
        expected.append({"month": day[:7], "detected": len(set(run["new"]) & mine), "found": len(found & mine)})
    assert context["over_time"] == expected
    # Severity by category, from the stored rows.
    for row in context["severity_by_category"]:
        category = next(c for c in [*FPRW, None] if report_data.category_label(c) == row["label"])
        counts = [sum(1 for r in open_rows if r.severity == s.value and (
            category in r.payload["fprw"] if category else not r.payload["fprw"])) for s in Severity]
        assert row["counts"] == counts, row["label"]
    assert context["summary"]["open"] == len(open_rows)
    # The charts draw those numbers (their <desc> says them in words).
    svg = html.unescape(str(context["charts"]["over_time"]))
    for point in expected:
        assert f"{point['month']}: first detected in the month {point['detected']}, still found by the month's " \
               f"last run {point['found']}" in svg
    svg = html.unescape(str(context["charts"]["severity_by_category"]))
    for row in context["severity_by_category"]:
        assert f"{row['label']}: " + ", ".join(f"{s} {n}" for s, n in zip(report_data.SEVERITIES, row["counts"])) in svg


def test_the_portfolio_over_time_equals_the_run_summaries(prepared: Prepared):
    expected = [{"month": day[:7], "detected": len(run["new"]),
                 "found": sum(len(run[n]) for n in ("new", "still_open", "worsened", "reopened", "waiver_expired"))}
                for day, run in zip(RUN_DATES, prepared.runs)]
    assert prepared.portfolio["over_time"] == expected
    assert sum(r["total"] for r in prepared.portfolio["age_by_severity"]) == prepared.portfolio["summary"]["open"]


def test_a_chart_gives_its_numbers_as_text_and_escapes_labels():
    svg = charts.stacked_bars("c", "Title <&>", [("A & B", [3, 0, 1, 0])], ["Priority", "Major", "Minor",
                                                                              "Observation"])
    assert svg.startswith('<svg class="chart" id="c"') and "A &amp; B" in svg and "Title &lt;&amp;&gt;" in svg
    assert "<desc id=\"c-desc\">A &amp; B: Priority 3, Major 0, Minor 1, Observation 0</desc>" in svg
    assert re.search(r">4</text>", svg)  # the row's total
    line = charts.bars_and_line("t", "T", [("2025-01", 2, 5), ("2025-02", 0, None), ("2025-03", 1, 6)], "new",
                                "found")
    assert line.count("<polyline") == 0 and line.count("<circle") == 2  # no run in February: a gap, no line over it


# ---------------------------------------------------------------------------------------------------------------------
# Worker protection


def worker_voice() -> tuple[list[str], list[str]]:
    """The raw identities in the worker-voice export (and the records' ids), and the exact dates of its events."""
    with (DATA / "evidence" / "worker-voice-app.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    identities = [row[name] for row in rows for name in ("worker_name", "employee_number", "phone") if row[name]]
    identities += ["20931", "88812", "1234 5678"]  # parts of the employee numbers and phone numbers
    identities += [row["id"] for row in rows]
    dates = []
    for row in rows:
        day = dt.date.fromisoformat(row["date"])
        dates += [row["date"], renewal.day_text(day), day.strftime("%d/%m/%Y")]
    return identities, dates


def outputs(prepared: Prepared) -> dict[str, str]:
    from openpyxl import load_workbook

    texts = {path.name: path.read_text(encoding="utf-8") for path in prepared.out.glob("*.html")}
    texts |= {path.name: pdf_text(path) for path in prepared.out.glob("*.pdf")}
    workbook = load_workbook(prepared.out / f"portfolio-{AS_OF}.xlsx", read_only=True)
    try:
        texts["portfolio.xlsx"] = "\n".join(str(v) for sheet in workbook for row in sheet.iter_rows(values_only=True)
                                            for v in row if v is not None)
    finally:
        workbook.close()
    return texts


def test_no_output_names_or_dates_a_worker(prepared: Prepared):
    texts = outputs(prepared)
    assert len([n for n in texts if n.startswith("dossier-") and n.endswith(".html")]) == 7
    assert [n for n in texts if n.endswith(".pdf")] == [prepared.dossier(LEGAL, "pdf").name]
    identities, dates = worker_voice()
    for name, text in texts.items():
        assert not re.search(r"wp_[0-9a-f]", text, re.IGNORECASE), f"{name} holds a worker pseudonym"
        assert not re.search(r"\bwg_\w", text), f"{name} holds a worker-group label"
        for value in identities:
            assert value.lower() not in text.lower(), f"{name} holds {value!r}"
    # The documents whose findings rest on those records never give their days (another contract's dossier may
    # print the same day as, say, its signature date).
    for name in (prepared.dossier(LEGAL).name, prepared.dossier(LEGAL, "pdf").name, f"portfolio-{AS_OF}.html",
                 "portfolio.xlsx"):
        for value in dates:
            assert value.lower() not in " ".join(texts[name].split()).lower(), f"{name} holds {value!r}"
    # The dismissed worker's facility is in the Cisco contract's dossier, described without them.
    legal = texts[prepared.dossier(LEGAL).name]
    assert "Retaliation after a complaint, monitor contact or union activity" in legal
    assert "April\u2013May 2025" in legal  # months, not days


def test_a_template_that_would_reveal_a_worker_stops_the_report_and_writes_nothing(prepared: Prepared,
                                                                                  tmp_path: Path):
    folder = tmp_path / "templates" / "reports"
    folder.mkdir(parents=True)
    (folder / "dossier.html.j2").write_text(
        "<!doctype html><html><head><title>{{ title }}</title></head><body><h1>Our dossier: {{ contract.id }}</h1>"
        "<p>{{ recommendation.label }}. As reported by 3 workers on 2 April 2025.</p></body></html>")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["--db", prepared.url, "report", "dossier", LEGAL, "--out", str(out),
                                      "--templates", str(tmp_path / "templates"), *COMMON])
    assert result.exit_code == 9, result.output
    assert f"the renewal dossier for contract {LEGAL} was not written" in result.output
    assert 'a count below 5 ("3 workers")' in result.output
    assert "the exact date of a worker-related event (2025-04-02)" in result.output
    assert not out.exists()
    # Without the offending sentence the institution's template is used.
    (folder / "dossier.html.j2").write_text(
        "<!doctype html><html><head><title>{{ title }}</title></head><body><h1>Our dossier: {{ contract.id }}</h1>"
        "<p>{{ recommendation.label }}.</p></body></html>")
    output = invoke(prepared.url, "report", "dossier", LEGAL, "--out", str(out), "--format", "html",
                    "--templates", str(tmp_path / "templates"), *COMMON)
    assert output.startswith(f"Wrote {out / f'dossier-{LEGAL}-{AS_OF}.html'}\nRecommendation: Legal review")
    assert "Our dossier: NET-CALLOFF-2024-088" in (out / f"dossier-{LEGAL}-{AS_OF}.html").read_text()


def test_bad_requests(prepared: Prepared, tmp_path: Path):
    result = CliRunner().invoke(cli, ["--db", prepared.url, "report", "dossier", "NDNA-CALLOFF-2024-071",
                                      "--out", str(tmp_path), *COMMON])
    assert result.exit_code == 3 and 'no contract "NDNA-CALLOFF-2024-071"' in result.output
    result = CliRunner().invoke(cli, ["--db", prepared.url, "report", "portfolio", "--format", "html,docx",
                                      "--out", str(tmp_path), *COMMON])
    assert result.exit_code == 2 and "expected one or more of html, pdf, xlsx" in result.output
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    invoke(empty, "db", "init")
    invoke(empty, "import", "contracts", str(DATA / "contracts.yaml"))
    result = CliRunner().invoke(cli, ["--db", empty, "report", "portfolio", "--out", str(tmp_path), *COMMON])
    assert result.exit_code == 3 and "no run is stored yet" in result.output
    assert list(tmp_path.glob("portfolio-*")) == []


# ---------------------------------------------------------------------------------------------------------------------
# The README documents the template variables


def documented(title: str) -> dict[str, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]
    return dict(re.findall(r"^\| `([a-z_]+)` \| (.*) \|$", section, flags=re.M))


def nested_keys(value: Any) -> set[str] | None:
    if isinstance(value, dict):
        return set(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return {k for v in value for k in v}
    return None


@pytest.mark.parametrize("title", ["Dossier template variables", "Portfolio template variables"])
def test_the_readme_documents_every_template_variable(prepared: Prepared, title: str):
    rows = documented(title)
    contexts = list(prepared.contexts.values()) if title.startswith("Dossier") else [prepared.portfolio]
    assert set(rows) == set(contexts[0]), f"README lacks {sorted(set(contexts[0]) - set(rows))}, names variables " \
                                          f"that do not exist {sorted(set(rows) - set(contexts[0]))}"
    for name, meaning in rows.items():
        keys = set()
        for context in contexts:
            keys |= nested_keys(context[name]) or set()
        if name in ("summary",):  # by_severity maps severities: only the summary's own keys are listed
            keys = set(contexts[0][name])
        if not keys:
            assert "{" not in meaning, name
            continue
        listed = re.search(r"\{([^}]*)\}", meaning)
        assert listed, f"README does not list the fields of {name}"
        fields = {re.match(r"\s*([a-z_]+)", part).group(1) for part in listed.group(1).split(",")}  # type: ignore
        assert fields == keys, f"{name}: README lacks {sorted(keys - fields)}, names {sorted(fields - keys)}"


# ---------------------------------------------------------------------------------------------------------------------
# PostgreSQL


@pytest.fixture
def postgres_url():
    base = normalise_url(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="COMPLIANCE_TEST_DATABASE_URL is not set")
def test_the_reports_on_postgresql(postgres_url: str, tmp_path: Path):
    store = Store(postgres_url)
    try:
        api.demo(store, DATA, Path(RULES))
        library = api.load_library([Path(RULES)])
        for day in RUN_DATES[1:]:
            api.run(store, library, dt.date.fromisoformat(day))
        rendered = api.dossier(store, library, Path(GROUPS), DEFERRED, AS_OF)
        assert rendered.context["recommendation"]["outcome"] == "defer"
        assert [p["month"] for p in rendered.context["over_time"]] == ["2025-05", "2025-06"]
        assert sum(p["detected"] for p in rendered.context["over_time"]) == len(store.stored_findings(
            contract_id=DEFERRED))
        portfolio = api.portfolio(store, library, Path(GROUPS), AS_OF)
        assert portfolio.context["summary"]["open"] == sum(r["total"] for r in portfolio.context["age_by_severity"])
        written = reports.write(portfolio, tmp_path, ["xlsx"])
        assert written == [tmp_path / f"portfolio-{AS_OF}.xlsx"] and written[0].stat().st_size > 0
    finally:
        store.close()


def test_worker_event_dates_never_enter_a_context(prepared: Prepared):
    """Dates in a context are buyer-side: a worker event's date goes out as a month, in text."""
    store = Store(prepared.url)
    try:
        worker_dates = {r.date for r in store.evidence_for(store.contract(LEGAL), store.facilities(), AS_OF)
                        if type(r).worker_event}
    finally:
        store.close()

    def dates(value: Any) -> set[dt.date]:
        if isinstance(value, dt.date):
            return {value}
        if isinstance(value, dict):
            return {d for v in value.values() for d in dates(v)}
        if isinstance(value, list):
            return {d for v in value for d in dates(v)}
        return set()

    assert worker_dates and not (dates(prepared.contexts[LEGAL]) - renewal_dossier.dossier_dates(prepared.contexts[LEGAL]))
    assert dates(prepared.contexts[LEGAL]).isdisjoint(worker_dates - {AS_OF})
