"""The block reader (pyarrow on blocks of whole lines) gives exactly what the per-line reader
gives: the same documents, ids, `meta` text, quarantine entries and counts, whatever a block
holds. Blocks are made tiny here so that one file has many, good and bad."""
from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import garden.io.reader as reader
from garden.hashing import values_hash64
from garden.io.inputs import plan_inputs
from garden.io.writer import ShardWriter
from garden.pool import ProcessPool, TaskFailed, context
from garden.recipe import InputSpec


def read_both(path: str, limit: int = 64 << 20, block: int = 2048, shard_size: int = 64 << 20):
    """(per-line result, block result, fast blocks, line-by-line blocks) over every shard."""
    out = {}
    counts = [0, 0]
    for blocks in (False, True):
        old = reader.BLOCK
        reader.BLOCK = block
        try:
            shards = []
            for shard in plan_inputs([InputSpec(path=path, source="src")], shard_size):
                res = reader.ReadResult()
                docs = [d for batch in reader.read_batches(shard, res, 7, limit, blocks=blocks) for d in batch.rows()]
                ids = sorted(values_hash64(res.ids).tolist() + [h for a in res.id_hashes for h in a.tolist()])  # a set
                shards.append((docs, res.quarantine, res.blank_lines, ids, res.records))
                if blocks:
                    counts[0] += res.fast_blocks
                    counts[1] += res.line_blocks
        finally:
            reader.BLOCK = old
        out[blocks] = shards
    return out[False], out[True], counts[0], counts[1]


def write_lines(tmp_path, lines: list[bytes], name: str = "in.jsonl") -> str:
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    return str(path)


def good(i: int, **extra) -> bytes:
    return json.dumps({"id": f"d{i}", "text": f"document number {i} " * 3, **extra}, ensure_ascii=False).encode() + b"\n"


def test_one_bad_line_falls_back_for_its_block_only(tmp_path):
    lines = [good(i, lang="en", n=i) for i in range(300)]
    lines[150] = b'{"id": "broken", "text": "no closing brace"\n'
    path = write_lines(tmp_path, lines)
    per_line, blocks, fast, slow = read_both(path)
    assert blocks == per_line
    assert fast > 0 and slow == 1
    (docs, quarantine, _, _, records), = blocks
    assert len(docs) == 299 and records == 300
    assert [(q["line"], q["error"][:13]) for q in quarantine] == [(151, "invalid JSON:")]
    assert quarantine[0]["offset"] == sum(len(x) for x in lines[:150])
    assert docs[0]["meta"] == '{"lang": "en", "n": 0}'


def test_lone_surrogates_are_quarantined_as_line_by_line(tmp_path):
    lines = [good(i) for i in range(100)]
    lines[10] = b'{"id": "s1", "text": "bad \\ud800 here"}\n'
    lines[40] = b'{"id": "s2", "text": "fine", "url": "x\\udfff"}\n'
    lines[70] = b'{"id": "\\ud83d", "text": "fine"}\n'
    lines[90] = b'{"id": "pair", "text": "emoji \\ud83d\\ude00 is a valid pair"}\n'
    per_line, blocks, fast, slow = read_both(write_lines(tmp_path, lines))
    assert blocks == per_line
    assert fast > 0 and slow == 3
    errors = [q["error"] for q in blocks[0][1]]
    assert errors == ["lone surrogate '\\ud800' in field 'text' at character 4", "lone surrogate in meta field 'url'",
                      "lone surrogate '\\ud83d' in field 'id' at character 0"]
    assert [d["text"] for d in blocks[0][0] if d["id"] == "pair"] == ["emoji \U0001F600 is a valid pair"]


@pytest.mark.parametrize("limit", [100, 300])
def test_over_long_line(tmp_path, limit):
    lines = [good(i) for i in range(60)]
    lines[30] = json.dumps({"id": "long", "text": "x" * 1000}).encode() + b"\n"
    lines.append(json.dumps({"id": "tail", "text": "y" * 500}).encode())  # the last line, without a newline
    per_line, blocks, fast, _ = read_both(write_lines(tmp_path, lines), limit=limit)
    assert blocks == per_line
    assert fast > 0
    quarantine = blocks[0][1]
    assert [q["line"] for q in quarantine] == [31, 61]
    assert quarantine[0]["error"] == f"record of 1026 bytes is longer than max_record_bytes ({limit}): skipped unread"
    assert len(quarantine[0]["snippet"]) == min(200, limit + 1)
    # a line longer than a whole block is read on its own, line by line
    per_line, blocks, _, _ = read_both(write_lines(tmp_path, lines), limit=4096, block=512)
    assert blocks == per_line and len(blocks[0][0]) == 61


