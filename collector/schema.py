"""The collector's database schema as numbered migrations, one text for SQLite and PostgreSQL.

Each migration is applied once, in order, inside a transaction, and recorded in
`schema_migrations`; a database is never edited by hand. Column types that differ between the two
engines are written as `{placeholders}` filled from the dialect's type table, so the schema itself
is written once.

Times are integer milliseconds since 1970 UTC (`*_ms`): the same in both engines, exact, cheap to
index and to compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from agent.core import cose
from collector import localtime, metrics, partitions

TYPES: dict[str, dict[str, str]] = {
    "sqlite": {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "bigint": "INTEGER",
        "blob": "BLOB",
        "json": "TEXT",
        "bool": "INTEGER",
        "float": "REAL",
    },
    "postgres": {
        "pk": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "bigint": "BIGINT",
        "blob": "BYTEA",
        "json": "JSONB",
        "bool": "BOOLEAN",
        "float": "DOUBLE PRECISION",
    },
}

# A step is SQL, or a function given the Store for what SQL cannot say the same way in both engines.
Step = str | Callable[[Any], None]


def _backfill_metrics(store: Any) -> None:
    store.backfill_metrics()


def _backfill_validity(store: Any) -> None:
    store.backfill_validity()


def payload_sha256(raw: bytes) -> bytes:
    """SHA-256 of the payload of a COSE_Sign1: what makes two records "the same record" whatever
    key signed them (a resend re-signed after a key rotation is a duplicate, not a conflict)."""
    return hashlib.sha256(cose.parse_sign1(raw).payload).digest()


_IDENTITY = """CREATE TABLE record_identity (
    probe TEXT NOT NULL,
    epoch {bigint} NOT NULL,
    seq {bigint} NOT NULL,
    payload_sha256 {blob} NOT NULL,
    time_ms {bigint} NOT NULL,
    flagged {bool} NOT NULL,
    PRIMARY KEY (probe, epoch, seq)
)"""

_METRIC_COLUMNS = "".join(f"    {name} DOUBLE PRECISION,\n" for name in metrics.NAMES)

# The partitioned table of PostgreSQL. No unique key on (probe, epoch, seq): a unique index of a
# partitioned table must contain the partition key, and `record_identity` is that key anyway.
# id comes from a sequence: PostgreSQL 15 has no identity columns on partitioned tables.
_PARTITIONED = (
    """CREATE TABLE records (
    id BIGINT NOT NULL DEFAULT nextval('record_ids'),
    probe TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kid BYTEA NOT NULL,
    kind TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    local_time_ms BIGINT NOT NULL,
    synced BOOLEAN NOT NULL,
    received_at_ms BIGINT NOT NULL,
    record JSONB NOT NULL,
    raw BYTEA NOT NULL,
    flag TEXT,
    validity TEXT,
"""
    + _METRIC_COLUMNS
    + """    PRIMARY KEY (id, time_ms)
) PARTITION BY RANGE (time_ms)"""
)

_RECORD_INDEXES = [
    "CREATE INDEX records_time ON records (time_ms)",
    "CREATE INDEX records_kind_time ON records (kind, time_ms)",
    "CREATE INDEX records_received ON records (received_at_ms)",
    "CREATE INDEX records_probe_time ON records (probe, time_ms)",
    "CREATE INDEX records_probe_received ON records (probe, received_at_ms)",
    "CREATE INDEX records_flagged ON records (probe) WHERE flag IS NOT NULL",
]

# Rows read per round trip while copying identities: bounds memory whatever the table's size.
_IDENTITY_PAGE = 5000


def _fill_identity(store: Any, table: str) -> None:
    """One identity per stored record, with its payload's hash (keyset pages by id)."""
    after = -1
    while True:
        rows = store.query(
            f"SELECT id, probe, epoch, seq, raw, time_ms, flag FROM {table}"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (after, _IDENTITY_PAGE),
        )
        if not rows:
            return
        for _, probe, epoch, seq, raw, time_ms, flag in rows:
            store.execute(
                "INSERT INTO record_identity"
                " (probe, epoch, seq, payload_sha256, time_ms, flagged) VALUES (?, ?, ?, ?, ?, ?)",
                (probe, epoch, seq, payload_sha256(bytes(raw)), time_ms, flag is not None),
            )
        after = rows[-1][0]


