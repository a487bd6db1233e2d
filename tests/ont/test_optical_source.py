"""The `optical` source: board/config wiring, the record it makes, FEC counts since the last one."""

from __future__ import annotations

from pathlib import Path

import pycddl
import pytest

from agent.boards import Board
from agent.config import ConfigError, parse
from agent.core import record
from agent.ont.session import OmciError
from agent.ont.source import fec_since, make
from agent.sources import LinkState
from hil.ont.emulator import Emulator, load_scenario
from hil.ont.server import OntServer

CDDL = (Path(__file__).resolve().parents[2] / "agent/core/record.cddl").read_text()
CONFIG = 'probe_id = "ftth-1"\n[schedule]\noptical = 300\n'


def board(transport: str | None) -> Board:
    return Board("test-ftth", {"ont": {"transport": transport}} if transport else {})


def test_the_agent_config_overrides_the_board_transport() -> None:
    config = parse(CONFIG + '[ont]\ntransport = "udp://127.0.0.1:4000"\nretries = 1\n')
    source = make(config, board("eth:pon0"))
    assert (source.transport, source.retries) == ("udp://127.0.0.1:4000", 1)
    assert make(parse(CONFIG), board("eth:pon0")).transport == "eth:pon0"


@pytest.mark.parametrize(
    "extra,message",
    [
        ("", "transport must be udp://HOST:PORT or eth:IFACE"),
        ('[ont]\ntransport = "serial:/dev/ttyS0"\n', "expected udp://HOST:PORT or eth:IFACE"),
        ('[ont]\ntransport = "eth:pon0"\ntimeout_s = 0\n', "timeout_s must be 0.05..30"),
        ('[ont]\ntransport = "eth:pon0"\nretries = "3"\n', "retries must be an integer"),
        ('[ont]\ntransport = "eth:pon0"\nsession_key = "00ff"\n', "session_key must be 32 hex"),
    ],
)
def test_bad_ont_settings_name_the_key(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make(parse(CONFIG + extra), board(None))


async def test_dirty_fibre_records_and_link_context() -> None:
    server = OntServer(Emulator(scenario=load_scenario("dirty-fibre")))
    url = await server.start("udp://127.0.0.1:0")
    source = make(parse(CONFIG + f'[ont]\ntransport = "{url}"\n'), board(None))
    link = LinkState()
    try:
        first = await source.measure(link)
        second = await source.measure(link)
    finally:
        server.close()
        await source.aclose()
    assert link.optical == {
        "rx_dbm": -29.5,
        "tx_dbm": 2.34,
        "temperature_c": 45.5,
        "bias_ma": 12.5,
        "voltage_v": 3.3,
        "vendor_id": "QIYS",
        "equipment_id": "QY-ONT-100-EU",
    }  # no serial number: it identifies the subscriber's line
    [m1], [m2] = first, second
    assert m1.kind == "optical"
    assert m1.values["thresholds_crossed"] == ["rx_low"]
    assert m1.values["ani_alarms"] == ["low_rx_power"]
    assert m1.values["software_version"] == "V1.2.3"
    assert not any(k.startswith("fec_") for k in m1.values)  # nothing to count from yet
    # the emulator's counters grow by 4000 corrected and 35 uncorrectable code words per read
    assert m2.values["fec_corrected_codewords"] == 4000
    assert m2.values["fec_uncorrectable_codewords"] == 35
    assert m2.values["fec_corrected_bytes"] == 50000
    schema = pycddl.Schema(CDDL)
    for values in (m1.values, m2.values):
        schema.validate_cbor(optical_record(values))
    with pytest.raises(pycddl.ValidationError):
        schema.validate_cbor(optical_record(dict(m1.values, thresholds_crossed=["dirty"])))


def optical_record(values: dict[str, object]) -> bytes:
    versions = {"agent": "t", "board": "test-ftth", "firmware": "linux"}
    return record.encode("ftth-1", 1, 7, 1_780_000_000_000, True, "optical", values, versions)


async def test_an_ont_that_does_not_answer_clears_the_context() -> None:
    source = make(
        parse(CONFIG + '[ont]\ntransport = "udp://127.0.0.1:9"\ntimeout_s = 0.05\nretries = 0\n'),
        board(None),
    )
    link = LinkState()
    link.optical = {"rx_dbm": -20.0}
    with pytest.raises(OmciError, match="did not answer"):
        await source.measure(link)
    assert link.optical is None


def test_fec_counts_since_the_previous_reading() -> None:
    before = {"interval_end_time": 3, "corrected_code_words": 100, "uncorrectable_code_words": 2}
    same = {"interval_end_time": 3, "corrected_code_words": 130, "uncorrectable_code_words": 2}
    assert fec_since(None, same) == {}
    assert fec_since(before, same) == {
        "fec_corrected_codewords": 30,
        "fec_uncorrectable_codewords": 0,
    }
    # a new 15-min interval restarts the counters: what they hold now is all that is new
    rolled = {"interval_end_time": 4, "corrected_code_words": 7, "uncorrectable_code_words": 1}
    assert fec_since(before, rolled) == {
        "fec_corrected_codewords": 7,
        "fec_uncorrectable_codewords": 1,
    }


async def test_a_wrong_session_key_is_named_in_the_failure() -> None:
    server = OntServer(Emulator())  # the emulator uses the lab key
    url = await server.start("udp://127.0.0.1:0")
    config = (
        f'[ont]\ntransport = "{url}"\nextended = true\nsession_key = "{"ab" * 16}"\n'
        "timeout_s = 0.1\nretries = 0\n"
    )
    source = make(parse(CONFIG + config), board(None))
    try:
        with pytest.raises(OmciError, match="did not answer MIB_UPLOAD of ME 2/0"):
            await source.measure(LinkState())
    finally:
        server.close()
    # the ONU2-G Get (baseline, CRC) went through; the extended MIB upload failed the MIC check
    assert server.emulator.rejected == 1
