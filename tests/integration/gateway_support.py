"""The local HTTP gateway (deploy/local/nginx.conf.template) as a private nginx in front of the test services, and
HTTP clients that connect from a loopback address of their own (Linux routes all of 127.0.0.0/8 to `lo`), so a
test's rate-limit bucket is its own and no other session's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from services.common.settings import REPO_ROOT

TEMPLATE = REPO_ROOT / "deploy" / "local" / "nginx.conf.template"
# Started by root, nginx's workers would run as `nobody`, who may not write request bodies to their buffer files in
# pytest's private temporary directory (a capture document through the gateway would fail): they keep our user.
GLOBALS = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")


def loopback_address() -> str:
    """A random 127.x.y.z address (not 127.0.0.1, nor the gateway's 127.0.0.2) for a client to connect from."""
    return f"127.{random.randint(10, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def client_from(address: str, base_url: str, **kwargs: object) -> httpx.AsyncClient:
    """An HTTP client whose connections leave from `address`."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, **kwargs)  # type: ignore[arg-type]


def _start(nginx: str, directory: Path, conf: Path) -> subprocess.Popen[bytes]:
    command = [nginx, "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "logs" / "error.log")]
    return subprocess.Popen(  # noqa: S603 - the system's nginx with our own config
        [*command, "-g", GLOBALS], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.asynccontextmanager
async def local_gateway(directory: Path, port: int, service_ports: dict[str, int]) -> AsyncIterator[str]:
    """nginx with the local gateway's configuration on `port`, in front of the services on `service_ports`;
    yields its base URL."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    values = {f"BPASS_{name.upper()}_PORT": str(p) for name, p in service_ports.items()} | {
        "BPASS_HTTP_PORT": str(port)
    }
    text = re.sub(r"\$\{(BPASS_[A-Z_]+)\}", lambda m: values[m[1]], TEMPLATE.read_text(encoding="utf-8"))
    for sub in ("logs", "tmp"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    process = _start(nginx, directory, conf)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(100):
                if process.poll() is not None:
                    log = (directory / "logs" / "error.log").read_text(encoding="utf-8", errors="replace")
                    raise AssertionError(f"nginx exited: {log[-2000:]}")
                try:
                    await http.get(f"{base_url}/reporting/health/ready")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield base_url
    finally:
        _stop(process)
