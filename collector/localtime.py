"""Morocco's wall-clock time, stored beside each record's UTC time.

Africa/Casablanca is UTC+1 most of the year and UTC+0 during Ramadan (IANA tz database, file
`africa`, rules "Morocco"), so the offset moves twice a year on dates that follow the lunar
calendar. Peak hours (18:00–23:00 local, docs/methodology.md) and "a local day" are questions
about this clock; answering them from UTC would be off by an hour for a month each year.

`local_ms` is the local wall-clock reading written as if it were UTC milliseconds since 1970:
`local_ms // DAY_MS` is the local day and `local_ms % DAY_MS` the local time of day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

ZONE = "Africa/Casablanca"
_ZONE = ZoneInfo(ZONE)


def local_ms(utc_ms: int) -> int:
    """The Casablanca wall-clock reading at utc_ms, as milliseconds since 1970 on that clock."""
    offset = datetime.fromtimestamp(utc_ms // 1000, UTC).astimezone(_ZONE).utcoffset()
    assert offset is not None  # a ZoneInfo always has an offset
    return utc_ms + int(offset.total_seconds()) * 1000


def local_ms_sql_postgres(column: str) -> str:
    """PostgreSQL's reading of the same, from its own copy of the tz database (the migration
    computes it in the database; the tests check both agree across a Ramadan change)."""
    at = f"to_timestamp({column} / 1000)"
    return (
        f"({column} + 1000 * EXTRACT(EPOCH FROM"
        f" (({at} AT TIME ZONE '{ZONE}') - ({at} AT TIME ZONE 'UTC')))::bigint)"
    )
