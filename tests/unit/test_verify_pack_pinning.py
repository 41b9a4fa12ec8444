"""`bpass verify-pack` proves who signed a pack only against a pinned key: without one it refuses, unless told to
trust the key embedded in the signature file (which anyone forging a pack can embed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from bpass.cli import app
from bpass.verify_pack import verify
from services.reporting.signing import load_or_create

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def signed_pack(tmp_path: Path, key_name: str = "key.pem") -> tuple[Path, Path]:
    signer = load_or_create(tmp_path / key_name)
    content = b"%PDF-1.7 audit pack"
    pack = tmp_path / "pack.pdf"
    pack.write_bytes(content)
    (tmp_path / "pack.pdf.sig.json").write_text(json.dumps(signer.sign(content, "pack.pdf", T0)))
    pem = tmp_path / "pub.pem"
    pem.write_text(signer.public_pem())
    return pack, pem


def test_without_a_pinned_key_the_cli_refuses_with_a_non_zero_exit(tmp_path: Path) -> None:
    pack, _ = signed_pack(tmp_path)
    result = CliRunner().invoke(app, ["verify-pack", str(pack)])
    assert result.exit_code == 2, result.output
    assert "no pinned key" in result.output
    assert "NOT VERIFIED" in result.output
    assert "\nVERIFIED" not in result.output


def test_a_forged_pack_signed_with_its_own_key_is_not_verified_without_a_pin(tmp_path: Path) -> None:
    forged = tmp_path / "forger"
    forged.mkdir()
    pack, _ = signed_pack(forged)  # a consistent file, signature and embedded key: only the pin tells them apart
    assert not verify(pack, forged / "pack.pdf.sig.json", None).ok


def test_trust_embedded_key_verifies_integrity_only_and_says_so(tmp_path: Path) -> None:
    pack, _ = signed_pack(tmp_path)
    result = CliRunner().invoke(app, ["verify-pack", str(pack), "--trust-embedded-key"])
    assert result.exit_code == 0, result.output
    assert "integrity only" in result.output
    pack.write_bytes(b"%PDF-1.7 audit pock")
    tampered = CliRunner().invoke(app, ["verify-pack", str(pack), "--trust-embedded-key"])
    assert tampered.exit_code == 1, tampered.output


def test_a_pinned_key_verifies_origin(tmp_path: Path) -> None:
    pack, pem = signed_pack(tmp_path)
    result = CliRunner().invoke(app, ["verify-pack", str(pack), "--public-key", str(pem)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("VERIFIED")
    assert "integrity only" not in result.output
    other = tmp_path / "other"
    other.mkdir()
    _, other_pem = signed_pack(other)
    refused = CliRunner().invoke(app, ["verify-pack", str(pack), "--public-key", str(other_pem)])
    assert refused.exit_code == 1, refused.output