def test_meta_numbers_keep_python_formatting(tmp_path):
    rows = [b'{"id": "a", "text": "t", "score": 1.0}\n', b'{"id": "b", "text": "t", "score": 1}\n',
            b'{"id": "c", "text": "t", "score": 1e2, "n": -0}\n', b'{"id": "d", "text": "t", "big": 100000000000000000000}\n',
            b'{"id": "e", "text": "t", "f": 0.1000, "g": 1E-7}\n']
    lines = [good(i, n=i, ok=True, none=None) for i in range(50)] + rows
    per_line, blocks, fast, _ = read_both(write_lines(tmp_path, lines))
    assert blocks == per_line and fast > 0
    metas = {d["id"]: d["meta"] for d in blocks[0][0]}
    assert metas["a"] == '{"score": 1.0}'
    assert metas["b"] == '{"score": 1}'
    assert metas["c"] == '{"score": 100.0, "n": 0}'
    assert metas["d"] == '{"big": 100000000000000000000}'
    assert metas["e"] == '{"f": 0.1, "g": 1e-07}'
    assert metas["d3"] == '{"n": 3, "ok": true, "none": null}'


def test_meta_key_order_absent_and_null_keys_and_escapes(tmp_path):
    lines = []
    for i in range(120):
        if i % 3 == 0:
            row = {"id": f"k{i}", "text": "t", "opt": "x", "day": "2024-01-02"}
        elif i % 3 == 1:
            row = {"id": f"k{i}", "text": "t", "day": "2024-01-03"}
        else:
            row = {"id": f"k{i}", "text": "t", "opt": None, "day": "2024-01-04 10:00:00"}
        lines.append(json.dumps(row).encode() + b"\n")
    lines += [json.dumps({"text": "t", "lang": "de"}).encode() + b"\n", json.dumps({"lang": "fr", "text": "t"}).encode() + b"\n",
              json.dumps({"id": "c", "text": "t", "ctl": "a\u0001b\nc\"d\\e/\u2028", "é": "ü"}, ensure_ascii=False).encode() + b"\n",
              json.dumps({"id": "asc", "text": "t", "é": "ü"}).encode() + b"\n",
              b'{ "id" : "sp" , "text" : "spaces" , "lang" : "en" }\n', b'{"id":"cmp","text":"compact","lang":"en"}\n',
              b'{"id": "x17", "x\\"lang": 1, "lang": "en", "text": "crafted"}\n']
    per_line, blocks, fast, slow = read_both(write_lines(tmp_path, lines), block=1024)
    assert blocks == per_line
    assert fast > 0 and slow > 0
    metas = {d["id"]: d["meta"] for d in blocks[0][0]}
    assert metas["k0"] == '{"opt": "x", "day": "2024-01-02"}'  # a date stays the string it was
    assert metas["k1"] == '{"day": "2024-01-03"}'
    assert metas["k2"] == '{"opt": null, "day": "2024-01-04 10:00:00"}'
    assert metas["c"] == '{"ctl": "a\\u0001b\\nc\\"d\\\\e/\u2028", "é": "ü"}'
    assert metas["asc"] == '{"é": "ü"}'
    assert metas["x17"] == '{"x\\"lang": 1, "lang": "en"}'


def test_ids_duplicates_blank_lines_bom_and_crlf(tmp_path):
    lines = [b"\xef\xbb\xbf" + good(0)] + [good(i) for i in range(1, 80)]
    lines[20] = good(5)                                        # a duplicate of line 6
    lines[30] = b"\n"
    lines[31] = b"\r\n"
    lines[40] = b'{"text": "no id"}\n'
    lines[41] = b'{"id": 7, "text": "integer id"}\n'
    lines[50] = good(50)[:-1] + b"\r\n"
    lines[60] = b'{"id": true, "text": "bool id"}\n'
    per_line, blocks, _, _ = read_both(write_lines(tmp_path, lines), block=512)
    assert blocks == per_line
    docs, quarantine, blank, ids, records = blocks[0]
    assert blank == 2 and records == 78
    assert [q["error"] for q in quarantine] == ["duplicate id 'd5' (first at line 6)",
                                                "id field 'id' is bool, not a string or integer"]
    assert set(values_hash64(["src/in.jsonl:41", "7"]).tolist()) <= set(ids)
    # the duplicate in a block pyarrow read: quarantined there, the block still read fast
    per_line, blocks, fast, slow = read_both(write_lines(tmp_path, [good(i % 50) for i in range(100)], "dups.jsonl"))
    assert blocks == per_line and slow == 0 and fast > 0
    assert len(blocks[0][1]) == 50 and blocks[0][1][0]["error"] == "duplicate id 'd0' (first at line 1)"


