"""Times no clock gives, and every read path total.

The attack (issue 19): a signed record with `time_ms = 2**62` (year 146 138 514) was stored; from
then on `/api/v1/records`, `/api/v1/aggregates?bucket=…`, the live feed and the CSV export failed
with a 500 or a traceback, on both stores, for everyone. Years 1900 and 2100 were stored too.

Now a synchronised record's time must lie in a window around its arrival (not before 2020, not
older than the collector's past window, not more than a day ahead; a few minutes ahead is stored
but flagged); an unsynchronised clock is judged by arrival time. And since a database may hold
such rows from before (or from another writer), reading and formatting a stored time never fails.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from probe_signing import SigningProbe  # tests/collector, on the path by this folder's conftest

from agent.core import acks, record, topics
from collector import apikeys, batch, registry, verify
from collector.store import RecordRow, Store, open_store
from collector.times import iso_ms
from hil.fleet import QiyasProcess, qiyas
from hil.mosquitto import free_port, wait_listening

DAY_MS = 86_400_000
NOW = int(datetime(2026, 12, 4, 12, tzinfo=UTC).timestamp() * 1000)


def ms(year: int, month: int = 1, day: int = 1) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


def test_times_no_synchronised_clock_gives_are_quarantined_and_slightly_ahead_is_flagged(
    store: Store,
) -> None:
    probe = SigningProbe("probe-t")
    registry.add_key(store, probe.probe, probe.public_key)
    refused = {
        1: (2**62, "ahead of its arrival"),
        2: (ms(2100), "ahead of its arrival"),
        3: (ms(1900), "before 2020"),
        4: (ms(2019, 12, 31), "before 2020"),
        5: (NOW - 500 * DAY_MS, "older than"),
        6: (NOW + 2 * DAY_MS, "ahead of its arrival"),
        7: (-(2**63), "before 2020"),
    }
    kept = {
        10: NOW,
        11: NOW - 300 * DAY_MS,  # an outbox delivering after ten months offline: genuine
        12: NOW - 399 * DAY_MS,
        13: NOW + 10 * 60_000,  # ten minutes ahead: stored, flagged
    }
    messages = [
        (topics.records(probe.probe), probe.record(seq, time_ms=t))
        for seq, (t, _) in refused.items()
    ] + [(topics.records(probe.probe), probe.record(seq, time_ms=t)) for seq, t in kept.items()]

    outcome = batch.process(store, store.key, messages, NOW)

    assert sorted(outcome.acks[probe.probe]) == sorted(
        [(1, seq, acks.QUARANTINED) for seq in refused] + [(1, seq, acks.STORED) for seq in kept]
    )
    stored = {r.seq: r for r in store.records()}
    assert sorted(stored) == sorted(kept)
    assert stored[13].flag is not None and "ahead" in stored[13].flag
    assert all(stored[seq].flag is None for seq in (10, 11, 12))
    reasons = sorted(q.reason for q in store.quarantine())
    for _, says in refused.values():
        assert any(says in reason for reason in reasons), (says, reasons)


def test_the_window_opens_in_2020() -> None:
    assert verify.time_problem(ms(2020), True, ms(2020, 6)) == (None, None)
    assert verify.time_problem(ms(2020) - 1, True, ms(2020, 6))[0] is not None


def test_an_unsynchronised_clock_is_judged_by_arrival_time() -> None:
    """A board without a clock source counts from 1970 or from its build: its records are
    genuine and kept (the time says so: synced false); only a time no calendar holds is not."""
    assert verify.time_problem(0, False, NOW) == (None, None)
    assert verify.time_problem(ms(2000), False, NOW) == (None, None)
    assert verify.time_problem(ms(2100), False, NOW) == (None, None)
    problem, _ = verify.time_problem(2**62, False, NOW)
    assert problem is not None and "calendar" in problem
    problem, _ = verify.time_problem(-1, False, NOW)
    assert problem is not None and "calendar" in problem


def stored_before_the_fix(store: Store, probe: SigningProbe) -> dict[int, int]:
    """Rows as a collector without the time window stored them (the database of a deployment
    attacked before it was upgraded): seq → time_ms. Since schema v7 the store itself takes only
    days of the calendar (it partitions by day and stores local time), so the extremes here are
    its first and last days; beyond them, formatting is checked against node and GNU date below."""
    last_day = ms(9999, 12, 31) - DAY_MS  # the zone conversion needs a day of margin
    times = {1: last_day + DAY_MS - 1, 2: ms(1, 1, 2), 3: ms(2100), 4: ms(1900), 5: NOW}
    rows = []
    for seq, t in times.items():
        raw = probe.record(seq, kind="capacity", values={"down_mbps": 50.0 + seq}, time_ms=t)
        opened = verify.open_envelope(raw, store.key)
        assert not isinstance(opened, verify.Rejected)
        fields = record.decode(opened[0].payload)
        rows.append(
            RecordRow(probe.probe, 1, seq, probe.kid, "capacity", t, True, NOW, fields, raw,
                      metrics={"down_mbps": 50.0 + seq})
        )  # fmt: skip
    store.store_batch(rows)
    return times


@pytest.fixture
def served(store_url: str, store: Store, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, read key) of `qiyas collector serve` on the store."""
    key = apikeys.create(store, "time test", "read")
    port = free_port()
    process = QiyasProcess(
        ["collector", "serve", "--db", store_url, "--listen", f"127.0.0.1:{port}"],
        tmp_path / "serve.log",
    ).start()
    try:
        wait_listening("127.0.0.1", port, timeout=30)
        yield f"http://127.0.0.1:{port}", key
    finally:
        process.stop()


