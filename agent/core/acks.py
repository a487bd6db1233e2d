"""Acknowledgements the collector publishes on qiyas/v1/probes/{probe}/acks.

A record leaves a probe's outbox only when one of these says the collector made it durable.
Payload: CBOR array of [epoch, seq, status] triples.
"""

from agent.core import cbor
from agent.core.errors import InvalidInput

STORED = 0  # committed now
DUPLICATE = 1  # already stored earlier (a resend)
QUARANTINED = 2  # kept in quarantine with its reason: the probe need not resend it

MAX_ACKS = 1000


class AckError(InvalidInput):
    pass


def encode(entries):
    # type: (list[tuple[int, int, int]]) -> bytes
    """entries: iterable of (epoch, seq, status)."""
    out = [[e, s, st] for e, s, st in entries]
    if len(out) > MAX_ACKS:
        raise AckError("more than %d acknowledgements in one message" % MAX_ACKS)
    return cbor.dumps(out)


def decode(raw):
    # type: (bytes) -> list[tuple[int, int, int]]
    try:
        items = cbor.loads(raw, max_depth=2, max_items=4 * MAX_ACKS + 1, tags=())
    except cbor.CBORError as exc:
        raise AckError("not well-formed: %s" % exc) from None
    if not isinstance(items, list):
        raise AckError("acknowledgements must be an array")
    out = []
    for item in items:
        if not isinstance(item, list) or len(item) != 3:
            raise AckError("each acknowledgement is [epoch, seq, status]")
        for part in item:
            if not isinstance(part, int) or isinstance(part, bool) or part < 0:
                raise AckError("acknowledgement fields are unsigned integers")
        out.append((item[0], item[1], item[2]))
    return out
