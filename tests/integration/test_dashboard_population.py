"""The dashboard's lists against the real stack (Kafka, PostgreSQL, Redis, the reporting service): a population whose
answer is known — NMC811 EV batteries placed on the market in March 2026, now in treatment, and their batches — next
to near misses on every filter (another chemistry, another category, another month, another stage), and a few hundred
more passports in a few hundred batches: totals, filters, sorting and paging are checked against what was seeded.

`seed_analyst_population` is also the population of the browser test (tests/e2e/test_dashboard_browser.py)."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from bpass.simulate import CATALOG, Battery
from contracts import topics
from contracts.base import Message
from contracts.topics import Topic
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess, cloudevent_headers, eventually
from tests.unit.reporting.factories import batteries, minted, status_changed

MODELS = {m.code: m for m in CATALOG}
MARCH = datetime(2026, 3, 1, tzinfo=UTC)


def at(instant: str) -> datetime:
    return datetime.fromisoformat(instant).replace(tzinfo=UTC)


# (batch suffix, model code, placed on market at (None: never), stage now, how many). E8: EV NMC811; LB: LMT
# (e-bike) NMC811; E6: EV NMC622.
PLAN: tuple[tuple[str, str, str | None, str, int], ...] = (
    ("A", "E8", "2026-03-04T10:00:00", "in_treatment", 3),  # the answer
    ("A", "E8", "2026-03-31T23:30:00", "in_treatment", 1),  # the answer: the last half hour of March (UTC)
    ("B", "E8", "2026-03-18T09:00:00", "in_treatment", 2),  # the answer
    ("B", "E8", "2026-03-20T09:00:00", "collected", 1),  # another stage
    ("C", "E8", "2026-04-02T09:00:00", "in_treatment", 2),  # another month
    ("C", "E8", "2026-02-28T23:59:00", "in_treatment", 1),  # the minute before March
    ("D", "LB", "2026-03-10T09:00:00", "in_treatment", 2),  # NMC811, but an e-bike battery (LMT)
    ("E", "E6", "2026-03-12T09:00:00", "in_treatment", 2),  # EV, but NMC622
    ("F", "E8", "2026-03-15T09:00:00", "in_service", 1),  # still in service
    ("F", "E8", None, "manufactured", 1),  # never placed on the market
)
ANSWER_COUNT = 6
ANSWER_BATCHES = ("A", "B")


class Publisher:
    """One producer for many facts (a producer per fact would take minutes for a few hundred passports)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(**settings.kafka_client_options(), acks="all", enable_idempotence=True)

    async def __aenter__(self) -> Publisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.flush()
        await self.producer.stop()

    async def send(self, topic: Topic, fact: Message, key: str) -> None:
        headers = cloudevent_headers(fact, source=f"urn:bpass:service:{topic.owner}", subject=key)
        await self.producer.send(
            self.settings.topic(topic.name), fact.model_dump_json().encode(), key=key.encode(), headers=headers
        )


