"""--executor ray: byte-identical to local, killed workers retried, failures named, resume works.

One local Ray instance (2 CPUs) serves the whole module; RayExecutor reuses an initialised Ray
and leaves it running, and the CLI test connects to it by address like a user of a cluster.
"""
import gzip
import json
import os
import sys
import textwrap

import pytest

ray = pytest.importorskip("ray")

from conftest import DEMO_DATA, read_stats, run_garden, tree_bytes, write_recipe  # noqa: E402
from garden import registry  # noqa: E402
from garden.api import run_recipe  # noqa: E402
from garden.executor.pool import TaskError  # noqa: E402
from garden.progress import Progress  # noqa: E402
from garden.recipe import load_recipe  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.ray]
DOCS_PER_FILE = 300
CRASH_PLUGIN = '''
import os, signal, sys
from garden.operator import Mapper

class CrashAt(Mapper):
    """Kill this worker process (SIGKILL) at one document, as told by a control file (a test plugin)."""
    name = "crash_at"
    doc_id: str = ""
    # A directory holding the file "mode" (once -> crash then write "crashed"; always -> crash every
    # time). A directory, not a file: files named by parameters are part of the stage fingerprint.
    control: str = ""

    def map(self, doc):
        mode_file = os.path.join(self.control, "mode")
        if doc["id"] == self.doc_id and os.path.exists(mode_file):
            with open(mode_file) as fh:
                mode = fh.read().strip()
            if mode in ("once", "always"):
                if mode == "once":
                    with open(mode_file, "w") as fh:
                        fh.write("crashed")
                print(f"crash_at: killing pid {os.getpid()} at {doc['id']}", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        return doc
'''


