"""The durable_rules adapter: the only module that imports durable_rules.

It runs a compiled ruleset over one contract's facts at a time, the way the engine is safe and fast:

* one session (sid) per contract, and only one live at a time, so no two contracts can be joined by a
  32-bit sid-hash collision and the 1,024-sid limit is never approached;
* fact ids are re-keyed per session to values whose 32-bit hashes are distinct (distinct records
  with colliding ids would be silently dropped as duplicates); the record id travels as ``record_id``;
* a ``__begin`` sentinel whose action runs first, so ``delete_state`` never meets a session that has
  not completed an action (it segfaults then);
* parameters facts, then the records, then the ``__evaluate`` trigger last; windows after that;
* the host's background threads are disabled and actions are drained explicitly, so a run is
  deterministic and single-threaded (use processes for parallelism: the extension holds the GIL);
* numbers reach the engine in plain decimal notation (``engine_json``): its JSON reader misreads a number in
  exponent notation (``1e-05`` or ``1e+16``, as Python writes numbers below 0.0001 or from 10^16 up) in a
  fact, and cannot create a ruleset holding one.
"""

from __future__ import annotations

import copy
import decimal
import importlib.metadata
import itertools
import json
import math
import re
from typing import Any

from compliance.domain.facts import ContractFacts, Match
from compliance.errors import EngineError, EngineUnavailable
from compliance.rules import compiler
from compliance.rules.compiler import BEGIN, EV, PARAMS, RECORD_ID, TRIGGER, WINDOW, CompiledRuleset, P
from compliance.rules.grammar import ENGINE_INT

#: The engine build this adapter needs: durable-rules 2.0.28 with the fixes of scripts/install_engine.py.
REQUIRED_BUILD = "2.0.28+compliance.1"

#: Exponent notation, which the engine misreads.
_EXPONENT = re.compile(r"\de[+-]\d")
#: A run of 19 digits or more: an integer too long for the engine's 64 bits, unless it follows a decimal point (a
#: float's fraction, which the engine reads: 0.0030890277169894676 is common in data and needs no rewriting).
_LONG_DIGITS = re.compile(r"\d{19,}")


def _risky(text: str) -> bool:
    """Whether JSON text may hold a number the engine cannot read as written (checked cheaply: facts go by the
    thousand, and the plain text is almost always safe)."""
    if ("e+" in text or "e-" in text) and _EXPONENT.search(text):
        return True
    if "Infinity" in text or "NaN" in text:
        return True
    return any(match.start() == 0 or text[match.start() - 1] != "." for match in _LONG_DIGITS.finditer(text))


def engine_json(value: Any) -> str:
    """JSON the engine reads exactly: as json.dumps writes it, except that every float is written in plain decimal
    notation with a decimal point (the engine's reader handles every finite float so written, measured from 1e-300
    to 1e300) and an integer beyond the engine's 64-bit range as such a float. Non-finite numbers are refused."""
    text = json.dumps(value, ensure_ascii=False)
    if not _risky(text):
        return text
    return _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_plain(v) for v in value) + "]"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int) and -ENGINE_INT < value < ENGINE_INT:
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise EngineError(f"the number {value} cannot be evaluated: the engine knows only finite numbers")
        text = format(decimal.Decimal(value if isinstance(value, int) else repr(value)), "f")
        return text if "." in text else text + ".0"
    return json.dumps(value, ensure_ascii=False)


class _EngineJson:
    """What durable_rules' Python layer calls `json`: its own rulesets and facts are written by `engine_json`."""

    dumps = staticmethod(lambda value, ensure_ascii=False: engine_json(value))
    loads = staticmethod(json.loads)


try:
    import durable.engine
    import durable_rules_engine
    from durable.engine import Host, MessageNotHandledException, MessageObservedException
except ImportError as error:  # pragma: no cover - depends on the Python build
    _IMPORT_ERROR: ImportError | None = error
else:
    _IMPORT_ERROR = None
    # durable_rules writes every ruleset and fact with the json module it imported: it gets one whose numbers the
    # engine reads exactly (the release is final, so this is the one place to say how it must be fed).
    durable.engine.json = _EngineJson  # type: ignore[assignment]


def _installed_build() -> str | None:
    try:
        return importlib.metadata.version("durable-rules")
    except importlib.metadata.PackageNotFoundError:
        return None

#: Facts per assert_facts call: big enough to amortise the call, small enough to keep batches cheap.
CHUNK = 1000


