"""The finding lifecycle (DOMAIN §A.3): what officers do with a finding over months, and what a run does to it.

A state machine of pure functions, no I/O: each takes a finding's state as stored and what happened (a run's
observation, an officer's request, a letter sent) and returns the moves, each one entry of the finding's history
(kind, from, to, reason), and the state that results. The store applies them.

A run's moves (``observe``):

* found for the first time: detected, the finding is new;
* found again when it was new: confirmed, new -> open;
* found again when it had been resolved (no longer found): reopened; when it had been closed, reopened only on
  evidence dated after the day it was closed (re-reading the evidence a closure covered leaves it closed);
* found again when its waiver has expired (the as-of date is after the waiver's last day): waiver_expired, reopened;
* found again with a more serious severity: worsened (the state stays);
* no longer found: resolved (the state stays; it no longer fires).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from compliance.domain.models import Severity

#: States, in the order a finding usually moves through them.
FINDING_STATES = ("new", "open", "notified", "cap_requested", "in_remediation", "closure_claimed", "closed",
                  "reopened", "withdrawn", "waived")

#: Where an officer may move a finding from each state. `run` itself only opens, reopens and resolves.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "notified", "withdrawn", "waived"),
    "open": ("notified", "withdrawn", "waived"),
    "notified": ("cap_requested", "in_remediation", "withdrawn", "waived"),
    "cap_requested": ("in_remediation", "withdrawn", "waived"),
    "in_remediation": ("closure_claimed", "withdrawn", "waived"),
    "closure_claimed": ("closed", "reopened"),
    "closed": ("reopened",),
    "reopened": ("notified", "cap_requested", "in_remediation", "withdrawn", "waived"),
    "waived": ("reopened", "withdrawn"),
    "withdrawn": (),
}

#: States in which a finding is no longer worked: closed after verification, or withdrawn.
FINAL_STATES = ("closed", "withdrawn")


class Move(NamedTuple):
    """One entry of a finding's history: what happened, from which state to which, and why."""

    kind: str
    from_state: str | None
    to_state: str
    reason: str


@dataclass(frozen=True)
class Stored:
    """What a run's moves depend on of a finding as the store holds it."""

    state: str
    #: Whether the last run that covered the finding's contract found it.
    firing: bool
    severity: Severity
    waived_until: dt.date | None = None
    #: The day an officer closed it, when its state is closed.
    closed_on: dt.date | None = None


@dataclass(frozen=True)
class Outcome:
    """What a run does to one finding: its moves, the state and firing that result, and how the run's summary
    counts it (`change`: new, still_open, worsened, reopened, waiver_expired or resolved)."""

    change: str
    state: str
    firing: bool
    moves: tuple[Move, ...] = ()


class Refused(ValueError):
    """A move the lifecycle does not allow; the message says why."""


# ---------------------------------------------------------------------------------------------------------------------
# What a run does


def observe(stored: Stored | None, found: Severity | None, as_of: dt.date) -> Outcome | None:
    """What a run as of `as_of` does to a finding the store holds as `stored` (None: never found before) and the
    run found with severity `found` (None: not found). None when the run changes nothing (not found, and already
    resolved or never found)."""
    if found is None:
        return None if stored is None else not_found(stored, as_of)
    return detected(as_of) if stored is None else found_again(stored, found, as_of)


def detected(as_of: dt.date) -> Outcome:
    """A finding found for the first time."""
    return Outcome("new", "new", True, (Move("detected", None, "new", f"first found as of {as_of}"),))


def found_again(stored: Stored, severity: Severity, as_of: dt.date, observed_on: dt.date | None = None) -> Outcome:
    """A finding the store holds, found again with `severity` on evidence dated up to `observed_on`: its waiver
    expired, or it is reopened (it had been resolved, or closed and there is evidence dated after the closure), or
    it stays closed, or worsened, or still open; and a new finding is confirmed (open)."""
    moves = []
    state = stored.state
    if state == "closed" and stored.closed_on is not None and (observed_on is None or observed_on <= stored.closed_on):
        return Outcome("stays_closed", state, True)  # the evidence the closure covered, read again
    if state == "waived" and stored.waived_until is not None and stored.waived_until < as_of:
        moves.append(Move("waiver_expired", state, "reopened", f"the waiver expired on {stored.waived_until}"))
        change, state = "waiver_expired", "reopened"
    elif not stored.firing or state == "closed":
        moves.append(Move("reopened", state, "reopened", f"fires again as of {as_of}"))
        change, state = "reopened", "reopened"
    elif severity.rank < stored.severity.rank:
        moves.append(Move("worsened", state, state,
                          f"severity raised from {stored.severity.label} to {severity.label}"))
        change = "worsened"
    else:
        change = "still_open"
    if state == "new":  # seen on a second run: no longer new
        moves.append(Move("confirmed", "new", "open", "still found on the next run"))
        state = "open"
    return Outcome(change, state, True, tuple(moves))


def not_found(stored: Stored, as_of: dt.date) -> Outcome | None:
    """A finding the run covered but did not find: resolved when it fired until now (its state stays, for the
    officer to close), else nothing."""
    if not stored.firing:
        return None
    return Outcome("resolved", stored.state, False,
                   (Move("resolved", stored.state, stored.state, f"no longer found as of {as_of}"),))


# ---------------------------------------------------------------------------------------------------------------------
# What officers do


def require_reason(reason: str) -> None:
    """Every change of state an officer makes needs a reason (Refused otherwise)."""
    if not reason.strip():
        raise Refused("a reason is required for every change of state")


def officer_move(state: str, to_state: str, reason: str, *, waived_until: dt.date | None = None,
                 approver: str | None = None) -> Move:
    """An officer's move from `state` to `to_state`, if TRANSITIONS allows it (Refused otherwise). A waiver needs an
    approver and an expiry date, both recorded in the move's reason."""
    require_reason(reason)
    allowed = TRANSITIONS[state]
    if to_state not in allowed:
        raise Refused(f'cannot move from "{state}" to "{to_state}"; allowed: {", ".join(allowed) or "none (final)"}')
    if to_state == "waived":
        if waived_until is None or not approver:
            raise Refused("a waiver needs a reason, an approver and an expiry date")
        reason = f"{reason} (approved by {approver}, until {waived_until})"
    return Move("moved", state, to_state, reason)


def letter_sent(state: str, reason: str) -> Move | None:
    """A letter citing a finding was sent: the finding moves to notified if it can from `state`, else it stays."""
    return Move("moved", state, "notified", reason) if "notified" in TRANSITIONS[state] else None