def test_every_read_path_is_total_over_times_stored_before(
    served: tuple[str, str], store: Store, store_url: str
) -> None:
    base, key = served
    probe = SigningProbe("probe-old")
    registry.add_key(store, probe.probe, probe.public_key)
    times = stored_before_the_fix(store, probe)
    headers = {"X-API-Key": key}

    page = httpx.get(f"{base}/api/v1/records", params={"limit": 100}, headers=headers)
    assert page.status_code == 200, page.text
    shown = {item["seq"]: item["time"] for item in page.json()["items"]}
    assert shown == {seq: iso_ms(t) for seq, t in times.items()}
    assert shown[5] == "2026-12-04T12:00:00.000Z" and shown[4] == "1900-01-01T00:00:00.000Z"
    assert (shown[1], shown[2]) == ("9999-12-30T23:59:59.999Z", "0001-01-02T00:00:00.000Z")

    for bucket in ("hour", "day"):
        chart = httpx.get(
            f"{base}/api/v1/aggregates",
            params={"metric": "down_mbps", "group_by": "probe", "bucket": bucket},
            headers=headers,
        )
        assert chart.status_code == 200, chart.text
        assert sum(g["count"] for g in chart.json()["groups"]) == len(times)

    with httpx.stream(
        "GET", f"{base}/api/v1/feed", params={"after": 0}, headers=headers, timeout=20
    ) as feed:
        assert feed.status_code == 200
        seen: dict[int, str] = {}
        for line in feed.iter_lines():
            if line.startswith("data: "):
                item = json.loads(line.removeprefix("data: "))
                seen[item["seq"]] = item["time"]
                if len(seen) == len(times):
                    break
    assert seen == shown

    out = subprocess.run(
        qiyas("collector", "export", "--db", store_url, "--format", "csv", "--out", "-"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {int(r["seq"]): r["time"] for r in rows} == shown
    for fmt in ("jsonl", "parquet", "cose"):
        done = subprocess.run(
            qiyas("collector", "export", "--db", store_url, "--format", fmt, "--out", "-"),
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, (fmt, done.stderr)
        assert done.stdout  # something was written for the five rows


# Outside truth for formatting any stored time. ECMAScript's Date.prototype.toISOString (ECMA-262,
# "Date Time String Format" and "Expanded Years": YYYY for years 0..9999, else a sign and six
# digits) over its whole range, ±8.64e15 ms, as node computes it; GNU coreutils `date` for the
# int64 extremes beyond it (the year's digits; it writes no leading + and no padding).
JS_MAX_MS = 8_640_000_000_000_000


def node_iso(values: list[int]) -> list[str]:
    script = "for (const v of JSON.parse(process.argv[1])) console.log(new Date(v).toISOString())"
    done = subprocess.run(
        ["node", "-e", script, json.dumps(values)], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_a_stored_time_always_formats_as_ecmascript_and_gnu_date_do() -> None:
    import random

    rng = random.Random(19)
    edges = [0, -1, 1, JS_MAX_MS, -JS_MAX_MS, ms(1900), ms(2020), ms(9999, 12, 31) + DAY_MS - 1,
             ms(9999, 12, 31) + DAY_MS, -62_167_219_200_000, -62_167_219_200_001,
             ms(1, 1, 1), ms(1600, 2, 29), ms(2000, 2, 29) + 86_399_999]  # fmt: skip
    spread = [rng.randint(-JS_MAX_MS, JS_MAX_MS) for _ in range(2000)]
    near = [rng.randint(-(10**14), 10**14) for _ in range(2000)]
    values = edges + spread + near
    assert [iso_ms(v) for v in values] == node_iso(values)

    for value in (2**62, -(2**62), 2**63 - 1, -(2**63)):
        seconds = value // 1000
        gnu = subprocess.run(
            ["date", "-u", "-d", f"@{seconds}", "+%Y-%m-%dT%H:%M:%S"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        ours = iso_ms(value)
        assert ours.lstrip("+") == f"{gnu}.{value % 1000:03d}Z", (value, ours, gnu)


def test_a_time_within_pythons_calendar_formats_as_datetime_does() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for value in (ms(1, 1, 1), ms(1970), NOW, ms(9999, 12, 31) + DAY_MS - 1):
        when = epoch + timedelta(milliseconds=value)
        assert iso_ms(value) == when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_an_unsynchronised_time_on_the_calendars_last_day_is_quarantined_alone(
    store: Store,
) -> None:
    """The store converts each time to Casablanca's clock and to a day partition, which the last
    day of year 9999 cannot give: such a record must be refused at the gate, not fail the
    batch of every probe in it."""
    honest, odd = SigningProbe("probe-h"), SigningProbe("probe-o")
    for probe in (honest, odd):
        registry.add_key(store, probe.probe, probe.public_key)
    late = ms(9999, 12, 31) + DAY_MS - 1_800_000  # 23:30 UTC: past midnight in Casablanca
    versions = {"agent": "0", "board": "b", "firmware": "f"}
    payload = record.encode(odd.probe, 1, 1, late, False, "health", {"uptime_s": 1}, versions)
    messages = [
        (topics.records(honest.probe), honest.record(1, time_ms=NOW)),
        (topics.records(odd.probe), odd.sign(payload)),
    ]
    outcome = batch.process(store, store.key, messages, NOW)
    assert outcome.acks == {
        honest.probe: [(1, 1, acks.STORED)],
        odd.probe: [(1, 1, acks.QUARANTINED)],
    }
