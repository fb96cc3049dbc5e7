"""Drive a recipe through its stages: skip completed work, run each stage's tasks, account.

Planning (input shards, the tasks of a stage) is garden.executor.planning; the tasks themselves
are garden.executor.tasks; accounting (task results, stats.json) is garden.executor.stats. `Run`
ties them together in stage order and owns the run folder's fingerprints and clean-up.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Iterable, Sequence, TypeVar

import pyarrow as pa

from garden.executor.empty import EmptyStageError, stop_before
from garden.executor.plan import RunPaths, Stage, build_plan, op_key, op_label
from garden.executor.planning import Planner, load_inputs
from garden.executor.stats import (AccountingError, FinalizeResult, GlobalStep, Ledger, Phase, ReduceResult,
                                   ScanResult, Stats, StreamResult)
from garden.executor.tasks import Executor, FinalizeTask, ReduceTask, ScanTask, StreamTask
from garden.io import fs
from garden.io.inputs import InputShard
from garden.io.writer import atomic_write_bytes, read_json
from garden.operator import GlobalOp
from garden.progress import Progress
from garden.recipe import Recipe
from garden.run_folder import RunFolder

__all__ = ["AccountingError", "Run"]

R = TypeVar("R", StreamResult, ScanResult, ReduceResult)


def _existing(paths: Iterable[str]) -> set[str]:
    """The paths that exist, with one listing per directory (a request each on object stores)."""
    by_dir: dict[str, list[str]] = defaultdict(list)
    for p in paths:
        by_dir[fs.dirname(p)].append(p)
    found: set[str] = set()
    for d, ps in by_dir.items():
        names = set(fs.listdir(d))
        found.update(p for p in ps if p.rsplit("/", 1)[-1] in names)
    return found


def _clean_stage(stage: Stage, recipe: Recipe, folder: RunFolder) -> None:
    """Remove what a stage wrote (Garden's files only), so a changed recipe or input recomputes it."""
    folder.remove_stage_dir(stage.dir_name)
    for spec in stage.all_ops():
        if stage.kind == "stream":
            folder.remove_rejected(op_label(spec, recipe))
    folder.remove_quarantine(f"s{stage.index:02d}-")
    if stage.final:
        folder.remove_data()


def _check_fingerprint(stage: Stage, recipe: Recipe, paths: RunPaths, folder: RunFolder) -> None:
    fp_path = fs.join(paths.stage_dir(stage), "fingerprint")
    if fs.exists(fp_path):
        with fs.open(fp_path, "rb") as fh:
            if fh.read().decode().strip() == stage.fingerprint:
                return
    _clean_stage(stage, recipe, folder)
    atomic_write_bytes(fp_path, stage.fingerprint.encode())


class Run:
    """One run of a recipe: its stages in order, on one executor, accounted in a `Ledger`."""

    def __init__(self, recipe: Recipe, executor: Executor, progress: Progress, folder: RunFolder | None = None,
                 verify_inputs: bool = False) -> None:
        self.recipe = recipe
        self.paths = RunPaths(recipe.output)
        self.folder = folder or RunFolder(recipe.output, progress.log)
        self.verify_inputs = verify_inputs
        self.executor = executor
        self.progress = progress
        self.planner = Planner(recipe, self.paths)
        self.ledger = Ledger()
        self.stages: list[Stage] = []
        self.global_stage_of: dict[int, Stage] = {}  # pipeline index of a global op → its stage

    # -- running tasks -----------------------------------------------------------------
    def _execute(self, label: str, result_type: type[R], tasks: Sequence[StreamTask | ScanTask | ReduceTask]
                 ) -> list[R]:
        """Run the tasks whose marker is missing; the others' results are read back from their markers."""
        done = _existing(t.marker for t in tasks)
        todo = [t for t in tasks if t.marker not in done]
        # read back concurrently: on an object store each marker is a request
        results: list[R] = [result_type.from_dict(json.loads(raw))
                            for _, raw in fs.prefetched([t.marker for t in tasks if t.marker in done])]
        self.progress.start(label, len(tasks), skipped=len(results))
        for res in self.executor.run(todo):
            results.append(res)
            self.progress.task_done()
        self.progress.finish()
        return results

    # -- stages ------------------------------------------------------------------------
    def run_stream(self, stage: Stage, inputs: Sequence[InputShard | str], in_schema: pa.Schema | None) -> list[str]:
        apply_stage = self.global_stage_of[stage.apply_op.index] if stage.apply_op else None
        tasks = self.planner.stream_tasks(stage, inputs, in_schema, apply_stage, self.ledger.artifacts)
        names = "+".join(s.name for s in stage.all_ops()) or "read/write"
        self.ledger.add_stream(stage.index, self._execute(f"stage {stage.index}: {names}", StreamResult, tasks))
        return [t.out_path for t in tasks]

    def run_global(self, stage: Stage, inputs: list[str], in_schema: pa.Schema | None) -> None:
        spec = stage.ops[0]
        cls = spec.cls
        step = GlobalStep(stage=stage.index)
        artifacts = self.ledger.artifacts
        scan_results: list[ScanResult] = []
        if cls.scan is not GlobalOp.scan or cls.scan_end is not GlobalOp.scan_end:  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            res = self._execute(f"stage {stage.index}: {spec.name} scan", ScanResult,
                                self.planner.scan_tasks(stage, inputs, in_schema, artifacts))
            step.phases["scan"] = Phase(round(time.perf_counter() - t0, 3), sum(r.rows_out for r in res))
            scan_results = sorted(res, key=lambda r: r.shard)
        if cls.num_partitions and cls.reduce is not GlobalOp.reduce:  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            reduced = self._execute(f"stage {stage.index}: {spec.name} reduce", ReduceResult,
                                    self.planner.reduce_tasks(stage, len(inputs), scan_results, artifacts))
            step.phases["reduce"] = Phase(round(time.perf_counter() - t0, 3), sum(r.rows_out for r in reduced))
        final = self._finalize(self.planner.finalize_task(stage, inputs, artifacts))
        step.phases["finalize"] = Phase(final.seconds)
        self.ledger.artifacts.update(final.artifacts or {})
        step.result = dict(final.figures)
        self.ledger.global_steps[op_key(spec)] = step

    def _finalize(self, task: FinalizeTask) -> FinalizeResult:
        """Run finalize on the driver unless its marker exists; record what it wrote at the top level."""
        if fs.exists(task.marker):
            return FinalizeResult.from_dict(read_json(task.marker))
        self.progress.log(f"stage {task.stage}: {task.spec.name} finalize")
        label = op_label(task.spec, self.recipe)
        self.folder.remove_step_outputs(label)  # what an earlier version of this step left
        result = task.run()
        self.folder.record_step_outputs(label, result.created)
        return result

    # -- the whole run -----------------------------------------------------------------
    def execute(self) -> Stats:
        t0 = time.time()
        fs.makedirs(self.paths.work)
        fp, shards = load_inputs(self.recipe, self.paths, self.verify_inputs, self.progress.log)
        self.stages = build_plan(self.recipe, fp)
        self.global_stage_of = {s.ops[0].index: s for s in self.stages if s.kind == "global"}
        self.progress.log(f"{self.recipe.name}: {len(shards)} input shards, {len(self.stages)} stages, "
                          f"{self.executor.workers} workers ({self.executor.name})")
        self.folder.remove_stale(
            stream_labels={op_label(o, self.recipe) for s in self.stages if s.kind == "stream" for o in s.all_ops()},
            step_labels={op_label(s.ops[0], self.recipe) for s in self.stages if s.kind == "global"},
            stage_dirs={s.dir_name for s in self.stages})
        inputs: list[InputShard] | list[str] = shards
        schema = None
        for stage in self.stages:
            if self._nothing_for(stage):
                break
            _check_fingerprint(stage, self.recipe, self.paths, self.folder)
            if stage.kind == "stream":
                first = isinstance(inputs[0], InputShard) if inputs else False
                inputs = self.run_stream(stage, inputs, schema)
                schema = stage.schema
                if first:
                    self.check_ids(stage, inputs, schema)
            else:
                self.run_global(stage, inputs, schema)  # type: ignore[arg-type]
        foreign = self.folder.foreign_files("data")
        if foreign:
            self.progress.log(f"note: data/ holds {len(foreign)} files Garden did not write "
                              f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): "
                              f"left alone, and not part of the output")
        stats = self.ledger.stats(self.recipe, input_shards=len(shards), input_bytes=sum(s.size for s in shards),
                                  workers=self.executor.workers, executor=self.executor.name,
                                  seconds=time.time() - t0)
        stats.write(fs.join(self.paths.root, "stats.json"))
        stats.check()
        if self.ledger.stopped:
            raise EmptyStageError(self.ledger.stopped.message)
        return stats

    def _nothing_for(self, stage: Stage) -> bool:
        """True (and the ledger's `stopped` set) when a global stage would start with no documents."""
        if stage.kind != "global" or self.ledger.documents_left() != 0:
            return False
        self.ledger.stopped = stop_before(self.recipe, self.ledger.stream, stage.ops[0])
        for rest in self.stages[stage.index:]:  # outputs of an earlier run of these stages are stale now
            _check_fingerprint(rest, self.recipe, self.paths, self.folder)
        return True

    def check_ids(self, stage: Stage, outputs: list[str], schema: pa.Schema) -> None:
        """Ids must be unique across shards too; report (not drop) documents that share one."""
        import numpy as np

        from garden.executor.id_check import find_duplicate_ids
        from garden.executor.stats import DuplicateIds
        from garden.hashing import values_hash64
        from garden.io.outputs import read_output_batches

        ids_dir = fs.join(self.paths.stage_dir(stage), "ids")
        paths = [fs.join(ids_dir, f"shard-{k:05d}.npy") for k in range(len(outputs))]
        dups, hashes = find_duplicate_ids(paths)
        examples: list[str] = []
        wanted = np.array(hashes, dtype=np.uint64)
        for path in outputs if dups else []:
            for batch in read_output_batches(path, schema, 65536):
                ids = batch.column("id")
                hits = ids.filter(pa.array(np.isin(values_hash64(ids), wanted))).to_pylist()
                examples.extend(i for i in hits if i not in examples)
            if len(examples) >= len(wanted):
                break
        self.ledger.duplicate_ids = DuplicateIds(dups, examples[:5])
        if dups:
            self.progress.log(f"warning: {dups} documents share their id with a document in another shard "
                              f"(e.g. {', '.join(examples[:3])}); ids should be unique")
