"""An EPCIS 2.0 client that knows the GS1 REST binding and nothing else of the platform, through the local gateway
(deploy/local/nginx.conf.template) in front of a real custody service, Kafka and PostgreSQL: it discovers the
interface, names a query, subscribes to it over WebSocket and by webhook, captures a JSON and an XML document,
follows the capture jobs, pages the query by its `Link` headers, reads one event and a value list, and receives
every matching event once on the socket and once, signed, at its webhook — and nothing that does not match.

The platform side (outside the binding) is only the set-up: a verified handler in the registry and its API key.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from services.common.auth import Role
from services.common.settings import Settings
from services.custody.subscriptions.webhooks.signing import verify
from tests.conftest import PORT_BASE, new_key
from tests.integration.gateway_support import local_gateway
from tests.integration.test_custody_epcis import document, object_event
from tests.integration.test_custody_events import custody_alone, register, uid
from tests.integration.test_epcis_webhooks import Receiver
from tests.support import eventually
from tests.unit.custody.epcis_xml_writer import to_xml

pytestmark = pytest.mark.timeout(240)

CUSTODY_PORT = PORT_BASE + 95
GATEWAY_PORT = PORT_BASE + 96
SIGNATURE_TOKEN = "client-chosen-secret"  # noqa: S105 - the subscriber's own token, chosen by the test
SHIPPED_JSON = 60  # ObjectEvents with bizStep shipping in the JSON document (matched by the named query)
RECEIVED_JSON = 20  # ... with bizStep receiving (not matched)
SHIPPED_XML = 5  # ... shipping, in the XML document
PER_PAGE = 20


@dataclass
class Client:
    gateway: str  # http://host:port of the gateway: the client's only address
    key: str

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway, headers={"X-API-Key": self.key}, timeout=30)

    def socket(self, path: str) -> Any:
        url = self.gateway.replace("http://", "ws://") + path
        return connect(url, additional_headers={"X-API-Key": self.key}, open_timeout=15)


@pytest.fixture(scope="module")
def webhooks_to_this_machine() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:  # the custody process inherits it: our receiver is on loopback
        patch.setenv("BPASS_EPCIS_WEBHOOK_ALLOW_LOCAL", "true")
        yield


@pytest.fixture(scope="module")
async def client(
    webhooks_to_this_machine: None, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Client]:
    tmp: Path = tmp_path_factory.mktemp("epcis-client")
    async with custody_alone(settings, tmp, CUSTODY_PORT) as custody:
        handler_id = uid("epcis-client")
        await register(custody, handler_id)
        ports = {"identity": PORT_BASE + 97, "custody": CUSTODY_PORT, "recovery": PORT_BASE + 98}
        ports["reporting"] = PORT_BASE + 99
        async with local_gateway(tmp / "gateway", GATEWAY_PORT, ports) as gateway:
            yield Client(gateway, new_key(custody.settings, Role.carrier, handler_id))


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        server.close()


def event_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert body["type"] == "EPCISQueryDocument", body
    found: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return found


async def captured(http: httpx.AsyncClient, body: bytes, media: str) -> dict[str, Any]:
    """POST /epcis/capture, then follow its Location until the job has run."""
    accepted = await http.post("/epcis/capture", content=body, headers={"Content-Type": media})
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["Location"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = await http.get(location)
        assert job.status_code == 200, job.text
        report: dict[str, Any] = job.json()
        if not report["running"]:
            return report
        await asyncio.sleep(0.2)
    raise AssertionError(f"capture job {location} still running after 60 s")


async def follow_pages(http: httpx.AsyncClient, first: str) -> tuple[list[str], int]:
    """Every eventID of a query, following `Link: <...>; rel="next"` from page to page; and the page count."""
    seen: list[str] = []
    url: str | None = first
    pages = 0
    while url is not None:
        answer = await http.get(url)
        assert answer.status_code == 200, answer.text
        assert answer.headers["GS1-EPCIS-Version"].startswith("2.0")
        page = event_list(answer.json())
        assert len(page) <= PER_PAGE
        seen += [e["eventID"] for e in page]
        pages += 1
        link = answer.links.get("next")
        url = link["url"] if link else None
        assert pages < 50, "the pages never end"
    return seen, pages


async def socket_events(ws: ClientConnection, expected: int, seconds: float) -> list[str]:
    """The eventIDs the socket delivers until `expected` arrived and then a quiet second (or `seconds` passed)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        wait = 1.0 if len(seen) >= expected else deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(ws.recv(), max(wait, 0.01))
        except TimeoutError:
            if len(seen) >= expected:
                break
            continue
        seen += [e["eventID"] for e in event_list(json.loads(message))]
    return seen


