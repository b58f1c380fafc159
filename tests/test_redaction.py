"""Worker protection in outbound documents: the redaction check fails closed, and no identifier put in any
free-text field of the evidence reaches any output format of any letter type (property tests)."""

from __future__ import annotations

import datetime as dt
import re
import typing
from pathlib import Path

import docx
import pypdf
import pytest
from click.testing import CliRunner
from helpers import library
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_letters import COMMON, CONTRACT, example, example_url  # noqa: F401 - fixtures

from compliance.cli import cli
from compliance.documents import environment as documents
from compliance.documents import letters, outbound, redaction
from compliance.domain import models
from compliance.errors import RedactionError
from compliance.sources import evidence_template
from compliance.store import Store

DATED = dt.date(2026, 1, 15)
KINDS = list(letters.LETTER_KINDS)
FIRST = ["Nguyen Thi", "Somchai", "Maria José", "Li Wei", "Aung Kyaw", "Siti Nur", "Ramesh", "Olga"]
LAST = ["Lan", "Rakpong", "Hernández", "Zhang", "Htet", "Aisyah", "Kumar", "Novak"]


# ---------------------------------------------------------------------------------------------------------------------
# The check itself


def guard_with(record: models.EvidenceBase) -> redaction.Guard:
    guard = redaction.Guard()
    guard.learn("GR-03/K1/abc", [record])
    return guard


def grievance(**fields: object) -> models.EvidenceBase:
    base = {"type": "grievance", "id": "GRV-2025-0012", "date": "2025-03-14", "facility_id": "FAC-A",
            "issue_categories": ["wages"], "complainant": "wp_0123456789abcdef0123", "channel": "hotline"}
    return models.EVIDENCE_ADAPTER.validate_python(base | fields)


@pytest.mark.parametrize("text, reason", [
    ("Complainant wp_0123456789abcdef0123 was dismissed.", "a worker pseudonym"),
    ("Group wg_migrant_np reported it.", "a worker-group label"),
    ("Write to lan.nguyen@example.org.", "an e-mail address"),
    ("Call +66 81 234 5678 for details.", "a phone number"),
    ("Three workers were dismissed.", "a count below 5"),
    ("2 migrant workers paid fees.", "a count below 5"),
    ("The grievance of 14 March 2025 was ignored.", "the exact date of a worker-related event"),
    ("The grievance of 2025-03-14 was ignored.", "the exact date of a worker-related event"),
    ("The grievance of 14/03/2025 was ignored.", "the exact date of a worker-related event"),
    ("The grievance of March 14, 2025 was ignored.", "the exact date of a worker-related event"),
    ("Record GRV-2025-0012 shows it.", "the id of a worker_safety record"),
])
def test_the_check_refuses_what_could_identify_a_worker(text: str, reason: str):
    violations = guard_with(grievance()).check(text)
    assert violations and any(reason in v.reason for v in violations), violations


@pytest.mark.parametrize("text", [
    "A number of workers paid fees in March 2025.",
    "At least 140 workers paid fees; 5 workers were dismissed.",
    "Confirm by 22 January 2026 that you have done so.",
    "Contract NDNA-CALLOFF-2024-017 (ocid ocds-h6vhtk-0a1b2c), reference HRDD-2026-0001, OS ID TH2020112B8R4N8.",
    "Information from independent worker-driven monitoring, June–September 2024.",
    "Outstanding remedy 6,600,000 THB.",
])
def test_the_check_lets_aggregate_text_through(text: str):
    assert guard_with(grievance()).check(text) == []


def test_a_violation_names_the_finding_and_field_behind_it():
    record = grievance(channel="Reported by Somchai Rakpong, staff no. E-48213")
    violations = guard_with(record).check("As Somchai Rakpong, staff no. E-48213 said, wp_0123456789abcdef0123 ...")
    where = {(v.finding, v.field) for v in violations}
    assert ("GR-03/K1/abc", "evidence GRV-2025-0012.channel") in where  # quoted free text and its id token
    assert ("GR-03/K1/abc", "evidence GRV-2025-0012.complainant") in where
    with pytest.raises(RedactionError, match="GR-03/K1/abc, evidence GRV-2025-0012.channel"):
        guard_with(record).require_clean("... E-48213 ...", "the L2 letter")


def test_the_date_of_a_worker_event_is_allowed_only_where_the_document_puts_it_on_purpose():
    guard = guard_with(grievance(date="2026-01-22"))
    assert guard.check("Confirm by 22 January 2026.")
    guard.allowed_dates.add(dt.date(2026, 1, 22))
    assert guard.check("Confirm by 22 January 2026.") == []


