"""Drive a recipe through its stages: plan, skip completed work, run tasks, account, summarise."""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from typing import Any

from garden.executor.empty import EmptyStageError, documents_left, stop_before
from garden.executor.plan import RunPaths, Stage, build_plan, op_key, op_label, reject_schema
from garden.io import fs
from garden.io.identity import identify
from garden.io.inputs import InputShard, plan_inputs, plan_key
from garden.io.writer import EXTENSIONS, atomic_write_bytes, atomic_write_json, read_json
from garden.operator import StageContext
from garden.progress import Progress
from garden.recipe import Recipe
from garden.run_folder import RunFolder


def _existing(paths) -> set[str]:
    """The paths that exist, with one listing per directory (a request each on object stores)."""
    by_dir: dict[str, list[str]] = defaultdict(list)
    for p in paths:
        by_dir[fs.dirname(p)].append(p)
    found: set[str] = set()
    for d, ps in by_dir.items():
        names = set(fs.listdir(d))
        found.update(p for p in ps if p.rsplit("/", 1)[-1] in names)
    return found


def _partition_files(scan_dir: str, scan_results: list[dict], partition: int) -> dict:
    """{"files": [...]}: the scan outputs of one partition, named from the scan markers, so
    that a reduce task lists no directory (a LIST per shard on an object store); {} when a
    marker predates that record (the task then globs)."""
    if not scan_results or any("partitions" not in r for r in scan_results):
        return {}
    return {"files": [fs.join(scan_dir, f"shard-{r['shard']:05d}", f"p{partition:04d}.parquet")
                      for r in scan_results if partition in r["partitions"]]}


class AccountingError(RuntimeError):
    """input_docs != kept + rejected + quarantined: something was lost."""


def _load_plan(recipe: Recipe, paths: RunPaths, verify: bool, log) -> tuple[str, list[InputShard]]:
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


def _clean_stage(stage: Stage, recipe: Recipe, paths: RunPaths, folder: RunFolder) -> None:
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
    _clean_stage(stage, recipe, paths, folder)
    atomic_write_bytes(fp_path, stage.fingerprint.encode())


