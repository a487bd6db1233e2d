"""agent.core.cbor: deterministic encoding (RFC 8949 Appendix A) and strict, bounded decoding.

Runs under CPython (pytest) and MicroPython (tests/mpy/run.mjs).
"""

from agent.core import cbor

INF = float("inf")

# RFC 8949 Appendix A examples whose encoding is the deterministic one (§4.2.1). The examples
# with indefinite lengths or bignums are rejected below instead.
VECTORS = (
    (0, "00"),
    (1, "01"),
    (10, "0a"),
    (23, "17"),
    (24, "1818"),
    (25, "1819"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (0.0, "f90000"),
    (-0.0, "f98000"),
    (1.0, "f93c00"),
    (1.1, "fb3ff199999999999a"),
    (1.5, "f93e00"),
    (65504.0, "f97bff"),
    (100000.0, "fa47c35000"),
    (3.4028234663852886e38, "fa7f7fffff"),
    (1.0e300, "fb7e37e43c8800759c"),
    (5.960464477539063e-8, "f90001"),
    (0.00006103515625, "f90400"),
    (-4.0, "f9c400"),
    (-4.1, "fbc010666666666666"),
    (INF, "f97c00"),
    (-INF, "f9fc00"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (cbor.Tag(0, "2013-03-21T20:04:00Z"), "c074323031332d30332d32315432303a30343a30305a"),
    (cbor.Tag(1, 1363896240), "c11a514b67b0"),
    (cbor.Tag(23, b"\x01\x02\x03\x04"), "d74401020304"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ('"\\', "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    (
        {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
        "a56161614161626142616361436164614461656145",
    ),
)


def _fails(data, expected_text, **bounds):
    """Decoding data must raise CBORError whose message contains expected_text."""
    try:
        value = cbor.loads(data, **bounds)
    except cbor.CBORError as exc:
        assert expected_text in str(exc), "%r does not say %r" % (str(exc), expected_text)
        return str(exc)
    raise AssertionError("%s decoded to %r" % (data.hex(), value))


def test_encodes_rfc8949_vectors():
    for value, expected in VECTORS:
        got = cbor.dumps(value).hex()
        assert got == expected, "%r encoded as %s, not %s" % (value, got, expected)


def test_decodes_rfc8949_vectors():
    for value, encoded in VECTORS:
        decoded = cbor.loads(bytes.fromhex(encoded))
        assert decoded == value, "%s decoded to %r" % (encoded, decoded)


def test_nan_has_one_encoding_and_round_trips():
    assert cbor.dumps(float("nan")) == bytes.fromhex("f97e00")
    back = cbor.loads(bytes.fromhex("f97e00"))
    assert back != back  # NaN


def test_half_precision_subnormals_and_limits():
    assert cbor.dumps(2.0**-24) == bytes.fromhex("f90001")
    assert cbor.dumps(-(2.0**-15)) == bytes.fromhex("f98200")
    # Smaller than binary16 can hold, or with more mantissa bits: single precision.
    assert cbor.dumps(2.0**-25) == bytes.fromhex("fa33000000")
    assert cbor.dumps(65520.0) == bytes.fromhex("fa477ff000")
    assert cbor.loads(bytes.fromhex("f97bff")) == 65504.0


def test_map_keys_sort_by_encoded_bytes():
    # Shorter encodings first, then bytewise: 10 < 100 < -1 < "z" < "aa".
    encoded = cbor.dumps({"aa": 0, "z": 0, -1: 0, 100: 0, 10: 0})
    assert encoded == bytes.fromhex("a50a001864002000617a0062616100")


def test_tuple_encodes_as_array_and_bytearray_as_bytes():
    assert cbor.dumps((1, bytearray(b"\x02"))) == bytes.fromhex("82014102")


def test_refuses_integers_beyond_64_bits():
    for big in (2**64, -(2**64) - 1):
        try:
            cbor.dumps(big)
        except cbor.CBORError as exc:
            assert "64-bit" in str(exc)
        else:
            raise AssertionError("%d was encoded" % big)


def test_refuses_unencodable_types():
    try:
        cbor.dumps({1: object()})
    except cbor.CBORError as exc:
        assert "cannot encode" in str(exc)
    else:
        raise AssertionError("an object was encoded")


def test_refuses_to_encode_beyond_max_depth():
    deep = 0
    for _ in range(cbor.MAX_DEPTH + 1):
        deep = [deep]
    try:
        cbor.dumps(deep)
    except cbor.CBORError as exc:
        assert "deeper" in str(exc)
    else:
        raise AssertionError("nesting beyond MAX_DEPTH was encoded")


def test_rejects_duplicate_map_keys():
    message = _fails(bytes.fromhex("a2010201 03".replace(" ", "")), "duplicate map key 1")
    assert "byte 3" in message  # points at the second key
    _fails(bytes.fromhex("a2616101616102"), "duplicate map key 'a'")


def test_rejects_indefinite_lengths():
    # RFC 8949 Appendix A's indefinite-length examples: byte/text strings, arrays, maps.
    for encoded in (
        "5f42010243030405ff",
        "7f657374726561646d696e67ff",
        "9fff",
        "9f018202039f0405ffff",
        "bf61610161629f0203ffff",
    ):
        _fails(bytes.fromhex(encoded), "indefinite length")


def test_rejects_trailing_bytes():
    _fails(bytes.fromhex("0100"), "1 trailing bytes")
    _fails(bytes.fromhex("a0a0a0"), "2 trailing bytes")


def test_rejects_nesting_deeper_than_allowed():
    data = b"\x81" * 5 + b"\x00"
    assert cbor.loads(data, max_depth=5) == [[[[[0]]]]]
    _fails(data, "deeper than 4", max_depth=4)
    _fails(b"\x81" * (cbor.MAX_DEPTH + 1) + b"\x00", "deeper than %d" % cbor.MAX_DEPTH)


def test_rejects_truncated_input():
    for encoded in ("", "19", "1901", "6261", "4401", "8201", "a101", "d2", "fb3ff1"):
        _fails(bytes.fromhex(encoded), "truncated")


def test_rejects_counts_beyond_the_item_budget_before_allocating():
    # An array claiming 2^64-1 items in 9 bytes must fail at once, not try to build it.
    _fails(bytes.fromhex("9bffffffffffffffff"), "item budget")
    _fails(bytes.fromhex("bbffffffffffffffff"), "item budget")
    _fails(bytes.fromhex("83010203"), "item budget", max_items=3)
    assert cbor.loads(bytes.fromhex("83010203"), max_items=4) == [1, 2, 3]
    _fails(bytes.fromhex("c1c1c100"), "more data items", max_items=3)


def test_rejects_invalid_utf8_text():
    _fails(bytes.fromhex("62c328"), "UTF-8")


def test_rejects_map_keys_that_are_not_int_or_text():
    _fails(bytes.fromhex("a14100f6"), "map key")
    _fails(bytes.fromhex("a1f5f6"), "map key")
    _fails(bytes.fromhex("a18001"), "map key")


def test_rejects_reserved_and_unassigned_initial_bytes():
    _fails(bytes.fromhex("1c"), "reserved")
    _fails(bytes.fromhex("ff"), "unexpected break")
    _fails(bytes.fromhex("f0"), "simple value 16")
    _fails(bytes.fromhex("f820"), "simple value 24")


def test_tag_filter():
    assert cbor.loads(bytes.fromhex("d24100"), tags=(18,)) == cbor.Tag(18, b"\x00")
    _fails(bytes.fromhex("c11a514b67b0"), "tag 1 is not accepted", tags=(18,))
    _fails(bytes.fromhex("c100"), "tag 1", tags=())


def test_split_sequence_returns_items_before_a_malformed_one():
    items, error = cbor.split_sequence(bytes.fromhex("01" + "820203" + "a0" + "9f"))
    assert items == [b"\x01", b"\x82\x02\x03", b"\xa0"]
    assert isinstance(error, cbor.CBORError) and "indefinite" in str(error)
    assert cbor.split_sequence(b"") == ([], None)
