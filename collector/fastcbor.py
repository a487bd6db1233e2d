"""The collector's CBOR decoder on CPython: cbor2's C decoder where it provably agrees with the
portable `agent.core.cbor.loads`, that decoder everywhere else.

Same contract as `agent.core.cbor.loads` (same arguments, same values, same `CBORError` with the
same text), so `agent.core.cose` and `agent.core.record`, which hold every strictness rule, take
it as their `loads`. Why this is sound: cbor2 decodes the bytes, and its result is taken only if

1. re-encoding it deterministically (cbor2 `canonical=True`) gives back exactly the input bytes —
   so the input has no duplicate keys, no indefinite lengths, no trailing bytes, no tags cbor2
   interprets away (self-describe, bignums that fit 64 bits, string references), and cbor2 read
   every byte of it; and
2. one walk over the value finds only what the portable decoder produces (int within 64 bits,
   float, bool, None, bytes, text, list, dict with int or text keys, a tag in `tags`) within the
   same depth and item bounds, counted the same way.

Anything else — including every refusal, and valid input that is not deterministically encoded —
is decoded again by the portable decoder, which gives the answer and the error text. Agents emit
RFC 8949 §4.2 deterministic encoding, so their records take the fast path.
"""

from __future__ import annotations

from typing import Any

import cbor2

from agent.core import cbor

_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


class _Miss(Exception):
    """The fast path cannot vouch for this input; the portable decoder decides."""


def loads(
    data: bytes,
    max_depth: int = cbor.MAX_DEPTH,
    max_items: int = cbor.MAX_ITEMS,
    tags: tuple[int, ...] | None = None,
) -> object:
    """Decode exactly one data item, as `agent.core.cbor.loads` does; raises `cbor.CBORError`."""
    try:
        return fast_loads(data, max_depth, max_items, tags)
    except _Miss:
        return cbor.loads(data, max_depth, max_items, tags)


def fast_loads(data: bytes, max_depth: int, max_items: int, tags: tuple[int, ...] | None) -> object:
    """The value of deterministically encoded data within the bounds; raises _Miss otherwise."""
    try:
        # max_depth + 1: cbor2 counts containers, the portable decoder counts items.
        value = cbor2.loads(data, max_depth=max_depth + 1, allow_indefinite=False)
        same = cbor2.dumps(value, canonical=True) == data
    except Exception as exc:  # any failure of cbor2 on hostile bytes: let the portable one say
        raise _Miss from exc
    if not same:
        raise _Miss
    if _check_items(value, max_depth, max_items, tags):
        return _thawed(value)
    return value


def _thawed(value: Any) -> Any:
    """value as the portable decoder gives it: cbor2 makes what is inside a tag immutable."""
    kind = type(value)
    if kind is cbor2.CBORTag:
        return cbor.Tag(value.tag, _thawed(value.value))
    if kind is tuple or kind is list:
        return [_thawed(item) for item in value]
    if kind is cbor2.frozendict or kind is dict:
        return {key: _thawed(item) for key, item in value.items()}
    return value


_SCALARS = (str, bytes, float, bool, type(None))


def _check_items(value: Any, max_depth: int, max_items: int, tags: tuple[int, ...] | None) -> bool:
    """Raise _Miss unless value holds only what the portable decoder yields, within its depth and
    item bounds counted as it counts them (each key, value and tag is one item; the top is at
    depth 0). Returns whether it holds a tag (whose contents cbor2 made immutable)."""
    tagged = False
    items = 0
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        items += 1
        if depth > max_depth or items > max_items:
            raise _Miss
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is int:
            if not _INT_MIN <= item <= _INT_MAX:
                raise _Miss
        elif kind is dict or kind is cbor2.frozendict:
            # A key is a scalar one level down: counted here, bounded like any item.
            items += len(item)
            if depth + 1 > max_depth and item:
                raise _Miss
            for key, member in item.items():
                key_kind = type(key)
                if key_kind is int:
                    if not _INT_MIN <= key <= _INT_MAX:
                        raise _Miss
                elif key_kind is not str:
                    raise _Miss
                pending.append((member, depth + 1))
        # Inside a tag cbor2 gives tuples for arrays.
        elif kind is list or kind is tuple:
            pending += [(member, depth + 1) for member in item]
        elif kind is cbor2.CBORTag and (tags is None or item.tag in tags):
            tagged = True
            pending.append((item.value, depth + 1))
        else:
            raise _Miss
    return tagged
