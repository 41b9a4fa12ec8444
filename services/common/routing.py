"""Which apply function applies a consumed record: the one of its topic. A partner's form of a routed inbound topic
(`bpass.partner.<partner>.<domain>.<name>.v<N>`, read by a pattern subscription) joins its platform topic's route,
and its messages are bound to that partner (`parsing.bind_to_partner`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord

from contracts.topics import Topic
from services.common.parsing import Parsed, bind_to_partner, parse_record, partner_of_topic
from services.common.settings import Settings
from services.common.unit_of_work import ApplyBatch, Inbound, UnitOfWork

Route = tuple[Topic, ApplyBatch[Any]]


class Routes:
    """The topics one Kafka consumer reads and the apply function of each, in the order given: the order the apply
    functions are called in when a batch mixes topics. One apply function may take several topics."""

    def __init__(self, settings: Settings, routes: Sequence[Route]) -> None:
        self.settings = settings
        # by the topic's name on the broker (namespaced)
        self.by_name: dict[str, Route] = {settings.topic(topic.name): (topic, apply) for topic, apply in routes}
        self.name = ",".join(topic.name for topic, _ in routes)  # what the batch metrics and logs call them
        self._by_registry_name = {route[0].name: route for route in routes}
        self._partner_routes: dict[str, Route] = {}  # a partner topic's physical name -> its route, as records arrive

    def route_of(self, name: str) -> Route:
        route = self.by_name.get(name) or self._partner_routes.get(name)
        if route is None:
            partner = partner_of_topic(self.settings, name)
            if partner is None:
                raise KeyError(name)
            registry_name = "bpass." + name[len(self.settings.topic(f"bpass.partner.{partner}.")) :]
            route = self._partner_routes[name] = self._by_registry_name[registry_name]
        return route

    def topic_of(self, record: ConsumerRecord[Any, Any]) -> Topic:
        return self.route_of(record.topic)[0]

    def parse(self, record: ConsumerRecord[Any, Any]) -> Parsed[Any]:
        """`parse_record` against the topic's contract; for a partner's topic, bound to that partner."""
        parsed = parse_record(record, self.topic_of(record).payload)
        if record.topic not in self.by_name:
            partner = partner_of_topic(self.settings, record.topic)
            if partner is not None:
                bind_to_partner(parsed, partner)
        return parsed

    async def dispatch(self, uow: UnitOfWork, accepted: list[Inbound[Any]]) -> None:
        """Each apply function once, with the items of every topic it takes in the order the batch read them, in the
        order of their first route. An apply function of several topics (reporting's projection) gets them all in one
        call."""
        by_apply: dict[object, list[Inbound[Any]]] = {}  # a partner's topic joins its route
        for item in accepted:
            by_apply.setdefault(_identity(self.route_of(item.record.topic)[1]), []).append(item)
        for apply in {_identity(a): a for _, a in self.by_name.values()}.values():
            items = by_apply.get(_identity(apply))
            if items:
                await apply(uow, items)


def _identity(apply: ApplyBatch[Any]) -> object:
    """What makes two routes' apply functions one: the same callable, or the same method of the same object (a spec
    makes a new bound method for each route)."""
    owner, function = getattr(apply, "__self__", None), getattr(apply, "__func__", None)
    return (id(owner), function) if owner is not None and function is not None else id(apply)
