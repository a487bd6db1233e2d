from agent.core.errors import QiyasError

"""Sans-IO AT command session (3GPP TS 27.007 / ITU-T V.250 framing).

Feed it the bytes read from the modem with `receive(data, now)` and the clock with `tick(now)`;
it returns events. `command(text, now, timeout_s)` returns the bytes to write. One command is in
flight at a time: a modem answers commands strictly in order, and pipelining would make an
unanswered command impossible to tell from a slow one.

Events:
- `Response(command, lines, final)`: the information lines and the final result code;
  `ok` is True for OK, `error_code` carries the number of `+CME ERROR: n` / `+CMS ERROR: n`.
- `URC(line)`: an unsolicited result code, which may arrive at any time, also in the middle of
  a response.
- `Timeout(command)`: no final result code within the command's timeout.

Hostile input is tolerated: lines are bounded (an overlong line is dropped up to its end), a
response keeps at most `max_lines` lines, and lines with control or non-UTF-8 bytes are dropped
as noise, never passed on.
"""

MAX_LINE = 512
MAX_LINES = 64

_FINAL_WORDS = ("OK", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "ABORTED")
_FINAL_PREFIXES = ("+CME ERROR:", "+CMS ERROR:")
# Unsolicited codes that are plain words rather than "+NAME: ..." (boot and call notices).
_URC_WORDS = ("RDY", "RING", "SMS DONE", "PB DONE", "POWERED DOWN", "NORMAL POWER DOWN")
_URC_MARKS = "+^!#%$*"
_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_SHORT_COMMANDS = "EIZQVXH&"  # ATE0, ATI, ATZ, ATQ0, ATV1, ...


def ascii_digits(text):
    # type: (str) -> bool
    """Whether text is 0-9 only; str.isdigit() also accepts other scripts' digits, which int()
    may then refuse."""
    return bool(text) and all("0" <= ch <= "9" for ch in text)


class ATError(QiyasError):
    """A misuse of the session (a second command while one is in flight, a bad command text)."""


class Response:
    def __init__(self, command, lines, final, truncated=False):
        self.command = command
        self.lines = lines
        self.final = final
        self.truncated = truncated
        self.ok = final == "OK"
        self.error_code = None
        for prefix in _FINAL_PREFIXES:
            if final.startswith(prefix):
                text = final[len(prefix) :].strip()
                if ascii_digits(text) and len(text) < 6:
                    self.error_code = int(text)

    def __repr__(self):
        return "Response(%r, %r, %r)" % (self.command, self.lines, self.final)


class URC:
    def __init__(self, line):
        self.line = line

    def __repr__(self):
        return "URC(%r)" % (self.line,)


class Timeout:
    def __init__(self, command):
        self.command = command

    def __repr__(self):
        return "Timeout(%r)" % (self.command,)


def is_final(line):
    # type: (str) -> bool
    if line in _FINAL_WORDS:
        return True
    return any(line.startswith(prefix) for prefix in _FINAL_PREFIXES)


def response_prefix(command):
    # type: (str) -> str
    """The prefix a command's information lines carry: AT+QENG="servingcell" -> '+QENG:'."""
    body = command[2:] if command[:2].upper() == "AT" else command
    if not body or body[0] not in _URC_MARKS:
        return ""
    end = 1
    while end < len(body) and body[end] not in "=?;":
        end += 1
    return body[:end].upper() + ":"


def looks_unsolicited(line):
    # type: (str) -> bool
    """Whether a line has the shape of an unsolicited code: "+NAME: ...", a bare "^NAME" (boot
    notices such as ^SYSSTART, +PBREADY) or a known word."""
    if line in _URC_WORDS:
        return True
    if len(line) < 2 or line[0] not in _URC_MARKS:
        return False
    colon = line.find(":")
    if colon < 0:
        return len(line) <= 32 and all(ch in _NAME_CHARS for ch in line[1:])
    return 1 < colon <= 32


def looks_like_echo(line):
    # type: (str) -> bool
    """Whether a line is a command line echoed back ("AT", "AT+CSQ", "ATE0"): never an answer,
    whichever command is in flight. An "AT" that a resync sent and the modem echoed late must not
    become the manufacturer of the +CGMI that follows."""
    upper = line.upper()
    if upper[:2] != "AT":
        return False
    rest = upper[2:]
    if not rest or rest[0] in _URC_MARKS:
        return True
    return rest[0] in _SHORT_COMMANDS and all("0" <= ch <= "9" for ch in rest[1:])


