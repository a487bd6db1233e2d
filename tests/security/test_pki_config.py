"""The device CA and the broker configuration generator: what they issue and write, and the
mistakes they refuse (with the reason, exit status 2 at the command line)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from collector import broker_config
from hil.fleet import qiyas
from hil.pki import PKI
from tools import certs


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_device_certificate_names_its_probe_and_is_signed_by_the_ca(pki: PKI) -> None:
    device = pki.device("ma-cas-0042")
    cert, ca = load(device.cert), load(pki.ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ma-cas-0042"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:qiyas:probe:ma-cas-0042"
    ]
    assert cert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    ).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    cert.verify_directly_issued_by(ca)
    assert device.key.stat().st_mode & 0o777 == 0o600


def test_the_broker_certificate_serves_its_names(pki: PKI) -> None:
    san = load(pki.broker.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


@pytest.mark.parametrize("probe", ["", "a/b", "+", "x" * 65, "probe b"])
def test_no_device_certificate_for_an_invalid_probe_id(
    pki: PKI, tmp_path: Path, probe: str
) -> None:
    with pytest.raises(certs.CertError, match="probe id"):
        certs.issue_device(pki.root / "ca", probe, tmp_path / "out")


def test_a_service_identity_cannot_be_a_probe_id(tmp_path: Path) -> None:
    with pytest.raises(certs.CertError, match="must not be a valid probe id"):
        certs.init(tmp_path, ["localhost"], collector="collector")
    assert not (tmp_path / "ca.pem").exists()  # refused before anything was written
    for identities, controller in ((("collector",), "controller@q"), (("c@q",), "controller")):
        settings = broker_config.BrokerSettings(
            ca=tmp_path,
            cert=tmp_path,
            key=tmp_path,
            collector_identities=identities,
            controller_identity=controller,
        )
        with pytest.raises(broker_config.BrokerConfigError, match="must not be a valid probe id"):
            settings.check()


def test_the_acl_confines_every_identity_to_its_own_topics() -> None:
    acl = broker_config.render_acl(("c1@qiyas", "c2@qiyas"), "controller@qiyas").splitlines()
    assert "pattern write qiyas/v1/probes/%u/records" in acl
    assert "pattern read qiyas/v1/probes/%u/commands" in acl
    probe_rules = [line for line in acl if line.startswith("pattern ")]
    assert all("%u" in line for line in probe_rules)  # no probe rule names another's topic
    blocks = "\n".join(acl).split("\nuser ")[1:]
    rights = {
        block.splitlines()[0]: [r for r in block.splitlines() if r.startswith("topic ")]
        for block in blocks
    }
    for collector in ("c1@qiyas", "c2@qiyas"):
        assert "topic write qiyas/v1/probes/+/acks" in rights[collector]
        assert not any("commands" in line for line in rights[collector])
    assert rights["controller@qiyas"] == ["topic write qiyas/v1/probes/+/commands"]


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(qiyas(*argv), capture_output=True, text=True, timeout=60, check=False)


def test_the_commands_write_files_and_refuse_mistakes(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    done = cli("certs", "init", "--dir", str(ca), "--json")
    assert done.returncode == 0, done.stderr
    assert Path(json.loads(done.stdout)["broker"]["cert"]).is_file()
    device = cli(
        "certs", "device", "--dir", str(ca), "--probe", "p1", "--out", str(tmp_path / "p1")
    )
    assert device.returncode == 0, device.stderr
    again = cli("certs", "device", "--dir", str(ca), "--probe", "p1", "--out", str(tmp_path / "p1"))
    assert again.returncode == 2 and "refusing to overwrite a private key" in again.stderr
    broker_files = ["--cert", str(ca / "broker.pem"), "--key", str(ca / "broker.key")]
    out = ["--out", str(tmp_path / "conf")]
    conf = cli(
        "collector", "broker-config", *out, "--ca", str(ca / "ca.pem"), *broker_files, "--json"
    )
    assert conf.returncode == 0, conf.stderr
    text = Path(json.loads(conf.stdout)["config"]).read_text()
    assert "require_certificate true" in text and "use_identity_as_username true" in text
    missing = cli("collector", "broker-config", *out, "--ca", "/nonexistent.pem", *broker_files)
    assert missing.returncode == 2 and "/nonexistent.pem does not exist" in missing.stderr
