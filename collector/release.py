"""The open-data release: per quarter, figures per commune and per region × operator ×
technology, with minimum sample sizes so that no household can be singled out, and the licence.

Layout under the output directory (the regulator's publication, one folder per quarter):

    quarter=2026-Q4/communes.csv     commune, operator, technology, metric, hours, tests, probes,
    quarter=2026-Q4/regions.csv      p25, median, p75 (region instead of commune)
    quarter=2026-Q4/LICENCE.txt      the licence and the attribution it asks for
    quarter=2026-Q4/README.json      method, minimums, what was withheld, the data dictionary

The figures are merges of the per-probe × local-day roll-ups (collector.rollups): usable results
only (flagged ones left out), all hours and the evening peak apart, percentiles within
RELATIVE_ERROR of the exact ones. A cell with fewer than `min_probes` distinct probes or
`min_tests` results is withheld, figures and all; only the number of withheld cells is said.
No row names a probe: the release carries no per-probe data.

Quarters are of Morocco's calendar (local days, as the roll-up's days are).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from agent.core.errors import InvalidInput
from collector.rollups import RELATIVE_ERROR
from collector.sketch import Sketch

MIN_PROBES = 5
MIN_TESTS = 30
METRICS = ("down_mbps", "up_mbps", "rtt_ms")
LEVELS = {"communes": "commune", "regions": "region"}
LICENCE = """Qiyas open broadband measurement data, {quarter}

Licence: Creative Commons Attribution 4.0 International (CC BY 4.0)
https://creativecommons.org/licenses/by/4.0/

You may share and adapt these data for any purpose, provided you give appropriate credit
(name the publisher and the quarter), link to the licence, and indicate if changes were made.
"""
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_COLUMNS = ["operator", "technology", "metric", "hours", "tests", "probes", "p25", "median", "p75"]


def quarter_days(quarter: str) -> tuple[date, date]:
    """First day of the quarter and first day of the next, from 'YYYY-Qn'."""
    match = _QUARTER.match(quarter)
    if not match:
        raise InvalidInput(f"quarter {quarter!r} is not YYYY-Qn (e.g. 2026-Q4)")
    year, q = int(match.group(1)), int(match.group(2))
    first = date(year, 3 * q - 2, 1)
    return first, (date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1))


@dataclass
class _Cell:
    sketch: Sketch = field(default_factory=Sketch)
    probes: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Released:
    quarter: str
    published: dict[str, int]  # file → rows
    withheld: dict[str, int]  # file → cells withheld for too few probes or tests


def _day_ms(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400_000


def cells(
    store: Any, quarter: str, level: str
) -> dict[tuple[str | None, str | None, str | None, str, str], _Cell]:
    """(place, operator, technology, metric, hours) → merged sketch and the probes in it."""
    first, end = quarter_days(quarter)
    out: dict[tuple[str | None, str | None, str | None, str, str], _Cell] = {}
    marks = ", ".join("?" * len(METRICS))
    rows = store.query(
        f"SELECT r.metric, r.peak, r.probe, r.sketch, p.{level}, p.operator, p.technology"
        " FROM rollup_probe_day r LEFT JOIN probes p ON p.probe = r.probe"
        f" WHERE r.day_ms >= ? AND r.day_ms < ? AND r.validity <> 'flagged'"
        f" AND r.metric IN ({marks})",
        [_day_ms(first), _day_ms(end), *METRICS],
    )
    for metric, peak, probe, blob, place, operator, technology in rows:
        for hours in ("all", "peak") if peak else ("all",):
            cell = out.setdefault((place, operator, technology, metric, hours), _Cell())
            cell.sketch.merge_bytes(bytes(blob))
            cell.probes.add(probe)
    return out


def table(
    store: Any, quarter: str, level: str, min_probes: int, min_tests: int
) -> tuple[list[list[Any]], int]:
    """The rows of one file (place first), sorted, and the number of cells withheld."""
    rows, withheld = [], 0
    for (place, *labels), cell in cells(store, quarter, level).items():
        tests = cell.sketch.count
        if len(cell.probes) < min_probes or tests < min_tests:
            withheld += 1
            continue
        q = cell.sketch.quantiles((0.25, 0.5, 0.75))
        figures = [round(q[0.25], 3), round(q[0.5], 3), round(q[0.75], 3)]
        rows.append([place, *labels, tests, len(cell.probes), *figures])
    rows.sort(key=lambda r: tuple("" if v is None else str(v) for v in r[:5]))
    return rows, withheld


def write(
    store: Any,
    quarter: str,
    out: Path,
    min_probes: int = MIN_PROBES,
    min_tests: int = MIN_TESTS,
) -> Released:
    folder = out / f"quarter={quarter}"
    folder.mkdir(parents=True, exist_ok=True)
    published, withheld = {}, {}
    for name, level in LEVELS.items():
        rows, held = table(store, quarter, level, min_probes, min_tests)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([level, *_COLUMNS])
        writer.writerows(rows)
        (folder / f"{name}.csv").write_text(text.getvalue(), encoding="utf-8")
        published[f"{name}.csv"], withheld[f"{name}.csv"] = len(rows), held
    (folder / "LICENCE.txt").write_text(LICENCE.format(quarter=quarter), encoding="utf-8")
    first, end = quarter_days(quarter)
    readme = {
        "quarter": quarter,
        "days": [first.isoformat(), end.isoformat()],
        "calendar": "local days of Africa/Casablanca",
        "licence": "CC-BY-4.0",
        "results": "usable ones: the probe's validity verdict is not 'flagged'",
        "hours": {"all": "the whole day", "peak": "18:00-23:00 local time"},
        "minimum_probes": min_probes,
        "minimum_tests": min_tests,
        "withheld_cells": withheld,
        "percentiles_relative_error": RELATIVE_ERROR,
        "columns": {
            "tests": "results in the cell",
            "probes": "distinct probes (households) in the cell",
            "p25, median, p75": "percentiles of the results (percentile_cont), Mbit/s or ms",
        },
    }
    (folder / "README.json").write_text(json.dumps(readme, indent=1) + "\n", encoding="utf-8")
    return Released(quarter, published, withheld)
