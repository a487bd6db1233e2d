"""Signed commands from the controller to one probe, on qiyas/v1/probes/{probe}/commands.

A command is a COSE_Sign1 (the envelope of records) signed by the controller's Ed25519 key, whose
kid the probe pins. The payload is a CBOR map with small integer keys:

    1 version   2 probe   3 counter   4 expires_ms   5 action   6 args

The counter is strictly increasing per probe and the probe persists the last one it accepted, so
a captured command cannot be replayed; the expiry bounds how long a delayed command stays good.
`accept` is sans-IO: it is given the bytes, the controller's kid and verifier, the probe's own id,
its last counter, the time and the servers it may measure towards, and returns a checked Command
or raises CommandError naming the first thing that was wrong.
"""

from agent.core import cbor, cose, record
from agent.core.errors import InvalidInput

VERSION = 1

K_VERSION = 1
K_PROBE = 2
K_COUNTER = 3
K_EXPIRES = 4
K_ACTION = 5
K_ARGS = 6
_KEYS = (K_VERSION, K_PROBE, K_COUNTER, K_EXPIRES, K_ACTION, K_ARGS)

SCHEDULE = "schedule"  # args {"intervals": {source: seconds}}
SERVERS = "servers"  # args {"servers": ["host[:port]", ...]}
LOG_LEVEL = "log-level"  # args {"level": "debug" | "info" | "warning" | "error"}
REBIRTH = "rebirth"  # args {}
MEASURE_NOW = "measure-now"  # args {"sources": [source, ...]}
ACTIONS = (SCHEDULE, SERVERS, LOG_LEVEL, REBIRTH, MEASURE_NOW)
LOG_LEVELS = ("debug", "info", "warning", "error")

MAX_PAYLOAD = 2048
MAX_COUNTER = 2**63 - 1  # stored as a signed 64-bit integer by the probe
MAX_ITEMS = 16  # sources or servers named in one command
MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 7 * 24 * 3600
MAX_NAME = 32
MAX_SERVER = 255


class CommandError(InvalidInput):
    """A command the probe refuses; the text says why."""


class Command:
    """A command that passed every check: signed by the controller, for us, fresh, in bounds."""

    __slots__ = ("action", "args", "counter", "expires_ms", "probe")

    def __init__(self, probe, counter, expires_ms, action, args):
        self.probe = probe
        self.counter = counter
        self.expires_ms = expires_ms
        self.action = action
        self.args = args


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _valid_name(name):
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        return False
    return all("a" <= ch <= "z" or "0" <= ch <= "9" or ch in "_-" for ch in name)


