"""Jinja2 templates of the reporting service's HTML (dashboard, public passport page), autoescaped.

Templates live in services/reporting/templates/; `render(name, **context)` returns the page's HTML.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

environment = Environment(
    loader=PackageLoader("services.reporting", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "xml", "svg"), default_for_string=True),
    undefined=StrictUndefined,  # a missing value is a bug in the view, not an empty cell
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, /, **context: Any) -> str:
    return environment.get_template(name).render(**context)
