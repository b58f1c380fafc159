"""Render documents from jinja2 templates shipped in compliance/templates.

One environment: autoescape for HTML templates (not for Markdown or text), undefined names are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(context)
