"""The engine's documented silent defects are neutralised, and the cross-check catches what slips through."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from compliance.domain import facts, models
from compliance.errors import EngineUnavailable
from compliance.evaluation.contract import Evaluator
from compliance.rules import compiler, engine, meaning, spec
from compliance.rules.library import load_rules

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = load_rules([ROOT / "rules"])
AS_OF = dt.date(2025, 6, 30)


def contract(contract_id: str, model: str) -> models.Contract:
    return models.Contract.model_validate(dict(
        ocid=f"ocds-h6vhtk-{contract_id}", id=contract_id, buyers=[{"id": "GB-PPON-1", "name": "University A"}],
        supplier={"id": "S1", "name": "Reseller"}, brands=["BrandH"],
        items=[{"id": "1", "brand": "BrandH", "model": model, "disclosure_in_scope": False}],
        signed_on="2024-03-04", period={"start": "2024-03-04", "end": "2026-03-03"},
        clause_set={"id": "EWCC-v2-UK", "version": "2.0"}))


FACILITY = models.Facility(id="TH2020112B8R4N8", name="Plant 2", address="99 Moo 4, Samut Sakhon", country="TH")


def bundle(c: models.Contract, records: list[dict]) -> facts.ContractFacts:
    links = [models.ProductionLink(brand="BrandH", model=c.items[0].model, facility_id=FACILITY.id)]
    evidence = [models.EVIDENCE_ADAPTER.validate_python({"facility_id": FACILITY.id, **r}) for r in records]
    return facts.build(c, {FACILITY.id: FACILITY}, links, evidence, AS_OF)


def retention(record_id: str) -> dict:
    return {"type": "document_retention", "id": record_id, "date": "2025-01-10", "worker_group": "wg_a",
            "documents": ["passport"], "holder": "labour_agency", "access_on_request": False}


def test_record_ids_whose_engine_hashes_collide_are_both_evaluated():
    # The engine identifies facts by a 32-bit hash of their id; these two ids have the same hash, so fed
    # as they are the second record would be dropped as a "duplicate" without any error.
    assert compiler.fnv1a_32("EV-462789") == compiler.fnv1a_32("EV-679192")
    result = Evaluator(LIBRARY).evaluate(bundle(contract("K1", "NB-1"), [retention("EV-462789"), retention("EV-679192")]))
    assert result.faults == []
    assert sorted(f.evidence_ids[0] for f in result.findings if f.rule_id == "FL-04") == ["EV-462789", "EV-679192"]


def test_nothing_carries_over_from_one_contract_to_the_next():
    # Contract ids whose 32-bit hashes collide: were they engine sessions, their facts would join.
    first, second = contract("contract-61672", "NB-1"), contract("contract-1928400", "NB-1")
    assert compiler.fnv1a_32(first.id) == compiler.fnv1a_32(second.id)
    protected = {"type": "protected_activity", "id": "PA-1", "date": "2025-01-01", "subject": "wg_b",
                 "activity": "complaint", "contract_id": first.id}
    adverse = {"type": "adverse_action", "id": "AA-1", "date": "2025-02-01", "subject": "wg_b", "action": "dismissal",
               "contract_id": second.id}
    evaluator = Evaluator(LIBRARY)
    results = [evaluator.evaluate(bundle(first, [protected])), evaluator.evaluate(bundle(second, [adverse]))]
    assert [[f.rule_id for f in r.findings if f.verdict == "breach"] for r in results] == [[], []]
    together = evaluator.evaluate(bundle(first, [protected, {**adverse, "contract_id": first.id}]))
    assert [f.rule_id for f in together.findings if f.verdict == "breach"] == ["GR-03"]  # the same facts in one contract do join


def test_property_names_with_colliding_hashes_are_refused_at_compile_time():
    rule = copy.deepcopy(LIBRARY.rule("WH-01"))
    rule = rule.model_copy(update={"params": {**rule.params, "f6059": 1, "f264602": 2}})
    with pytest.raises(compiler.CompileError, match='"f264602" and "f6059" have the same 32-bit hash'):
        compiler.compile_rules([rule])


def test_the_cross_check_reports_an_engine_that_drops_a_join_test():
    """Simulate engine defect #6 ($or dropping a correlated test): the reference evaluation catches it."""
    evaluator = Evaluator(LIBRARY)
    for name, rule in evaluator.compiled[0].definition.items():  # every alternative of GR-03
        if name.startswith("GR-03#"):
            broken = rule["all"][3]["u_adverse"]["$and"]
            broken[:] = [t for t in broken if "subject" not in t]  # the engine "forgets" subject == protected.subject
    records = [
        {"type": "protected_activity", "id": "PA-1", "date": "2025-01-01", "subject": "wg_b", "activity": "complaint"},
        {"type": "adverse_action", "id": "AA-1", "date": "2025-02-01", "subject": "wg_other", "action": "dismissal"},
    ]
    result = evaluator.evaluate(bundle(contract("K1", "NB-1"), records))
    assert [str(f) for f in result.faults] == [
        "engine fault: rule GR-03, contract K1: the engine reported a match the reference evaluation does not "
        "confirm (adverse=AA-1, protected=PA-1)"
    ]


