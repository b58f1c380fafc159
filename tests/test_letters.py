"""Letters to contractors on the shipped example data: every type against its golden text, the files an officer
opens (PDF, DOCX read back), deadlines, templates an institution changes, records (draft -> approved -> sent)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from pathlib import Path

import docx
import jinja2
import jinja2.meta
import pypdf
import pytest
from click.testing import CliRunner

from compliance import api
from compliance.cli import cli
from compliance.documents import environment as documents
from compliance.documents import letters
from compliance.domain import models
from compliance.store import Store

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "letters"
AS_OF = dt.date(2025, 6, 30)
DATED = dt.date(2025, 7, 1)
CONTRACT = "NDNA-CALLOFF-2024-017"
GROUPS = ROOT / "contracts" / "working-groups.yaml"
COMMON = ["--rules", str(ROOT / "rules"), "--groups", str(GROUPS), "--date", DATED.isoformat()]


def prepared(url: str) -> None:
    """The example data imported and run as of 2025-06-30: 95 stored findings."""
    store = Store(url)
    try:
        api.demo(store, ROOT / "contracts", ROOT / "rules")
        api.run(store, api.load_library([ROOT / "rules"]), AS_OF)
    finally:
        store.close()


@pytest.fixture(scope="module")
def example_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store with the example data for the tests that only read it (each test copies it if it writes)."""
    path = tmp_path_factory.mktemp("letters") / "example.db"
    prepared(f"sqlite:///{path}")
    return f"sqlite:///{path}"


