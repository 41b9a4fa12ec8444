"""Server-rendered HTML pieces of the OEM dashboard (escaped; no template engine)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

NAV = (
    ("population", "/dashboard", "Population"),
    ("passports", "/dashboard/passports", "Passports"),
    ("batches", "/dashboard/batches", "Batches"),
    ("stages", "/dashboard/stages", "Lifecycle stages"),
    ("reports", "/dashboard/reports", "Reports"),
)


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def page(title: str, body: str, *, active: str = "", who: str = "", tenant_q: str = "") -> str:
    links = "".join(
        f'<a href="{href}{tenant_q}"{" aria-current=page" if key == active else ""}>{label}</a>'
        for key, href, label in NAV
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)} · Battery passports</title>"
        "<link rel='stylesheet' href='/dashboard/static/dashboard.css'></head><body>"
        f"<header class='top'><strong>Battery passports</strong><nav aria-label='Dashboard'>{links}</nav>"
        f"<span class='who'>{e(who)} · <a href='/dashboard/logout'>sign out</a></span></header>"
        f"<main id='main'><h1>{e(title)}</h1>{body}</main>"
        "<script src='/dashboard/static/dashboard.js' defer></script></body></html>"
    )


def cards(items: Iterable[tuple[str, Any]]) -> str:
    inner = "".join(
        f"<div class='card' data-card='{e(label)}'><div class='n'>{e(_num(value))}</div>"
        f"<div class='l'>{e(label)}</div></div>"
        for label, value in items
    )
    return f"<div class='cards'>{inner}</div>"


def _num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, raw_columns: set[int] | None = None, test_id: str = ""
) -> str:
    raw_columns = raw_columns or set()
    head = "".join(f"<th scope='col'>{e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if i in raw_columns else e(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    attr = f" data-table='{e(test_id)}'" if test_id else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def link(href: str, text: Any, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"<a href='{e(href)}{'?' + e(query) if query else ''}'>{e(text)}</a>"


def passport_link(passport_id: str, text: Any = None, tenant: str | None = None) -> str:
    return link(f"/dashboard/passports/{passport_id}", text or passport_id, tenant=tenant)
