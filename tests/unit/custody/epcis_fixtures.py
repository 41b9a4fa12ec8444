"""Third-party EPCIS test inputs from ``shared/fixtures/epcis`` (see its SOURCES.md), beside the repository."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from services.custody.epcis.event_hash import context_prefixes

REPO: Final = Path(__file__).resolve().parents[3]
EPCIS_FIXTURES: Final = REPO.parent / "shared" / "fixtures" / "epcis"
VALID: Final = EPCIS_FIXTURES / "openepcis" / "valid"
INVALID: Final = EPCIS_FIXTURES / "openepcis" / "invalid"
BATTERY: Final = EPCIS_FIXTURES / "battery"
HASH_VECTORS: Final = EPCIS_FIXTURES / "hash-vectors"


@dataclass(frozen=True)
class FixtureEvent:
    """One event of a fixture document, with the CURIE prefixes its document defines."""

    source: str
    index: int
    event: dict[str, Any]
    prefixes: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.source}#{self.index}"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def accepted_documents() -> list[Path]:
    """Documents an EPCIS 2.0 capture interface must accept."""
    paths = sorted(VALID.glob("*.json")) + sorted(BATTERY.glob("*.jsonld")) + sorted(HASH_VECTORS.glob("*.jsonld"))
    assert paths, f"no EPCIS fixtures under {EPCIS_FIXTURES}"
    return paths


def events_of(path: Path) -> list[FixtureEvent]:
    document = load(path)
    prefixes = context_prefixes(document.get("@context"))
    label = f"{path.parent.name}/{path.name}"
    return [
        FixtureEvent(label, index, event, prefixes) for index, event in enumerate(document["epcisBody"]["eventList"])
    ]


def all_fixture_events() -> list[FixtureEvent]:
    return [event for path in accepted_documents() for event in events_of(path)]
