"""Hostile and broken input: no hang, no traceback, no lost row, on SQLite and PostgreSQL.

Every input here once hung the product, exhausted its memory, ended in exit 70, or lost the good rows of a file.
Each must now end with its documented exit code and a message naming its place, quickly; evidence files keep
their good rows and quarantine the bad ones (rows in = rows stored + rows quarantined).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import CONTRACTS, FACILITIES, example_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.cli import cli
from compliance.documents import redaction

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
CONTRACT = "NDNA-CALLOFF-2024-017"
#: Examples per fuzz test: a few hundred in `make test`, thousands with `make fuzz` (COMPLIANCE_FUZZ_EXAMPLES).
FUZZ = int(os.environ.get("COMPLIANCE_FUZZ_EXAMPLES", "100"))

BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
rules: [*g]
"""
STRUCTURED = {
    "alias bomb": ("bomb.yaml", BOMB, "repeats more than 100,000 values"),
    "self reference": ("self.yaml", "rules: &a [*a]\n", "contains an alias to itself"),
    "deep yaml": ("deep.yaml", "rules:\n  - " + "[" * 50_000 + "]" * 50_000 + "\n", "nesting depth"),
    "deep json": ("deep.json", '{"rules": ' + "[" * 100_000 + "]" * 100_000 + "}", "deeper than 64 levels"),
}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def finishes(work: object, seconds: float = 60) -> None:
    """Run `work` and fail if it has not finished within `seconds` (a hang guard, not a speed measure)."""
    done = threading.Event()
    error: list[BaseException] = []

    def target() -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as e:  # noqa: BLE001 - reported below
            error.append(e)
        done.set()
    threading.Thread(target=target, daemon=True).start()
    assert done.wait(seconds), f"did not finish within {seconds} s"
    if error:
        raise error[0]


@pytest.mark.parametrize("case", sorted(STRUCTURED))
def test_hostile_structured_files_are_refused_at_once_with_their_place(tmp_path: Path, case: str):
    name, text, expected = STRUCTURED[case]
    (tmp_path / name).write_text(text)
    outcome: list[tuple[int, str]] = []
    finishes(lambda: outcome.append(run("rules", "validate", str(tmp_path / name))), 30)
    code, output = outcome[0]
    assert code == 3 and expected in output and name in output, output


@pytest.fixture
def loaded(store_url: str, tmp_path: Path) -> str:
    for kind, text in (("contracts", CONTRACTS), ("facilities", FACILITIES)):
        (tmp_path / f"{kind}.yaml").write_text(text)
    assert run("--db", store_url, "db", "init")[0] == 0
    for kind in ("contracts", "facilities"):
        code, output = run("--db", store_url, "import", kind, str(tmp_path / f"{kind}.yaml"))
        assert code == 0, output
    return store_url


GOOD = {"type": "recruitment_fee", "facility_id": "TH2020112B8R4N8", "date": "2024-07-01", "worker_group": "wg_a",
        "standard_applied": "zero_fee", "median_fee": 1500.0}
