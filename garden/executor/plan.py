"""The execution plan: the pipeline cut into fused streaming stages and global barriers.

    [mappers/filters...] → global op (scan → shuffle → reduce → finalize) → [apply + mappers/filters...] → ...

Each stage has a fingerprint chained from the previous one, so a change to the recipe or the
inputs invalidates exactly that stage and what follows it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import pyarrow as pa

from garden import __version__
from garden.io import fs
from garden.io.lines import DEFAULT_MAX_RECORD_BYTES
from garden.recipe import OpSpec, Recipe

BASE_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("meta", pa.string())])


@dataclasses.dataclass
class Stage:
    index: int
    kind: str                      # "stream" | "global"
    ops: list[OpSpec]              # stream: mappers/filters; global: [the op]
    apply_op: OpSpec | None = None  # stream only: the preceding global op's apply, run first
    final: bool = False            # the last stream stage writes data/
    fingerprint: str = ""
    schema: pa.Schema = BASE_SCHEMA  # stream: schema of the rows it writes

    @property
    def dir_name(self) -> str:
        label = self.ops[0].name if self.kind == "global" else "stream"
        return f"s{self.index:02d}-{label}"

    def all_ops(self) -> list[OpSpec]:
        return ([self.apply_op] if self.apply_op else []) + self.ops


def op_label(spec: OpSpec, recipe: Recipe) -> str:
    """Directory name under rejected/: the op name, suffixed with its index if it repeats."""
    same = [o for o in recipe.pipeline if o.name == spec.name]
    return spec.name if len(same) == 1 else f"{spec.name}-{spec.index}"


def op_key(spec: OpSpec) -> str:
    return f"{spec.index}:{spec.name}"


def build_plan(recipe: Recipe, input_fingerprint: str) -> list[Stage]:
    stages: list[Stage] = []
    current: list[OpSpec] = []
    pending_apply: OpSpec | None = None
    stream_seen = False

    def flush(force: bool = False) -> None:
        nonlocal current, pending_apply, stream_seen
        if current or pending_apply or force or not stream_seen:
            stages.append(Stage(len(stages), "stream", current, pending_apply))
            stream_seen = True
        current, pending_apply = [], None

    for spec in recipe.pipeline:
        if spec.cls.kind == "global":
            flush()
            stages.append(Stage(len(stages), "global", [spec]))
            if spec.cls.has_apply:
                pending_apply = spec
        else:
            current.append(spec)
    flush(force=bool(current or pending_apply))
    stream = [s for s in stages if s.kind == "stream"]
    stream[-1].final = True

    fields = list(BASE_SCHEMA)
    head = f"{__version__}|{input_fingerprint}|{recipe.batch_size}"
    if recipe.max_record_bytes != DEFAULT_MAX_RECORD_BYTES:  # what the reader quarantines; default: as before
        head += f"|{recipe.max_record_bytes}"
    prev = hashlib.sha256(head.encode()).hexdigest()
    for stage in stages:
        if stage.kind == "stream":
            for spec in stage.all_ops():
                for name, tp in spec.cls.outputs.items():
                    if name not in [f.name for f in fields]:
                        fields.append(pa.field(name, tp))
            stage.schema = pa.schema(fields)
        desc = {
            "kind": stage.kind,
            "ops": [{op.name: op.params, "sources": op.sources, "files": referenced_files(op.params)}
                    for op in stage.ops],
            "apply": stage.apply_op.name if stage.apply_op else None,
            "final_format": recipe.output_format if stage.final else None,
        }
        prev = hashlib.sha256((prev + json.dumps(desc, sort_keys=True, default=str)).encode()).hexdigest()
        stage.fingerprint = prev[:16]
    return stages


def referenced_files(params: dict) -> list[str]:
    """The fingerprint of every file a parameter names (eval sets, word lists, models), so that
    editing such a file in place invalidates the stage like a changed parameter does."""
    from garden.io.identity import sampled_fingerprint

    found = []
    values = list(params.values())
    while values:
        value = values.pop()
        if isinstance(value, (list, tuple)):
            values.extend(value)
        elif isinstance(value, dict):
            values.extend(value.values())
        elif isinstance(value, str) and value and len(value) < 4096:
            paths = fs.glob(value) if any(c in value for c in "*?[") else [value]
            found.extend(f"{fs.abspath(p)}:{sampled_fingerprint(p)}" for p in paths if _is_file(p))
    return sorted(found)


def _is_file(value: str) -> bool:
    if fs.is_url(value):  # only URLs of a filesystem fsspec knows; any other string is no file
        try:
            return fs.isfile(value)
        except Exception:
            return False
    return os.path.isfile(value)


def reject_schema(stage: Stage, spec: OpSpec) -> pa.Schema:
    fields = list(stage.schema) + [pa.field("reason", pa.string())]
    for name, tp in spec.cls.reject_outputs.items():
        if name not in stage.schema.names:
            fields.append(pa.field(name, tp))
    return pa.schema(fields)


@dataclasses.dataclass(frozen=True)
class RunPaths:
    root: str

    @property
    def data(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def work(self) -> str:
        return os.path.join(self.root, "_work")

    def stage_dir(self, stage: Stage) -> str:
        return os.path.join(self.work, stage.dir_name)

    def rejected_dir(self, label: str) -> str:
        return os.path.join(self.root, "rejected", label)

    @property
    def quarantine(self) -> str:
        return os.path.join(self.root, "quarantine")
