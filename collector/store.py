"""Where the collector keeps records, quarantined messages and probe keys.

One class, `Store`, over two engines: SQLite (WAL, the embedded default) and PostgreSQL (psycopg 3,
for several collectors sharing one database). `open_store(url)` picks the engine from the URL: a
`postgresql://` URL or a file path / `sqlite:///path`. The SQL is written once with `?`
placeholders; the engine differences (types, placeholders, transactions, locks) live in `_Engine`.

A Store is used by one thread at a time (the ingest loop hands it to a worker thread per batch).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from agent.core.errors import QiyasError
from collector import localtime, metrics, partitions, schema
from collector.presence import Presence

# Rows per INSERT statement: well under SQLite's 32766 bound on parameters (10 per row).
_INSERT_CHUNK = 500


class StoreError(QiyasError):
    """The database cannot be opened or used; the text says which and why."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class RecordRow:
    """A verified record: its identity, the fields the API filters on, the decoded record and the
    signed bytes as received."""

    probe: str
    epoch: int
    seq: int
    kid: bytes
    kind: str
    time_ms: int
    synced: bool
    received_at_ms: int
    record: dict[str, Any]
    raw: bytes
    metrics: dict[str, float] = field(default_factory=dict)  # see collector.metrics
    flag: str | None = None  # why this verified record looks wrong, if it does
    validity: str | None = None  # the probe's verdict on its measurement; None: it gave none
    id: int = 0
    payload_sha256: bytes | None = None  # schema.payload_sha256(raw), if already known


@dataclass(frozen=True)
class Stored:
    """What Store.store_batch did. new: per record, True if stored now, False if it was stored
    already (by an earlier batch or earlier in this one) or refused. refused_records /
    refused_presence: index in the batch → why the database refused that row."""

    new: list[bool]
    refused_records: dict[int, str] = field(default_factory=dict)
    refused_presence: dict[int, str] = field(default_factory=dict)


@dataclass
class _Inserted:
    new: set[int] = field(default_factory=set)
    refused_records: dict[int, str] = field(default_factory=dict)
    refused_presence: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QuarantineRow:
    topic: str
    probe: str | None
    reason: str
    received_at_ms: int
    raw: bytes
    id: int = 0


@dataclass(frozen=True)
class KeyRow:
    probe: str
    kid: bytes
    public_key: bytes
    not_before_ms: int | None = None
    not_after_ms: int | None = None
    revoked_at_ms: int | None = None
    added_at_ms: int = field(default_factory=now_ms)


_RECORD_COLS = (
    "probe, epoch, seq, kid, kind, time_ms, synced, received_at_ms, record, raw, flag, "
    + (", ".join(metrics.NAMES))
    + ", validity"
)
_INSERT_COLS = _RECORD_COLS + ", local_time_ms"
_PROBE_COLS = (
    "probe, operator, technology, region, commune, consent_date, board, firmware, updated_at_ms,"
    " tier"
)
_QUARANTINE_COLS = "topic, probe, reason, received_at_ms, raw"
_KEY_COLS = "probe, kid, public_key, not_before_ms, not_after_ms, revoked_at_ms, added_at_ms"


class _Engine:
    """What differs between SQLite and PostgreSQL, behind a few methods."""

    dialect: str
    conn: Any
    # What the database (or its driver, binding a parameter) raises when it refuses one row's
    # values, as opposed to failing as a whole (connection lost, disk full, lock timeout).
    row_refusals: tuple[type[Exception], ...]

    def sql(self, text: str) -> str:
        return text

    def transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def savepoint(self) -> AbstractContextManager[None]:
        """Inside a transaction: a block undone alone if it raises."""
        raise NotImplementedError

    def lock_migrations(self) -> None:
        """Called inside the migration transaction so concurrent starters migrate once."""

    def close(self) -> None:
        self.conn.close()


class _SQLite(_Engine):
    dialect = "sqlite"
    # OverflowError: an integer beyond 64 bits, refused while binding it.
    row_refusals = (sqlite3.IntegrityError, sqlite3.DataError, OverflowError)

    def __init__(self, path: str) -> None:
        try:
            # isolation_level None: we issue BEGIN/COMMIT ourselves, so a batch is one transaction.
            # check_same_thread off: batches run on worker threads, one at a time.
            self.conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged record must survive a power cut, not only a process crash.
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {path!r}: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self.conn.execute("SAVEPOINT row")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO row")
            raise
        finally:
            self.conn.execute("RELEASE row")


