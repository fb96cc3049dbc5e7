"""Every record is accounted for, whatever it holds: one bad record is quarantined with its file,
line, offset and cause, and reading goes on. A record longer than max_record_bytes is skipped
without being held in memory; a lone surrogate never aborts a run."""
import gzip
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from conftest import GARDEN, quarantine_entries, read_data, read_stats, run_garden, write_recipe

DEEP = b"[" * 100_000 + b"]" * 100_000


def bad_records(prefix: str) -> tuple[list[bytes], dict[int, str]]:
    """Lines of a JSONL file, and the cause expected for each line that must be quarantined."""
    lines = [json.dumps({"id": f"{prefix}good{i}", "text": f"document {i}"}).encode() + b"\n" for i in range(40)]
    bad = {
        3: (DEEP + b"\n", "JSON nested too deep"),
        7: (b'{"id": "' + prefix.encode() + b'deep", "text": "t", "meta": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
            "JSON nested too deep"),
        11: (b'{"id": "' + prefix.encode() + b's1", "text": "bad \\ud800 here"}\n',
             "lone surrogate '\\ud800' in field 'text' at character 4"),
        15: (b'{"id": "' + prefix.encode() + b's2", "text": "fine", "url": "x\\udfff"}\n',
             "lone surrogate in meta field 'url'"),
        19: (b'{"id": "\\ud83d' + prefix.encode() + b'", "text": "fine"}\n',
             "lone surrogate '\\ud83d' in field 'id' at character 0"),
        23: (b'{"id": "' + prefix.encode() + b'pair", "text": "emoji \\ud83d\\ude00 is a valid pair"}\n', None),
    }
    for line, (raw, _) in bad.items():
        lines[line - 1] = raw
    return lines, {line: cause for line, (_, cause) in bad.items() if cause}


@pytest.mark.slow
def test_any_record_failure_is_quarantined_and_the_rest_is_read(tmp_path):
    plain, causes = bad_records("p")
    (tmp_path / "plain.jsonl").write_bytes(b"".join(plain))
    packed, _ = bad_records("z")
    (tmp_path / "packed.jsonl.gz").write_bytes(gzip.compress(b"".join(packed)))
    recipe = write_recipe(tmp_path, [], [{"path": str(tmp_path / "*.jsonl*"), "source": "s"}],
                          output_format="jsonl")
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    q = quarantine_entries(out)
    for name, lines in (("plain.jsonl", plain), ("packed.jsonl.gz", packed)):
        mine = {e["line"]: e for e in q if e["file"].endswith(name)}
        assert set(mine) == set(causes)
        for line, cause in causes.items():
            assert cause in mine[line]["error"]
            assert mine[line]["offset"] == sum(len(x) for x in lines[:line - 1])
    kept = {r["id"]: r for r in read_data(out)}
    assert len(kept) == 2 * (40 - len(causes))  # every other line of both files, the ones after the bad ones too
    assert kept["ppair"]["text"] == "emoji \U0001F600 is a valid pair"
    assert "zgood39" in kept and "pgood39" in kept
    stats = read_stats(out)
    assert stats["input_docs"] == 80 and stats["quarantined_docs"] == 2 * len(causes) and stats["accounting_ok"]
    # the output is valid UTF-8 through and through, and a rerun (resume) does not fail either
    for f in (out / "data").iterdir():
        f.read_bytes().decode("utf-8")
    run_garden("run", recipe, "-q")
    assert read_stats(out)["kept_docs"] == len(kept)


def _parquet_with_bad_utf8(path) -> None:
    """A parquet file whose string column holds invalid UTF-8 in one row (written by another tool)."""
    values = [b"good one", b"bad \xff\xfe", b"good two"]
    offsets = np.cumsum([0] + [len(v) for v in values]).astype(np.int32)
    text = pa.Array.from_buffers(pa.string(), 3, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(values))])
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": text}), path)


@pytest.mark.slow
def test_parquet_row_that_cannot_be_decoded_is_quarantined_alone(tmp_path):
    _parquet_with_bad_utf8(tmp_path / "bad.parquet")
    recipe = write_recipe(tmp_path, [], [{"path": str(tmp_path / "bad.parquet"), "source": "p"}])
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    assert sorted(r["id"] for r in read_data(out)) == ["a", "c"]
    q = quarantine_entries(out)
    assert len(q) == 1 and q[0]["line"] == 2 and "row 2: invalid UTF-8" in q[0]["error"]
    stats = read_stats(out)
    assert stats["input_docs"] == 3 and stats["quarantined_docs"] == 1 and stats["accounting_ok"]


