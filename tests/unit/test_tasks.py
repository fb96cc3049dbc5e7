"""Typed tasks: what each declares it writes, that it writes nothing else, that it pickles,
and that derived operator parameters (MinHash bands x rows) are computed once, on the driver."""
from __future__ import annotations

import dataclasses
import json
import os
import pickle
import sys

import pytest

from garden.executor.plan import RunPaths, build_plan
from garden.executor.planning import Planner
from garden.executor.stats import ScanResult
from garden.executor.tasks import FinalizeTask, Output, ReduceTask, ScanTask, StreamTask, run_task
from garden.io.inputs import InputShard, plan_inputs
from garden.recipe import InputSpec, recipe_from_dict


def _recipe(tmp_path, pipeline):
    return recipe_from_dict({"name": "t", "inputs": [{"path": str(tmp_path / "in.jsonl"), "source": "a"}],
                             "output": str(tmp_path / "out"), "pipeline": pipeline}, check_inputs=False)


def _shard(path: str) -> InputShard:
    """The one shard of a small jsonl input, as the planner cuts it."""
    if not os.path.exists(path):
        open(path, "w").close()
    return plan_inputs([InputSpec(path=path, source="a")], 1 << 20)[0]


PIPELINE = [{"length_filter": {"min_chars": 10}}, {"exact_dedup": {}}, {"normalize": {}},
            {"tokenize": {"tokenizer": "gpt2-bytes"}}]


@pytest.fixture
def planned(tmp_path):
    recipe = _recipe(tmp_path, PIPELINE)
    stages = build_plan(recipe, "key")
    return recipe, stages, Planner(recipe, RunPaths(recipe.output)), tmp_path / "out"


def test_first_stream_task_declares_data_rejects_quarantine_ids_and_marker(planned, tmp_path):
    recipe, stages, planner, out = planned
    task, = planner.stream_tasks(stages[0], [_shard(str(tmp_path / "in.jsonl"))], None, None, {})
    work = out / "_work" / "s00-stream"
    assert task.outputs() == [Output(f"{work}/data/part-00000.parquet"),
                              Output(f"{out}/rejected/length_filter/part-00000.parquet"),
                              Output(f"{out}/quarantine/s00-part-00000.jsonl"),
                              Output(f"{work}/ids/shard-00000.npy"),
                              Output(f"{work}/done/shard-00000.json")]
    assert task.inputs() == [str(tmp_path / "in.jsonl")]  # read, never cleaned


def test_final_stream_task_writes_data_and_has_the_global_apply_first(planned):
    recipe, stages, planner, out = planned
    final = next(s for s in stages if s.kind == "stream" and s.final)
    dedup_stage = next(s for s in stages if s.kind == "global" and s.ops[0].name == "exact_dedup")
    tasks = planner.stream_tasks(final, ["a.parquet", "b.parquet"], None, dedup_stage, {"x": 1})
    assert [t.out_path for t in tasks] == [f"{out}/data/part-00000.parquet", f"{out}/data/part-00001.parquet"]
    apply, normalize = tasks[1].steps
    assert apply.spec.name == "exact_dedup" and apply.prepare is not None and apply.prepare.artifacts == {"x": 1}
    assert normalize.prepare is None and normalize.key == f"{normalize.spec.index}:normalize"
    assert not tasks[1].ids_path and Output(tasks[1].marker) in tasks[1].outputs()


def test_scan_reduce_finalize_declare_their_outputs(planned):
    recipe, stages, planner, out = planned
    tok = next(s for s in stages if s.kind == "global" and s.ops[0].name == "tokenize")
    work = out / "_work" / tok.dir_name
    scan, = planner.scan_tasks(tok, ["p0.parquet"], None, {})
    assert scan.outputs() == [Output(f"{work}/scan/shard-00000", is_dir=True),
                              Output(f"{work}/side/shard-00000", is_dir=True),  # tokenize has side outputs
                              Output(f"{work}/done/scan-00000.json")]
    dedup = next(s for s in stages if s.kind == "global" and s.ops[0].name == "exact_dedup")
    scans = [ScanResult(0, 5, 5, [0, 3], 0.1), ScanResult(1, 5, 5, [3], 0.1)]
    reduce = planner.reduce_tasks(dedup, 2, scans, {})
    dwork = out / "_work" / dedup.dir_name
    assert reduce[3].outputs() == [Output(f"{dwork}/reduce/p0003.parquet"), Output(f"{dwork}/done/reduce-0003.json")]
    assert reduce[3].files == (f"{dwork}/scan/shard-00000/p0003.parquet", f"{dwork}/scan/shard-00001/p0003.parquet")
    assert reduce[1].files == ()
    older = planner.reduce_tasks(dedup, 2, [ScanResult(0, 5, 5, None, 0.1)], {})
    assert older[0].files is None  # a scan marker of an older run: the reduce task lists the folder
    fin = planner.finalize_task(tok, ["p0.parquet"], {})
    assert fin.outputs() == [Output(f"{work}/op", is_dir=True), Output(f"{out}/tokens", is_dir=True),
                             Output(f"{work}/done/finalize.json")]


