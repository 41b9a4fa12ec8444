"""Released contracts: the JSON Schema of every topic payload as it was published, and the guard on regenerating.

`contracts/released/<type>/v<N>.json` holds each payload's schema as released (`bpass contracts release`, `make
release-contracts`): committed, so the compatibility check needs no git history (a shallow CI clone has none).
`bpass contracts write` (`make asyncapi`) refuses to write a schema that breaks its released one, or the one
committed in contracts/schemas/, naming the topic, the field and the rule; a breaking change is a new topic
version (`.v<N+1>`), whose schema has no release yet. `bpass contracts release` records the current schemas as
released, refusing the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.compat import BreakingChange, breaking_changes
from services.common.settings import REPO_ROOT

RELEASED_DIR = REPO_ROOT / "contracts" / "released"
Schema = dict[str, Any]


@dataclass(frozen=True)
class Incompatibility:
    topic: str  # the payload's type, e.g. eu.battery-passport.identity.passport-minted.v2
    against: str  # "released" or "committed"
    change: BreakingChange

    def __str__(self) -> str:
        return f"{self.topic}: field {self.change.field}: {self.change.rule} ({self.change.detail}; {self.against})"


class IncompatibleContracts(Exception):
    def __init__(self, problems: list[Incompatibility]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{len(problems)} breaking change(s) to published topic payloads; nothing written:\n{lines}\n"
            "Keep the topic compatible, or raise its version: a new payload type `.v<N+1>` on a new topic, the "
            "old one kept in contracts/topics.py RETIRED while it is read."
        )


def released_path(name: str, released_dir: Path = RELEASED_DIR) -> Path:
    """`eu.…passport-minted.v2.json` -> `<released_dir>/eu.…passport-minted/v2.json`."""
    topic, version = name.removesuffix(".json").rsplit(".", 1)
    return released_dir / topic / f"{version}.json"


def _read(path: Path) -> Schema | None:
    if not path.exists():
        return None
    data: Schema = json.loads(path.read_text(encoding="utf-8"))
    return data


def released_schema(name: str, released_dir: Path = RELEASED_DIR) -> Schema | None:
    return _read(released_path(name, released_dir))


def released_names(released_dir: Path = RELEASED_DIR) -> list[str]:
    return sorted(f"{p.parent.name}.{p.stem}.json" for p in released_dir.glob("*/v*.json"))


def incompatibilities(
    current: Mapping[str, Schema], released_dir: Path = RELEASED_DIR, committed_dir: Path | None = None
) -> list[Incompatibility]:
    """Every breaking change of `current` (file name -> schema) against its released schema and, when
    `committed_dir` is given, against the schema committed there; a released payload that is gone is one too."""
    problems: list[Incompatibility] = []
    for name in released_names(released_dir):
        if name not in current:
            gone = BreakingChange("$", "removed topic payload", "released, and no longer generated")
            problems.append(Incompatibility(name.removesuffix(".json"), "released", gone))
    for name, schema in sorted(current.items()):
        baselines = [("released", released_schema(name, released_dir))]
        if committed_dir is not None:
            baselines.append(("committed", _read(committed_dir / name)))
        seen: set[str] = set()
        for against, baseline in baselines:
            if baseline is None:
                continue
            for change in breaking_changes(baseline, json.loads(json.dumps(schema))):
                if str(change) not in seen:
                    seen.add(str(change))
                    problems.append(Incompatibility(name.removesuffix(".json"), against, change))
    return problems


def _dump(schema: Schema) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(current: Mapping[str, Schema], schemas_dir: Path, released_dir: Path = RELEASED_DIR) -> list[Path]:
    """Write contracts/schemas/ from `current`, unless a schema breaks its released or committed one."""
    problems = incompatibilities(current, released_dir, schemas_dir)
    if problems:
        raise IncompatibleContracts(problems)
    schemas_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(current.items()):
        path = schemas_dir / name
        path.write_text(_dump(schema), encoding="utf-8")
        written.append(path)
    return written


def release(current: Mapping[str, Schema], released_dir: Path = RELEASED_DIR) -> list[Path]:
    """Record `current` as released (new versions added, released ones updated compatibly), or refuse."""
    problems = incompatibilities(current, released_dir)
    if problems:
        raise IncompatibleContracts(problems)
    written = []
    for name, schema in sorted(current.items()):
        path = released_path(name, released_dir)
        text = _dump(schema)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