def test_an_engine_that_cannot_load_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(engine, "_IMPORT_ERROR", ImportError("undefined symbol: PyEval_CallObject"))
    with pytest.raises(EngineUnavailable, match="python scripts/install_engine.py"):
        engine.Session(compiler.compile_library(LIBRARY.rules)[0])


def test_sessions_are_reused_and_deleted_so_many_contracts_fit_in_one_ruleset():
    # The engine allows 1,024 live sessions per ruleset; one live at a time means any number of contracts.
    evaluator = Evaluator(LIBRARY, cross_check=False)
    c = contract("K1", "NB-1")
    records = [retention("DR-1")]
    for _ in range(1100):
        result = evaluator.evaluate(bundle(c, records))
    assert [f.rule_id for f in result.findings if f.verdict == "breach"] == ["FL-04"]


def test_message_templates_only_use_names_the_rule_defines():
    rule = LIBRARY.rule("FL-04").model_dump(by_alias=True)
    rule["then"]["message"] = "{{ retention.holder }} {{ retentoin.documents }}"
    problems = meaning.check_rule(spec.Rule.model_validate(rule), ())
    assert [p.message for p in problems] == [
        'the message uses "retentoin", which is not an alias, a parameter or as_of; did you mean "retention"?'
    ]


def test_an_engine_without_the_fixes_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(engine, "_installed_build", lambda: "2.0.28")
    with pytest.raises(EngineUnavailable, match=r"durable-rules 2.0.28 is installed, but compliance needs "
                                                r"2.0.28\+compliance.1"):
        engine.require_engine()


def test_the_installed_engine_is_the_fixed_build():
    engine.require_engine()
    assert engine._installed_build() == engine.REQUIRED_BUILD


def test_an_engine_error_becomes_an_engine_fault():
    """Without the compiler's presence guard, durable_rules fails with error 311: reported, not a crash."""
    rule = spec.Rule.model_validate({
        "id": "X-01", "version": "1", "title": "t", "clause": "c", "severity": "minor", "then": {"message": "m"},
        "when": {"match": [{"as": "a", "fact": "correspondence"},
                           {"as": "b", "fact": "correspondence", "where": ["date < a.response_on"]}]}})
    compiled = compiler.compile_rules([rule])
    first = compiled.definition["X-01#0"]["all"][2]["u_a"]["$and"]
    assert {"$ex": {"response_on": 1}} in first
    first.remove({"$ex": {"response_on": 1}})
    c = contract("K1", "NB-1")
    records = [{"type": "correspondence", "id": f"C{n}", "date": "2025-01-0" + str(n + 1), "kind": "other"}
               for n in range(2)]
    with pytest.raises(engine.EngineError, match=r"durable_rules failed \(.*311"):
        engine.Session(compiled).evaluate(bundle(c, records), {"X-01": {}})