SURROGATE_PLUGIN = '''
from garden.operator import Mapper

class HalfEmoji(Mapper):
    """Cut texts holding "cut" in the middle of a surrogate pair (a buggy operator, for a test)."""
    name = "half_emoji"
    def map(self, doc):
        if "cut" in doc["text"]:
            doc["text"] = doc["text"] + "\\ud83d"
        return doc
'''


def install_surrogate_plugin(site) -> None:
    os.makedirs(site / "garden_half-0.1.dist-info")
    (site / "garden_half.py").write_text(textwrap.dedent(SURROGATE_PLUGIN))
    (site / "garden_half-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: garden-half\nVersion: 0.1\n")
    (site / "garden_half-0.1.dist-info" / "entry_points.txt").write_text(
        "[garden.operators]\nhalf_emoji = garden_half:HalfEmoji\n")


@pytest.mark.slow
def test_operator_that_makes_a_lone_surrogate_cannot_abort_the_run(tmp_path):
    site = tmp_path / "site"
    install_surrogate_plugin(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)}
    rows = [{"id": f"d{i}", "text": ("please cut me " if i % 3 == 0 else "keep me ") + str(i)} for i in range(30)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # jsonl output: its writer encodes to UTF-8 itself (parquet's fails the same way on a surrogate)
    recipe = write_recipe(tmp_path, [{"half_emoji": {}}, {"length_filter": {"min_chars": 10}}],
                          [{"path": str(tmp_path / "in.jsonl"), "source": "s"}], output_format="jsonl")
    run_garden("run", recipe, "-q", env=env)
    out = tmp_path / "out"
    kept = read_data(out)
    assert sorted(r["id"] for r in kept) == sorted(f"d{i}" for i in range(30) if i % 3 and i >= 10)
    q = quarantine_entries(out)
    assert sorted(e["id"] for e in q) == sorted(f"d{i}" for i in range(0, 30, 3))
    assert all("half_emoji: output field 'text' has a lone surrogate '\\ud83d'" in e["error"] for e in q)
    assert q[0]["snippet"].endswith("\\ud83d")  # written as text, readable as UTF-8
    stats = read_stats(out)
    assert stats["quarantined_docs"] == 10 and stats["rejected_docs"] == 6 and stats["accounting_ok"]


def _peak_rss_mb(args) -> tuple[int, subprocess.CompletedProcess]:
    """Peak resident memory (MB) of `garden args` and its children, measured by a fresh parent."""
    probe = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); "
             "print(p.returncode); sys.stderr.write(p.stderr)")
    proc = subprocess.run([sys.executable, "-c", probe, *GARDEN, *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    peak, rc = proc.stdout.split()[:2]
    assert rc == "0", proc.stderr
    return int(peak), proc


@pytest.mark.slow
def test_record_longer_than_max_record_bytes_is_skipped_unread(tmp_path):
    line_mb = 200
    before = [json.dumps({"id": f"b{i}", "text": f"before {i}"}).encode() + b"\n" for i in range(5)]
    after = [json.dumps({"id": f"a{i}", "text": f"after {i}"}).encode() + b"\n" for i in range(5)]
    head = b'{"id": "bomb", "text": "'
    bomb_size = line_mb << 20
    with gzip.open(tmp_path / "bomb.jsonl.gz", "wb", compresslevel=1) as fh:
        fh.write(b"".join(before) + head)
        block = b"x" * (1 << 20)
        for _ in range(line_mb):
            fh.write(block)
        fh.write(b'"}\n' + b"".join(after))
    assert os.path.getsize(tmp_path / "bomb.jsonl.gz") < 2 << 20
    big = b'{"id": "big", "text": "' + b"y" * (3 << 20) + b'"}\n'
    (tmp_path / "big.jsonl").write_bytes(b"".join(before[:2]).replace(b'"b', b'"p') + big + after[0].replace(b'"a', b'"q'))
    (tmp_path / "big.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(
        big + after[1].replace(b'"a', b'"z')))
    recipe = write_recipe(tmp_path, [], [{"path": str(tmp_path / "b*.jsonl*"), "source": "s"}],
                          max_record_bytes="1MB", shard_size="1MB")
    peak, _ = _peak_rss_mb(["run", recipe, "-q"])
    out = tmp_path / "out"
    kept = sorted(r["id"] for r in read_data(out))
    assert kept == sorted([f"b{i}" for i in range(5)] + [f"a{i}" for i in range(5)] + ["p0", "p1", "q0", "z1"])
    q = {os.path.basename(e["file"]): e for e in quarantine_entries(out)}
    assert set(q) == {"bomb.jsonl.gz", "big.jsonl", "big.jsonl.zst"}
    size = len(head) + bomb_size + 2
    assert q["bomb.jsonl.gz"]["error"] == (f"record of {size} bytes is longer than max_record_bytes (1048576): "
                                           f"skipped unread")
    assert q["bomb.jsonl.gz"]["line"] == 6 and q["bomb.jsonl.gz"]["offset"] == sum(map(len, before))
    assert q["bomb.jsonl.gz"]["snippet"].startswith('{"id": "bomb", "text": "xxx')
    assert f"record of {len(big) - 1} bytes" in q["big.jsonl"]["error"] and q["big.jsonl"]["line"] == 3
    assert q["big.jsonl.zst"]["line"] == 1
    stats = read_stats(out)
    assert stats["input_docs"] == 17 and stats["quarantined_docs"] == 3 and stats["accounting_ok"]
    # memory: far less than the 200 MB line (the reader never holds it, nor does the planner)
    assert peak < line_mb * 3 // 4 + baseline_rss_mb(tmp_path)


def baseline_rss_mb(tmp_path) -> int:
    """Peak memory of the same kind of run on a small input: the interpreter and its libraries."""
    d = tmp_path / "baseline"
    d.mkdir()
    (d / "small.jsonl").write_text(json.dumps({"id": "x", "text": "small"}) + "\n")
    recipe = write_recipe(d, [], [{"path": str(d / "small.jsonl"), "source": "s"}], max_record_bytes="1MB")
    return _peak_rss_mb(["run", recipe, "-q"])[0]


@pytest.mark.slow
def test_max_record_bytes_is_validated_and_changes_what_is_read(tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "long", "text": "z" * 5000}) + "\n"
                                       + json.dumps({"id": "short", "text": "z"}) + "\n")
    inputs = [{"path": str(tmp_path / "in.jsonl"), "source": "s"}]
    proc = run_garden("validate", write_recipe(tmp_path, [], inputs, max_record_bytes="0KB"), check=False)
    assert proc.returncode == 2 and "max_record_bytes must be positive" in proc.stderr
    recipe = write_recipe(tmp_path, [], inputs, max_record_bytes="4KB")
    run_garden("run", recipe, "-q")
    assert [r["id"] for r in read_data(tmp_path / "out")] == ["short"]
    # a larger limit on the same output: the stage is recomputed, not resumed with the old verdict
    recipe = write_recipe(tmp_path, [], inputs, max_record_bytes="64KB")
    run_garden("run", recipe, "-q")
    assert sorted(r["id"] for r in read_data(tmp_path / "out")) == ["long", "short"]
    assert read_stats(tmp_path / "out")["quarantined_docs"] == 0


