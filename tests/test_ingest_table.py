"""Ingest of the project's own table format (CSV, JSONL, Parquet), its checks and its idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import fingerprint, run_cli

CSV = """source,benchmark,item_id,model,scaffold,repeat,score,status,input_tokens,output_tokens,cost_usd,latency_s,difficulty,notes
demo-src,demo,a1,model-a,,0,1,ok,100,20,0.01,1.5,easy,ignored
demo-src,demo,a2,model-a,,0,0,ok,120,30,0.02,2.0,hard,ignored
demo-src,demo,a1,model-b,react,0,0.5,ok,,,,,easy,ignored
demo-src,demo,a2,model-b,react,1,,error,,,,,hard,ignored
"""


def ingest(store: Path, *args: str) -> dict:
    result = run_cli("ingest", "--store", str(store), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def rows(store: Path, sql: str, params: list | None = None) -> list[tuple]:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def test_csv_ingest_lands_every_column(store_path: Path, tmp_path: Path) -> None:
    table = tmp_path / "demo.csv"
    table.write_text(CSV)
    report = ingest(store_path, str(table), "--stratum", "difficulty")
    assert report["rollouts_added"] == 4 and report["items_added"] == 2
    got = rows(
        store_path,
        """
        SELECT item_id, model, scaffold, "repeat", score, status, input_tokens, output_tokens, cost_usd,
               cost_source, latency_s
        FROM rollouts WHERE benchmark = 'demo' ORDER BY model, item_id, "repeat" """,
    )
    assert got == [
        ("a1", "model-a", "", 0, 1.0, "ok", 100, 20, 0.01, "recorded", 1.5),
        ("a2", "model-a", "", 0, 0.0, "ok", 120, 30, 0.02, "recorded", 2.0),
        ("a1", "model-b", "react", 0, 0.5, "ok", None, None, None, "unknown", None),
        ("a2", "model-b", "react", 1, None, "error", None, None, None, "unknown", None),
    ]
    assert rows(store_path, "SELECT item_id, stratum FROM items WHERE benchmark = 'demo' ORDER BY 1") == [
        ("a1", "easy"),
        ("a2", "hard"),
    ]
    (run,) = rows(
        store_path, "SELECT source, harness FROM runs WHERE run_id = ?", [report["files"][0]["run_id"]]
    )
    assert run == ("demo-src", "table")


def test_the_same_file_twice_adds_nothing(store_path: Path, tmp_path: Path) -> None:
    table = tmp_path / "demo.csv"
    table.write_text(CSV)
    ingest(store_path, str(table))
    before = fingerprint(store_path)
    copy = tmp_path / "renamed.csv"
    copy.write_text(CSV)
    again = ingest(store_path, str(table), str(copy))
    assert [f["skipped"] for f in again["files"]] == [True, True]
    assert again["rollouts_added"] == 0
    assert fingerprint(store_path) == before


def test_jsonl_and_parquet_tables(store_path: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "results.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"benchmark": "j", "item_id": 1, "model": "m", "score": 1, "stratum": "s1", "cost_usd": 0.5},
                {"benchmark": "j", "item_id": 2, "model": "m", "score": 0.25, "stratum": "s2"},
            ]
        )
        + "\n"
    )
    parquet = tmp_path / "results.parquet"
    duckdb.execute(
        f"COPY (SELECT 'p' AS benchmark, 'x' || i AS item_id, 'm' AS model, (i % 2)::DOUBLE AS score, "
        f"i * 10 AS input_tokens FROM range(5) t(i)) TO '{parquet}' (FORMAT parquet)"
    )
    report = ingest(store_path, str(jsonl), str(parquet))
    assert report["rollouts_added"] == 7
    assert rows(store_path, "SELECT item_id, stratum FROM items WHERE benchmark = 'j' ORDER BY 1") == [
        ("1", "s1"),
        ("2", "s2"),
    ]
    assert rows(store_path, "SELECT sum(input_tokens), sum(score) FROM rollouts WHERE benchmark = 'p'") == [
        (100, 2.0)
    ]


def test_a_folder_stands_for_the_files_in_it(store_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "results"
    (folder / "nested").mkdir(parents=True)
    (folder / "one.csv").write_text("benchmark,item_id,model,score\nf,1,m,1\n")
    (folder / "nested" / "two.csv").write_text("benchmark,item_id,model,score\nf,2,m,0\n")
    (folder / "README.txt").write_text("not results")
    assert ingest(store_path, str(folder))["rollouts_added"] == 2


BAD_TABLES = {
    "missing column": ("bad.csv", "benchmark,item_id,model\nb,1,m\n", "missing required column 'score'"),
    "score above 1": (
        "bad.csv",
        "benchmark,item_id,model,score\nb,1,m,1\nb,2,m,1.5\n",
        "line 3: score 1.5 is outside [0, 1]",
    ),
    "negative score": (
        "bad.csv",
        "benchmark,item_id,model,score\nb,1,m,-0.5\n",
        "line 2: score -0.5 is outside [0, 1]",
    ),
    "non-numeric score": (
        "bad.csv",
        "benchmark,item_id,model,score\nb,1,m,1\nb,2,m,1\nb,3,m,abc\n",
        "line 4: column 'score' is not a number ('abc')",
    ),
    "bad JSON line": (
        "bad.jsonl",
        '{"benchmark": "b", "item_id": 1, "model": "m", "score": 1}\n{"benchmark": "b", "item_id": 2,\n',
        "line 2: not valid JSON",
    ),
    "empty model": ("bad.csv", "benchmark,item_id,model,score\nb,1,,1\n", "line 2: column 'model' is empty"),
    "unknown status": (
        "bad.csv",
        "benchmark,item_id,model,score,status\nb,1,m,1,done\n",
        "line 2: status 'done' is not one of ok, error, limit",
    ),
    "negative tokens": (
        "bad.csv",
        "benchmark,item_id,model,score,output_tokens\nb,1,m,1,-3\n",
        "line 2: column 'output_tokens' is negative",
    ),
    "bad release date": (
        "bad.csv",
        "benchmark,item_id,model,score,release_date\nb,1,m,1,2025-01-02\nb,2,m,1,\nb,3,n,1,soon\n",
        "line 4: release_date 'soon' is not a date",
    ),
    "two release dates": (
        "bad.csv",
        "benchmark,item_id,model,score,release_date\nb,1,m,1,2025-01-02\nb,2,m,1,2025-03-04\n",
        "model 'm' has two release dates (2025-01-02 and 2025-03-04)",
    ),
}


@pytest.mark.parametrize("case", BAD_TABLES.values(), ids=BAD_TABLES.keys())
def test_bad_tables_are_refused_and_the_store_is_unchanged(
    case: tuple[str, str, str], store_path: Path, tmp_path: Path
) -> None:
    name, text, expected = case
    good = tmp_path / "good.csv"
    good.write_text("benchmark,item_id,model,score\ngood,1,m,1\n")
    bad = tmp_path / name
    bad.write_text(text)
    before = fingerprint(store_path)
    # the good file comes first: one transaction means it must not land either
    result = run_cli("ingest", "--store", str(store_path), str(good), str(bad))
    assert result.returncode == 1
    message = result.stderr.strip()
    assert str(bad) in message and expected in message, message
    assert message.count("\n") == 0, "one sentence, no traceback"
    assert fingerprint(store_path) == before


def test_unknown_stratum_column_is_named(store_path: Path, tmp_path: Path) -> None:
    table = tmp_path / "demo.csv"
    table.write_text(CSV)
    result = run_cli("ingest", "--store", str(store_path), str(table), "--stratum", "repo")
    assert result.returncode == 1 and "has no column 'repo'" in result.stderr


def test_a_missing_file_is_named(store_path: Path, tmp_path: Path) -> None:
    result = run_cli("ingest", "--store", str(store_path), str(tmp_path / "nope.csv"))
    assert result.returncode == 1 and "nope.csv: no such file" in result.stderr


BAD_TABLES_MORE = {
    "fractional tokens": (
        "bad.csv",
        "benchmark,item_id,model,score,input_tokens\nb,1,m,1,12\nb,2,m,1,12.7\n",
        "line 3: column 'input_tokens' is not a whole number (12.7)",
    ),
    "fractional tokens in JSON lines": (
        "bad.jsonl",
        '{"benchmark": "b", "item_id": 1, "model": "m", "score": 1, "output_tokens": 3.5}\n',
        "line 1: column 'output_tokens' is not a whole number (3.5)",
    ),
    "a CSV cut short": (
        "bad.csv",
        "benchmark,item_id,model,score,input_tokens\nb,i1,m,1,10\nb,i2,m,0,20\nb,i",
        "line 4: 2 fields where the header names 5 (is the file cut short?)",
    ),
    "two results for one attempt": (
        "bad.csv",
        "benchmark,item_id,model,score\nb,1,m,1\nb,2,m,1\nb,1,m,0\n",
        "line 4: 'm' on item '1' (repeat 0) has another result on line 2",
    ),
}
BAD_TABLES.update(BAD_TABLES_MORE)


def test_identity_is_the_rows_not_the_bytes(store_path: Path, tmp_path: Path) -> None:
    """Identical rows in one file are one rollout; the same rows with other bytes (a trailing newline, another
    order) add nothing; new rows from the same source add only themselves; a changed result is refused."""
    first = tmp_path / "run.csv"
    first.write_text("benchmark,item_id,model,score\nb,1,m,1\nb,2,m,0\nb,1,m,1\n")
    report = ingest(store_path, str(first))
    assert (report["rollouts_added"], report["duplicate_rollouts"]) == (2, 1)
    assert rows(store_path, "SELECT count(*) FROM rollouts WHERE benchmark = 'b'") == [(2,)]

    before = fingerprint(store_path)
    first.write_text("benchmark,item_id,model,score\nb,2,m,0\nb,1,m,1\n\n")  # other bytes, same rows
    again = ingest(store_path, str(first))
    assert again["files"][0]["skipped"] and again["rollouts_added"] == 0 and again["duplicate_rollouts"] == 2
    assert fingerprint(store_path) == before

    first.write_text("benchmark,item_id,model,score\nb,1,m,1\nb,3,m,1\n")  # one old row, one new
    grown = ingest(store_path, str(first))
    assert (grown["rollouts_added"], grown["duplicate_rollouts"]) == (1, 1)
    assert rows(store_path, "SELECT item_id FROM rollouts WHERE benchmark = 'b' ORDER BY 1") == [
        ("1",),
        ("2",),
        ("3",),
    ]

    before = fingerprint(store_path)
    first.write_text("benchmark,item_id,model,score\nb,2,m,1\n")  # item 2 scored 0 before
    refused = run_cli("ingest", "--store", str(store_path), str(first))
    assert refused.returncode == 1
    assert "line 2: source 'run.csv' already holds this rollout with score 0.0" in refused.stderr
    assert fingerprint(store_path) == before
    kept = ingest(store_path, str(first), "--source", "rerun")  # under another source it is another rollout
    assert kept["rollouts_added"] == 1


def test_a_large_file_read_out_of_order_still_names_the_right_lines(store_path: Path, tmp_path: Path) -> None:
    """A good CSV is read by DuckDB's threads in whatever order they finish (the fast path); a message that
    names lines (a clash inside the file, or with what the source holds) comes from reading it again in order.
    The file is large enough (about 30 MB) for the parallel read to reorder its rows."""
    table = tmp_path / "large.csv"
    duckdb.execute(
        f"""COPY (SELECT 'big' AS benchmark, 'item-' || i AS item_id, 'model' AS model, 1 AS score,
                repeat('x', 80) AS notes FROM range(300000) t(i)) TO '{table}' (HEADER)"""
    )
    with table.open("a") as handle:
        handle.write("big,item-299990,model,0," + "x" * 80 + "\n")  # line 300,002 clashes with 299,992
    refused = run_cli("ingest", "--store", str(store_path), str(table))
    assert refused.returncode == 1
    assert (
        "line 300002: 'model' on item 'item-299990' (repeat 0) has another result on line 299992"
        in refused.stderr
    ), refused.stderr

    lines = table.read_text().splitlines()
    table.write_text("\n".join(lines[:-1]) + "\n")  # the clash removed: the file goes in
    assert ingest(store_path, str(table))["rollouts_added"] == 300000
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join([lines[0], *lines[1:150001], lines[150001].replace(",1,", ",0,")]) + "\n")
    refused = run_cli("ingest", "--store", str(store_path), str(changed), "--source", "large.csv")
    assert refused.returncode == 1
    assert "changed.csv, line 150002: source 'large.csv' already holds this rollout" in refused.stderr


def test_text_written_with_spaces_or_empty_fields_is_read_as_the_plain_value(
    store_path: Path, tmp_path: Path
) -> None:
    """A hand-written CSV (spaces after commas, an empty quoted field, OK in capitals) stores the same rollouts
    as the clean file: such a file leaves the fast typed read for the text read, which trims each value."""
    table = tmp_path / "hand.csv"
    table.write_text(
        "benchmark, item_id, model, scaffold, score, status, input_tokens\n"
        'b, 1, m , "", 1, OK, 12 \n'
        "b, 2, m, react , 0.5, ok,\n"
    )
    assert ingest(store_path, str(table))["rollouts_added"] == 2
    assert rows(
        store_path,
        "SELECT item_id, model, scaffold, score, status, input_tokens FROM rollouts WHERE benchmark = 'b' "
        "ORDER BY 1",
    ) == [("1", "m", "", 1.0, "ok", 12), ("2", "m", "react", 0.5, "ok", None)]


def test_a_tables_cache_reads_and_writes_are_priced_at_their_prices(store_path: Path, tmp_path: Path) -> None:
    """A table's token columns with no cost are priced at ingest: cached_input_tokens at the cache-read price,
    cache_write_tokens at the cache-write price; a negative cache write is refused naming its line."""
    table = tmp_path / "cache.csv"
    table.write_text(
        "benchmark,item_id,model,score,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens\n"
        "cache-demo,i1,cached-model,1,1000,2000,4000,100\n"
        "cache-demo,i2,cached-model,0,500,0,,50\n"
    )
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[models."cached-model"]\ninput_mtok = 5.0\noutput_mtok = 25.0\ncache_read_mtok = 0.5\n'
        "cache_write_mtok = 6.25\n"
    )
    report = ingest(store_path, str(table), "--prices", str(prices))
    assert report["priced_rollouts"] == 2
    got = rows(
        store_path,
        "SELECT item_id, cache_write_tokens, cost_usd, cost_source FROM rollouts WHERE benchmark = 'cache-demo' "
        "ORDER BY 1",
    )
    assert got == [
        ("i1", 4000, pytest.approx((1000 * 5 + 2000 * 0.5 + 4000 * 6.25 + 100 * 25) / 1e6), "priced"),
        ("i2", None, pytest.approx((500 * 5 + 50 * 25) / 1e6), "priced"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text(table.read_text().replace(",4000,", ",-4,"))
    before = fingerprint(store_path)
    refused = run_cli("ingest", "--store", str(store_path), str(bad))
    assert refused.returncode == 1 and fingerprint(store_path) == before
    assert "line 2: column 'cache_write_tokens' is negative (-4" in refused.stderr, refused.stderr