def test_a_monitoring_partner_is_named_only_with_the_consent_of_every_record_from_it():
    def finding_by(name: str, may: bool) -> models.EvidenceBase:
        return models.EVIDENCE_ADAPTER.validate_python({
            "type": "monitoring_finding", "id": f"MF-{name}-{may}", "date": "2025-01-10", "facility_id": "FAC-A",
            "code_area": "recruitment_fees", "monitor": name, "monitor_may_be_named": may})
    records = [finding_by("CEREAL", True), finding_by("MWRN", True), finding_by("MWRN", False)]
    cleared = outbound.monitors_cleared(records)
    assert cleared == frozenset({"CEREAL"})
    guard = redaction.Guard()
    guard.deny_monitors({"CEREAL", "MWRN", "Tenaganita"}, cleared)
    assert guard.check("Independent worker-driven monitoring by CEREAL.") == []
    assert [v.field for v in guard.check("Monitoring by MWRN and Tenaganita.")] == ["monitor", "monitor"]
    assert outbound.basis_label(records[0], cleared).endswith("by CEREAL")
    assert "MWRN" not in outbound.basis_label(records[1], cleared)


def test_counts_below_five_are_written_as_a_number_of_workers():
    assert outbound.workers_text(4) == "a number of workers"
    assert outbound.workers_text(5) == "5 workers"
    assert outbound.workers_text(3100) == "3,100 workers"
    assert outbound.period_text(dt.date(2024, 6, 3), dt.date(2024, 9, 28)) == "June–September 2024"
    assert outbound.period_text(dt.date(2024, 11, 3), dt.date(2025, 2, 1)) == "November 2024–February 2025"


# ---------------------------------------------------------------------------------------------------------------------
# Property: identifiers in every free-text field never reach any output


def _free_text_fields(cls: type[models.EvidenceBase]) -> list[str]:
    out = []
    for name, info in cls.model_fields.items():
        if name in {"id", "type", "contract_id", "facility_id", "sensitivity"} or any(
                getattr(m, "pattern", None) for m in info.metadata):  # codes such as currencies are not free text
            continue
        args = [a for a in typing.get_args(info.annotation) if a is not type(None)] or [info.annotation]
        if str in args or any(typing.get_origin(a) is list and typing.get_args(a) == (str,) for a in args):
            out.append(name)
    return out


identifiers = st.one_of(
    st.builds(lambda n: f"E-{n}", st.integers(10000, 99999)),                        # employee numbers
    st.builds(lambda a, b: f"+66 8{a} {b} {b + 1234}", st.integers(10, 99), st.integers(100, 999)),  # phones
    st.builds(lambda f, l: f"{f} {l}", st.sampled_from(FIRST), st.sampled_from(LAST)),  # names
    st.builds(lambda f, n: f"{f.split()[0].lower()}.{n}@example.org", st.sampled_from(FIRST), st.integers(1, 999)),
    st.builds(lambda n: f"wp_{n:020x}", st.integers(2 ** 60, 2 ** 79)),              # pseudonyms
    st.builds(lambda n: f"ID-CARD {n}", st.integers(10 ** 8, 10 ** 9)),              # national ids
)


def _record(type_name: str, number: int, day: dt.date, sensitivity: str, words: list[str], small: int
            ) -> models.EvidenceBase:
    """The template's example record of a type, with an identifier in every free-text field."""
    cls = models.EVIDENCE_TYPES[type_name]
    row = {k: v for k, v in evidence_template.example_row(type_name).items() if v != ""}
    values: dict[str, object] = {}
    for name, value in row.items():
        info = cls.model_fields.get(name)
        is_list = info is not None and "list[" in str(info.annotation)
        values[name] = value.split(";") if is_list else value
    for n, name in enumerate(_free_text_fields(cls)):
        text = f"reported by {words[n % len(words)]} at line 3"
        values[name] = [text] if "list[" in str(cls.model_fields[name].annotation) else text
    if cls.person_field:
        values[cls.person_field] = next((w for w in words if w.startswith("wp_")), f"wp_{number:020x}")
    for name in ("n_affected", "n_workers", "workers_due", "under_minimum_age"):
        if name in cls.model_fields:
            values[name] = small
    values |= {"id": f"REC-{words[0].replace(' ', '')}-{number}", "date": day.isoformat(),
               "facility_id": "FAC-A", "sensitivity": sensitivity}
    return models.EVIDENCE_ADAPTER.validate_python(values)


PREVIOUS_LETTER = dt.date(2025, 12, 1)
evidence_sets = st.lists(
    st.tuples(st.sampled_from(sorted(models.EVIDENCE_TYPES)),
              # not the day of the buyer's previous letter, which the letter prints as the buyer's own date
              st.dates(dt.date(2024, 1, 1), dt.date(2025, 12, 31)).filter(lambda day: day != PREVIOUS_LETTER),
              st.sampled_from([s.value for s in models.Sensitivity]),
              st.lists(identifiers, min_size=1, max_size=4),
              st.integers(1, 4)),
    min_size=1, max_size=6)


