"""COSE_Sign1 (RFC 9052) with EdDSA/Ed25519, the envelope of every Qiyas record and command.

The signature primitive is injected (a callable), so this module runs under CPython with
`cryptography` and under MicroPython with the pure Ed25519 in `ed25519.py`.
"""

from agent.core import cbor
from agent.core.errors import InvalidInput

TAG_SIGN1 = 18
ALG_EDDSA = -8
HDR_ALG = 1
HDR_CRIT = 2
HDR_KID = 4
MAX_MESSAGE = 16384


class COSEError(InvalidInput):
    """A message that is not a COSE_Sign1 we accept; the text says why."""


def _sig_structure(protected_raw, payload):
    return cbor.dumps(["Signature1", protected_raw, b"", payload])


def sign1(payload, kid, sign):
    """Wrap payload (bytes) in a tagged COSE_Sign1, alg and kid in the protected header.

    sign: callable(bytes) -> 64-byte Ed25519 signature.
    """
    protected_raw = cbor.dumps({HDR_ALG: ALG_EDDSA, HDR_KID: kid})
    signature = sign(_sig_structure(protected_raw, payload))
    return cbor.dumps(cbor.Tag(TAG_SIGN1, [protected_raw, {}, payload, signature]))


class Sign1:
    """A parsed, not yet verified, COSE_Sign1 message."""

    __slots__ = ("kid", "payload", "protected_raw", "signature")

    def __init__(self, protected_raw, kid, payload, signature):
        self.protected_raw = protected_raw
        self.kid = kid
        self.payload = payload
        self.signature = signature

    def to_be_signed(self):
        # type: () -> bytes
        return _sig_structure(self.protected_raw, self.payload)

    def verify(self, verify):
        """verify: callable(signature, data) -> bool for the key that kid names."""
        return bool(verify(self.signature, self.to_be_signed()))


def parse_sign1(data, loads=cbor.loads):
    """Parse the envelope of a COSE_Sign1 and check its headers; raises COSEError.

    loads: a decoder with the contract of cbor.loads (the collector passes a faster one on
    CPython); the checks here hold whichever decodes.
    """
    if len(data) > MAX_MESSAGE:
        raise COSEError("message of %d bytes exceeds %d" % (len(data), MAX_MESSAGE))
    try:
        outer = loads(data, max_depth=4, max_items=64, tags=(TAG_SIGN1,))
    except cbor.CBORError as exc:
        raise COSEError("not well-formed CBOR: %s" % exc) from None
    if not isinstance(outer, cbor.Tag):
        raise COSEError("not tagged as COSE_Sign1 (tag 18)")
    msg = outer.value
    if not isinstance(msg, list) or len(msg) != 4:
        raise COSEError("COSE_Sign1 must be an array of 4 items")
    protected_raw, unprotected, payload, signature = msg
    if not isinstance(protected_raw, bytes):
        raise COSEError("protected header must be a byte string")
    if not isinstance(unprotected, dict):
        raise COSEError("unprotected header must be a map")
    if not isinstance(payload, bytes):
        raise COSEError("payload must be a byte string (detached payloads are not accepted)")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise COSEError("signature must be a 64-byte string")
    if protected_raw:
        try:
            protected = loads(protected_raw, max_depth=2, max_items=32)
        except cbor.CBORError as exc:
            raise COSEError("protected header is not well-formed: %s" % exc) from None
        if not isinstance(protected, dict):
            raise COSEError("protected header must encode a map")
    else:
        protected = {}
    for key in protected:
        if key in unprotected:
            raise COSEError("header %r appears both protected and unprotected" % (key,))
    if HDR_ALG in unprotected:
        raise COSEError("alg must be in the protected header")
    if HDR_CRIT in protected or HDR_CRIT in unprotected:
        raise COSEError("critical headers are not supported")
    alg = protected.get(HDR_ALG)
    if alg != ALG_EDDSA:
        raise COSEError("alg %r is not EdDSA (-8)" % (alg,))
    kid = protected.get(HDR_KID, unprotected.get(HDR_KID))
    if not isinstance(kid, bytes) or not 1 <= len(kid) <= 32:
        raise COSEError("kid missing or not a byte string of 1..32 bytes")
    return Sign1(protected_raw, kid, payload, signature)
