"""The status page's request reader (agent/statuspage/request.py) under hostile and random input:
it only ever refuses with RequestError, holds no more than its bounds, reads the same however
the bytes are split, and reads well-formed heads as h11 (python-hyper/h11, a sans-IO HTTP/1.1
implementation, here as the peer that checks us) reads them."""

from __future__ import annotations

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.statuspage.request import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    Head,
    RequestError,
    RequestReader,
    body_length,
    parse_form,
    parse_head,
)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    ends = [*sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def read(data: bytes, cuts: list[int]) -> tuple[str, Head | None, int]:
    """Feed data split at cuts; (outcome, head, most bytes held) — outcome "head", "more" or
    the refusal's status."""
    reader = RequestReader()
    held = 0
    for chunk in chunks(data, cuts):
        try:
            reader.feed(chunk)
        except RequestError as exc:
            return str(exc.status), None, max(held, reader.buffered)
        held = max(held, reader.buffered)
        if reader.head() is not None:
            return "head", reader.head(), held
    return "more", None, held


FILLER = st.binary(max_size=3 * MAX_HEAD_BYTES)
CUTS = st.lists(st.integers(min_value=0, max_value=3 * MAX_HEAD_BYTES), max_size=8)


@settings(max_examples=300, deadline=None)
@given(FILLER, CUTS)
def test_any_bytes_read_the_same_however_split_and_within_bounds(data: bytes, cuts: list[int]):
    whole = read(data, [])
    split = read(data, cuts)
    assert whole[:2] == split[:2]
    # What a reader holds: at most its head bound, plus what the last feed brought.
    biggest_feed = max(len(c) for c in chunks(data, cuts))
    assert split[2] <= MAX_HEAD_BYTES + len("\r\n\r\n") + biggest_feed


@given(st.integers(min_value=0, max_value=3 * MAX_HEAD_BYTES))
def test_the_head_bound_is_the_one_the_server_always_kept(size: int):
    head = b"GET / HTTP/1.1\r\nX: " + b"a" * size
    outcome = read(head + b"\r\n\r\n", [])[0]
    # asyncio's StreamReader.readuntil(limit=8192): a terminator starting beyond the limit.
    assert outcome == ("head" if len(head) <= MAX_HEAD_BYTES else "431")
    if len(head) < MAX_HEAD_BYTES + len("\r\n\r\n"):
        assert read(head, [])[0] == "more"
    else:
        assert read(head, [])[0] == "431"


@given(st.binary(max_size=MAX_HEAD_BYTES))
def test_any_head_bytes_parse_to_a_head(raw: bytes):
    head = parse_head(raw)
    assert isinstance(head.method, str) and isinstance(head.target, str)
    assert all(name == name.lower() for name in head.headers)


@given(st.text(max_size=40))
def test_content_length_is_a_bounded_number_or_refused(value: str):
    head = Head("POST", "/pause", {"content-length": value})
    try:
        length = body_length(head)
    except RequestError as exc:
        assert exc.status == 413
        assert not (value.isascii() and value.isdigit()) or int(value) > MAX_BODY_BYTES
    else:
        assert 0 <= length <= MAX_BODY_BYTES and length == int(value)


@given(st.binary(max_size=MAX_BODY_BYTES))
def test_any_form_body_parses(body: bytes):
    form = parse_form(body)
    assert all(isinstance(v, list) for v in form.values())


TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&'*+^`|~",
                min_size=1, max_size=20)  # fmt: skip
# Header values: visible ASCII and spaces inside (RFC 9110 §5.5 field-vchar, obs-text left out).
VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.just(" "), max_size=40)
TARGET = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    st.just("/") | TARGET.map(lambda t: "/" + t),
    st.lists(st.tuples(TOKEN, VALUE), max_size=10),
    CUTS,
)
def test_well_formed_heads_read_as_h11_reads_them(
    method: str, target: str, fields: list[tuple[str, str]], cuts: list[int]
):
    fields = [("Host", "192.168.1.2:8080"), *fields]
    raw = f"{method} {target} HTTP/1.1\r\n".encode()
    raw += b"".join(f"{n}: {v}\r\n".encode() for n, v in fields) + b"\r\n"
    peer = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    peer.receive_data(raw)
    try:
        event = peer.next_event()
    except h11.RemoteProtocolError:
        return  # h11 refuses it (e.g. two Content-Lengths); our page answers it, no comparison
    assert isinstance(event, h11.Request)
    outcome, head, _ = read(raw, cuts)
    assert outcome == "head" and head is not None
    assert (head.method, head.target) == (event.method.decode(), event.target.decode())
    theirs: dict[str, str] = {}
    for name, value in event.headers:  # h11 lower-cases names and strips values; the last wins
        theirs[name.decode()] = value.decode("latin-1")
    if "transfer-encoding" not in theirs:  # h11 folds repeated Content-Length into one
        assert head.headers == theirs
