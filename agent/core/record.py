"""The measurement record: payload schema (see record.cddl), encoding, checked decoding.

A record is a CBOR map with small integer keys; `values` and `context` are maps whose text keys
carry their unit as a suffix (`_ms`, `_mbps`, `_dbm`, `_db`, `_s`, `_c`, `_ma`, `_v`, `_bytes`),
so a unit is fixed by the schema, never by the data. A value that was not measured is absent or
null, never 0.
"""

from agent.core import cbor
from agent.core.errors import InvalidInput

SCHEMA_VERSION = 1

K_VERSION = 1
K_PROBE = 2
K_EPOCH = 3
K_SEQ = 4
K_TIME = 5
K_SYNCED = 6
K_KIND = 7
K_VALUES = 8
K_CONTEXT = 9
K_VERSIONS = 10

KINDS = ("health", "status", "radio", "optical", "latency", "capacity", "dns")

# Subscriber identities never leave the device (privacy); IMEI is for provisioning only.
FORBIDDEN_KEYS = ("imsi", "iccid", "msisdn", "phone", "phone_number", "imei")

MAX_PAYLOAD = 8192
MAX_PROBE_ID = 64
MAX_MAP = 64
MAX_ARRAY = 1024
MAX_TEXT = 256
MAX_NEST = 4

NAMES = {
    K_VERSION: "v",
    K_PROBE: "probe",
    K_EPOCH: "epoch",
    K_SEQ: "seq",
    K_TIME: "time_ms",
    K_SYNCED: "synced",
    K_KIND: "kind",
    K_VALUES: "values",
    K_CONTEXT: "context",
    K_VERSIONS: "versions",
}
_REQUIRED = (K_VERSION, K_PROBE, K_EPOCH, K_SEQ, K_TIME, K_SYNCED, K_KIND, K_VALUES, K_VERSIONS)


class RecordError(InvalidInput):
    """A payload that does not follow the record schema; the text names the field."""


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _check_uint(name, x, limit=0xFFFFFFFFFFFFFFFF):
    if not _is_int(x) or x < 0 or x > limit:
        raise RecordError("%s must be an unsigned integer" % name)


def valid_probe_id(probe):
    # type: (object) -> bool
    """Probe ids are also MQTT topic levels: 1..64 of [A-Za-z0-9._-]."""
    if not isinstance(probe, str) or not 1 <= len(probe) <= MAX_PROBE_ID:
        return False
    for ch in probe:
        if not (ch.isalpha() or ch.isdigit() or ch in "._-") or ord(ch) > 127:
            return False
    return True


def _check_tree(where, value, depth):
    """values/context: maps of text keys to scalars, arrays and maps, bounded."""
    if depth > MAX_NEST:
        raise RecordError("%s nests deeper than %d" % (where, MAX_NEST))
    if isinstance(value, dict):
        if len(value) > MAX_MAP:
            raise RecordError("%s has more than %d entries" % (where, MAX_MAP))
        for key, item in value.items():
            if not isinstance(key, str) or not key or len(key) > 64:
                raise RecordError("%s has a key that is not a short text" % where)
            if key.lower() in FORBIDDEN_KEYS:
                raise RecordError("%s.%s is a subscriber identity, never recorded" % (where, key))
            _check_tree(where + "." + key, item, depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_ARRAY:
            raise RecordError("%s has more than %d items" % (where, MAX_ARRAY))
        for item in value:
            _check_tree(where, item, depth + 1)
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise RecordError("%s is a text longer than %d" % (where, MAX_TEXT))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RecordError("%s is not a finite number" % where)
    elif value is not None and not isinstance(value, (int, bool)):
        raise RecordError("%s has a value of type %s" % (where, type(value).__name__))


def check(fields):
    # type: (dict) -> None
    """Check a record given by integer keys; raises RecordError naming the first fault."""
    for key in _REQUIRED:
        if key not in fields:
            raise RecordError("missing field %s" % NAMES[key])
    for key in fields:
        if key not in NAMES:
            raise RecordError("unknown field %r" % (key,))
    if fields[K_VERSION] != SCHEMA_VERSION:
        raise RecordError("schema version %r is not %d" % (fields[K_VERSION], SCHEMA_VERSION))
    if not valid_probe_id(fields[K_PROBE]):
        raise RecordError("probe id must be 1..64 of letters, digits, '.', '_', '-'")
    _check_uint("epoch", fields[K_EPOCH], 0xFFFFFFFF)
    _check_uint("seq", fields[K_SEQ])
    if not _is_int(fields[K_TIME]):
        raise RecordError("time_ms must be an integer")
    if not isinstance(fields[K_SYNCED], bool):
        raise RecordError("synced must be true or false")
    if fields[K_KIND] not in KINDS:
        raise RecordError("kind %r is not one of %s" % (fields[K_KIND], ", ".join(KINDS)))
    if not isinstance(fields[K_VALUES], dict):
        raise RecordError("values must be a map")
    _check_tree("values", fields[K_VALUES], 1)
    context = fields.get(K_CONTEXT)
    if context is not None:
        if not isinstance(context, dict):
            raise RecordError("context must be a map")
        _check_tree("context", context, 1)
    versions = fields[K_VERSIONS]
    if not isinstance(versions, dict):
        raise RecordError("versions must be a map")
    for name in ("agent", "board", "firmware"):
        if not isinstance(versions.get(name), str):
            raise RecordError("versions.%s must be text" % name)
    _check_tree("versions", versions, 1)


def encode(probe, epoch, seq, time_ms, synced, kind, values, versions, context=None):
    # type: (str, int, int, int, bool, str, dict, dict, dict | None) -> bytes
    """Build and check a record payload; returns its deterministic CBOR bytes."""
    fields = {
        K_VERSION: SCHEMA_VERSION,
        K_PROBE: probe,
        K_EPOCH: epoch,
        K_SEQ: seq,
        K_TIME: time_ms,
        K_SYNCED: synced,
        K_KIND: kind,
        K_VALUES: values,
        K_VERSIONS: versions,
    }
    if context:
        fields[K_CONTEXT] = context
    check(fields)
    raw = cbor.dumps(fields)
    if len(raw) > MAX_PAYLOAD:
        raise RecordError("record of %d bytes exceeds %d" % (len(raw), MAX_PAYLOAD))
    return raw


def decode(raw):
    # type: (bytes) -> dict
    """Decode and check a payload; returns the record with named fields."""
    if len(raw) > MAX_PAYLOAD:
        raise RecordError("record of %d bytes exceeds %d" % (len(raw), MAX_PAYLOAD))
    try:
        fields = cbor.loads(raw, max_depth=MAX_NEST + 2, max_items=2048, tags=())
    except cbor.CBORError as exc:
        raise RecordError("payload is not well-formed: %s" % exc) from None
    if not isinstance(fields, dict):
        raise RecordError("payload must be a map")
    check(fields)
    named = {}
    for key, value in fields.items():
        named[NAMES[key]] = value
    if "context" not in named:
        named["context"] = {}
    return named
