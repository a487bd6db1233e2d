"""One archived day read three ways — the collector's API, DuckDB over the archive
(`qiyas archive query`), pyarrow's dataset reader — must give the same figures, on SQLite and
PostgreSQL. (Spark reads the same day in `scripts/interop-spark`, outside this suite.)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from collector_helpers import seed_fleet
from fastapi.testclient import TestClient

from agent.keys import load_or_create
from collector import archive, archive_query
from collector.api import create_app
from collector.store import Store
from collector.times import iso_ms
from tools.cli import main as qiyas

DAY_START = archive.day_start_ms(archive.day_of(1_764_000_000_000))
DAY = archive.day_of(DAY_START)


@pytest.fixture
def archived(store: Store, tmp_path: Path) -> Path:
    seed_fleet(store, DAY_START + 12 * 3_600_000)  # twelve hours of records, all on DAY
    key = load_or_create(tmp_path / "regulator.key")
    root = tmp_path / "archive"
    [written] = archive.write_closed(
        store, archive.Root(str(root)), key.public_key, key.sign, DAY_START + 2 * archive.DAY_MS, 0
    )
    assert written.day == DAY
    return root


@pytest.fixture
def api(store_url: str, archived: Path) -> Iterator[TestClient]:
    with TestClient(create_app(store_url, public=True)) as client:
        yield client


def _api_medians(api: TestClient, metric: str, group_by: str) -> dict[str, tuple[int, float]]:
    day = {"since": iso_ms(DAY_START), "until": iso_ms(DAY_START + archive.DAY_MS)}
    response = api.get("/api/v1/aggregates", params={"metric": metric, "group_by": group_by, **day})
    assert response.status_code == 200, response.text
    return {g["group"]: (g["count"], g["median"]) for g in response.json()["groups"]}


@pytest.mark.parametrize(
    ("metric", "kind", "group_by"),
    [("down_mbps", "capacity", "operator"), ("rtt_ms", "latency", "region")],
)
def test_api_duckdb_and_pyarrow_agree_on_one_archived_day(
    api: TestClient, archived: Path, metric: str, kind: str, group_by: str
) -> None:
    expected = _api_medians(api, metric, group_by)
    assert len(expected) >= 3

    columns, rows = archive_query.run(
        archive.Root(str(archived)),
        f"SELECT {group_by}, COUNT(*), median({metric}) FROM {kind}"
        f" WHERE day = '{DAY}' AND {metric} IS NOT NULL GROUP BY 1",
    )
    assert columns[0] == group_by
    assert {g: (n, round(m, 3)) for g, n, m in rows} == expected

    dataset = ds.dataset(
        archived, format="parquet", partitioning="hive", ignore_prefixes=["manifests"]
    )
    table = dataset.to_table(
        filter=(ds.field("kind") == kind) & (ds.field("day") == DAY.isoformat()),
        columns=[group_by, metric],
    )
    by_arrow = {}
    for group in set(table.column(group_by).to_pylist()):
        values = table.filter(pc.equal(table.column(group_by), group)).column(metric)
        median = pc.quantile(values, q=0.5, interpolation="linear")[0].as_py()
        by_arrow[group] = (len(values), round(median, 3))
    assert by_arrow == expected


@pytest.mark.parametrize("through", ["path", "uri"])
def test_a_view_per_kind_and_one_over_all(archived: Path, through: str) -> None:
    # A URI goes through a pyarrow filesystem (as s3:// would), a path through DuckDB's reader.
    root = archive.Root(str(archived) if through == "path" else archived.as_uri())
    assert archive_query.kinds(root) == ["capacity", "latency"]
    _, rows = archive_query.run(root, "SELECT kind, COUNT(*) FROM records GROUP BY 1 ORDER BY 1")
    assert rows == [("capacity", 48), ("latency", 48)]


def test_the_query_command_prints_json_and_csv(
    archived: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT probe, COUNT(*) AS n FROM capacity GROUP BY 1 ORDER BY 1"
    assert qiyas(["archive", "query", "--archive", str(archived), "--json", sql]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert docs[0] == {"probe": "ma-cas-fwa-01", "n": 12} and len(docs) == 4
    assert qiyas(["archive", "query", "--archive", str(archived), "--csv", sql]) == 0
    lines = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert lines[0] == ["probe", "n"] and lines[1] == ["ma-cas-fwa-01", "12"]


def test_bad_sql_is_a_clear_usage_error(archived: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert qiyas(["archive", "query", "--archive", str(archived), "SELECT nope FROM capacity"]) == 2
    assert "nope" in capsys.readouterr().err