def _install_plugin(site) -> None:
    os.makedirs(site / "garden_crash-0.1.dist-info")
    (site / "garden_crash.py").write_text(textwrap.dedent(CRASH_PLUGIN))
    (site / "garden_crash-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: garden-crash\nVersion: 0.1\n")
    (site / "garden_crash-0.1.dist-info" / "entry_points.txt").write_text(
        "[garden.operators]\ncrash_at = garden_crash:CrashAt\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A 2-CPU local Ray whose workers can import the crash plugin (they inherit PYTHONPATH)."""
    site = tmp_path_factory.mktemp("site")
    _install_plugin(site)
    old_pp = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), old_pp) if p)
    sys.path.insert(0, str(site))
    import garden_crash

    registry.register(garden_crash.CrashAt)
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 << 20, logging_level="WARNING")
    try:
        yield {"site": str(site), "address": ray.get_runtime_context().gcs_address}
    finally:
        ray.shutdown()
        sys.path.remove(str(site))
        if old_pp is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_pp


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    """The first DOCS_PER_FILE documents of three demo files: several shards, seconds per run."""
    d = tmp_path_factory.mktemp("inputs")
    inputs = []
    for name, source in (("fortunes_en", "en"), ("fortunes_zh", "zh"), ("handbook", "hb")):
        with gzip.open(os.path.join(DEMO_DATA, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
            lines = [next(fh) for _ in range(DOCS_PER_FILE)]
        path = d / f"{name}.jsonl"
        path.write_text("".join(lines), encoding="utf-8")
        inputs.append({"path": str(path), "source": source})
    return inputs


class RecordingProgress(Progress):
    """Docs and bytes reported while each stage (phase) runs."""

    def __init__(self) -> None:
        super().__init__(enabled=False)
        self.per_stage: dict[str, list[int]] = {}
        self.current = ""

    def start(self, label: str, total_tasks: int, skipped: int = 0) -> None:
        super().start(label, total_tasks, skipped)
        self.current = label

    def advance(self, docs: int, nbytes: int) -> None:
        acc = self.per_stage.setdefault(self.current, [0, 0])
        acc[0] += docs
        acc[1] += nbytes


def _run(recipe_path, executor, output=None, workers=None, **kw):
    recipe = load_recipe(str(recipe_path), overrides={"output": str(output) if output else None, "workers": workers})
    progress = RecordingProgress()
    stats = run_recipe(recipe, executor=executor, progress=progress, **kw)
    return stats, progress


def _outputs(out) -> dict:
    """Every user-facing output file; the run directory's own path is masked where files name it."""
    files = {}
    for rel, data in tree_bytes(out).items():
        if rel.startswith("_work") or rel in ("stats.json", "recipe.lock.yaml", ".garden-run.json", ".garden-lock") \
                or rel.endswith("report.html"):
            continue
        files[rel] = data.replace(str(out).encode(), b"<run>")
    return files


def _without_run_details(obj):
    if isinstance(obj, dict):
        return {k: _without_run_details(v) for k, v in obj.items()
                if "seconds" not in k and k not in ("executor", "workers")}  # timings (seconds, cpu_seconds...)
    if isinstance(obj, list):
        return [_without_run_details(v) for v in obj]
    if isinstance(obj, str):
        return obj.replace("/out_ray", "/out_local")
    return obj


def test_full_pipeline_on_ray_is_byte_identical_to_local(tmp_path, cluster, small_inputs):
    pipeline = [{"normalize": {}}, {"length_filter": {"min_chars": 30}}, {"exact_dedup": {}},
                {"minhash_dedup": {"threshold": 0.7, "num_perm": 32}},
                {"train_tokenizer": {"vocab_size": 400, "check_docs": 20}}, {"tokenize": {}},
                {"mix": {"weights": {"en": 0.5, "zh": 0.2, "hb": 0.3}, "split": "100,0,0"}}]
    recipe = write_recipe(tmp_path, pipeline, small_inputs, output="out_local", workers=2, shard_size="48KB")
    local, local_progress = _run(recipe, "local")
    on_ray, ray_progress = _run(recipe, "ray", output=tmp_path / "out_ray")

    a, b = _outputs(tmp_path / "out_local"), _outputs(tmp_path / "out_ray")
    assert sum(k.startswith("data/") for k in a) >= 6  # really several shards per stage
    assert any(k.startswith("rejected/") for k in a)
    assert any(k.endswith(".bin") for k in a) and any(k.endswith(".idx") for k in a)
    assert "blend.json" in a and "tokenizer/tokenizer.json" in a and "dedup/clusters.parquet" in a
    assert sorted(a) == sorted(b)
    assert a == b
    assert on_ray["executor"] == "ray" and on_ray["accounting_ok"]
    assert _without_run_details(on_ray) == _without_run_details(local)
    # progress reached the driver from the Ray workers, as from local pool workers
    def totals(progress):
        return [sum(v[i] for v in progress.per_stage.values()) for i in (0, 1)]

    assert totals(ray_progress) == totals(local_progress)
    # every stage's counts arrive before the next stage starts (local pool's queue gives no such promise)
    stage0 = next(v for k, v in ray_progress.per_stage.items() if k.startswith("stage 0"))
    assert stage0[0] == local["input_docs"]
    assert [v[0] for k, v in ray_progress.per_stage.items() if "scan" in k][0] == local["ops"][1]["out"]
    assert not [k for k in tree_bytes(tmp_path / "out_ray") if ".tmp-" in k or "garden-tmp" in k]


def _crash_recipe(tmp_path, small_inputs, control, output):
    victim = json.loads(open(small_inputs[0]["path"], encoding="utf-8").readlines()[200])["id"]
    pipeline = [{"normalize": {}}, {"crash_at": {"doc_id": victim, "control": str(control)}},
                {"length_filter": {"min_chars": 30}}, {"exact_dedup": {}}]
    return write_recipe(tmp_path, pipeline, small_inputs, output=output, workers=2, shard_size="48KB",
                        batch_size=32)


@pytest.fixture(scope="module")
def crash_reference(tmp_path_factory, cluster, small_inputs):
    """The crash recipe run locally with the crash switched off: what every Ray run must produce."""
    d = tmp_path_factory.mktemp("reference")
    recipe = _crash_recipe(d, small_inputs, d / "no-control-file", "out")
    _run(recipe, "local", workers=1)  # in-process: 1 or N workers give the same bytes
    return _outputs(d / "out")


def test_killed_worker_is_retried_and_output_is_unchanged(tmp_path, cluster, small_inputs, crash_reference):
    control = tmp_path / "control"
    control.mkdir()
    (control / "mode").write_text("once")
    recipe = _crash_recipe(tmp_path, small_inputs, control, "out")
    env = {**os.environ, "PYTHONPATH": cluster["site"]}
    run_garden("run", recipe, "-q", "--executor", "ray", "--address", cluster["address"], env=env, timeout=240)
    assert (control / "mode").read_text() == "crashed"  # the worker really was killed mid-stage
    assert _outputs(tmp_path / "out") == crash_reference
    stats = read_stats(tmp_path / "out")
    assert stats["executor"] == "ray" and stats["accounting_ok"]
    assert not [k for k in tree_bytes(tmp_path / "out") if ".tmp-" in k or "garden-tmp" in k]  # the dead attempt's temp files are gone


def test_retry_limit_stops_the_run_with_shard_error_and_log_then_resume(tmp_path, cluster, small_inputs,
                                                                        crash_reference, monkeypatch):
    monkeypatch.setenv("GARDEN_RAY_MAX_RETRIES", "1")
    control = tmp_path / "control"
    control.mkdir()
    (control / "mode").write_text("always")
    recipe = _crash_recipe(tmp_path, small_inputs, control, "out")
    with pytest.raises(TaskError) as err:
        _run(recipe, "ray")
    message = str(err.value)
    assert "stage 0 (stream) shard" in message and "fortunes_en.jsonl" in message
    assert "failed on Ray after 2 attempt(s)" in message and "worker died" in message
    assert "crash_at: killing pid" in message  # the tail of the dead worker's log
    shard = int(message.split("shard ")[1].split()[0])
    done = tmp_path / "out" / "_work" / "s00-stream" / "done"
    assert not (done / f"shard-{shard:05d}.json").exists()  # nothing marked complete that was not written
    assert not (tmp_path / "out" / "stats.json").exists()
    survivors = {p.name: p.stat().st_mtime_ns for p in done.iterdir()}

    (control / "mode").write_text("off")
    stats, _ = _run(recipe, "ray")  # resume: only what was not complete runs again
    assert stats["accounting_ok"]
    assert _outputs(tmp_path / "out") == crash_reference
    for name, mtime in survivors.items():
        assert (done / name).stat().st_mtime_ns == mtime


def _stream_task(root, out_path, marker, source="in.jsonl"):
    """A one-shard stream task with no operators, writing `out_path` and `marker`."""
    from garden.executor.plan import BASE_SCHEMA
    from garden.executor.tasks import StageInput, StreamTask

    return StreamTask(stage=0, shard=1, steps=(), schema=BASE_SCHEMA, source=StageInput(f"{root}/{source}", None),
                      out_path=out_path, out_format="parquet", batch_size=100, max_record_bytes=1 << 20, rejects=(),
                      quarantine_path=f"{root}/quarantine/s00-part-00001.jsonl", marker=marker)


def test_leftovers_of_a_dead_attempt_are_found_from_what_the_task_writes(tmp_path):
    from garden.executor.ray_executor import remove_attempt_leftovers
    from garden.executor.tasks import ScanTask, StageInput
    from garden.operator import StageContext
    from garden.recipe import OpSpec

    (tmp_path / "data").mkdir()
    (tmp_path / "side" / "x").mkdir(parents=True)
    dead = [tmp_path / "data" / ".part-00001.parquet.garden-tmp-123", tmp_path / "side" / "x" / ".t.bin.garden-tmp-9",
            tmp_path / ".done.json.garden-tmp-77"]
    kept = [tmp_path / "data" / "part-00001.parquet", tmp_path / "data" / ".part-00002.parquet.garden-tmp-5",
            tmp_path / ".in.jsonl.garden-tmp-1",
            tmp_path / "data" / "part-00001.parquet.tmp-123"]  # a user's file with a temp-like name
    for p in dead + kept:
        p.write_text("x")
    stream = _stream_task(tmp_path, str(tmp_path / "data" / "part-00001.parquet"), str(tmp_path / "done.json"))
    scan = ScanTask(stage=1, shard=0, spec=OpSpec("exact_dedup", {}, 0, 1),
                    ctx=StageContext(run_dir=str(tmp_path), work_dir=str(tmp_path / "op"), shard_dir=str(tmp_path / "side")),
                    source=StageInput(str(tmp_path / "in.jsonl"), None), batch_size=100,
                    out_dir=str(tmp_path / "scan"), marker=str(tmp_path / "scan.json"))
    assert remove_attempt_leftovers(stream) + remove_attempt_leftovers(scan) == 3
    assert not any(p.exists() for p in dead) and all(p.exists() for p in kept)


def test_relative_paths_on_a_node_without_the_driver_directory_are_refused():
    from garden.executor.ray_executor import run_ray_task

    task = _stream_task("out/_work", "out/data/part-00000.parquet", "out/_work/done.json")
    with pytest.raises(FileNotFoundError, match="relative to the driver's directory /no/such/dir"):
        run_ray_task(task, "k", None, "/no/such/dir")


def test_cluster_workers_get_storage_settings_but_not_credentials_unless_asked():
    from garden.executor.ray_executor import forwarded_env

    env = {"PYTHONPATH": "/plugins", "AWS_ENDPOINT_URL": "http://minio:9000", "AWS_REGION": "eu-west-1",
           "FSSPEC_S3_ANON": "false", "AWS_SECRET_ACCESS_KEY": "secret", "HOME": "/root"}
    assert forwarded_env(env) == {"PYTHONPATH": "/plugins", "AWS_ENDPOINT_URL": "http://minio:9000",
                                  "AWS_REGION": "eu-west-1", "FSSPEC_S3_ANON": "false"}
    asked = forwarded_env({**env, "GARDEN_RAY_ENV": "AWS_SECRET_ACCESS_KEY, HOME"})
    assert asked["AWS_SECRET_ACCESS_KEY"] == "secret" and asked["HOME"] == "/root"


def test_a_url_output_is_never_relative_and_has_no_leftovers_to_clean(tmp_path):
    from garden.executor.ray_executor import remove_attempt_leftovers, run_ray_task

    class PastThePathCheck(Exception):
        pass

    class Reporter:  # the first thing a task does after the relative-path check is to report its start
        class started:
            @staticmethod
            def remote(key, info):
                raise PastThePathCheck(key)

    task = _stream_task("s3://bucket/run", "s3://bucket/run/data/part-00000.parquet", "s3://bucket/run/_work/done/x.json")
    assert remove_attempt_leftovers(task) == 0
    with pytest.raises(PastThePathCheck, match="^k$"):
        run_ray_task(task, "k", Reporter, "/no/such/dir")
    relative = _stream_task("s3://bucket/run", "s3://bucket/run/data/part-00000.parquet", "run/_work/done/x.json")
    with pytest.raises(FileNotFoundError, match="'run/_work/done/x.json' is relative to the driver's directory"):
        run_ray_task(relative, "k", Reporter, "/no/such/dir")
