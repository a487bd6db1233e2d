"""The regulator's HTTP API over a seeded store, on SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_helpers import FLEET, HOURS, seed_fleet
from fastapi.testclient import TestClient
from probe_signing import SigningProbe

from agent.core import topics
from collector import apikeys, batch, registry
from collector.api import create_app
from collector.store import Store, now_ms


@pytest.fixture
def seeded(store: Store) -> dict[str, list[float]]:
    return seed_fleet(store, now_ms())


@pytest.fixture
def keys(store: Store) -> dict[str, str]:
    return {scope: apikeys.create(store, f"test {scope}", scope) for scope in apikeys.SCOPES}


@pytest.fixture
def client(store_url: str, store: Store, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(store_url), headers={"X-API-Key": keys["read"]}) as c:
        yield c


def test_records_filter_by_operator_and_page_without_gaps_or_repeats(
    seeded: dict[str, list[float]], client: TestClient
) -> None:
    seen: list[int] = []
    after = 0
    while True:
        page = client.get(
            "/api/v1/records", params={"operator": "IAM", "kind": "capacity", "after": after,
                                       "limit": 7},
        ).json()  # fmt: skip
        seen += [item["id"] for item in page["items"]]
        assert {item["operator"] for item in page["items"]} <= {"IAM"}
        if page["next"] is None:
            break
        after = page["next"]
    iam_probes = sum(1 for f in FLEET if f[1] == "IAM")
    assert len(seen) == len(set(seen)) == iam_probes * HOURS
    assert seen == sorted(seen)


def test_records_carry_their_access_link_context(
    seeded: dict[str, list[float]], client: TestClient
) -> None:
    page = client.get("/api/v1/records", params={"probe": "ma-rab-ftth-01", "limit": 1}).json()
    [item] = page["items"]
    assert item["context"] == {"optical": {"rx_dbm": -18.5, "tx_dbm": 2.0}}
    assert (item["technology"], item["region"]) == ("FTTH", "MA-04")


def test_aggregates_match_percentiles_computed_independently(
    seeded: dict[str, list[float]], client: TestClient
) -> None:
    body = client.get(
        "/api/v1/aggregates",
        params={"metric": "down_mbps", "group_by": "operator", "threshold": 130},
    ).json()

    assert body["unit"] == "Mbit/s"
    groups = {g["group"]: g for g in body["groups"]}
    assert set(groups) == set(seeded)
    for operator, values in seeded.items():
        g = groups[operator]
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        quartiles = statistics.quantiles(values, n=4, method="inclusive")
        assert g["count"] == len(values)
        assert g["median"] == pytest.approx(statistics.median(values), abs=1e-3)
        assert (g["p10"], g["p90"]) == pytest.approx((deciles[0], deciles[-1]), abs=1e-3)
        assert (g["p25"], g["p75"]) == pytest.approx((quartiles[0], quartiles[-1]), abs=1e-3)
        share = sum(v < 130 for v in values) / len(values)
        assert g["share_below"] == pytest.approx(share, abs=1e-4)


def test_aggregates_per_hour_for_a_chart(
    seeded: dict[str, list[float]], client: TestClient
) -> None:
    body = client.get(
        "/api/v1/aggregates",
        params={"metric": "rtt_ms", "group_by": "technology", "bucket": "hour"},
    ).json()
    per_technology: dict[str, int] = {}
    for g in body["groups"]:
        per_technology[g["group"]] = per_technology.get(g["group"], 0) + g["count"]
        assert g["bucket"].endswith(":00:00.000Z")
    assert per_technology == {"5G-FWA": HOURS, "FTTH": 2 * HOURS, "4G": HOURS}


def test_probe_health_and_one_probe(seeded: dict[str, list[float]], client: TestClient) -> None:
    health = {p["probe"]: p for p in client.get("/api/v1/probes").json()}
    assert {p: h["status"] for p, h in health.items()} == {f[0]: "active" for f in FLEET}
    one = client.get("/api/v1/probes/ma-mar-4g-01").json()
    assert (one["operator"], one["region"], len(one["keys"])) == ("inwi", "MA-07", 1)
    assert client.get("/api/v1/probes/ma-nobody").status_code == 404


def test_reads_need_a_key_and_writes_an_admin_key(
    store_url: str, store: Store, keys: dict[str, str], seeded: dict[str, list[float]]
) -> None:
    with TestClient(create_app(store_url)) as anonymous:
        assert anonymous.get("/api/v1/records").status_code == 401
        assert anonymous.get("/api/v1/records", params={"api_key": "qk_wrong"}).status_code == 401
        assert anonymous.get("/api/v1/records", params={"api_key": keys["read"]}).status_code == 200
        body = {"operator": "Orange"}
        url = "/api/v1/probes/ma-mar-4g-01"
        assert anonymous.post(url, json=body).status_code == 401
        reader = anonymous.post(url, json=body, headers={"X-API-Key": keys["read"]})
        assert reader.status_code == 403
        admin = anonymous.post(url, json=body, headers={"X-API-Key": keys["admin"]})
        assert admin.status_code == 200
    updated = store.probe("ma-mar-4g-01")
    assert updated is not None and updated.operator == "Orange"
    with TestClient(create_app(store_url, public=True)) as public:
        assert public.get("/api/v1/records").status_code == 200
        assert public.post(url, json=body).status_code == 401


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"since": "yesterday"}, 400, "since: 'yesterday' is neither ISO 8601 nor milliseconds"),
        ({"until": "99999999999999999999999"}, 400, "until: '99999999999999999999999' is out"),
        ({"limit": 0}, 422, "limit"),
        ({"region": "MA-13"}, 422, "region"),
        ({"kind": "weather"}, 422, "kind"),
    ],
)
def test_bad_parameters_are_4xx_naming_them(
    client: TestClient, params: dict[str, object], status: int, words: str
) -> None:
    response = client.get("/api/v1/records", params=params)
    assert response.status_code == status
    assert words in response.text


def test_the_openapi_document_and_the_dictionary_are_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/records", "/api/v1/aggregates", "/api/v1/probes", "/api/v1/feed"} <= set(paths)
    columns = {c["column"]: c["type"] for c in client.get("/api/v1/dictionary").json()}
    assert {"probe": "text", "region": "text", "down_mbps": "number"}.items() <= columns.items()


def test_the_methodology_is_served_as_written(client: TestClient) -> None:
    response = client.get("/api/v1/methodology")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    written = (Path(__file__).parents[2] / "docs" / "methodology.md").read_text(encoding="utf-8")
    assert response.text == written


def test_flagged_records_show_in_probe_health(store: Store, client: TestClient) -> None:
    from collector.replay import WINDOW, SeqWindow

    probe = SigningProbe("ma-flag-0001")
    registry.add_key(store, probe.probe, probe.public_key)
    topic = topics.records(probe.probe)
    window = SeqWindow(store.highest_seq)
    for seq in (1, WINDOW + 10):
        batch.process(store, store.key, [(topic, probe.record(seq))], now_ms(), window)

    one = client.get(f"/api/v1/probes/{probe.probe}").json()
    assert one["flagged_records"] == 1