BAD_VALUES = {
    "infinite fee": {"median_fee": "inf"},
    "fee beyond every float": {"median_fee": "1e999"},
    "whole number of 5,000 digits": {"n_workers": "9" * 5000},
    "whole number beyond 64 bits": {"n_workers": str(2 ** 64)},
    "NUL in text": {"worker_group": "wg_a\x00b"},
    "control character": {"worker_group": "wg_a\x1bb"},
    "lone surrogate": {"worker_group": "wg_\ud800"},
    "impossible date": {"date": "2025-02-30"},
}


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "yaml"])
def test_bad_values_are_quarantined_at_their_field_and_the_good_rows_kept(loaded: str, tmp_path: Path, fmt: str):
    # A CSV file is text: a NUL byte or a byte sequence that is not UTF-8 makes the whole file unreadable (exit 3,
    # tested in test_intake); in JSON and YAML they are escapes inside one value.
    bad_values = {name: bad for name, bad in BAD_VALUES.items()
                  if fmt != "csv" or name not in ("NUL in text", "lone surrogate")}
    rows = [{**GOOD, "id": "RF-GOOD-1"}]
    rows += [{**GOOD, "id": f"RF-BAD-{n}", **bad} for n, bad in enumerate(bad_values.values())]
    rows += [{**GOOD, "id": "RF-GOOD-2"}]
    path = tmp_path / f"evidence.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps({"evidence": rows}), encoding="utf-8", errors="surrogatepass")
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8", errors="surrogatepass")
    elif fmt == "yaml":
        path.write_text("evidence:\n" + "".join(f"  - {json.dumps(r)}\n" for r in rows), encoding="utf-8",
                        errors="surrogatepass")
    else:
        columns = sorted({k for r in rows for k in r})
        lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    code, output = run("--db", loaded, "import", "evidence", str(path))
    assert code == 8, output
    assert f"2 evidence records added, 0 updated, 0 unchanged, {len(bad_values)} quarantined" in output, output
    for field in {name for bad in bad_values.values() for name in bad}:
        assert f": {field}: " in output, (field, output)
    code, listed = run("--db", loaded, "quarantine", "list")
    assert code == 0 and f"{len(bad_values)} entr" in listed, listed
    code, checked = run("--db", loaded, "check", "K1", "--as-of", "2025-06-30", "--rules", RULES, "--json")
    assert code in (0, 1) and json.loads(checked)[0]["engine_faults"] == [], checked


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> str:
    return example_store(tmp_path_factory.mktemp("hostile") / "example.db", dt.date(2025, 6, 30))


@pytest.mark.parametrize("args, code, words", [
    (["check", "--all", "--as-of", "9999-12-31"], 2, "outside the dates"),
    (["check", "--all", "--as-of", "0001-01-01"], 2, "outside the dates"),
    (["run", "--known-at", "9999-12-31", "--rules", RULES], 2, "is not a date"),
    (["letter", "draft", CONTRACT, "--type", "L2", "--language", "xx"], 3, "is not a language"),
    (["letter", "draft", CONTRACT, "--type", "L2", "--language", "../../etc"], 3, "is not a language"),
    (["letter", "draft", CONTRACT, "--type", "L2", "--reference-prefix", ""], 3, "reference-prefix"),
    (["letter", "draft", CONTRACT, "--type", "L2", "--out", "/dev/null"], 3, "cannot read or write /dev/null"),
    (["quarantine", "export", "-o", "/nonexistent-folder/x.csv"], 3, "No such file or directory"),
    (["quarantine", "export", "-o", "/dev/full"], 3, "No space left on device"),
    (["quarantine", "show", "99999999999999999999999"], 2, "ENTRY_ID"),
    (["run", "--join", "999999", "--rules", RULES], 3, "no run in progress"),
    (["import", "evidence", "--encoding", "hex", str(ROOT / "contracts" / "evidence" / "corrective-actions.csv")],
     3, "is not a text encoding"),
])
def test_every_argument_is_checked_at_the_edge(example: str, tmp_path: Path, args: list[str], code: int,
                                                words: str):
    if args[0] == "letter":
        args = [*args, "--rules", RULES, "--groups", str(ROOT / "contracts" / "working-groups.yaml")]
        if "--out" not in args:
            args += ["--out", str(tmp_path / "out")]
    got, output = run("--db", example, *args)
    assert got == code and words in output and "internal error" not in output, output


