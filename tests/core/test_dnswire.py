"""DNS query codec (runs under CPython and MicroPython: no fixtures). Peers check it too:
scapy's DNS layer in tests/fuzz/test_dnswire_props.py, dnsmasq in tests/probe/test_probe_dns.py."""

from agent.core import dnswire

# RFC 1035 §4.1: header id 0x1234, RD; one question; www.example.com A IN, labels length-prefixed.
QUERY = (
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01"
)


def _raises(fn, *args):
    try:
        fn(*args)
    except dnswire.DnsError as exc:
        return str(exc)
    raise AssertionError("no DnsError")


def _answer(query, flags, ancount=0):
    return query[:2] + flags + query[4:6] + ancount.to_bytes(2, "big") + query[8:]


def test_query_is_rfc1035_wire_format():
    assert dnswire.encode_query(0x1234, "www.example.com", "A") == QUERY
    assert dnswire.encode_query(0x1234, "www.example.com.", "A") == QUERY
    aaaa = dnswire.encode_query(7, "example.com", "AAAA")
    assert aaaa[-4:] == b"\x00\x1c\x00\x01"


def test_answer_codes_and_truncation():
    ok = _answer(QUERY, b"\x81\x80", 2)  # QR RD RA, NOERROR
    assert dnswire.decode_answer(ok, QUERY) == {
        "rcode": "NOERROR",
        "truncated": False,
        "answers": 2,
    }
    servfail = _answer(QUERY, b"\x81\x82")
    assert dnswire.decode_answer(servfail, QUERY)["rcode"] == "SERVFAIL"
    nxdomain = _answer(QUERY, b"\x81\x83")
    assert dnswire.decode_answer(nxdomain, QUERY)["rcode"] == "NXDOMAIN"
    truncated = _answer(QUERY, b"\x83\x80")
    assert dnswire.decode_answer(truncated, QUERY)["truncated"]
    assert dnswire.decode_answer(_answer(QUERY, b"\x81\x8b"), QUERY)["rcode"] == "RCODE11"


def test_question_echoed_in_another_case_is_ours():
    mixed = QUERY.replace(b"example", b"ExAmPlE")
    assert dnswire.decode_answer(_answer(mixed, b"\x81\x80"), QUERY)["rcode"] == "NOERROR"


def test_what_is_not_our_answer():
    assert "header" in _raises(dnswire.decode_answer, b"\x12\x34", QUERY)
    other_id = b"\x99\x99" + _answer(QUERY, b"\x81\x80")[2:]
    assert "id" in _raises(dnswire.decode_answer, other_id, QUERY)
    assert "query" in _raises(dnswire.decode_answer, QUERY, QUERY)  # QR clear
    other_name = _answer(QUERY.replace(b"www", b"ftp"), b"\x81\x80")
    assert "question" in _raises(dnswire.decode_answer, other_name, QUERY)
    cut = _answer(QUERY, b"\x81\x80")[:20]
    assert "question" in _raises(dnswire.decode_answer, cut, QUERY)


def test_bad_queries_are_refused():
    assert "label" in _raises(dnswire.encode_query, 1, "a" * 64 + ".com", "A")
    assert "label" in _raises(dnswire.encode_query, 1, "a..com", "A")
    assert "name" in _raises(dnswire.encode_query, 1, "", "A")
    assert "name" in _raises(dnswire.encode_query, 1, ("a" * 60 + ".") * 5, "A")
    assert "type" in _raises(dnswire.encode_query, 1, "example.com", "MX")
    assert "id" in _raises(dnswire.encode_query, 70000, "example.com", "A")