def require_engine() -> None:
    """Raise EngineUnavailable, with the fix, when the durable_rules extension cannot be imported."""
    if _IMPORT_ERROR is None:
        build = _installed_build()
        if build != REQUIRED_BUILD:
            # The released 2.0.28 reads past the end of a condition list whenever a join test is false,
            # which can crash the process; compliance only runs on the fixed build.
            raise EngineUnavailable(
                f"durable-rules {build} is installed, but compliance needs {REQUIRED_BUILD}, the same release "
                "with fixes for a memory-safety defect and for Python 3.13. "
                "Install it with: python scripts/install_engine.py (the README's 'Supported Python' explains)."
            )
        return
    detail = str(_IMPORT_ERROR)
    if "PyEval_CallObject" in detail:
        raise EngineUnavailable(
            "durable-rules 2.0.28 was built without its Python 3.13 fix (PyEval_CallObject was removed in 3.13). "
            "Reinstall it with: python scripts/install_engine.py (the README's 'Supported Python' explains)."
        )
    raise EngineUnavailable(f"the durable_rules engine cannot be imported ({detail}). Run 'make install'.")


class _Host(Host if _IMPORT_ERROR is None else object):  # type: ignore[misc]
    def __init__(self, session: Session):
        self._session = session
        super().__init__()

    def _run(self) -> None:
        """No background dispatch threads: actions are drained explicitly (deterministic batch runs)."""

    def get_action(self, action_name: str):  # noqa: ANN201 - durable_rules' callback protocol
        session = self._session
        if action_name == "noop":
            return lambda c: None
        kind, rule_id = action_name.split(":", 1)

        def action(c: Any) -> None:
            # The engine swallows exceptions raised in actions; record them so the run can fail loudly.
            try:
                matched = {alias: dict(fact) for alias, fact in c._m.items() if alias not in (EV, P)}
                session._on_action(kind, rule_id, matched)
            except Exception as error:  # noqa: BLE001
                session.errors.append(f"{action_name}: {error!r}")

        return action


_ruleset_names = itertools.count(1)

#: What durable_rules' ruleset errors mean (its rules.h), for a rule author.
ENGINE_LIMITS = {
    106: "more than 512 different tests follow one test (NEXT_BUCKET_LENGTH)",
    107: "more than 128 absence checks follow one pattern (NEXT_LIST_LENGTH)",
    108: "more than 256 engine rules join one pattern (BETA_LIST_LENGTH)",
    113: "an expression too long for the engine",
}


def refusal(definition: dict[str, Any]) -> str | None:
    """Why durable_rules refuses to create a ruleset of `definition` (a compiled definition), or None. The engine
    is asked itself, on a ruleset that is deleted at once: its limits depend on how rules share patterns."""
    require_engine()
    rules = {name: {key: value for key, value in rule.items() if key != "run"} for name, rule in definition.items()}
    try:
        handle = durable_rules_engine.create_ruleset(f"compliance_probe_{next(_ruleset_names)}", engine_json(rules))
    except durable_rules_engine.error as error:
        code = next((int(word) for word in str(error).replace(":", " ").split() if word.isdigit()), None)
        return f"error {code}: {ENGINE_LIMITS[code]}" if code in ENGINE_LIMITS else str(error)
    durable_rules_engine.delete_ruleset(handle)
    return None


def available() -> bool:
    """Whether the engine can be loaded here (``require_engine`` says why not)."""
    return _IMPORT_ERROR is None and _installed_build() == REQUIRED_BUILD


