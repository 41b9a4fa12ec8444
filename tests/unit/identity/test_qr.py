"""QR codes decode back to the exact URI; label PDFs and ZIPs have the right number of pages and entries."""

from __future__ import annotations

import io
import math
import re
import zipfile

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfReader

from bpass.examples import EXAMPLE_GTIN
from contracts.passport_data import GS1_CHARSET_82
from services.identity.domain.identifiers import digital_link, new_passport_id, platform_uri
from services.identity.domain.qr import (
    LABELS_PER_PAGE,
    Label,
    label_filename,
    labels_pdf,
    labels_zip,
    qr_png,
    qr_svg,
)
from tests.examples import EXAMPLE_RESOLVER

pytestmark = pytest.mark.unit

DL = digital_link(EXAMPLE_RESOLVER, EXAMPLE_GTIN, "VX-000001/A%", "L2026-03")


def _decode(png: bytes) -> list[str]:
    with Image.open(io.BytesIO(png)) as image:
        return [result.text for result in zxingcpp.read_barcodes(image)]


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))


def printed_text(pdf: bytes) -> list[str]:
    """Per page, the text printed on it in drawing order, its line breaks removed (a URI wraps at any character)."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    return ["".join(line.strip() for line in page.extract_text().splitlines()) for page in pages]


@pytest.mark.parametrize("uri", [DL, platform_uri(EXAMPLE_RESOLVER, new_passport_id())])
def test_png_decodes_to_the_exact_uri(uri: str) -> None:
    png = qr_png(uri)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert _decode(png) == [uri]


def test_error_correction_is_m_and_quiet_zone_is_4_modules() -> None:
    with Image.open(io.BytesIO(qr_png(DL, scale=1))) as image:
        [result] = zxingcpp.read_barcodes(image.convert("L").resize((image.width * 4, image.height * 4)))
        assert result.ec_level == "M"
        grey = image.convert("L")
        assert all(grey.getpixel((x, y)) == 255 for x in range(4) for y in range(grey.height))  # left margin
        assert any(grey.getpixel((4, y)) == 0 for y in range(grey.height))  # the symbol starts at module 4


@settings(database=None, max_examples=25, deadline=None)
@given(st.text(alphabet=sorted(GS1_CHARSET_82), min_size=1, max_size=20))
def test_any_digital_link_survives_the_qr_round_trip(serial: str) -> None:
    uri = digital_link(EXAMPLE_RESOLVER, EXAMPLE_GTIN, serial)
    assert _decode(qr_png(uri, scale=4)) == [uri]


def test_png_scale_is_bounded() -> None:
    with pytest.raises(ValueError, match="scale"):
        qr_png(DL, scale=0)


def test_svg() -> None:
    svg = qr_svg(DL)
    assert svg.startswith(b"<?xml")
    assert b"<svg" in svg
    assert b"viewBox" in svg
    assert DL.encode() in svg  # as the title, for screen readers


@pytest.mark.parametrize("count", [1, 11, 12, 13, 25])
def test_pdf_has_one_page_per_12_labels(count: int) -> None:
    labels = [Label(f"VX-{i:06d}", digital_link(EXAMPLE_RESOLVER, EXAMPLE_GTIN, f"VX-{i:06d}")) for i in range(count)]
    pdf = labels_pdf(labels)
    assert pdf.startswith(b"%PDF-")
    assert _pages(pdf) == math.ceil(count / LABELS_PER_PAGE)


def test_pdf_is_deterministic_and_prints_identifier_and_uri() -> None:
    labels = [Label("VX-000001", "https://id.voltaris.example/p/0192f1a1-b2c3-7d4e-8f90-123456789abc")]
    pdf = labels_pdf(labels)
    assert pdf == labels_pdf(labels)
    assert printed_text(pdf) == ["VX-000001https://id.voltaris.example/p/0192f1a1-b2c3-7d4e-8f90-123456789abc"]
    with pytest.raises(ValueError, match="no labels"):
        labels_pdf([])


def test_each_label_prints_its_own_identifier_then_its_whole_uri_on_its_page() -> None:
    # Serials of GS1's character set (escaped in the URI), URIs long enough to wrap, 14 labels over two pages.
    serials = [f"VX-{i:06d}/A%" for i in range(LABELS_PER_PAGE + 2)]
    labels = [Label(serial, digital_link(EXAMPLE_RESOLVER, EXAMPLE_GTIN, serial, "L2026-03")) for serial in serials]
    assert all(len(label.uri) > 60 for label in labels)
    pages = printed_text(labels_pdf(labels))
    assert pages == [
        "".join(label.battery_identifier + label.uri for label in labels[:LABELS_PER_PAGE]),
        "".join(label.battery_identifier + label.uri for label in labels[LABELS_PER_PAGE:]),
    ]


def test_zip_has_one_png_per_label_named_by_sanitised_identifier() -> None:
    identifiers = ["VX-000001", "VX/000002", "../../etc/passwd", "vx-000001", "VX-000001", "..", "Ä"]
    labels = [Label(identifier, DL) for identifier in identifiers]
    with zipfile.ZipFile(io.BytesIO(labels_zip(labels))) as archive:
        names = archive.namelist()
        assert names == [
            "VX-000001.png",
            "VX_000002.png",
            "_.._etc_passwd.png",
            "vx-000001-2.png",
            "VX-000001-3.png",
            "label.png",
            "_.png",
        ]
        assert all(_decode(archive.read(name)) == [DL] for name in names[:2])


def test_label_filename() -> None:
    assert label_filename("VX-000001") == "VX-000001"
    assert label_filename(".hidden") == "hidden"
    assert len(label_filename("x" * 500)) == 100