def test_every_task_pickles_to_an_equal_task(planned, tmp_path):
    recipe, stages, planner, out = planned
    tok = next(s for s in stages if s.kind == "global" and s.ops[0].name == "tokenize")
    tasks = [*planner.stream_tasks(stages[0], [_shard(str(tmp_path / "in.jsonl"))], None, None, {}),
             *planner.scan_tasks(tok, ["p0.parquet"], None, {"tokenizer": "t.json"}),
             *planner.reduce_tasks(stages[1], 1, [ScanResult(0, 1, 1, [0], 0.0)], {})[:2],
             planner.finalize_task(tok, ["p0.parquet"], {})]
    assert {type(t) for t in tasks} == {StreamTask, ScanTask, ReduceTask, FinalizeTask}
    for task in tasks:
        assert pickle.loads(pickle.dumps(task)) == task
        with pytest.raises(dataclasses.FrozenInstanceError):
            task.marker = "elsewhere"  # type: ignore[misc]


def test_a_stream_task_writes_exactly_what_it_declares(tmp_path):
    rows = [{"id": f"d{i}", "text": "long enough text" if i % 2 else "short"} for i in range(6)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    recipe = _recipe(tmp_path, [{"length_filter": {"min_chars": 10}}])
    stage = build_plan(recipe, "key")[0]
    task, = Planner(recipe, RunPaths(recipe.output)).stream_tasks(stage, [_shard(str(tmp_path / "in.jsonl"))],
                                                                   None, None, {})
    result = run_task(task)  # the process pool's entry point: task.run()
    written = sorted(os.path.join(d, f) for d, _, fs_ in os.walk(tmp_path / "out") for f in fs_)
    assert written == sorted(o.path for o in task.outputs())
    assert (result.n_in, result.n_out, result.read_quarantined) == (7, 3, 1)
    assert result.ops["0:length_filter"].dropped == {"length_filter:min_chars": 3}
    assert json.loads(open(task.marker).read()) == result.to_dict()


def test_minhash_bands_are_searched_once_on_the_driver_and_carried_to_workers(tmp_path, monkeypatch):
    from garden import registry

    # the module that searches (datasketch's _optimal_param), found through the operator, not a private import
    lsh = sys.modules[sys.modules[registry.get("minhash_dedup").__module__].choose_bands.__module__]
    calls = []
    real = lsh._optimal_param
    monkeypatch.setattr(lsh, "_optimal_param", lambda *a: calls.append(a) or real(*a))
    lsh.choose_bands.cache_clear()
    recipe = _recipe(tmp_path, [{"minhash_dedup": {"threshold": 0.77}}])
    assert len(calls) == 1  # validation's check and the derived parameters share one search
    spec = recipe.pipeline[0]
    bands, rows = lsh.choose_bands(0.77, 128, None, None, 0.9)
    assert spec.derived == {"bands": bands, "rows": rows}
    assert spec.params["bands"] is None and spec.params["rows"] is None  # the lock file and fingerprint keep the recipe's
    lsh.choose_bands.cache_clear()  # as in a fresh worker process
    stage = build_plan(recipe, "key")[1]
    scan, = Planner(recipe, RunPaths(recipe.output)).scan_tasks(stage, ["p.parquet"], None, {})
    op = pickle.loads(pickle.dumps(scan)).spec.build()
    assert (op._bands, op._rows) == (bands, rows) and len(calls) == 1