async def test_a_binding_only_client_captures_queries_pages_subscribes_and_receives(
    client: Client, receiver: Receiver
) -> None:
    async with client.http() as http:
        # Discovery: the resources this client will use are listed, and the versions are the binding's.
        listed = await http.get("/epcis")
        assert listed.status_code == 200, listed.text
        hrefs = {r["href"] for r in listed.json()["resources"]}
        assert {"/epcis/capture", "/epcis/events", "/epcis/queries"} <= hrefs, hrefs
        options = await http.options("/epcis/events")
        assert options.status_code == 204
        assert options.headers["GS1-EPCIS-Version"] == "2.0.0"
        assert options.headers["GS1-CBV-Version"] == "2.0.0"

        # A named query of the shipments, subscribed to by webhook before anything is captured.
        name = f"shipments-{uuid.uuid4().hex[:8]}"
        query = {"eventType": ["ObjectEvent"], "EQ_bizStep": ["shipping"]}
        created = await http.post("/epcis/queries", json={"name": name, "query": query})
        assert created.status_code == 201, created.text
        assert (await http.get(created.headers["Location"])).status_code == 200
        hook = f"/hook/{uuid.uuid4().hex}"
        subscribed = await http.post(
            f"/epcis/queries/{name}/subscriptions",
            json={"dest": receiver.url(hook), "signatureToken": SIGNATURE_TOKEN, "stream": True},
        )
        assert subscribed.status_code == 201, subscribed.text
        subscription = subscribed.headers["Location"]

        async with client.socket(f"/epcis/queries/{name}/events?{urlencode({'stream': 'true'})}") as ws:
            # Capture: one JSON document (shipments and receipts), one XML document (shipments).
            shipped = [object_event(uid("C")[:20]) for _ in range(SHIPPED_JSON)]
            received = [object_event(uid("C")[:20], biz_step="receiving") for _ in range(RECEIVED_JSON)]
            job = await captured(http, json.dumps(document(*shipped, *received)).encode(), "application/ld+json")
            assert job["success"] is True, job["errors"]
            assert len(job["events"]) == SHIPPED_JSON + RECEIVED_JSON
            shipped_xml = [object_event(uid("X")[:20]) for _ in range(SHIPPED_XML)]
            xml_job = await captured(http, to_xml(document(*shipped_xml)), "application/xml")
            assert xml_job["success"] is True, xml_job["errors"]
            matching = {e["eventID"] for e in shipped + shipped_xml}
            everything = matching | {e["eventID"] for e in received}

            # The socket delivers each matching event once, and nothing else.
            on_socket = await socket_events(ws, len(matching), seconds=60)
        assert len(on_socket) == len(set(on_socket)), "an event came twice on the socket"
        assert set(on_socket) == matching

        # The query, paged by its Link headers, through the gateway.
        params = urlencode({"EQ_bizStep": "shipping", "perPage": PER_PAGE})
        paged, pages = await follow_pages(http, f"/epcis/events?{params}")
        assert len(paged) == len(set(paged))
        assert set(paged) == matching
        assert pages == -(-len(matching) // PER_PAGE)
        everything_paged, _ = await follow_pages(http, f"/epcis/events?{urlencode({'perPage': PER_PAGE})}")
        assert set(everything_paged) == everything
        named_paged, _ = await follow_pages(http, f"/epcis/queries/{name}/events?{urlencode({'perPage': PER_PAGE})}")
        assert set(named_paged) == matching

        # One event by its eventID, and a value list of what this client sees.
        one = next(iter(matching))
        single = await http.get(f"/epcis/events/{quote(one, safe='')}")
        assert single.status_code == 200, single.text
        assert [e["eventID"] for e in event_list(single.json())] == [one]
        epcs, url = [], "/epcis/epcs?perPage=25"
        while url:  # the identifiers list: this client's EPCs, each once, paged by Link like the events
            listed_epcs = await http.get(url)
            assert listed_epcs.status_code == 200, listed_epcs.text
            assert listed_epcs.json()["type"] == "Collection"
            epcs += listed_epcs.json()["member"]
            url = listed_epcs.links["next"]["url"] if "next" in listed_epcs.links else ""
        assert sorted(epcs) == sorted(e["epcList"][0] for e in shipped + received + shipped_xml)

        # The webhook: every matching event once, each delivery signed with the client's token.
        async def all_delivered() -> list[str] | None:
            ids = [e["eventID"] for r in receiver.at(hook, answered=200) for e in event_list(r.document)]
            return ids if len(set(ids)) >= len(matching) else None

        delivered = await eventually(all_delivered, timeout=60, what="every matching event at the webhook")
        assert len(delivered) == len(set(delivered)), "an event was delivered twice"
        assert set(delivered) == matching
        for request in receiver.at(hook):
            assert verify(SIGNATURE_TOKEN, request.headers["gs1-signature"], request.body, now=time.time())

        # Unsubscribe and forget the query: both gone, as the binding says.
        assert (await http.delete(subscription)).status_code == 204
        assert (await http.get(subscription)).status_code == 404
        assert (await http.delete(f"/epcis/queries/{name}")).status_code == 204
        gone = await http.get(f"/epcis/queries/{name}")
        assert gone.status_code == 404, gone.text
        assert gone.json()["type"].endswith("NoSuchNameException"), gone.text
