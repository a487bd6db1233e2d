"""agent.core.recorder: what both runtimes record, and what a refusal leaves behind.

Runs under CPython (pytest) and MicroPython (tests/mpy/run.mjs). The outbox here is a list in
memory keeping the contract both real outboxes keep (agent/outbox.py on SQLite, firmware/outbox.py
on flash files; tests/agent and tests/firmware drive the recorder through those); the signature
is a recording stand-in, as in test_cose.py, since the recorder only frames what is signed.
"""

from agent.core import cose, record
from agent.core.recorder import MAX_DETAIL, Recorder

VERSIONS = {"agent": "0.1.0", "board": "test-board", "firmware": "test"}
KID = b"probekey"
SIGNATURE = bytes(range(64))


class MemoryOutbox:
    """The outbox contract: add(kind, build) -> seq, OSError when 'the disk' refuses;
    take_dropped(); bounded to max_records, oldest dropped first."""

    def __init__(self, max_records=100):
        self.max_records = max_records
        self.epoch = 7
        self.next_seq = 1
        self.records = []
        self.dropped = 0
        self.refuse = False

    def add(self, kind, build):
        seq = self.next_seq
        body = build(self.epoch, seq)
        if self.refuse:
            raise OSError("outbox: record not kept: database or disk is full")
        self.next_seq += 1
        while len(self.records) >= self.max_records:
            self.records.pop(0)
            self.dropped += 1
        self.records.append(body)
        return seq

    def take_dropped(self):
        n, self.dropped = self.dropped, 0
        return n


def _recorder(outbox, context=None):
    committed = []
    logged = []
    rec = Recorder(
        "probe-1",
        VERSIONS,
        KID,
        lambda data: SIGNATURE,
        outbox,
        lambda: (1764400000000, True),
        lambda kind: {} if context is None else context,
        lambda kind, values, time_ms, signed: committed.append((kind, signed)),
        logged.append,
    )
    return rec, committed, logged


def _decoded(outbox):
    return [record.decode(cose.parse_sign1(raw).payload) for raw in outbox.records]


def test_a_record_is_signed_with_the_runtime_clock_and_committed():
    outbox = MemoryOutbox()
    rec, committed, logged = _recorder(outbox, {"radio": {"rsrp_dbm": -95}})
    signed = rec.record("health", {"uptime_s": 5, "outbox_depth": 0})
    [raw] = outbox.records
    assert signed == raw
    message = cose.parse_sign1(raw)
    assert message.kid == KID and message.signature == SIGNATURE
    [health] = _decoded(outbox)
    assert (health["probe"], health["epoch"], health["seq"]) == ("probe-1", 7, 1)
    assert health["time_ms"] == 1764400000000 and health["synced"] is True
    assert health["context"] == {"radio": {"rsrp_dbm": -95}}
    assert health["versions"] == VERSIONS
    assert committed == [("health", raw)]
    assert logged == []


def test_values_the_schema_refuses_become_a_record_refused_status():
    outbox = MemoryOutbox()
    rec, committed, logged = _recorder(outbox, {"radio": {"rsrp_dbm": -95}})
    signed = rec.record("radio", {"imsi": "001010123456789"})
    [status] = _decoded(outbox)
    assert [signed] == outbox.records  # what was kept instead
    assert status["kind"] == "status"
    assert status["values"] == {
        "event": "record-refused",
        "detail": "radio: values.imsi is a subscriber identity, never recorded",
    }
    assert "001010123456789" not in repr(status)  # the refused values are never kept
    assert status["context"] == {}  # the context may be what was refused
    assert [kind for kind, _ in committed] == ["status"]
    assert "radio: values.imsi" in logged[0]


def test_a_refused_status_record_is_evidenced_too():
    outbox = MemoryOutbox()
    rec, _, _ = _recorder(outbox)
    rec.record("status", {"event": "command", "detail": "x" * 300})
    [status] = _decoded(outbox)
    assert status["values"]["event"] == "record-refused"
    assert status["values"]["detail"].startswith("status: values.detail is a text longer")
    assert len(status["values"]["detail"]) <= MAX_DETAIL


def test_a_refusal_that_cannot_be_recorded_is_logged_not_looped():
    outbox = MemoryOutbox()
    rec, _, logged = _recorder(outbox)
    bad_versions = {"agent": "0.1.0", "board": "test-board"}  # every record is refused
    rec.versions = bad_versions
    assert rec.record("health", {"uptime_s": 1}) is None
    assert outbox.records == []
    assert len(logged) == 2 and "nor its refusal" in logged[1]


def test_records_the_disk_refused_are_counted_and_told_once_it_takes_them_again():
    outbox = MemoryOutbox()
    rec, _, logged = _recorder(outbox)
    outbox.refuse = True
    assert rec.record("health", {"uptime_s": 1}) is None
    assert rec.record("health", {"uptime_s": 2}) is None
    assert outbox.records == [] and rec.lost == 2
    assert "(2 lost since start)" in logged[-1]
    outbox.refuse = False
    signed = rec.record("health", {"uptime_s": 3})
    health, status = _decoded(outbox)
    assert signed == outbox.records[0]  # the record's own bytes, not its report's
    assert health["values"]["uptime_s"] == 3
    assert status["values"] == {"event": "disk-full", "lost": 2}
    rec.record("health", {"uptime_s": 4})
    assert [r["kind"] for r in _decoded(outbox)] == ["health", "status", "health"]


def test_room_made_in_a_full_outbox_is_told_in_an_outbox_full_status():
    outbox = MemoryOutbox(max_records=2)
    rec, _, logged = _recorder(outbox)
    rec.record("health", {"uptime_s": 1})
    rec.record("health", {"uptime_s": 2})
    rec.record("health", {"uptime_s": 3})  # drops uptime 1; its status drops uptime 2
    kinds = [(r["kind"], r["values"]) for r in _decoded(outbox)]
    assert kinds == [
        ("health", {"uptime_s": 3}),
        ("status", {"event": "outbox-full", "dropped": 1}),
    ]
    assert outbox.take_dropped() == 1  # the status record's own room: told with the next one
    assert "dropped the 1 oldest" in logged[0]


def test_status_cuts_the_detail_to_what_the_schema_takes():
    outbox = MemoryOutbox()
    rec, _, _ = _recorder(outbox)
    rec.status("modem-down", "y" * 500)
    rec.status("birth")
    down, birth = _decoded(outbox)
    assert down["values"] == {"event": "modem-down", "detail": "y" * MAX_DETAIL}
    assert birth["values"] == {"event": "birth"}


def test_an_outbox_full_report_the_disk_refused_is_made_again_with_the_next_record():
    outbox = MemoryOutbox(max_records=2)
    rec, _, _ = _recorder(outbox)
    rec.record("health", {"uptime_s": 1})
    rec.record("health", {"uptime_s": 2})
    real_add = outbox.add

    def refuse_reports(kind, build):
        if kind == "status":
            raise OSError("outbox: record not kept: disk I/O error")
        return real_add(kind, build)

    outbox.add = refuse_reports
    rec.record("health", {"uptime_s": 3})  # drops uptime 1; its report is refused
    outbox.add = real_add
    rec.record("health", {"uptime_s": 4})  # drops uptime 2
    told = [r["values"] for r in _decoded(outbox) if r["kind"] == "status"]
    # The refused report counts as lost; the drops it should have told (uptime 1) are told
    # with those since (uptime 2 for uptime 4, uptime 3 for the disk-full report's room).
    assert told == [{"event": "disk-full", "lost": 1}, {"event": "outbox-full", "dropped": 3}]
