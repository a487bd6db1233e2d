"""Runs plain `def test_*()` functions inside MicroPython; run.mjs loads it into the wasm port.

There is no pytest under MicroPython: this imports each test module, calls every module-level
function whose name starts with `test_`, and prints one line per test in a fixed format that
run.mjs and tests/mpy/test_micropython.py read:

    PASS <module>::<test> <ms>
    FAIL <module>::<test>
      <traceback lines, indented>
    SUMMARY <passed> <failed>
"""

import gc
import io
import sys
import time


def _traceback(exc):
    buf = io.StringIO()
    sys.print_exception(exc, buf)
    return buf.getvalue()


def _fail(name, text):
    print("FAIL %s" % name)
    for line in text.rstrip().split("\n"):
        print("  " + line)


def run_module(module_name, only):
    """Run one module's tests; returns (passed, failed). only: a test name, or None for all."""
    try:
        module = __import__(module_name)
    except Exception as exc:  # the module itself did not import: every test in it fails
        _fail(module_name + "::<import>", _traceback(exc))
        return 0, 1
    passed = failed = 0
    # Module globals are not ordered under MicroPython; sort so runs are comparable.
    for name in sorted(dir(module)):
        if not name.startswith("test_") or (only is not None and name != only):
            continue
        func = getattr(module, name)
        if not callable(func):
            continue
        label = "%s::%s" % (module_name, name)
        gc.collect()
        start = time.ticks_ms()
        try:
            func()
        except Exception as exc:
            _fail(label, _traceback(exc))
            failed += 1
        else:
            print("PASS %s %d" % (label, time.ticks_diff(time.ticks_ms(), start)))
            passed += 1
    return passed, failed


def main(selectors):
    """selectors: "module" or "module::test" strings. Returns the number of failures."""
    passed = failed = 0
    for selector in selectors:
        module_name, _, only = selector.partition("::")
        p, f = run_module(module_name, only or None)
        passed += p
        failed += f
    print("SUMMARY %d %d" % (passed, failed))
    return failed
