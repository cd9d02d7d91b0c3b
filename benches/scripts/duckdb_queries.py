"""Runs the query benchmark's queries in DuckDB over faultline's Parquet files.

Used by `cargo run --release -p faultline-benches --bin query_compare`, which passes a JSON spec
file as the only argument:

    {"glob": "<data>/entries/**/*.parquet", "runs": 5,
     "queries": [{"key": "a", "sql": "SELECT ... FROM entries ..."}, ...]}

`entries` is a view over `read_parquet(glob, hive_partitioning=true)`. Each query runs once cold
(the first run on a fresh connection) and `runs` times warm; a run is the query plus fetching
the whole result as an Arrow table, timed with `time.perf_counter`. The result of the cold run
is reduced to a digest that the harness compares with faultline's: one line per row, values
joined by tabs, NULL as `\\N`, timestamps as integer microseconds, SHA-1 over `line\\n` in result
order. Prints one JSON document on stdout. Exits with status 3 when duckdb or pyarrow is
missing.
"""

import hashlib
import json
import sys
import time

try:
    import duckdb
    import pyarrow as pa
except ImportError as missing:
    print(
        f"query_compare: the Python module `{missing.name}` is missing; "
        "install it with `pip install duckdb pyarrow`",
        file=sys.stderr,
    )
    sys.exit(3)

HEAD_LINES = 10


def fetch(con, sql):
    """Runs `sql` and returns the whole result as an Arrow table."""
    rel = con.sql(sql)
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        method = getattr(rel, name, None)
        if method is not None:
            return method()
    raise RuntimeError("this duckdb has no Arrow fetch method")


def canonical_columns(table):
    """Each column as a Python list, timestamps as integer microseconds."""
    out = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64())
        out.append(column.to_pylist())
    return out


def text(value):
    return "\\N" if value is None else str(value)


def digest(table):
    """Row count, SHA-1 of the canonical lines and the first few lines."""
    columns = canonical_columns(table)
    sha = hashlib.sha1()
    head = []
    for row in zip(*columns):
        line = "\t".join(text(v) for v in row)
        sha.update(line.encode())
        sha.update(b"\n")
        if len(head) < HEAD_LINES:
            head.append(line)
    return {"rows": table.num_rows, "digest": sha.hexdigest(), "head": head}


def timed(con, sql):
    start = time.perf_counter()
    table = fetch(con, sql)
    return table, (time.perf_counter() - start) * 1000.0


def connect(glob):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    escaped = glob.replace("'", "''")
    con.execute(
        "CREATE VIEW entries AS SELECT * FROM "
        f"read_parquet('{escaped}', hive_partitioning = true)"
    )
    return con


def run_query(glob, query, runs):
    con = connect(glob)
    table, cold_ms = timed(con, query["sql"])
    warm = [timed(con, query["sql"])[1] for _ in range(runs)]
    result = {"key": query["key"], "cold_ms": cold_ms, "warm_ms": warm}
    result.update(digest(table))
    con.close()
    return result


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    threads = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]
    results = [run_query(spec["glob"], q, spec["runs"]) for q in spec["queries"]]
    json.dump(
        {"version": duckdb.__version__, "threads": threads, "results": results},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