def _decode(raw):
    """Printable text of a line, or None when it holds control or non-UTF-8 bytes (noise)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeError:
        return None
    for ch in text:
        code = ord(ch)
        if (code < 32 and ch != "\t") or code == 127 or code == 0xFFFD:
            return None
    return text.strip()


class ATSession:
    def __init__(self, max_line=MAX_LINE, max_lines=MAX_LINES):
        self.max_line = max_line
        self.max_lines = max_lines
        self._buffer = b""
        self._discarding = False  # inside an overlong line: drop up to its terminator
        self._pending = None  # the command in flight
        self._prefix = ""
        # prefixes that only another command's answer carries: seen while this command is in
        # flight, they mark the next final as that (late) answer's, unless ours came first
        self._foreign = ()  # type: tuple
        self._marks = ()  # type: tuple
        self._late = False
        # a late answer that began while no command was in flight: its final is still to come
        self._late_idle = False
        self._deadline = 0.0
        self._lines = []
        self._truncated = False
        # counters for diagnostics: what the session threw away and why
        self.noise_lines = 0
        self.overlong_lines = 0
        self.stray_finals = 0
        self.late_answers = 0

    @property
    def busy(self):
        # type: () -> bool
        return self._pending is not None

    @property
    def deadline(self):
        # type: () -> float | None
        """Clock reading at which the command in flight times out (None when idle)."""
        return self._deadline if self._pending is not None else None

    def command(self, text, now, timeout_s, foreign=()):
        # type: (str, float, float, tuple) -> bytes
        """The bytes to send `text`. `foreign`: information-line prefixes that only the answers
        of other commands carry (never unsolicited); the OK or ERROR that follows one of them is
        that late answer's final, not ours."""
        if self._pending is not None:
            raise ATError("command %r sent while %r is in flight" % (text, self._pending))
        if not text[:2].upper() == "AT" or len(text) > self.max_line:
            raise ATError("not an AT command line: %r" % (text[:40],))
        for ch in text:
            if ord(ch) < 32 or ord(ch) > 126:
                raise ATError("command %r holds a control or non-ASCII character" % (text[:40],))
        self._pending = text
        self._prefix = response_prefix(text)
        self._marks = tuple(prefix for prefix in foreign if prefix)
        self._foreign = tuple(prefix for prefix in self._marks if prefix != self._prefix)
        self._late = self._late_idle
        self._late_idle = False
        self._deadline = now + timeout_s
        self._lines = []
        self._truncated = False
        return text.encode() + b"\r"

    def reset(self):
        # type: () -> None
        """Forget the command in flight and partial input (after the port was reopened)."""
        self._pending = None
        self._late_idle = False
        self._buffer = b""
        self._discarding = False
        self._lines = []

    def tick(self, now):
        # type: (float) -> list
        if self._pending is not None and now >= self._deadline:
            command = self._pending
            self._pending = None
            self._lines = []
            return [Timeout(command)]
        return []

    def receive(self, data, now):
        # type: (bytes, float) -> list
        events = []  # type: list
        if data:
            chunks = (self._buffer + data).replace(b"\n", b"\r").split(b"\r")
            self._buffer = chunks.pop()
            for raw in chunks:
                if self._discarding:
                    self._discarding = False  # this chunk ends the overlong line
                    continue
                if len(raw) > self.max_line:
                    self.overlong_lines += 1
                    continue
                if raw:
                    self._line(raw, events)
            if len(self._buffer) > self.max_line:
                if not self._discarding:
                    self.overlong_lines += 1
                self._discarding = True
                self._buffer = b""
        events.extend(self.tick(now))
        return events

    def _line(self, raw, events):
        line = _decode(raw)
        if line is None:
            self.noise_lines += 1
            return
        if not line:
            return
        if self._pending is None:
            self._idle_line(line, events)
        elif is_final(line):
            self._final(line, events)
        else:
            self._information(line, events)

    def _idle_line(self, line, events):
        if is_final(line):
            self.stray_finals += 1  # the tail of a timed-out command
            self._late_idle = False
            return
        upper = line.upper()
        if looks_like_echo(line) or (self._marks and upper.startswith(self._marks)):
            # the echo or an answer line of a command that timed out: its final is to come
            self._late_idle = True
        if upper.startswith("AT"):
            self.stray_finals += 1
        else:
            events.append(URC(line))

    def _final(self, line, events):
        if self._late:
            # a modem answers in order: after another command's echo or a line only that
            # command's answer carries, the next final ends that (late) answer; ours follows
            self.late_answers += 1
            self._late = False
            self._lines = []
            return
        events.append(Response(self._pending, self._lines, line, self._truncated))
        self._pending = None
        self._lines = []

    def _information(self, line, events):
        upper = line.upper()
        if looks_like_echo(line):
            if upper != (self._pending or "").upper():
                self._late = True  # the echo of another command: its answer may follow
            return  # an echo (ATE1) is never an answer
        if self._foreign and upper.startswith(self._foreign):
            self._late = True
        if looks_unsolicited(line) and not (self._prefix and upper.startswith(self._prefix)):
            events.append(URC(line))
            return
        if len(self._lines) < self.max_lines:
            self._lines.append(line)
        else:
            self._truncated = True