async def seed_analyst_population(
    settings: Settings, tenant: str, http: httpx.AsyncClient, *, filler: int = 0
) -> dict[str, Any]:
    """The PLAN's passports and `filler` more (LFP, placed in 2025, in service; a batch for each two), projected.
    Returns run, rows (passport_id, identifier, batch, model, placed, stage), the answer's batches and count."""
    run = uuid.uuid4().hex[:6].upper()
    template = batteries(1)[0]
    rows: list[dict[str, Any]] = []
    plan = list(PLAN) + [
        (f"Z{i // 2:03d}", "EL", f"2025-{1 + i % 12:02d}-{1 + i % 27:02d}T08:00:00", "in_service", 1)
        for i in range(filler)
    ]
    for suffix, code, placed, stage, n in plan:
        for _ in range(n):
            index = len(rows)
            battery = dataclasses.replace(
                template,
                index=index,
                identifier=f"DB{run}{index:06d}",
                model=MODELS[code],
                batch=f"{run}-{suffix}",
            )
            rows.append(
                {
                    "battery": battery,
                    "identifier": battery.identifier,
                    "batch": battery.batch,
                    "model": MODELS[code].name,
                    "placed": at(placed) if placed else None,
                    "stage": stage,
                }
            )
    async with Publisher(settings) as publisher:
        for row in rows:
            planned: Battery = row["battery"]
            minted_at = (row["placed"] or MARCH) - timedelta(days=20)
            fact = minted(planned, tenant, at=minted_at)
            row["passport_id"] = fact.passport_id
            await publisher.send(topics.PASSPORT_MINTED, fact, fact.passport_id)

    async def all_minted() -> bool:
        r = await http.get("/reporting/v1/passports:count", params={"group_by": "stage"})
        return r.status_code == 200 and r.json()["total"] == len(rows)

    await eventually(all_minted, timeout=120, what=f"the {len(rows)} passports minted")
    async with Publisher(settings) as publisher:
        for row in rows:
            pid = row["passport_id"]
            if row["placed"] is not None:
                await publisher.send(
                    topics.CUSTODY_PASSPORT_STATUS,
                    status_changed(pid, tenant, "placed_on_market", row["placed"], sequence=1),
                    pid,
                )
            if row["stage"] not in ("manufactured", "placed_on_market"):
                later = row["placed"] + timedelta(days=40)
                await publisher.send(
                    topics.CUSTODY_PASSPORT_STATUS, status_changed(pid, tenant, row["stage"], later, sequence=2), pid
                )
    expected: dict[str, int] = {}
    for row in rows:
        expected[row["stage"]] = expected.get(row["stage"], 0) + 1

    async def all_moved() -> bool:
        r = await http.get("/reporting/v1/passports:count", params={"group_by": "stage"})
        if r.status_code != 200:
            return False
        return {g["stage"]: g["count"] for g in r.json()["groups"]} == expected

    await eventually(all_moved, timeout=120, what="every passport in its stage")
    for row in rows:
        del row["battery"]
    return {
        "run": run,
        "rows": rows,
        "answer_batches": sorted(f"{run}-{s}" for s in ANSWER_BATCHES),
        "answer_count": ANSWER_COUNT,
    }


@pytest.fixture(scope="module")
async def analyst(reporting: ServiceProcess, settings: Settings) -> dict[str, Any]:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=15, headers={"X-API-Key": key}) as http:
        seeded = await seed_analyst_population(settings, tenant, http, filler=420)
    return {"tenant": tenant, "key": key, **seeded}


def dashboard(reporting: ServiceProcess, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=reporting.base_url, timeout=30, headers={"X-API-Key": key})


def total_of(html: str) -> int:
    found = re.search(r'data-total="(\d+)"', html)
    assert found, html[:2000]
    return int(found.group(1))