def _partition_records(store: Any) -> None:
    """Version 7: record identities in their own table; PostgreSQL's records partitioned by day.

    On PostgreSQL the old table is renamed, the partitioned one created with a partition for each
    day that has records, every row copied with its id, the id sequence moved past them, and the
    old table dropped; all in the migration's one transaction, so a failure leaves version 6 as
    it was. SQLite keeps its one table and gains the local-time column."""
    store.execute(_IDENTITY.format(**TYPES[store.dialect]))
    if store.dialect == "sqlite":
        store.execute("ALTER TABLE records ADD COLUMN local_time_ms INTEGER")
        for row_id, time_ms in store.query("SELECT id, time_ms FROM records"):
            store.execute(
                "UPDATE records SET local_time_ms = ? WHERE id = ?",
                (localtime.local_ms(time_ms), row_id),
            )
        _fill_identity(store, "records")
        return
    store.execute("ALTER TABLE records RENAME TO records_v6")
    for index in _RECORD_INDEXES:
        name = index.split()[2]
        store.execute(f"ALTER INDEX {name} RENAME TO v6_{name}")
    store.execute("ALTER TABLE records_v6 RENAME CONSTRAINT records_pkey TO v6_records_pkey")
    store.execute(
        "ALTER TABLE records_v6 RENAME CONSTRAINT records_probe_epoch_seq_key TO v6_records_key"
    )
    store.execute("CREATE SEQUENCE record_ids")
    store.execute(_PARTITIONED)
    store.execute("ALTER SEQUENCE record_ids OWNED BY records.id")
    for index in _RECORD_INDEXES:
        store.execute(index)
    days = store.query(
        f"SELECT DISTINCT floor(time_ms / {partitions.DAY_MS}.0)::bigint FROM records_v6"
    )
    partitions.ensure(store, (partitions.day_of(int(d) * partitions.DAY_MS) for (d,) in days))
    columns = "id, probe, epoch, seq, kid, kind, time_ms, synced, received_at_ms, record, raw, flag"
    columns += "".join(f", {name}" for name in metrics.NAMES) + ", validity"
    store.execute(
        f"INSERT INTO records ({columns}, local_time_ms)"
        f" SELECT {columns}, {localtime.local_ms_sql_postgres('time_ms')} FROM records_v6"
    )
    store.execute(
        "SELECT setval('record_ids', COALESCE((SELECT MAX(id) FROM records_v6), 1),"
        " (SELECT COUNT(*) > 0 FROM records_v6))"
    )
    _fill_identity(store, "records_v6")
    store.execute("DROP TABLE records_v6")


