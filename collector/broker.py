"""How the collector reaches the MQTT broker: URL, TLS files, and the aiomqtt client it makes."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.core.errors import InvalidInput

# How long the broker keeps our session (subscription and queued records) while we are away.
SESSION_EXPIRY_S = 24 * 3600


class BrokerURLError(InvalidInput):
    pass


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def client(self, client_id: str) -> aiomqtt.Client:
        """An MQTT 5 client with a persistent session under client_id."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        tls_params = None
        if self.tls:
            tls_params = aiomqtt.TLSParameters(
                ca_certs=str(self.ca) if self.ca else None,
                certfile=str(self.cert) if self.cert else None,
                keyfile=str(self.key) if self.key else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            tls_params=tls_params,
            keepalive=30,
            # Unbounded by default; bounded so a flood waits at the broker, not in our memory.
            max_queued_incoming_messages=10000,
            # Acks of a batch go out together; paho's default of 20 in flight would queue them.
            max_inflight_messages=100,
        )


def parse_broker(
    url: str, ca: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> Broker:
    """mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; TLS is also implied by any of ca/cert/key."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise BrokerURLError(f"broker URL {url!r} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    tls = parts.scheme == "mqtts" or any(p is not None for p in (ca, cert, key))
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerURLError(f"broker URL {url!r} has an invalid port") from None
    if (cert is None) != (key is None):
        raise BrokerURLError("--cert and --key go together")
    for path in (ca, cert, key):
        if path is not None and not path.is_file():
            raise BrokerURLError(f"TLS file {path} does not exist")
    return Broker(parts.hostname, port, tls, ca, cert, key)
