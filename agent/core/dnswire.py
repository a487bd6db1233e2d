"""DNS messages (RFC 1035 §4): one query out, the header and question of an answer back.

Sans-IO and portable (CPython and MicroPython): the probe sends the query over UDP, or over TCP
with a two-octet length prefix (RFC 1035 §4.2.2, RFC 7766), and feeds back what arrives. An
answer is ours only if it carries our id and our question (RFC 5452 §9.1); anything else is
ignored by the caller, so a stray or spoofed packet cannot end a measurement early.
"""

from agent.core.errors import InvalidInput

QTYPES = {"A": 1, "AAAA": 28, "TXT": 16, "NS": 2}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
MAX_NAME = 253
MAX_LABEL = 63
_HEADER = 12
_RD = 0x0100  # recursion desired
_QR = 0x8000
_TC = 0x0200
_CLASS_IN = 1


class DnsError(InvalidInput):
    """Not a DNS answer to our query; the text says what is wrong."""


def _check_name(name):
    # type: (str) -> list[bytes]
    labels = name.rstrip(".").split(".")
    if not name or len(name.rstrip(".")) > MAX_NAME:
        raise DnsError("name must be 1.." + str(MAX_NAME) + " characters")
    out = []
    for label in labels:
        raw = label.encode()
        if not 0 < len(raw) <= MAX_LABEL:
            raise DnsError("label " + repr(label) + " must be 1.." + str(MAX_LABEL) + " octets")
        out.append(raw)
    return out


def encode_query(qid, name, qtype):
    # type: (int, str, str) -> bytes
    """A recursive query for one (name, type, IN); no EDNS, so a large answer comes truncated."""
    if qtype not in QTYPES:
        raise DnsError("query type must be one of " + ", ".join(sorted(QTYPES)))
    if not 0 <= qid <= 0xFFFF:
        raise DnsError("query id must be 0..65535")
    out = bytearray()
    out += qid.to_bytes(2, "big") + _RD.to_bytes(2, "big")
    out += b"\x00\x01\x00\x00\x00\x00\x00\x00"  # one question, nothing else
    for raw in _check_name(name):
        out.append(len(raw))
        out += raw
    out.append(0)
    out += QTYPES[qtype].to_bytes(2, "big") + _CLASS_IN.to_bytes(2, "big")
    return bytes(out)


def rcode_name(rcode):
    # type: (int) -> str
    return RCODES.get(rcode, "RCODE" + str(rcode))


def decode_answer(data, query):
    # type: (bytes, bytes) -> dict
    """{rcode, truncated, answers} of `data` if it answers `query` (same id and question);
    raises DnsError otherwise. Only the header and the question are read."""
    if len(data) < _HEADER:
        raise DnsError("shorter than a DNS header")
    if data[0:2] != query[0:2]:
        raise DnsError("not our query id")
    flags = int.from_bytes(data[2:4], "big")
    if not flags & _QR:
        raise DnsError("a query, not an answer")
    question = query[_HEADER:]
    if data[4:6] != b"\x00\x01" or len(data) < _HEADER + len(question):
        raise DnsError("does not carry our question")
    # Resolvers may echo the name in another letter case (0x20 randomisation): compare folded.
    if data[_HEADER : _HEADER + len(question)].lower() != question.lower():
        raise DnsError("does not carry our question")
    return {
        "rcode": rcode_name(flags & 0x000F),
        "truncated": bool(flags & _TC),
        "answers": int.from_bytes(data[6:8], "big"),
    }
