"""What a finding's verdict asks of the officer, in one place: routing, renewal and letters read these sets.

A breach is the contractor's non-compliance and goes up the ladder. The other verdicts are not (yet) a breach:

* data gaps (insufficient or expired evidence, not yet due) ask for the missing evidence;
* an alleged or disputed finding asks for verification: an information request (letter L1) for the contractor's
  account and evidence; no corrective action plan, no working-group referral, no breach against renewal;
* a finding that needs human review (retaliation or not, after mass dismissals) asks an officer, with the working
  group covering the issue, to judge it; nothing goes to the contractor as a breach before then.

Due diligence shown (the reseller did what it could) is routed to the brand's group; see ``routing._level``.
"""

from __future__ import annotations

DATA_GAPS = frozenset({"insufficient_evidence", "evidence_expired", "not_yet_due"})
NEEDS_VERIFICATION = frozenset({"alleged", "disputed"})
HUMAN_REVIEW = frozenset({"human_review"})
#: Findings that are not a breach until verified or judged: never routed, counted or written to as one.
NOT_YET_BREACH = NEEDS_VERIFICATION | HUMAN_REVIEW

#: The letter a finding not yet a breach calls for, whatever its rule's letter: an information request for
#: verification; none for a human review (the officer's judgement comes first).
LETTERS = {"alleged": "L1", "disputed": "L1", "human_review": None}


def letter_kind(verdict: str | None, rule_letter: str | None) -> str | None:
    """The letter a finding of this verdict calls for: its rule's, unless the verdict is not yet a breach."""
    return LETTERS[verdict] if verdict in LETTERS else rule_letter


def what_it_needs(verdict: str) -> str:
    """The officer's next step for a finding that is not yet a breach, in words."""
    if verdict in HUMAN_REVIEW:
        return "human review: an officer, with the working group covering the issue, judges it before any step"
    return "verification: an information request (L1) for the contractor's account and evidence"
