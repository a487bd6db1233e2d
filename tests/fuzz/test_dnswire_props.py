"""The DNS codec against a peer (scapy's DNS layer) and hostile input: only DnsError, no crash."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR

from agent.core import dnswire

LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
NAMES = st.lists(LABEL, min_size=1, max_size=5).map(".".join)
QTYPES = st.sampled_from(sorted(dnswire.QTYPES))


@given(st.integers(0, 0xFFFF), NAMES, QTYPES)
def test_scapy_reads_our_query(qid: int, name: str, qtype: str) -> None:
    parsed = DNS(dnswire.encode_query(qid, name, qtype))
    assert (parsed.id, parsed.qr, parsed.rd, parsed.qdcount) == (qid, 0, 1, 1)
    assert parsed.qd[0].qname.decode() == name + "."
    assert parsed.qd[0].qtype == dnswire.QTYPES[qtype]


@given(st.integers(0, 0xFFFF), NAMES, QTYPES, st.integers(0, 5), st.booleans())
def test_we_read_scapys_answer(qid: int, name: str, qtype: str, rcode: int, tc: bool) -> None:
    query = dnswire.encode_query(qid, name, qtype)
    answer = bytes(
        DNS(
            id=qid,
            qr=1,
            rd=1,
            ra=1,
            tc=int(tc),
            rcode=rcode,
            qd=DNSQR(qname=name, qtype=dnswire.QTYPES[qtype]),
        )
    )
    out = dnswire.decode_answer(answer, query)
    assert out == {"rcode": dnswire.RCODES[rcode], "truncated": tc, "answers": 0}


@given(st.binary(max_size=600), NAMES)
def test_any_bytes_give_an_answer_or_dns_error(data: bytes, name: str) -> None:
    query = dnswire.encode_query(1, name, "A")
    try:
        out = dnswire.decode_answer(data, query)
    except dnswire.DnsError:
        return
    assert data[:2] == query[:2] and out["rcode"]