# Found by the differential tests: this rule expanded to 16 engine rules, each with four absence checks, and
# durable_rules failed with error 303 (ERR_NO_ACTION_AVAILABLE) on one remediation record. Its alternatives repeat
# one another; the compiler now drops repeated tests and alternatives, leaving 4 engine rules that run.
REPEATED_ALTERNATIVES = """
id: X-01
version: "1"
title: repeated alternatives
clause: test
severity: minor
params: {n_int: -1}
when:
  match:
    - as: p0
      fact: contract_item
      where:
        - any: ['brand == "a"', 'brand == "a"']
    - as: p1
      fact: remediation
      where:
        - any: ["amount_due == p1.amount_due", "amount_due == 0"]
        - amount_due in [0, 1]
        - any: ["amount_due == 0", "amount_due == 0"]
  absent:
    - fact: remediation
      where:
        - amount_due == n_int
        - all: ["amount_due in [0, 1]", "amount_due in [0, 1]"]
then: {message: m}
"""


def test_a_rule_repeating_its_alternatives_compiles_small_and_runs():
    import yaml

    from compliance.rules import reference

    rule = spec.Rule.model_validate(yaml.safe_load(REPEATED_ALTERNATIVES))
    compiled = compiler.compile_rules([rule])
    assert len(compiled.definition) - 1 == 4  # engine rules besides the sentinel
    day = dt.date(2024, 1, 1)
    data = bundle(contract("K1", "NB-1"), [{"type": "remediation", "id": "R1", "date": day, "due_date": day,
                                            "kind": "other", "amount_due": 5.0, "amount_paid": 0.0}])
    params = {"X-01": {"n_int": -1}}
    assert engine.Session(compiled).evaluate(data, params) == reference.evaluate([rule], data, params) == []


@pytest.mark.parametrize("scale", [0.00001, 1e-9, 1e16, 1e20])
def test_numbers_of_every_magnitude_reach_the_engine_exactly(scale: float):
    """Python writes numbers below 0.0001 and from 10^16 up in exponent notation, which the engine misreads (in a
    fact) or refuses (in a ruleset). Every numeric parameter of the shipped library is scaled, and facts carry the
    same magnitudes: the engine must agree with the reference evaluation on every contract, with no fault."""
    scaled = copy.deepcopy(LIBRARY)
    for rule in scaled.rules:
        t = rule.when.threshold  # a window's width and count are whole numbers of at least 1 (validation says so)
        counts = {t.window_days, t.at_least} if t is not None else set()
        for name, value in rule.params.items():
            if name in counts:
                continue
            if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and value > 1):
                rule.params[name] = value * scale
    evaluator = Evaluator(scaled)
    c = contract("K-MAG", "NB-450")
    records = [
        {"type": "working_hours", "id": "WH-1", "date": "2025-05-01", "pct_weeks_over_60": 0.0,
         "max_week_hours": 80 * scale, "max_consecutive_days": 3},
        {"type": "recruitment_fee", "id": "RF-1", "date": "2025-05-01", "worker_group": "wg_a",
         "median_fee": 1500 * scale, "standard_applied": "zero_fee", "n_workers": 12},
        {"type": "wage_record", "id": "WR-1", "date": "2025-05-01", "period_end": "2025-04-30",
         "underpayment_amount": 300 * scale, "n_workers": 40},
    ]
    result = evaluator.evaluate(bundle(c, records))
    assert result.faults == []
    assert {f.rule_id for f in result.findings} >= {"WH-01"}