@pytest.fixture
def example(example_url: str, tmp_path: Path) -> str:
    """A private copy of the prepared store, for a test that drafts, approves or sends letters."""
    source = Path(example_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            (tmp_path / f"store.db{suffix}").write_bytes(Path(f"{source}{suffix}").read_bytes())
    return f"sqlite:///{tmp_path / 'store.db'}"


def invoke(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--db", url, *args])
    assert result.exit_code == code, result.output
    return result.output


def draft(url: str, out: Path, *args: str, code: int = 0) -> str:
    return invoke(url, "letter", "draft", *args, *COMMON, "--out", str(out), code=code)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def html_problems(document: str) -> list[str]:
    """Structural problems of an HTML document: a doctype missing, tags closed out of order or left open."""
    import html.parser

    problems, stack = [], []

    class Checker(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag not in VOID:
                stack.append((tag, self.getpos()[0]))

        def handle_endtag(self, tag: str) -> None:
            if not stack or stack[-1][0] != tag:
                problems.append(f"line {self.getpos()[0]}: </{tag}> closes {stack[-1] if stack else 'nothing'}")
            else:
                stack.pop()

    if not document.lstrip().lower().startswith("<!doctype html>"):
        problems.append("no <!DOCTYPE html>")
    Checker().feed(document)
    return problems + [f"<{tag}> opened on line {line} is never closed" for tag, line in stack]


def reference_of(output: str) -> str:
    match = re.search(r"Letter (HRDD-\d{4}-\d{4})", output)
    assert match, output
    return match.group(1)


# ---------------------------------------------------------------------------------------------------------------------
# Golden texts, one per letter type


def _close(store: Store, key: str) -> None:
    for state in ("notified", "cap_requested", "in_remediation", "closure_claimed", "closed"):
        store.move(key, state, f"test: {state}", "officer")


def golden_letters(url: str) -> dict[str, str]:
    """The text of every letter type on the example data, as an officer would draft them on 1 July 2025."""
    store = Store(url)
    try:
        library = api.load_library([ROOT / "rules"])
        keys = {row.rule_id: row.key for row in store.stored_findings(contract_id=CONTRACT)}
        _close(store, keys["TR-02"])
        out = {}
        for kind, finding_keys in (("L1", ()), ("L2", ()), ("L2-P", ()), ("L3", ()), ("L4", ()),
                                   ("L5", (keys["FL-04"], keys["GR-04"])), ("L6", ())):
            row = api.draft_letter(store, library, CONTRACT, kind, DATED, finding_keys, groups_path=GROUPS,
                                   contact="A. Officer, Contracts Manager")
            out[kind] = documents.to_text(row.text)
        return out
    finally:
        store.close()


def test_every_letter_type_matches_its_golden_text(example: str):
    texts = golden_letters(example)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for kind, text in texts.items():
            (GOLDEN / f"{kind}.txt").write_text(text, encoding="utf-8")
    for kind, text in texts.items():
        expected = (GOLDEN / f"{kind}.txt").read_text(encoding="utf-8")
        assert text == expected, f"{kind} differs from tests/golden/letters/{kind}.txt (UPDATE_GOLDEN=1 rewrites)"


@pytest.mark.parametrize("kind", ["L1", "L2", "L2-P", "L3", "L4", "L5", "L6"])
def test_each_golden_letter_has_the_conventions_of_a_letter(kind: str):
    text = (GOLDEN / f"{kind}.txt").read_text(encoding="utf-8")
    assert "Confidential – contract management" in text
    assert "without prejudice to the Authority's rights and remedies under the Contract" in " ".join(text.split())
    assert "No worker may suffer any adverse consequence" in text
    assert CONTRACT in text and "ocds-h6vhtk-0a1b2c" in text and "ITS5071 LU" in text
    assert re.search(r"Our reference\s+HRDD-2025-\d{4}", text)
    if kind != "L6":  # every letter but the closure asks for cascade, with a date
        assert re.search(r"Forward this letter to the brand and the factory .* by \d{1,2} \w+ 2025", " ".join(text.split()))
    if kind in ("L1", "L2", "L2-P", "L3", "L5"):  # numbered actions with calendar dates, never "within N days"
        assert re.search(r"^1\. .* by \d{1,2} (July|August) 2025", text, re.MULTILINE | re.DOTALL)
        actions = text.split("Required actions")[1].split("\n\n\n")[0]
        assert not re.search(r"\bwithin \d+ days\b.*—", actions, re.IGNORECASE)


def test_the_priority_notice_asks_for_containment_sooner_than_the_plan(example_url: str):
    store = Store(example_url)
    try:
        rows = letters.default_findings("L2-P", store.stored_findings(contract_id="KBU-ICT-2025-004"))
        findings = [models.Finding.model_validate(r.payload) for r in rows]
        contract = store.contract("KBU-ICT-2025-004")
        evidence = store.evidence_records(i for f in findings for i in f.evidence_ids)
        context = letters.context("L2-P", contract, None, findings, evidence, store.facilities(), DATED, "REF", [])
    finally:
        store.close()
    assert {f.rule_id for f in findings} >= {"GR-03", "FA-01"}
    assert all(f["severity"] == "Priority" for f in context["findings"])
    reinstatement = next(a for a in context["actions"] if a["text"].startswith("Withdraw any threat"))
    assert reinstatement["due"] == DATED + dt.timedelta(days=2)  # GR-03: "Within 48 hours"
    assert context["deadlines"]["plan"] == DATED + dt.timedelta(days=7)  # Priority: plan in 7 calendar days
    assert [a["number"] for a in context["actions"]] == list(range(1, len(context["actions"]) + 1))
    assert [a["due"] for a in context["actions"]] == sorted(a["due"] for a in context["actions"])


# ---------------------------------------------------------------------------------------------------------------------
# Deadlines


def test_working_days_skip_weekends_and_the_public_holidays_of_the_contracts_calendar():
    friday = dt.date(2025, 12, 19)
    assert letters.add_days(friday, 5, working_days=True, calendar="GB-ENG") == dt.date(2025, 12, 30)
    assert letters.add_days(friday, 5) == dt.date(2025, 12, 24)
    # 2 January is a bank holiday in Scotland, not in England.
    assert letters.add_days(dt.date(2025, 12, 30), 2, working_days=True, calendar="GB-SCT") == dt.date(2026, 1, 5)
    assert letters.add_days(dt.date(2025, 12, 30), 2, working_days=True, calendar="GB-ENG") == dt.date(2026, 1, 2)


def test_deadlines_come_from_the_clause_set_then_the_contract():
    library = api.load_library([ROOT / "rules"])
    ndna = library.clause_set("EWCC-v2-UK-NDNA", "2.0")
    contract = models.Contract.model_validate({
        "ocid": "ocds-h6vhtk-x1", "id": "X1", "buyers": [{"id": "B", "name": "Buyer"}],
        "supplier": {"id": "S", "name": "Reseller"}, "brands": ["B1"], "items": [{"id": "1", "brand": "B1", "model": "M"}],
        "signed_on": "2025-01-01", "period": {"start": "2025-01-01", "end": "2026-01-01"},
        "clause_set": {"id": "EWCC-v2-UK-NDNA", "version": "2.0"}})
    monday = dt.date(2025, 7, 7)
    deadlines = letters.Deadlines.of(contract, ndna)
    assert deadlines.due("cap", monday) == dt.date(2025, 7, 21)  # its rectification clause: 10 working days
    assert deadlines.describe("cap") == "10 working days"
    assert deadlines.due("cap_priority", monday) == monday + dt.timedelta(days=7)  # the default still applies
    own = contract.model_copy(update={"deadlines": {"cap": models.Deadline(days=20)}, "calendar": "GB-SCT"})
    assert letters.Deadlines.of(own, ndna).due("cap", monday) == monday + dt.timedelta(days=20)
    assert letters.Deadlines.of(contract, None).due("cap", monday) == monday + dt.timedelta(days=14)


def test_an_action_written_within_a_period_gets_a_date():
    deadlines = letters.Deadlines({}, "GB-ENG")
    start, fallback = dt.date(2025, 7, 4), dt.date(2025, 7, 18)  # a Friday
    assert letters.action_due("Within 48 hours, withdraw any threat.", start, fallback, deadlines) == (
        "Withdraw any threat.", dt.date(2025, 7, 6))
    assert letters.action_due("Within 10 working days, submit a plan.", start, fallback, deadlines)[1] == \
        dt.date(2025, 7, 18)
    assert letters.action_due("Within 2 weeks, report.", start, fallback, deadlines)[1] == dt.date(2025, 7, 18)
    assert letters.action_due("Pay the outstanding amount.", start, fallback, deadlines) == (
        "Pay the outstanding amount.", fallback)
    assert letters.action_due("Stop deductions and confirm it in writing within 7 days.", start, fallback,
                              deadlines) == ("Stop deductions and confirm it in writing by 11 July 2025.",
                                             dt.date(2025, 7, 11))


# ---------------------------------------------------------------------------------------------------------------------
# The files an officer opens


def test_the_readme_command_writes_a_notice_of_concern_as_html_pdf_docx_and_text(example: str, tmp_path: Path):
    output = draft(example, tmp_path, CONTRACT, "--type", "L2", "--contact", "A. Officer")
    reference = reference_of(output)
    files = {p.suffix: p for p in tmp_path.glob(f"{reference}.*")}
    assert set(files) == {".html", ".pdf", ".docx", ".txt"}
    html = files[".html"].read_text(encoding="utf-8")
    assert "Notice of concern" in html and reference in html and "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # self-contained: nothing fetched
    assert html_problems(html) == []
    pdf_text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(files[".pdf"]).pages).split())
    word = docx.Document(str(files[".docx"]))
    docx_text = " ".join(" ".join([p.text for p in word.paragraphs] +
                                  [c.text for t in word.tables for r in t.rows for c in r.cells]).split())
    plain = " ".join(files[".txt"].read_text(encoding="utf-8").split())
    for text in (pdf_text, docx_text, plain):
        assert "Notice of concern and request for a corrective action plan" in text
        assert reference in text and "Example IT Reseller Ltd" in text
        assert "without prejudice to the Authority's rights and remedies under the Contract" in text
        assert "Corrective action plan" in text and "A. Officer" in text
    # The NDNA clause set asks for a rectification plan in 10 working days: 1 July 2025 -> 15 July 2025.
    assert "15 July 2025" in pdf_text and "15 July 2025" in docx_text
    assert len(word.tables) == 2 and word.tables[1].rows[0].cells[0].text == "No."
    # The Word file says what it is and when it was dated, on A4; none of python-docx's template defaults.
    properties = word.core_properties
    assert properties.title == f"{reference} L2"
    assert properties.author == properties.last_modified_by == "" and properties.comments == ""
    assert properties.created.date() == properties.modified.date() == dt.date(2025, 7, 1)
    section = word.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)


