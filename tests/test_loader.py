"""Reading files: every problem with its file, line or row, and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from compliance.cli import cli
from compliance.errors import InputError
from compliance.rules.library import load_rules
from compliance.sources import records


def problems(call, *args) -> list[str]:
    with pytest.raises(InputError) as caught:
        call(*args)
    return [str(p) for p in caught.value.problems]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_syntax_errors_name_the_line(tmp_path: Path):
    path = write(tmp_path, "r.yaml", "rules:\n  - id: X-01\n    title: [unclosed\n")
    [message] = problems(load_rules, [path])
    assert message.startswith(f"{path}:4: is not valid YAML")


def test_duplicate_keys_are_errors_not_silently_overwritten(tmp_path: Path):
    path = write(tmp_path, "c.yaml", "contracts:\n  - id: K1\n    id: K2\n")
    assert problems(records.load_contracts, path) == [f"{path}:3: duplicate key 'id' (first on line 2)"]


RULE = """rules:
  - id: GR-90
    version: "1"
    title: Test rule
    clause: c
    severity: major
    params: {window_days: 30}
    when:
      match:
        - as: protected
          fact: protected_activty
        - as: adverse
          fact: adverse_action
          where:
            - dat > protected.date
            - date <= protected.date + windw_days
            - subject == other.subject
            - status == 3
    then:
      message: "{{ adverse.id }}"
"""


def test_every_meaning_error_in_a_rule_is_reported_with_its_line(tmp_path: Path):
    path = write(tmp_path, "r.yaml", RULE)
    assert problems(load_rules, [path]) == [
        f'{path}:11: rule GR-90: when.match[0].fact: unknown fact type "protected_activty"; did you mean '
        '"protected_activity"?',
        f'{path}:15: rule GR-90: when.match[1].where[0]: "adverse_action" has no field "dat"; did you mean "date"?',
        f'{path}:16: rule GR-90: when.match[1].where[1]: unknown parameter "windw_days"; did you mean "window_days"?',
        f'{path}:17: rule GR-90: when.match[1].where[2]: unknown alias "other" in "other.subject"; a test can refer to '
        "its own pattern and earlier ones: adverse, protected",
        f'{path}:18: rule GR-90: when.match[1].where[3]: "adverse_action" has no field "status"',
    ]


def test_duplicate_rule_ids_across_files(tmp_path: Path):
    first = write(tmp_path, "a.yaml", RULE.replace("protected_activty", "protected_activity")
                  .replace("dat >", "date >").replace("windw", "window").replace("other.", "protected.")
                  .replace("status == 3", "action == \"dismissal\""))
    second = write(tmp_path, "b.yaml", first.read_text())
    assert problems(load_rules, [tmp_path]) == [
        f"{second}:2: rule GR-90: duplicate rule id; first defined at {first}:2"
    ]
    assert [r.id for r in load_rules([first]).rules] == ["GR-90"]


def test_contracts_are_not_read_from_csv(tmp_path: Path):
    path = write(tmp_path, "c.csv", "id\nK1\n")
    assert problems(records.load_contracts, path) == [f"{path}: contracts are read from .yaml, .yml, .json files, not .csv"]


BROKEN_RULES = """rules:
  - id: FL-90
    version: "1.0"
    title: Bad rule
    clause: test
    severity: major
    params:
      large_scale_workers:
      min_fee: 0
    when:
      match:
        - as: fee
          fact: recruitment_fee
          where:
            - median_fee => min_fee
            - median_fee > "ten"
            - one_of:
                - n_workers > 1
    then:
      message: "{{ fee.id }}"
  - id: FL-91
    version: "1.0"
    title: Bad rule two
    clause: test
    severity: major
    when:
      match:
        - as: fee
          fact: recruitment_fee
          where:
            - n_workers >= large_scale_workers
    then:
      message: "{{ fee.id }}"
  - id: FL-92
    version: "1.0"
    title: Bad rule three
    clause: test
    severity: major
    when:
      match:
        - as: fee
          fact: recruitment_fee
          where:
            - median_fee > "ten"
    then:
      message: "{{ fee.id }}"
"""


def test_every_kind_of_rule_error_is_reported_at_once_with_file_line_and_rule(tmp_path: Path):
    """A parameter without a default, an unknown operator, an unknown condition, an undeclared parameter and a
    wrong type, in three rules of one file: one run reports them all, each with its line."""
    path = write(tmp_path, "bad.yaml", BROKEN_RULES)
    assert problems(load_rules, [path]) == [
        f'{path}:7: rule FL-90: params: parameter "large_scale_workers" has no default value; give one (a number, '
        '"text", true or false) - clause sets and contracts may override it',
        f"{path}:15: rule FL-90: when.match[0].where[0]: cannot read '=> min_fee' in test 'median_fee => min_fee'; "
        'did you mean ">="?',
        f"{path}:17: rule FL-90: when.match[0].where[2]: a condition is a test string, or a mapping with exactly one "
        "key: all, any or not",
        f'{path}:31: rule FL-91: when.match[0].where[0]: unknown name "large_scale_workers": not a parameter of this '
        'rule, "as_of" or alias.field',
        f"{path}:44: rule FL-92: when.match[0].where[0]: \"median_fee\" is a number, but 'ten' is text",
    ]


def test_a_rule_that_expands_past_the_engines_safe_size_is_reported_at_its_line_and_exits_3(tmp_path: Path):
    alternatives = "{any: [" + ", ".join(f'"status == \'s{i}\'"' for i in range(21)) + "]}"
    path = write(tmp_path, "too-many.yaml", f"""rules:
  - id: X-01
    version: "1"
    title: Every status twice
    clause: c
    severity: minor
    when:
      match:
        - as: a
          fact: grievance
          where: [{alternatives}]
        - as: b
          fact: grievance
          where: [{alternatives}]
    then:
      message: "m"
""")
    result = CliRunner().invoke(cli, ["rules", "validate", str(tmp_path)])
    assert result.exit_code == 3
    assert result.output == (
        f"Error: {path}:7: rule X-01: when: the rules expand to 441 engine rules (441 from rule X-01, the most); "
        "expected at most 256, as many as durable_rules runs safely in one ruleset: simplify 'any' conditions (each "
        "alternative is an engine rule) or split the library\n1 problem found; nothing was changed.\n")


def test_parameters_the_engine_would_confuse_are_reported_at_the_rule_that_names_them(tmp_path: Path):
    path = write(tmp_path, "hashes.yaml", """rules:
  - id: X-01
    version: "1"
    title: Two names, one hash
    clause: c
    severity: minor
    params: {f6059: 1, f264602: 2}
    when:
      match:
        - as: g
          fact: grievance
    then:
      message: "m"
""")
    assert problems(load_rules, [path]) == [
        f'{path}:7: rule X-01: params.f6059: property names "f264602" and "f6059" have the same 32-bit hash; the '
        "engine would confuse them: rename one"]
