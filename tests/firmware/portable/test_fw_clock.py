"""firmware.clock: the modem's network time, parsed strictly; the clock built on it."""

from firmware.clock import Clock, parse_cclk


def test_parses_network_time_to_utc():
    # 2026-11-29 10:50:00 local at UTC+4 (16 quarter hours) is 06:50:00 UTC.
    assert parse_cclk('+CCLK: "26/11/29,10:50:00+16"') == 1795935000000
    assert parse_cclk('+CCLK: "26/11/29,02:50:00-16"') == 1795935000000
    assert parse_cclk('+CCLK: "24/02/29,00:00:00+00"') == 1709164800000  # a leap day


def test_a_modem_without_network_time_is_not_synced():
    assert parse_cclk('+CCLK: "80/01/06,00:00:21+00"') is None  # SIM7600 RTC after reset
    assert parse_cclk('+CCLK: "70/01/01,00:00:00+00"') is None
    assert parse_cclk('+CCLK: "00/01/01,00:00:00+00"') is None


def test_malformed_lines_are_refused():
    for line in (
        "",
        "+CCLK: ",
        '+CCLK: "26/11/29,10:50:00"',
        '+CCLK: "26/13/29,10:50:00+00"',
        '+CCLK: "26/11/29,24:50:00+00"',
        '+CCLK: "26/11/29,10:50:00*00"',
        '+CCLK: "2a/11/29,10:50:00+00"',
        '+CCLK: "26/11/29,10:50:00+99"',
    ):
        assert parse_cclk(line) is None, line


def test_clock_follows_the_rtc_until_synced_then_the_network():
    ticks = [1000]
    clock = Clock(lambda: ticks[0], lambda: 5000)
    assert (clock.now_ms(), clock.synced) == (5000, False)
    clock.sync(1795935000000)
    ticks[0] += 2500
    assert (clock.now_ms(), clock.synced) == (1795935002500, True)
