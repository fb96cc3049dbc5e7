"""Same output for any worker count, after a kill -9, and exactly-what-changed invalidation."""
import glob
import json
import os
import time

import pytest

from conftest import GARDEN, kill_9_when, read_data, read_stats, run_garden, tree_bytes, write_jsonl, write_recipe

pytestmark = pytest.mark.slow

PIPELINE = [
    {"normalize": {}},
    {"length_filter": {"min_chars": 30}},
    {"exact_dedup": {}},
    {"sample": {"fraction": 0.8, "seed": 3}},
]


def outputs(out) -> dict:
    files = {}
    for sub in ("data", "rejected"):
        for k, v in tree_bytes(out / sub).items():
            files[f"{sub}/{k}"] = v
    return files


def without_timings(obj):
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def make_recipe(tmp_path, demo_inputs, out="out", **kw):
    return write_recipe(tmp_path, PIPELINE, demo_inputs, output=out, shard_size="96KB", **kw)


def test_one_and_two_workers_give_identical_bytes(tmp_path, demo_inputs):
    r1 = make_recipe(tmp_path, demo_inputs, out="w1", workers=1)
    run_garden("run", r1, "-q")
    run_garden("run", r1, "-q", "--workers", "2", "--output", tmp_path / "w2")
    a, b = outputs(tmp_path / "w1"), outputs(tmp_path / "w2")
    assert len([k for k in a if k.startswith("data/")]) > 10  # really sharded
    assert a == b
    s = read_stats(tmp_path / "w1")
    assert s["accounting_ok"] and s["ops"][2]["dropped"].get("exact_dedup:duplicate", 0) > 0
    assert without_timings(s) == {**without_timings(read_stats(tmp_path / "w2")), "workers": 1}
    # dropped duplicates name their keeper
    dup = [r for r in read_data(tmp_path / "w1")]
    assert len({r["id"] for r in dup}) == len(dup)


def _kill_when(cmd, pattern, timeout=120) -> bool:
    return kill_9_when(cmd, lambda: glob.glob(pattern), timeout=timeout)


@pytest.mark.parametrize("phase", ["s00-stream/done/shard-00003.json", "s01-exact_dedup/done/scan-00002.json",
                                   "s01-exact_dedup/done/reduce-0003.json", "s02-stream/done/shard-00001.json"])
def test_kill_9_then_resume_matches_uninterrupted(tmp_path, demo_inputs, phase):
    ref = make_recipe(tmp_path, demo_inputs, out="ref", workers=2)
    run_garden("run", ref, "-q")
    recipe = make_recipe(tmp_path, demo_inputs, out="killed", workers=2)
    killed = _kill_when(GARDEN + ["run", recipe, "-q"], str(tmp_path / "killed" / "_work" / phase))
    assert killed, "the run finished before it could be killed"
    assert not os.path.exists(tmp_path / "killed" / "stats.json")
    run_garden("run", recipe, "-q")
    assert outputs(tmp_path / "killed") == outputs(tmp_path / "ref")
    s = read_stats(tmp_path / "killed")
    assert s["accounting_ok"] and s["kept_docs"] == read_stats(tmp_path / "ref")["kept_docs"]
    assert not glob.glob(str(tmp_path / "killed" / "**" / "*tmp-*"), recursive=True)
    assert not glob.glob(str(tmp_path / "killed" / "**" / ".*garden-tmp-*"), recursive=True)


def test_recipe_change_invalidates_only_downstream(tmp_path, demo_inputs):
    recipe = make_recipe(tmp_path, demo_inputs, workers=1)
    run_garden("run", recipe, "-q")
    work = tmp_path / "out" / "_work"
    marker0 = work / "s00-stream" / "done" / "shard-00000.json"
    marker2 = work / "s02-stream" / "done" / "shard-00000.json"
    t0, t2 = os.stat(marker0).st_mtime_ns, os.stat(marker2).st_mtime_ns
    # change only the step after the barrier: stage 0 and the dedup stage are reused
    pipeline = [dict(s) for s in PIPELINE]
    pipeline[3] = {"sample": {"fraction": 0.5, "seed": 3}}
    recipe = write_recipe(tmp_path, pipeline, demo_inputs, shard_size="96KB", workers=1)
    run_garden("run", recipe, "-q")
    assert os.stat(marker0).st_mtime_ns == t0
    assert os.stat(marker2).st_mtime_ns != t2
    s = read_stats(tmp_path / "out")
    assert s["ops"][3]["out"] < s["ops"][3]["in"] * 0.6
    # a changed input invalidates everything
    extra = write_jsonl(tmp_path / "extra.jsonl", [{"text": "a brand new document that is long enough"}])
    recipe = write_recipe(tmp_path, pipeline, demo_inputs + [{"path": extra, "source": "extra"}],
                          shard_size="96KB", workers=1)
    run_garden("run", recipe, "-q")
    assert os.stat(marker0).st_mtime_ns != t0
    assert read_stats(tmp_path / "out")["sources"]["extra"]["input"] == 1


def test_big_file_is_split_and_every_line_read_once(tmp_path):
    rows = [{"text": f"line {i} " + "word " * (i % 50)} for i in range(20000)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    recipe = write_recipe(tmp_path, [], [{"path": path, "source": "big"}], shard_size="64KB", workers=2)
    run_garden("run", recipe, "-q")
    stats = read_stats(tmp_path / "out")
    assert stats["input_shards"] > 20
    got = read_data(tmp_path / "out")
    assert len(got) == 20000
    for r in got:
        line = int(r["id"].rsplit(":", 1)[1])
        assert r["text"].startswith(f"line {line - 1} ")


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_text_output_formats_round_trip(tmp_path, demo_inputs, fmt):
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_chars": 30}}, {"exact_dedup": {}}],
                          demo_inputs[:1], output_format=fmt)
    run_garden("run", recipe, "-q")
    files = glob.glob(str(tmp_path / "out" / "data" / f"part-*.{fmt}"))
    assert files
    rows = read_data(tmp_path / "out")
    assert rows and all(isinstance(json.loads(r["meta"]), dict) for r in rows)
    assert len(rows) == read_stats(tmp_path / "out")["kept_docs"]


def test_editing_a_file_a_parameter_names_invalidates_the_stage(tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": str(i), "text": f"the quick brown fox number {i} jumps"}
                                              for i in range(50)])
    words = tmp_path / "words.txt"
    words.write_text("zebra\n")
    recipe = write_recipe(tmp_path, [{"blocklist": {"words_file": str(words)}}], [{"path": inp, "source": "s"}])
    run_garden("run", recipe, "-q")
    assert read_stats(tmp_path / "out")["kept_docs"] == 50
    words.write_text("fox\n")  # same path, new content: the stage must run again
    os.utime(words, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    run_garden("run", recipe, "-q")
    assert read_stats(tmp_path / "out")["kept_docs"] == 0
