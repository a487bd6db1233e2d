"""`qiyas doctor` against the emulated modem and ONT, a real measurement server, a real broker
with mutual TLS and a real collector: a healthy install passes; each fault yields its own fail
line with its fix."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    PKI,
    PROBE,
    Identity,
    TlsBroker,
    provision,
    run_qiyas,
    start_collector,
    tls_args,
)

from agent.outbox import peek
from collector.store import open_store
from hil.ont.stick_sshd import SSHD, StickSshd

Register = Callable[[dict[str, Any]], None]


class Collector:
    """`qiyas collector run` on the test's broker; register(bundle) adds a provisioned probe's
    key to its registry, as the regulator does with the bundle."""

    def __init__(self, tmp_path: Path, broker: TlsBroker, pki: PKI) -> None:
        self.db = tmp_path / "collector.db"
        self.bundle = tmp_path / "bundle.json"
        self.process = start_collector(
            broker.url, self.db, tmp_path / "collector.log", *tls_args(pki.collector)
        )

    def register(self, bundle: dict[str, Any]) -> None:
        self.bundle.write_text(json.dumps(bundle))
        done = run_qiyas("collector", "keys", "add", "--db", str(self.db), "--bundle",
                         str(self.bundle), "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr

    def stored(self) -> list[dict[str, Any]]:
        with open_store(str(self.db)) as store:
            return [row.record for row in store.records()]


@pytest.fixture
def collector(tmp_path: Path, tls_broker: TlsBroker, pki: PKI) -> Iterator[Collector]:
    running = Collector(tmp_path, tls_broker, pki)
    yield running
    running.process.stop()


STICK_CAPTURES = Path(__file__).resolve().parents[1] / "ont" / "stick_captures"


def install(
    tmp_path: Path,
    start: Callable[..., dict[str, Any]],
    broker: TlsBroker,
    identity: Identity,
    collector: Collector,
    modem: str = "healthy",
    ont: str = "healthy",
) -> Path:
    """A provisioned probe, registered with the collector, whose modem and ONT are emulators in
    the given scenarios."""
    port = start("hil", "modem", "--dialect", "quectel", "--scenario", modem)["port"]
    transport = start("hil", "ont", "--listen", "udp://127.0.0.1:0", "--scenario", ont)["listen"]
    server = start("server", "--listen", "127.0.0.1:0", "--json")
    where = f"127.0.0.1:{server['port']}"
    config, bundle = provision(tmp_path, broker.url, identity, "--server", where)
    collector.register(bundle)
    with config.open("a") as f:
        f.write(f'[modem]\nport = "{port}"\n[ont]\ntransport = "{transport}"\n')
    return config


def doctor(config: Path) -> tuple[int, dict[str, dict[str, str]]]:
    done = run_qiyas("doctor", "-c", str(config), "--json")
    doc = json.loads(done.stdout)
    assert doc["ok"] == (done.returncode == 0)
    return done.returncode, {c["check"]: c for c in doc["checks"]}


def test_healthy_install_passes(
    tmp_path: Path,
    start: Callable[..., dict[str, Any]],
    tls_broker: TlsBroker,
    pki: PKI,
    collector: Collector,
) -> None:
    config = install(tmp_path, start, tls_broker, pki.device(PROBE), collector)
    code, checks = doctor(config)
    assert code == 0
    for name in ("config", "probe key", "modem port", "SIM", "registration", "signal", "ONT",
                 "optical levels", "measurement server", "broker", "outbox",
                 "delivery"):  # fmt: skip
        assert checks[name]["status"] == "pass", checks[name]
    # The test record went the agent's way: signed, verified and stored by the collector.
    (test_record,) = [r for r in collector.stored() if r["kind"] == "status"]
    assert test_record["probe"] == PROBE
    assert test_record["values"]["event"] == "doctor"
    assert "Quectel" in checks["modem port"]["reason"]
    assert "RSRP" in checks["signal"]["reason"]
    assert "TLS and this probe's certificate accepted" in checks["broker"]["reason"]
    # Nothing to resolve: every address is a literal.
    assert checks["DNS"]["status"] == "skip"


FAULTS = [
    # (modem scenario, ONT scenario, rogue certificate, check, reason says, fix says)
    ("no-sim", "healthy", False, "SIM", "SIM not ready", "insert the operator's data SIM"),
    ("weak-signal", "healthy", False, "signal", "RSRP -125 dBm", "antenna"),
    ("hang", "healthy", False, "modem port", "no answer to AT", "power-cycle the modem"),
    (
        "healthy",
        "dirty-fibre",
        False,
        "optical levels",
        "received light too low",
        "clean the fibre connector",
    ),
    (
        "healthy",
        "healthy",
        True,
        "broker",
        "refused this probe's certificate",
        "national device CA",
    ),
]


@pytest.mark.parametrize(("modem", "ont", "rogue", "check", "reason", "fix"), FAULTS)
def test_each_fault_fails_with_its_fix(
    tmp_path: Path,
    start: Callable[..., dict[str, Any]],
    tls_broker: TlsBroker,
    pki: PKI,
    collector: Collector,
    modem: str,
    ont: str,
    rogue: bool,
    check: str,
    reason: str,
    fix: str,
) -> None:
    config = install(tmp_path, start, tls_broker, pki.device(PROBE, rogue), collector, modem, ont)
    code, checks = doctor(config)
    assert code == 1
    assert checks[check]["status"] == "fail"
    assert reason in checks[check]["reason"]
    assert fix in checks[check]["fix"]
    # Only the fault fails: the other parts are still seen as healthy.
    failed = [name for name, c in checks.items() if c["status"] == "fail"]
    assert failed == [check]


@pytest.mark.parametrize(
    ("tls", "reason", "fix"),
    [
        # The probe holds no client certificate at all.
        ("ca-only", "requires a client certificate", "set broker.cert and broker.key"),
        # The probe trusts another CA than the one that signed the broker.
        ("wrong-ca", "the broker's certificate is not trusted", "national CA file"),
    ],
)
def test_broker_tls_mistakes(
    tmp_path: Path, tls_broker: TlsBroker, pki: PKI, tls: str, reason: str, fix: str
) -> None:
    device = pki.device(PROBE)
    if tls == "ca-only":
        options = ["--ca", str(device.ca)]
    else:
        rogue_ca = pki.root / "rogue" / "ca.pem"
        options = ["--ca", str(rogue_ca), "--cert", str(device.cert), "--key", str(device.key)]
    config, _ = provision(tmp_path, tls_broker.url, None, "--board", "generic-linux", *options)
    code, checks = doctor(config)
    assert code == 1
    assert checks["broker"]["status"] == "fail"
    assert reason in checks["broker"]["reason"]
    assert fix in checks["broker"]["fix"]
    # Parts the board does not have are skipped, with the reason.
    assert checks["modem port"]["status"] == "skip" and "no modem" in checks["modem port"]["reason"]
    assert checks["ONT"]["status"] == "skip"


def test_no_sim_does_not_blame_registration_or_signal(
    tmp_path: Path,
    start: Callable[..., dict[str, Any]],
    tls_broker: TlsBroker,
    pki: PKI,
    collector: Collector,
) -> None:
    config = install(tmp_path, start, tls_broker, pki.device(PROBE), collector, modem="no-sim")
    _, checks = doctor(config)
    for name in ("registration", "signal"):
        assert checks[name]["status"] == "skip"
        assert checks[name]["reason"] == "the SIM is not ready"


def test_missing_modem_port_and_silent_ont(
    tmp_path: Path,
    start: Callable[..., dict[str, Any]],
    tls_broker: TlsBroker,
    pki: PKI,
    collector: Collector,
) -> None:
    """The modem unplugged, the ONT not answering on the configured address."""
    server = start("server", "--listen", "127.0.0.1:0", "--json")
    where = f"127.0.0.1:{server['port']}"
    config, bundle = provision(tmp_path, tls_broker.url, pki.device(PROBE), "--server", where)
    collector.register(bundle)
    with config.open("a") as f:
        f.write('[modem]\nport = "/dev/ttyQIYAS-absent"\n')
        f.write('[ont]\ntransport = "udp://127.0.0.1:9"\ntimeout_s = 0.2\nretries = 0\n')
    code, checks = doctor(config)
    assert code == 1
    assert checks["modem port"]["status"] == "fail"
    assert "/dev/ttyQIYAS-absent does not exist" in checks["modem port"]["reason"]
    assert "/dev/serial/by-id" in checks["modem port"]["fix"]
    assert checks["SIM"]["status"] == "skip"
    assert checks["ONT"]["status"] == "fail"
    assert "no OMCI answer" in checks["ONT"]["reason"]
    assert checks["optical levels"]["status"] == "skip"


def test_measurement_server_not_answering(
    tmp_path: Path, tls_broker: TlsBroker, pki: PKI, collector: Collector
) -> None:
    config, bundle = provision(
        tmp_path, tls_broker.url, pki.device(PROBE), "--board", "generic-linux",
        "--server", "127.0.0.1:9",
    )  # fmt: skip
    collector.register(bundle)
    code, checks = doctor(config)
    assert code == 1
    assert checks["measurement server"]["status"] == "fail"
    assert "no STAMP reply from 127.0.0.1:9" in checks["measurement server"]["reason"]
    assert "UDP and TCP port 9" in checks["measurement server"]["fix"]


def test_a_record_no_collector_acknowledges_waits_in_the_outbox(
    tmp_path: Path, tls_broker: TlsBroker, pki: PKI, collector: Collector
) -> None:
    """The collector runs but does not know this probe's key yet: it acknowledges nothing, so
    the doctor warns and its test record stays in the outbox. Once the regulator registers the
    bundle, the next run delivers that record too: the agent's uplink resends it."""
    config, bundle = provision(
        tmp_path, tls_broker.url, pki.device(PROBE), "--board", "generic-linux",
        "--server", "127.0.0.1:9",
    )  # fmt: skip
    _, checks = doctor(config)
    assert checks["delivery"]["status"] == "warn"
    assert "no collector acknowledged it in 10 s" in checks["delivery"]["reason"]
    assert "register this probe's bundle" in checks["delivery"]["fix"]
    waiting = peek(tmp_path / "state" / "outbox.db").waiting
    assert len(waiting) == 1
    collector.register(bundle)
    _, checks = doctor(config)
    assert checks["delivery"]["status"] == "pass", checks["delivery"]
    assert checks["outbox"]["reason"].startswith("1 records waiting")
    assert not peek(tmp_path / "state" / "outbox.db").waiting
    stored = [r for r in collector.stored() if r["kind"] == "status"]
    assert sorted(r["seq"] for r in stored) == [min(waiting), min(waiting) + 1]


