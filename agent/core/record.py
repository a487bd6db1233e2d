"""The measurement record: payload schema (see record.cddl), encoding, checked decoding.

A record is a CBOR map with small integer keys; `values` and `context` are maps whose text keys
carry their unit as a suffix (`_ms`, `_mbps`, `_dbm`, `_db`, `_s`, `_c`, `_ma`, `_v`, `_bytes`),
so a unit is fixed by the schema, never by the data. A value that was not measured is absent or
null, never 0.

The schema grows by versions (record.cddl states what each adds). A version adds outer fields and
kinds and never changes or removes those of an earlier one; the agent writes SCHEMA_VERSION, a
decoder accepts every version in VERSIONS, and within a version an unknown field or kind is refused.
"""

from agent.core import cbor
from agent.core.errors import InvalidInput

SCHEMA_VERSION = 2

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
# Added by version 2 (issue 17): when the test ran, its verdict, the link around it, its queueing.
K_STARTED = 11
K_DURATION = 12
K_VALIDITY = 13
K_LINK = 14
K_QUEUE = 15

# Subscriber identities never leave the device (privacy); IMEI is for provisioning only. A key
# naming one as any of its words is refused (`imsi_value`, `simIccid`, `phone-number`).
FORBIDDEN_KEYS = ("imsi", "iccid", "msisdn", "phone", "phone_number", "imei", "imeisv")
_FORBIDDEN_WORDS = ("imsi", "iccid", "msisdn", "phone", "imei", "imeisv")

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
    K_STARTED: "started_ms",
    K_DURATION: "duration_ms",
    K_VALIDITY: "validity",
    K_LINK: "link",
    K_QUEUE: "queue",
}
_REQUIRED = (K_VERSION, K_PROBE, K_EPOCH, K_SEQ, K_TIME, K_SYNCED, K_KIND, K_VALUES, K_VERSIONS)

# What each version adds: (outer field keys, kinds). Version N accepts everything of 1..N.
# To add a field or kind, append it to the newest version here and in record.cddl (see COORD.md);
# a version already in the field is never edited.
VERSIONS = {
    1: (
        (
            K_VERSION,
            K_PROBE,
            K_EPOCH,
            K_SEQ,
            K_TIME,
            K_SYNCED,
            K_KIND,
            K_VALUES,
            K_CONTEXT,
            K_VERSIONS,
        ),
        ("health", "status", "radio", "optical", "latency", "capacity", "dns"),
    ),
    2: (
        (K_STARTED, K_DURATION, K_VALIDITY, K_LINK, K_QUEUE),
        ("web", "streaming"),
    ),
}
VERDICTS = ("valid", "flagged")


def _accepted(version):
    """(field keys, kinds) a record of this version may carry."""
    keys = []  # type: list[int]
    kinds = []  # type: list[str]
    for number in sorted(VERSIONS):
        if number > version:
            break
        keys.extend(VERSIONS[number][0])
        kinds.extend(VERSIONS[number][1])
    return keys, kinds


_ACCEPTED = dict((number, _accepted(number)) for number in VERSIONS)
# Every kind any known version carries (query parameters, dashboards).
KINDS = tuple(_ACCEPTED[SCHEMA_VERSION][1])


_KEYS = dict((name, key) for key, name in NAMES.items())


class RecordError(InvalidInput):
    """A payload that does not follow the record schema; the text names the field."""


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _check_uint(name, x, limit=0xFFFFFFFFFFFFFFFF):
    if not _is_int(x) or x < 0 or x > limit:
        raise RecordError("%s must be an unsigned integer" % name)


def first_epoch(random4):
    # type: (bytes) -> int
    """The boot epoch a new outbox starts at, from 4 random bytes: 1..2^31-1.

    Identities are (probe, epoch, seq) and seq restarts with an outbox, so an outbox made after
    one was lost (card replaced, re-flashed) must not count epochs from 1 again, or its records
    take the identities of stored ones (issue 19). Later boots count up from here, with 2^31
    boots of room within the schema's uint32.
    """
    return (int.from_bytes(random4[:4], "big") & 0x7FFFFFFF) or 1


def valid_probe_id(probe):
    # type: (object) -> bool
    """Probe ids are also MQTT topic levels: 1..64 of [A-Za-z0-9._-]."""
    if not isinstance(probe, str) or not 1 <= len(probe) <= MAX_PROBE_ID:
        return False
    # One membership test per character, no generator (the collector asks this of every record).
    for ch in probe:  # noqa: SIM110
        if ch not in _PROBE_CHARS:
            return False
    return True


_PROBE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"