def test_shards_cut_inside_blocks_and_invalid_utf8(tmp_path):
    lines = [good(i, lang="xx") for i in range(400)]
    lines[200] = b'{"id": "bad8", "text": "\xff\xfe"}\n'
    per_line, blocks, fast, slow = read_both(write_lines(tmp_path, lines), shard_size=5000, block=3000)
    assert blocks == per_line and fast > 0 and slow > 0
    assert any("invalid UTF-8" in q["error"] for shard in blocks for q in shard[1])


def test_writer_writes_a_table_as_the_same_bytes(tmp_path):
    schema = reader.DOC_SCHEMA
    rows = [{"id": f"i{k}", "text": "t" * k, "source": "s", "meta": "{}"} for k in range(50)]
    table = pa.concat_tables([pa.Table.from_pylist(rows[:20], schema=schema), pa.Table.from_pylist(rows[20:], schema=schema)])
    paths = []
    for name, batches in (("dicts", [rows[:30], rows[30:]]), ("table", [table.slice(0, 30), table.slice(30)])):
        w = ShardWriter(str(tmp_path / f"{name}.parquet"), schema)
        for b in batches:
            w.write(b)
        w.close()
        paths.append(tmp_path / f"{name}.parquet")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert pq.read_table(io.BytesIO(paths[1].read_bytes())).to_pylist() == rows


