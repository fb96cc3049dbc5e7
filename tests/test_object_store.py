"""Inputs and output on an object store (S3 API, served by moto on localhost): the same bytes as
on a local disk, no partial objects, resume after kill -9, and the same on Ray.

moto's server speaks the S3 protocol over HTTP like AWS does, so s3fs, fsspec and Garden's code
run exactly as against a bucket; every process (CLI, pool workers, Ray workers) reaches it through
AWS_ENDPOINT_URL.
"""
import gzip
import json
import logging
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
from moto.server import ThreadedMotoServer

from conftest import DEMO_DATA, GARDEN, kill_9_when, run_garden, tree_bytes, write_recipe
from garden.io import fs as gfs

pytestmark = pytest.mark.s3

BUCKET = "garden-test"
DOCS = 240


def _quicker_moto() -> list:
    """Take two costs off every request to the in-process moto server (behaviour unchanged; the
    run's thousands of requests made it the bottleneck): moto lists its own package directory
    on each request (about 190 stat calls) to recognise a service name in the Host header, and
    parses each listed key's timestamp with dateutil (1.5 ms a key). Returns what to restore;
    with another moto version whose internals differ, it patches nothing."""
    from datetime import datetime, timezone

    import moto.backends
    import moto.core.serialize

    undo = []
    if callable(getattr(moto.backends, "list_of_moto_modules", None)):
        modules = tuple(moto.backends.list_of_moto_modules())
        undo.append((moto.backends, "list_of_moto_modules", moto.backends.list_of_moto_modules))
        moto.backends.list_of_moto_modules = lambda: modules
    parse = getattr(moto.core.serialize, "parse_to_aware_datetime", None)
    if callable(parse):
        def parse_quickly(value):
            if isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value)  # "2026-01-02T03:04:05.000Z" (Python >= 3.11)
                except ValueError:
                    return parse(value)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            return parse(value)

        undo.append((moto.core.serialize, "parse_to_aware_datetime", parse))
        moto.core.serialize.parse_to_aware_datetime = parse_quickly
    return undo


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A local S3 endpoint and a bucket; the AWS variables reach every child process."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    undo = _quicker_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    staging = tmp_path_factory.mktemp("staging")
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}", "GARDEN_TMPDIR": str(staging)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    store = s3fs.S3FileSystem(client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL"]})
    store.mkdir(BUCKET)
    try:
        yield {"fs": store, "staging": staging}
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
        for module, name, original in undo:
            setattr(module, name, original)


