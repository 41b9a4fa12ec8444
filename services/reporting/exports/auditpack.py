"""The PDF audit pack of one passport or a batch: identity, data, custody chain with its verification result,
recovery evidence and attribution. Built in memory with reportlab; signed (Ed25519, detached) by the caller."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.reporting.domain.custody_chain import verify_chain
from services.reporting.domain.dimensions import dimensions

STYLES = getSampleStyleSheet()
SMALL = ParagraphStyle("small", parent=STYLES["BodyText"], fontSize=7.5, leading=9)
CELL = ParagraphStyle("cell", parent=STYLES["BodyText"], fontSize=7.5, leading=9, wordWrap="CJK")


def _p(text: Any, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)), style)


def _table(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    data = [[_p(c) for c in row] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe7ef")))
    table.setStyle(TableStyle(style))
    return table


def _flatten(prefix: str, value: Any, out: list[list[Any]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, out)
    elif isinstance(value, list):
        if value and all(not isinstance(v, dict | list) for v in value):
            out.append([prefix, ", ".join(str(v) for v in value)])
        elif not value:
            out.append([prefix, "(none)"])
        else:
            for i, item in enumerate(value):
                _flatten(f"{prefix}[{i}]", item, out)
    else:
        out.append([prefix, value])


def passport_section(state: dict[str, Any]) -> list[Any]:
    dims = dimensions(state)
    flow: list[Any] = [Paragraph(escape(f"Passport {state.get('passport_id')}"), STYLES["Heading2"])]
    flow.append(Paragraph("1. Identity", STYLES["Heading3"]))
    identity: list[list[Any]] = [
        ["field", "value"],
        ["passport id", state.get("passport_id")],
        ["battery identifier", dims.battery_identifier],
        ["public URI (QR)", dims.public_uri],
        ["owner (tenant)", state.get("tenant")],
        ["kind / category", f"{dims.kind} / {dims.category}"],
        ["model / chemistry", f"{dims.model} / {dims.chemistry}"],
        ["batch / plant", f"{dims.batch} / {dims.plant}"],
        ["status / stage", f"{dims.status} / {dims.stage}"],
        ["minted", f"{state.get('minted_at')} by {state.get('minted_by')}"],
        ["read-model version / data version", f"{state.get('version')} / {state.get('data_version')}"],
        ["ceased", f"{state.get('ceased_at')} ({state.get('ceased_reason')})" if dims.ceased else "no"],
        ["predecessors", ", ".join(state.get("predecessor_ids") or []) or "(none)"],
        ["successors", ", ".join(state.get("successor_ids") or []) or "(none)"],
    ]
    flow.append(_table(identity, [55 * mm, 120 * mm]))
    flow.append(Paragraph("2. Passport data (as minted and amended)", STYLES["Heading3"]))
    data_rows: list[list[Any]] = [["attribute", "value"]]
    _flatten("", state.get("static_data") or {}, data_rows)
    _flatten("extensions", state.get("extensions") or {}, data_rows)
    flow.append(_table(data_rows, [70 * mm, 105 * mm]))
    flow.append(Paragraph("3. Status history and in-service data", STYLES["Heading3"]))
    history = [["when", "status", "stage", "by", "reason"]] + [
        [h.get("occurred_at"), h.get("status"), h.get("stage"), h.get("by"), h.get("reason")]
        for h in state.get("status_history") or []
    ]
    if len(history) > 1:
        flow.append(_table(history, [40 * mm, 25 * mm, 30 * mm, 40 * mm, 40 * mm]))
    else:
        flow.append(_p("No status change recorded since minting.", SMALL))
    in_service: list[list[Any]] = [["in-service field", "value"]]
    _flatten("", state.get("in_service") or {}, in_service)
    if len(in_service) > 1:
        flow.append(Spacer(1, 2 * mm))
        flow.append(_table(in_service, [70 * mm, 105 * mm]))
    snapshots = [["when", "status / stage", "performance and durability values (Annex XIII 4(a))"]] + [
        [
            s.get("at"),
            f"{s.get('status')} / {s.get('stage')}",
            "; ".join(
                f"{name} {v.get('value')} {v.get('unit') or ''}".rstrip() for name, v in (s.get("values") or {}).items()
            )
            or "(none known)",
        ]
        for s in state.get("performance_snapshots") or []
    ]
    if len(snapshots) > 1:
        flow.append(Spacer(1, 2 * mm))
        flow.append(_table(snapshots, [35 * mm, 35 * mm, 105 * mm]))
    flow.append(Paragraph("4. Custody chain", STYLES["Heading3"]))
    timeline = state.get("custody_timeline") or []
    check = verify_chain(timeline)
    verdict = "INTACT" if check["intact"] else "BROKEN: " + "; ".join(check["problems"])
    flow.append(
        _p(
            f"Verification: {verdict}. {check['entries']} entries, head hash {check['head_hash'] or '-'}. "
            f"Method: {check['method']}.",
            SMALL,
        )
    )
    custody = [["#", "kind", "occurred at", "handler", "from → to", "entry hash / previous"]] + [
        [
            e.get("sequence"),
            e.get("kind"),
            e.get("occurred_at"),
            e.get("handler_id"),
            f"{e.get('from_handler_id') or '-'} → {e.get('to_handler_id') or '-'}",
            f"{e.get('entry_hash')} / {(e.get('previous_hash') or '')[:16]}…",
        ]
        for e in timeline
    ]
    if timeline:
        flow.append(_table(custody, [8 * mm, 22 * mm, 35 * mm, 25 * mm, 35 * mm, 50 * mm]))
    flow.append(Paragraph("5. Recovery evidence and attribution", STYLES["Heading3"]))
    attributions = (state.get("recovery") or {}).get("attributions") or []
    if attributions:
        rows: list[list[Any]] = [["attribution", "evidence", "materials (kg)"]]
        for a in attributions:
            evidence = ", ".join(
                f"{k}: {v}" for k, v in a.items() if k not in {"attribution_id", "materials"} and v is not None
            )
            materials = ", ".join(f"{m.get('material')} {m.get('recovered_kg')}" for m in a.get("materials", []))
            rows.append([a.get("attribution_id"), evidence, materials])
        flow.append(_table(rows, [40 * mm, 85 * mm, 50 * mm]))
    else:
        flow.append(_p("No recovered material attributed to this passport.", SMALL))
    return flow


def build_pdf(states: list[dict[str, Any]], *, tenant: str, title: str, generated_at: datetime, key_id: str) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author="bpass reporting",
        subject=f"Audit pack of {len(states)} passport(s) of {tenant}",
    )
    flow: list[Any] = [
        Paragraph(escape(title), STYLES["Title"]),
        _p(f"Owner: {tenant}. Generated {generated_at.isoformat()}. Passports: {len(states)}.", STYLES["BodyText"]),
        _p(
            f"This file is signed with Ed25519 key {key_id}; the detached signature (.sig.json) and the public key "
            "(GET /reporting/v1/signing-keys) let an auditor verify it offline: "
            "bpass verify-pack <file>.pdf --signature <file>.pdf.sig.json --public-key <key>.pem",
            STYLES["BodyText"],
        ),
        Spacer(1, 4 * mm),
    ]
    summary: list[list[Any]] = [["passport", "battery identifier", "stage", "custody", "chain"]]
    for s in states:
        check = verify_chain(s.get("custody_timeline") or [])
        summary.append(
            [
                s.get("passport_id"),
                s.get("battery_identifier"),
                s.get("stage"),
                check["entries"],
                "intact" if check["intact"] else "BROKEN",
            ]
        )
    flow.append(_table(summary, [70 * mm, 45 * mm, 25 * mm, 15 * mm, 20 * mm]))
    for state in states:
        flow.append(PageBreak())
        flow.extend(passport_section(state))
    doc.build(flow)
    return buffer.getvalue()
