"""ensure_topics reads the broker's per-topic answer: CreateTopics reports refusals as error codes, not exceptions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from services.common import messaging
from services.common.settings import Settings


class FakeAdmin:
    """Answers create_topics with the scripted error codes, one list per call; a topic answered 0 then exists."""

    script: ClassVar[list[list[int]]] = []
    made: ClassVar[set[str]] = set()
    creates = 0

    def __init__(self, **_: Any) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def list_topics(self) -> list[str]:
        return sorted(FakeAdmin.made)

    async def create_topics(self, topics: list[Any]) -> Any:
        codes = FakeAdmin.script[FakeAdmin.creates]
        FakeAdmin.creates += 1
        for topic, code in zip(topics, codes, strict=True):
            if code in (0, messaging.TOPIC_ALREADY_EXISTS):
                FakeAdmin.made.add(topic.name)
        return SimpleNamespace(topic_errors=[(t.name, c, None) for t, c in zip(topics, codes, strict=True)])


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> type[FakeAdmin]:
    FakeAdmin.script, FakeAdmin.creates = [], 0
    FakeAdmin.made.clear()
    monkeypatch.setattr(messaging, "AIOKafkaAdminClient", FakeAdmin)
    return FakeAdmin


async def ensure(tries: int = 5) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1")  # never reached: the admin client is the fake
    await messaging.ensure_topics(settings, [("a", 1), ("b", 1)], tries=tries, pause_s=0)


async def test_a_cluster_still_forming_is_tried_again(admin: type[FakeAdmin]) -> None:
    admin.script = [[38, 38], [0, 38], [0]]  # INVALID_REPLICATION_FACTOR: fewer live brokers than replicas
    await ensure()
    assert admin.creates == 3
    assert admin.made == {"a", "b"}


async def test_a_topic_another_instance_made_meanwhile_is_fine(admin: type[FakeAdmin]) -> None:
    admin.script = [[0, messaging.TOPIC_ALREADY_EXISTS]]
    await ensure()
    assert admin.creates == 1


async def test_a_final_refusal_fails_the_start_naming_the_topic(admin: type[FakeAdmin]) -> None:
    admin.script = [[0, 40]]  # INVALID_CONFIG
    with pytest.raises(RuntimeError, match=r"refused to create topics.*'b', 40"):
        await ensure()


async def test_retries_end(admin: type[FakeAdmin]) -> None:
    admin.script = [[38, 38]] * 3
    with pytest.raises(RuntimeError, match="'a', 38"):
        await ensure(tries=3)
    assert admin.creates == 3


async def test_topics_not_ours_to_create_are_left_to_their_administrator(admin: type[FakeAdmin]) -> None:
    admin.script = [[29, 0]]  # TOPIC_AUTHORIZATION_FAILED for "a"
    await ensure()
    assert admin.creates == 1


async def test_a_topic_named_twice_is_asked_for_once(admin: type[FakeAdmin]) -> None:
    admin.script = [[0]]  # one topic in the request: zip(strict=True) in the fake fails on two
    settings = Settings(kafka_bootstrap="127.0.0.1:1")
    await messaging.ensure_topics(settings, [("a", 1), ("a", 1)], pause_s=0)
    assert admin.made == {"a"}
