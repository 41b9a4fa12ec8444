"""`bpass`: the platform's command line (keys, contracts, demo, dead letters)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from services.common.auth import Role, add_key, list_keys, revoke_key
from services.common.settings import Settings

app = typer.Typer(help="Battery passport platform command line.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed in the keyring file).", no_args_is_help=True)
contracts_app = typer.Typer(help="Committed contract documents.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(contracts_app, name="contracts")
dlq_app = typer.Typer(help="Dead letters: messages a service gave up on after its bounded tries.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
kafka_user_app = typer.Typer(
    help="Partners' Kafka users: SCRAM credentials and the ACLs of their own topics.", no_args_is_help=True
)
app.add_typer(kafka_user_app, name="kafka-user")
SERVICES = ("identity", "custody", "recovery", "reporting")

DEMO_TENANT = "demo-oem"


def demo_keys_path(settings: Settings) -> Path:
    return settings.api_keys_file.with_name("demo-keys.json")


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="What the key may do.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant the key acts for (OEM roles need one).")] = None,
    expires_in_days: Annotated[int | None, typer.Option(help="Days until the key stops working.")] = None,
    label: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    settings = Settings()
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    key_id, key = add_key(
        settings.api_keys_file, tenant=tenant, role=role, expires_at=expires_at, created_by="cli", label=label
    )
    typer.echo(f"key id {key_id}\nAPI key (shown once): {key}")


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, role, tenant, expiry, revoked (never the key itself)."""
    for entry in list_keys(Settings().api_keys_file):
        typer.echo(
            f"{entry['key_id']:<20} {entry['role']:<18} {entry.get('tenant') or '-':<24} "
            f"expires {entry.get('expires_at') or 'never':<32} {'REVOKED' if entry.get('revoked') else 'active':<8} "
            f"created by {entry.get('created_by') or '-'}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: every service refuses it from its next request on."""
    if not revoke_key(Settings().api_keys_file, key_id, revoked_by="cli"):
        typer.echo(f"no key {key_id}; `bpass keys list` shows them", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@keys_app.command("demo")
def keys_demo(
    quiet: Annotated[bool, typer.Option(help="Print nothing when the keys exist.")] = False,
) -> None:
    """Ensure the local demo keys exist (an OEM admin, a carrier, a platform operator) and print them."""
    settings = Settings()
    path = demo_keys_path(settings)
    if path.exists() and settings.api_keys_file.exists():
        path.chmod(0o600)  # the operator's key is in it: an earlier version left it readable by anyone
        if not quiet:
            typer.echo(path.read_text())
        return
    demo = {}
    for name, role, tenant in (
        ("oem", Role.oem_admin, DEMO_TENANT),
        ("carrier", Role.carrier, None),
        ("operator", Role.platform_operator, None),
    ):
        _, key = add_key(settings.api_keys_file, tenant=tenant, role=role, key_id=f"demo-{name}", created_by="cli")
        demo[name] = {"key": key, "role": role.value, "tenant": tenant}
    # The keys in clear (the operator's included): readable by this user only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(demo, indent=2))
    path.chmod(0o600)
    typer.echo(f"==> demo API keys written to {path}")


@kafka_user_app.command("add")
def kafka_user_add(
    partner: Annotated[str, typer.Argument(help="The partner's tenant name or handler id.")],
    namespace: Annotated[str | None, typer.Option(help="Topic namespace (default: BPASS_TOPIC_NAMESPACE).")] = None,
) -> None:
    """Create a partner's Kafka user (or give it a new password), its topics and ACLs; its client settings are
    written 0600 under the secrets directory."""
    from bpass.kafka_users import add_partner

    credentials = asyncio.run(add_partner(Settings(), partner, namespace=namespace))
    typer.echo(f"==> Kafka user {credentials.user}: client settings in {credentials.properties_file} (0600)")


@kafka_user_app.command("remove")
def kafka_user_remove(partner: Annotated[str, typer.Argument(help="The partner's tenant name or handler id.")]) -> None:
    """Delete a partner's Kafka user and its ACLs (its topics and what they hold stay)."""
    from bpass.kafka_users import remove_partners

    remove_partners(Settings(), [partner])
    typer.echo(f"==> Kafka user partner-{partner} removed")


@contracts_app.command("write")
def contracts_write() -> None:
    """Regenerate contracts/schemas/*.json and docs/asyncapi/*.yaml; refuse a schema that breaks its released or
    committed one (a breaking change is a new topic version)."""
    from bpass.contract_release import IncompatibleContracts, write_schemas
    from services.common.contracts_docs import ASYNCAPI_DIR, SCHEMAS_DIR, asyncapi_documents, payload_schemas

    try:
        written = write_schemas(payload_schemas(), SCHEMAS_DIR)
    except IncompatibleContracts as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(1) from None
    ASYNCAPI_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in asyncapi_documents().items():
        path = ASYNCAPI_DIR / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for path in written:
        typer.echo(f"wrote {path}")


@contracts_app.command("release")
def contracts_release() -> None:
    """Record the current payload schemas as released (contracts/released/<type>/v<N>.json), the baseline every
    later change is checked against; refuse when one breaks its released schema."""
    from bpass.contract_release import IncompatibleContracts, release
    from services.common.contracts_docs import payload_schemas

    try:
        written = release(payload_schemas())
    except IncompatibleContracts as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(1) from None
    for path in written:
        typer.echo(f"released {path}")
    if not written:
        typer.echo("==> every payload schema is released as it is")


@app.command()
def demo() -> None:
    """Mint passports, publish a custody event as a carrier would, read the passport back."""
    from bpass.demo import run_demo

    asyncio.run(run_demo(Settings()))


def _letters(service: str | None) -> list[Any]:
    from bpass.dlq import read_dead_letters

    settings = Settings()
    services = [service] if service else list(SERVICES)

    async def read_all() -> list[Any]:
        return [letter for s in services for letter in await read_dead_letters(settings, s)]

    return asyncio.run(read_all())


@dlq_app.command("list")
def dlq_list(service: Annotated[str | None, typer.Option(help="Only this service's dead letters.")] = None) -> None:
    """One line per dead letter: id, service, where it came from, the error."""
    letters = _letters(service)
    for letter in letters:
        typer.echo(
            f"{letter.dlq_id}  {letter.service:<9} {letter.original_topic}[{letter.original_partition}]"
            f"@{letter.original_offset}  {letter.error_type}: {letter.error[:100]}"
        )
    typer.echo(f"{len(letters)} dead letter(s)")


@dlq_app.command("show")
def dlq_show(dlq_id: str) -> None:
    """Everything about one dead letter: headers, error and the original body."""
    for letter in _letters(None):
        if letter.dlq_id == dlq_id:
            typer.echo(f"id:        {letter.dlq_id}\nservice:   {letter.service}")
            typer.echo(f"from:      {letter.original_topic}[{letter.original_partition}]@{letter.original_offset}")
            typer.echo(f"error:     {letter.error_type}: {letter.error}")
            typer.echo("headers:")
            for name, value in letter.headers:
                typer.echo(f"  {name}: {value.decode('utf-8', 'replace')}")
            typer.echo(f"body:\n{letter.value.decode('utf-8', 'replace')}")
            return
    typer.echo(f"no dead letter {dlq_id}; `bpass dlq list` shows them", err=True)
    raise typer.Exit(1)


@dlq_app.command("replay")
def dlq_replay(
    dlq_ids: Annotated[list[str] | None, typer.Argument(help="Dead letters to replay (default: none).")] = None,
    all_of: Annotated[str | None, typer.Option("--all", help="Replay every dead letter of this service.")] = None,
) -> None:
    """Publish dead letters back to their original topic (after fixing the cause); applied at most once."""
    from bpass.dlq import replay

    letters = _letters(all_of) if all_of else [x for x in _letters(None) if x.dlq_id in set(dlq_ids or [])]
    if not letters:
        typer.echo("nothing to replay: name dead letter ids or --all <service>", err=True)
        raise typer.Exit(1)
    count = asyncio.run(replay(Settings(), letters))
    typer.echo(f"replayed {count} message(s) to their original topics")


@app.command()
def ops(
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 2.0,
    once: Annotated[bool, typer.Option(help="Print one table and exit.")] = False,
) -> None:
    """Live figures per service: health, throughput, rejections, dead letters, outbox backlog, lag, HTTP."""
    from bpass.ops import watch

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(Settings(), interval, once))


@app.command("verify-pack")
def verify_pack(
    pack: Annotated[Path, typer.Argument(help="The audit pack PDF.", exists=True, dir_okay=False)],
    signature: Annotated[
        Path | None, typer.Option(help="Detached signature (default: <pack>.sig.json).", dir_okay=False)
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(help="Pinned key: PEM, or the JSON of GET /reporting/v1/signing-keys.", exists=True),
    ] = None,
    trust_embedded_key: Annotated[
        bool,
        typer.Option(help="Without --public-key: check against the signature file's own key (integrity, not origin)."),
    ] = False,
) -> None:
    """Verify an audit pack offline: file hash and Ed25519 signature against a pinned public key."""
    from bpass.verify_pack import NO_PINNED_KEY, load_pinned_keys, verify

    if public_key is None and not trust_embedded_key:
        typer.echo(NO_PINNED_KEY)
        typer.echo("NOT VERIFIED")
        raise typer.Exit(2)

    signature = signature or pack.with_name(pack.name + ".sig.json")
    if not signature.exists():
        typer.echo(f"FAIL no signature file {signature}")
        raise typer.Exit(2)
    pinned = load_pinned_keys(public_key) if public_key else None
    verdict = verify(pack, signature, pinned, trust_embedded_key=trust_embedded_key)
    for line in verdict.lines:
        typer.echo(line)
    if verdict.ok and not verdict.pinned:
        typer.echo("VERIFIED (integrity only: the embedded key was trusted, origin not proven)")
    else:
        typer.echo("VERIFIED" if verdict.ok else "NOT VERIFIED")
    raise typer.Exit(0 if verdict.ok else 1)


@app.command()
def simulate(
    batteries: Annotated[int, typer.Option(help="Batteries to play through their lifecycle.")] = 3000,
    run: Annotated[
        str, typer.Option(help="Run label: identifiers derive from it (same label, same batteries).")
    ] = "sim",
    tenant_key: Annotated[
        str | None, typer.Option(help="OEM API key (default: the demo OEM key of var/local/demo-keys.json).")
    ] = None,
    operator_key: Annotated[
        str | None, typer.Option(help="Platform operator key (default: the demo operator key).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="HTTP entry of the platform (default: the local gateway, http://127.0.0.1:$BPASS_HTTP_PORT)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the lifecycle choices.")] = 7,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the platform at each settle point.")] = 180,
    shuffle: Annotated[
        bool,
        typer.Option(
            help="Out-of-order arrival (seeded): observations anywhere among custody's transfers, some held back until "
            "after the ceased facts, batteries interleaved, batches and reports in random order."
        ),
    ] = False,
    backdate_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=3000,
            help="Past-dated lifecycles: each ends N/2 to N days before the simulation's anchor date "
            "(default: 1-90 days for batteries with their dealer, 1-400 otherwise).",
        ),
    ] = None,
    check_sample: Annotated[
        int, typer.Option(min=0, help="Batteries whose read model the end check compares to what was sent (0: none).")
    ] = 200,
) -> None:
    """Play OEMs, carriers, collectors, recyclers and refiners through the public contracts (HTTP, Kafka).

    Exits 1 when the platform refused (or flagged) anything the simulator sent, or when the read model of a checked
    battery disagrees with what was sent (its stage, status, ceased, status history, or its stage as of an instant).
    A run label fixes the batteries and their dates: rerun a label with the same --seed and --backdate-days."""
    from bpass.simulate import SimulationError, run_simulation

    try:
        result = asyncio.run(
            run_simulation(
                Settings(),
                batteries=batteries,
                run=run,
                oem_key=tenant_key,
                operator_key=operator_key,
                base_url=base_url,
                seed=seed,
                timeout=timeout,
                shuffle=shuffle,
                backdate_days=backdate_days,
                check_sample=check_sample,
            )
        )
    except SimulationError as exc:
        typer.echo(f"simulation failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    if result["refusals"] or result["disagreements"]:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