def test_a_letter_is_stored_then_approved_then_sent_and_its_findings_are_notified(example: str, tmp_path: Path):
    reference = reference_of(draft(example, tmp_path, CONTRACT, "--type", "L2", "--format", "txt"))
    store = Store(example)
    try:
        row = store.letter(reference)
        assert row.state == "draft" and row.letter_type == "L2" and row.contract_id == CONTRACT
        assert row.content_hash == hashlib.sha256(row.text.encode()).hexdigest()
        assert row.template == "shipped:letters/L2.html.j2" and len(row.template_hash) == 64
        assert row.redaction["passed"] is True and row.finding_keys
        before = {key: store.stored_findings(key=key)[0].state for key in row.finding_keys}
    finally:
        store.close()
    assert set(before.values()) <= {"new", "open"}
    assert "only an approved letter can be marked sent" in invoke(example, "letter", "sent", reference, code=3)
    invoke(example, "letter", "approve", reference, "--by", "Head of Procurement")
    assert "is approved; only a draft letter" in invoke(example, "letter", "approve", reference, code=3)
    output = invoke(example, "letter", "sent", reference, "--by", "A. Officer")
    assert f"{len(before)} finding{'s' if len(before) != 1 else ''} moved to notified" in output
    store = Store(example)
    try:
        row = store.letter(reference)
        assert (row.state, row.approved_by, row.sent_by) == ("sent", "Head of Procurement", "A. Officer")
        for key in row.finding_keys:
            assert store.stored_findings(key=key)[0].state == "notified"
            last = store.history(key)[-1]
            assert (last.to_state, last.actor) == ("notified", "A. Officer") and reference in last.reason
        assert store.verify_history() == []
    finally:
        store.close()
    listed = invoke(example, "letter", "list", "--contract", CONTRACT, "--state", "sent")
    assert reference in listed
    shown = invoke(example, "letter", "show", reference)
    assert row.content_hash in shown and "Notice of concern" in shown
    rewritten = invoke(example, "letter", "write", reference, "--out", str(tmp_path / "again"), "--format", "html")
    assert Path(rewritten.strip()).read_text(encoding="utf-8") == row.text


