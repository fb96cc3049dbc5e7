"""An input's identity covers its content: resume notices a changed input, a shard never mixes versions."""
from __future__ import annotations

import glob
import json
import os

import pytest

from conftest import read_data, run_garden, write_jsonl, write_recipe
from garden.io import identity


def _rows(tag, n=200):
    return [{"id": f"d{i}", "text": f"{tag} document number {i:05d} with some words"} for i in range(n)]


def _same_size_same_mtime(path, rows):
    """Replace the content as `cp -p` or `rsync -t` would: same size, old mtime."""
    st = os.stat(path)
    before = os.path.getsize(path)
    write_jsonl(path, rows)
    assert os.path.getsize(path) == before
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _texts(out):
    return sorted(r["text"] for r in read_data(out))


@pytest.mark.slow
def test_same_size_same_mtime_replacement_is_noticed_on_resume(tmp_path):
    path = write_jsonl(tmp_path / "in" / "a.jsonl", _rows("alpha"))
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_words": 2}}], [{"path": path, "source": "a"}],
                          shard_size="4KB")
    run_garden("run", recipe, "-q")
    _same_size_same_mtime(path, _rows("omega"))
    proc = run_garden("run", recipe)
    assert "inputs changed" in proc.stderr + proc.stdout
    assert all(t.startswith("omega") for t in _texts(tmp_path / "out"))


@pytest.mark.slow
def test_change_between_a_kill_and_the_resume_never_mixes_versions(tmp_path):
    path = write_jsonl(tmp_path / "in" / "a.jsonl", _rows("alpha"))
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_words": 2}}], [{"path": path, "source": "a"}],
                          shard_size="2KB")
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    markers = sorted(glob.glob(str(out / "_work" / "s00-stream" / "done" / "*.json")))
    assert len(markers) > 4
    for m in markers[len(markers) // 2:]:  # as if killed half-way: the later shards never finished
        os.remove(m)
    os.remove(out / "stats.json")
    _same_size_same_mtime(path, _rows("omega"))
    run_garden("run", recipe, "-q")
    texts = _texts(out)
    assert len(texts) == 200 and all(t.startswith("omega") for t in texts)


def test_a_shard_whose_file_changed_after_planning_commits_nothing(tmp_path):
    from garden.executor.tasks import StreamTask
    from garden.io.inputs import plan_inputs
    from garden.recipe import InputSpec
    from garden.executor.plan import BASE_SCHEMA

    path = write_jsonl(tmp_path / "a.jsonl", _rows("alpha", 20))
    spec = InputSpec(path=path, source="a")
    shard = plan_inputs([spec], 1 << 20, {path: identity.sampled_fingerprint(path)})[0]
    _same_size_same_mtime(path, _rows("omega", 20))
    task = StreamTask(stage=0, shard=0, steps=(), schema=BASE_SCHEMA, source=shard,
                      out_path=str(tmp_path / "o" / "part-00000.parquet"), out_format="parquet", batch_size=100,
                      max_record_bytes=1 << 20, rejects=(), quarantine_path=str(tmp_path / "q.jsonl"),
                      marker=str(tmp_path / "done.json"))
    with pytest.raises(identity.InputChangedError, match="a.jsonl changed"):
        task.run()
    assert not os.path.exists(task.out_path) and not os.path.exists(task.marker)


@pytest.mark.slow
def test_sampled_fingerprint_misses_only_unsampled_bytes_and_verify_inputs_catches_them(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text": "x" * 1000}) + "\n"
    n = (6 << 20) // len(line)
    path.write_text(line * n)
    ranges = identity._sample_ranges(os.path.getsize(path))
    gap = next(ranges[k][1] + 10 for k in range(1, len(ranges)) if ranges[k + 1][0] > ranges[k][1] + 100)
    before = identity.identify(str(path), verify=True)
    st = os.stat(path)
    with open(path, "r+b") as fh:  # one byte in an unsampled gap, inside a text: same size
        fh.seek(gap)
        assert fh.read(1) == b"x"
        fh.seek(gap)
        fh.write(b"y")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = identity.identify(str(path), verify=True)
    assert after.sampled == before.sampled  # the documented miss of the cheap fingerprint
    assert after.full != before.full

    recipe = write_recipe(tmp_path, [], [{"path": str(path), "source": "a"}])
    # run with full hashes, edit an unsampled byte back, and resume with --verify-inputs
    run_garden("run", recipe, "-q", "--verify-inputs")
    with open(path, "r+b") as fh:
        fh.seek(gap)
        fh.write(b"x")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    proc = run_garden("run", recipe, "--verify-inputs")
    assert "inputs changed" in proc.stderr + proc.stdout
    assert all(set(r["text"]) == {"x"} for r in read_data(tmp_path / "out"))


def test_fingerprint_of_a_url_uses_the_stores_etag(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", _rows("alpha", 5))
    fp = identity.sampled_fingerprint(f"file://{path}")  # fsspec's local files have no ETag: sampled
    assert fp.startswith("sampled:") and fp.split(":")[1] == str(os.path.getsize(path))
