"""A key revoked with `bpass keys revoke` is refused by every service (identity, custody, recovery, reporting) from
its next request on, without a restart; a key that was not revoked keeps working in each."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from services.common.auth import Role, add_key
from services.common.settings import REPO_ROOT, Settings
from tests.support import ServiceProcess

pytestmark = pytest.mark.timeout(120)


def own_reads(tenant: str) -> dict[str, str]:
    """Per service, a read an OEM user of `tenant` is allowed (200) when its key is good."""
    return {
        "identity": "/identity/v1/gtin-prefixes",
        "custody": f"/custody/v1/tenants/{tenant}/policy",
        "recovery": "/recovery/v1/recycled-content/claims",
        "reporting": "/reporting/v1/passports",
    }


async def answers(platform: dict[str, ServiceProcess], tenant: str, key: str) -> dict[str, httpx.Response]:
    out = {}
    for service, path in own_reads(tenant).items():
        async with httpx.AsyncClient(base_url=platform[service].base_url, timeout=10) as http:
            out[service] = await http.get(path, headers={"X-API-Key": key})
    return out


def revoke_with_the_cli(settings: Settings, key_id: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and command line
        [sys.executable, "-m", "bpass.cli", "keys", "revoke", key_id],
        cwd=REPO_ROOT,
        env={**os.environ, "BPASS_API_KEYS_FILE": str(settings.api_keys_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"revoked {key_id}"


async def test_a_revoked_key_is_refused_by_all_four_services_without_a_restart(
    platform: dict[str, ServiceProcess], settings: Settings
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    revoked_id, revoked = add_key(settings.api_keys_file, tenant=tenant, role=Role.oem_user)
    _, kept = add_key(settings.api_keys_file, tenant=tenant, role=Role.oem_user)
    processes = {name: service.process.pid for name, service in platform.items() if service.process is not None}
    assert sorted(processes) == sorted(own_reads(tenant))

    # Both keys work everywhere first: the 401s below are the revocation's, not a read the key never had.
    for key in (revoked, kept):
        before = await answers(platform, tenant, key)
        assert {s: r.status_code for s, r in before.items()} == dict.fromkeys(processes, 200), {
            s: r.text for s, r in before.items()
        }

    revoke_with_the_cli(settings, revoked_id)

    after = await answers(platform, tenant, revoked)
    assert {s: r.status_code for s, r in after.items()} == dict.fromkeys(processes, 401), {
        s: r.text for s, r in after.items()
    }
    for service, response in after.items():
        assert response.headers["content-type"] == "application/problem+json", service
        problem = response.json()
        assert (problem["status"], problem["reason"]) == (401, "invalid_api_key"), (service, problem)
        assert response.headers["www-authenticate"] == "Bearer", service
    # The same key as a bearer token is refused too.
    async with httpx.AsyncClient(timeout=10) as http:
        for service, path in own_reads(tenant).items():
            bearer = await http.get(platform[service].base_url + path, headers={"Authorization": f"Bearer {revoked}"})
            assert (bearer.status_code, bearer.json()["reason"]) == (401, "invalid_api_key"), service

    still = await answers(platform, tenant, kept)
    assert {s: r.status_code for s, r in still.items()} == dict.fromkeys(processes, 200), {
        s: r.text for s, r in still.items()
    }
    # The same processes answered before and after: nothing was restarted.
    for name, running in platform.items():
        assert running.process is not None
        assert running.process.pid == processes[name]
        assert running.process.poll() is None, name