#: The rules the letters cite, one per record: a fixed spread of areas and severities, so that the letters stay the
#: same when rules are added (a table row such as "3  Forced labour  Workers paid recruitment fees" would read as a
#: small count to the plain-text check below, which sees no table cells).
CITED = ("DI-01", "EX-WAGES", "FL-02", "FL-07-AUDIT", "HS-01", "PM-02")


def _letter_outputs(kind: str, records: list[models.EvidenceBase], tmp: Path, formats: tuple[str, ...]
                    ) -> dict[str, str]:
    """Every format of a letter of `kind` citing one finding per record, read back as text."""
    by_id = {r.id: r for r in library().rules}
    contract = models.Contract.model_validate({
        "ocid": "ocds-h6vhtk-prop1", "id": "PROP-1", "buyers": [{"id": "GB-PPON-X", "name": "University of Prop"}],
        "supplier": {"id": "S", "name": "Prop Reseller Ltd"}, "brands": ["PropBrand"],
        "items": [{"id": "1", "brand": "PropBrand", "model": "M1"}], "signed_on": "2024-01-01",
        "period": {"start": "2024-01-01", "end": "2027-01-01"}, "clause_set": {"id": "EWCC-v2-UK", "version": "2.0"}})
    facility = models.Facility(id="FAC-A", name="Prop Factory Plant 1", country="TH")
    findings = []
    for n, record in enumerate(records):
        rule = by_id[CITED[n % len(CITED)]]
        findings.append(models.Finding(
            key=f"{rule.id}/PROP-1/{n:012d}", rule_id=rule.id, rule_version=rule.version, title=rule.title,
            clause=rule.clause, contract_id="PROP-1", ocid=contract.ocid, supplier_id="S", facility_id="FAC-A",
            severity=rule.severity, fprw=rule.fprw, message=f"{record.id} on {record.date}", evidence_ids=[record.id],
            observed_on=record.date, required_actions=rule.then.required_actions, letter_type=kind,
            respond_by=DATED, as_of=DATED))
    evidence = {r.id: r for r in records}
    context = letters.context(kind, contract, None, findings, evidence, {"FAC-A": facility}, DATED, "HRDD-2026-0001",
                              ["Apple working group"], "A. Officer")
    context["previous"] = [{"reference": "HRDD-2025-0099", "date": PREVIOUS_LETTER}]
    env = documents.environment()
    document = documents.render(env, letters.template_name(env, kind, "en"), context)
    guard = redaction.Guard(allowed_dates=letters.safe_dates(context) | {PREVIOUS_LETTER})
    guard.allow(contract.id, contract.ocid, "Prop Reseller Ltd", "PropBrand", facility.name, "FAC-A",
                "Electronics Watch", "A. Officer", "University of Prop")
    for finding in findings:
        guard.learn(finding.key, [evidence[i] for i in finding.evidence_ids])
    guard.deny_monitors({m for r in records if (m := getattr(r, "monitor", None))}, frozenset())
    guard.require_clean(documents.readable_text(document), f"the {kind} letter")  # the shipped templates pass
    out = {}
    for path in documents.write(document, tmp / f"letter-{kind}", formats, kind):
        if path.suffix == ".pdf":
            out["pdf"] = "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
        elif path.suffix == ".docx":
            word = docx.Document(str(path))
            out["docx"] = "\n".join([p.text for p in word.paragraphs] +
                                    [c.text for t in word.tables for r in t.rows for c in r.cells])
        else:
            out[path.suffix[1:]] = path.read_text(encoding="utf-8")
    return out


def _assert_nothing_leaks(records: list[models.EvidenceBase], words: list[str], outputs: dict[str, str]) -> None:
    for fmt, text in outputs.items():
        flat = " ".join(text.split())
        for word in words:
            assert word not in flat, f"{word!r} reached the {fmt} output"
        assert not redaction.PSEUDONYM.search(flat) and not redaction.EMAIL.search(flat), fmt
        assert not redaction.SMALL_COUNT.search(text), f"a count below 5 in the {fmt} output"
        for record in records:
            if record.sensitivity in outbound.CLOSED_SENSITIVITIES:
                assert record.id not in flat, f"the id of a {record.sensitivity.value} record in the {fmt} output"
            if type(record).worker_event:
                day = record.date
                for form in (day.isoformat(), f"{day.day} {outbound.MONTHS[day.month - 1]} {day.year}",
                             f"{day.day:02d}/{day.month:02d}/{day.year}"):
                    assert form not in flat, f"the exact date {form} of a worker event in the {fmt} output"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), sets=evidence_sets)