def _square(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x


def test_process_pool_runs_in_process_and_names_the_failed_task():
    pool = ProcessPool(1)
    assert sorted(r for _, r in pool.run(_square, [(k,) for k in range(5)])) == [0, 1, 4, 9, 16]
    with pytest.raises(TaskFailed) as err:
        list(pool.run(_square, [(2,), (-3,)]))
    assert err.value.task_args == (-3,) and isinstance(err.value.exc, ValueError)


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_process_pool_spawns_workers(method):
    with ProcessPool(2, ctx=context(method=method)).start() as pool:
        results = dict(pool.run(_square, [(k,) for k in range(6)]))
        assert results == {(k,): k * k for k in range(6)}
        assert len({pid for _, pid in pool.run(os.getpid, [()] * 8)} - {os.getpid()}) >= 1  # not in this process
        with pytest.raises(TaskFailed) as err:
            list(pool.run(_square, [(-1,)]))
        assert str(err.value) == "ValueError: negative: -1"


def test_workers_are_forked_only_from_a_process_without_other_python_threads():
    code = ("import threading, garden.pool as p; a = p.start_method(); "
            "e = threading.Event(); t = threading.Thread(target=e.wait); t.start(); b = p.start_method(); "
            "e.set(); t.join(); print(a, b)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == (["fork", "forkserver"] if sys.platform.startswith("linux") else ["forkserver", "forkserver"])


def test_keep_freed_memory_sets_glibc_thresholds():
    code = "import garden.malloc as m; print(m.keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc")


def test_lines_with_their_own_key_order_stay_in_the_fast_path(tmp_path):
    """Two corpora written by different tools in one block: each line's meta has its own key order."""
    lines = []
    for i in range(200):
        if i % 2:
            row = {"id": f"a{i}", "text": "t", "source": "web", "lang": "en", "license": "cc"}
        else:
            row = {"text": "t", "lang": "zh", "source": "lid", "id": f"l{i}"}
        lines.append(json.dumps(row).encode() + b"\n")
    per_line, blocks, fast, slow = read_both(write_lines(tmp_path, lines))
    assert blocks == per_line and fast > 0 and slow == 0
    metas = {d["id"]: d["meta"] for d in blocks[0][0]}
    assert metas["a1"] == '{"source": "web", "lang": "en", "license": "cc"}'
    assert metas["l0"] == '{"lang": "zh", "source": "lid"}'


@pytest.mark.parametrize("modulo", [5, 10**6])  # collisions inside the first block; only across blocks
def test_ids_sharing_a_hash_are_told_apart_exactly(tmp_path, monkeypatch, modulo):
    """The block reader skips the exact id check while hashes are new; when two distinct ids
    share a hash it must fall back to the exact check, not call them duplicates."""
    lines = [good(i) for i in range(300)]
    lines[250] = good(3)  # one real duplicate, far from its first line
    path = write_lines(tmp_path, lines)
    expected, _, _, _ = read_both(path)
    monkeypatch.setattr(reader, "values_hash64", lambda ids: np.arange(len(ids), dtype=np.uint64) % modulo)
    per_line, blocks, fast, slow = read_both(path)
    assert fast > 0 and slow == 0

    def read(shards):  # documents, quarantine, blank lines, records (the id hashes are the fake ones)
        return [(docs, quarantine, blank, records) for docs, quarantine, blank, _, records in shards]
    assert read(blocks) == read(per_line) == read(expected)
    assert [q["error"] for q in blocks[0][1]] == ["duplicate id 'd3' (first at line 4)"]


def _parquet(tmp_path, name: str, table: pa.Table, **kw) -> str:
    path = tmp_path / name
    pq.write_table(table, path, **kw)
    return str(path)


PARQUET_CASES = {
    # Arrow kernels make these (and must make exactly what make_doc makes of each row)
    "strings_ints_bools_nulls": pa.table({
        "id": ["a", None, "c", "d"], "text": ["one", "two \u2028", "três", "四"],
        "lang": ["en", 'quote " and \\ and \x01', None, "zh"], "n": pa.array([1, None, -3, 2**40], pa.int64()),
        "small": pa.array([1, 2, 3, 4], pa.uint8()), "ok": [True, False, None, True], "nothing": pa.nulls(4)}),
    "integer_ids": pa.table({"id": pa.array([7, None, 9], pa.int64()), "text": ["x", "y", "z"]}),
    "no_id_no_meta": pa.table({"text": ["x", "y"]}),
    # row by row (a float, a date, an unsigned past int64, a bool id, a null text, nested values)
    "float": pa.table({"id": ["a", "b"], "text": ["x", "y"], "score": [1.0, 0.5]}),
    "date": pa.table({"id": ["a", "b"], "text": ["x", "y"], "day": pa.array([0, 1], pa.date32())}),
    "uint64": pa.table({"id": ["a", "b"], "text": ["x", "y"], "big": pa.array([2**63, 1], pa.uint64())}),
    "bool_id": pa.table({"id": [True, False], "text": ["x", "y"]}),
    "null_text": pa.table({"id": ["a", "b"], "text": ["x", None]}),
    "nested": pa.table({"id": ["a", "b"], "text": ["x", "y"], "tags": [["t"], []]}),
}


@pytest.mark.parametrize("case", sorted(PARQUET_CASES))
def test_parquet_input_arrow_path_gives_what_make_doc_gives(tmp_path, case):
    path = _parquet(tmp_path, f"{case}.parquet", PARQUET_CASES[case], row_group_size=3)
    per_row, arrow, _, _ = read_both(path, shard_size=1)  # one shard per row group
    assert arrow == per_row
    batches = [b for shard in plan_inputs([InputSpec(path=path, source="src")], 1)
               for b in reader.read_batches(shard, reader.ReadResult(), 7)]
    made_by_arrow = case in ("strings_ints_bools_nulls", "integer_ids", "no_id_no_meta")
    assert all((b._table is not None) == made_by_arrow for b in batches)
    docs = [d for shard in arrow for d in shard[0]]
    if case == "strings_ints_bools_nulls":
        assert docs[1]["id"] == f"src/{case}.parquet:2"
        assert docs[1]["meta"] == json.dumps({"lang": 'quote " and \\ and \x01', "n": None, "small": 2,
                                              "ok": False, "nothing": None}, ensure_ascii=False)


def test_parquet_input_writes_the_same_bytes_either_way(tmp_path):
    path = _parquet(tmp_path, "in.parquet", PARQUET_CASES["strings_ints_bools_nulls"])
    (shard,) = plan_inputs([InputSpec(path=path, source="src")], 64 << 20)
    for arrow in (True, False):
        w = ShardWriter(str(tmp_path / f"out-{arrow}.parquet"), reader.DOC_SCHEMA)
        for batch in reader.read_batches(shard, reader.ReadResult(), 3, blocks=arrow):
            assert (batch._table is not None) == arrow  # the Arrow path hands over a table, not dicts
            w.write(batch.table() if arrow else batch.rows())
        w.close()
    assert (tmp_path / "out-True.parquet").read_bytes() == (tmp_path / "out-False.parquet").read_bytes()
