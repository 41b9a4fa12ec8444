"""The resolver's own answers to a link that names no passport, or is no passport link (HTML for browsers).

The passport itself has one public page, rendered by reporting from the read model (`/passport/<id>`, see
`resolver`); these two pages only say why the link leads nowhere. No I/O.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from contracts.errors import Violation

_STYLE = (
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#111;background:#fff}"
    "header{background:#0b3d5c;color:#fff;padding:1rem}header h1{margin:0;font-size:1.3rem}"
    "main{padding:1rem;max-width:46rem;margin:0 auto}h2{font-size:1.05rem;margin:.6rem 0}"
    "ul{margin:0;padding-left:1.1rem}"
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>Battery passport</h1></header><main>{body}</main></body></html>"
    )


def not_found_page(message: str) -> str:
    return _page(
        "Passport not found",
        f"<h2>Passport not found</h2><p>{_e(message)}</p>"
        "<p>Check that the link or QR code is complete; if it came from a battery label, contact its manufacturer.</p>",
    )


def invalid_link_page(violations: Sequence[Violation]) -> str:
    items = "".join(f"<li>{_e(v.message)}</li>" for v in violations)
    return _page(
        "Not a passport link",
        f"<h2>Not a passport link</h2><p>This address does not name a battery passport:</p><ul>{items}</ul>",
    )
