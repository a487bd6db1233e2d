"""The collector's database schema as numbered migrations, one text for SQLite and PostgreSQL.

Each migration is applied once, in order, inside a transaction, and recorded in
`schema_migrations`; a database is never edited by hand. Column types that differ between the two
engines are written as `{placeholders}` filled from the dialect's type table, so the schema itself
is written once.

Times are integer milliseconds since 1970 UTC (`*_ms`): the same in both engines, exact, cheap to
index and to compare.
"""

from __future__ import annotations

TYPES: dict[str, dict[str, str]] = {
    "sqlite": {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "bigint": "INTEGER",
        "blob": "BLOB",
        "json": "TEXT",
        "bool": "INTEGER",
    },
    "postgres": {
        "pk": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "bigint": "BIGINT",
        "blob": "BYTEA",
        "json": "JSONB",
        "bool": "BOOLEAN",
    },
}

MIGRATIONS: list[tuple[int, str, list[str]]] = [
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
]


def statements(dialect: str, migration: list[str]) -> list[str]:
    types = TYPES[dialect]
    return [sql.format(**types) for sql in migration]
