"""Static data documents: the JSON form, its bytes and content digest, computed once per distinct document.

Passports of one model share one `StaticPassportData` object (bulk defaults); storing and publishing it
100,000 times must not serialise it 100,000 times. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from contracts.passport_data import StaticPassportData, static_data_document_digest


@dataclass(frozen=True, slots=True)
class StaticDocument:
    json: dict[str, Any]
    json_bytes: bytes
    digest: str


def document_of_json(data: dict[str, Any]) -> StaticDocument:
    return StaticDocument(data, orjson.dumps(data), static_data_document_digest(data))


class StaticDocuments:
    """Per request: StaticPassportData object -> its document (keyed by object identity while alive)."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[StaticPassportData, StaticDocument]] = {}

    def of(self, data: StaticPassportData) -> StaticDocument:
        hit = self._by_id.get(id(data))
        if hit is not None:
            return hit[1]
        document = document_of_json(data.model_dump(mode="json", exclude_none=True))
        self._by_id[id(data)] = (data, document)  # keeps `data` alive, so its id is not reused
        return document

    def distinct(self) -> list[StaticDocument]:
        unique = {document.digest: document for _, document in self._by_id.values()}
        return list(unique.values())
