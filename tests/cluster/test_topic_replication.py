"""The one rule every topic the platform creates follows: its replication from the cluster's number of brokers."""

from __future__ import annotations

import pytest

from services.common.messaging import TopicReplication, new_topic, topic_replication
from services.common.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("brokers", "factor", "min_insync"),
    [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2), (9, 3, 2)],
)
def test_three_copies_two_in_sync_from_three_brokers_on(brokers: int, factor: int, min_insync: int) -> None:
    assert topic_replication(brokers) == TopicReplication(factor=factor, min_insync=min_insync)


def test_no_cluster_without_a_broker() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        topic_replication(0)


def test_a_new_topic_carries_the_rule_and_its_own_settings() -> None:
    topic = new_topic(Settings(kafka_brokers=3), "bpass.example.v1", 6, {"cleanup.policy": "compact"})
    assert (topic.name, topic.num_partitions, topic.replication_factor) == ("bpass.example.v1", 6, 3)
    assert topic.topic_configs == {"min.insync.replicas": "2", "cleanup.policy": "compact"}


def test_the_local_stack_exports_the_broker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPASS_KAFKA_BROKERS", "3")
    assert Settings().kafka_brokers == 3
    monkeypatch.setenv("BPASS_KAFKA_BROKERS", "0")
    with pytest.raises(ValueError, match="kafka_brokers"):
        Settings()
