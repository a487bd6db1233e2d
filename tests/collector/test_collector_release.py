"""The open-data release of a quarter: per commune and region, from the roll-ups, cells with too
few households withheld, no probe named anywhere, the licence beside the data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from probe_signing import VERSIONS, SigningProbe

from agent.core import record, topics
from collector import batch, queries, registry, release, rollups
from collector.sketch import ALPHA
from collector.store import ProbeRow, Store
from tools.cli import main

HOUR = rollups.HOUR_MS
START = 1_790_208_000_000  # 2026-09-24T00:00:00Z: in 2026-Q3
# Six probes of one operator in Rabat, two in Salé (too few households to publish), same region.
PLACES = [("Rabat", "IAM")] * 6 + [("Salé", "IAM")] * 2


def fill(store: Store) -> dict[str, list[float]]:
    """Ten results a probe (one in the evening peak); the download values per commune."""
    values: dict[str, list[float]] = {"Rabat": [], "Salé": []}
    for i, (commune, operator) in enumerate(PLACES):
        p = SigningProbe(f"ma-rel-{i:04d}")
        registry.add_key(store, p.probe, p.public_key)
        store.upsert_probe(ProbeRow(p.probe, operator, "FTTH", "MA-04", commune))
        for seq in range(1, 11):
            t = START + seq * HOUR + i * 1000  # 02:00–11:00 local: no peak-hour cells
            down = 40.0 + 7 * i + seq * 1.5
            values[commune].append(down)
            extra = {"validity": {"verdict": "valid", "reasons": []}}
            raw = p.sign(
                record.encode(
                    p.probe, 1, seq, t, True, "capacity", {"down_mbps": down}, VERSIONS, extra=extra
                )
            )
            batch.process(store, store.key, [(topics.records(p.probe), raw)], t + 1000)
    rollups.refresh(store, START + 2 * 86_400_000)
    return values


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_quarter_is_released_with_small_cells_withheld(store: Store, tmp_path: Path) -> None:
    values = fill(store)
    done = release.write(store, "2026-Q3", tmp_path, min_probes=5, min_tests=30)
    folder = tmp_path / "quarter=2026-Q3"
    communes = read(folder / "communes.csv")
    [rabat] = [r for r in communes if r["metric"] == "down_mbps" and r["hours"] == "all"]
    assert (rabat["commune"], rabat["tests"], rabat["probes"]) == ("Rabat", "60", "6")
    exact = queries.percentile_cont(sorted(values["Rabat"]), 0.5)
    assert abs(float(rabat["median"]) - exact) <= ALPHA * exact + 1e-3
    assert all(r["commune"] != "Salé" for r in communes)  # two households: withheld
    assert done.withheld["communes.csv"] >= 1
    [region] = [r for r in read(folder / "regions.csv") if r["metric"] == "down_mbps"]
    assert (region["region"], region["tests"], region["probes"]) == ("MA-04", "80", "8")
    everything = "".join(p.read_text(encoding="utf-8") for p in folder.iterdir())
    assert "ma-rel-" not in everything  # no probe named
    assert "CC BY 4.0" in (folder / "LICENCE.txt").read_text(encoding="utf-8")
    assert json.loads((folder / "README.json").read_text())["withheld_cells"] == done.withheld


def test_the_release_command_refuses_a_bad_quarter_and_writes_a_good_one(
    store: Store, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    argv = ["collector", "release", "--db", store_url, "--out", str(tmp_path), "--json"]
    assert main([*argv, "--quarter", "2026-Q5"]) != 0
    assert "is not YYYY-Qn" in capsys.readouterr().err
    assert main([*argv, "--quarter", "2026-Q3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"]["communes.csv"] == 1 and doc["rows"]["regions.csv"] == 1