def _split_server(server):
    """(host, port or None) of "host[:port]", host lower-cased; raises CommandError."""
    if not isinstance(server, str) or not 1 <= len(server) <= MAX_SERVER:
        raise CommandError("a server must be a text of 1..%d characters" % MAX_SERVER)
    host, port = server, None
    if server.startswith("["):  # [IPv6]:port
        end = server.find("]")
        if end < 0:
            raise CommandError("server %r has an unclosed '['" % server)
        host, rest = server[1:end], server[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise CommandError("server %r: expected ':PORT' after ']'" % server)
            port = rest[1:]
    elif server.count(":") == 1:
        host, port = server.split(":")
    if not host:
        raise CommandError("server %r has no host" % server)
    for ch in host:
        if ord(ch) > 127 or not (ch.isalpha() or ch.isdigit() or ch in ".-:"):
            raise CommandError("server %r: host has a character %r" % (server, ch))
    if port is None:
        return host.lower(), None
    if not port.isdigit() or len(port) > 5 or not 1 <= int(port) <= 65535:
        raise CommandError("server %r: port must be 1..65535" % server)
    return host.lower(), int(port)


def server_allowed(server, allowed):
    # type: (str, list[str] | tuple[str, ...]) -> bool
    """Is server ("host[:port]") one the probe may measure towards?

    An allowed entry with a port allows exactly that port; one without allows any port of the host.
    """
    host, port = _split_server(server)
    for entry in allowed:
        try:
            a_host, a_port = _split_server(entry)
        except CommandError:
            continue
        if a_host == host and (a_port is None or a_port == port):
            return True
    return False


def _names(args, field):
    names = args.get(field)
    if not isinstance(names, list) or not 1 <= len(names) <= MAX_ITEMS:
        raise CommandError("%s must be a list of 1..%d names" % (field, MAX_ITEMS))
    for name in names:
        if not _valid_name(name):
            raise CommandError("%s has %r, not a name of [a-z0-9_-]" % (field, name))
    return names


def check_args(action, args, allowed_servers):
    # type: (str, dict, list[str] | tuple[str, ...]) -> None
    """Check the arguments of action; raises CommandError naming what was wrong."""
    if not isinstance(args, dict):
        raise CommandError("args must be a map")
    expected = {
        SCHEDULE: ("intervals",),
        SERVERS: ("servers",),
        LOG_LEVEL: ("level",),
        REBIRTH: (),
        MEASURE_NOW: ("sources",),
    }[action]
    for key in args:
        if key not in expected:
            raise CommandError("%s takes no argument %r" % (action, key))
    if action == SCHEDULE:
        intervals = args.get("intervals")
        if not isinstance(intervals, dict) or not 1 <= len(intervals) <= MAX_ITEMS:
            raise CommandError("intervals must be a map of 1..%d source: seconds" % MAX_ITEMS)
        for name, seconds in intervals.items():
            if not _valid_name(name):
                raise CommandError("intervals has %r, not a name of [a-z0-9_-]" % (name,))
            if not _is_int(seconds) or not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
                raise CommandError(
                    "intervals.%s must be %d..%d seconds" % (name, MIN_INTERVAL_S, MAX_INTERVAL_S)
                )
    elif action == SERVERS:
        servers = args.get("servers")
        if not isinstance(servers, list) or not 1 <= len(servers) <= MAX_ITEMS:
            raise CommandError("servers must be a list of 1..%d servers" % MAX_ITEMS)
        for server in servers:
            if not server_allowed(server, allowed_servers):
                # A probe is never turned towards a target its owner did not allow.
                raise CommandError("server %r is not in the allowed servers" % (server,))
    elif action == LOG_LEVEL:
        if args.get("level") not in LOG_LEVELS:
            raise CommandError("level must be one of %s" % ", ".join(LOG_LEVELS))
    elif action == MEASURE_NOW:
        _names(args, "sources")


def encode(probe, counter, expires_ms, action, args):
    # type: (str, int, int, str, dict) -> bytes
    """The payload of a command (the controller's side); raises CommandError on bad arguments."""
    fields = {
        K_VERSION: VERSION,
        K_PROBE: probe,
        K_COUNTER: counter,
        K_EXPIRES: expires_ms,
        K_ACTION: action,
        K_ARGS: args,
    }
    _check_fields(fields)
    servers = args.get("servers") if action == SERVERS and isinstance(args, dict) else None
    # A server is allowed here if it is well-formed: which servers a probe accepts is its call.
    check_args(action, args, servers if isinstance(servers, list) else ())
    raw = cbor.dumps(fields)
    if len(raw) > MAX_PAYLOAD:
        raise CommandError("command of %d bytes exceeds %d" % (len(raw), MAX_PAYLOAD))
    return raw


def sign(probe, counter, expires_ms, action, args, kid, sign_fn):
    # type: (str, int, int, str, dict, bytes, object) -> bytes
    """A signed command: COSE_Sign1 over encode(...); sign_fn(bytes) -> 64-byte signature."""
    return cose.sign1(encode(probe, counter, expires_ms, action, args), kid, sign_fn)


def _check_fields(fields):
    for key in fields:
        if key not in _KEYS:
            raise CommandError("unknown field %r" % (key,))
    for key in _KEYS:
        if key not in fields:
            raise CommandError("missing field %d" % key)
    if fields[K_VERSION] != VERSION:
        raise CommandError("command version %r is not %d" % (fields[K_VERSION], VERSION))
    if not record.valid_probe_id(fields[K_PROBE]):
        raise CommandError("probe id must be 1..64 of letters, digits, '.', '_', '-'")
    counter = fields[K_COUNTER]
    if not _is_int(counter) or not 1 <= counter <= MAX_COUNTER:
        raise CommandError("counter must be an integer in 1..2^63-1")
    if not _is_int(fields[K_EXPIRES]) or fields[K_EXPIRES] < 0:
        raise CommandError("expires_ms must be an unsigned integer")
    if fields[K_ACTION] not in ACTIONS:
        raise CommandError("action %r is not one of %s" % (fields[K_ACTION], ", ".join(ACTIONS)))


def accept(data, controller_kid, verify, probe, last_counter, now_ms, allowed_servers):
    # type: (bytes, bytes, object, str, int, int, list[str] | tuple[str, ...]) -> Command
    """Parse and check a signed command; returns it, or raises CommandError with the reason.

    verify: callable(signature, data) -> bool for the controller's public key.
    Checks, in order: envelope (alg EdDSA in the protected header), kid is the controller's,
    signature, payload schema, addressed to this probe, counter above last_counter, not expired,
    arguments in bounds (servers within allowed_servers).
    """
    try:
        msg = cose.parse_sign1(data)
    except cose.COSEError as exc:
        raise CommandError("not a signed command: %s" % exc) from None
    if msg.kid != controller_kid:
        raise CommandError("kid %s is not the controller's key" % msg.kid.hex())
    if not msg.verify(verify):
        raise CommandError("bad signature")
    if len(msg.payload) > MAX_PAYLOAD:
        raise CommandError("command of %d bytes exceeds %d" % (len(msg.payload), MAX_PAYLOAD))
    try:
        fields = cbor.loads(msg.payload, max_depth=4, max_items=256, tags=())
    except cbor.CBORError as exc:
        raise CommandError("payload is not well-formed: %s" % exc) from None
    if not isinstance(fields, dict):
        raise CommandError("payload must be a map")
    _check_fields(fields)
    if fields[K_PROBE] != probe:
        raise CommandError("addressed to probe %s, not %s" % (fields[K_PROBE], probe))
    if fields[K_COUNTER] <= last_counter:
        raise CommandError(
            "counter %d is not above the last accepted %d (replay?)"
            % (fields[K_COUNTER], last_counter)
        )
    if fields[K_EXPIRES] <= now_ms:
        raise CommandError("expired at %d ms, now %d ms" % (fields[K_EXPIRES], now_ms))
    check_args(fields[K_ACTION], fields[K_ARGS], allowed_servers)
    return Command(
        fields[K_PROBE], fields[K_COUNTER], fields[K_EXPIRES], fields[K_ACTION], fields[K_ARGS]
    )


def outcome_values(cmd, outcome, detail):
    # type: (Command, str, str) -> dict
    """The values of the `status` record (event `command`) that reports what a command did."""
    return {
        "event": "command",
        "action": cmd.action,
        "counter": cmd.counter,
        "outcome": outcome,
        "detail": detail[:200],
    }
