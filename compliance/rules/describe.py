"""Rules in plain language, for the people who read and approve contract conditions."""

from __future__ import annotations

from typing import Any

from compliance.domain import models
from compliance.rules import spec
from compliance.rules.grammar import Test
from compliance.rules.library import RuleLibrary, family_keys


def condition_text(condition: Any) -> str:
    if isinstance(condition, Test):
        return condition.source
    if isinstance(condition, spec.AllOf):
        return "all of (" + "; ".join(condition_text(c) for c in condition.all) + ")"
    if isinstance(condition, spec.AnyOf):
        return "any of (" + "; ".join(condition_text(c) for c in condition.any) + ")"
    return "not (" + condition_text(condition.not_) + ")"


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _where(conditions: list[Any]) -> str:
    return f" where {'; '.join(condition_text(c) for c in conditions)}" if conditions else ""


def checks(rule: spec.Rule) -> list[str]:
    """What the rule checks, one sentence per condition, in the order the rule states them."""
    out = []
    when = rule.when
    if when.threshold is not None:
        t = when.threshold
        counted = f"distinct values of {t.distinct} among " if t.distinct else ""
        out.append(f"At least {t.at_least} {counted}{t.fact} records with the same {', '.join(t.group_by)} within "
                   f"{t.window_days} days{_where(t.where)} (called {t.as_}).")
    for pattern in when.match:
        latest = f", the latest per {', '.join(pattern.latest_per)}," if pattern.latest_per else ""
        out.append(f"{_a(pattern.fact).capitalize()} record{latest} (called {pattern.as_}){_where(pattern.where)}.")
    for absent in when.absent:
        out.append(f"And no {absent.fact} record{_where(absent.where)}.")
    return out


def evidence_read(rule: spec.Rule) -> list[str]:
    facts = [rule.when.threshold.fact] if rule.when.threshold else []
    facts += [p.fact for p in rule.when.match] + [a.fact for a in rule.when.absent]
    return sorted(set(facts))


def describe(library: RuleLibrary, rule_id: str) -> str:
    """The rule as a page of plain text: what it enforces, what it checks and reads, what it asks for."""
    rule = library.rule(rule_id)
    lines = [f"{rule.id} (version {rule.version}): {rule.title}", f"Clause: {rule.clause}"]
    if rule.description:
        lines.append(" ".join(rule.description.split()))
    lines.append(f"Area: {library.area(rule.id)}. Severity: {rule.severity.label}. "
                 f"ILO FPRW: {', '.join(c.value.replace('_', ' ') for c in rule.fprw) or 'none'}. "
                 f"UKUPC objectives: {', '.join(str(o) for o in rule.hrdd_objectives) or 'none'}.")
    applies = rule.applies_to
    scope = [f"clause sets {', '.join(applies.clause_sets)}" if applies.clause_sets else "",
             f"frameworks {', '.join(applies.frameworks)}" if applies.frameworks else "",
             f"brands {', '.join(applies.brands)}" if applies.brands else ""]
    lines.append(f"Applies to {', '.join(applies.statuses)} contracts" +
                 (f" with {'; '.join(s for s in scope if s)}" if any(scope) else "") + ".")
    verdict = "a breach" if rule.then.verdict == "breach" else f'"{models.VERDICT_LABELS[rule.then.verdict]}"'
    lines.append(f"It finds {verdict} when, as of the evaluation date:")
    lines += [f"  - {sentence}" for sentence in checks(rule)]
    lines.append(f"Evidence it reads: {', '.join(evidence_read(rule))}.")
    if rule.params:
        lines.append("Parameters (defaults; a clause set or a contract may override them):")
        for name, value in rule.params.items():
            # The most specific key wins, as in evaluation.rule_parameters (TR-01-DD over TR-01).
            overrides = []
            for c in library.clause_sets:
                keys = [k for k in family_keys(rule.id, c.parameters) if name in c.parameters[k]]
                if keys:
                    overrides.append(f"{c.id} {c.version}: {c.parameters[keys[-1]][name]}")
            proposed = " - proposed default, confirm per contract" if name in rule.proposed_defaults else ""
            lines.append(f"  - {name} = {value}{proposed}" + (f" ({'; '.join(overrides)})" if overrides else ""))
    if rule.then.required_actions:
        lines.append("Required actions:")
        lines += [f"  {n}. {action}" for n, action in enumerate(rule.then.required_actions, 1)]
    if rule.then.buyer_actions:
        lines.append("Buyer actions (not sent to the supplier):")
        lines += [f"  - {action}" for action in rule.then.buyer_actions]
    lines.append(f"Respond within {rule.response_days()} days; letter {rule.then.letter or '-'}; "
                 f"escalation {rule.then.escalation or '-'}.")
    return "\n".join(lines) + "\n"
