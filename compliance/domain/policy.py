"""The thresholds of escalation routing: when a concern is shared, serious, an issue for a new group, or due a remedy.

Defined here, below the layers that use them: the working-groups file may override any of them under ``policy:``
(read by ``sources.records``), and ``escalation.routing`` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """Thresholds of the routing algorithm (DOMAIN §A.5); all are proposed defaults, configurable.

    The working-groups file may override any of them under `policy:`.
    """

    min_institutions: int = 3  # a concern is shared when this many institutions...
    min_consortia: int = 2  # ...or this many consortia have live contracts linked to it
    ageing_majors: int = 3  # serious: one open Priority finding, or this many Major findings...
    major_age_days: int = 90  # ...older than this
    issue_facilities: int = 3  # the same issue at this many facilities...
    issue_brands: int = 2  # ...or brands...
    issue_window_days: int = 730  # ...within this window proposes an issue group
    priority_remedy_days: int = 90  # a Priority finding older than this recommends a contractual remedy (E4)
