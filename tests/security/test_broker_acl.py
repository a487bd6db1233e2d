"""The broker, from the generated production config, against clients that should not get through:
no certificate, a certificate from another CA, a probe writing or reading another probe's topics,
a probe posing as the collector, an oversized packet. Real Mosquitto, real mutual TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from mtls import WAIT_S, Client, SecureBroker
from paho.mqtt.reasoncodes import ReasonCode

from agent.core import topics
from hil.pki import PKI

NOT_AUTHORIZED = 0x87
SHARED = topics.shared_records()
SHARED_STATUS = topics.SHARED_GROUP + topics.PREFIX + "+/status"


def granted(code: ReasonCode) -> bool:
    return not code.is_failure


@pytest.fixture
def clients(secure_broker: SecureBroker, pki: PKI) -> Iterator[dict[str, Client]]:
    """probe-a, probe-b, the collector and the controller, connected."""
    made = {}
    for name, identity in (
        ("probe-a", pki.device("probe-a")),
        ("probe-b", pki.device("probe-b")),
        ("collector", pki.collector),
        ("controller", pki.controller),
    ):
        client = Client(secure_broker, identity, f"test-{name}")
        kind, code = client.connect()
        assert kind == "connect" and granted(code), (name, code)
        made[name] = client
    yield made
    for client in made.values():
        client.close()


def refused_at_connect(client: Client) -> bool:
    try:
        kind, _ = client.connect()
    except (ssl.SSLError, OSError):
        return True
    finally:
        client.paho.loop_stop()
    return kind == "disconnect"


def test_a_client_without_a_certificate_is_turned_away(secure_broker: SecureBroker) -> None:
    assert refused_at_connect(Client(secure_broker, None, "anonymous"))
    assert "certificate" in secure_broker.log.read_text()  # the broker logs why


def test_a_certificate_from_another_ca_is_turned_away(
    secure_broker: SecureBroker, pki: PKI, tmp_path: Path
) -> None:
    rogue = PKI(tmp_path / "rogue")
    # Same probe id, same CN, a CA the broker does not trust: still refused.
    forged = rogue.device("probe-a")
    identity = type(forged)(pki.ca, forged.cert, forged.key)
    assert refused_at_connect(Client(secure_broker, identity, "rogue"))
    assert "certificate verify failed" in secure_broker.log.read_text()


def test_a_probe_writes_only_its_own_records_and_status(clients: dict[str, Client]) -> None:
    a = clients["probe-a"]
    assert granted(a.publish(topics.records("probe-a"), b"own record"))
    assert granted(a.publish(topics.status("probe-a"), b"own status"))
    for topic in (
        topics.records("probe-b"),  # probe A posing as probe B
        topics.status("probe-b"),
        topics.acks("probe-a"),  # acks and commands come only from the collector
        topics.commands("probe-a"),
        topics.commands("probe-b"),
        "qiyas/v1/feed/health",
    ):
        assert a.publish(topic, b"forged") == NOT_AUTHORIZED, topic


def test_what_the_acl_refuses_never_reaches_the_collector(clients: dict[str, Client]) -> None:
    a, collector = clients["probe-a"], clients["collector"]
    assert granted(collector.subscribe(SHARED))
    a.publish(topics.records("probe-b"), b"posing as B")
    a.publish(topics.records("probe-a"), b"barrier")
    # Same publisher, same QoS: delivered in order, so the barrier comes after anything earlier.
    assert collector.messages.get(timeout=WAIT_S) == (topics.records("probe-a"), b"barrier")
    assert collector.messages.empty()


def test_a_probe_reads_only_its_own_acks_and_commands(clients: dict[str, Client]) -> None:
    a, collector, controller = clients["probe-a"], clients["collector"], clients["controller"]
    assert granted(a.subscribe(topics.acks("probe-a")))
    assert granted(a.subscribe(topics.commands("probe-a")))
    # The subscribe-ACL plugin refuses the rest; the read ACL still checks every delivery.
    for topic in (topics.acks("probe-b"), topics.commands("probe-b"), SHARED, "qiyas/v1/#"):
        assert a.subscribe(topic) == NOT_AUTHORIZED, topic
    assert granted(collector.publish(topics.acks("probe-b"), b"for B"))
    assert granted(controller.publish(topics.commands("probe-b"), b"command for B"))
    clients["probe-b"].publish(topics.records("probe-b"), b"B's record")
    assert granted(controller.publish(topics.commands("probe-a"), b"command for A"))
    assert granted(collector.publish(topics.acks("probe-a"), b"for A"))
    # Publishes are delivered in order: the collector's last one comes after the controller's.
    received = []
    while (topics.acks("probe-a"), b"for A") not in received:
        received.append(a.messages.get(timeout=WAIT_S))
    assert set(received) == {
        (topics.acks("probe-a"), b"for A"),
        (topics.commands("probe-a"), b"command for A"),
    }


def test_an_oversized_packet_is_refused_by_the_broker(clients: dict[str, Client]) -> None:
    a, collector = clients["probe-a"], clients["collector"]
    assert granted(collector.subscribe(SHARED))
    a.paho.publish(topics.records("probe-a"), b"x" * 20_000, qos=1)
    kind, _ = a.wait_connection_event()
    assert kind == "disconnect"
    b = clients["probe-b"]
    b.publish(topics.records("probe-b"), b"barrier")
    assert collector.messages.get(timeout=WAIT_S) == (topics.records("probe-b"), b"barrier")
    assert collector.messages.empty()


def test_collector_and_controller_each_have_only_their_own_rights(
    clients: dict[str, Client],
) -> None:
    collector, controller = clients["collector"], clients["controller"]
    assert granted(collector.publish(topics.acks("probe-a"), b"ack"))
    assert collector.publish(topics.commands("probe-a"), b"command") == NOT_AUTHORIZED
    assert granted(controller.publish(topics.commands("probe-a"), b"command"))
    assert controller.publish(topics.acks("probe-a"), b"ack") == NOT_AUTHORIZED
    assert controller.publish(topics.records("probe-a"), b"record") == NOT_AUTHORIZED
    # The controller reads no records: a probe's record reaches the collector only.
    controller.subscribe("qiyas/v1/#")
    assert granted(collector.subscribe(SHARED))
    clients["probe-a"].publish(topics.records("probe-a"), b"record")
    assert collector.messages.get(timeout=WAIT_S) == (topics.records("probe-a"), b"record")
    assert granted(collector.publish(topics.acks("probe-a"), b"barrier"))
    assert controller.messages.empty()


def test_a_probe_cannot_take_over_another_probes_session(
    clients: dict[str, Client], secure_broker: SecureBroker, pki: PKI
) -> None:
    """The client id is the certificate's CN: A connecting under B's client id stays A."""
    b = clients["probe-b"]
    impostor = Client(secure_broker, pki.device("probe-a"), "test-probe-b")  # B's client id
    try:
        assert impostor.connect()[0] == "connect"
        assert granted(b.publish(topics.records("probe-b"), b"still here"))
        assert b._connected.empty(), "probe-b was disconnected by a client posing as it"
    finally:
        impostor.close()


@pytest.mark.parametrize(
    "topic",
    [
        SHARED,
        SHARED_STATUS,
        "$share/collectors/#",
        "$share/other-group/qiyas/v1/probes/+/records",
        topics.PREFIX + "+/acks",
        topics.PREFIX + "probe-a/#",
        topics.acks("probe-a") + "/more",
    ],
)
def test_a_probe_cannot_subscribe_outside_its_own_acks_and_commands(
    clients: dict[str, Client], topic: str
) -> None:
    assert clients["probe-a"].subscribe(topic) == NOT_AUTHORIZED
    assert clients["controller"].subscribe(topic) == NOT_AUTHORIZED


def test_with_a_probe_trying_to_join_the_group_the_collectors_get_every_message(
    clients: dict[str, Client], secure_broker: SecureBroker, pki: PKI
) -> None:
    """The finding: a probe in $share/collectors took half of all records and status messages.
    Now its SUBSCRIBE is refused, also with a persistent session, and the collector gets 100 %."""
    collector = clients["collector"]
    assert granted(collector.subscribe(SHARED)) and granted(collector.subscribe(SHARED_STATUS))
    attacker = clients["probe-b"]
    assert attacker.subscribe(SHARED) == NOT_AUTHORIZED
    assert attacker.subscribe(SHARED_STATUS) == NOT_AUTHORIZED
    a = clients["probe-a"]
    sent = []
    for n in range(100):
        sent.append((topics.records("probe-a"), b"record %d" % n))
        if n % 5 == 0:
            sent.append((topics.status("probe-a"), b"status %d" % n))
    for topic, payload in sent:
        assert granted(a.publish(topic, payload))
    received = [collector.messages.get(timeout=WAIT_S) for _ in sent]
    assert sorted(received) == sorted(sent)
    assert attacker.messages.empty()
