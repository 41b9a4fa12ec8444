"""QR codes (ISO/IEC 18004) of passport URIs, and printable label sheets. Pure: bytes in memory, no files.

Every QR code uses error correction level M (exactly M, not boosted) and a quiet zone of 4 modules.
`labels_pdf` lays out 12 labels per A4 page (3 columns x 4 rows, cut guides drawn), each with the QR
code as vector graphics, the battery identifier and the URI printed under it.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

ERROR_CORRECTION = "m"
QUIET_ZONE_MODULES = 4
LABELS_PER_PAGE = 12
_COLUMNS, _ROWS = 3, 4
_PAGE_MARGIN = 10 * mm
_QR_SIZE = 40 * mm
_IDENTIFIER_FONT, _IDENTIFIER_SIZE = "Helvetica-Bold", 9
_URI_FONT, _URI_SIZE, _URI_MAX_LINES = "Helvetica", 6.5, 4
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # fixed, so that the same labels give the same bytes
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class Label:
    """One printed label: the identifier a person reads and the URI the QR code carries."""

    battery_identifier: str
    uri: str


def _qr(uri: str) -> segno.QRCode:
    if not uri:
        raise ValueError("cannot encode an empty URI")
    return segno.make_qr(uri, error=ERROR_CORRECTION, boost_error=False)


def qr_svg(uri: str) -> bytes:
    """SVG of the QR code (sized by its viewBox, one unit per module)."""
    out = io.BytesIO()
    _qr(uri).save(out, kind="svg", border=QUIET_ZONE_MODULES, xmldecl=True, omitsize=True, title=uri)
    return out.getvalue()


def qr_png(uri: str, scale: int = 8) -> bytes:
    """PNG of the QR code, `scale` pixels per module."""
    if not 1 <= scale <= 100:
        raise ValueError(f"scale must be between 1 and 100 pixels per module, got {scale}")
    out = io.BytesIO()
    _qr(uri).save(out, kind="png", scale=scale, border=QUIET_ZONE_MODULES)
    return out.getvalue()


def _draw_qr(canvas: Canvas, uri: str, x: float, y: float, size: float) -> None:
    """The QR code as filled rectangles, bottom-left corner at (x, y), quiet zone included in `size`."""
    rows = [list(row) for row in _qr(uri).matrix_iter(scale=1, border=QUIET_ZONE_MODULES)]
    module = size / len(rows)
    path = canvas.beginPath()
    for row_index, row in enumerate(rows):
        top = y + size - (row_index + 1) * module
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            run_start = column
            while column < len(row) and row[column]:
                column += 1
            path.rect(x + run_start * module, top, (column - run_start) * module, module)
    canvas.drawPath(path, stroke=0, fill=1)


def _wrap(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Break text (URIs have no spaces) at any character so that each line fits `width`."""
    lines: list[str] = []
    current = ""
    for char in text:
        if current and stringWidth(current + char, font, size) > width:
            lines.append(current)
            current = ""
        current += char
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "…"
    return lines


def _draw_label(canvas: Canvas, label: Label, x: float, y: float, width: float, height: float) -> None:
    canvas.setStrokeGray(0.8)
    canvas.setLineWidth(0.25)
    canvas.rect(x, y, width, height, stroke=1, fill=0)
    canvas.setFillGray(0)
    qr_bottom = y + height - 4 * mm - _QR_SIZE
    _draw_qr(canvas, label.uri, x + (width - _QR_SIZE) / 2, qr_bottom, _QR_SIZE)
    text_width = width - 6 * mm
    baseline = qr_bottom - 4 * mm
    for line in _wrap(label.battery_identifier, _IDENTIFIER_FONT, _IDENTIFIER_SIZE, text_width, 2):
        canvas.setFont(_IDENTIFIER_FONT, _IDENTIFIER_SIZE)
        canvas.drawCentredString(x + width / 2, baseline, line)
        baseline -= _IDENTIFIER_SIZE * 1.25
    canvas.setFont(_URI_FONT, _URI_SIZE)
    for line in _wrap(label.uri, _URI_FONT, _URI_SIZE, text_width, _URI_MAX_LINES):
        canvas.drawCentredString(x + width / 2, baseline, line)
        baseline -= _URI_SIZE * 1.25


def labels_pdf(labels: Sequence[Label]) -> bytes:
    """A4 PDF, 12 labels per page (3 x 4, left to right, top to bottom); ceil(N / 12) pages."""
    if not labels:
        raise ValueError("no labels to print")
    page_width, page_height = A4
    cell_width = (page_width - 2 * _PAGE_MARGIN) / _COLUMNS
    cell_height = (page_height - 2 * _PAGE_MARGIN) / _ROWS
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=True)
    canvas.setTitle("Battery passport labels")
    canvas.setCreator("bpass identity service")
    for index, label in enumerate(labels):
        slot = index % LABELS_PER_PAGE
        if index and slot == 0:
            canvas.showPage()
        column, row = slot % _COLUMNS, slot // _COLUMNS
        x = _PAGE_MARGIN + column * cell_width
        y = page_height - _PAGE_MARGIN - (row + 1) * cell_height
        _draw_label(canvas, label, x, y, cell_width, cell_height)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def label_filename(battery_identifier: str) -> str:
    """A safe file name stem: characters other than letters, digits, `.`, `_`, `-` become `_`."""
    stem = _UNSAFE_FILENAME_CHARS.sub("_", battery_identifier)[:100].lstrip(".")
    return stem or "label"


def labels_zip(labels: Sequence[Label], scale: int = 8) -> bytes:
    """ZIP of one PNG per label, `<sanitised identifier>.png`; clashing names get `-2`, `-3`, … appended."""
    out = io.BytesIO()
    taken: set[str] = set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for label in labels:
            stem = label_filename(label.battery_identifier)
            name, counter = stem, 1
            while name.lower() in taken:  # case-insensitive: the archive may be unpacked on macOS or Windows
                counter += 1
                name = f"{stem}-{counter}"
            taken.add(name.lower())
            entry = zipfile.ZipInfo(f"{name}.png", date_time=_ZIP_TIMESTAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, qr_png(label.uri, scale=scale))
    return out.getvalue()