def test_broken_config_fails_first_and_skips_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('probe_id = "ma 06"\n')
    code, checks = doctor(config)
    assert code == 1
    assert checks["config"]["status"] == "fail"
    assert "probe_id" in checks["config"]["reason"]
    assert {c["status"] for name, c in checks.items() if name != "config"} == {"skip"}


def test_human_output_ends_with_the_table_and_verdict(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('probe_id = "ma 06"\n')
    done = run_qiyas("doctor", "-c", str(config))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "qiyas doctor" in done.stderr and "installation needs fixing" in done.stderr
    assert "correct the file" in done.stderr


def test_human_output_keeps_config_section_names(tmp_path: Path) -> None:
    config, _ = provision(tmp_path, "mqtt://127.0.0.1:9", None, "--board", "generic-linux")
    done = run_qiyas("doctor", "-c", str(config))
    assert "[schedule]" in done.stderr  # "no radio polling in [schedule]", not eaten as markup
    _, checks = doctor(config)
    assert checks["broker"]["reason"].startswith("cannot reach mqtt://127.0.0.1:9: connection re")


def test_missing_config_is_bad_usage(tmp_path: Path) -> None:
    done = run_qiyas("doctor", "-c", str(tmp_path / "absent.toml"))
    assert done.returncode == 2
    assert "qiyas provision writes it" in done.stderr


@pytest.mark.skipif(shutil.which("ethtool") is None, reason="ethtool not installed")
def test_an_sfp_optical_source_is_read_from_the_stick(
    tmp_path: Path, tls_broker: TlsBroker, pki: PKI, collector: Collector
) -> None:
    """[ont] source = "sfp": the doctor reads the stick's diagnostics, not OMCI. The real ethtool
    against the loopback, which has no module: the fail says so and what to check."""
    device = pki.device(PROBE)
    config, bundle = provision(tmp_path, tls_broker.url, device, "--server", "127.0.0.1:9")
    collector.register(bundle)
    with config.open("a") as f:
        f.write('[ont]\nsource = "sfp"\niface = "lo"\n')
    _, checks = doctor(config)
    assert checks["ONT"]["status"] == "fail"
    assert "no SFP module diagnostics on lo" in checks["ONT"]["reason"]
    assert "not supported" in checks["ONT"]["reason"]
    assert "SFP ONT stick" in checks["ONT"]["fix"]
    assert checks["optical levels"]["status"] == "skip"


@pytest.mark.skipif(
    not Path(SSHD).exists() or shutil.which("ssh") is None, reason="needs openssh-server/client"
)
@pytest.mark.parametrize("scenario", ["lantiq", "lantiq-o1"])
def test_a_stick_shell_source_is_read_over_ssh(
    tmp_path: Path, tls_broker: TlsBroker, pki: PKI, collector: Collector, scenario: str
) -> None:
    """[ont] source = "stick-shell": the doctor reads the stick through a real sshd whose shell
    replays published captures; a stick the OLT has not taken into service (O1) is a warning."""
    server = StickSshd(tmp_path / "sshd", STICK_CAPTURES, scenario)
    target = server.start()
    identity = pki.device(PROBE)
    try:
        config, bundle = provision(tmp_path, tls_broker.url, identity, "--server", "127.0.0.1:9")
        collector.register(bundle)
        with config.open("a") as f:
            f.write(
                f'[ont]\nsource = "stick-shell"\ndialect = "lantiq"\nhost = "{target.host}"\n'
                f'port = {target.port}\nuser = "{target.user}"\nidentity = "{target.identity}"\n'
                f'known_hosts = "{target.known_hosts}"\nssh_config = "{target.ssh_config}"\n'
            )
        _, checks = doctor(config)
    finally:
        server.close()
    if scenario == "lantiq":
        assert checks["ONT"]["status"] == "pass", checks["ONT"]
        assert checks["ONT"]["reason"].endswith(f":{target.port}, PLOAM O5, OLT HWTC")
    else:
        assert checks["ONT"]["status"] == "warn"
        assert "PLOAM state O1, not O5" in checks["ONT"]["reason"]
    # -17.57 dBm against G.984.2 class B+ (-28..-8): the otop capture's levels
    assert checks["optical levels"]["status"] == "pass", checks["optical levels"]
    assert checks["optical levels"]["reason"].startswith("RX -17.6 dBm (limits -28..-8), TX 2.5")
