"""One record path for both runtimes: build, sign, commit, and the evidence of what was refused.

The Linux agent (agent/supervisor.py) and the firmware (firmware/app.py) each keep their own
outbox and clock and hand them to a Recorder; what a regulator reads from a probe therefore does
not depend on which runtime it runs. The policy, the same on both:

- **values the schema refuses** (a modem answering something absurd, a subscriber identity
  where none may be) become a `status` record, event `record-refused`, whose detail names the
  kind and the fault. The refused values themselves are never kept (they may be exactly what
  must not leave the device), but the gap they leave is explained in the record stream, where
  the collector and the archive check read it, not only in a log on the device. It carries no
  context, since the context may be what the schema refused. A `record-refused` record that
  is itself refused is logged and dropped: nothing else can say it.
- **the disk refuses the write** (an `OSError` from the outbox: full or failing flash): nothing
  was kept, the loss is counted and logged, and the first record the disk takes again is
  followed by a `status` record, event `disk-full`, saying how many were `lost`.
- **the outbox was full** (its oldest records dropped to make room, `outbox.take_dropped()`):
  a `status` record, event `outbox-full`, saying how many were `dropped`, right after the
  record that made the room. The archive check counts these to explain gaps in seq. The room
  such a report itself makes is told after the next record, so a full outbox does not set off
  an endless chain of reports (each dropping one more record to make its own room). A report
  the disk refuses is lost like any record (and told as such), and its count is told again,
  with what was dropped since, after the next record.

Why records, not exceptions or log lines (the firmware raised on some refusals, the Linux agent
only logged them): a refusal that raised would stop a measurement loop (on a board, reset it, in
a loop); one that only logged would leave the regulator a measurement missing from the schedule
with no reason given, while the reason sits in a log on a device nobody reads.
"""

from agent.core import cose, record

MAX_DETAIL = 200  # characters of a status record's detail (the schema allows 256 per text)
REFUSED = "record-refused"


class Recorder:
    """Signs and commits records into an outbox; see the module's text for the refusal policy.

    outbox: `add(kind, build)` allocates the next (epoch, seq), calls `build(epoch, seq)` for
      the signed bytes and commits them, returning the seq, raising OSError when the disk
      refuses; `take_dropped()` returns how many oldest records it dropped for room since the
      last call.
    now: () -> (time_ms, synced), the runtime's clock.
    context: (kind) -> dict, the access-link context a record of that kind carries.
    committed: (kind, values, time_ms, signed) -> None, told of each committed record.
    log: (text) -> None, the runtime's log.
    """

    def __init__(self, probe, versions, kid, sign, outbox, now, context, committed, log):
        self.probe = probe
        self.versions = versions
        self.kid = kid
        self.sign = sign
        self.outbox = outbox
        self.now = now
        self.context = context
        self.committed = committed
        self.log = log
        self.lost = 0  # records the disk refused, since start
        self.lost_reported = 0  # of which a `disk-full` record has told
        self.dropped_unreported = 0  # records the outbox dropped, taken from it, not yet told

    def record(self, kind, values, extra=None):
        # type: (str, dict, dict | None) -> bytes | None
        """Sign and commit one record; the signed bytes kept (a refused record's: those of the
        status record that says so), or None if nothing could be kept (see the policy).

        extra: further outer fields by name (`started_ms`, `validity`, `link`, `queue`: how an
        active test ran, docs/methodology.md §9)."""
        return self._keep(kind, values, self.context(kind), True, extra)

    def _keep(self, kind, values, context, report, extra=None):
        try:
            signed = self._commit(kind, values, context, extra)
        except record.RecordError as exc:
            detail = "%s: %s" % (kind, exc)
            if kind == "status" and values.get("event") == REFUSED:
                self.log("record not kept, nor its refusal: %s" % detail)
                return None
            self.log("record refused by the schema: %s" % detail)
            refusal = {"event": REFUSED, "detail": detail[:MAX_DETAIL]}
            return self._keep("status", refusal, {}, report)
        except OSError as exc:
            self.lost += 1
            self.log("%s (%d lost since start)" % (exc, self.lost))
            return None
        # A report is not followed by reports: the room a report itself made in a full outbox
        # is told after the next record, not in an endless chain of outbox-full records.
        if report:
            self._report_losses()
        return signed

    def _report_losses(self):
        context = self.context("status")
        if self.lost > self.lost_reported:  # the disk has room again: tell what it refused
            lost = self.lost - self.lost_reported
            told = self._keep("status", {"event": "disk-full", "lost": lost}, context, False)
            if told is not None:
                self.lost_reported += lost
        dropped = self.dropped_unreported + self.outbox.take_dropped()
        if dropped:
            self.log("outbox full: dropped the %d oldest records" % dropped)
            report = {"event": "outbox-full", "dropped": dropped}
            told = self._keep("status", report, context, False)
            # A report the disk refused is made again, with more, after the next record.
            self.dropped_unreported = 0 if told is not None else dropped

    def status(self, event, detail=None):
        # type: (str, str | None) -> bytes | None
        """A `status` record of event, with a detail cut to what the schema takes."""
        values = {"event": event}
        if detail:
            values["detail"] = detail[:MAX_DETAIL]
        return self.record("status", values)

    def _commit(self, kind, values, context, extra):
        time_ms, synced = self.now()
        signed = []

        def build(epoch, seq):
            payload = record.encode(
                self.probe, epoch, seq, time_ms, synced, kind, values, self.versions, context, extra
            )
            signed.append(cose.sign1(payload, self.kid, self.sign))
            return signed[-1]

        self.outbox.add(kind, build)
        self.committed(kind, values, time_ms, signed[-1])
        return signed[-1]
