"""A small, strict CBOR codec (RFC 8949) that runs under CPython and MicroPython alike.

Why our own: the agent's core must run on MicroPython, where cbor2 does not exist, and the
collector must decode hostile bytes with hard bounds (depth, item count, no duplicate map keys,
no indefinite lengths, no trailing bytes), which cbor2 does not enforce. cbor2 is kept as the
test peer that checks our bytes. Encoding is deterministic (RFC 8949 §4.2.1: shortest
arguments, map keys sorted by their encoded bytes), so a record has exactly one encoding.
"""

import struct

from agent.core.errors import InvalidInput

MAX_DEPTH = 16
MAX_ITEMS = 4096

_FLOAT32_MAX = 3.4028234663852886e38
_INF = float("inf")


class CBORError(InvalidInput):
    """Input that is not CBOR we accept; the message names what was wrong and where."""


class Tag:
    """A tagged data item (major type 6)."""

    __slots__ = ("tag", "value")

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and other.tag == self.tag and other.value == self.value

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


# --- encoding ------------------------------------------------------------------------------


def _head(major, n):
    mt = major << 5
    if n < 24:
        return bytes((mt | n,))
    if n < 0x100:
        return bytes((mt | 24, n))
    if n < 0x10000:
        return bytes((mt | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((mt | 26,)) + n.to_bytes(4, "big")
    if n < 0x10000000000000000:
        return bytes((mt | 27,)) + n.to_bytes(8, "big")
    raise CBORError("integer out of 64-bit range")


def _half_bits(bits):
    """The binary16 form of binary32 `bits`, or None when binary16 cannot hold the value exactly."""
    sign = (bits >> 16) & 0x8000
    exp = ((bits >> 23) & 0xFF) - 127
    mant = bits & 0x7FFFFF
    if exp == -127:  # zero; binary32 subnormals lie far below binary16's range
        return None if mant else sign
    if -14 <= exp <= 15:
        return None if mant & 0x1FFF else sign | (exp + 15) << 10 | mant >> 13
    if -24 <= exp < -14:  # a binary16 subnormal
        shift = -1 - exp
        full = mant | 0x800000
        return None if full & ((1 << shift) - 1) else sign | full >> shift
    return None


def _encode_float(x):
    # Shortest form that keeps the value (RFC 8949 §4.2.1, as cbor2's canonical mode does):
    # half, then single, then double precision; one NaN.
    if x != x:
        return b"\xf9\x7e\x00"
    if x in (_INF, -_INF):
        return b"\xf9\xfc\x00" if x < 0 else b"\xf9\x7c\x00"
    if -_FLOAT32_MAX <= x <= _FLOAT32_MAX:  # CPython's pack(">f") raises beyond it
        single = struct.pack(">f", x)
        if struct.unpack(">f", single)[0] == x:
            half = _half_bits(int.from_bytes(single, "big"))
            if half is not None:
                return b"\xf9" + half.to_bytes(2, "big")
            return b"\xfa" + single
    return b"\xfb" + struct.pack(">d", x)


def _encode(obj, out, depth):
    if depth > MAX_DEPTH:
        raise CBORError("nesting deeper than %d" % MAX_DEPTH)
    # bool before int: bool is a subclass of int.
    if obj is False:
        out.append(b"\xf4")
    elif obj is True:
        out.append(b"\xf5")
    elif obj is None:
        out.append(b"\xf6")
    elif isinstance(obj, int):
        out.append(_head(0, obj) if obj >= 0 else _head(1, -1 - obj))
    elif isinstance(obj, float):
        out.append(_encode_float(obj))
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        out.append(_head(2, len(obj)))
        out.append(bytes(obj))
    elif isinstance(obj, str):
        raw = obj.encode("utf-8")
        out.append(_head(3, len(raw)))
        out.append(raw)
    elif isinstance(obj, (list, tuple)):
        out.append(_head(4, len(obj)))
        for item in obj:
            _encode(item, out, depth + 1)
    elif isinstance(obj, dict):
        pairs = []
        for key, value in obj.items():
            pairs.append((dumps(key), value))
        pairs.sort(key=lambda kv: kv[0])
        out.append(_head(5, len(pairs)))
        for raw_key, value in pairs:
            out.append(raw_key)
            _encode(value, out, depth + 1)
    elif isinstance(obj, Tag):
        out.append(_head(6, obj.tag))
        _encode(obj.value, out, depth + 1)
    else:
        raise CBORError("cannot encode %s" % type(obj).__name__)


def dumps(obj):
    # type: (object) -> bytes
    """Encode obj deterministically."""
    out = []  # type: list[bytes]
    _encode(obj, out, 0)
    return b"".join(out)


# --- decoding ------------------------------------------------------------------------------


def _half_to_float(h):
    exp = (h >> 10) & 0x1F
    mant = h & 0x3FF
    if exp == 0:
        val = mant * 2.0**-24
    elif exp == 31:
        val = float("inf") if mant == 0 else float("nan")
    else:
        val = (mant + 1024) * 2.0 ** (exp - 25)
    return -val if h & 0x8000 else val


class _Decoder:
    def __init__(self, data, max_depth, max_items, tags):
        self.data = data
        self.pos = 0
        self.max_depth = max_depth
        self.items_left = max_items
        self.tags = tags

    def fail(self, what):
        raise CBORError("%s at byte %d" % (what, self.pos))

    def take(self, n):
        end = self.pos + n
        if end > len(self.data):
            self.fail("truncated input (need %d more bytes)" % (end - len(self.data)))
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def argument(self, ai):
        if ai < 24:
            return ai
        if ai == 24:
            return self.take(1)[0]
        if ai == 25:
            return int.from_bytes(self.take(2), "big")
        if ai == 26:
            return int.from_bytes(self.take(4), "big")
        if ai == 27:
            return int.from_bytes(self.take(8), "big")
        if ai == 31:
            self.fail("indefinite length is not accepted")
        self.fail("reserved additional information %d" % ai)

    def item(self, depth):
        if depth > self.max_depth:
            self.fail("nesting deeper than %d" % self.max_depth)
        self.items_left -= 1
        if self.items_left < 0:
            self.fail("more data items than allowed")
        initial = self.take(1)[0]
        major = initial >> 5
        ai = initial & 0x1F
        if major == 7:
            return self.simple(ai)
        n = self.argument(ai)
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major == 2:
            return bytes(self.take(n))
        if major == 3:
            raw = self.take(n)
            try:
                return bytes(raw).decode("utf-8")
            except UnicodeError:
                self.fail("text string is not valid UTF-8")
        if major == 4:
            if n > self.items_left:
                self.fail("array of %d items exceeds the item budget" % n)
            return [self.item(depth + 1) for _ in range(n)]
        if major == 5:
            if 2 * n > self.items_left:
                self.fail("map of %d pairs exceeds the item budget" % n)
            result = {}
            for _ in range(n):
                key_at = self.pos
                key = self.item(depth + 1)
                if not isinstance(key, (int, str)) or isinstance(key, bool):
                    self.pos = key_at
                    self.fail("map key must be an integer or text")
                if key in result:
                    self.pos = key_at
                    self.fail("duplicate map key %r" % (key,))
                result[key] = self.item(depth + 1)
            return result
        # major == 6
        if self.tags is not None and n not in self.tags:
            self.fail("tag %d is not accepted here" % n)
        return Tag(n, self.item(depth + 1))

    def simple(self, ai):
        if ai == 20:
            return False
        if ai == 21:
            return True
        if ai == 22:
            return None
        if ai == 25:
            return _half_to_float(int.from_bytes(self.take(2), "big"))
        if ai == 26:
            return struct.unpack(">f", self.take(4))[0]
        if ai == 27:
            return struct.unpack(">d", self.take(8))[0]
        if ai == 31:
            self.fail("unexpected break")
        self.fail("simple value %d is not accepted" % ai)


def loads(data, max_depth=MAX_DEPTH, max_items=MAX_ITEMS, tags=None):
    # type: (bytes, int, int, tuple[int, ...] | None) -> object
    """Decode exactly one data item; trailing bytes are an error.

    tags: the tag numbers accepted (None accepts any).
    """
    dec = _Decoder(memoryview(data), max_depth, max_items, tags)
    value = dec.item(0)
    if dec.pos != len(data):
        dec.fail("%d trailing bytes" % (len(data) - dec.pos))
    return value


def split_sequence(data, max_depth=MAX_DEPTH, max_items=MAX_ITEMS):
    """Split an RFC 8742 CBOR sequence into the raw bytes of each item.

    A malformed item ends the split: what came before it is returned with the error.
    """
    items = []  # type: list[bytes]
    dec = _Decoder(memoryview(data), max_depth, max_items, None)
    while dec.pos < len(data):
        start = dec.pos
        dec.items_left = max_items
        try:
            dec.item(0)
        except CBORError as exc:
            return items, exc
        items.append(bytes(data[start : dec.pos]))
    return items, None