class _Postgres(_Engine):
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg

        # DataError covers NUL in a text (refused by psycopg) or JSONB value, numbers out of range.
        self.row_refusals = (psycopg.DataError, psycopg.IntegrityError)
        try:
            self.conn = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from None

    def sql(self, text: str) -> str:
        # psycopg's placeholder is %s, so a literal % (the modulo operator) must be doubled.
        return text.replace("%", "%%").replace("?", "%s")

    def transaction(self) -> AbstractContextManager[None]:
        cm: AbstractContextManager[None] = self.conn.transaction()
        return cm

    def savepoint(self) -> AbstractContextManager[None]:
        # psycopg makes a transaction block opened inside another a savepoint.
        return self.transaction()

    def lock_migrations(self) -> None:
        # Any constant works; it names "the Qiyas schema" among advisory locks of this database.
        self.conn.execute("SELECT pg_advisory_xact_lock(7170100)")


def _engine_for(url: str) -> _Engine:
    if url.startswith(("postgresql://", "postgres://")):
        return _Postgres(url)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if path != ":memory:" and not Path(path).parent.is_dir():
        raise StoreError(f"cannot open SQLite database {path!r}: its folder does not exist")
    return _SQLite(path)


def open_store(url: str, migrate: bool = True) -> Store:
    """Open the store named by url, migrated to the current schema unless migrate is False
    (for extra connections of a process that has migrated already)."""
    store = Store(_engine_for(str(url)))
    if migrate:
        store.migrate()
    return store


def verdict_of(record: dict[str, Any]) -> str | None:
    """The verdict a decoded record carries ('valid' / 'flagged'), None when it carries none."""
    validity = record.get("validity")
    verdict = validity.get("verdict") if isinstance(validity, dict) else None
    return verdict if isinstance(verdict, str) else None


def _record_from_row(row: Sequence[Any]) -> RecordRow:
    record = row[9] if isinstance(row[9], dict) else json.loads(row[9])
    metric_values = row[12 : 12 + len(metrics.NAMES)]
    return RecordRow(
        probe=row[1],
        epoch=row[2],
        seq=row[3],
        kid=bytes(row[4]),
        kind=row[5],
        time_ms=row[6],
        synced=bool(row[7]),
        received_at_ms=row[8],
        record=record,
        raw=bytes(row[10]),
        flag=row[11],
        metrics={n: v for n, v in zip(metrics.NAMES, metric_values, strict=True) if v is not None},
        validity=row[12 + len(metrics.NAMES)],
        id=row[0],
    )


@dataclass(frozen=True)
class ProbeRow:
    """What the regulator knows of a probe besides its keys."""

    probe: str
    operator: str | None = None
    technology: str | None = None  # a key of collector.regions.TECHNOLOGIES
    region: str | None = None  # a key of collector.regions.REGIONS
    commune: str | None = None
    consent_date: str | None = None  # ISO date the household consented to host it
    board: str | None = None
    firmware: str | None = None
    updated_at_ms: int = field(default_factory=now_ms)
    tier: str | None = None  # the subscribed speed tier, e.g. "100M"


