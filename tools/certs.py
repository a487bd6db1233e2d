"""A small device CA for mutual TLS between probes, collectors and the broker.

`qiyas certs init --dir DIR` makes the CA and the broker's, a collector's and the controller's
certificates; `qiyas certs device --dir DIR --probe ID --out OUT` issues a probe's certificate at
provisioning; `qiyas certs service --dir DIR --name NAME@ORG --out OUT` another collector's.
The broker maps a client certificate's common name to its MQTT username and client id, so a
device certificate's CN is exactly its probe id and the ACL confines it to its own topics. A
service's CN is not a valid probe id (it holds an '@'), so no device certificate can name one.

Keys are ECDSA P-256 (every TLS stack of the boards we support speaks it); private keys are
written 0600 and never overwritten.

Layout of DIR: ca.pem ca.key broker.* collector.* controller.* (.pem certificate, .key key)
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.cli_contract import UsageError
from agent.core.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

COLLECTOR_IDENTITY = "collector@qiyas"
CONTROLLER_IDENTITY = "controller@qiyas"
CA_DAYS = 20 * 365
LEAF_DAYS = 5 * 365


class CertError(InvalidInput):
    """A certificate that cannot be issued or read; the text says why."""


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Qiyas"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CertError(f"{path} exists: refusing to overwrite a private key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_ca(directory: Path, name: str = "Qiyas device CA") -> Issued:
    """A self-signed CA (path length 0: it signs leaves only) in directory/ca.pem, ca.key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    issued = Issued(directory / "ca.pem", directory / "ca.key")
    _write_key(issued.key, key)
    _write_cert(issued.cert, cert)
    return issued


def load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    except OSError as exc:
        raise CertError(f"cannot read the CA in {directory}: {exc.strerror}") from None
    except ValueError as exc:
        raise CertError(f"the CA in {directory} is not PEM: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{directory / 'ca.key'} is not an EC private key")
    return cert, key


def issue(
    ca_dir: Path,
    common_name: str,
    out_dir: Path,
    stem: str,
    server_names: list[str] | None = None,
    uri: str | None = None,
) -> Issued:
    """A leaf certificate signed by the CA in ca_dir, written as out_dir/stem.pem and stem.key.

    server_names: DNS names and IP addresses for a TLS server (the broker); None for a client.
    uri: a URI subject alternative name (a device's `urn:qiyas:probe:ID`).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_cert, ca_key = load_ca(ca_dir)
    key = _new_key()
    now = _now()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    alt_names: list[x509.GeneralName] = []
    for name in server_names or []:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    if uri is not None:
        alt_names.append(x509.UniformResourceIdentifier(uri))
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    out_dir.mkdir(parents=True, exist_ok=True)
    issued = Issued(out_dir / f"{stem}.pem", out_dir / f"{stem}.key")
    _write_key(issued.key, key)
    _write_cert(issued.cert, cert)
    return issued


def issue_device(ca_dir: Path, probe: str, out_dir: Path) -> Issued:
    """A probe's client certificate: CN = probe id (its MQTT username at the broker)."""
    from agent.core.record import valid_probe_id

    if not valid_probe_id(probe):
        raise CertError(f"probe id {probe!r} is not 1..64 of letters, digits, '.', '_', '-'")
    return issue(ca_dir, probe, out_dir, "device", uri=f"urn:qiyas:probe:{probe}")


def issue_service(ca_dir: Path, name: str, out_dir: Path, stem: str) -> Issued:
    """A collector's or the controller's client certificate: CN = name, never a probe id."""
    from agent.core.record import valid_probe_id

    if valid_probe_id(name):
        # A device certificate could then carry this service's MQTT identity and its rights.
        raise CertError(f"service identity {name!r} must not be a valid probe id (add an '@')")
    return issue(ca_dir, name, out_dir, stem)


def init(
    directory: Path,
    broker_names: list[str],
    collector: str = COLLECTOR_IDENTITY,
    controller: str = CONTROLLER_IDENTITY,
) -> dict[str, Issued]:
    """The CA, the broker's server certificate, a collector's and the controller's."""
    from agent.core.record import valid_probe_id

    for name in (collector, controller):  # checked before anything is written
        if valid_probe_id(name):
            raise CertError(f"service identity {name!r} must not be a valid probe id (add an '@')")
    return {
        "ca": make_ca(directory),
        "broker": issue(directory, broker_names[0], directory, "broker", server_names=broker_names),
        "collector": issue_service(directory, collector, directory, "collector"),
        "controller": issue_service(directory, controller, directory, "controller"),
    }


# --- qiyas certs --------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    init_p = sub.add_parser(
        "init", help="make the CA, the broker's, a collector's and the controller's certificates"
    )
    init_p.add_argument("--dir", type=Path, required=True, help="where the CA and certificates go")
    init_p.add_argument(
        "--broker-name",
        action="append",
        default=None,
        help="DNS name or IP address of the broker (repeatable; default localhost, 127.0.0.1)",
    )
    init_p.add_argument("--collector-identity", default=COLLECTOR_IDENTITY)
    init_p.add_argument("--controller-identity", default=CONTROLLER_IDENTITY)
    device = sub.add_parser("device", help="issue a probe's certificate (at provisioning)")
    device.add_argument("--dir", type=Path, required=True, help="the CA directory")
    device.add_argument("--probe", required=True, help="probe id: the certificate's CN")
    device.add_argument("--out", type=Path, required=True, help="where device.pem/.key go")
    service = sub.add_parser("service", help="issue another collector's certificate")
    service.add_argument("--dir", type=Path, required=True, help="the CA directory")
    service.add_argument("--name", required=True, help="its CN, e.g. collector-2@qiyas")
    service.add_argument("--out", type=Path, required=True, help="where service.pem/.key go")
    for p in (init_p, device, service):
        p.add_argument("--json", action="store_true", help="print the files written as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "init":
            names = args.broker_name or ["localhost", "127.0.0.1"]
            issued = init(args.dir, names, args.collector_identity, args.controller_identity)
        elif args.action == "device":
            issued = {"device": issue_device(args.dir, args.probe, args.out)}
        else:
            issued = {"service": issue_service(args.dir, args.name, args.out, "service")}
    except CertError as exc:
        raise UsageError(str(exc)) from None
    files = {name: {"cert": str(i.cert), "key": str(i.key)} for name, i in issued.items()}
    if args.action != "init":
        files["ca"] = {"cert": str(args.dir / "ca.pem")}  # the client needs the CA, not its key
    if args.json:
        print(json.dumps(files))
    else:
        from rich.console import Console

        console = Console(stderr=True)
        for name, paths in files.items():
            console.print(
                f"{name}: {paths['cert']}" + (f" (key {paths['key']})" if "key" in paths else "")
            )
    return 0
