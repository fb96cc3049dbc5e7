"""Planning: the input shards of a run, and the typed tasks of each stage.

`load_inputs` cuts the inputs into shards (cached in _work/plan.json while the inputs keep
their identity); `Planner` turns a stage of the plan (garden.executor.plan) into the tasks of
garden.executor.tasks, with every path, operator spec and context they need, so that a worker
needs nothing else. Running them is garden.executor.runner's job.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import pyarrow as pa

from garden.executor.plan import RunPaths, Stage, op_label, reject_schema
from garden.executor.stats import ScanResult
from garden.executor.tasks import (FinalizeTask, ReduceTask, RejectSink, ScanTask, StageInput, StreamStep,
                                   StreamTask)
from garden.io import fs
from garden.io.identity import identify
from garden.io.inputs import InputShard, plan_inputs, plan_key
from garden.io.writer import EXTENSIONS, atomic_write_json, read_json
from garden.operator import StageContext
from garden.recipe import Recipe


def load_inputs(recipe: Recipe, paths: RunPaths, verify: bool, log: Callable[[str], None]
                ) -> tuple[str, list[InputShard]]:
    """The input shards and the key every stage fingerprint chains from.

    The cached plan is reused only when every input still has its recorded identity; with
    `verify` the full-content hashes must match too (a plan without them is recomputed,
    since nothing proves its inputs unchanged)."""
    files = sorted({f for spec in recipe.inputs for f in spec.files()})
    identities = {f: identify(f, verify) for f in files}
    sampled = {f: i.sampled for f, i in identities.items()}
    specs = plan_key(recipe.inputs, recipe.shard_size, {})
    cache = fs.join(paths.work, "plan.json")
    full = {f: i.full for f, i in identities.items()} if verify else None
    if fs.exists(cache):
        cached = read_json(cache)
        changed = _changed_inputs(cached, sampled, full)
        if cached.get("specs") == specs and not changed:
            return cached["key"], [InputShard(**s) for s in cached["shards"]]
        if changed:
            log(f"inputs changed since the last run ({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''}): "
                f"everything that depends on them is recomputed")
    key = plan_key(recipe.inputs, recipe.shard_size, identities)
    shards = plan_inputs(recipe.inputs, recipe.shard_size, sampled)
    atomic_write_json(cache, {"key": key, "specs": specs, "sampled": sampled, "full": full,
                              "shards": [s.to_dict() for s in shards]})
    return key, shards


def _changed_inputs(cached: dict, sampled: dict[str, str], full: dict[str, str] | None) -> list[str]:
    """Files whose identity differs from the cached plan's; with full hashes, a plan that has
    none cannot prove anything unchanged, so every file counts as changed."""
    before = cached.get("sampled") or {}
    changed = {f for f in set(before) | set(sampled) if before.get(f) != sampled.get(f)}
    if full is not None:
        recorded = cached.get("full") or {}
        changed |= {f for f in full if recorded.get(f) != full[f]}
    return sorted(changed)


def _partition_files(scan_dir: str, scan_results: Sequence[ScanResult], partition: int) -> tuple[str, ...] | None:
    """The scan outputs of one partition, named from the scan markers, so that a reduce task
    lists no directory (a LIST per shard on an object store); None when a marker predates that
    record (the task then globs)."""
    if not scan_results or any(r.partitions is None for r in scan_results):
        return None
    return tuple(fs.join(scan_dir, f"shard-{r.shard:05d}", f"p{partition:04d}.parquet")
                 for r in scan_results if partition in (r.partitions or ()))


class Planner:
    """Builds the tasks of one run's stages (paths under the run folder, contexts, operator specs)."""

    def __init__(self, recipe: Recipe, paths: RunPaths) -> None:
        self.recipe = recipe
        self.paths = paths

    def context(self, stage: Stage, artifacts: dict[str, Any], shard: int = -1, shard_dir: str = "",
                num_shards: int = 0, input_shards: tuple[str, ...] = ()) -> StageContext:
        """What a global operator of `stage` sees: its private work dir, the run dir, earlier artifacts."""
        return StageContext(run_dir=self.paths.root, work_dir=fs.join(self.paths.stage_dir(stage), "op"),
                            shard=shard, shard_dir=shard_dir, num_shards=num_shards, input_shards=input_shards,
                            artifacts=dict(artifacts))

    def stream_tasks(self, stage: Stage, inputs: Sequence[InputShard | str], in_schema: pa.Schema | None,
                     apply_stage: Stage | None, artifacts: dict[str, Any]) -> list[StreamTask]:
        """One task per input shard; the first stream stage reads input files, later ones the
        previous stage's output. `apply_stage` is the global stage whose apply runs first."""
        sdir = self.paths.stage_dir(stage)
        fmt = self.recipe.output_format if stage.final else "parquet"
        out_dir = self.paths.data if stage.final else fs.join(sdir, "data")
        steps = []
        for spec in stage.all_ops():
            prepare = None
            if spec is stage.apply_op:
                assert apply_stage is not None
                prepare = self.context(apply_stage, artifacts)
            steps.append(StreamStep(spec, op_label(spec, self.recipe), prepare))
        schemas = {step.label: reject_schema(stage, step.spec) for step in steps}
        tasks = []
        for k, src in enumerate(inputs):
            first = isinstance(src, InputShard)
            tasks.append(StreamTask(
                stage=stage.index, shard=k, steps=tuple(steps), schema=stage.schema,
                source=src if isinstance(src, InputShard) else StageInput(src, in_schema),
                out_path=fs.join(out_dir, f"part-{k:05d}{EXTENSIONS[fmt]}"), out_format=fmt,
                batch_size=self.recipe.batch_size, max_record_bytes=self.recipe.max_record_bytes,
                rejects=tuple(RejectSink(label, schema,
                                         fs.join(self.paths.rejected_dir(label), f"part-{k:05d}{EXTENSIONS[fmt]}"))
                              for label, schema in schemas.items()),
                quarantine_path=fs.join(self.paths.quarantine, f"s{stage.index:02d}-part-{k:05d}.jsonl"),
                marker=fs.join(sdir, "done", f"shard-{k:05d}.json"),
                ids_path=fs.join(sdir, "ids", f"shard-{k:05d}.npy") if first else ""))
        return tasks

    def scan_tasks(self, stage: Stage, inputs: Sequence[str], in_schema: pa.Schema | None,
                   artifacts: dict[str, Any]) -> list[ScanTask]:
        spec = stage.ops[0]
        sdir = self.paths.stage_dir(stage)
        side = spec.cls.scan_side_outputs  # type: ignore[attr-defined]
        return [ScanTask(stage=stage.index, shard=k, spec=spec,
                         ctx=self.context(stage, artifacts, shard=k, num_shards=len(inputs),
                                          shard_dir=fs.join(sdir, "side", f"shard-{k:05d}") if side else ""),
                         source=StageInput(path, in_schema), batch_size=self.recipe.batch_size,
                         out_dir=fs.join(sdir, "scan", f"shard-{k:05d}"),
                         marker=fs.join(sdir, "done", f"scan-{k:05d}.json"))
                for k, path in enumerate(inputs)]

    def reduce_tasks(self, stage: Stage, num_inputs: int, scan_results: Sequence[ScanResult],
                     artifacts: dict[str, Any]) -> list[ReduceTask]:
        spec = stage.ops[0]
        sdir = self.paths.stage_dir(stage)
        scan_dir = fs.join(sdir, "scan")
        return [ReduceTask(stage=stage.index, partition=p, spec=spec,
                           ctx=self.context(stage, artifacts, shard=p, num_shards=num_inputs),
                           scan_dir=scan_dir, files=_partition_files(scan_dir, scan_results, p),
                           out_path=fs.join(sdir, "reduce", f"p{p:04d}.parquet"),
                           marker=fs.join(sdir, "done", f"reduce-{p:04d}.json"))
                for p in range(spec.cls.num_partitions)]  # type: ignore[attr-defined]

    def finalize_task(self, stage: Stage, inputs: Sequence[str], artifacts: dict[str, Any]) -> FinalizeTask:
        return FinalizeTask(stage=stage.index, spec=stage.ops[0],
                            ctx=self.context(stage, artifacts, num_shards=len(inputs), input_shards=tuple(inputs)),
                            marker=fs.join(self.paths.stage_dir(stage), "done", "finalize.json"))
