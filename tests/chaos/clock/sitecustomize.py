"""A wall-clock jump for an agent process, without touching the system clock.

Put this folder on the agent's PYTHONPATH and name a file in QIYAS_CLOCK_OFFSET_FILE: Python's
site machinery imports this module at start-up, and from then on time.time() and time.time_ns()
are the real wall clock plus the number of seconds written in that file (re-read at most every
50 ms). The monotonic clock is left alone, exactly as a real jump of the wall clock leaves it.
"""

import os
import time

_FILE = os.environ.get("QIYAS_CLOCK_OFFSET_FILE")

if _FILE:
    _real_time = time.time
    _real_time_ns = time.time_ns
    _cache = [0.0, -1.0]  # offset in seconds, monotonic time it was read

    def _offset() -> float:
        now = time.monotonic()
        if now - _cache[1] > 0.05:
            try:
                with open(_FILE) as f:
                    _cache[0] = float(f.read().strip() or 0)
            except (OSError, ValueError):
                _cache[0] = 0.0
            _cache[1] = now
        return _cache[0]

    time.time = lambda: _real_time() + _offset()
    time.time_ns = lambda: _real_time_ns() + int(_offset() * 1e9)
