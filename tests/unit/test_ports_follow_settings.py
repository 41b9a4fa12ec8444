"""Ports and URLs follow the configuration: the public base URL (passport URIs, QR codes, Digital Link) derives
from BPASS_HTTP_PORT unless set, and the CLI's demo and simulator call the gateway on that port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpass.cli import app
from services.common.settings import Settings


def test_public_base_url_derives_from_the_http_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BPASS_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("BPASS_HTTP_PORT", "9080")
    settings = Settings()
    assert settings.public_base_url == settings.gateway_url == "http://127.0.0.1:9080"
    monkeypatch.delenv("BPASS_HTTP_PORT")
    assert Settings().public_base_url == "http://127.0.0.1:8080"


def test_an_explicit_public_base_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPASS_HTTP_PORT", "9080")
    monkeypatch.setenv("BPASS_PUBLIC_BASE_URL", "https://passport.example.com")
    settings = Settings()
    assert settings.public_base_url == "https://passport.example.com"
    assert settings.gateway_url == "http://127.0.0.1:9080"


class Gateway:
    """A stand-in gateway on a free port: records each request's path and refuses it (503)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                seen.append(f"{self.command} {self.path}")
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _refuse

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gateway = Gateway()
    thread = threading.Thread(target=gateway.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        gateway.server.shutdown()
        gateway.server.server_close()


@pytest.fixture
def cli_env(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {role: {"key": f"bpk_{role}", "tenant": "demo-oem"} for role in ("oem", "operator")}
    (tmp_path / "demo-keys.json").write_text(json.dumps(keys), encoding="utf-8")
    monkeypatch.setenv("BPASS_API_KEYS_FILE", str(tmp_path / "api-keys.json"))
    monkeypatch.setenv("BPASS_HTTP_PORT", str(gateway.port))
    monkeypatch.delenv("BPASS_PUBLIC_BASE_URL", raising=False)


def test_the_demo_calls_the_gateway_of_the_configured_port(cli_env: None, gateway: Gateway) -> None:
    CliRunner().invoke(app, ["demo"])
    assert gateway.paths, "bpass demo never called the gateway on BPASS_HTTP_PORT"
    assert gateway.paths[0].startswith("POST /identity/v1/gtin-prefixes"), gateway.paths


def test_the_simulator_calls_the_gateway_of_the_configured_port(
    cli_env: None, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bpass.simulate

    called: list[bpass.simulate.Endpoints] = []

    def simulator(settings: Settings, endpoints: bpass.simulate.Endpoints, *args: object) -> None:
        called.append(endpoints)
        raise bpass.simulate.SimulationError("stopped by the test")

    monkeypatch.setattr(bpass.simulate, "Simulator", simulator)
    result = CliRunner().invoke(app, ["simulate", "--batteries", "1", "--run", "ports"])
    assert "stopped by the test" in result.output
    assert called == [bpass.simulate.Endpoints.gateway(f"http://127.0.0.1:{gateway.port}")]
