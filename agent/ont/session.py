"""The OMCI client, sans-IO: feed it received bytes and clock readings, it says what to send.

The OMCC expects one outstanding request at a time. A request is matched to its response by the
transaction correlation identifier (TCI); a lost exchange is retransmitted with the same TCI a
bounded number of times. A procedure (see procedures.py) is a generator that yields `Request`s and
is sent back the response `Message` (for a Test, the test result message that follows it). AVC and
alarm notifications and every frame that could not be used are kept as bounded event lists, so a
storm or a hostile ONT costs memory no bigger than those bounds.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Generator
from typing import Any, NamedTuple

from agent.core.errors import QiyasError
from agent.ont import frames, messages
from agent.ont.alarms import AlarmState
from agent.ont.frames import MT, FrameError, Message

MAX_EVENTS = 64  # notifications and drop reasons kept; beyond, only counted
AUTONOMOUS = (MT.AVC, MT.ALARM)


class OmciError(QiyasError):
    """The exchange failed: the ONT did not answer, refused, or answered nonsense."""


class Request(NamedTuple):
    mt: MT
    me_class: int
    me_instance: int
    contents: bytes = b""
    test: bool = False  # a Test: the result comes later, in a Test result message
    extended: bool = False  # in the extended message set (device identifier 0x0B)


Procedure = Generator[Request, Message, Any]


class Notification(NamedTuple):
    at: float
    kind: str  # "avc" | "alarm"
    detail: messages.Avc | messages.Alarm


class Stats:
    def __init__(self) -> None:
        self.sent = 0
        self.sent_types: Counter[int] = Counter()  # requests sent, by message type
        self.received = 0
        self.retransmitted = 0
        self.dropped = 0
        self.notifications = 0


class Runner:
    """Runs one procedure over the OMCC.

    start(now) / receive(data, now) / poll(now) each return the frames to transmit; `deadline`
    says when poll() must be called next. When `done`, `result` holds the procedure's return value
    or `error` what went wrong.
    """

    def __init__(
        self,
        procedure: Procedure,
        *,
        timeout_s: float = 1.0,
        retries: int = 2,
        ik: bytes | None = None,
        first_tci: int = 1,
        alarms: AlarmState | None = None,
    ) -> None:
        self._procedure = procedure
        self.alarms = alarms  # kept in step with every alarm notification
        self.timeout_s = timeout_s
        self.retries = retries
        self.ik = ik
        self._tci = first_tci
        self._current: Request | None = None
        self._outstanding: Message | None = None
        self._wire = b""
        self._tries = 0
        self._dropped_before = 0
        self._awaiting_test_result = False
        self.deadline: float | None = None
        self.done = False
        self.result: Any = None
        self.error: str | None = None
        self.stats = Stats()
        self.notifications: deque[Notification] = deque(maxlen=MAX_EVENTS)
        self.drops: deque[str] = deque(maxlen=MAX_EVENTS)

    # --- inputs -----------------------------------------------------------------------------

    def start(self, now: float) -> list[bytes]:
        return self._advance(now, None)

    def receive(self, data: bytes, now: float, *, padded: bool = False) -> list[bytes]:
        self.stats.received += 1
        try:
            msg = frames.decode(data, ik=self.ik, upstream=True, padded=padded)
        except FrameError as exc:
            return self._drop(str(exc))
        if msg.ar:
            return self._drop(f"a request (message type {msg.mt}) came from the ONT")
        if msg.mt in AUTONOMOUS and msg.is_notification:
            if msg.tci != 0:  # G.988 11.2.1: the ONT's own messages carry TCI 0
                return self._drop(f"autonomous message type {msg.mt} with TCI {msg.tci}, not 0")
            return self._notify(msg, now)
        if msg.tci == 0:
            return self._drop(f"message type {msg.mt} with TCI 0, which only AVC and alarms use")
        out = self._outstanding
        if out is None or self.done:
            return self._drop(f"message type {msg.mt} TCI {msg.tci} while nothing is outstanding")
        if msg.tci != out.tci:
            return self._drop(f"TCI {msg.tci} does not match outstanding TCI {out.tci}")
        if self._awaiting_test_result:
            if msg.mt != MT.TEST_RESULT or not msg.is_notification:
                return self._drop(
                    f"message type {msg.mt} TCI {msg.tci} while awaiting the test result"
                )
            return self._advance(now, msg)
        asked = (out.mt, out.me_class, out.me_instance)
        if not msg.ak or (msg.mt, msg.me_class, msg.me_instance) != asked:
            return self._drop(
                f"TCI {msg.tci} answered with message type {msg.mt} for ME {msg.me_class}/"
                f"{msg.me_instance}, asked {out.mt} for {out.me_class}/{out.me_instance}"
            )
        if self._current is not None and self._current.test:
            if msg.contents[:1] != bytes([frames.Result.SUCCESS]):
                return self._advance(now, msg)  # refused: the procedure reads the response
            # The test runs now; its result comes as a separate message with this TCI.
            self._awaiting_test_result = True
            self.deadline = now + self.timeout_s
            return []
        return self._advance(now, msg)

    def poll(self, now: float) -> list[bytes]:
        if self.done or self.deadline is None or now < self.deadline:
            return []
        out = self._outstanding
        assert out is not None
        if self._awaiting_test_result:
            return self._fail(f"no test result for ME {out.me_class}/{out.me_instance}")
        if self._tries > self.retries:
            unusable = self.stats.dropped - self._dropped_before
            why = f"; {unusable} unusable answer(s), the last: {self.drops[-1]}" if unusable else ""
            return self._fail(
                f"the ONT did not answer {MT(out.mt).name} of ME {out.me_class}/{out.me_instance}"
                f" after {self._tries} tries of {self.timeout_s:g} s{why}"
            )
        return self._transmit(now)

    # --- internals --------------------------------------------------------------------------

    def _advance(self, now: float, reply: Message | None) -> list[bytes]:
        self._outstanding = None
        self._awaiting_test_result = False
        self.deadline = None
        try:
            req = next(self._procedure) if reply is None else self._procedure.send(reply)
        except StopIteration as stop:
            self.done = True
            self.result = stop.value
            return []
        except (OmciError, FrameError) as exc:
            return self._fail(str(exc))
        self._current = req
        self._outstanding = frames.request(
            self._next_tci(), req.mt, req.me_class, req.me_instance, req.contents,
            extended=req.extended,
        )  # fmt: skip
        self._wire = frames.encode(self._outstanding, ik=self.ik, upstream=False)
        self._tries = 0
        self._dropped_before = self.stats.dropped
        return self._transmit(now)

    def _transmit(self, now: float) -> list[bytes]:
        if self._tries:
            self.stats.retransmitted += 1
        self._tries += 1
        self.stats.sent += 1
        if self._outstanding is not None:
            self.stats.sent_types[self._outstanding.mt] += 1
        self.deadline = now + self.timeout_s
        return [self._wire]

    def _next_tci(self) -> int:
        # 0 is the ONT's own (AVC, alarm); the top bit asks for high priority, which we never need.
        tci = self._tci
        self._tci = tci % 0x7FFF + 1
        return tci

    def _notify(self, msg: Message, now: float) -> list[bytes]:
        self.stats.notifications += 1
        try:
            detail: messages.Avc | messages.Alarm = (
                messages.parse_avc(msg) if msg.mt == MT.AVC else messages.parse_alarm(msg)
            )
        except FrameError as exc:
            return self._drop(str(exc))
        self.notifications.append(Notification(now, "avc" if msg.mt == MT.AVC else "alarm", detail))
        if self.alarms is not None and isinstance(detail, messages.Alarm):
            self.alarms.notify(detail)
        return []

    def _drop(self, reason: str) -> list[bytes]:
        self.stats.dropped += 1
        self.drops.append(reason)
        return []

    def _fail(self, reason: str) -> list[bytes]:
        self.done = True
        self.error = reason
        self.deadline = None
        self._outstanding = None
        self._procedure.close()
        return []


def describe_result(code: int) -> str:
    try:
        return frames.Result(code).name.lower().replace("_", " ")
    except ValueError:
        return f"result code {code}"
