"""Board profiles: every shipped profile follows the schema; a wrong one is refused by key."""

from __future__ import annotations

import json

import pytest

from agent import boards
from tools.cli import main

REQUIRED_BOARDS = {
    "lilygo-t-sim7600": "esp32",
    "lilygo-t-a7670": "esp32",
    "esp32s3-sim7600": "esp32",
    "rpi4-rm520n": "linux",
    "rpi-sim8200ea": "linux",
    "openwrt-5g-cpe": "linux",
    "generic-linux": "linux",
}

ESP32 = """
description = "test board"
platform = "esp32"
[esp32]
chip = "esp32"
psram = true
[modem]
uart = 1
tx_pin = 27
rx_pin = 26
baud = 115200
dialect = "simcom"
power_key_pin = 4
power_key_pulse_ms = 500
boot_wait_s = 20
"""


def test_every_required_board_is_shipped_and_valid() -> None:
    assert set(REQUIRED_BOARDS) <= set(boards.available())
    for name in boards.available():
        board = boards.load(name)
        assert board.platform == REQUIRED_BOARDS.get(name, board.platform)


def test_esp32_boards_name_pins_and_linux_boards_name_ports() -> None:
    for name, platform in REQUIRED_BOARDS.items():
        modem = boards.load(name).section("modem")
        if platform == "esp32":
            assert {"uart", "tx_pin", "rx_pin", "power_key_pin", "boot_wait_s"} <= set(modem)
        elif modem:
            assert modem["port"].startswith("/dev/")
    assert boards.load("openwrt-5g-cpe").section("ont")["transport"].startswith("eth:")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("baud = 115200", "baud = 115201"), "modem.baud must be one of"),
        (('dialect = "simcom"', 'dialect = "nokia"'), "modem.dialect must be one of auto"),
        (("tx_pin = 27", "tx_pin = 60"), "modem.tx_pin must be an integer in 0..48"),
        (("tx_pin = 27", "tx_pin = true"), "modem.tx_pin must be an integer"),
        (("rx_pin = 26\n", ""), "modem.rx_pin is missing"),
        (("boot_wait_s = 20", "boot_wait_s = 20\nbootwait = 3"), "modem.bootwait is not a known"),
        (("uart = 1", 'uart = 1\nport = "/dev/ttyS1"'), "modem.port does not apply to esp32"),
        (('chip = "esp32"', 'chip = "esp8266"'), "esp32.chip must be one of esp32, esp32s3"),
        (('platform = "esp32"', 'platform = "zephyr"'), "platform must be one of linux, esp32"),
        (("[esp32]", "[radio]\n[esp32]"), "unknown key or section 'radio'"),
        (("power_key_pin = 4\n", ""), "power_key_pulse_ms needs modem.power_key_pin"),
        (("[modem]", '[modem]\npower_cycle_command = ["x"]'), "does not apply to esp32"),
        (("boot_wait_s = 20", 'boot_wait_s = 20\n[ont]\ntransport = "tcp://x"'), "udp://HOST"),
        (('description = "test board"', 'description = ""'), "description must be"),
        (("psram = true", "psram = 1"), "esp32.psram must be true or false"),
    ],
)
def test_schema_errors_name_the_key(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in ESP32
    with pytest.raises(boards.BoardError, match=r"^board test: ") as err:
        boards.parse("test", ESP32.replace(old, new, 1))
    assert message in str(err.value)


def test_platform_sections_are_required() -> None:
    with pytest.raises(boards.BoardError, match=r"needs a \[esp32\] section"):
        boards.parse("test", ESP32.split("[esp32]")[0] + "[modem]" + ESP32.split("[modem]")[1])
    linux = 'description = "x"\nplatform = "linux"\n[modem]\nport = "/dev/ttyUSB2"\nbaud = 115200\n'
    with pytest.raises(boards.BoardError, match=r"modem\.dialect is missing"):
        boards.parse("test", linux)


def test_bad_files_and_names_are_refused_clearly() -> None:
    with pytest.raises(boards.BoardError, match="not valid TOML"):
        boards.parse("test", "platform = ")
    with pytest.raises(boards.BoardError, match="larger than"):
        boards.parse("test", "#" * (boards.MAX_PROFILE_BYTES + 1))
    with pytest.raises(boards.BoardError, match=r"must be 1\.\.64 of a-z"):
        boards.load("../etc/passwd")
    with pytest.raises(boards.BoardError, match="unknown board 'nope'; known boards: "):
        boards.load("nope")


def test_cli_list_and_show_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["invalid"] == []
    by_name = {b["name"]: b for b in doc["boards"]}
    assert by_name["rpi4-rm520n"]["dialect"] == "quectel"
    assert by_name["lilygo-t-sim7600"]["modem"] == "UART1"
    assert main(["boards", "show", "lilygo-t-a7670", "--json"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert board["modem"]["tx_pin"] == 26 and board["esp32"]["chip"] == "esp32"


def test_cli_unknown_board_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards", "show", "nope", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "qiyas boards: unknown board 'nope'" in err
