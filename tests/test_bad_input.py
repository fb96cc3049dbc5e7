"""Bad input never crashes a run and loses nothing: every record is kept, dropped or quarantined."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from conftest import quarantine_entries, read_data, read_stats, run_garden, write_recipe

pytestmark = pytest.mark.slow


def test_malformed_records_are_quarantined_with_location(tmp_path):
    lines = [
        b'\xef\xbb\xbf{"id": "a", "text": "first line has a BOM"}\r\n',  # BOM + CRLF
        b'{"id": "b", "text": "fine"}\n',
        b'not json at all\n',
        b'[1, 2, 3]\n',
        b'{"id": "c"}\n',
        b'{"id": "d", "text": 42}\n',
        b'\n',
        b'   \n',
        b'{"id": "e", "text": "bad \xff\xfe utf8"}\n',
        b'{"id": "b", "text": "duplicate id"}\n',
        b'{"id": {"x": 1}, "text": "object id"}\n',
        b'{"text": "no id", "url": "http://x", "n": 3}\n',
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    recipe = write_recipe(tmp_path, [], [{"path": str(tmp_path / "*.jsonl"), "source": "web"}])
    proc = run_garden("run", recipe)
    out = tmp_path / "out"
    stats = read_stats(out)
    q = quarantine_entries(out)
    by_line = {e["line"]: e for e in q}
    assert set(by_line) == {3, 4, 5, 6, 9, 10, 11}
    assert "invalid JSON" in by_line[3]["error"] and by_line[3]["snippet"] == "not json at all\n"
    assert "not an object" in by_line[4]["error"]
    assert "missing text field 'text'" in by_line[5]["error"]
    assert "is int, not a string" in by_line[6]["error"]
    assert "invalid UTF-8" in by_line[9]["error"]
    assert "duplicate id 'b' (first at line 2)" in by_line[10]["error"]
    assert "id field 'id' is dict" in by_line[11]["error"]
    assert all(e["file"] == str(path) for e in q)
    assert by_line[4]["offset"] == sum(len(line) for line in lines[:3])
    rows = {r["id"]: r for r in read_data(out)}
    assert rows["a"]["text"] == "first line has a BOM"
    generated = [r for r in rows.values() if r["id"].endswith(":12")]
    assert generated and generated[0]["id"] == "web/bad.jsonl:12"
    assert json.loads(generated[0]["meta"]) == {"url": "http://x", "n": 3}
    assert stats["input_docs"] == 10 and stats["kept_docs"] == 3 and stats["quarantined_docs"] == 7
    assert stats["blank_lines"] == 2
    assert stats["accounting_ok"] and stats["sources"]["web"]["quarantined"] == 7
    assert "quarantined 7" in proc.stderr
    strict = run_garden("run", recipe, "--strict", "--no-resume", check=False)
    assert strict.returncode == 1 and "7 records quarantined" in strict.stderr


def test_truncated_compressed_streams_keep_readable_prefix(tmp_path):
    rows = [json.dumps({"id": f"r{i}", "text": f"document number {i} " * 20}) + "\n" for i in range(2000)]
    blob = "".join(rows).encode()
    gz = gzip.compress(blob)
    (tmp_path / "cut.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    zs = zstandard.ZstdCompressor().compress(blob)
    (tmp_path / "cut.jsonl.zst").write_bytes(zs[: len(zs) // 2])
    recipe = write_recipe(tmp_path, [], [{"path": str(tmp_path / "cut.jsonl.*"), "source": "s"}])
    run_garden("run", recipe)
    out = tmp_path / "out"
    q = quarantine_entries(out)
    assert len(q) == 2
    for entry in q:
        assert "read error after line" in entry["error"]
    kept = read_data(out)
    # Each file contributes its readable prefix: a good part of its documents, all intact.
    for suffix in ("gz", "zst"):
        n = sum(1 for e in q if e["file"].endswith(suffix))
        assert n == 1
    assert 500 < len(kept) < 4000
    assert all(r["text"].startswith("document number") for r in kept)
    stats = read_stats(out)
    assert stats["accounting_ok"]


def test_binary_file_corrupt_parquet_and_huge_document(tmp_path):
    (tmp_path / "binary.jsonl").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    big = "x" * (30 * 1024 * 1024)
    with open(tmp_path / "big.jsonl", "w") as fh:
        fh.write(json.dumps({"id": "small", "text": "tiny"}) + "\n")
        fh.write(json.dumps({"id": "big", "text": big}) + "\n")
        fh.write(json.dumps({"id": "after", "text": "after the big one"}) + "\n")
    good = pa.table({"id": ["p1", "p2"], "text": ["parquet one", "parquet two"], "lang": ["en", "en"]})
    pq.write_table(good, tmp_path / "good.parquet")
    recipe = write_recipe(tmp_path, [{"length_filter": {"max_chars": 1000000}}],
                          [{"path": str(tmp_path / "*.jsonl"), "source": "j"},
                           {"path": str(tmp_path / "*.parquet"), "source": "p"}], shard_size="1MB")
    run_garden("run", recipe)
    out = tmp_path / "out"
    stats = read_stats(out)
    kept = {r["id"]: r for r in read_data(out)}
    assert set(kept) == {"small", "after", "p1", "p2"}
    assert json.loads(kept["p1"]["meta"]) == {"lang": "en"}
    assert stats["ops"][0]["dropped"] == {"length_filter:max_chars": 1}
    q = quarantine_entries(out)
    assert any(e["file"].endswith("broken.parquet") and "unreadable parquet" in e["error"] for e in q)
    assert any(e["file"].endswith("binary.jsonl") for e in q)
    assert stats["accounting_ok"]
    assert stats["input_docs"] == stats["kept_docs"] + stats["rejected_docs"] + stats["quarantined_docs"]


def test_duplicate_ids_across_files_are_reported(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"id": "same", "text": "from file a"}\n{"id": "u1", "text": "unique"}\n')
    (tmp_path / "b.jsonl").write_text('{"id": "same", "text": "from file b"}\n')
    recipe = write_recipe(tmp_path, [], [{"path": str(tmp_path / "*.jsonl"), "source": "s"}])
    proc = run_garden("run", recipe)
    stats = read_stats(tmp_path / "out")
    assert stats["duplicate_ids"] == {"count": 1, "examples": ["same"]}
    assert "share their id" in proc.stderr
    assert stats["kept_docs"] == 3 and stats["accounting_ok"]  # nothing lost
    strict = run_garden("run", recipe, "--strict", check=False)
    assert strict.returncode == 1 and "share an id across shards" in strict.stderr
