"""Times as the collector stores them (integer ms since 1970 UTC) and as people write them."""

from __future__ import annotations

from datetime import UTC, datetime

# Columns are signed 64-bit; a time beyond them is bad input, not a database error.
_MS_MIN, _MS_MAX = -(2**63), 2**63 - 1


def iso_ms(ms: int) -> str:
    """Milliseconds since 1970 as ISO 8601 UTC, e.g. 2026-11-29T06:40:00.123Z, for any integer.

    Total, so that no stored time can make a read fail: years 0..9999 as YYYY, any other in the
    expanded form ECMAScript's toISOString writes (a sign and at least six digits, ECMA-262
    "Expanded Years"), in the proleptic Gregorian calendar; exact integer arithmetic throughout.
    """
    days, rest = divmod(ms, 86_400_000)
    year, month, day = _civil_from_days(days)
    seconds, milli = divmod(rest, 1000)
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    text_year = f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):06d}"
    return f"{text_year}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{milli:03d}Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the day days after 1970-01-01: H. Hinnant's civil_from_days
    (howardhinnant.github.io/date_algorithms.html), over 400-year eras of 146 097 days."""
    z = days + 719_468  # days since 0000-03-01
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153  # month counted from March
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def parse_time_ms(text: str) -> int:
    """Integer milliseconds since 1970, or ISO 8601 (UTC unless it says); ValueError otherwise."""
    if text.lstrip("-").isdigit():
        ms = int(text)
    else:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{text!r} is neither ISO 8601 nor milliseconds") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ms = int(when.timestamp() * 1000)
    if not _MS_MIN <= ms <= _MS_MAX:
        raise ValueError(f"{text!r} is out of range")
    return ms
