"""Third-party EPCIS test inputs from ``shared/fixtures/epcis`` (see its SOURCES.md), beside the repository.

Without that directory every test reading it fails naming it (tests/shared_inputs.py), and collection still
works: the lists below then hold one placeholder whose use fails the same way. The project's own EPCIS documents
are in tests/fixtures/epcis/ (test_epcis_own_documents.py) and need nothing beside the repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from services.custody.domain.epcis.event_hash import context_prefixes
from tests.shared_inputs import require

REPO: Final = Path(__file__).resolve().parents[3]
EPCIS_FIXTURES: Final = REPO.parent / "shared" / "fixtures" / "epcis"
VALID: Final = EPCIS_FIXTURES / "openepcis" / "valid"
INVALID: Final = EPCIS_FIXTURES / "openepcis" / "invalid"
BATTERY: Final = EPCIS_FIXTURES / "battery"
HASH_VECTORS: Final = EPCIS_FIXTURES / "hash-vectors"
OWN: Final = REPO / "tests" / "fixtures" / "epcis"  # written by the project: always there
HOLDS: Final = "third-party EPCIS 2.0 documents (valid, invalid, battery lifecycle) and CBV 2.0 event-hash vectors"
PLACEHOLDER: Final = "missing-shared-fixtures-epcis"


def present() -> bool:
    return EPCIS_FIXTURES.is_dir()


def require_fixtures() -> None:
    """Fail the calling test, naming the missing directory and what to do, when it is not beside the repository."""
    require(EPCIS_FIXTURES, HOLDS)


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
    if path.is_relative_to(EPCIS_FIXTURES):
        require_fixtures()
    return json.loads(path.read_text(encoding="utf-8"))


def accepted_documents() -> list[Path]:
    """Documents an EPCIS 2.0 capture interface must accept (the placeholder when they are missing)."""
    if not present():
        return [EPCIS_FIXTURES / PLACEHOLDER]
    paths = sorted(VALID.glob("*.json")) + sorted(BATTERY.glob("*.jsonld")) + sorted(HASH_VECTORS.glob("*.jsonld"))
    assert paths, f"no EPCIS fixtures under {EPCIS_FIXTURES}"
    return paths


def events_of(path: Path) -> list[FixtureEvent]:
    if not present():
        return [FixtureEvent(PLACEHOLDER, 0, {}, {})]
    document = load(path)
    prefixes = context_prefixes(document.get("@context"))
    label = f"{path.parent.name}/{path.name}"
    return [
        FixtureEvent(label, index, event, prefixes) for index, event in enumerate(document["epcisBody"]["eventList"])
    ]


def all_fixture_events() -> list[FixtureEvent]:
    return [event for path in accepted_documents() for event in events_of(path)]


def own_events() -> list[FixtureEvent]:
    """The events of the project's own EPCIS documents (tests/fixtures/epcis/)."""
    events = []
    for path in sorted(OWN.glob("*.jsonld")):
        document = json.loads(path.read_text(encoding="utf-8"))
        prefixes = context_prefixes(document.get("@context"))
        for index, event in enumerate(document["epcisBody"]["eventList"]):
            events.append(FixtureEvent(f"own/{path.name}", index, event, prefixes))
    assert events, f"no EPCIS documents under {OWN}"
    return events


def property_events() -> list[FixtureEvent]:
    """Events the hash's invariance properties are tried on: the project's own, and the third-party ones there are."""
    return own_events() + [event for event in all_fixture_events() if event.source != PLACEHOLDER]
