"""Long fuzz run: every property test in tests/fuzz/ (AT lines and dialects, OMCI frames, STAMP,
CBOR/COSE records and the collector's gate, commands, config files, Ed25519), each with many
more examples than the test suite gives it. Prints, per test, the inputs tried, failures, time,
and the cost of one input relative to a reference measured in the same run (a property that only
draws random bytes and does nothing with them: hypothesis's own cost per input).

    .venv/bin/python tests/bench/bench_fuzz.py [--examples N] [--only SUBSTRING] [--json]

Not pass/fail: exit status 0 even when a property fails; failures are listed with the falsifying
input's error. Tests that need pytest fixtures are skipped (and named).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
ROOT = FUZZ_DIR.parents[1]


@dataclass
class Outcome:
    name: str
    tried: int
    failures: int
    seconds: float
    error: str = ""

    @property
    def per_input_us(self) -> float:
        return 1e6 * self.seconds / max(1, self.tried)


def run_property(name: str, test: Any, examples: int) -> Outcome:
    """Run a @given test with `examples` examples, counting the inputs it was called with."""
    tried = 0
    inner = test.hypothesis.inner_test

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal tried
        tried += 1
        return inner(*args, **kwargs)

    own = test._hypothesis_internal_use_settings
    test.hypothesis.inner_test = counting
    # A test's own @settings cannot be decorated over; hypothesis keeps it in this attribute.
    test._hypothesis_internal_use_settings = settings(
        own,
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    started = time.perf_counter()
    error = ""
    try:
        test()
    except Exception as exc:
        lines = traceback.format_exception_only(type(exc), exc)
        error = lines[-1].strip()[:300]
    finally:
        test.hypothesis.inner_test = inner
        test._hypothesis_internal_use_settings = own
    return Outcome(name, tried, 1 if error else 0, time.perf_counter() - started, error)


def reference(examples: int) -> Outcome:
    @given(st.binary(max_size=2000))
    def draws_bytes_only(data: bytes) -> None:
        pass

    return run_property("reference: draw bytes, do nothing", draws_bytes_only, examples)


def properties(only: str | None) -> tuple[list[tuple[str, Any]], list[str]]:
    sys.path[:0] = [str(ROOT), str(FUZZ_DIR)]
    found, skipped = [], []
    for path in sorted(FUZZ_DIR.glob("test_*.py")):
        module = importlib.import_module(path.stem)
        for attr, test in vars(module).items():
            name = f"{path.stem}::{attr}"
            if not attr.startswith("test_") or not hasattr(test, "hypothesis"):
                continue
            if only and only not in name:
                continue
            if inspect.signature(test).parameters:
                skipped.append(name)  # needs pytest fixtures
                continue
            found.append((name, test))
    return found, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per property")
    parser.add_argument("--only", help="run only properties whose name contains this")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    progress: Callable[[str], None] = (
        (lambda s: print(s, file=sys.stderr)) if args.json else (lambda s: print(s, flush=True))
    )
    found, skipped = properties(args.only)
    reference(min(args.examples, 200))  # warm-up: hypothesis's first run pays for its imports
    ref = reference(args.examples)
    progress(
        f"reference: {ref.tried} inputs in {ref.seconds:.2f}s ({ref.per_input_us:.0f} µs each)"
    )
    outcomes = []
    for name, test in found:
        outcome = run_property(name, test, args.examples)
        outcomes.append(outcome)
        mark = "FAIL" if outcome.failures else "ok"
        progress(
            f"{mark:4} {name:<90} {outcome.tried:>7} inputs {outcome.seconds:7.2f}s "
            f"{outcome.per_input_us / ref.per_input_us:6.1f}x ref"
            + (f"  {outcome.error}" if outcome.error else "")
        )
    total = sum(o.tried for o in outcomes)
    failed = [o for o in outcomes if o.failures]
    summary = {
        "examples_per_property": args.examples,
        "properties": len(outcomes),
        "inputs_tried": total,
        "failures": len(failed),
        "seconds": round(sum(o.seconds for o in outcomes), 2),
        "reference_us_per_input": round(ref.per_input_us, 1),
        "median_cost_vs_reference": round(
            sorted(o.per_input_us for o in outcomes)[len(outcomes) // 2] / ref.per_input_us, 2
        )
        if outcomes
        else None,
        "failed": {o.name: o.error for o in failed},
        "skipped_need_fixtures": skipped,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        progress(
            f"\n{summary['properties']} properties, {total} inputs tried, {len(failed)} failing, "
            f"{summary['seconds']}s; median cost per input {summary['median_cost_vs_reference']}x "
            f"the reference; skipped (need fixtures): {', '.join(skipped) or 'none'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
