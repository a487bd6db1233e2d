"""The broker: this probe's certificate, then a connection made with the agent's own MQTT client
(agent/uplink.py), so a pass here means the agent's connection will be accepted too."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
from datetime import UTC, datetime

from agent.config import BrokerConfig
from tools.doctor.results import FAIL, WARN, Context, Result, passed

CERT_RENEW_DAYS = 30
TLS_PROBE_TIMEOUT_S = 15.0
CERT_FIX = "install this probe's certificate from the national device CA (qiyas certs device)"


async def check_broker(ctx: Context) -> Result:
    import aiomqtt

    from agent.uplink import mqtt_client

    broker = ctx.config.broker
    problem = None
    if broker.tls and broker.cert:
        problem = _client_cert_problem(broker.cert, ctx.config.probe_id)
        if problem is not None and problem.status == FAIL:
            return problem
    try:
        client = mqtt_client(broker, f"qiyas-doctor-{ctx.config.probe_id}")
    except OSError as exc:  # broker.ca/cert/key unreadable or not a matching pair
        return Result("broker", FAIL, f"cannot load the broker TLS files: {exc}", CERT_FIX)
    try:
        async with client:
            pass
    except aiomqtt.MqttCodeError as exc:  # a CONNACK with a refusal code
        return Result(
            "broker",
            FAIL,
            f"{broker.url} refused the connection: {exc.rc}",
            "the broker does not accept this probe: ask the regulator to check its ACL",
        )
    except aiomqtt.MqttError as exc:
        return await _explain(broker, exc)
    accepted = dataclasses.replace(ctx, broker_accepted=True)
    if problem is not None:
        return problem._replace(learned=accepted)
    if not broker.tls:
        return Result(
            "broker",
            WARN,
            f"{broker.url} accepts plain MQTT: records travel unencrypted",
            "use mqtts:// with broker.ca, broker.cert and broker.key in production",
            accepted,
        )
    reason = f"{broker.url}: TLS and this probe's certificate accepted"
    return passed("broker", reason)._replace(learned=accepted)


async def _explain(broker: BrokerConfig, exc: Exception) -> Result:
    """Why the agent's client could not connect, in words a technician can act on."""
    # aiomqtt raises a connect() failure as MqttError(str(error)) from None: the socket's or the
    # TLS handshake's own error is still its __context__, and it says what went wrong.
    context = exc.__context__
    cause = context if isinstance(context, OSError) else None
    if broker.tls and (cause is None or isinstance(cause, TimeoutError)):
        # Connected, then no CONNACK: a TLS 1.3 broker checks the client's certificate after the
        # handshake, and paho's loop does not pass its alert on. Under TLS 1.2 the refusal comes
        # inside the handshake, where it reaches us as what it is.
        cause = await _tls12_refusal(broker) or cause
    if cause is None:
        return Result(
            "broker",
            FAIL,
            f"{broker.url} took the connection but gave no MQTT answer ({exc})",
            "check the broker URL names the national MQTT broker, and its port",
        )
    return _broker_failure(broker.url, cause, bool(broker.cert))


async def _tls12_refusal(broker: BrokerConfig) -> OSError | None:
    """A TLS handshake alone, capped at TLS 1.2, with the agent's TLS settings: the broker's
    refusal if it refuses, None if it accepts (or speaks only TLS 1.3, which says nothing)."""
    from agent.uplink import tls_context

    context = tls_context(broker)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(broker.host, broker.port, ssl=context), TLS_PROBE_TIMEOUT_S
        )
    except OSError as exc:
        version = isinstance(exc, ssl.SSLError) and "VERSION" in (exc.reason or "")
        return None if version else exc
    writer.close()
    with contextlib.suppress(OSError):  # ssl.SSLError is an OSError
        await writer.wait_closed()
    return None


def _client_cert_problem(path: str, probe: str) -> Result | None:
    """The probe's certificate read locally: unreadable, expired, soon expired, another probe's."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        with open(path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError) as exc:
        return Result("broker", FAIL, f"cannot read the client certificate {path}: {exc}", CERT_FIX)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    if common_name != probe:
        reason = f"the certificate names {common_name!r}, not {probe}"
        return Result("broker", FAIL, reason, CERT_FIX)
    left = cert.not_valid_after_utc - datetime.now(UTC)
    if left.total_seconds() <= 0:
        expired = cert.not_valid_after_utc.strftime("%Y-%m-%d")
        return Result("broker", FAIL, f"the client certificate expired on {expired}", CERT_FIX)
    if left.days < CERT_RENEW_DAYS:
        reason = f"the client certificate expires in {left.days} days"
        return Result("broker", WARN, reason, CERT_FIX)
    return None


def _lost_after_handshake(exc: OSError) -> bool:
    return isinstance(exc, ConnectionError) and not isinstance(exc, ConnectionRefusedError)


def _broker_failure(url: str, exc: OSError, presented_cert: bool) -> Result:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Result(
            "broker",
            FAIL,
            f"{url}: the broker's certificate is not trusted ({exc.verify_message})",
            "broker.ca must be the national CA file from the provisioning kit; check the clock "
            "(a wrong date makes good certificates look expired)",
        )
    refused_tls = isinstance(exc, ssl.SSLError) or _lost_after_handshake(exc)
    if refused_tls and not presented_cert:
        return Result(
            "broker",
            FAIL,
            f"{url} requires a client certificate and none was given",
            "set broker.cert and broker.key in the config (from qiyas certs device)",
        )
    if isinstance(exc, ssl.SSLError):
        alert = (exc.reason or str(exc)).lower().replace("_", " ")
        return Result(
            "broker",
            FAIL,
            f"{url} refused this probe's certificate ({alert})",
            "the client certificate must be issued to this probe by the national device CA "
            "and not be expired or revoked: get a new one (qiyas certs device)",
        )
    return Result(
        "broker",
        FAIL,
        f"cannot reach {url}: {_unreachable(exc)}",
        "check the internet link and the broker URL; the router must let this port out",
    )


def _unreachable(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, TimeoutError):
        return "no answer (a firewall may drop the traffic)"
    if isinstance(exc, socket.gaierror):
        return f"the name does not resolve ({exc.strerror})"
    return exc.strerror or str(exc) or type(exc).__name__
