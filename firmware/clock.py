"""Wall-clock time for records: the modem's network time (NITZ, via AT+CCLK?) when it has one,
else the board's RTC marked unsynchronised.

Network time costs no traffic beyond the cellular link the probe already has (DESIGN principle
7: measurement traffic only towards configured servers), which is why it comes before NTP.
"""

if False:  # names for type comments: mypy reads them, both compilers drop the block
    from collections.abc import Callable  # noqa: F401 - in type comments, unread by ruff

MIN_SYNCED_YEAR = 2024  # a modem without network time reports its RTC's reset value (1980, 2000)


def _days_from_civil(y, m, d):
    # type: (int, int, int) -> int
    """Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm): no time.mktime,
    whose epoch differs between MicroPython ports."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_cclk(line):
    # type: (str) -> int | None
    """UTC milliseconds of a `+CCLK: "yy/MM/dd,hh:mm:ss±zz"` line (zz: quarter hours of the
    local offset), or None when it is malformed or the modem has no network time yet."""
    start = line.find('"')
    end = line.rfind('"')
    if start < 0 or end - start != 21:
        return None
    text = line[start + 1 : end]
    if text[2] != "/" or text[5] != "/" or text[8] != "," or text[17] not in "+-":
        return None
    parts = (text[0:2], text[3:5], text[6:8], text[9:11], text[12:14], text[15:17], text[18:20])
    for part in parts:
        if not part.isdigit():
            return None
    yy, mo, dd, hh, mi, ss, zz = [int(p) for p in parts]
    year = 2000 + yy if yy < 70 else 1900 + yy  # RTC reset values read 80/01/06, 70/01/01
    if year < MIN_SYNCED_YEAR or not (1 <= mo <= 12 and 1 <= dd <= 31):
        return None
    if hh > 23 or mi > 59 or ss > 60 or zz > 56:
        return None
    offset_s = zz * 900 * (1 if text[17] == "+" else -1)
    local_s = _days_from_civil(year, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss
    return (local_s - offset_s) * 1000


class Clock:
    """now_ms(): UTC ms; `synced` once a network time has been applied.

    monotonic_ms: a callable that never goes back (the platform's); rtc_ms: the board's RTC as
    UTC ms, used until the first sync.
    """

    def __init__(self, monotonic_ms, rtc_ms):
        # type: (Callable[[], int], Callable[[], int]) -> None
        self._monotonic_ms = monotonic_ms
        self._rtc_ms = rtc_ms
        self._base = None  # type: tuple[int, int] | None  # (utc ms, monotonic ms) at sync
        self.synced = False

    def sync(self, utc_ms):
        # type: (int) -> None
        self._base = (utc_ms, self._monotonic_ms())
        self.synced = True

    def now_ms(self):
        # type: () -> int
        if self._base is None:
            return int(self._rtc_ms())
        utc, mono = self._base
        return utc + (self._monotonic_ms() - mono)
