"""Time partitions of `records`: one per UTC day of the measurement time (`time_ms`).

On PostgreSQL `records` is declaratively partitioned by range of `time_ms`, a partition
`records_YYYYMMDD` per UTC day. Partitions are created ahead of time by `maintain` (and on demand
by the store, for a record of a day that has none yet: a late or early record is never refused),
and dropped once older than the hot retention, which is a DROP TABLE: instant, no vacuum, no
bloat, unlike deleting a day of rows.

SQLite has no partitions; the same calls keep the same meaning there: `held_days` lists the days
that have records, `drop_before` deletes the records of the days before the given one, `ensure`
has nothing to create.

Record identities (`record_identity`, unpartitioned) are kept when a day is dropped: a resend of
a dropped record is still recognised, and the replay window still knows the probe's highest seq.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

DAY_MS = 86_400_000
_NAME = re.compile(r"^records_(\d{8})$")
# Advisory-lock key of "partition DDL on records" (the schema's is 7170100).
_LOCK = 7170101


def day_of(ms: int) -> date:
    return date(1970, 1, 1) + timedelta(days=ms // DAY_MS)


def day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def partition_name(day: date) -> str:
    return f"records_{day:%Y%m%d}"


def held_days(store: Any) -> list[date]:
    """PostgreSQL: the days that have a partition. SQLite: the days that have records."""
    if store.dialect == "postgres":
        rows = store.query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'records'::regclass"
        )
        found = (_NAME.match(name) for (name,) in rows)
        return sorted(datetime.strptime(m.group(1), "%Y%m%d").date() for m in found if m)
    rows = store.query(f"SELECT DISTINCT time_ms / {DAY_MS} FROM records WHERE time_ms >= 0")
    return sorted(date(1970, 1, 1) + timedelta(days=int(d)) for (d,) in rows)


def ensure(store: Any, days: Iterable[date]) -> list[date]:
    """Create the partitions of days that lack one (PostgreSQL); the days created.

    Its own short transaction, serialised by an advisory lock, so collectors racing to create the
    same day wait for each other instead of failing, and no insert waits on DDL for longer."""
    if store.dialect != "postgres":
        return []
    missing = sorted(set(days) - set(held_days(store)))
    if not missing:
        return []
    created = []
    with store.transaction():
        store.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
        present = set(held_days(store))
        for day in missing:
            if day in present:
                continue
            start = day_start_ms(day)
            store.execute(
                f"CREATE TABLE {partition_name(day)} PARTITION OF records"
                f" FOR VALUES FROM ({start}) TO ({start + DAY_MS})"
            )
            created.append(day)
    return created


def drop_before(store: Any, first_kept: date) -> list[date]:
    """Drop every day before first_kept: its partition (PostgreSQL) or its records (SQLite)."""
    old = [day for day in held_days(store) if day < first_kept]
    if not old:
        return []
    with store.transaction():
        if store.dialect == "postgres":
            store.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
            for day in old:
                store.execute(f"DROP TABLE IF EXISTS {partition_name(day)}")
        else:
            store.execute("DELETE FROM records WHERE time_ms < ?", (day_start_ms(first_kept),))
    store.forget_partitions()
    return old


@dataclass(frozen=True)
class Maintained:
    created: list[date]
    dropped: list[date]
    kept_unarchived: list[date]  # past the retention but not archived yet, so not dropped


def maintain(
    store: Any,
    now_ms: int,
    ahead_days: int,
    retention_days: int,
    archived: Callable[[date], bool] | None = None,
) -> Maintained:
    """Partitions for today and the next ahead_days days; days older than retention_days dropped,
    except those archived(day) says are not archived yet (None: no archive to wait for)."""
    today = day_of(now_ms)
    created = ensure(store, (today + timedelta(days=i) for i in range(ahead_days + 1)))
    first_kept = today - timedelta(days=retention_days)
    expired = [day for day in held_days(store) if day < first_kept]
    waiting = [day for day in expired if archived is not None and not archived(day)]
    # Drop only up to the first day still waiting for the archive: never a hole in the hot store.
    limit = min(waiting, default=first_kept)
    return Maintained(created, drop_before(store, limit), waiting)