def _corpus(directory) -> list[dict]:
    """Three formats (plain jsonl with one bad line, jsonl.gz, parquet without ids) of demo text."""
    directory.mkdir(exist_ok=True)
    lines = {}
    for name in ("fortunes_en", "fortunes_zh", "handbook"):
        with gzip.open(os.path.join(DEMO_DATA, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
            lines[name] = [next(fh) for _ in range(DOCS)]
    plain = lines["fortunes_en"][:120] + ['{"id": "broken", "text": \n'] + lines["fortunes_en"][120:]
    (directory / "en.jsonl").write_text("".join(plain), encoding="utf-8")
    with gzip.open(directory / "zh.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("".join(lines["fortunes_zh"]))
    rows = [{"text": json.loads(line)["text"]} for line in lines["handbook"]]
    pq.write_table(pa.Table.from_pylist(rows), directory / "hb.parquet", row_group_size=40)
    return [{"path": "en.jsonl", "source": "en"}, {"path": "zh.jsonl.gz", "source": "zh"},
            {"path": "hb.parquet", "source": "hb"}]


PIPELINE = [
    {"normalize": {}},
    {"length_filter": {"min_chars": 30}},
    {"exact_dedup": {}},
    {"minhash_dedup": {"threshold": 0.7, "num_perm": 32}},
    {"line_dedup": {"max_docs": 5}},
    {"train_tokenizer": {"vocab_size": 400, "check_docs": 20}},
    {"tokenize": {"valid_fraction": 0.05}},
    {"mix": {"weights": {"en": 0.5, "zh": 0.2, "hb": 0.3}, "split": "100,0,0"}},
]


def _recipe(tmp_path, base: str, output: str, name="recipe.yaml", **kw) -> str:
    inputs = [{**i, "path": f"{base}/{i['path']}"} for i in _corpus(tmp_path / "in")]
    path = write_recipe(tmp_path, PIPELINE, inputs, output="unused", workers=2, shard_size="24KB", **kw)
    text = open(path).read().replace(str(tmp_path / "unused"), output)
    target = tmp_path / name
    target.write_text(text)
    return str(target)


def _upload(store, local_dir, prefix: str) -> None:
    for f in sorted(os.listdir(local_dir)):
        store.put_file(os.path.join(local_dir, f), f"{prefix}/{f}")


def _s3_tree(store, prefix: str) -> dict[str, bytes]:
    return {k[len(prefix) + 1:]: store.cat_file(k) for k in store.find(prefix)}


def _user_outputs(files: dict[str, bytes], root: str, inputs: str) -> dict[str, bytes]:
    """Everything but bookkeeping; the run's and the inputs' locations are masked where named."""
    keep = {}
    for rel, data in files.items():
        if rel.startswith("_work/") or rel in ("stats.json", "recipe.lock.yaml", "report.html", ".garden-run.json",
                                               ".garden-lock"):
            continue
        keep[rel] = data.replace(root.encode(), b"<run>").replace(inputs.encode(), b"<in>")
    return keep


def _counts(obj, root: str = ""):
    """stats.json without timings, executor details and the run's location."""
    if isinstance(obj, dict):
        return {k: _counts(v, root) for k, v in obj.items()
                if "seconds" not in k and k not in ("timing", "executor", "workers", "report")}
    if isinstance(obj, list):
        return [_counts(v, root) for v in obj]
    return obj.replace(root, "<run>") if isinstance(obj, str) and root else obj


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The recipe on local disk: what every object-store run must produce."""
    d = tmp_path_factory.mktemp("local")
    recipe = _recipe(d, str(d / "in"), str(d / "out"))
    run_garden("run", recipe, "-q")
    return {"files": _user_outputs(tree_bytes(d / "out"), str(d / "out"), str(d / "in")),
            "stats": json.loads((d / "out" / "stats.json").read_text()), "root": str(d / "out")}


@pytest.mark.slow
def test_s3_inputs_and_output_give_the_local_bytes(tmp_path, s3, reference):
    store = s3["fs"]
    _recipe(tmp_path, "unused", "unused")  # writes tmp_path/in
    _upload(store, tmp_path / "in", f"{BUCKET}/in")
    recipe = _recipe(tmp_path, f"s3://{BUCKET}/in", f"s3://{BUCKET}/run")
    run_garden("run", recipe, "-q")

    files = _s3_tree(store, f"{BUCKET}/run")
    got = _user_outputs(files, f"s3://{BUCKET}/run", f"s3://{BUCKET}/in")
    want = reference["files"]
    assert sum(k.startswith("data/") for k in want) >= 6  # several shards per stage
    assert {"blend.json", "dedup/clusters.parquet", "tokenizer/tokenizer.json"} <= set(want)
    assert any(k.startswith("quarantine/") for k in want) and any(k.startswith("rejected/") for k in want)
    assert any(k.endswith(".bin") for k in want) and any(k.endswith(".idx") for k in want)
    assert sorted(got) == sorted(want)
    assert got == want
    stats = json.loads(files["stats.json"])
    assert stats["accounting_ok"] and stats["quarantined_docs"] == 1
    assert _counts(stats, f"s3://{BUCKET}/run") == _counts(reference["stats"], reference["root"])
    assert b"Garden run" in files["report.html"]
    assert not [k for k in files if "tmp-" in k]  # nothing staged next to the output
    assert not os.listdir(s3["staging"])  # and every staged local file was uploaded and removed
    assert f"s3://{BUCKET}/run/tokens/en".encode() in files["megatron/main.data_args.txt"]  # prefixes in the bucket

    # the other commands take the run's URL too
    store.rm_file(f"{BUCKET}/run/report.html")
    assert run_garden("report", f"s3://{BUCKET}/run").stdout.strip() == f"s3://{BUCKET}/run/report.html"
    assert store.exists(f"{BUCKET}/run/report.html")
    shown = json.loads(run_garden("blend", "show", f"s3://{BUCKET}/run/blend.json", "--json").stdout)
    assert {r["source"] for r in shown} == {"en", "zh", "hb"}
    run_garden("analyze", f"s3://{BUCKET}/run", "--out", tmp_path / "analysis", "--sample", "100")
    analysis = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
    assert analysis["totals"]["docs"] == stats["kept_docs"]

    # a second run finds every marker and rewrites nothing
    before = {k["name"]: k["ETag"] for k in store.find(f"{BUCKET}/run", detail=True).values()}
    proc = run_garden("run", recipe)
    assert "already complete (resumed)" in proc.stdout + proc.stderr
    after = {k["name"]: k["ETag"] for k in store.find(f"{BUCKET}/run", detail=True).values()}
    assert {k: v for k, v in after.items() if "/data/" in k or "/tokens/" in k} == \
        {k: v for k, v in before.items() if "/data/" in k or "/tokens/" in k}


def _kill_when_object(cmd, store, key, env) -> bool:
    def written() -> bool:
        store.invalidate_cache()
        return store.exists(key)

    # Each poll is a request to the moto server in this process: polling every 20 ms took about
    # half a CPU from the run it waits for. The run has five more stages after the marker.
    return kill_9_when(cmd, written, env=env, timeout=180, poll=0.2)


@pytest.mark.slow
def test_kill_9_on_s3_then_resume_gives_the_same_bytes(tmp_path, s3, reference):
    store = s3["fs"]
    _recipe(tmp_path, "unused", "unused")
    _upload(store, tmp_path / "in", f"{BUCKET}/in2")
    recipe = _recipe(tmp_path, f"s3://{BUCKET}/in2", f"s3://{BUCKET}/killed")
    marker = f"{BUCKET}/killed/_work/s03-minhash_dedup/done/scan-00002.json"
    assert _kill_when_object(GARDEN + ["run", recipe, "-q"], store, marker, dict(os.environ)), \
        "the run finished before it could be killed"
    store.invalidate_cache()
    assert not store.exists(f"{BUCKET}/killed/stats.json")
    for key in store.find(f"{BUCKET}/killed/_work/s00-stream/data"):  # what exists is complete
        assert pq.read_table(key, filesystem=store).num_rows > 0
    run_garden("run", recipe, "-q")
    files = _s3_tree(store, f"{BUCKET}/killed")
    assert _user_outputs(files, f"s3://{BUCKET}/killed", f"s3://{BUCKET}/in2") == reference["files"]
    assert json.loads(files["stats.json"])["accounting_ok"]


def test_staged_write_is_all_or_nothing(s3):
    store = s3["fs"]
    url = f"s3://{BUCKET}/staged/part.bin"
    staged = gfs.StagedFile(url)
    with open(staged.local, "wb") as fh:
        fh.write(b"half")
    staged.abort()
    assert not gfs.exists(url) and not os.path.exists(staged.local)
    with pytest.raises(RuntimeError):
        with gfs.StagedFile(url) as staged:
            open(staged.local, "wb").write(b"half")
            raise RuntimeError("task died")
    assert not gfs.exists(url)
    gfs.atomic_write_bytes(url, b"whole")
    assert store.cat_file(url) == b"whole"
    assert gfs.glob(f"s3://{BUCKET}/staged/*.bin") == [url]
    assert gfs.listdir(f"s3://{BUCKET}/staged") == ["part.bin"]


@pytest.mark.slow
def test_missing_s3_input_is_a_recipe_error(tmp_path, s3):
    recipe = write_recipe(tmp_path, [{"normalize": {}}], [{"path": f"s3://{BUCKET}/nothing/*.jsonl", "source": "x"}],
                          output="out")
    proc = run_garden("run", recipe, check=False)
    assert proc.returncode != 0
    assert f"no input file matches 's3://{BUCKET}/nothing/*.jsonl'" in proc.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_ray_with_s3_gives_the_local_bytes(tmp_path, s3, reference):
    pytest.importorskip("ray")
    store = s3["fs"]
    _recipe(tmp_path, "unused", "unused")
    _upload(store, tmp_path / "in", f"{BUCKET}/in3")
    recipe = _recipe(tmp_path, f"s3://{BUCKET}/in3", f"s3://{BUCKET}/ray")
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    run_garden("run", recipe, "-q", "--executor", "ray", env=env, timeout=400)
    files = _s3_tree(store, f"{BUCKET}/ray")
    assert _user_outputs(files, f"s3://{BUCKET}/ray", f"s3://{BUCKET}/in3") == reference["files"]
    stats = json.loads(files["stats.json"])
    assert stats["executor"] == "ray" and stats["accounting_ok"]


def test_read_ranges_is_the_same_locally_and_on_s3(tmp_path, s3):
    data = bytes(range(256)) * 2000  # 512,000 bytes
    (tmp_path / "blob").write_bytes(data)
    gfs.atomic_write_bytes(f"s3://{BUCKET}/blob", data)
    ranges = [(500_000, 500_512), (0, 10), (10, 600), (300_000, 300_100), (5, 7), (511_999, 512_000)]
    want = [data[a:b] for a, b in ranges]
    assert gfs.read_ranges(str(tmp_path / "blob"), ranges) == want
    assert gfs.read_ranges(f"s3://{BUCKET}/blob", ranges) == want
    assert gfs.read_ranges(f"s3://{BUCKET}/blob", ranges, gap=0) == want


@pytest.mark.slow
@pytest.mark.train
def test_garden_train_reads_its_shards_from_s3(tmp_path, s3):
    """A run whose output is a bucket trains from it: megatron-core streams the .bin and caches
    the .idx; the samples and losses are those of the same shards on local disk."""
    pytest.importorskip("megatron.core")
    from trainer_helpers import losses, make_blend, run_train, tiny_config

    blend = make_blend(tmp_path / "data", [{"name": "main", "tokens": 10**5, "weights": {"a": 0.6, "b": 0.4}}])
    store = s3["fs"]
    for rel in ("blend.json", "tokens/a.bin", "tokens/a.idx", "tokens/b.bin", "tokens/b.idx"):
        store.put_file(str(tmp_path / "data" / rel), f"{BUCKET}/trainrun/{rel}")
    runs = {}
    for name, location in (("local", str(blend)), ("s3", f"s3://{BUCKET}/trainrun/blend.json")):
        d = tmp_path / name
        d.mkdir()
        cfg = tiny_config(d, blend, data={"blend": location, "trace_samples": True})
        r = run_train(cfg, nproc=1)
        assert r.returncode == 0, r.stdout + r.stderr
        runs[name] = d / "run"
    assert (runs["s3"] / "samples.dp0.jsonl").read_text() == (runs["local"] / "samples.dp0.jsonl").read_text()
    assert losses(runs["s3"]) == losses(runs["local"])
    assert list((runs["s3"] / "object_store_cache").rglob("a.idx"))  # megatron-core's own S3 reader was used


def test_train_refuses_a_blend_on_a_store_megatron_cannot_read(tmp_path):
    from trainer.blend import BlendError, load_blend

    with pytest.raises(BlendError, match="s3:// \\(or msc://\\) only"):
        load_blend("gs://bucket/run/blend.json")


def test_glob_on_s3_matches_a_local_glob(tmp_path, s3):
    names = ["scan/shard-00000/p0001.parquet", "scan/shard-00000/p0002.parquet", "scan/shard-00001/p0001.parquet",
             "scan/shard-00002/rows.parquet", "scan/other/p0001.parquet", "reduce/p0001.parquet", "x.json",
             "deep/a/b/c.json"]
    for n in names:
        (tmp_path / "tree" / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tree" / n).write_bytes(b"x")
        gfs.atomic_write_bytes(f"s3://{BUCKET}/tree/{n}", b"x")
    for pattern in ("scan/shard-*/p0001.parquet", "scan/*/p000?.parquet", "*.json", "**/*.json", "scan/shard-*",
                    "s*/shard-0000[01]/*.parquet", "nothing/*/x"):
        local = [p[len(str(tmp_path / "tree")) + 1:] for p in gfs.glob(str(tmp_path / "tree" / pattern))]
        remote = [p[len(f"s3://{BUCKET}/tree/"):] for p in gfs.glob(f"s3://{BUCKET}/tree/{pattern}")]
        assert remote == local, pattern


def test_prefetched_yields_every_file_in_order(s3):
    urls = [f"s3://{BUCKET}/pre/f{k:02d}" for k in range(11)]
    for k, u in enumerate(urls):
        gfs.atomic_write_bytes(u, bytes([k]) * (k + 1))
    assert list(gfs.prefetched(urls, window=3)) == [(u, bytes([k]) * (k + 1)) for k, u in enumerate(urls)]
    assert list(gfs.prefetched([], window=3)) == []


def test_cross_shard_duplicate_ids_are_found_on_s3(tmp_path, s3):
    from garden.executor.id_check import find_duplicate_ids, write_id_hashes
    from garden.hashing import values_hash64

    shards = [["a", "b", "c"], ["d", "b"], ["e"]]
    for root in (str(tmp_path / "ids"), f"s3://{BUCKET}/ids"):
        paths = [gfs.join(root, f"shard-{k:05d}.npy") for k in range(len(shards))]
        for path, ids in zip(paths, shards):
            write_id_hashes(path, ids)
        assert find_duplicate_ids(paths + [gfs.join(root, "shard-00009.npy")]) == (1, values_hash64(["b"]).tolist()), root


@pytest.mark.slow
def test_no_resume_on_s3_starts_over(tmp_path, s3):
    store = s3["fs"]
    store.put_file(os.path.join(DEMO_DATA, "fortunes_en.jsonl.gz"), f"{BUCKET}/small/en.jsonl.gz")
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_chars": 30}}],
                          [{"path": f"s3://{BUCKET}/small/en.jsonl.gz", "source": "en"}], output="unused")
    text = open(recipe).read().replace(str(tmp_path / "unused"), f"s3://{BUCKET}/fresh")
    open(recipe, "w").write(text)
    run_garden("run", recipe, "-q")
    stale = f"{BUCKET}/fresh/data/part-09999.parquet"
    store.pipe(stale, b"left over by an older run")
    proc = run_garden("run", recipe, "--no-resume")
    assert "already complete" not in proc.stdout + proc.stderr
    store.invalidate_cache()
    assert not store.exists(stale)
    stats = json.loads(store.cat_file(f"{BUCKET}/fresh/stats.json"))
    assert stats["accounting_ok"] and stats["kept_docs"] > 0
    assert [k.rsplit("/", 1)[1] for k in store.find(f"{BUCKET}/fresh/data")] == ["part-00000.parquet"]


def test_reader_on_s3_quarantines_bad_records_and_long_lines(s3):
    """Planning and reading through fsspec keep the reader's promises: a record nested 100,000 deep, a
    lone surrogate and a line longer than max_record_bytes are quarantined where they are, and the
    shards around them (cut in bounded reads, also inside the long line) read every other line."""
    from garden.io.inputs import plan_inputs
    from garden.io.reader import ReadResult, read_shard
    from garden.recipe import InputSpec

    lines = [json.dumps({"id": f"g{i}", "text": f"good {i}"}).encode() + b"\n" for i in range(60)]
    lines[9] = b"[" * 100_000 + b"]" * 100_000 + b"\n"
    lines[19] = b'{"id": "sur", "text": "a \\udc80 b"}\n'
    lines[29] = b'{"id": "long", "text": "' + b"x" * 300_000 + b'"}\n'
    data = b"".join(lines)
    s3["fs"].pipe(f"{BUCKET}/reader/plain.jsonl", data)
    s3["fs"].pipe(f"{BUCKET}/reader/packed.jsonl.gz", gzip.compress(data))
    shards = plan_inputs([InputSpec(path=f"s3://{BUCKET}/reader/*.jsonl*", source="s")], 64 << 10)
    assert len({s.path for s in shards}) == 2 and len(shards) > 2
    for name in ("plain.jsonl", "packed.jsonl.gz"):
        kept, quarantined = [], {}
        for shard in (s for s in shards if s.path.endswith(name)):
            result = ReadResult()
            for batch in read_shard(shard, result, 16, max_record_bytes=256 << 10):
                kept.extend(d["id"] for d in batch)
            quarantined.update({e["line"]: e["error"] for e in result.quarantine})
        assert sorted(kept) == sorted(f"g{i}" for i in range(60) if i not in (9, 19, 29))
        assert "JSON nested too deep" in quarantined[10]
        assert "lone surrogate '\\udc80' in field 'text'" in quarantined[20]
        assert "record of 300026 bytes is longer than max_record_bytes (262144)" in quarantined[30]
        assert set(quarantined) == {10, 20, 30}
