"""Times as the collector stores them (integer ms since 1970 UTC) and as people write them."""

from __future__ import annotations

from datetime import UTC, datetime

# Columns are signed 64-bit; a time beyond them is bad input, not a database error.
_MS_MIN, _MS_MAX = -(2**63), 2**63 - 1


def iso_ms(ms: int) -> str:
    """Milliseconds since 1970 as ISO 8601 UTC, e.g. 2026-11-29T06:40:00.123Z."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


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
