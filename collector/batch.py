"""Turn a batch of received MQTT messages into stored rows, acknowledgements and feed items.

Synchronous and free of MQTT: the ingest loop runs it on a worker thread, tests call it directly.
Acknowledgements are computed only after `Store.store_batch` has committed, so an ack can never
name a record that is not durable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.core import acks, cose, record, topics
from collector import metrics
from collector.presence import Presence, StatusError, parse_status
from collector.replay import SeqWindow
from collector.store import QuarantineRow, RecordRow, Store, verdict_of
from collector.times import iso_ms
from collector.verify import KeyLookup, Rejected, Verified, check_message

FEED_PREFIX = "qiyas/v1/feed/"
HOUR_MS = 3_600_000

log = logging.getLogger("qiyas.collector")


class QuarantineBudget:
    """At most per_hour quarantine rows per probe per clock hour (messages that name no probe
    share one budget); beyond it a message is counted, not kept: one probe's junk must not fill
    the database (issue 19). `counted`: per probe, this hour's messages not kept."""

    def __init__(self, per_hour: int = 200) -> None:
        self.per_hour = per_hour
        self.counted: dict[str, int] = {}
        self._hour: int | None = None
        self._kept: dict[str, int] = {}

    def allow(self, probe: str, now_ms: int) -> bool:
        if now_ms // HOUR_MS != self._hour:
            self._hour, self._kept, self.counted = now_ms // HOUR_MS, {}, {}
        kept = self._kept.get(probe, 0)
        if kept < self.per_hour:
            self._kept[probe] = kept + 1
            return True
        self.counted[probe] = self.counted.get(probe, 0) + 1
        if self.counted[probe] == 1:
            log.warning(
                "probe %s: beyond %d quarantined messages this hour; further ones are counted,"
                " not kept",
                probe or "(none)",
                self.per_hour,
            )
        return False


def feed_topic(kind: str) -> str:
    return FEED_PREFIX + kind


def feed_item(row: RecordRow) -> dict[str, Any]:
    """A verified record as the live feed and the JSON exports show it (with its flag, if any)."""
    item = {**row.record, "kid": row.kid.hex(), "received_at": iso_ms(row.received_at_ms)}
    if row.flag is not None:
        item["flag"] = row.flag
    return item


@dataclass
class Outcome:
    """What one batch produced: acks to publish per probe, new records for the feed, counts."""

    acks: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    new_records: list[RecordRow] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    presence: int = 0

    def ack(self, probe: str, epoch: int, seq: int, status: int) -> None:
        self.acks.setdefault(probe, []).append((epoch, seq, status))

    def ack_messages(self) -> list[tuple[str, bytes]]:
        """(topic, payload) of each acknowledgement message, at most MAX_ACKS entries each."""
        out = []
        for probe, entries in self.acks.items():
            for start in range(0, len(entries), acks.MAX_ACKS):
                chunk = entries[start : start + acks.MAX_ACKS]
                out.append((topics.acks(probe), acks.encode(chunk)))
        return out

    def feed_messages(self) -> list[tuple[str, bytes]]:
        return [
            (feed_topic(row.kind), json.dumps(feed_item(row), ensure_ascii=False).encode())
            for row in self.new_records
        ]


def _topic_probe(topic: str, channel: str) -> str | None:
    """The probe of a qiyas/v1/probes/{probe}/{channel} topic with a valid probe id, or None."""
    probe = topics.probe_of(topic)
    # The cheap comparison first: every record is asked about "status" before "records".
    if probe is None or topic != f"{topics.PREFIX}{probe}/{channel}":
        return None
    return probe if record.valid_probe_id(probe) else None


def _check(
    topic: str, raw: bytes, lookup: KeyLookup, now_ms: int
) -> Verified | Presence | Rejected:
    status_of = _topic_probe(topic, "status")
    if status_of is not None:
        try:
            return parse_status(status_of, raw, now_ms)
        except StatusError as exc:
            return Rejected(str(exc))
    probe = _topic_probe(topic, "records")
    if probe is None:
        return Rejected(f"topic {topic!r} is not qiyas/v1/probes/<valid probe id>/records")
    try:
        return check_message(raw, lookup, now_ms, topic_probe=probe)
    except Exception as exc:  # a long-running collector never dies of one message
        return Rejected(f"internal error while verifying: {exc!r}")


