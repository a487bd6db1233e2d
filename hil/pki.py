"""A device CA for tests and the demo's mutual TLS: broker, collector, controller and probe
certificates made with `tools.certs`, plus a rogue CA the broker does not trust."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools import certs


@dataclass(frozen=True)
class Identity:
    """What a client needs for mutual TLS: the CA to trust and its own certificate and key."""

    ca: Path
    cert: Path
    key: Path


def tls_args(identity: Identity) -> list[str]:
    """The --ca/--cert/--key options of `qiyas collector run` and `qiyas command send`."""
    return ["--ca", str(identity.ca), "--cert", str(identity.cert), "--key", str(identity.key)]


class PKI:
    """The national device CA with the broker's, collector's and controller's certificates;
    probe certificates on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        issued = certs.init(root / "ca", ["localhost", "127.0.0.1"])
        self.ca = issued["ca"].cert
        self.broker = Identity(self.ca, issued["broker"].cert, issued["broker"].key)
        self.collector = Identity(self.ca, issued["collector"].cert, issued["collector"].key)
        self.controller = Identity(self.ca, issued["controller"].cert, issued["controller"].key)

    def device(self, probe: str, rogue: bool = False) -> Identity:
        """A probe certificate; rogue: signed by a CA the broker does not know."""
        issuer = "rogue" if rogue else "ca"
        if rogue and not (self.root / issuer).exists():
            certs.make_ca(self.root / issuer, name="Not the regulator")
        out = self.root / f"devices-{issuer}" / probe
        if not (out / "device.pem").exists():
            certs.issue_device(self.root / issuer, probe, out)
        # The probe still trusts the national CA to authenticate the broker.
        return Identity(self.ca, out / "device.pem", out / "device.key")
