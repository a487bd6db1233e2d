"""The stick-shell source over a real SSH connection: Debian's sshd on a loopback port with a
throwaway host key and user key, whose ForceCommand is the emulated stick shell replaying the
published captures (hil/ont/stick_shell.py); the client is the system's OpenSSH `ssh`."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pycddl
import pytest

from agent.core import record
from agent.ont import stick_shell, stick_ssh
from agent.ont.stick_shell import OMCI_PIPE_OLT_G, OMCICLI_ANI_G, OTOP_STATUS, PLOAM_STATE
from agent.ont.stick_source import StickShellSource
from agent.ont.stick_ssh import SshTarget, StickShellError
from agent.sources import LinkState
from hil.ont.stick_sshd import SSHD, StickSshd

CAPTURES = Path(__file__).resolve().parent / "stick_captures"
CDDL = (Path(__file__).resolve().parents[2] / "agent/core/record.cddl").read_text()
QIYAS = str(Path(sys.executable).with_name("qiyas"))

pytestmark = pytest.mark.skipif(
    not Path(SSHD).exists() or shutil.which("ssh") is None,
    reason="needs Debian's openssh-server and openssh-client (scripts/setup installs them)",
)


def stick(tmp_path: Path, scenario: str, timeout_s: float = 10.0) -> Iterator[SshTarget]:
    server = StickSshd(tmp_path / "sshd", CAPTURES, scenario)
    try:
        yield server.start(timeout_s=timeout_s)
    finally:
        server.close()


@pytest.fixture
def lantiq(tmp_path: Path) -> Iterator[SshTarget]:
    yield from stick(tmp_path, "lantiq")


@pytest.fixture
def realtek(tmp_path: Path) -> Iterator[SshTarget]:
    yield from stick(tmp_path, "realtek")


def capture(name: str) -> str:
    return (CAPTURES / name).read_text()


async def test_the_outputs_arrive_byte_for_byte(lantiq: SshTarget) -> None:
    outputs = await stick_ssh.read_outputs(lantiq, stick_shell.COMMANDS["lantiq"])
    assert outputs == {
        OTOP_STATUS: capture("lantiq-fs-gpon-onu-34-20bi.otop-status.txt"),
        PLOAM_STATE: capture("lantiq-pmg3000-d20b.ploamsg-o5.txt"),
        OMCI_PIPE_OLT_G: capture("lantiq-fs-gpon-onu-34-20bi.omci_pipe-meg-131-0.txt"),
    }


async def test_the_agent_source_over_ssh_makes_a_valid_record(realtek: SshTarget) -> None:
    source = StickShellSource(realtek, "realtek")
    link = LinkState()
    (measurement,) = await source.measure(link)
    assert link.optical == {"rx_dbm": -21.306, "tx_dbm": 2.454}
    assert measurement.values == {
        "rx_dbm": -21.306,
        "tx_dbm": 2.454,
        "thresholds_crossed": [],
        "optical_source": "stick-shell",
    }
    versions = {"agent": "t", "board": "test-stick", "firmware": "linux"}
    encoded = record.encode(
        "ftth-1", 1, 7, 1_780_000_000_000, True, "optical", measurement.values, versions
    )
    pycddl.Schema(CDDL).validate_cbor(encoded)


async def test_a_command_the_stick_lacks_fails_with_its_shells_words(realtek: SshTarget) -> None:
    source = StickShellSource(realtek, "lantiq")  # the wrong dialect for a Realtek stick
    link = LinkState()
    link.optical = {"rx_dbm": -20.0}
    with pytest.raises(StickShellError, match="-ash: otop: not found"):
        await source.measure(link)
    assert link.optical is None  # no stale level


async def test_a_wedged_stick_is_given_up_on_in_bounded_time(tmp_path: Path) -> None:
    for target in stick(tmp_path, "hang", timeout_s=1.5):
        started = time.monotonic()
        with pytest.raises(StickShellError, match=r"did not finish in 1\.5 s"):
            await stick_ssh.run(target, OTOP_STATUS)
        assert time.monotonic() - started < 5


def new_key(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, timeout=30)  # fmt: skip
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


async def test_a_host_key_that_is_not_the_sticks_is_refused(
    lantiq: SshTarget, tmp_path: Path
) -> None:
    other = tmp_path / "other_known_hosts"  # as if another machine answered at its address
    other.write_text(f"[127.0.0.1]:{lantiq.port} {new_key(tmp_path / 'other_host_key')}\n")
    refused = r"ssh root@127\.0\.0\.1.*Host key verification failed"
    with pytest.raises(StickShellError, match=refused):
        await stick_ssh.run(lantiq._replace(known_hosts=str(other)), OTOP_STATUS)


async def test_no_key_no_password_prompt(lantiq: SshTarget, tmp_path: Path) -> None:
    new_key(tmp_path / "stranger_key")
    stranger = lantiq._replace(identity=str(tmp_path / "stranger_key"))
    with pytest.raises(StickShellError, match="Permission denied"):
        await asyncio.wait_for(stick_ssh.run(stranger, PLOAM_STATE), 20)


def test_options_cannot_be_smuggled_in_through_the_host() -> None:
    with pytest.raises(StickShellError, match="not a host name"):
        SshTarget("-oProxyCommand=touch /tmp/x").check()
    argv = stick_ssh.ssh_argv(SshTarget("192.168.1.10"), OMCICLI_ANI_G)
    assert argv[-3:] == ["--", "192.168.1.10", OMCICLI_ANI_G]
    assert "BatchMode=yes" in argv and "StrictHostKeyChecking=yes" in argv


def qiyas_info(target: SshTarget, dialect: str) -> subprocess.CompletedProcess[str]:
    args = [QIYAS, "ont", "info", "--source", "stick-shell", "--host", target.host,
            "--port", str(target.port), "--user", target.user, "--dialect", dialect,
            "--identity", str(target.identity), "--known-hosts", str(target.known_hosts),
            "--ssh-config", str(target.ssh_config), "--json"]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_qiyas_ont_info_reads_a_lantiq_stick(lantiq: SshTarget) -> None:
    done = qiyas_info(lantiq, "lantiq")
    assert done.returncode == 0, done.stderr
    reading = json.loads(done.stdout)
    assert (reading["ploam_state"], reading["olt_vendor_id"]) == ("O5", "HWTC")
    assert reading["optical"] == {
        "rx_dbm": -17.57, "tx_dbm": 2.55, "temperature_c": 45.85, "bias_ma": 8.72,
        "voltage_v": 3.2068, "rx_low_threshold_dbm": None, "rx_high_threshold_dbm": None,
        "tx_low_threshold_dbm": None, "tx_high_threshold_dbm": None,
    }  # fmt: skip
    assert reading["unknown"]["rx_low_threshold_dbm"] == (
        "otop's status table has no alarm thresholds"
    )


def test_qiyas_ont_info_fails_with_exit_1_and_says_why(realtek: SshTarget) -> None:
    done = qiyas_info(realtek, "lantiq")
    assert done.returncode == 1
    assert "-ash: otop: not found" in json.loads(done.stdout)["error"]


def test_qiyas_hil_stick_serves_until_stopped() -> None:
    proc = subprocess.Popen(
        [QIYAS, "hil", "stick", "--captures", str(CAPTURES), "--scenario", "realtek"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        where = json.loads(proc.stdout.readline())  # the first line says how to reach it
        target = SshTarget(*(where[k] for k in SshTarget._fields))
        done = qiyas_info(target, where["dialect"])
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["optical"]["rx_dbm"] == -21.306
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert not Path(str(where["identity"])).exists()  # its keys went with it