class Session:
    """A compiled ruleset registered in its own durable_rules host, evaluating one contract at a time."""

    def __init__(self, compiled: CompiledRuleset):
        require_engine()
        self.compiled = compiled
        self.errors: list[str] = []
        self._sids = itertools.count(1)
        self._matches: list[Match] = []
        self._members: dict[str, dict[str, dict[str, Any]]] = {}
        self._windows: dict[str, dict[str, Any]] = {}
        self._name = f"compliance_{next(_ruleset_names)}"
        self._host = _Host(self)
        # Registration mutates the definition (it deletes "run"), so it gets a copy.
        self._host.set_rulesets({self._name: copy.deepcopy(compiled.definition)})
        self._ruleset = self._host.get_ruleset(self._name)

    # -- actions ------------------------------------------------------------------------------------------------------

    def _on_action(self, kind: str, rule_id: str, matched: dict[str, dict[str, Any]]) -> None:
        if kind == "member":
            # A member can satisfy several alternatives of the threshold's conditions: count it once.
            member = matched["u_member"]
            self._members.setdefault(rule_id, {})[member[RECORD_ID]] = member
            return
        bindings = []
        for alias, fact in matched.items():
            name = alias[2:]  # strip the "u_" prefix
            if fact["type"] == WINDOW:
                window = self._windows[fact["id"]]
                group = tuple(window.get(g) for g in self._plan(rule_id).group_by)
                bindings.append((name, ("window", group, tuple(sorted(window["ids"])))))
            else:
                bindings.append((name, fact[RECORD_ID]))
        self._matches.append(Match(rule_id, tuple(sorted(bindings))))

    def _plan(self, rule_id: str) -> compiler.WindowPlan:
        return next(p for p in self.compiled.windows if p.rule_id == rule_id)

    # -- feeding ------------------------------------------------------------------------------------------------------

    def _assert(self, sid: str, facts: list[dict[str, Any]]) -> None:
        for start in range(0, len(facts), CHUNK):
            chunk = facts[start:start + CHUNK]
            try:
                self._host.assert_facts(self._name, chunk)
            except MessageNotHandledException:
                pass  # some facts match no rule: they are not stored, which is what we want
            except MessageObservedException as error:  # pragma: no cover - ids are unique by construction
                raise EngineError(f"the engine saw a duplicate fact in session {sid}: {error}") from None
            except durable_rules_engine.error as error:
                raise EngineError(f"durable_rules failed ({error}); the compiler should have prevented this") from None
            self._drain()

    def _drain(self) -> None:
        """Run pending actions: after a batch with an unmatched fact the engine does not run them itself."""
        while True:
            result = durable_rules_engine.start_action(self._ruleset._handle)
            if not result:
                return
            self._ruleset._flush_actions(json.loads(result[0]), {"message": json.loads(result[1])}, result[2],
                                         lambda error, state: self.errors.append(repr(error)) if error else None)

    def evaluate(self, bundle: ContractFacts, params: dict[str, dict[str, Any]]) -> list[Match]:
        """Run the rules over one contract's facts; `params` holds the parameters of each applicable rule."""
        sid = f"s{next(self._sids)}"
        self._matches, self._members, self._windows, self.errors = [], {}, {}, []
        engine_ids = _safe_ids(len(bundle.facts) + len(params) + 2, taken={f"sid-{sid}"})
        facts = []
        for engine_id, fact in zip(engine_ids, bundle.facts):
            facts.append({**fact, RECORD_ID: fact["id"], "id": engine_id, "sid": sid})
        compiler.latest_flags(facts, self.compiled.latest_flags)
        compiler.keyword_flags(facts, self.compiled.keyword_flags)
        params_facts = [
            {**values, "type": PARAMS, "rule": rule_id, "id": engine_id, "sid": sid}
            for engine_id, (rule_id, values) in zip(engine_ids[len(facts):], sorted(params.items()))
        ]
        begin_id, trigger_id = engine_ids[-2:]
        try:
            self._assert(sid, [{"type": BEGIN, "id": begin_id, "sid": sid}])
            self._assert(sid, params_facts + facts)
            self._assert(sid, [{"type": TRIGGER, "as_of": bundle.as_of_day, "id": trigger_id, "sid": sid}])
            window_facts = []
            for plan in self.compiled.windows:
                if plan.rule_id not in params:
                    continue
                width = params[plan.rule_id][plan.window_days] if isinstance(plan.window_days, str) else plan.window_days
                members = list(self._members.get(plan.rule_id, {}).values())
                for record in compiler.windows(members, plan, int(width)):
                    window_facts.append(record)
            for engine_id, record in zip(_safe_ids(len(window_facts), taken=set(engine_ids), prefix="w"),
                                         window_facts):
                self._windows[engine_id] = record
                record.update({"id": engine_id, "sid": sid})
            self._assert(sid, [{k: v for k, v in w.items() if k != "ids"} for w in window_facts])
        finally:
            self._host.delete_state(self._name, sid)
        if self.errors:
            raise EngineError("; ".join(self.errors))
        return sorted(set(self._matches), key=repr)


def _safe_ids(count: int, taken: set[str], prefix: str = "f") -> list[str]:
    """`count` fact ids whose 32-bit FNV-1a hashes differ from each other and from `taken`'s.

    The engine identifies a fact by the 32-bit hash of its id alone; two facts whose ids collide are
    one fact to it and the second is silently dropped.
    """
    hashes = {compiler.fnv1a_32(t) for t in taken}
    out: list[str] = []
    for n in itertools.count(1):
        if len(out) == count:
            return out
        candidate = f"{prefix}{n}"
        h = compiler.fnv1a_32(candidate)
        if h not in hashes and candidate not in taken:
            hashes.add(h)
            out.append(candidate)
    return out  # pragma: no cover

