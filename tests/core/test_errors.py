"""The base error type (agent/core/errors.py) under both interpreters."""

import sys

from agent.core import cbor
from agent.core.errors import InvalidInput, QiyasError

MICROPYTHON = sys.implementation.name == "micropython"


def test_bad_input_is_still_a_value_error():
    # Callers written before the base type catch ValueError; they must keep catching it.
    try:
        cbor.loads(b"\xff")
    except ValueError as exc:
        assert isinstance(exc, InvalidInput)
    else:
        raise AssertionError("bad CBOR was accepted")


def test_ours_caught_in_one_place():
    caught = []
    for error in (cbor.CBORError("bad"), QiyasError("ours")):
        try:
            raise error
        except QiyasError as exc:
            caught.append(str(exc))
        except ValueError:
            # MicroPython: one built-in base per class, so InvalidInput is a ValueError only.
            assert MICROPYTHON
            caught.append(str(error))
    assert caught == ["bad", "ours"]


def test_on_cpython_bad_input_is_ours():
    if MICROPYTHON:
        return
    assert issubclass(InvalidInput, QiyasError)
    assert issubclass(cbor.CBORError, QiyasError)
