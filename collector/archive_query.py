"""SQL over the archive with DuckDB: a view per record kind, and `records` over all of them.

A local archive is read by DuckDB's own Parquet reader (`read_parquet` with Hive partitioning,
its fastest path); an archive on another filesystem (s3://…) through a pyarrow dataset on that
filesystem, which DuckDB scans as an Arrow stream, so no DuckDB extension has to be installed.
Either way the views have the archive's columns plus `kind` and `day` from the partition path.
"""

from __future__ import annotations

import re
from typing import Any

from agent.core.errors import QiyasError
from collector import archive

_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")


class QueryError(QiyasError):
    """The SQL failed; the text is DuckDB's message."""


def kinds(root: archive.Root) -> list[str]:
    found = set()
    for path in root.listing():
        head = path.split("/", 1)[0]
        kind = head.removeprefix("kind=")
        # A view name: only what a record kind can be, whatever else lies in the directory.
        if head.startswith("kind=") and path.endswith(".parquet") and _KIND.fullmatch(kind):
            found.add(kind)
    return sorted(found)


def connect(root: archive.Root) -> Any:
    """A DuckDB connection with the archive's views."""
    import duckdb

    con = duckdb.connect()
    local = "://" not in root.location
    names = kinds(root)
    for kind in names:
        con.execute(f'CREATE VIEW "{kind}" AS {_source(con, root, local, kind)}')
    if names:
        con.execute(f"CREATE VIEW records AS {_source(con, root, local, None)}")
    return con


def _source(con: Any, root: archive.Root, local: bool, kind: str | None) -> str:
    partition = f"kind={kind}" if kind else "kind=*"
    if local:
        # Hive types off: day stays text (YYYY-MM-DD) in every engine, as docs/analysis.md says.
        pattern = root.path(f"{partition}/day=*/*.parquet").replace("'", "''")
        return (
            f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true,"
            " hive_types_autocast = false)"
        )
    if "_arrow" not in {row[0] for row in con.execute("SHOW TABLES").fetchall()}:
        import pyarrow.dataset as ds

        dataset = ds.dataset(
            root.base,
            filesystem=root.fs,
            format="parquet",
            partitioning=ds.partitioning(flavor="hive"),
            ignore_prefixes=["manifests", ".", "_"],
        )
        con.register("_arrow", dataset)
    return "SELECT * FROM _arrow" + (f" WHERE kind = '{kind}'" if kind else "")


def run(root: archive.Root, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of sql over the archive's views."""
    import duckdb

    con = connect(root)
    try:
        result = con.execute(sql)
        columns = [d[0] for d in result.description or []]
        return columns, result.fetchall()
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    finally:
        con.close()