class Store:
    def __init__(self, engine: _Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect
        # Days known to have a partition: the common batch checks a set, not the catalogue.
        self._partitioned_days: set[date] = set()

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self._engine.conn.execute(self._engine.sql(text), params)

    def _query(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        rows: list[Any] = self._execute(text, params).fetchall()
        return rows

    def transaction(self) -> AbstractContextManager[None]:
        """One transaction around execute() calls (tools, benchmarks, tests)."""
        return self._engine.transaction()

    def execute(self, text: str, params: Sequence[Any] = ()) -> None:
        """Run one statement written with `?` placeholders (tools, benchmarks, tests)."""
        self._execute(text, params)

    def query(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only SELECT written with `?` placeholders (for collector.queries)."""
        return self._query(text, params)

    def migrate(self, target: int | None = None) -> list[int]:
        """Apply the migrations this database lacks, up to version target (None: all); returns
        the versions applied."""
        applied: list[int] = []
        with self._engine.transaction():
            self._engine.lock_migrations()
            self._execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                " applied_at_ms BIGINT NOT NULL)"
            )
            done = {row[0] for row in self._query("SELECT version FROM schema_migrations")}
            for version, description, migration in schema.MIGRATIONS:
                if version in done or (target is not None and version > target):
                    continue
                for step in schema.prepared(self.dialect, migration):
                    if isinstance(step, str):
                        self._execute(step)
                    else:
                        step(self)
                self._execute(
                    "INSERT INTO schema_migrations (version, description, applied_at_ms)"
                    " VALUES (?, ?, ?)",
                    (version, description, now_ms()),
                )
                applied.append(version)
        return applied

    def backfill_metrics(self) -> None:
        """Fill the metric columns of stored records from their values (a migration step)."""
        kinds = sorted({m.kind for m in metrics.METRICS})
        marks = ", ".join("?" * len(kinds))
        rows = self._query(f"SELECT id, kind, record FROM records WHERE kind IN ({marks})", kinds)
        for row_id, kind, rec in rows:
            found = metrics.extract(
                kind, (rec if isinstance(rec, dict) else json.loads(rec))["values"]
            )
            if found:
                sets = ", ".join(f"{name} = ?" for name in found)
                self._execute(f"UPDATE records SET {sets} WHERE id = ?", [*found.values(), row_id])

    def backfill_validity(self) -> None:
        """Fill the validity column of stored records from their verdicts (a migration step)."""
        for row_id, rec in self._query("SELECT id, record FROM records"):
            verdict = verdict_of(rec if isinstance(rec, dict) else json.loads(rec))
            if verdict is not None:
                self._execute("UPDATE records SET validity = ? WHERE id = ?", [verdict, row_id])

    def schema_version(self) -> int:
        rows = self._query("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    # --- ingest --------------------------------------------------------------------------------

    def store_batch(
        self,
        records: Sequence[RecordRow],
        quarantined: Sequence[QuarantineRow] = (),
        presence: Sequence[Presence] = (),
    ) -> Stored:
        """Store records idempotently on their identity (probe, epoch, seq), quarantined messages
        and probes' presence, all in one transaction.

        A record whose identity is stored already with another payload (a probe that reused a
        seq, or a forgery replayed under a real key) is not stored: it is refused, with the reason.

        If the database refuses a row's values, the batch is stored again row by row, each in a
        savepoint, so that one bad row never decides the others' fate: the refused records and
        presence messages are left out and named in the result, with the database's reason.
        Raises (nothing committed) only when the database fails as a whole.
        """
        first_of: dict[tuple[str, int, int], int] = {}
        for i, rec in enumerate(records):
            first_of.setdefault((rec.probe, rec.epoch, rec.seq), i)
        unique = sorted(first_of.values())
        self._ensure_partitions(records[i].time_ms for i in unique)
        try:
            try:
                with self._engine.transaction():
                    inserted = self._insert_all(records, unique, quarantined, presence, alone=False)
            except self._engine.row_refusals:
                with self._engine.transaction():
                    inserted = self._insert_all(records, unique, quarantined, presence, alone=True)
        except Exception:
            # Maybe a partition this process knew was dropped by another: look again next time.
            self.forget_partitions()
            raise
        return Stored(
            new=[
                first_of[key] == i and i in inserted.new
                for i, key in enumerate((r.probe, r.epoch, r.seq) for r in records)
            ],
            refused_records=inserted.refused_records,
            refused_presence=inserted.refused_presence,
        )

    def _insert_all(
        self,
        records: Sequence[RecordRow],
        unique: list[int],
        quarantined: Sequence[QuarantineRow],
        presence: Sequence[Presence],
        alone: bool,
    ) -> _Inserted:
        """Insert the records at indexes unique, then quarantine and presence rows; alone: each
        record and presence row in a savepoint of its own, its refusal noted instead of raised."""
        done = _Inserted()
        step = 1 if alone else _INSERT_CHUNK
        for start in range(0, len(unique), step):
            indexes = unique[start : start + step]
            with self._row(alone, done.refused_records, indexes[0]):
                new, conflicts = self._claim_identities(records, indexes)
                self._insert_records(records, sorted(new))
                done.new.update(new)
                done.refused_records.update(conflicts)
        for q in quarantined:
            # Our own rows: what they hold was checked or escaped when they were made.
            self._execute(
                f"INSERT INTO quarantine ({_QUARANTINE_COLS}) VALUES (?, ?, ?, ?, ?)",
                (q.topic, q.probe, q.reason, q.received_at_ms, q.raw),
            )
        for i, p in enumerate(presence):
            with self._row(alone, done.refused_presence, i):
                self._upsert_presence(p)
        return done

    @contextmanager
    def _row(self, alone: bool, refusals: dict[int, str], index: int) -> Iterator[None]:
        """alone: the block in a savepoint, a refusal of its row noted in refusals[index]
        instead of raised. Otherwise just the block."""
        if not alone:
            yield
            return
        try:
            with self._engine.savepoint():
                yield
        except self._engine.row_refusals as exc:
            refusals[index] = f"the database refused it: {type(exc).__name__}: {exc}"

    def _upsert_presence(self, p: Presence) -> None:
        self._execute(
            "INSERT INTO probe_presence (probe, state, reason, agent, updated_at_ms)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (probe) DO UPDATE SET"
            " state = excluded.state, reason = excluded.reason, agent = excluded.agent,"
            " updated_at_ms = excluded.updated_at_ms",
            (p.probe, p.state, p.reason, p.agent, p.at_ms),
        )

    def forget_partitions(self) -> None:
        """Partitions were dropped: ask the catalogue again before the next insert."""
        self._partitioned_days.clear()

    def _ensure_partitions(self, times_ms: Iterable[int]) -> None:
        if self.dialect != "postgres":
            return
        days = {partitions.day_of(t) for t in times_ms} - self._partitioned_days
        if days:
            partitions.ensure(self, days)
            self._partitioned_days.update(days)

    def _claim_identities(
        self, records: Sequence[RecordRow], indexes: list[int]
    ) -> tuple[set[int], dict[int, str]]:
        """Insert the identities of records[i] for i in indexes (distinct); the indexes that were
        new, and why each record whose identity was stored with another payload is refused."""
        hashes = {
            i: records[i].payload_sha256 or schema.payload_sha256(records[i].raw) for i in indexes
        }
        params: list[Any] = []
        index_of = {}
        for i in indexes:
            r = records[i]
            index_of[(r.probe, r.epoch, r.seq)] = i
            params += [r.probe, r.epoch, r.seq, hashes[i], r.time_ms, r.flag is not None]
        rows = self._query(
            "INSERT INTO record_identity (probe, epoch, seq, payload_sha256, time_ms, flagged)"
            " VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(indexes))
            + " ON CONFLICT (probe, epoch, seq) DO NOTHING RETURNING probe, epoch, seq",
            params,
        )
        new = {index_of[(row[0], row[1], row[2])] for row in rows}
        conflicts = {}
        for i in indexes:
            if i in new:
                continue
            r = records[i]
            [(stored,)] = self._query(
                "SELECT payload_sha256 FROM record_identity"
                " WHERE probe = ? AND epoch = ? AND seq = ?",
                (r.probe, r.epoch, r.seq),
            )
            if bytes(stored) != hashes[i]:
                conflicts[i] = (
                    f"conflicts with the stored record {r.probe} epoch {r.epoch} seq {r.seq}:"
                    " same identity, another payload"
                )
        return new, conflicts

    def _insert_records(self, records: Sequence[RecordRow], indexes: list[int]) -> None:
        """Insert records[i] for i in indexes, whose identities were just claimed."""
        if not indexes:
            return
        json_type = schema.TYPES[self.dialect]["json"]
        metric_marks = ", ?" * len(metrics.NAMES)
        row_sql = f"(?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS {json_type}), ?, ?{metric_marks}, ?, ?)"
        params: list[Any] = []
        for i in indexes:
            r = records[i]
            params += [r.probe, r.epoch, r.seq, r.kid, r.kind, r.time_ms, r.synced]
            params += [r.received_at_ms, json.dumps(r.record, ensure_ascii=False), r.raw, r.flag]
            params += [r.metrics.get(name) for name in metrics.NAMES]
            params += [r.validity, localtime.local_ms(r.time_ms)]
        self._execute(
            f"INSERT INTO records ({_INSERT_COLS}) VALUES " + ", ".join([row_sql] * len(indexes)),
            params,
        )

    # --- reading -------------------------------------------------------------------------------

    def records(
        self, since_ms: int | None = None, until_ms: int | None = None
    ) -> Iterator[RecordRow]:
        """Stored records in (time, probe, epoch, seq) order; since inclusive, until exclusive."""
        where, params = [], []
        if since_ms is not None:
            where.append("time_ms >= ?")
            params.append(since_ms)
        if until_ms is not None:
            where.append("time_ms < ?")
            params.append(until_ms)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        cursor = self._execute(
            f"SELECT id, {_RECORD_COLS} FROM records{clause} ORDER BY time_ms, probe, epoch, seq",
            params,
        )
        for row in cursor:
            yield _record_from_row(row)

    def count_records(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM records")[0][0])

    def highest_seq(self, probe: str, epoch: int) -> int | None:
        """The highest seq stored for probe and epoch, not counting flagged records (read from the
        identities, which outlive the hot store's retention)."""
        rows = self._query(
            "SELECT MAX(seq) FROM record_identity WHERE probe = ? AND epoch = ? AND NOT flagged",
            (probe, epoch),
        )
        return None if rows[0][0] is None else int(rows[0][0])

    def quarantine(self) -> list[QuarantineRow]:
        rows = self._query(f"SELECT id, {_QUARANTINE_COLS} FROM quarantine ORDER BY id")
        return [
            QuarantineRow(
                topic=r[1], probe=r[2], reason=r[3], received_at_ms=r[4], raw=bytes(r[5]), id=r[0]
            )
            for r in rows
        ]

    # --- probe keys ----------------------------------------------------------------------------

    def insert_key(self, key: KeyRow) -> None:
        with self._engine.transaction():
            self._execute(
                f"INSERT INTO probe_keys ({_KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.probe,
                    key.kid,
                    key.public_key,
                    key.not_before_ms,
                    key.not_after_ms,
                    key.revoked_at_ms,
                    key.added_at_ms,
                ),
            )

    def key(self, kid: bytes) -> KeyRow | None:
        rows = self._query(f"SELECT {_KEY_COLS} FROM probe_keys WHERE kid = ?", (kid,))
        return _key_from_row(rows[0]) if rows else None

    def probe_keys(self, probe: str | None = None) -> list[KeyRow]:
        if probe is None:
            rows = self._query(f"SELECT {_KEY_COLS} FROM probe_keys ORDER BY probe, added_at_ms")
        else:
            rows = self._query(
                f"SELECT {_KEY_COLS} FROM probe_keys WHERE probe = ? ORDER BY added_at_ms",
                (probe,),
            )
        return [_key_from_row(r) for r in rows]

    def set_key_validity(
        self,
        kid: bytes,
        not_before_ms: int | None,
        not_after_ms: int | None,
        revoked_at_ms: int | None,
    ) -> None:
        with self._engine.transaction():
            self._execute(
                "UPDATE probe_keys SET not_before_ms = ?, not_after_ms = ?, revoked_at_ms = ?"
                " WHERE kid = ?",
                (not_before_ms, not_after_ms, revoked_at_ms, kid),
            )

    # --- probe metadata --------------------------------------------------------------------------

    def upsert_probe(self, row: ProbeRow) -> None:
        values = (
            row.probe,
            row.operator,
            row.technology,
            row.region,
            row.commune,
            row.consent_date,
            row.board,
            row.firmware,
            row.updated_at_ms,
            row.tier,
        )
        updates = ", ".join(
            f"{c.strip()} = excluded.{c.strip()}" for c in _PROBE_COLS.split(",")[1:]
        )
        with self._engine.transaction():
            self._execute(
                f"INSERT INTO probes ({_PROBE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                f" ON CONFLICT (probe) DO UPDATE SET {updates}",
                values,
            )

    def probes(self) -> list[ProbeRow]:
        rows = self._query(f"SELECT {_PROBE_COLS} FROM probes ORDER BY probe")
        return [ProbeRow(*r) for r in rows]

    def probe(self, probe: str) -> ProbeRow | None:
        rows = self._query(f"SELECT {_PROBE_COLS} FROM probes WHERE probe = ?", (probe,))
        return ProbeRow(*rows[0]) if rows else None

    # --- API keys ------------------------------------------------------------------------------

    def insert_api_key(self, key_hash: bytes, name: str, scope: str) -> None:
        with self._engine.transaction():
            self._execute(
                "INSERT INTO api_keys (key_hash, name, scope, created_at_ms) VALUES (?, ?, ?, ?)",
                (key_hash, name, scope, now_ms()),
            )

    def api_key_scope(self, key_hash: bytes) -> str | None:
        """The scope of a key that exists and is not revoked, else None."""
        rows = self._query(
            "SELECT scope FROM api_keys WHERE key_hash = ? AND revoked_at_ms IS NULL", (key_hash,)
        )
        return str(rows[0][0]) if rows else None


def _key_from_row(row: Sequence[Any]) -> KeyRow:
    return KeyRow(
        probe=row[0],
        kid=bytes(row[1]),
        public_key=bytes(row[2]),
        not_before_ms=row[3],
        not_after_ms=row[4],
        revoked_at_ms=row[5],
        added_at_ms=row[6],
    )
