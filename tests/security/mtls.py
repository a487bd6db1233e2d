"""The production transport, for tests: a device CA, and Mosquitto run from the configuration
`qiyas collector broker-config` generates (mutual TLS, identity as username, per-probe ACL)."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from collector import broker_config
from hil.mosquitto import free_port, wait_listening
from hil.pki import PKI, Identity

WAIT_S = 10.0


class SecureBroker:
    """Mosquitto from the generated production config, on a free loopback port."""

    def __init__(self, pki: PKI, workdir: Path) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.url = f"mqtts://{self.host}:{self.port}"
        self.ca = pki.ca
        self.log = workdir / "mosquitto.log"
        (workdir / "persist").mkdir(parents=True, exist_ok=True)
        settings = broker_config.BrokerSettings(
            ca=pki.ca,
            cert=pki.broker.cert,
            key=pki.broker.key,
            port=self.port,
            listen=self.host,
            persistence_dir=workdir / "persist",
            log_file=self.log,
            # Tests run as root here; Mosquitto would drop to `mosquitto`, which cannot read them.
            run_as="root" if os.geteuid() == 0 else "mosquitto",
        )
        self.conf, self.acl = broker_config.write(settings, workdir)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SecureBroker:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.host, self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Client:
    """A blocking MQTT 5 client over mutual TLS that reports the broker's reason codes, which
    aiomqtt hides: PUBACK and SUBACK say whether the ACL let a publish or subscription through."""

    def __init__(self, broker: SecureBroker, identity: Identity | None, client_id: str) -> None:
        self.broker = broker
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id, protocol=mqtt.MQTTv5)
        if identity is None:
            self.paho.tls_set(ca_certs=str(broker.ca))
        else:
            self.paho.tls_set(str(identity.ca), str(identity.cert), str(identity.key))
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._acks: dict[int, queue.Queue[list[ReasonCode]]] = {}
        self._connected: queue.Queue[tuple[str, ReasonCode]] = queue.Queue()
        self._lock = threading.Lock()
        self.paho.on_connect = lambda c, u, f, rc, p: self._connected.put(("connect", rc))
        self.paho.on_disconnect = lambda c, u, f, rc, p: self._connected.put(("disconnect", rc))
        self.paho.on_publish = lambda c, u, mid, rc, p: self._ack(mid, [rc])
        self.paho.on_subscribe = lambda c, u, mid, rcs, p: self._ack(mid, list(rcs))
        self.paho.on_message = lambda c, u, m: self.messages.put((m.topic, bytes(m.payload)))

    def _pending(self, mid: int) -> queue.Queue[list[ReasonCode]]:
        with self._lock:
            return self._acks.setdefault(mid, queue.Queue())

    def _ack(self, mid: int, codes: list[ReasonCode]) -> None:
        self._pending(mid).put(codes)

    def connect(self) -> tuple[str, ReasonCode]:
        """("connect", reason) if the broker let us in, ("disconnect", reason) if not."""
        self.paho.connect(self.broker.host, self.broker.port)
        self.paho.loop_start()
        return self.wait_connection_event()

    def wait_connection_event(self) -> tuple[str, ReasonCode]:
        return self._connected.get(timeout=WAIT_S)

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """QoS 1 publish; the PUBACK's reason code (0x87 "Not authorized" when the ACL refuses)."""
        info = self.paho.publish(topic, payload, qos=1)
        return self._pending(info.mid).get(timeout=WAIT_S)[0]

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.paho.subscribe(topic, qos=1)
        assert mid is not None
        return self._pending(mid).get(timeout=WAIT_S)[0]

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()
