"""The firmware's durable outbox: signed records as files on the flash filesystem.

A record is written here before any network I/O and removed only when the collector
acknowledges it. It survives resets and power cuts:
- each record is one file `records/<seq>-<epoch>`, written to a temporary name and renamed
  (littlefs renames atomically), so a cut leaves the old state or the new, never half a record;
- `state.json` holds the boot epoch and the next sequence number; a sequence number is persisted
  as used *before* its record is written, so a cut may skip a number but never repeats one.
Bounded: beyond `max_records` the oldest record is dropped and counted, so a long outage costs
the oldest measurements, said in an `outbox-full` status record (agent.core.recorder), rather
than the device.

Plain `open`/`os` calls: both MicroPython (littlefs on flash) and CPython (the host build) have
them; no os.path on MicroPython, hence string paths.
"""

import json
import os

from agent.core import record
from agent.core.errors import QiyasError

if False:  # names for type comments: mypy reads them, both compilers drop the block
    from collections.abc import Callable  # noqa: F401 - in type comments, unread by ruff

STATE = "state.json"
RECORDS = "records"
MAX_STATE_BYTES = 256


class OutboxError(QiyasError):
    """The outbox cannot be used; the text says what is wrong with which file."""


def _exists(path):
    # type: (str) -> bool
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _make_dirs(path):
    # type: (str) -> None
    at = ""
    for part in path.split("/"):
        at = at + "/" + part if at or path.startswith("/") else part
        if part and not _exists(at):
            os.mkdir(at)


def _random4():
    # type: () -> bytes
    try:
        return os.urandom(4)  # the chip's hardware generator
    except AttributeError:  # ports without it (webassembly): random, seeded at start
        import random

        return random.getrandbits(32).to_bytes(4, "big")


def write_atomic(path, data):
    # type: (str, bytes) -> None
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        if hasattr(os, "fsync"):  # CPython: make the host build as durable as flash is
            f.flush()
            os.fsync(f.fileno())
    os.rename(tmp, path)


class Outbox:
    def __init__(self, root, max_records):
        # type: (str, int) -> None
        self.root = root.rstrip("/")
        self.max_records = max_records
        self.dropped = 0  # records dropped because the outbox was full, since last taken
        self.recovered = None  # type: str | None  # why state.json was rebuilt, if it was
        _make_dirs(self.root + "/" + RECORDS)
        self._keys = self._scan()  # sorted [(seq, epoch)]
        self.epoch, self._next_seq = self._load_state()

    # -- boot --------------------------------------------------------------------------------

    def _scan(self):
        # type: () -> list[tuple[int, int]]
        keys = []  # type: list[tuple[int, int]]
        for name in os.listdir(self.root + "/" + RECORDS):
            if name.endswith(".tmp"):  # a write cut short: its seq was already reserved
                os.remove(self.root + "/" + RECORDS + "/" + name)
                continue
            seq, _, epoch = name.partition("-")
            if seq.isdigit() and epoch.isdigit():
                keys.append((int(seq), int(epoch)))
        keys.sort()
        return keys

    def _load_state(self):
        # type: () -> tuple[int, int]
        """(epoch, next seq) from state.json, or rebuilt from the records when it is unusable."""
        path = self.root + "/" + STATE
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_STATE_BYTES + 1)
        except OSError:
            raw = None
        if raw is not None:
            try:
                state = json.loads(raw)
                epoch, next_seq = state["epoch"], state["next_seq"]
                if isinstance(epoch, int) and isinstance(next_seq, int) and len(raw) <= 256:
                    return epoch, next_seq
            except (ValueError, KeyError, TypeError):
                pass
            self.recovered = "state.json unreadable: rebuilt from the records on flash"
        elif self._keys:
            self.recovered = "state.json missing: rebuilt from the records on flash"
        # Rebuilt: continue after everything on flash. Numbers of records already acknowledged
        # and removed cannot be known, hence a new epoch well clear of the old ones.
        if self._keys:
            epoch = max(e for _, e in self._keys) + (1000 if self.recovered else 0)
        else:  # a new outbox (or one emptied with its state): agent.core.record.first_epoch
            epoch = record.first_epoch(_random4()) - 1
        next_seq = self._keys[-1][0] + 1 if self._keys else 1
        return epoch, next_seq

    def _save_state(self, epoch, next_seq):
        # type: (int, int) -> None
        data = json.dumps({"epoch": epoch, "next_seq": next_seq}).encode()
        write_atomic(self.root + "/" + STATE, data)
        self.epoch, self._next_seq = epoch, next_seq

    def boot(self):
        # type: () -> int
        """Start a new boot epoch (persisted) and return it."""
        self._save_state(self.epoch + 1, self._next_seq)
        return self.epoch

    # -- records -----------------------------------------------------------------------------

    def reserve_seq(self):
        # type: () -> int
        """The next sequence number, persisted as used before it is handed out."""
        seq = self._next_seq
        self._save_state(self.epoch, seq + 1)
        return seq

    def add(self, kind, build):
        # type: (str, Callable[[int, int], bytes]) -> int
        """Build the signed record with the next (epoch, seq), reserve that seq, write it.

        The same contract as the Linux outbox's `add` (agent.core.recorder uses either): an
        OSError when the flash refuses the write. A build that raises (values the schema
        refuses) uses no seq, as a rolled-back insert uses none on Linux: no gap to explain.
        """
        seq = self._next_seq
        raw = build(self.epoch, seq)
        self.reserve_seq()
        self.put(self.epoch, seq, raw)
        return seq

    def put(self, epoch, seq, raw):
        # type: (int, int, bytes) -> None
        while len(self._keys) >= self.max_records:
            old_seq, old_epoch = self._keys[0]
            self.remove(old_epoch, old_seq)
            self.dropped += 1
        write_atomic(self._path(epoch, seq), raw)
        self._keys.append((seq, epoch))
        self._keys.sort()

    def read(self, epoch, seq):
        # type: (int, int) -> bytes
        with open(self._path(epoch, seq), "rb") as f:
            return f.read()

    def remove(self, epoch, seq):
        # type: (int, int) -> bool
        """Forget a record (acknowledged, or dropped); False if it was not here."""
        if (seq, epoch) not in self._keys:
            return False
        self._keys.remove((seq, epoch))
        try:
            os.remove(self._path(epoch, seq))
        except OSError:
            pass
        return True

    def pending(self):
        # type: () -> list[tuple[int, int]]
        """(epoch, seq) of every record waiting for the collector, oldest first."""
        return [(epoch, seq) for seq, epoch in self._keys]

    @property
    def depth(self):
        # type: () -> int
        return len(self._keys)

    def take_dropped(self):
        # type: () -> int
        n, self.dropped = self.dropped, 0
        return n

    def _path(self, epoch, seq):
        # type: (int, int) -> str
        return "%s/%s/%d-%d" % (self.root, RECORDS, seq, epoch)