def test_a_letter_with_no_findings_of_its_type_is_refused(example_url: str, tmp_path: Path):
    output = draft(example_url, tmp_path, "AV-CALLOFF-2022-046", "--type", "L2-P", code=3)
    assert "no findings for an L2-P letter on contract AV-CALLOFF-2022-046" in output
    output = draft(example_url, tmp_path, CONTRACT, "--type", "L2", "--finding", "GR-03/NOPE/1", code=3)
    assert 'no finding "GR-03/NOPE/1" on contract' in output
    assert not list(tmp_path.iterdir())


def test_letters_are_numbered_per_prefix_and_year(store: Store):
    """Letter records on each backend (PostgreSQL too): references, state changes, findings notified."""
    prepared(store.url)
    library = api.load_library([ROOT / "rules"])
    first = api.draft_letter(store, library, CONTRACT, "L2", DATED, groups_path=GROUPS)
    second = api.draft_letter(store, library, CONTRACT, "L1", DATED, prefix="UoE", groups_path=GROUPS)
    third = api.draft_letter(store, library, CONTRACT, "L2-P", DATED, groups_path=GROUPS)
    assert (first.reference, second.reference, third.reference) == ("HRDD-2025-0001", "UoE-2025-0001",
                                                                    "HRDD-2025-0002")
    assert "LETTER-REFERENCE-PENDING" not in third.text and "HRDD-2025-0002" in third.text
    store.approve_letter(third.reference, "head")
    sent, moved = store.send_letter(third.reference, "officer")
    assert sent.state == "sent" and sorted(moved) == sorted(third.finding_keys)
    assert {store.stored_findings(key=k)[0].state for k in moved} == {"notified"}
    assert [r.reference for r in store.letters(CONTRACT, "draft")] == ["HRDD-2025-0001", "UoE-2025-0001"]


