"""`bpass ops`: the figures of the Grafana dashboard, live in a terminal, read from each service's /metrics: health,
throughput, rejections, dead letters, outbox backlog and the age of its oldest row, consumer lag, HTTP."""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from services.common.settings import SERVICE_PORTS, Settings


@dataclass
class ServiceFigures:
    service: str
    ready: str = "down"
    messages_in: float = 0
    messages_out: float = 0
    rejections: float = 0
    dead_letters: float = 0
    outbox_backlog: float = 0
    outbox_age_s: float = 0  # the oldest unpublished outbox row's age
    lag: float = 0
    http_requests: float = 0
    http_errors: float = 0
    in_rate: float = 0
    by_outcome: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def parse_metrics(service: str, text: str) -> ServiceFigures:
    figures = ServiceFigures(service)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "bpass_messages_in_total":
                figures.messages_in += sample.value
                figures.by_outcome[labels.get("outcome", "?")] += sample.value
            elif sample.name == "bpass_messages_out_total":
                figures.messages_out += sample.value
            elif sample.name == "bpass_rejections_total":
                figures.rejections += sample.value
            elif sample.name == "bpass_dead_letters_total":
                figures.dead_letters += sample.value
            elif sample.name == "bpass_outbox_backlog":
                figures.outbox_backlog += sample.value
            elif sample.name == "bpass_outbox_oldest_age_seconds":
                figures.outbox_age_s = max(figures.outbox_age_s, sample.value)
            elif sample.name == "bpass_consumer_lag":
                figures.lag += sample.value
            elif sample.name == "bpass_http_request_seconds_count":
                figures.http_requests += sample.value
                if labels.get("status", "").startswith("5"):
                    figures.http_errors += sample.value
    return figures


async def collect(settings: Settings, client: httpx.AsyncClient) -> list[ServiceFigures]:
    results = []
    for service in SERVICE_PORTS:
        base = f"http://127.0.0.1:{settings.port_of(service)}/{service}"
        try:
            text = (await client.get(f"{base}/metrics")).text
            figures = parse_metrics(service, text)
            ready = await client.get(f"{base}/health/ready")
            figures.ready = "ready" if ready.status_code == 200 else "not ready"
        except httpx.HTTPError:
            figures = ServiceFigures(service)
        results.append(figures)
    return results


COLUMNS = (
    "service",
    "health",
    "in",
    "in/s",
    "out",
    "rejected",
    "dead letters",
    "outbox",
    "outbox age",
    "lag",
    "http",
    "http 5xx",
)
TITLE = "bpass ops (Ctrl-C to quit)"


def figure_rows(figures: list[ServiceFigures], interval_s: float, previous: dict[str, float]) -> list[list[str]]:
    """One row of COLUMNS per service; `previous` (messages in at the last refresh) gives the rate."""
    rows = []
    for f in figures:
        rate = (f.messages_in - previous.get(f.service, f.messages_in)) / interval_s
        previous[f.service] = f.messages_in
        rows.append(
            [
                f.service,
                f.ready,
                f"{f.messages_in:.0f}",
                f"{rate:.1f}",
                f"{f.messages_out:.0f}",
                f"{f.rejections:.0f}",
                f"{f.dead_letters:.0f}",
                f"{f.outbox_backlog:.0f}",
                f"{f.outbox_age_s:.1f}s",
                f"{f.lag:.0f}",
                f"{f.http_requests:.0f}",
                f"{f.http_errors:.0f}",
            ]
        )
    return rows


def render(figures: list[ServiceFigures], interval_s: float, previous: dict[str, float], width: int = 80) -> Table:
    """A row per service when that fits `width` columns; else a row per figure and a column per service, which
    fits 80 columns whole (rich would otherwise cut every cell to "ser…")."""
    rows = figure_rows(figures, interval_s, previous)
    wide = Table(title=TITLE, box=box.SIMPLE_HEAD)
    for column in COLUMNS:
        wide.add_column(column, justify="left" if column in {"service", "health"} else "right", no_wrap=True)
    for row in rows:
        wide.add_row(*row)
    if _natural_width(wide) <= width:
        return wide
    tall = Table(title=TITLE, box=box.SIMPLE_HEAD)
    tall.add_column("", no_wrap=True)
    for row in rows:
        tall.add_column(row[0], justify="right", no_wrap=True)
    for index, column in enumerate(COLUMNS[1:], start=1):
        tall.add_row(column, *(row[index] for row in rows))
    return tall


def _natural_width(table: Table) -> int:
    console = Console(width=10_000, file=io.StringIO())
    return console.measure(table).maximum


async def watch(settings: Settings, interval_s: float = 2.0, once: bool = False) -> None:
    previous: dict[str, float] = {}
    console = Console()
    async with httpx.AsyncClient(timeout=2) as client:
        if once:
            console.print(render(await collect(settings, client), interval_s, previous, console.width))
            return
        first = render(await collect(settings, client), interval_s, previous, console.width)
        with Live(first, console=console, refresh_per_second=2) as live:
            while True:
                await asyncio.sleep(interval_s)
                live.update(render(await collect(settings, client), interval_s, previous, console.width))
