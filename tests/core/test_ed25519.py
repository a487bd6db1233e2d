"""agent.core.ed25519 and agent.core.sha512 against RFC 8032, FIPS 180 and the COSE WG example.

Runs under CPython (pytest) and MicroPython (tests/mpy/run.mjs); random keys and messages
against `cryptography` are in tests/fuzz/test_ed25519_vs_cryptography.py.
"""

import json

from agent.core import cbor, cose, ed25519, sha512

# RFC 8032 section 7.1: (secret key, public key, message, signature), hex.
RFC8032 = (
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (  # TEST SHA(abc): the message is SHA-512("abc")
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
)

# FIPS 180-2 appendix C examples, plus lengths around the padding boundary (111/112 bytes).
SHA512 = (
    (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"),
    (b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"),
    (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
        b"lmnopqrsmnopqrstnopqrstu",
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018",
    ),
    (b"a" * 111, "fa9121c7b32b9e01733d034cfc78cbf67f926c7ed83e82200ef8681819692176"),
    (b"a" * 112, "c01d080efd492776a1c43bd23dd99d0a2e626d481e16782e75d54c2503b5dc32"),
)

VECTOR_PATH = __file__.rsplit("/", 1)[0] + "/vectors/cose-eddsa-sig-01.json"
KEY = ed25519.SigningKey(bytes.fromhex(RFC8032[0][0]))
PUBLIC = KEY.public_key


def test_sha512_known_digests():
    for message, prefix in SHA512:
        assert sha512.digest(message).hex().startswith(prefix), message


def test_sha512_refuses_unbounded_input():
    try:
        sha512.digest(bytes(sha512.MAX_MESSAGE + 1))
    except ValueError as exc:
        assert "exceeds" in str(exc)
    else:
        raise AssertionError("an oversized message was hashed")


def test_rfc8032_public_keys_and_signatures():
    for secret, public, message, signature in RFC8032:
        key = ed25519.SigningKey(bytes.fromhex(secret))
        assert key.public_key.hex() == public
        assert key.sign(bytes.fromhex(message)).hex() == signature
        assert ed25519.verify(
            bytes.fromhex(public), bytes.fromhex(signature), bytes.fromhex(message)
        )


def test_reproduces_the_cose_wg_signature():
    with open(VECTOR_PATH) as f:
        vector = json.load(f)
    key = ed25519.SigningKey(bytes.fromhex(vector["key"]["d_hex"]))
    assert key.public_key.hex() == vector["key"]["x_hex"]
    signature = key.sign(bytes.fromhex(vector["to_be_signed_hex"]))
    assert signature.hex() == vector["cose_sign1_hex"][-128:]


def test_signed_cose_record_verifies():
    raw = cose.sign1(cbor.dumps({1: "payload"}), b"kid", KEY.sign)
    msg = cose.parse_sign1(raw)
    assert msg.verify(lambda sig, data: ed25519.verify(PUBLIC, sig, data))


def test_verify_rejects_tampering():
    message = b"qiyas record"
    signature = KEY.sign(message)
    assert ed25519.verify(PUBLIC, signature, message)
    assert not ed25519.verify(PUBLIC, signature, message + b"!")
    flipped = bytearray(signature)
    flipped[40] ^= 1
    assert not ed25519.verify(PUBLIC, bytes(flipped), message)
    other = ed25519.SigningKey(bytes(32)).public_key
    assert not ed25519.verify(other, signature, message)


def test_verify_rejects_malleable_and_malformed_signatures():
    message = b"m"
    signature = KEY.sign(message)
    s = int.from_bytes(signature[32:], "little")
    # S + L is the same scalar, but RFC 8032 requires S < L so signatures are not malleable.
    assert not ed25519.verify(
        PUBLIC, signature[:32] + (s + ed25519.L).to_bytes(32, "little"), message
    )
    assert not ed25519.verify(PUBLIC, signature[:63], message)
    assert not ed25519.verify(PUBLIC[:31], signature, message)


def test_verify_rejects_non_canonical_points():
    message = b"m"
    signature = KEY.sign(message)
    # y >= p is not a canonical encoding.
    y_too_big = (ed25519.P + 1).to_bytes(32, "little")
    assert not ed25519.verify(y_too_big, signature, message)
    assert not ed25519.verify(PUBLIC, y_too_big + signature[32:], message)
    # y = 1 is the identity with x = 0; a set sign bit then names no point ("negative zero").
    negative_zero = (1 | 1 << 255).to_bytes(32, "little")
    assert not ed25519.verify(negative_zero, signature, message)
    # y = 2 has no x on the curve.
    assert not ed25519.verify((2).to_bytes(32, "little"), signature, message)


def test_seed_length_is_checked():
    try:
        ed25519.SigningKey(b"short")
    except ValueError as exc:
        assert "32 bytes" in str(exc)
    else:
        raise AssertionError("a 5-byte seed was accepted")