def test_engine_json_writes_plain_decimals_and_refuses_what_is_not_a_number():
    assert engine.engine_json({"a": 1e-05, "b": [1e16, 3, "1e-5"], "c": 0.5}) == \
        '{"a":0.00001,"b":[10000000000000000.0,3,"1e-5"],"c":0.5}'
    assert engine.engine_json({"a": 1, "b": "x"}) == '{"a": 1, "b": "x"}'  # the fast path: json.dumps itself
    with pytest.raises(Exception, match="finite"):
        engine.engine_json({"a": float("inf")})


def test_numbers_the_engine_cannot_compare_are_refused_at_validation(tmp_path: Path):
    from click.testing import CliRunner

    from compliance.cli import cli

    # WH-01 and WH-02, whose findings WH-01 reads
    rule = (ROOT / "rules" / "hours-and-wages.yaml").read_text().split("\n  - id: WH-03")[0]
    bad_params = rule.replace("max_week_hours: 72 ", "max_week_hours: 99999999999999999999 ") \
                     .replace("max_consecutive_days: 6", "max_consecutive_days: .inf")
    bad_literal = rule.replace("- pct_weeks_over_60 > max_share_over_60", "- pct_weeks_over_60 > 10000000000000000000")
    for text, expected in ((bad_params, ["params.max_week_hours: 99999999999999999999 is too large",
                                         "params.max_consecutive_days: inf is not a number"]),
                           (bad_literal, ["10000000000000000000 is too large"])):
        (tmp_path / "rules.yaml").write_text(text)
        result = CliRunner().invoke(cli, ["rules", "validate", str(tmp_path / "rules.yaml")])
        assert result.exit_code == 3, result.output
        assert all(message in result.output for message in expected), result.output
    fine = rule.replace("max_share_over_60: 0.05", "max_share_over_60: 0.00001")
    (tmp_path / "rules.yaml").write_text(fine)
    assert CliRunner().invoke(cli, ["rules", "validate", str(tmp_path / "rules.yaml")]).exit_code == 0


def _wh01_with(tmp_path: Path, copies: int, alternatives: int) -> Path:
    """WH-01 with `alternatives` 'any' branches, in `copies` rules: a library as large as we like."""
    rule = (ROOT / "rules" / "hours-and-wages.yaml").read_text().split("\n  - id: WH-02")[0]
    start = rule.index("        - reason: together with involuntary overtime (WH-02)")  # a library without WH-02
    rule = rule[:start] + rule[rule.index("      required_actions:", start):]
    branches = "\n".join(f"                - max_week_hours > {i}" for i in range(alternatives))
    one = rule.replace("""            - any:
                - pct_weeks_over_60 > max_share_over_60
                - max_week_hours > max_week_hours
                - max_consecutive_days > max_consecutive_days
                - pct_months_over_legal_cap > max_share_over_legal_cap""", "            - any:\n" + branches)
    body = one.split("rules:\n", 1)[1]
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n" + "\n".join(body.replace("id: WH-01", f"id: WH-{n + 1:02d}") for n in range(copies)))
    return path