# ---------------------------------------------------------------------------------------------------------------------
# Templates an institution changes


def test_an_institutions_letterhead_and_wording_override_the_shipped_ones(example: str, tmp_path: Path):
    folder = tmp_path / "ours" / "letters"
    folder.mkdir(parents=True)
    (folder / "letterhead.html.j2").write_text(
        '<header><p><strong>{{ buyer.name }}</strong></p><p>Strategic Procurement, 1 College Road, Exampleshire</p>'
        "</header>\n", encoding="utf-8")
    (folder / "L2.cy.html.j2").write_text(
        '{% extends "letters/L2.html.j2" %}{% block basis %}<p>Hysbysiad o bryder: {{ contract.id }}, '
        "{{ letter.date | date }}.</p>{% endblock %}\n", encoding="utf-8")
    out = tmp_path / "out"
    reference = reference_of(draft(example, out, CONTRACT, "--type", "L2", "--templates", str(tmp_path / "ours"),
                                   "--language", "cy", "--format", "txt,html"))
    text = (out / f"{reference}.txt").read_text(encoding="utf-8")
    assert "Strategic Procurement, 1 College Road, Exampleshire" in text
    assert "[Postal address]" not in text
    assert f"Hysbysiad o bryder: {CONTRACT}, 1 Gorffennaf 2025." in text  # Welsh wording and a Welsh date
    store = Store(example)
    try:
        row = store.letter(reference)
    finally:
        store.close()
    assert row.template == "institution:letters/L2.cy.html.j2"


@pytest.mark.parametrize("body, expected", [
    ("{{ worker_names }}", "'worker_names' is undefined"),
    ("{{ letter.nonexistent }}", "has no attribute 'nonexistent'"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "not allowed in a template"),
    ("{% for x in findings %}", "template"),
])
def test_a_template_mistake_or_escape_attempt_is_refused_with_the_template_and_line(
        example_url: str, tmp_path: Path, body: str, expected: str):
    folder = tmp_path / "ours" / "letters"
    folder.mkdir(parents=True)
    (folder / "L2.html.j2").write_text(f"<p>Dear contractor,</p>\n{body}\n", encoding="utf-8")
    output = draft(example_url, tmp_path / "out", CONTRACT, "--type", "L2", "--templates", str(tmp_path / "ours"),
                   code=3)
    assert expected in output and "L2.html.j2" in output
    assert not (tmp_path / "out").exists()


def test_the_readme_documents_every_template_variable_and_the_shipped_templates_use_only_those(example_url: str):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Letter template variables")[1].split("\n#")[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    assert documented == set(letters.LETTER_VARIABLES), "README table and letters.LETTER_VARIABLES differ"
    store = Store(example_url)
    try:
        rows = letters.default_findings("L2", store.stored_findings(contract_id=CONTRACT))
        findings = [models.Finding.model_validate(r.payload) for r in rows]
        context = letters.context("L2", store.contract(CONTRACT), None, findings,
                                  store.evidence_records(i for f in findings for i in f.evidence_ids),
                                  store.facilities(), DATED, "REF", [])
    finally:
        store.close()
    context["previous"] = []
    assert set(context) | {"language"} == set(letters.LETTER_VARIABLES)
    assert set(context["findings"][0]) == set(letters.FINDING_FIELDS)
    env = documents.environment()
    for path in sorted((documents.TEMPLATES / "letters").glob("*.j2")):
        used = jinja2.meta.find_undeclared_variables(env.parse(path.read_text(encoding="utf-8")))
        assert used <= set(letters.LETTER_VARIABLES), f"{path.name} uses undocumented {used - set(letters.LETTER_VARIABLES)}"
