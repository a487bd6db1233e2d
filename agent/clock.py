"""Is the system clock synchronised? Asked of the kernel (adjtimex), which NTP daemons inform."""

from __future__ import annotations

import ctypes
import ctypes.util

_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised


class _Timex(ctypes.Structure):
    # struct timex is 208 bytes on 64-bit Linux; 512 leaves room on any ABI. modes=0 only reads.
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 508)]


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


_LIBC = _libc()


def synchronised() -> bool:
    """True when the kernel says the clock is synchronised; False when unknown."""
    if _LIBC is None or not hasattr(_LIBC, "adjtimex"):
        return False
    tx = _Timex()
    state: int = _LIBC.adjtimex(ctypes.byref(tx))
    return 0 <= state < _TIME_ERROR
