"""The dashboard in a real headless Chromium, served by `qiyas collector serve` over a seeded
store: it loads, shows the seeded fleet, a filter changes the chart, a probe drills down to its
records with their access-link context, Arabic turns the page right-to-left. Screenshots go to
artifacts/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_helpers import FLEET, seed_fleet
from playwright.sync_api import Page, sync_playwright

from collector import apikeys
from collector.store import Store, now_ms
from hil.mosquitto import free_port, wait_listening

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture
def served(store_url: str, store: Store) -> Iterator[tuple[str, str]]:
    """(base URL, read key) of `qiyas collector serve` over the seeded fleet."""
    seed_fleet(store, now_ms())
    key = apikeys.create(store, "dashboard test", "read")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "collector", "serve", "--db", store_url,
         "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        wait_serving(proc, port)
        yield f"http://127.0.0.1:{port}", key
    finally:
        proc.terminate()
        proc.wait(10)


def wait_serving(proc: subprocess.Popen[bytes], port: int) -> None:
    """Until the server accepts connections; fails at once if it exits instead."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            wait_listening("127.0.0.1", port, timeout=0.2)
            return
        except TimeoutError:
            continue
    raise RuntimeError(f"qiyas collector serve did not start (exit status {proc.poll()})")


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1100})
        finally:
            browser.close()


def ready(page: Page) -> None:
    page.wait_for_selector('body[data-ready="true"]', timeout=20_000)


@pytest.mark.browser
def test_dashboard_shows_the_fleet_and_follows_filters(
    served: tuple[str, str], page: Page, store_url: str
) -> None:
    base, key = served
    engine = "postgres" if store_url.startswith("postgresql") else "sqlite"
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{base}/?key={key}")
    ready(page)

    operators = sorted({f[1] for f in FLEET})
    assert sorted(page.locator("#legend li").all_inner_texts()) == operators
    assert page.locator("#chart polyline").count() == len(operators)
    assert page.locator("#regions tbody tr").count() == 12
    casablanca = page.locator('#regions tr[data-region="MA-06"] td').all_inner_texts()
    assert casablanca[:2] == ["Casablanca-Settat", "1"]
    assert page.locator("#probes tbody tr").count() == len(FLEET)
    tiles = page.locator("#map-svg g[data-region]")
    assert tiles.count() == 12
    grey = "#d9dee3"  # no data
    measured = {f[3] for f in FLEET}
    for region in ("MA-01", "MA-02", "MA-06", "MA-12"):
        fill = page.locator(f'#map-svg g[data-region="{region}"] rect').get_attribute("fill")
        assert (fill != grey) == (region in measured), (region, fill)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{engine}.png"), full_page=True)

    page.select_option("#technology", "FTTH")
    ready(page)
    ftth_operators = sorted({f[1] for f in FLEET if f[2] == "FTTH"})
    assert sorted(page.locator("#legend li").all_inner_texts()) == ftth_operators
    assert page.locator("#chart polyline").count() == len(ftth_operators)

    page.locator('#probes tr[data-probe="ma-rab-ftth-01"]').click()
    page.wait_for_selector("#drill-records tbody tr")
    assert "optical: rx_dbm=-18.5, tx_dbm=2" in page.locator("#drill-records").inner_text()

    page.click("#lang")
    ready(page)
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("h1").inner_text() == "جودة الإنترنت ذي النطاق العريض في المغرب"
    assert "الدار البيضاء سطات" in page.locator("#regions").inner_text()
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{engine}-ar.png"), full_page=True)
    assert errors == []


@pytest.mark.browser
def test_the_dashboard_without_a_key_says_why(served: tuple[str, str], page: Page) -> None:
    base, _ = served
    page.goto(base)
    page.wait_for_selector("body[data-error]")
    assert "401" in (page.locator("body").get_attribute("data-error") or "")
    with urllib.request.urlopen(f"{base}/openapi.json") as response:
        assert "/api/v1/aggregates" in json.load(response)["paths"]


def test_the_live_feed_streams_records_as_they_are_stored(
    served: tuple[str, str], store: Store
) -> None:
    import httpx
    from probe_signing import SigningProbe

    from agent.core import topics
    from collector import batch, registry

    base, key = served
    probe = SigningProbe("ma-live-0001")
    registry.add_key(store, probe.probe, probe.public_key)
    with httpx.stream("GET", f"{base}/api/v1/feed", params={"api_key": key}, timeout=20) as feed:
        assert feed.headers["content-type"].startswith("text/event-stream")
        lines = feed.iter_lines()
        assert next(lines) == ": qiyas live feed"  # subscribed: what is stored now is sent
        signed = probe.record(5, kind="latency", values={"rtt_ms_median": 9.5})
        batch.process(store, store.key, [(topics.records(probe.probe), signed)], now_ms())
        event: list[str] = []
        while not event or not event[-1].startswith("data: "):
            line = next(lines)
            if line:  # blank lines separate events
                event.append(line)
    assert event[-2] == "event: record"
    data = json.loads(event[-1].removeprefix("data: "))
    assert (data["probe"], data["seq"], data["values"]) == (probe.probe, 5, {"rtt_ms_median": 9.5})
