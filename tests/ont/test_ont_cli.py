"""`qiyas hil ont` and `qiyas ont info` as a technician runs them: the JSON contract, exit codes,
and a pcap that omcipcap (an independent OMCI analyser) reads."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from omci.omci import OmciAction, load_omci_packets
from omci.omciparser import get_mib_db_data

QIYAS = str(Path(sys.executable).with_name("qiyas"))


def qiyas(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QIYAS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def emulated_ont(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    pcap = tmp_path / "emulator.pcap"
    proc = subprocess.Popen(
        [QIYAS, "hil", "ont", "--listen", "udp://127.0.0.1:0", "--pcap", str(pcap)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first line says where it listens
        yield json.loads(line)["listen"], pcap
    finally:
        proc.terminate()
        proc.wait(10)


def test_ont_info_json_contract(emulated_ont: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = emulated_ont
    done = qiyas("ont", "info", "--transport", url, "--json")
    assert done.returncode == 0, done.stderr
    reading = json.loads(done.stdout)
    assert reading["vendor_id"] == "QIYS"
    assert reading["serial_number"] == "QIYS0001A2B3"
    assert reading["equipment_id"] == "QY-ONT-100-EU"
    assert reading["software"][0] | {"instance": 0} == {
        "instance": 0, "version": "V1.2.3", "active": True, "committed": True, "valid": True,
    }  # fmt: skip
    assert {
        "rx_dbm", "tx_dbm", "temperature_c", "bias_ma", "voltage_v",
        "rx_low_threshold_dbm", "rx_high_threshold_dbm",
    } <= set(reading["optical"])  # fmt: skip
    assert reading["optical"]["rx_dbm"] == -18.52
    assert reading["fec"]["corrected_code_words"] == 40


def test_pcap_is_read_by_omcipcap(emulated_ont: tuple[str, Path], tmp_path: Path) -> None:
    url, emulator_pcap = emulated_ont
    pcap = tmp_path / "agent.pcap"
    done = qiyas("ont", "info", "--transport", url, "--json", "--pcap", str(pcap))
    assert done.returncode == 0, done.stderr
    reading = json.loads(done.stdout)
    for path in (pcap, emulator_pcap):
        packets = [p for _, p, _ in load_omci_packets(str(path), include_raw=True)]
        assert len(packets) == reading["omci"]["frames_sent"] + reading["omci"]["frames_received"]
        actions = {(p.action, p.is_request, p.is_response) for p in packets}
        for action in (OmciAction.MIB_UPLOAD, OmciAction.MIB_UPLOAD_NEXT, OmciAction.GET):
            assert (action, True, False) in actions and (action, False, True) in actions
        gets = [p for p in packets if p.action == OmciAction.GET and p.is_response]
        assert all(p.result == 0 for p in gets)
        mib = get_mib_db_data(load_omci_packets(str(path)), only_upload=True)
        onu_g = mib[256]["instances"][0]
        assert onu_g["Vendor ID"]["val"] == "QIYS"
        assert 263 in mib and 32769 in mib[263]["instances"]


def test_no_ont_answering_exits_1_with_the_reason() -> None:
    done = qiyas("ont", "info", "--transport", "udp://127.0.0.1:9", "--json", "--timeout", "0.1")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {
        "error": "the ONT did not answer GET of ME 257/0 after 3 tries of 0.1 s"
    }
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["ont", "info", "--transport", "tcp://x:1"], "expected udp://HOST:PORT or eth:IFACE"),
        (["ont", "info", "--transport", "eth:nosuchif0"], "eth:nosuchif0"),
        (["ont", "info", "--transport", "udp://127.0.0.1:9", "--retries", "99"], "--retries"),
        (["hil", "ont", "--listen", "udp://127.0.0.1:0", "--scenario", "x"], "unknown scenario"),
    ],
)
def test_bad_usage_exits_2_with_a_clear_message(args: list[str], message: str) -> None:
    done = qiyas(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