class Run:
    def __init__(self, recipe: Recipe, executor: Any, progress: Progress, folder: RunFolder | None = None,
                 verify_inputs: bool = False) -> None:
        self.recipe = recipe
        self.paths = RunPaths(recipe.output)
        self.folder = folder or RunFolder(recipe.output, progress.log)
        self.verify_inputs = verify_inputs
        self.executor = executor
        self.progress = progress
        self.artifacts: dict[str, Any] = {}
        self.stage_stats: dict[int, list[dict]] = {}
        self.global_stats: dict[str, dict] = {}

    # -- helpers -----------------------------------------------------------------------
    def _ctx(self, stage: Stage, **kw) -> dict:
        work = fs.join(self.paths.stage_dir(stage), "op")
        return dict(run_dir=self.paths.root, work_dir=work, artifacts=dict(self.artifacts), **kw)

    def _execute(self, label: str, fn: str, all_tasks: list[dict], describe) -> list[dict]:
        done = _existing(t["marker"] for t in all_tasks)
        todo = [t for t in all_tasks if t["marker"] not in done]
        # read back concurrently: on an object store each marker is a request
        results = [json.loads(raw) for _, raw in fs.prefetched([t["marker"] for t in all_tasks if t["marker"] in done])]
        self.progress.start(label, len(all_tasks), skipped=len(results))
        for res in self.executor.run(fn, todo, describe):
            results.append(res)
            self.progress.task_done()
        self.progress.finish()
        return results

    # -- stages ------------------------------------------------------------------------
    def run_stream(self, stage: Stage, inputs: list[Any], in_schema) -> list[str]:
        sdir = self.paths.stage_dir(stage)
        fmt = self.recipe.output_format if stage.final else "parquet"
        out_dir = self.paths.data if stage.final else fs.join(sdir, "data")
        ops = []
        rejects = {}
        for spec in stage.all_ops():
            is_apply = spec is stage.apply_op
            label = op_label(spec, self.recipe)
            prepare = None
            if is_apply:
                gstage = self.global_stage_of[spec.index]
                prepare = self._ctx(gstage)
            ops.append({"key": op_key(spec), "label": label, "name": spec.name, "params": spec.params,
                        "prepare": prepare, "sources": spec.sources})
            rejects[label] = {"schema": reject_schema(stage, spec), "path": None}
        task_list, outputs = [], []
        for k, src in enumerate(inputs):
            out_path = fs.join(out_dir, f"part-{k:05d}{EXTENSIONS[fmt]}")
            outputs.append(out_path)
            task = {
                "stage": stage.index, "shard": k, "ops": ops, "schema": stage.schema, "out_path": out_path,
                "out_format": fmt, "batch_size": self.recipe.batch_size,
                "max_record_bytes": self.recipe.max_record_bytes,
                "rejects": {label: {"schema": r["schema"],
                                    "path": fs.join(self.paths.rejected_dir(label), f"part-{k:05d}{EXTENSIONS[fmt]}")}
                            for label, r in rejects.items()},
                "quarantine_path": fs.join(self.paths.quarantine, f"s{stage.index:02d}-part-{k:05d}.jsonl"),
                "marker": fs.join(sdir, "done", f"shard-{k:05d}.json"),
            }
            if isinstance(src, InputShard):
                task["input_shard"] = src.to_dict()
                task["ids_path"] = fs.join(sdir, "ids", f"shard-{k:05d}.npy")
            else:
                task["in_path"], task["in_schema"] = src, in_schema
            task_list.append(task)

        def describe(t: dict) -> str:
            where = t["input_shard"]["path"] if "input_shard" in t else t["in_path"]
            return f"stage {stage.index} (stream) shard {t['shard']} ({where})"

        names = "+".join(s.name for s in stage.all_ops()) or "read/write"
        self.stage_stats[stage.index] = sorted(
            self._execute(f"stage {stage.index}: {names}", "stream", task_list, describe), key=lambda r: r["shard"])
        return outputs

    def run_global(self, stage: Stage, inputs: list[str], in_schema) -> None:
        spec = stage.ops[0]
        op = spec.build()
        sdir = self.paths.stage_dir(stage)
        stats: dict[str, Any] = {"phases": {}}
        cls = type(op)
        from garden.operator import GlobalOp

        scan_results: list[dict] = []
        if cls.scan is not GlobalOp.scan or cls.scan_end is not GlobalOp.scan_end:
            t0 = time.perf_counter()
            scan_dir = fs.join(sdir, "scan")
            task_list = []
            for k, path in enumerate(inputs):
                ctx = self._ctx(stage, shard=k, num_shards=len(inputs),
                                shard_dir=fs.join(sdir, "side", f"shard-{k:05d}") if cls.scan_side_outputs else "")
                task_list.append({"stage": stage.index, "shard": k, "name": spec.name, "params": spec.params,
                                  "ctx": ctx, "in_path": path, "in_schema": in_schema,
                                  "batch_size": self.recipe.batch_size,
                                  "out_dir": fs.join(scan_dir, f"shard-{k:05d}"),
                                  "marker": fs.join(sdir, "done", f"scan-{k:05d}.json")})
            res = self._execute(f"stage {stage.index}: {spec.name} scan", "scan", task_list,
                                lambda t: f"stage {stage.index} ({spec.name} scan) shard {t['shard']} ({t['in_path']})")
            stats["phases"]["scan"] = {"seconds": round(time.perf_counter() - t0, 3),
                                       "rows": sum(r["rows_out"] for r in res)}
            scan_results = sorted(res, key=lambda r: r["shard"])
        if cls.num_partitions and cls.reduce is not GlobalOp.reduce:
            t0 = time.perf_counter()
            task_list = [{"stage": stage.index, "partition": p, "name": spec.name, "params": spec.params,
                          "ctx": self._ctx(stage, shard=p, num_shards=len(inputs)),
                          "scan_dir": fs.join(sdir, "scan"),
                          "out_path": fs.join(sdir, "reduce", f"p{p:04d}.parquet"),
                          "marker": fs.join(sdir, "done", f"reduce-{p:04d}.json"),
                          **_partition_files(fs.join(sdir, "scan"), scan_results, p)}
                         for p in range(cls.num_partitions)]
            res = self._execute(f"stage {stage.index}: {spec.name} reduce", "reduce", task_list,
                                lambda t: f"stage {stage.index} ({spec.name} reduce) partition {t['partition']}")
            stats["phases"]["reduce"] = {"seconds": round(time.perf_counter() - t0, 3),
                                         "rows": sum(r["rows_out"] for r in res)}
        marker = fs.join(sdir, "done", "finalize.json")
        if fs.exists(marker):
            final = read_json(marker)
        else:
            t0 = time.perf_counter()
            self.progress.log(f"stage {stage.index}: {spec.name} finalize")
            ctx = StageContext(**self._ctx(stage, num_shards=len(inputs), input_shards=tuple(inputs)))
            fs.makedirs(ctx.work_dir)
            label = op_label(spec, self.recipe)
            self.folder.remove_step_outputs(label)  # what an earlier version of this step left
            before = self.folder.top_level()
            final = op.finalize(ctx) or {}
            self.folder.record_step_outputs(label, before)
            final["seconds"] = round(time.perf_counter() - t0, 3)
            atomic_write_json(marker, final)
        stats["phases"]["finalize"] = {"seconds": final.get("seconds", 0)}
        self.artifacts.update(final.get("artifacts", {}))
        stats["result"] = {k: v for k, v in final.items() if k not in ("artifacts", "seconds")}
        self.global_stats[op_key(spec)] = stats

    # -- the whole run -----------------------------------------------------------------
    def execute(self) -> dict:
        t0 = time.time()
        fs.makedirs(self.paths.work)
        fp, shards = _load_plan(self.recipe, self.paths, self.verify_inputs, self.progress.log)
        stages = build_plan(self.recipe, fp)
        self.stages = stages
        self.global_stage_of = {s.ops[0].index: s for s in stages if s.kind == "global"}
        self.progress.log(f"{self.recipe.name}: {len(shards)} input shards, {len(stages)} stages, "
                          f"{self.executor.workers} workers ({self.executor.name})")
        self.folder.remove_stale(
            stream_labels={op_label(o, self.recipe) for s in stages if s.kind == "stream" for o in s.all_ops()},
            step_labels={op_label(s.ops[0], self.recipe) for s in stages if s.kind == "global"},
            stage_dirs={s.dir_name for s in stages})
        inputs: list[Any] = shards
        schema = None
        self.stopped = None
        for stage in stages:
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
                self.run_global(stage, inputs, schema)
        foreign = self.folder.foreign_files("data")
        if foreign:
            self.progress.log(f"note: data/ holds {len(foreign)} files Garden did not write "
                              f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): "
                              f"left alone, and not part of the output")
        stats = self.summarise(stages, shards, time.time() - t0)
        if self.stopped:
            raise EmptyStageError(self.stopped.message)
        return stats

    def _nothing_for(self, stage: Stage) -> bool:
        """True (and self.stopped set) when a global stage would start with no documents."""
        if stage.kind != "global" or documents_left(self.stage_stats) != 0:
            return False
        self.stopped = stop_before(self.recipe, self.stage_stats, stage.ops[0])
        for rest in self.stages[stage.index:]:  # outputs of an earlier run of these stages are stale now
            _check_fingerprint(rest, self.recipe, self.paths, self.folder)
        return True

    def check_ids(self, stage: Stage, outputs: list[str], schema) -> None:
        """Ids must be unique across shards too; report (not drop) documents that share one."""
        from garden.executor.id_check import find_duplicate_ids, id_hash
        from garden.executor.tasks import read_output

        ids_dir = fs.join(self.paths.stage_dir(stage), "ids")
        paths = [fs.join(ids_dir, f"shard-{k:05d}.npy") for k in range(len(outputs))]
        dups, hashes = find_duplicate_ids(paths)
        examples: list[str] = []
        wanted = set(hashes)
        for path in outputs if dups else []:
            for batch in read_output(path, schema, 65536):
                examples.extend(i for i in batch.column("id").to_pylist() if id_hash(i) in wanted and i not in examples)
            if len(examples) >= len(wanted):
                break
        self.duplicate_ids = {"count": dups, "examples": examples[:5]}
        if dups:
            self.progress.log(f"warning: {dups} documents share their id with a document in another shard "
                              f"(e.g. {', '.join(examples[:3])}); ids should be unique")

    def summarise(self, stages: list[Stage], shards: list[InputShard], seconds: float) -> dict:
        stream = [s for s in stages if s.kind == "stream" and s.index in self.stage_stats]  # that ran
        first, final = self.stage_stats[stream[0].index], self.stage_stats[stream[-1].index]
        input_docs = sum(r["in"] for r in first)
        kept = sum(r["out"] for r in final)
        quarantined = sum(r["read_quarantined"] + r["op_quarantined"] for s in stream for r in self.stage_stats[s.index])
        op_totals: dict[str, dict] = {}
        for s in stream:
            for r in self.stage_stats[s.index]:
                for key, st in r["ops"].items():
                    tot = op_totals.setdefault(key, {"in": 0, "out": 0, "dropped": Counter(), "errors": 0, "seconds": 0.0,
                                                      "chars_in": 0, "chars_out": 0})
                    tot["in"] += st["in"]
                    tot["out"] += st["out"]
                    tot["chars_in"] += st.get("chars_in", 0)  # absent in markers of older runs
                    tot["chars_out"] += st.get("chars_out", 0)
                    tot["dropped"].update(st["dropped"])
                    tot["errors"] += st["errors"]
                    tot["seconds"] += st["seconds"]
        rejected = sum(sum(t["dropped"].values()) for t in op_totals.values())
        ops = []
        for spec in self.recipe.pipeline:
            key = op_key(spec)
            tot = op_totals.get(key, {"in": 0, "out": 0, "dropped": Counter(), "errors": 0, "seconds": 0.0})
            entry = {"name": spec.name, "kind": spec.cls.kind, "in": tot["in"], "out": tot["out"],
                     "dropped": dict(sorted(tot["dropped"].items())), "errors": tot["errors"],
                     "seconds": round(tot["seconds"], 3),
                     "chars_in": tot.get("chars_in", 0), "chars_out": tot.get("chars_out", 0)}
            if key not in op_totals and key not in self.global_stats:
                entry["not_run"] = True
            if key in self.global_stats:
                g = self.global_stats[key]
                entry.update(g["result"])  # the operator's own figures (clusters, tokens, phases...)
                entry["timing"] = g["phases"]  # seconds per global phase (scan, reduce, finalize)
                entry["seconds"] = round(entry["seconds"] + sum(p.get("seconds", 0) for p in g["phases"].values()), 3)
            ops.append(entry)
        sources: dict[str, Counter] = defaultdict(Counter)
        for r in first:
            for src, c in r["sources"].items():
                sources[src]["input"] += c.get("in", 0)
        for s in stream:
            for r in self.stage_stats[s.index]:
                for src, c in r["sources"].items():
                    sources[src]["rejected"] += c.get("rejected", 0)
                    sources[src]["quarantined"] += c.get("quarantined", 0)
        for r in final:
            for src, c in r["sources"].items():
                sources[src]["kept"] += c.get("kept", 0)
        stats = {
            "recipe": self.recipe.name,
            "input_docs": input_docs,
            "kept_docs": kept,
            "rejected_docs": rejected,
            "quarantined_docs": quarantined,
            "blank_lines": sum(r["blank_lines"] for r in first),
            "input_shards": len(shards),
            "input_bytes": sum(s.size for s in shards),
            "ops": ops,
            "sources": {k: {f: v.get(f, 0) for f in ("input", "kept", "rejected", "quarantined")}
                        for k, v in sorted(sources.items())},
            "duplicate_ids": getattr(self, "duplicate_ids", {"count": 0, "examples": []}),
            "artifacts": self.artifacts,
            "workers": self.executor.workers,
            "executor": self.executor.name,
            "seconds": round(seconds, 3),
        }
        stats["accounting_ok"] = input_docs == kept + rejected + quarantined
        if getattr(self, "stopped", None):
            stats["stopped"] = self.stopped.to_dict()
        atomic_write_json(fs.join(self.paths.root, "stats.json"), stats)
        if not stats["accounting_ok"]:
            raise AccountingError(
                f"documents lost: input {input_docs} != kept {kept} + rejected {rejected} + quarantined {quarantined}")
        return stats
