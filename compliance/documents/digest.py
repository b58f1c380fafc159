"""A working group's digest for its secretariat: what was routed to the group since a date, in aggregate.

The digest's context (rule titles, severities, facilities and counts; never a finding's message, which can name
worker-group labels and record ids) is made by `api.digest`. It is rendered here like every other document: by the
one sandboxed template environment (`documents.environment`), so an institution's template folder overrides the
shipped `digest.md.j2` and `digest.html.j2` as it does letters and reports. The finished text (JSON too) passes the
redaction check before it is returned: no worker pseudonym or group label, e-mail address, phone number or count
below five workers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from compliance.documents import environment as documents
from compliance.documents import redaction

FORMATS = ("md", "html", "json")


def render(context: dict[str, Any], fmt: str, templates: Path | None = None, language: str = "en") -> str:
    """The digest as Markdown, HTML (template `digest.{fmt}.j2`, the institution's when `templates` has it) or
    JSON, checked by the redaction guard (RedactionError, nothing returned, if it could reveal a worker)."""
    if fmt == "json":
        text = json.dumps(context, indent=2) + "\n"
        readable = text
    else:
        env = documents.environment(templates, language)
        text = documents.render(env, f"digest.{fmt}.j2", context)
        readable = documents.readable_text(text, env) if fmt == "html" else text
    guard = redaction.Guard(allowed_dates={dt.date.fromisoformat(context["since"]),
                                           dt.date.fromisoformat(context["as_of"])})
    guard.require_clean(readable, f"the digest for working group {context['group']['id']}")
    return text
