"""agent.core.cose: the COSE_Sign1 envelope, against the COSE WG Ed25519 example and hostile input.

Runs under CPython (pytest) and MicroPython (tests/mpy/run.mjs). Signing with a real key is in
test_ed25519.py; here the signature primitive is a recording stand-in, because this module only
frames what is signed.
"""

import json

from agent.core import cbor, cose

VECTOR_PATH = __file__.rsplit("/", 1)[0] + "/vectors/cose-eddsa-sig-01.json"


def _vector():
    with open(VECTOR_PATH) as f:
        return json.load(f)


def _raises(data, expected_text):
    try:
        cose.parse_sign1(data)
    except cose.COSEError as exc:
        assert expected_text in str(exc), "%r does not say %r" % (str(exc), expected_text)
        return
    raise AssertionError("accepted %s" % data.hex())


def _message(protected, unprotected, payload, signature, tag=cose.TAG_SIGN1):
    raw_protected = cbor.dumps(protected) if isinstance(protected, dict) else protected
    return cbor.dumps(cbor.Tag(tag, [raw_protected, unprotected, payload, signature]))


GOOD_PROTECTED = {cose.HDR_ALG: cose.ALG_EDDSA, cose.HDR_KID: b"probekey"}
SIG = bytes(range(64))


def test_parses_the_cose_wg_example():
    vector = _vector()
    msg = cose.parse_sign1(bytes.fromhex(vector["cose_sign1_hex"]))
    assert msg.kid == b"11"
    assert msg.payload == vector["payload_text"].encode()
    assert msg.protected_raw == bytes.fromhex(vector["protected_hex"])
    assert msg.to_be_signed() == bytes.fromhex(vector["to_be_signed_hex"])
    assert msg.signature.hex() == vector["cose_sign1_hex"][-128:]


def test_sign1_frames_alg_and_kid_in_the_protected_header():
    seen = []

    def sign(data):
        seen.append(data)
        return SIG

    raw = cose.sign1(b"payload", b"probekey", sign)
    msg = cose.parse_sign1(raw)
    assert cbor.loads(msg.protected_raw) == GOOD_PROTECTED
    assert (msg.kid, msg.payload, msg.signature) == (b"probekey", b"payload", SIG)
    # What was signed is exactly the RFC 9052 Sig_structure the verifier rebuilds.
    assert seen == [cbor.dumps(["Signature1", msg.protected_raw, b"", b"payload"])]
    assert seen[0] == msg.to_be_signed()
    assert raw[0] == 0xD2  # tag 18


def test_verify_passes_signature_and_signed_bytes_to_the_checker():
    msg = cose.parse_sign1(cose.sign1(b"p", b"k", lambda data: SIG))
    assert msg.verify(lambda sig, data: sig == SIG and data == msg.to_be_signed())
    assert not msg.verify(lambda sig, data: False)


def test_rejects_what_is_not_a_cose_sign1():
    _raises(b"\xd2", "not well-formed")
    _raises(cbor.dumps([b"", {}, b"", SIG]), "not tagged")
    _raises(_message(GOOD_PROTECTED, {}, b"p", SIG, tag=98), "tag 98 is not accepted")
    _raises(cbor.dumps(cbor.Tag(18, [b"", {}, b"p"])), "array of 4")
    _raises(cbor.dumps(cbor.Tag(18, {})), "array of 4")
    _raises(_message(GOOD_PROTECTED, {}, b"p", SIG) + b"\x00", "trailing")


def test_rejects_malformed_parts():
    _raises(_message({1: -8}, {}, b"p", SIG)[:-1], "truncated")
    _raises(_message(cbor.dumps([1]), {}, b"p", SIG), "protected header must encode a map")
    _raises(_message(b"\xa1\x01", {}, b"p", SIG), "protected header is not well-formed")
    _raises(_message(GOOD_PROTECTED, [], b"p", SIG), "unprotected header must be a map")
    _raises(_message(GOOD_PROTECTED, {}, None, SIG), "detached payloads are not accepted")
    _raises(_message(GOOD_PROTECTED, {}, b"p", SIG[:63]), "64-byte")
    _raises(_message("text", {}, b"p", SIG), "protected header must be a byte string")


def test_rejects_headers_we_do_not_trust():
    _raises(_message({cose.HDR_KID: b"k"}, {cose.HDR_ALG: -8}, b"p", SIG), "alg must be")
    _raises(_message({cose.HDR_ALG: -7, cose.HDR_KID: b"k"}, {}, b"p", SIG), "alg -7 is not")
    _raises(_message({cose.HDR_ALG: -8}, {}, b"p", SIG), "kid missing")
    _raises(_message({cose.HDR_ALG: -8, cose.HDR_KID: b""}, {}, b"p", SIG), "kid missing")
    _raises(_message({cose.HDR_ALG: -8, cose.HDR_KID: b"k" * 33}, {}, b"p", SIG), "1..32")
    _raises(_message(GOOD_PROTECTED, {cose.HDR_KID: b"other"}, b"p", SIG), "both protected")
    _raises(_message({cose.HDR_ALG: -8, cose.HDR_KID: b"k", 2: [1]}, {}, b"p", SIG), "critical")


def test_rejects_oversized_messages_before_parsing():
    _raises(b"\x00" * (cose.MAX_MESSAGE + 1), "exceeds")