@pytest.mark.slow
@pytest.mark.ray
def test_on_ray_every_record_is_accounted_the_same_way(tmp_path):
    """The reader and the per-document checks run inside Ray tasks exactly as in local workers."""
    pytest.importorskip("ray")
    site = tmp_path / "site"
    install_surrogate_plugin(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)}
    lines, causes = bad_records("r")
    lines[30] = b'{"id": "long", "text": "' + b"l" * 300_000 + b'"}\n'
    lines[33] = b'{"id": "rcut", "text": "cut here"}\n'
    (tmp_path / "in.jsonl").write_bytes(b"".join(lines))
    recipe = write_recipe(tmp_path, [{"half_emoji": {}}], [{"path": str(tmp_path / "in.jsonl"), "source": "s"}],
                          max_record_bytes="256KB", output_format="jsonl", workers=2)
    run_garden("run", recipe, "-q", "--executor", "ray", env=env, timeout=240)
    out = tmp_path / "out"
    q = {e["line"] if "line" in e else e["id"]: e["error"] for e in quarantine_entries(out)}
    assert set(q) == set(causes) | {31, "rcut"}
    assert all(cause in q[line] for line, cause in causes.items())
    assert "record of 300026 bytes is longer than max_record_bytes (262144)" in q[31]
    assert "lone surrogate" in q["rcut"]
    stats = read_stats(out)
    assert stats["executor"] == "ray" and stats["accounting_ok"]
    assert stats["input_docs"] == 40 and stats["kept_docs"] == 40 - len(causes) - 2