@pytest.mark.parametrize("copies, alternatives", [(1, 300), (3, 100), (2, 150)])
def test_a_library_the_engine_cannot_load_is_refused_at_validation_naming_the_rule(
        tmp_path: Path, copies: int, alternatives: int):
    """Measured: durable_rules refuses (error 108) a ruleset of about 260 engine rules; validation says so first,
    with exit 3 and the rule to split, instead of check or run failing with an internal error."""
    from click.testing import CliRunner

    from compliance.cli import cli

    path = _wh01_with(tmp_path, copies, alternatives)
    for command in (["rules", "validate", str(path)], ["rules", "test", str(path)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 3, result.output
        assert "rules.yaml:" in result.output and "rule WH-0" in result.output and "engine rules" in result.output


def test_every_library_that_validates_is_one_the_engine_creates(tmp_path: Path):
    """The largest library validation accepts is created by the engine without an error."""
    from compliance.rules.library import load_rules

    for copies, alternatives in ((1, 256), (2, 128), (4, 60)):
        library = load_rules([_wh01_with(tmp_path, copies, alternatives)])
        compiled = compiler.compile_rules(library.rules)
        assert engine.refusal(compiled.definition) is None
        assert sum(compiled.sizes.values()) == copies * alternatives
        engine.Session(compiled)  # creates the ruleset


def test_the_engines_refusal_is_named_with_its_limit():
    rules = load_rules([ROOT / "rules"]).rules
    early, late = compiler.compile_library(rules)
    assert engine.refusal(late.definition) is None
    definition = early.definition
    assert engine.refusal(definition) is None
    doubled = {**definition, **{f"{name}~{n}": rule for n in range(2) for name, rule in definition.items()}}
    assert "error 108" in (engine.refusal(doubled) or "")


@pytest.mark.parametrize("message, expected", [
    ("{% include 'letters/letterhead.html.j2' %}", "an include is not allowed"),
    ("{{ hours.__class__ }}", '"__class__" is not allowed'),
    ("{{ hours['__globals__'] }}", '"__globals__" is not allowed'),
    ("{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}", "a loop inside a loop"),
    ("{{ range(10) | join }}", "range() is not allowed"),
    ("{% macro m() %}x{% endmacro %}{{ m() }}", "a macro is not allowed"),
    ("{{ hours.date | center(100000000) }}", 'the filter "center" is not allowed'),
])
def test_messages_that_cannot_render_safely_are_refused_at_validation(tmp_path: Path, message: str, expected: str):
    from click.testing import CliRunner

    from compliance.cli import cli

    # WH-01 and WH-02, whose findings WH-01 reads
    rule = (ROOT / "rules" / "hours-and-wages.yaml").read_text().split("\n  - id: WH-03")[0]
    start = rule.index("      message: >")
    end = rule.index("      required_actions:")
    (tmp_path / "rules.yaml").write_text(rule[:start] + f"      message: {json.dumps(message)}\n" + rule[end:])
    result = CliRunner().invoke(cli, ["rules", "validate", str(tmp_path / "rules.yaml")])
    assert result.exit_code == 3, result.output
    assert "then.message" in result.output and expected in result.output


@pytest.mark.parametrize("message", ["{{ 'x' * 100000000 }}", "{{ '%100000000s' | format(hours.date) }}",
                                     "{{ 10 ** 100000000 }}"])
def test_a_message_over_its_budget_stops_at_once_and_keeps_the_finding(message: str):
    """What validation cannot see (the size of a value) is refused while rendering, before it is built: the finding
    stays, with a message naming the rule."""
    library = copy.deepcopy(LIBRARY)
    index, rule = next((i, r) for i, r in enumerate(library.rules) if r.id == "WH-01")
    library.rules[index] = rule.model_copy(update={"then": rule.then.model_copy(update={"message": message})})
    c = contract("K-MSG", "NB-450")
    result = Evaluator(library).evaluate(bundle(c, [
        {"type": "working_hours", "id": "WH-1", "date": "2025-05-01", "pct_weeks_over_60": 0.5,
         "max_week_hours": 80, "max_consecutive_days": 3}]))
    finding = next(f for f in result.findings if f.rule_id == "WH-01")
    assert "could not be written" in finding.message and rule.title in finding.message


def test_rules_validate_reports_each_rules_compiled_size():
    from click.testing import CliRunner

    from compliance.cli import cli

    result = CliRunner().invoke(cli, ["rules", "validate", "--sizes", str(ROOT / "rules")])
    assert result.exit_code == 0, result.output
    sizes = {line.split()[0]: int(line.split()[1]) for line in result.output.splitlines() if "engine rule" in line
             and not line.endswith("engine rules).")}
    parts = compiler.compile_library(LIBRARY.rules)
    assert sizes == {**parts[0].sizes, **parts[1].sizes}
    assert sum(sizes.values()) == sum(len(part.definition) - 1 for part in parts)
    assert f"({sum(sizes.values())} engine rules)" in result.output