MIGRATIONS: list[tuple[int, str, list[Step]]] = [
    (
        1,
        "records, quarantine and probe keys",
        [
            # raw: the signed COSE_Sign1 exactly as received, so anyone can re-verify it later.
            """CREATE TABLE records (
                id {pk},
                probe TEXT NOT NULL,
                epoch {bigint} NOT NULL,
                seq {bigint} NOT NULL,
                kid {blob} NOT NULL,
                kind TEXT NOT NULL,
                time_ms {bigint} NOT NULL,
                synced {bool} NOT NULL,
                received_at_ms {bigint} NOT NULL,
                record {json} NOT NULL,
                raw {blob} NOT NULL,
                UNIQUE (probe, epoch, seq)
            )""",
            "CREATE INDEX records_time ON records (time_ms)",
            "CREATE INDEX records_kind_time ON records (kind, time_ms)",
            "CREATE INDEX records_received ON records (received_at_ms)",
            """CREATE TABLE quarantine (
                id {pk},
                topic TEXT NOT NULL,
                probe TEXT,
                reason TEXT NOT NULL,
                received_at_ms {bigint} NOT NULL,
                raw {blob} NOT NULL
            )""",
            """CREATE TABLE probe_keys (
                kid {blob} PRIMARY KEY,
                probe TEXT NOT NULL,
                public_key {blob} NOT NULL UNIQUE,
                not_before_ms {bigint},
                not_after_ms {bigint},
                revoked_at_ms {bigint},
                added_at_ms {bigint} NOT NULL
            )""",
            "CREATE INDEX probe_keys_probe ON probe_keys (probe)",
        ],
    ),
    (
        2,
        "probe metadata, API keys, headline metric columns, replay flags",
        [
            """CREATE TABLE probes (
                probe TEXT PRIMARY KEY,
                operator TEXT,
                technology TEXT,
                region TEXT,
                commune TEXT,
                consent_date TEXT,
                board TEXT,
                firmware TEXT,
                updated_at_ms {bigint} NOT NULL
            )""",
            # Only a hash of each API key is kept: a leaked database leaks no usable key.
            """CREATE TABLE api_keys (
                key_hash {blob} PRIMARY KEY,
                name TEXT NOT NULL,
                scope TEXT NOT NULL,
                created_at_ms {bigint} NOT NULL,
                revoked_at_ms {bigint}
            )""",
            # Why a verified record looks wrong (e.g. a seq far outside the replay window).
            "ALTER TABLE records ADD COLUMN flag TEXT",
            "ALTER TABLE records ADD COLUMN down_mbps {float}",
            "ALTER TABLE records ADD COLUMN up_mbps {float}",
            "ALTER TABLE records ADD COLUMN rtt_ms {float}",
            "ALTER TABLE records ADD COLUMN loaded_rtt_ms_down {float}",
            "ALTER TABLE records ADD COLUMN loaded_rtt_ms_up {float}",
            "CREATE INDEX records_probe_time ON records (probe, time_ms)",
            _backfill_metrics,
        ],
    ),
    (
        3,
        "index for probe health (last seen)",
        ["CREATE INDEX records_probe_received ON records (probe, received_at_ms)"],
    ),
    (
        4,
        "probe presence from the retained status topic",
        [
            """CREATE TABLE probe_presence (
                probe TEXT PRIMARY KEY,
                state TEXT NOT NULL,
                reason TEXT,
                agent TEXT,
                updated_at_ms {bigint} NOT NULL
            )""",
        ],
    ),
    (
        5,
        "partial index of flagged records (probe health counts them per probe)",
        ["CREATE INDEX records_flagged ON records (probe) WHERE flag IS NOT NULL"],
    ),
    (
        6,
        "validity verdict of each end-to-end result, apart from the ingest flag",
        [
            # The probe's verdict on its measurement (docs/methodology.md §4): 'valid', 'flagged',
            # or NULL when the record carries none (schema v1, passive kinds). `flag` stays the
            # collector's opinion of the record itself.
            "ALTER TABLE records ADD COLUMN validity TEXT",
            _backfill_validity,
        ],
    ),
    (
        7,
        "record identities with payload hashes; records partitioned by UTC day (PostgreSQL);"
        " local time; probe tier",
        [
            _partition_records,
            # The subscribed speed tier (e.g. "100M"): a dimension of the regulator's figures.
            "ALTER TABLE probes ADD COLUMN tier TEXT",
        ],
    ),
    (
        8,
        "roll-ups: sketches per hour and day x labels, per probe x local day (collector.rollups)",
        [
            # Labels unknown to the registry are '' (a primary key cannot hold NULL).
            """CREATE TABLE rollup_fleet (
                grain TEXT NOT NULL,
                metric TEXT NOT NULL,
                start_ms {bigint} NOT NULL,
                operator TEXT NOT NULL,
                technology TEXT NOT NULL,
                region TEXT NOT NULL,
                tier TEXT NOT NULL,
                validity TEXT NOT NULL,
                count {bigint} NOT NULL,
                sketch {blob} NOT NULL,
                PRIMARY KEY (grain, metric, start_ms, operator, technology, region, tier, validity)
            )""",
            """CREATE TABLE rollup_probe_day (
                metric TEXT NOT NULL,
                day_ms {bigint} NOT NULL,
                probe TEXT NOT NULL,
                peak {bool} NOT NULL,
                validity TEXT NOT NULL,
                count {bigint} NOT NULL,
                sketch {blob} NOT NULL,
                PRIMARY KEY (metric, day_ms, probe, peak, validity)
            )""",
            """CREATE TABLE rollup_state (
                name TEXT PRIMARY KEY,
                received_before_ms {bigint} NOT NULL
            )""",
        ],
    ),
]


def prepared(dialect: str, migration: list[Step]) -> list[Step]:
    """The migration's steps with the engine's column types filled in."""
    types = TYPES[dialect]
    return [step.format(**types) if isinstance(step, str) else step for step in migration]