def column(html: str, table: str, index: int) -> list[str]:
    """The text of one column of a data-table, tags stripped."""
    body = html.split(f'data-table="{table}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    cells = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        tds = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        cells.append(re.sub(r"<[^>]+>", "", tds[index]).strip())
    return cells


ANSWER_QUERY = {"chemistry": "NMC811", "category": "ev", "placed_month": "2026-03", "stage": "in_treatment"}


async def test_the_analyst_question_has_its_answer(reporting: ServiceProcess, analyst: dict[str, Any]) -> None:
    async with dashboard(reporting, analyst["key"]) as http:
        r = await http.get("/dashboard/passports", params=ANSWER_QUERY)
        assert r.status_code == 200, r.text[:500]
        assert total_of(r.text) == analyst["answer_count"]
        r = await http.get("/dashboard/batches", params=ANSWER_QUERY)
        assert r.status_code == 200
        assert sorted(column(r.text, "batches", 0)) == analyst["answer_batches"]
        counts = dict(zip(column(r.text, "batches", 0), column(r.text, "batches", 3), strict=True))
        assert counts == {f"{analyst['run']}-A": "4", f"{analyst['run']}-B": "2"}
        # Each near miss alone changes the answer: the filters are really applied.
        for name, other in (("chemistry", "NMC622"), ("category", "lmt"), ("placed_month", "2026-04")):
            r = await http.get("/dashboard/passports", params={**ANSWER_QUERY, name: other})
            assert total_of(r.text) == 2, name
        r = await http.get("/dashboard/passports", params={**ANSWER_QUERY, "stage": "collected"})
        assert total_of(r.text) == 1
        # A range of days is the same question: 1 to 31 March, both days included.
        days = {**ANSWER_QUERY, "placed_from": "2026-03-01", "placed_to": "2026-03-31"}
        del days["placed_month"]
        assert total_of((await http.get("/dashboard/passports", params=days)).text) == analyst["answer_count"]


async def test_extension_fields_filter_and_report_csv_follows_the_conventions(
    reporting: ServiceProcess, analyst: dict[str, Any]
) -> None:
    # The simulator's mint items mark every fifth battery (by index) premium; the seed numbers them in order.
    premium = sum(1 for index in range(len(analyst["rows"])) if index % 5 == 0)
    async with dashboard(reporting, analyst["key"]) as http:
        page = await http.get("/dashboard/passports")
        assert 'name="ext.warranty_tier"' in page.text  # offered, with the values the data holds
        r = await http.get("/dashboard/passports", params={"ext.warranty_tier": "premium"})
        assert total_of(r.text) == premium
        r = await http.get("/dashboard/passports", params={"ext.warranty_tier": "platinum"})
        assert r.status_code == 400
        assert "data-reason='unknown_filter_value'" in r.text
        csv_file = await http.get("/dashboard/reports/population.csv")
        assert csv_file.headers["content-type"] == "text/csv; charset=utf-8"
        header, *lines = csv_file.content.decode("utf-8").split("\r\n")
        assert header == "category,chemistry,model,stage,passports"
        assert sum(int(line.rsplit(",", 1)[1]) for line in lines if line) == len(analyst["rows"])


async def test_a_regulator_filters_what_its_tier_reads_of_the_tenant_it_names(
    reporting: ServiceProcess, settings: Settings, analyst: dict[str, Any]
) -> None:
    key = new_key(settings, Role.regulator)
    async with dashboard(reporting, key) as http:
        r = await http.get("/dashboard/passports", params={"tenant": analyst["tenant"], **ANSWER_QUERY})
        assert r.status_code == 200, r.text[:300]
        assert total_of(r.text) == analyst["answer_count"]
        assert 'name="ext.' not in r.text  # extension fields are the owner's: not offered
        assert f'name="tenant" value="{analyst["tenant"]}"' in r.text  # the form keeps the tenant
        assert f"tenant={analyst['tenant']}" in r.text.split('id="by-batch" href="', 1)[1].split('"', 1)[0]
        r = await http.get("/dashboard/passports", params={"tenant": analyst["tenant"], "ext.warranty_tier": "premium"})
        assert r.status_code == 403
        assert "data-reason='dimension_not_permitted'" in r.text


async def test_a_filter_value_the_data_lacks_is_refused_with_a_message(
    reporting: ServiceProcess, analyst: dict[str, Any]
) -> None:
    async with dashboard(reporting, analyst["key"]) as http:
        r = await http.get("/dashboard/passports", params={"chemistry": "NMC81"})
        assert r.status_code == 400
        assert "data-reason='unknown_filter_value'" in r.text
        assert "NMC811" in r.text  # the values present are listed
        r = await http.get("/dashboard/passports", params={"placed_from": "2026-02-30"})
        assert r.status_code == 400
        assert "data-reason='invalid_date'" in r.text
        r = await http.get("/dashboard/passports", params={"stage": "melted"})
        assert r.status_code == 400
        r = await http.get("/dashboard/passports", params={"colour": "red"})
        assert r.status_code == 400
        assert "data-reason='unknown_query_parameter'" in r.text


async def test_lists_sort_page_and_state_their_totals(reporting: ServiceProcess, analyst: dict[str, Any]) -> None:
    rows = analyst["rows"]
    async with dashboard(reporting, analyst["key"]) as http:
        r = await http.get("/dashboard/passports", params={"sort": "battery", "dir": "desc", "per_page": "25"})
        assert total_of(r.text) == len(rows)
        shown = column(r.text, "passports", 0)
        assert shown == sorted((row["identifier"] for row in rows), reverse=True)[:25]
        assert f"of {len(rows):,}" in r.text
        last = -(-len(rows) // 25)
        r = await http.get("/dashboard/passports", params={"sort": "battery", "dir": "desc", "per_page": "25",
                                                            "page": str(last)})  # fmt: skip
        assert (
            column(r.text, "passports", 0)
            == sorted((row["identifier"] for row in rows), reverse=True)[(last - 1) * 25 :]
        )
        r = await http.get("/dashboard/passports", params={"page": str(last + 5), "per_page": "25"})
        assert r.status_code == 400
        assert "data-reason='page_out_of_range'" in r.text
        # More than 200 batches: the list says how many and pages on; none is dropped.
        batches = sorted({row["batch"] for row in rows})
        r = await http.get("/dashboard/batches", params={"sort": "batch", "dir": "asc", "per_page": "200"})
        assert total_of(r.text) == len(batches) > 200
        first = column(r.text, "batches", 0)
        r = await http.get("/dashboard/batches", params={"sort": "batch", "dir": "asc", "per_page": "200", "page": "2"})
        assert first + column(r.text, "batches", 0) == batches
        r = await http.get("/dashboard/batches", params={"sort": "passports", "dir": "desc"})
        counts = [int(c) for c in column(r.text, "batches", 3)]
        assert counts == sorted(counts, reverse=True)
        assert counts[0] == 4


async def test_export_job_knows_its_total_from_the_start(reporting: ServiceProcess, analyst: dict[str, Any]) -> None:
    async with dashboard(reporting, analyst["key"]) as http:
        batch = analyst["answer_batches"][0]
        r = await http.post("/dashboard/exports", data={"format": "csv", "batch": batch})
        assert r.status_code == 303
        job_url = r.headers["location"]
        job = (await http.get(job_url.split("?")[0] + ".json")).json()
        assert job["total"] == 4  # set when the job is queued, before it runs

        async def done() -> dict[str, Any] | None:
            view = (await http.get(job_url.split("?")[0] + ".json")).json()
            return view if view["status"] == "done" else None

        finished = await eventually(done, what="the CSV export done")
        assert finished["processed"] == finished["total"] == 4
        page = (await http.get(job_url)).text
        assert 'id="export-total">4<' in page
        assert "?" not in page.split('id="export-count"', 1)[1][:80]
        csv_text = (await http.get(job_url.split("?")[0] + "/download")).content.decode("utf-8")
        header, *lines = csv_text.splitlines()
        assert header.startswith("passport_id,")
        ceased = header.split(",").index("ceased")
        assert {line.split(",")[ceased] for line in lines} == {"false"}


PAGES = (
    "/dashboard",
    "/dashboard/passports",
    "/dashboard/passports?chemistry=NMC811&category=ev&placed_month=2026-03&stage=in_treatment",
    "/dashboard/batches",
    "/dashboard/stages",
    "/dashboard/reports/in-service",
)


async def test_page_render_times(reporting: ServiceProcess, analyst: dict[str, Any]) -> None:
    """Each main view, warm, median of eleven (printed; run with -s to read them). A page is under a second here."""
    async with dashboard(reporting, analyst["key"]) as http:
        first = analyst["rows"][0]["passport_id"]
        for path in (*PAGES, f"/dashboard/passports/{first}"):
            await http.get(path)
            times = []
            for _ in range(11):
                start = time.perf_counter()
                r = await http.get(path)
                times.append((time.perf_counter() - start) * 1000)
                assert r.status_code == 200, (path, r.text[:300])
            median = sorted(times)[5]
            print(f"RENDER {path} {median:.1f} ms ({len(analyst['rows'])} passports)")
            assert median < 1000, path
