"""Ed25519 (RFC 8032) in pure Python, so that MicroPython probes sign records like Linux ones.

Stock MicroPython has no public-key crypto. Linux probes and the collector use `cryptography`;
this module is its peer for ESP32 boards and is tested against it and RFC 8032's vectors.

Speed: signing is one fixed-base scalar multiplication r*B (the public key is computed once per
key). That uses a precomputed table of radix-16 multiples of B (ref10's layout: 32 rows of
1..8 * 256^i * B, affine, in "Niels" form y+x, y-x, 2dxy), so r*B is 64 mixed additions and 4
doublings with signed digits instead of ~255 doublings and ~128 additions: ~7x fewer field
multiplications. The table is built on first use and kept as 24 KiB of bytes (as ints it would
take about twice that on a 32-bit MicroPython heap); a smaller window would save memory but
cost proportionally more time. Batching several records under one
signature was not needed at that speed (see tests/bench/bench_ed25519.py).

Not constant-time: Python integers leak timing. The probe key signs only its own measurements;
an attacker able to time it closely is already in the household with the board in hand.
"""

from agent.core import sha512

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
D2 = 2 * D % P
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960

SEED_LEN = 32
PUBLIC_LEN = 32
SIGNATURE_LEN = 64

# Points are in extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z
# (Hisil-Wong-Carter-Dawson 2008, for a = -1).
_IDENTITY = (0, 1, 1, 0)
_BASE = (BX, BY, 1, BX * BY % P)


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _add_niels(p, n):
    """p + an affine point given as (y+x, y-x, 2dxy): 7 multiplications instead of 9."""
    x1, y1, z1, t1 = p
    ypx, ymx, xy2d = n
    a = (y1 - x1) * ymx % P
    b = (y1 + x1) * ypx % P
    c = t1 * xy2d % P
    d = 2 * z1
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p):
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    s = x1 + y1
    e = h - s * s % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _inverse(x):
    return pow(x, P - 2, P)


def _to_niels(points):
    """Affine (y+x, y-x, 2dxy) of extended points, with one inversion for all (Montgomery)."""
    prefix = []
    acc = 1
    for pt in points:
        prefix.append(acc)
        acc = acc * pt[2] % P
    inv = _inverse(acc)
    out = []
    for i in range(len(points) - 1, -1, -1):
        x, y, z, _ = points[i]
        zi = inv * prefix[i] % P
        inv = inv * z % P
        x = x * zi % P
        y = y * zi % P
        out.append(((y + x) % P, (y - x) % P, x * y % P * D2 % P))
    out.reverse()
    return out


_POINT_BYTES = 96  # y+x, y-x, 2dxy: 32 bytes each, little-endian
_table = bytearray()  # 32 rows x 8 points; bytes, not ints: half the heap on a small board


def _base_table():
    """Point j of row i is (j + 1) * 256**i * B; built on first use."""
    if not _table:
        row_base = _BASE
        for _ in range(32):
            multiples = [row_base]
            for _ in range(7):
                multiples.append(_add(multiples[-1], row_base))
            for point in _to_niels(multiples):
                for coordinate in point:
                    _table.extend(coordinate.to_bytes(32, "little"))
            row_base = multiples[7]  # 8 * row_base, doubled 5 times: 256 * row_base
            for _ in range(5):
                row_base = _double(row_base)
    return _table


def _table_point(table, row, index):
    """(y+x, y-x, 2dxy) of point `index` (0..7) in `row`."""
    at = (row * 8 + index) * _POINT_BYTES
    return (
        int.from_bytes(table[at : at + 32], "little"),
        int.from_bytes(table[at + 32 : at + 64], "little"),
        int.from_bytes(table[at + 64 : at + 96], "little"),
    )


def _signed_radix16(n):
    """64 digits in -8..8 with n = sum(e[i] * 16**i), for 0 <= n < 2**255."""
    e = []
    for _ in range(64):
        e.append(n & 15)
        n >>= 4
    carry = 0
    for i in range(63):
        e[i] += carry
        carry = (e[i] + 8) >> 4
        e[i] -= carry << 4
    e[63] += carry
    return e


def _base_mult(n):
    """n * B for 0 <= n < 2**255, with the precomputed table."""
    table = _base_table()
    digits = _signed_radix16(n)
    acc = _IDENTITY
    for parity in (1, 0):
        for i in range(parity, 64, 2):
            digit = digits[i]
            if digit > 0:
                acc = _add_niels(acc, _table_point(table, i >> 1, digit - 1))
            elif digit < 0:
                ypx, ymx, xy2d = _table_point(table, i >> 1, -digit - 1)
                acc = _add_niels(acc, (ymx, ypx, -xy2d))  # -(x, y) = (-x, y)
        if parity:
            for _ in range(4):
                acc = _double(acc)
    return acc


def _mult(n, point):
    """n * point for any point, 4-bit fixed window (verification only)."""
    window = [_IDENTITY, point]
    for _ in range(14):
        window.append(_add(window[-1], point))
    acc = _IDENTITY
    for shift in range(252, -1, -4):
        for _ in range(4):
            acc = _double(acc)
        acc = _add(acc, window[(n >> shift) & 15])
    return acc


def _encode_point(p):
    x, y, z, _ = p
    zi = _inverse(z)
    x = x * zi % P
    y = y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _decode_point(raw):
    """The point a 32-byte encoding names, or None when it names none (RFC 8032 5.1.3)."""
    if len(raw) != 32:
        return None
    y = int.from_bytes(raw, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    yy = y * y % P
    u = (yy - 1) % P
    v = (D * yy + 1) % P
    v3 = v * v % P * v % P
    x = u * v3 % P * pow(u * v3 % P * v3 % P * v % P, (P - 5) // 8, P) % P
    vxx = v * x % P * x % P
    if vxx == (P - u) % P:
        x = x * SQRT_M1 % P
    elif vxx != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _scalar(raw):
    return int.from_bytes(raw, "little") % L


class SigningKey:
    """A probe's Ed25519 key from its 32-byte seed (the RFC 8032 private key)."""

    __slots__ = ("_a", "_prefix", "public_key")

    def __init__(self, seed):
        # type: (bytes) -> None
        if len(seed) != SEED_LEN:
            raise ValueError("an Ed25519 seed is %d bytes, not %d" % (SEED_LEN, len(seed)))
        h = sha512.digest(seed)
        a = int.from_bytes(h[:32], "little")
        a &= (1 << 254) - 8  # clamp: clear the 3 low bits and bit 255
        a |= 1 << 254
        self._a = a
        self._prefix = h[32:]
        self.public_key = _encode_point(_base_mult(a))

    def sign(self, message):
        # type: (bytes) -> bytes
        """The 64-byte signature R || S of message."""
        r = _scalar(sha512.digest(self._prefix + message))
        big_r = _encode_point(_base_mult(r))
        k = _scalar(sha512.digest(big_r + self.public_key + message))
        s = (r + k * self._a) % L
        return big_r + s.to_bytes(32, "little")


def verify(public_key, signature, message):
    # type: (bytes, bytes, bytes) -> bool
    """True when signature is public_key's signature of message (RFC 8032 5.1.7, cofactorless)."""
    if len(signature) != SIGNATURE_LEN:
        return False
    point_a = _decode_point(public_key)
    if point_a is None or _decode_point(signature[:32]) is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    k = _scalar(sha512.digest(signature[:32] + public_key + message))
    x, y, z, t = point_a
    minus_ka = _mult(k, (P - x, y, z, P - t))
    return _encode_point(_add(_base_mult(s), minus_ka)) == signature[:32]
