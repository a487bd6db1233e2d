"""The collector's database schema as numbered migrations, one text for SQLite and PostgreSQL.

Each migration is applied once, in order, inside a transaction, and recorded in
`schema_migrations`; a database is never edited by hand. Column types that differ between the two
engines are written as `{placeholders}` filled from the dialect's type table, so the schema itself
is written once.

Times are integer milliseconds since 1970 UTC (`*_ms`): the same in both engines, exact, cheap to
index and to compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
]


def prepared(dialect: str, migration: list[Step]) -> list[Step]:
    """The migration's steps with the engine's column types filled in."""
    types = TYPES[dialect]
    return [step.format(**types) if isinstance(step, str) else step for step in migration]
