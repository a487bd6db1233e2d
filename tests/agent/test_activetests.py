"""agent.activetests: active tests never overlap, take turns in arrival order, record their wait.

Real asyncio tasks; the clock is injected (a number the test advances), and each test holds the
line until the test releases it by an event: nothing sleeps.
"""

from __future__ import annotations

import asyncio

from agent.activetests import ActiveTests


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_tests_take_turns_in_order_and_record_their_wait() -> None:
    clock = Clock(1000.0)
    tests = ActiveTests(clock)
    release = {name: asyncio.Event() for name in ("capacity", "latency", "dns")}
    started: dict[str, asyncio.Event] = {name: asyncio.Event() for name in release}
    running: list[str] = []
    overlaps: list[tuple[str, str]] = []
    turns = {}

    async def test(name: str) -> None:
        async with tests.turn(name, due=clock.now) as turn:
            if running:
                overlaps.append((running[-1], name))
            running.append(name)
            turns[name] = turn
            started[name].set()
            await release[name].wait()
            running.remove(name)

    tasks = [asyncio.create_task(test("capacity"))]
    await asyncio.wait_for(started["capacity"].wait(), 10)
    clock.now = 1002.0  # latency comes due 2 s into the capacity test, dns 1 s later
    tasks.append(asyncio.create_task(test("latency")))
    await asyncio.sleep(0)
    clock.now = 1003.0
    tasks.append(asyncio.create_task(test("dns")))
    await asyncio.sleep(0)
    assert tests.waiting == 2
    assert tests.current is not None and tests.current.name == "capacity"

    clock.now = 1012.5
    release["capacity"].set()
    await asyncio.wait_for(started["latency"].wait(), 10)
    assert not started["dns"].is_set(), "dns must wait for latency"
    clock.now = 1013.5
    release["latency"].set()
    await asyncio.wait_for(started["dns"].wait(), 10)
    release["dns"].set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)

    assert overlaps == []
    assert turns["capacity"].wait_s == 0.0
    assert turns["latency"].queue_values() == {"wait_ms": 10500, "due_ms": 1002000}
    assert turns["dns"].queue_values() == {"wait_ms": 10500, "due_ms": 1003000}
    assert (turns["capacity"].ended, turns["latency"].ended) == (1012.5, 1013.5)
    assert tests.current is None and tests.waiting == 0


async def test_a_failing_test_gives_the_line_back() -> None:
    tests = ActiveTests(Clock(5.0))
    try:
        async with tests.turn("capacity"):
            raise OSError("server unreachable")
    except OSError:
        pass
    async with asyncio.timeout(10):
        async with tests.turn("latency") as turn:
            assert turn.wait_s == 0.0


async def test_a_test_cancelled_while_waiting_leaves_the_queue() -> None:
    tests = ActiveTests(Clock(5.0))
    hold = asyncio.Event()

    async def holder() -> None:
        async with tests.turn("capacity"):
            await hold.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(tests.turn("dns").__aenter__())
    await asyncio.sleep(0)
    assert tests.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert tests.waiting == 0
    hold.set()
    await asyncio.wait_for(first, 10)
    async with asyncio.timeout(10):
        async with tests.turn("latency"):
            pass
