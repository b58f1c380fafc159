"""The compiler: golden output for the shipped rules, normal forms, name hashes, the safe subset, windows.

Regenerate the golden file after an intended change with:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_compiler.py
"""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import library

from compliance.domain.facts import epoch_day
from compliance.rules import compiler, grammar, meaning, spec
from compliance.rules.compiler import RECORD_ID, WindowPlan
from compliance.rules.grammar import Operand
from compliance.rules.grammar import Test as SpecTest

GOLDEN = Path(__file__).resolve().parent / "golden" / "compiled_rules.json"


def golden_text(definition: dict[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def as_one(parts: tuple[compiler.CompiledRuleset, ...]) -> compiler.CompiledRuleset:
    """The library's rulesets (evidence, then findings) read together, for the checks that hold for every one."""
    return compiler.CompiledRuleset(
        {name: rule for part in parts for name, rule in part.definition.items()},
        # a flag both rulesets read is prepared for each: read together, once
        list({(f.fact, f.per): f for part in parts for f in part.latest_flags}.values()),
        [w for part in parts for w in part.windows],
        [f for part in parts for f in part.keyword_flags], {k: v for part in parts for k, v in part.sizes.items()})


@pytest.fixture(scope="module")
def compiled() -> compiler.CompiledRuleset:
    return as_one(compiler.compile_library(library().rules))


def test_the_library_compiles_to_a_ruleset_of_evidence_rules_and_one_of_rules_reading_findings():
    from compliance.rules import strata

    early, late = compiler.compile_library(library().rules)
    assert set(early.sizes) == {r.id for r in library().rules if strata.matches_on_evidence(r)}
    assert set(late.sizes) == {r.id for r in library().rules if not strata.matches_on_evidence(r)} != set()
    assert max(len(early.definition), len(late.definition)) <= compiler.MAX_ENGINE_RULES + 1  # + the begin rule


def test_compiled_shipped_rules_match_the_golden_file(compiled: compiler.CompiledRuleset):
    text = golden_text(compiled.definition)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), f"{GOLDEN} is missing; create it with UPDATE_GOLDEN=1"
    assert text == GOLDEN.read_text(), "the compiled rules changed; if intended, rerun with UPDATE_GOLDEN=1"


def test_compilation_is_deterministic_and_does_not_depend_on_rule_order(compiled: compiler.CompiledRuleset):
    again = as_one(compiler.compile_library(list(reversed(library().rules))))
    assert golden_text(again.definition) == golden_text(compiled.definition)
    assert again.latest_flags == compiled.latest_flags and again.windows == compiled.windows


def test_what_the_feeder_prepares_for_the_shipped_rules(compiled: compiler.CompiledRuleset):
    # One "latest" flag per distinct (fact, latest_per) the rules use, however many rules share it.
    used = {(p.fact, tuple(p.latest_per)) for r in library().rules for p in r.when.match if p.latest_per}
    flags = [(f.fact, f.per) for f in compiled.latest_flags]
    assert len(flags) == len(set(flags)) and set(flags) == used
    assert {("remediation", ("finding_ref", "kind")), ("corrective_action", ("cap_id", "action_ref")),
            ("audit_finding", ("facility_id",))} <= used
    assert sorted(compiled.windows, key=lambda w: w.rule_id) == [WindowPlan("FL-06", ("facility_id", "worker_group"), "window_days", "ilo_indicator"),
                                WindowPlan("PM-03-R", ("facility_id", "cap_id"), "window_days", "date"),
                                WindowPlan("TR-05", ("facility_id",), 36525, None),
                                WindowPlan("TR-05-TC", ("facility_id",), 36525, None)]
    assert compiled.keyword_flags == []


# ---------------------------------------------------------------------------------------------------------------------
# The safe subset (DURABLE_RULES.md §4)


def engine_rules(compiled: compiler.CompiledRuleset) -> dict[str, dict[str, Any]]:
    return {name: rule for name, rule in compiled.definition.items()}


def patterns(rule: dict[str, Any]) -> list[tuple[str, Any]]:
    return [next(iter(p.items())) for p in rule["all"]]


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def test_every_compiled_pattern_starts_with_a_type_test(compiled: compiler.CompiledRuleset):
    for name, rule in engine_rules(compiled).items():
        for alias, expression in patterns(rule):
            first = expression["$and"][0] if "$and" in expression else expression
            assert list(first) == ["type"] and isinstance(first["type"], str), (name, alias)


def test_no_compiled_rule_uses_an_unsafe_construct(compiled: compiler.CompiledRuleset):
    for name, rule in engine_rules(compiled).items():
        assert not keys(rule) & {"$or", "$mt", "$imt", "$div", "$t", "$s"}, name
        assert rule.get("pri", 0) >= 0, name
        assert set(rule) <= {"all", "run", "pri"}, name


def test_every_engine_rule_starts_with_the_trigger_and_its_parameters(compiled: compiler.CompiledRuleset):
    for name, rule in engine_rules(compiled).items():
        if name == compiler.BEGIN:
            assert rule == {"all": [{"m": {"type": "__begin"}}], "run": "noop"}
            continue
        rule_id = name.split("#")[0].split("~")[0]
        assert rule["all"][:2] == [{"_ev": {"type": "__evaluate"}},
                                   {"_p": {"$and": [{"type": "__params"}, {"rule": rule_id}]}}]
        assert rule["run"] in (f"match:{rule_id}", f"member:{rule_id}")


def references_another_fact(test: Any) -> bool:
    """Whether an engine test reads a field of another pattern (an alias, the trigger or the parameters)."""
    if isinstance(test, dict):
        if len(test) == 1:
            (key, value), = test.items()
            if (key.startswith("u_") or key in (compiler.EV, compiler.P)) and isinstance(value, str):
                return True
        return any(references_another_fact(v) for v in test.values())
    if isinstance(test, list):
        return any(references_another_fact(v) for v in test)
    return False


def test_correlated_tests_come_before_constant_tests(compiled: compiler.CompiledRuleset):
    checked = 0
    for name, rule in engine_rules(compiled).items():
        for alias, expression in patterns(rule):
            tests = expression.get("$and", [])[1:]
            # Discriminators like the type go first: a "latest" flag, and the rule id of a window or parameters
            # fact (constant tests before correlated ones, which is harmless as long as there is no $or).
            tests = [t for t in tests if not (len(t) == 1 and next(iter(t)).startswith(("latest_", "rule")))]
            kinds = [references_another_fact(t) for t in tests]
            assert kinds == sorted(kinds, reverse=True), (name, alias, tests)
            checked += any(kinds) and not all(kinds)
    assert checked >= 3  # GR-03, TR-01 and PM-03 mix both kinds


def test_record_ids_travel_as_record_id():
    rule = rule_from({"when": {"match": [
        {"as": "a", "fact": "grievance"},
        {"as": "b", "fact": "grievance", "where": ["id != a.id", "id != \"G-1\""]}]}})
    definition = compiler.compile_rules([rule]).definition
    assert definition["X-01#0"]["all"][3] == {"u_b": {"$and": [
        {"type": "grievance"}, {"$neq": {RECORD_ID: {"u_a": RECORD_ID}}}, {"$neq": {RECORD_ID: "G-1"}}]}}


def test_operands_compile_to_engine_arithmetic():
    rule = rule_from({"params": {"window_days": 5, "limit": 2.5}, "when": {"match": [
        {"as": "a", "fact": "remediation"},
        {"as": "b", "fact": "remediation", "where": [
            "date <= a.date + window_days - 2", "due_date < as_of - 3", "amount_paid >= b.amount_due",
            "amount_due > limit", "due_date >= 2024-01-05", "amount_paid > -1"]}]}})
    tests = compiler.compile_rules([rule]).definition["X-01#0"]["all"][3]["u_b"]["$and"]
    assert tests == [
        {"type": "remediation"},
        {"$lte": {"date": {"$sub": {"$l": {"$add": {"$l": {"u_a": "date"}, "$r": {"_p": "window_days"}}}, "$r": 2}}}},
        {"$lt": {"due_date": {"$sub": {"$l": {"_ev": "as_of"}, "$r": 3}}}},
        {"$gt": {"amount_due": {"_p": "limit"}}},
        {"$ex": {"amount_due": 1}},  # a test of a field against another of the same fact: both must be present
        {"$ex": {"amount_paid": 1}},
        {"$gte": {"amount_paid": {"$m": "amount_due"}}},
        {"$gte": {"due_date": epoch_day(dt.date(2024, 1, 5))}},  # dates are epoch days
        {"$gt": {"amount_paid": -1}},
    ]


def test_absent_alternatives_become_separate_not_patterns():
    rule = library().rule("TR-01")
    definition = compiler.compile_rules([rule]).definition
    assert sorted(definition) == ["TR-01#0", "__begin"]
    aliases = [next(iter(p)) for p in definition["TR-01#0"]["all"]]
    assert aliases == ["_ev", "_p", "u_contract", "u_item", "n_0_0$not", "n_1_0$not", "n_1_1$not"]


def test_any_expands_to_one_engine_rule_per_alternative():
    rule = library().rule("WH-01")
    assert sorted(compiler.compile_rules([rule]).definition) == ["WH-01#0", "WH-01#1", "WH-01#2", "WH-01#3", "__begin"]


def test_too_many_alternatives_are_refused():
    alternatives = {"any": [f'status == "s{i}"' for i in range(21)]}
    rule = rule_from({"when": {"match": [{"as": "a", "fact": "grievance", "where": [alternatives]},
                                         {"as": "b", "fact": "grievance", "where": [alternatives]}]}})
    with pytest.raises(compiler.CompileError, match="expand to 441 engine rules"):
        compiler.compile_rules([rule])


# ---------------------------------------------------------------------------------------------------------------------
# Disjunctive normal form


def rule_from(extra: dict[str, Any]) -> spec.Rule:
    data = {"id": "X-01", "version": "1", "title": "t", "clause": "c", "severity": "minor", "then": {"message": "m"}}
    data.update(extra)
    rule = spec.Rule.model_validate(data)
    assert meaning.check_rule(rule, ()) == []
    return rule


def where(*conditions: Any) -> list[Any]:
    return spec.Pattern.model_validate({"as": "a", "fact": "remediation", "where": list(conditions)}).where


def shape(alternatives: list[list[SpecTest]]) -> list[list[str]]:
    """Each test as `field op operand` (parsed again), to compare without the source text."""
    def text(t: SpecTest) -> str:
        if t.op in ("is missing", "is present"):
            return f"{t.field} {t.op}"
        if t.op == "in":
            return f"{t.field} in {list(t.values)}"
        assert t.operand is not None
        return f"{t.field} {t.op} {t.operand.base!r}{''.join(f' {s:+} {v!r}' for s, v in t.operand.offsets)}"
    return [[text(t) for t in alternative] for alternative in alternatives]


def test_dnf_of_a_test_list_is_one_conjunction():
    assert shape(compiler.dnf(where("amount_paid < 1", 'kind == "other"'))) == [["amount_paid < 1", "kind == 'other'"]]
    assert compiler.dnf([]) == [[]]


def test_dnf_distributes_and_over_or():
    result = compiler.dnf(where("amount_paid < 1", {"any": ["amount_due > 2", {"all": ["workers_due == 3",
                                                                                        "workers_paid == 4"]}]}))
    assert shape(result) == [["amount_paid < 1", "amount_due > 2"],
                             ["amount_paid < 1", "workers_due == 3", "workers_paid == 4"]]
    product = compiler.dnf(where({"any": ["amount_paid < 1", "amount_paid > 5"]}, {"any": ["workers_due == 1",
                                                                                           "workers_due == 2"]}))
    assert len(product) == 4


def test_dnf_de_morgan():
    assert shape(compiler.dnf(where({"not": {"all": ["amount_paid < 1", "amount_due > 2"]}}))) == [
        ["amount_paid >= 1"], ["amount_due <= 2"]]
    assert shape(compiler.dnf(where({"not": {"any": ["amount_paid < 1", "amount_due > 2"]}}))) == [
        ["amount_paid >= 1", "amount_due <= 2"]]
    assert shape(compiler.dnf(where({"not": {"not": "amount_paid < 1"}}))) == [["amount_paid < 1"]]
    nested = compiler.dnf(where({"not": {"any": ["amount_paid < 1", {"all": ["amount_due > 2", "workers_due == 3"]}]}}))
    assert shape(nested) == [["amount_paid >= 1", "amount_due <= 2"], ["amount_paid >= 1", "workers_due != 3"]]


def test_dnf_expands_in_into_alternatives_and_not_in_into_a_conjunction():
    assert shape(compiler.dnf(where('kind in ["back_pay", "other"]'))) == [["kind == 'back_pay'"], ["kind == 'other'"]]
    assert shape(compiler.dnf(where({"not": 'kind in ["back_pay", "other"]'}))) == [
        ["kind != 'back_pay'", "kind != 'other'"]]


def test_dnf_drops_repeated_tests_and_alternatives():
    # A or A is A, A and A is A: fewer engine rules (and durable_rules error 303 on a rule that repeated them).
    assert shape(compiler.dnf(where({"any": ['kind == "other"', 'kind  ==  "other"']}))) == [["kind == 'other'"]]
    assert shape(compiler.dnf(where('kind in ["other", "other"]', "amount_paid < 1", "amount_paid < 1"))) == [
        ["kind == 'other'", "amount_paid < 1"]]
    assert shape(compiler.dnf(where({"any": ["amount_paid < 1", "amount_due > 2"]},
                                    {"any": ["amount_due > 2", "amount_paid < 1"]}))) == [
        ["amount_paid < 1", "amount_due > 2"], ["amount_paid < 1"], ["amount_due > 2"]]


@pytest.mark.parametrize("op, negated", [("==", "!="), ("!=", "=="), ("<", ">="), ("<=", ">"), (">", "<="),
                                         (">=", "<")])
def test_negation_of_each_comparison(op: str, negated: str):
    [[test]] = compiler.dnf(where({"not": f"amount_paid {op} a.amount_due + 1"}))
    operand = grammar.parse_test("x == a.amount_due + 1").operand
    assert (test.field, test.op, test.operand) == ("amount_paid", negated, operand)
    [[back]] = compiler.negate(test)
    assert back.op == op


@pytest.mark.parametrize("text, negated", [("finding_ref is missing", "is present"),
                                           ("finding_ref is present", "is missing")])
def test_negation_of_missing_and_present(text: str, negated: str):
    [[test]] = compiler.dnf(where({"not": text}))
    assert (test.field, test.op) == ("finding_ref", negated)


def test_negation_of_contains():
    conditions = spec.Pattern.model_validate({"as": "g", "fact": "grievance",
                                              "where": [{"not": 'issue_categories contains "wages"'}]}).where
    [[test]] = compiler.dnf(conditions)
    assert (test.field, test.op, test.operand) == ("issue_categories", "not contains", Operand("wages"))
    assert compiler.compile_test(test, "g") == [{"$iall": {"issue_categories": {"$neq": {"$i": "wages"}}}}]
    [[again]] = compiler.negate(test)
    assert again.op == "contains"
    assert compiler.compile_test(again, "g") == [{"$iany": {"issue_categories": {"$i": "wages"}}}]


def test_negation_of_mentions_reuses_the_keyword_flag():
    conditions = spec.Pattern.model_validate({"as": "s", "fact": "external_signal",
                                              "where": [{"not": 'summary mentions ["bonded", "forced labour"]'}]}).where
    [[test]] = compiler.dnf(conditions)
    assert (test.field, test.op, test.values) == ("summary", "not mentions", ("bonded", "forced labour"))
    [[again]] = compiler.negate(test)
    assert again.op == "mentions"
    preparation = compiler.Preparation()
    assert compiler.compile_test(test, "s", "external_signal", preparation) == [{"mentions_1": False}]
    assert compiler.compile_test(again, "s", "external_signal", preparation) == [{"mentions_1": True}]


def test_one_operator_table_gives_every_negation_and_every_engine_test():
    for name, operator in grammar.OPERATORS.items():
        if operator.negation is None:  # `in` is expanded into == tests, its negation into != tests
            assert operator.kind == grammar.ONE_OF and name not in compiler.ENGINE_TESTS
            continue
        assert grammar.OPERATORS[operator.negation].negation == name
        assert grammar.OPERATORS[operator.negation].kind == operator.kind
        assert name in compiler.ENGINE_TESTS
    assert set(compiler.ENGINE_TESTS) | {"in"} == set(grammar.OPERATORS)
    for name, operator in grammar.OPERATORS.items():
        if operator.kind in (grammar.EQUALITY, grammar.ORDERING):
            assert grammar.parse_test(f"amount_due {name} 3").op == name


# ---------------------------------------------------------------------------------------------------------------------
# 32-bit name hashes


@pytest.mark.parametrize("text, value", [("", 0x811C9DC5), ("a", 0xE40C292C), ("b", 0xE70C2DE5),
                                         ("foobar", 0xBF9CF968)])
def test_fnv1a_32_known_values(text: str, value: int):
    assert compiler.fnv1a_32(text) == value


def test_fnv1a_32_sign_extends_non_ascii_bytes_as_the_engine_does():
    def c_hash(data: bytes) -> int:  # the engine's loop: hash ^= (signed char) byte; hash *= 16777619
        h = 0x811C9DC5
        for byte in data:
            h = ((h ^ ctypes.c_uint32(ctypes.c_int8(byte).value).value) * 16777619) & 0xFFFFFFFF
        return h
    for text in ("é", "wörker", "日本", "a\u00ff"):
        assert compiler.fnv1a_32(text) == c_hash(text.encode())
    textbook = 0x811C9DC5  # FNV-1a over unsigned bytes differs from the engine's for non-ASCII names
    for byte in "é".encode():
        textbook = ((textbook ^ byte) * 16777619) & 0xFFFFFFFF
    assert compiler.fnv1a_32("é") != textbook


def test_shipped_property_names_have_distinct_hashes():
    names = compiler.property_names(library().rules, ["latest_1", "latest_2"])
    assert len({compiler.fnv1a_32(n) for n in names}) == len(names)


# ---------------------------------------------------------------------------------------------------------------------
# latest flags and windows, on hand-made facts


def fact(record_id: str, day: int, **fields: Any) -> dict[str, Any]:
    return {"type": "monitoring_finding", RECORD_ID: record_id, "date": day, **fields}


def test_latest_flags_mark_the_latest_per_key_by_date_then_id():
    facts = [fact("a", 1, k="x"), fact("b", 3, k="x"), fact("c", 3, k="y"), fact("d", 2, k="y"), fact("e", 3, k="y"),
             {"type": "other", RECORD_ID: "z", "date": 9, "k": "x"}]
    compiler.latest_flags(facts, [compiler.LatestFlag("monitoring_finding", ("k",), "latest_1")])
    assert [f.get("latest_1") for f in facts] == [False, True, False, False, True, None]


PLAN = WindowPlan("R-1", ("g",), 10, None)


def window(members: list[dict[str, Any]], plan: WindowPlan = PLAN, width: int = 10) -> list[tuple]:
    return [(tuple(w.get(g) for g in plan.group_by), w["count"], w["first_date"], w["last_date"], w["ids"])
            for w in compiler.windows(members, plan, width)]


def test_windows_count_members_within_window_days_calendar_days():
    assert window([fact("a", 100, g="x"), fact("b", 109, g="x")]) == [(("x",), 2, 100, 109, ["a", "b"])]
    assert window([fact("a", 100, g="x"), fact("b", 110, g="x")]) == [(("x",), 1, 100, 100, ["a"])]
    assert window([fact("a", 5, g="x")], width=1) == [(("x",), 1, 5, 5, ["a"])]


def test_windows_pick_the_densest_window_and_the_earliest_on_a_tie():
    members = [fact("a", 0, g="x"), fact("b", 50, g="x"), fact("c", 51, g="x"), fact("d", 55, g="x"),
               fact("e", 100, g="x"), fact("f", 101, g="x"), fact("g", 102, g="x")]
    assert window(members) == [(("x",), 3, 50, 55, ["b", "c", "d"])]


def test_windows_are_per_group_in_a_stable_order():
    members = [fact("a", 0, g="y"), fact("b", 1, g="x"), fact("c", 2), fact("d", 3, g="x")]
    assert window(members) == [(("x",), 2, 1, 3, ["b", "d"]), (("y",), 1, 0, 0, ["a"]), ((None,), 1, 2, 2, ["c"])]
    records = compiler.windows(members, PLAN, 10)
    assert "g" not in records[2]  # a missing group value stays missing
    assert all(r["type"] == "__window" and r["rule"] == "R-1" for r in records)


def test_windows_count_distinct_values_and_skip_members_without_one():
    plan = WindowPlan("R-1", ("g",), 10, "v")
    members = [fact("a", 0, g="x", v=1), fact("b", 1, g="x", v=1), fact("c", 2, g="x"), fact("d", 3, g="x", v=2)]
    assert window(members, plan) == [(("x",), 2, 0, 3, ["a", "b", "d"])]
    assert window(members[:3], plan) == [(("x",), 1, 0, 1, ["a", "b"])]


def test_windows_with_same_day_members_order_by_record_id():
    members = [fact("b", 5, g="x"), fact("a", 5, g="x"), fact("c", 20, g="x")]
    assert window(members) == [(("x",), 2, 5, 5, ["a", "b"])]


def test_no_members_no_windows():
    assert compiler.windows([], PLAN, 10) == []
