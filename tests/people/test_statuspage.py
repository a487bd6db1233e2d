"""The household's status page, served by a real agent process: what it shows in a real headless
Chromium (screenshots in artifacts/people/), and that its pause button really stops scheduled
measurements, survives a restart, and cannot be pressed by another web site."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import provision, run_qiyas, start_collector, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.outbox import peek
from agent.statuspage import History
from hil.fleet import AgentProcess
from hil.mosquitto import Mosquitto, free_port, wait_listening

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "people"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
HEALTH_EVERY_S = 1


class Probe:
    def __init__(self, home: Path, config: Path, url: str) -> None:
        self.home = home
        self.config = config
        self.url = url
        self.agent: AgentProcess | None = None

    def start(self) -> None:
        self.agent = AgentProcess(self.config, self.home / "agent.log").start()
        host, port = self.url.removeprefix("http://").rstrip("/").split(":")
        wait_listening(host, int(port))

    def stop(self) -> None:
        if self.agent is not None:
            assert self.agent.stop() == 0
            self.agent = None

    def issued(self) -> int:
        """How many records the agent has committed (the outbox's sequence counter)."""
        return peek(self.home / "state" / "outbox.db").issued

    def request(
        self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        host, port = self.url.removeprefix("http://").rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request(method, path, body, headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def status(self) -> dict[str, Any]:
        code, body = self.request("GET", "/status.json")
        assert code == 200
        doc: dict[str, Any] = json.loads(body)
        return doc


def assert_stays(value: Callable[[], int], expected: int, window_s: float) -> None:
    """value() keeps returning expected for the whole window (longer than the schedule)."""
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        assert value() == expected
        time.sleep(0.05)


def seed_history(path: Path) -> None:
    """Three days of latency and speed, as the agent would have recorded them."""
    history = History(path)
    now_ms = int(time.time() * 1000)
    for i in range(72):
        t = now_ms - (72 - i) * 3_600_000
        evening = 18 <= i % 24 <= 22  # the line is busier in the evening
        history.observe("latency", {"rtt_ms_median": 18.0 + (12 if evening else 0) + i % 3}, t)
        history.observe("capacity", {"down_mbps": 95.0 - (40 if evening else 0),
                                     "up_mbps": 38.0 - (10 if evening else 0)}, t)  # fmt: skip
    history.close()


@contextmanager
def serving_probe(
    home: Path, broker: str, *provision_args: str, schedule: dict[str, int], seed: bool = True
) -> Iterator[Probe]:
    """A provisioned, registered probe serving its page, with a collector acknowledging."""
    listen = f"127.0.0.1:{free_port()}"
    bundle = home / "bundle.json"
    config, _ = provision(
        home, broker, None, "--board", "generic-linux", "--statuspage", listen,
        "--bundle", str(bundle), *provision_args,
    )  # fmt: skip
    db = home / "collector.db"
    registered = run_qiyas("collector", "keys", "add", "--db", str(db), "--bundle", str(bundle))
    assert registered.returncode == 0, registered.stderr
    text = config.read_text()
    for name, seconds in schedule.items():
        text = re.sub(rf"^{name} = \d+$", f"{name} = {seconds}", text, flags=re.M)
    config.write_text(text)
    if seed:
        (home / "state").mkdir(exist_ok=True)
        seed_history(home / "state" / "history.db")
    collector = start_collector(broker, db, home / "collector.log")
    p = Probe(home, config, f"http://{listen}/")
    try:
        p.start()
        yield p
    finally:
        p.stop()
        collector.stop()


@pytest.fixture
def probe(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Probe]:
    with serving_probe(tmp_path, mosquitto.url, schedule={"health": HEALTH_EVERY_S}) as p:
        yield p


def test_charts_and_last_measurement_come_from_the_agents_records(
    tmp_path: Path, mosquitto: Mosquitto, start: Callable[..., dict[str, Any]]
) -> None:
    server = start("server", "--listen", "127.0.0.1:0", "--json")
    schedule = {"latency": 1, "capacity": 0, "health": 0}
    where = f"127.0.0.1:{server['port']}"
    with serving_probe(
        tmp_path, mosquitto.url, "--server", where, schedule=schedule, seed=False
    ) as p:
        wait_for(lambda: p.status()["last_measurement"], 30, "a latency measurement")
        assert p.status()["last_measurement"]["kind"] == "latency"
        page = p.request("GET", "/")[1].decode()
    assert "latency test at" in page
    # The latency chart has the agent's own points; the speed chart, with speed off, none.
    latency = page.split('id="latency"')[1].split('id="capacity"')[0]
    assert '<polyline class="line0" points="' in latency
    assert "No measurements in this period yet" in page.split('id="capacity"')[1]


@pytest.mark.browser
def test_page_and_pause_button_in_chromium(probe: Probe) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    wait_for(lambda: probe.status()["healthy"], 30, "the agent to reach the broker")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1200})
            page.goto(probe.url)
            assert page.locator("#state").inner_text() == "Working normally"
            assert page.locator("#latency svg polyline").count() == 1
            assert page.locator("#capacity svg polyline").count() == 2
            assert "never sends" in page.inner_text("body")
            page.screenshot(path=str(ARTIFACTS / "statuspage.png"), full_page=True)

            page.select_option("#minutes", "240")
            with page.expect_navigation():
                page.click("#pause")
            assert page.locator("#state").inner_text().startswith("Paused until")
            page.screenshot(path=str(ARTIFACTS / "statuspage-paused.png"), full_page=True)
            paused_until = probe.status()["paused_until"]
            assert 239 * 60 < paused_until - time.time() <= 240 * 60
            # Health runs every second; paused, nothing more is measured.
            issued = probe.issued()
            assert_stays(probe.issued, issued, 3.5 * HEALTH_EVERY_S)

            with page.expect_navigation():
                page.click("#resume")
            assert page.locator("#state").inner_text() == "Working normally"
            page.screenshot(path=str(ARTIFACTS / "statuspage-resumed.png"), full_page=True)
        finally:
            browser.close()
    # The `resumed` record, then measurements again.
    wait_for(lambda: probe.issued() >= issued + 2, 10, "measurements to resume")


def test_pause_survives_a_restart_and_is_recorded(probe: Probe) -> None:
    code, _ = probe.request("POST", "/pause", "minutes=60",
                            {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert code == 303
    until = probe.status()["paused_until"]
    probe.stop()
    probe.start()
    assert probe.status()["paused_until"] == pytest.approx(until, abs=1)
    # The restart's birth record only; the paused schedule measures nothing.
    issued = probe.issued()
    assert_stays(probe.issued, issued, 3.5 * HEALTH_EVERY_S)


REFUSALS = [
    # Another web site's page posting to the probe from the household's browser.
    ("POST", "/pause", {"Origin": "http://attacker.example"}, 403),
    # DNS rebinding: a domain name that resolves to the probe.
    ("GET", "/status.json", {"Host": "attacker.example:8080"}, 421),
    ("POST", "/pause", {}, 400),  # no duration
    ("POST", "/pause", {"Content-Length": "100000"}, 413),
    ("GET", "/outbox.db", {}, 404),
    ("DELETE", "/", {}, 405),
]


def test_refusals(probe: Probe) -> None:
    for method, path, headers, expected in REFUSALS:
        code, _ = probe.request(method, path, "", headers)
        assert code == expected, (method, path, headers)
    assert probe.status()["paused_until"] is None


def raw_exchange(probe: Probe, data: bytes) -> bytes:
    host, port = probe.url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)  # the client is done: an unfinished request stays so
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    return answer


def test_oversized_request_head(probe: Probe) -> None:
    answer = raw_exchange(probe, b"GET / HTTP/1.1\r\nX-Filler: " + b"a" * 20000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=2048),
        st.builds(
            lambda method, target, head: f"{method} {target} HTTP/1.1\r\n{head}\r\n\r\n".encode(),
            st.sampled_from(["GET", "POST", "HEAD", "PUT", "", "G\x00T"]),
            st.text(max_size=64),
            st.text(max_size=256),
        ),
    )
)
def test_hostile_requests_get_an_answer_and_change_nothing(probe: Probe, data: bytes) -> None:
    answer = raw_exchange(probe, data)
    assert re.match(rb"HTTP/1\.1 [1-5]\d\d ", answer), answer[:80]
    assert probe.status()["paused_until"] is None


def test_never_listens_on_a_public_address(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'probe_id = "ma-06-x"\nstate_dir = "{tmp_path / "state"}"\n'
        '[statuspage]\nlisten = "0.0.0.0:8080"\n'
    )
    done = run_qiyas("agent", "once", "-c", str(config), "--timeout", "1")
    assert done.returncode == 2
    assert "not a LAN address" in done.stderr