def _quarantined(
    topic: str, raw: bytes, probe: str | None, reason: str, now_ms: int
) -> QuarantineRow:
    """Keep the evidence, but no more of it than a valid record could be: a flood of huge
    messages must not fill the database."""
    if len(raw) > cose.MAX_MESSAGE:
        reason += f" (first {cose.MAX_MESSAGE} of {len(raw)} bytes kept)"
        raw = raw[: cose.MAX_MESSAGE]
    # A reason may quote the input (or the database quoting it): no store refuses it escaped.
    reason = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in reason)
    return QuarantineRow(topic, probe, reason, now_ms, raw)


def _flags(*flags: str | None) -> str | None:
    return "; ".join(f for f in flags if f is not None) or None


def _identity(row: RecordRow) -> tuple[str, int, int]:
    return row.probe, row.epoch, row.seq


def process(
    store: Store,
    lookup: KeyLookup,
    messages: Sequence[tuple[str, bytes]],
    now_ms: int,
    window: SeqWindow | None = None,
    budget: QuarantineBudget | None = None,
) -> Outcome:
    """Verify, store (one transaction) and decide the acknowledgements for messages: records,
    and the probes' status (presence) messages.

    window: flags records whose seq is far outside the replay window (None: no flags).
    budget: caps the quarantine rows kept per probe (None: every one kept).

    Raises only if the store fails, in which case nothing was committed and nothing is acked.
    """
    rows: list[RecordRow] = []
    signed: list[tuple[str, bytes]] = []  # (topic, raw) of each row
    quarantined: list[QuarantineRow] = []
    presence: list[Presence] = []
    announced: list[tuple[str, bytes]] = []  # (topic, raw) of each presence
    outcome = Outcome()
    for topic, raw in messages:
        verdict = _check(topic, raw, lookup, now_ms)
        if isinstance(verdict, Presence):
            presence.append(verdict)
            announced.append((topic, raw))
        elif isinstance(verdict, Verified):
            signed.append((topic, raw))
            rec = verdict.record
            rows.append(
                RecordRow(
                    probe=rec["probe"],
                    epoch=rec["epoch"],
                    seq=rec["seq"],
                    kid=verdict.kid,
                    kind=rec["kind"],
                    time_ms=rec["time_ms"],
                    synced=rec["synced"],
                    received_at_ms=now_ms,
                    record=rec,
                    raw=raw,
                    metrics=metrics.extract(rec["kind"], rec["values"]),
                    flag=_flags(
                        verdict.flag,
                        window.flag(rec["probe"], rec["epoch"], rec["seq"]) if window else None,
                        metrics.implausible(rec["kind"], rec["values"]),
                    ),
                    validity=verdict_of(rec),
                    payload_sha256=verdict.payload_sha256,
                )
            )
        else:
            probe = _topic_probe(topic, "records") or _topic_probe(topic, "status")
            outcome.quarantined += 1
            if budget is None or budget.allow(probe or "", now_ms):
                quarantined.append(_quarantined(topic, raw, probe, verdict.reason, now_ms))
            if probe is not None and verdict.epoch is not None and verdict.seq is not None:
                outcome.ack(probe, verdict.epoch, verdict.seq, acks.QUARANTINED)
    stored = store.store_batch(rows, quarantined, presence)
    refused = [
        _quarantined(*signed[i], rows[i].probe, reason, now_ms)
        for i, reason in stored.refused_records.items()
    ] + [
        _quarantined(*announced[i], presence[i].probe, reason, now_ms)
        for i, reason in stored.refused_presence.items()
    ]
    if refused:
        # Kept apart: the rows the database took are committed whatever becomes of these.
        store.store_batch((), refused)
    outcome.quarantined += len(refused)
    outcome.presence = len(presence) - len(stored.refused_presence)
    refused_ids = {_identity(rows[i]) for i in stored.refused_records}
    for row, new in zip(rows, stored.new, strict=True):
        if _identity(row) in refused_ids:
            outcome.ack(row.probe, row.epoch, row.seq, acks.QUARANTINED)
        elif new:
            outcome.ack(row.probe, row.epoch, row.seq, acks.STORED)
            outcome.stored += 1
            outcome.new_records.append(row)
        else:
            outcome.ack(row.probe, row.epoch, row.seq, acks.DUPLICATE)
            outcome.duplicates += 1
    return outcome