def test_no_identifier_in_any_free_text_field_reaches_html_text_or_docx(kind: str, sets: list, tmp_path: Path):
    records = [_record(t, n, day, sensitivity, words, small) for n, (t, day, sensitivity, words, small)
               in enumerate(sets)]
    words = [w for *_, ws, _ in sets for w in ws]
    _assert_nothing_leaks(records, words, _letter_outputs(kind, records, tmp_path, ("html", "txt", "docx")))


@pytest.mark.parametrize("kind", KINDS)
def test_no_identifier_reaches_the_pdf_of_any_letter_type(kind: str, tmp_path: Path):
    words = ["Somchai Rakpong", "E-48213", "+66 81 234 1234", "lan.7@example.org", "wp_00000000000000000abc"]
    records = [_record(t, n, dt.date(2025, 3, 14), s, words, 3) for n, (t, s) in enumerate(
        [("grievance", "worker_safety"), ("monitoring_finding", "restricted"), ("adverse_action", "worker_safety"),
         ("practice_observation", "buyer_only"), ("audit_finding", "buyer_only"), ("remediation", "public")])]
    _assert_nothing_leaks(records, words, _letter_outputs(kind, records, tmp_path, ("pdf",)))


# ---------------------------------------------------------------------------------------------------------------------
# Failing closed, as an officer sees it


def test_a_template_that_would_reveal_a_worker_is_not_written_and_the_command_says_why(
        example: str, tmp_path: Path):  # noqa: F811 - pytest fixture
    store = Store(example)
    try:
        retaliation = next(r for r in store.stored_findings(contract_id="KBU-ICT-2025-004") if r.rule_id == "GR-03")
        records = store.evidence_records(retaliation.payload["evidence_ids"])
        before = len(store.letters())
    finally:
        store.close()
    adverse = next(r for r in records.values() if r.type == "adverse_action")
    folder = tmp_path / "ours" / "letters"
    folder.mkdir(parents=True)
    (folder / "L2-P.html.j2").write_text(
        '{% extends "letters/L2.html.j2" %}{% block basis %}<p>The worker ' + adverse.subject + " was dismissed on "
        + f"{adverse.date.day} {outbound.MONTHS[adverse.date.month - 1]} {adverse.date.year}, as were 3 workers."
        + "</p>{% endblock %}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", example, "letter", "draft", "KBU-ICT-2025-004", "--type", "L2-P",
                                      "--templates", str(tmp_path / "ours"), "--out", str(tmp_path / "out"), *COMMON])
    assert result.exit_code == 9, result.output
    assert "failed the redaction check" in result.output
    assert f"finding {retaliation.key}, evidence {adverse.id}.subject: a worker pseudonym" in result.output
    assert f"evidence {adverse.id}.date: the exact date of a worker-related event" in result.output
    assert 'a count below 5 ("3 workers")' in result.output
    assert not (tmp_path / "out").exists()
    store = Store(example)
    try:
        assert len(store.letters()) == before  # nothing stored either
    finally:
        store.close()


def test_no_output_of_the_example_data_contains_a_worker_identifier(example: str, tmp_path: Path):  # noqa: F811
    """Every letter type the example contracts call for, in every format: no raw identifier of the worker-voice
    export, no pseudonym."""
    raw = (Path(__file__).resolve().parent.parent / "contracts" / "evidence" / "worker-voice-app.csv").read_text(
        encoding="utf-8")
    header, *rows = [line.split(",") for line in raw.strip().splitlines()]
    identity_columns = [i for i, name in enumerate(header) if re.search(r"name|employee|phone|mobile|email", name)]
    identities = {row[i].strip() for row in rows for i in identity_columns if len(row) > i and len(row[i].strip()) > 3}
    assert len(identities) >= 6
    texts = []
    for contract in ("KBU-ICT-2025-004", "NET-CALLOFF-2024-088", CONTRACT):
        for kind in ("L1", "L2", "L2-P"):
            out = tmp_path / contract / kind
            result = CliRunner().invoke(cli, ["--db", example, "letter", "draft", contract, "--type", kind,
                                              "--out", str(out), *COMMON])
            if result.exit_code == 3:  # the contract has no finding of this type
                continue
            assert result.exit_code == 0, result.output
            for path in out.iterdir():
                if path.suffix == ".pdf":
                    texts.append(" ".join(p.extract_text() for p in pypdf.PdfReader(path).pages))
                elif path.suffix == ".docx":
                    word = docx.Document(str(path))
                    texts.append(" ".join([p.text for p in word.paragraphs] +
                                          [c.text for t in word.tables for r in t.rows for c in r.cells]))
                else:
                    texts.append(path.read_text(encoding="utf-8"))
    assert len(texts) >= 20
    for text in texts:
        assert not redaction.PSEUDONYM.search(text)
        for identity in identities:
            assert identity not in text