def _words(key):
    """The words of a key: letters split at anything else and at a lower-to-upper change."""
    words = []
    word = ""
    previous = ""
    for ch in key:
        if not ch.isalpha():
            ch = ""
        if not ch or (ch.isupper() and previous.islower()):
            if word:
                words.append(word.lower())
            word = ""
        word += ch
        previous = ch
    if word:
        words.append(word.lower())
    return words


def names_subscriber_identity(key):
    # type: (str) -> bool
    """Whether a values/context key names a subscriber or device identity in any of its words."""
    return any(word in _FORBIDDEN_WORDS for word in _words(key))


def _has_control(text):
    """C0 controls and DEL: never part of a key a person or a query could write."""
    # Plain comparisons and no generator (any() takes twice as long): every key of every record.
    for ch in text:  # noqa: SIM110
        if ch < " " or ch == "\x7f":
            return True
    return False


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
            if _has_control(key):
                raise RecordError("%s has a key %r with a control character" % (where, key))
            if names_subscriber_identity(key):
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
        if "\x00" in value:
            # PostgreSQL text and JSONB cannot hold it, SQLite can: refused here, the engines agree.
            raise RecordError("%s holds a NUL character" % where)
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
    version = fields[K_VERSION]
    if not _is_int(version) or version not in VERSIONS:
        known = ", ".join(str(number) for number in sorted(VERSIONS))
        raise RecordError("schema version %r is not one of %s" % (version, known))
    keys, kinds = _ACCEPTED[version]
    for key in fields:
        if key not in keys:
            raise RecordError("unknown field %r in schema version %d" % (key, version))
    if not valid_probe_id(fields[K_PROBE]):
        raise RecordError("probe id must be 1..64 of letters, digits, '.', '_', '-'")
    _check_uint("epoch", fields[K_EPOCH], 0xFFFFFFFF)
    _check_uint("seq", fields[K_SEQ])
    if not _is_int(fields[K_TIME]):
        raise RecordError("time_ms must be an integer")
    if not isinstance(fields[K_SYNCED], bool):
        raise RecordError("synced must be true or false")
    if fields[K_KIND] not in kinds:
        raise RecordError(
            "kind %r is not one of %s (schema version %d)"
            % (fields[K_KIND], ", ".join(kinds), version)
        )
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
    _check_v2(fields)


def _check_v2(fields):
    if K_STARTED in fields and not _is_int(fields[K_STARTED]):
        raise RecordError("started_ms must be an integer")
    if K_DURATION in fields:
        _check_uint("duration_ms", fields[K_DURATION], 0xFFFFFFFF)
    validity = fields.get(K_VALIDITY)
    if validity is not None:
        if not isinstance(validity, dict) or validity.get("verdict") not in VERDICTS:
            raise RecordError("validity.verdict must be one of %s" % ", ".join(VERDICTS))
        reasons = validity.get("reasons")
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise RecordError("validity.reasons must be a list of texts")
        if (validity["verdict"] == "flagged") != bool(reasons):
            raise RecordError("validity is flagged exactly when it names reasons")
        _check_tree("validity", validity, 1)
    for key in (K_LINK, K_QUEUE):
        if key in fields:
            if not isinstance(fields[key], dict):
                raise RecordError("%s must be a map" % NAMES[key])
            _check_tree(NAMES[key], fields[key], 1)


def encode(
    probe, epoch, seq, time_ms, synced, kind, values, versions, context=None, extra=None, version=0
):
    # type: (str, int, int, int, bool, str, dict, dict, dict | None, dict | None, int) -> bytes
    """Build and check a record payload; returns its deterministic CBOR bytes.

    extra: further outer fields by name (`started_ms`, `validity`, ...), None ones left out.
    version: the schema version to write, SCHEMA_VERSION unless 0 (older ones for tests and tools).
    """
    fields = {
        K_VERSION: version or SCHEMA_VERSION,
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
    if extra:
        for name, value in extra.items():
            key = _KEYS.get(name)
            if key is None or key in _REQUIRED or key == K_CONTEXT:
                raise RecordError("unknown field %r" % (name,))
            if value is not None:
                fields[key] = value
    check(fields)
    raw = cbor.dumps(fields)
    if len(raw) > MAX_PAYLOAD:
        raise RecordError("record of %d bytes exceeds %d" % (len(raw), MAX_PAYLOAD))
    return raw


def decode(raw, loads=cbor.loads):
    """Decode and check a payload; returns the record with named fields.

    loads: a decoder with the contract of cbor.loads (the collector passes a faster one on
    CPython); every rule of the schema is checked here whichever decodes.
    """
    if len(raw) > MAX_PAYLOAD:
        raise RecordError("record of %d bytes exceeds %d" % (len(raw), MAX_PAYLOAD))
    try:
        fields = loads(raw, max_depth=MAX_NEST + 2, max_items=2048, tags=())
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
