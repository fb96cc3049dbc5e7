"""garden.io.writer: shards appear whole or not at all, in every output format, with the same
bytes for the same rows (the determinism tests compare whole run folders byte for byte)."""
from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from garden.io import fs
from garden.io.writer import ShardWriter, atomic_write_json, read_json, write_jsonl_atomic, write_table

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("meta", pa.string()),
                    ("lang", pa.string()), ("lang_score", pa.float32())])
ROWS = [{"id": f"d{i}", "text": f"文档 {i} — text", "source": "web", "meta": None, "lang": "zh", "lang_score": 0.5}
        for i in range(5)]


def write(path, fmt: str, batches) -> ShardWriter:
    w = ShardWriter(str(path), SCHEMA, fmt)
    for b in batches:
        w.write(b)
    w.close()
    return w


def test_parquet_shard_appears_only_when_closed(tmp_path):
    path = tmp_path / "part-00000.parquet"
    w = ShardWriter(str(path), SCHEMA)
    w.write(ROWS[:2])
    w.write([])
    w.write(ROWS[2:])
    assert not path.exists() and os.path.exists(fs.temp_path(str(path)))
    w.close()
    assert w.rows == 5
    table = pq.read_table(path)
    assert table.schema == SCHEMA and table.to_pylist() == ROWS
    assert os.listdir(tmp_path) == ["part-00000.parquet"]


def test_parquet_shard_is_zstd_without_dictionaries_or_statistics_for_unique_strings(tmp_path):
    path = tmp_path / "part.parquet"
    write(path, "parquet", [ROWS])
    meta = pq.ParquetFile(path).metadata.row_group(0)
    cols = {meta.column(k).path_in_schema: meta.column(k) for k in range(meta.num_columns)}
    assert {c.compression for c in cols.values()} == {"ZSTD"}
    for name in ("id", "text", "meta"):
        assert not cols[name].is_stats_set and not cols[name].has_dictionary_page
    assert cols["lang"].is_stats_set and cols["lang"].has_dictionary_page


def test_aborted_shard_leaves_nothing(tmp_path):
    for fmt in ("parquet", "jsonl", "jsonl.gz", "jsonl.zst"):
        w = ShardWriter(str(tmp_path / f"part.{fmt}"), SCHEMA, fmt)
        w.write(ROWS)
        w.abort()
    assert os.listdir(tmp_path) == []


def test_jsonl_rows_follow_the_schema_order_and_keep_utf8(tmp_path):
    path = tmp_path / "part.jsonl"
    write(path, "jsonl", [[{"text": "你好", "id": "x", "extra": 1}], ROWS[:1]])
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert lines[0] == '{"id": "x", "text": "你好", "source": null, "meta": null, "lang": null, "lang_score": null}'
    assert json.loads(lines[1]) == ROWS[0] and "文档" in lines[1]  # not \\u escapes


@pytest.mark.parametrize("fmt,decompress", [("jsonl.gz", gzip.decompress),
                                            ("jsonl.zst", lambda b: zstandard.ZstdDecompressor().stream_reader(b).read())])
def test_compressed_jsonl_is_the_plain_jsonl_and_reproducible(tmp_path, fmt, decompress):
    write(tmp_path / "plain.jsonl", "jsonl", [ROWS])
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    write(a, fmt, [ROWS[:3], ROWS[3:]])
    write(b, fmt, [ROWS])
    assert decompress(a.read_bytes()) == (tmp_path / "plain.jsonl").read_bytes()
    assert a.read_bytes() == b.read_bytes()  # batch boundaries leave no trace in the bytes
    if fmt == "jsonl.gz":
        assert a.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime 0: no clock in the output


def test_json_and_jsonl_helpers_write_atomically(tmp_path):
    path = tmp_path / "stats.json"
    path.write_text("old")
    atomic_write_json(str(path), {"b": 1, "a": "中文"})
    text = path.read_text(encoding="utf-8")
    assert text == '{\n  "b": 1,\n  "a": "中文"\n}\n'  # key order kept, UTF-8, a final newline
    assert read_json(str(path)) == {"b": 1, "a": "中文"}
    write_jsonl_atomic(str(tmp_path / "q.jsonl"), [{"line": 3, "error": "bad"}, {"line": 9, "error": "é"}])
    assert (tmp_path / "q.jsonl").read_text(encoding="utf-8") == \
        '{"line": 3, "error": "bad"}\n{"line": 9, "error": "é"}\n'
    assert sorted(os.listdir(tmp_path)) == ["q.jsonl", "stats.json"]


def test_write_table_is_one_zstd_parquet_file(tmp_path):
    table = pa.table({"id": ["a", "b"], "n": [1, 2]})
    path = tmp_path / "sub" / "t.parquet"
    write_table(str(path), table, row_group_size=1)
    assert pq.read_table(path).equals(table)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 2 and meta.row_group(0).column(0).compression == "ZSTD"
    assert os.listdir(path.parent) == ["t.parquet"]


def test_background_writer_writes_the_same_bytes(tmp_path):
    batches = [ROWS[:2], pa.Table.from_pylist(ROWS[2:4], schema=SCHEMA), [], ROWS[4:]]
    write(tmp_path / "fg.parquet", "parquet", batches)
    w = ShardWriter(str(tmp_path / "bg.parquet"), SCHEMA, background=True)
    for b in batches:
        w.write(b)
    w.close()
    assert (tmp_path / "bg.parquet").read_bytes() == (tmp_path / "fg.parquet").read_bytes()
    assert w.rows == 5 and sorted(os.listdir(tmp_path)) == ["bg.parquet", "fg.parquet"]


def test_background_write_error_surfaces_and_leaves_nothing(tmp_path):
    path = tmp_path / "part.parquet"
    w = ShardWriter(str(path), SCHEMA, background=True)

    def disk_full(batch):
        raise OSError(28, "No space left on device")

    w._parquet.write_batch = disk_full  # the thread's next write fails, as a full disk would
    w.write(ROWS[:2])
    with pytest.raises(OSError, match="No space left"):
        try:  # raised at a later write, or at close at the latest
            for _ in range(10):
                w.write(ROWS[2:])
            w.close()
        except OSError:
            w.abort()  # what a task does with any error (a second abort after close's does nothing)
            raise
    assert not path.exists() and os.listdir(tmp_path) == []


def test_background_writer_abort_leaves_nothing(tmp_path):
    w = ShardWriter(str(tmp_path / "part.parquet"), SCHEMA, background=True)
    w.write(ROWS)
    w.abort()
    assert os.listdir(tmp_path) == []
