"""`bpass`: the platform's command line (keys, contracts, demo, dead letters)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from services.common.auth import Role, add_key
from services.common.settings import Settings

app = typer.Typer(help="Battery passport platform command line.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed in the keyring file).", no_args_is_help=True)
contracts_app = typer.Typer(help="Committed contract documents.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(contracts_app, name="contracts")

DEMO_TENANT = "demo-oem"


def demo_keys_path(settings: Settings) -> Path:
    return settings.api_keys_file.with_name("demo-keys.json")


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="What the key may do.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant the key acts for (OEM roles need one).")] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    settings = Settings()
    key_id, key = add_key(settings.api_keys_file, tenant=tenant, role=role)
    typer.echo(f"key id {key_id}\nAPI key (shown once): {key}")


@keys_app.command("demo")
def keys_demo(
    quiet: Annotated[bool, typer.Option(help="Print nothing when the keys exist.")] = False,
) -> None:
    """Ensure the local demo keys exist (an OEM admin, a carrier, a platform operator) and print them."""
    settings = Settings()
    path = demo_keys_path(settings)
    if path.exists() and settings.api_keys_file.exists():
        if not quiet:
            typer.echo(path.read_text())
        return
    demo = {}
    for name, role, tenant in (
        ("oem", Role.oem_admin, DEMO_TENANT),
        ("carrier", Role.carrier, None),
        ("operator", Role.platform_operator, None),
    ):
        _, key = add_key(settings.api_keys_file, tenant=tenant, role=role, key_id=f"demo-{name}")
        demo[name] = {"key": key, "role": role.value, "tenant": tenant}
    path.write_text(json.dumps(demo, indent=2), encoding="utf-8")
    typer.echo(f"==> demo API keys written to {path}")


@contracts_app.command("write")
def contracts_write() -> None:
    """Regenerate contracts/schemas/*.json and docs/asyncapi/*.yaml."""
    from services.common.contracts_docs import write_all

    for path in write_all():
        typer.echo(f"wrote {path}")


@app.command()
def demo() -> None:
    """Mint passports, publish a custody event as a carrier would, read the passport back."""
    from bpass.demo import run_demo

    asyncio.run(run_demo(Settings()))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