def test_a_binary_pseudonym_key_file_is_a_setting_problem(example: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    key = tmp_path / "key"
    key.write_bytes(bytes(range(256)))
    monkeypatch.delenv("COMPLIANCE_PSEUDONYM_KEY")
    monkeypatch.setenv("COMPLIANCE_PSEUDONYM_KEY_FILE", str(key))
    code, output = run("--db", example, "import", "evidence", str(ROOT / "contracts" / "evidence" /
                                                                     "corrective-actions.csv"))
    assert code == 5 and "is not text" in output, output


@pytest.mark.parametrize("body", [
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "{{ 'x' * 20000000 }}",
    "{{ 'x' * 10**9 }}",
    "{{ 'x' | center(1000000000) }}",
    "{{ '%1000000000s' | format('x') }}",
    "{% for i in range(10**12) %}{% endfor %}",
])
def test_a_template_that_would_hang_or_exhaust_the_server_is_refused(example: str, tmp_path: Path, body: str):
    folder = tmp_path / "ours" / "letters"
    folder.mkdir(parents=True)
    (folder / "letterhead.html.j2").write_text(f"<header>{body}</header>\n")
    outcome: list[tuple[int, str]] = []
    finishes(lambda: outcome.append(run("--db", example, "letter", "draft", CONTRACT, "--type", "L2", "--rules", RULES,
                                        "--groups", str(ROOT / "contracts" / "working-groups.yaml"),
                                        "--templates", str(tmp_path / "ours"), "--out", str(tmp_path / "out"))), 60)
    code, output = outcome[0]
    assert code == 3 and ("letterhead.html.j2" in output or "L2.html.j2" in output), output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", ["x" * 200_000, "a." * 100_000, "1 " * 100_000, "a@" * 100_000,
                                  "-" * 100_000 + "@", "wp_" + "a" * 200_000])
def test_the_redaction_check_reads_long_tokens_in_linear_time(text: str):
    guard = redaction.Guard()
    guard.learn(None, [])
    finishes(lambda: guard.check(text), 30)
    finishes(lambda: redaction.id_tokens(text), 30)


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400))
def test_any_rule_file_text_is_validated_or_refused_never_crashes(tmp_path: Path, text: str):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, output = run("rules", "validate", str(path))
    assert code == 3 or code == 0, output
    assert "internal error" not in output


HOSTILE_VALUES = st.one_of(
    st.text(max_size=30), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.sampled_from(["2025-02-30", "0000-01-01", "31/12/2024", "1e999", "-inf", "NaN", "9" * 5000, "\x00", "\ud800",
                     "\uffff", "2024-07-01", "wg_a", "zero_fee", "TH2020112B8R4N8", "K1", "[]", "{}"]),
    st.lists(st.text(max_size=5), max_size=3),
)
FIELDS = ["type", "id", "facility_id", "contract_id", "date", "worker_group", "standard_applied", "median_fee",
          "n_workers", "status", "issue_categories", "summary", "currency", "subject", "employee_number"]


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.dictionaries(st.sampled_from(FIELDS), HOSTILE_VALUES, max_size=8), min_size=1, max_size=6),
       as_lines=st.booleans())
def test_any_evidence_file_loses_no_row_and_never_crashes(loaded: str, tmp_path: Path, rows: list[dict],
                                                           as_lines: bool):
    """Rows in = rows stored + rows quarantined + rows skipped, or the file is refused whole with its reason."""
    path = tmp_path / ("fuzz.jsonl" if as_lines else "fuzz.json")
    text = "\n".join(json.dumps(r) for r in rows) + "\n" if as_lines else json.dumps({"evidence": rows})
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, output = run("--db", loaded, "import", "evidence", str(path))
    assert code in (0, 3, 8), output
    assert "internal error" not in output
    if code != 3:
        summary = output.splitlines()[0]
        numbers = [int(word) for word in summary.replace(",", " ").split() if word.isdigit()]
        skipped = int(summary.split("skipped")[0].split()[-1]) if "skipped" in summary else 0
        assert sum(numbers[:4]) + skipped == len(rows), output


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["contracts", "facilities"]),
       records=st.lists(st.dictionaries(st.sampled_from(["id", "ocid", "name", "country", "buyers", "supplier",
                                                          "period", "status", "brands", "items", "address"]),
                                        HOSTILE_VALUES, max_size=6), max_size=3))
def test_any_contracts_or_facilities_file_is_imported_or_refused_never_crashes(tmp_path: Path, kind: str,
                                                                             records: list[dict]):
    path = tmp_path / f"{kind}.json"
    path.write_text(json.dumps({kind: records}), encoding="utf-8", errors="surrogatepass")
    code, output = run("--db", str(tmp_path / "store.db"), "import", kind, str(path))
    assert code in (0, 3, 5), output
    assert "internal error" not in output
