"""YAML recipes: load safely, validate against the operator registry, resolve defaults.

Every error names the recipe file, the line and the entry, so a typo fails in a second
instead of after an hour of processing.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any

import yaml

from garden import registry
from garden.io import fs
from garden.operator import Operator

OUTPUT_FORMATS = ("parquet", "jsonl", "jsonl.gz", "jsonl.zst")
INPUT_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet", ".json", ".json.gz", ".json.zst")
TOP_KEYS = {"name", "inputs", "output", "workers", "pipeline", "output_format", "shard_size",
            "batch_size", "description"}
INPUT_KEYS = {"path", "source", "text_field", "id_field"}


class RecipeError(ValueError):
    """A recipe that cannot run; the message names file, line and entry."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    path: str
    source: str
    text_field: str = "text"
    id_field: str = "id"

    def files(self) -> list[str]:
        if any(ch in self.path for ch in "*?["):
            return fs.glob(self.path)
        return [self.path] if fs.exists(self.path) else []

    def base_dir(self) -> str:
        """The non-wildcard prefix of the path; generated ids are relative to it."""
        parts = self.path.split("/")
        fixed = []
        for part in parts:
            if any(ch in part for ch in "*?["):
                break
            fixed.append(part)
        base = "/".join(fixed) if len(fixed) < len(parts) else fs.dirname(self.path)
        return base or "."


@dataclasses.dataclass
class OpSpec:
    name: str
    params: dict[str, Any]
    line: int
    index: int
    sources: list[str] | None = None  # apply only to these sources (mappers/filters); None = all

    def build(self) -> Operator:
        return registry.get(self.name)(**self.params)

    @property
    def cls(self) -> type[Operator]:
        return registry.get(self.name)


@dataclasses.dataclass
class Recipe:
    name: str
    inputs: list[InputSpec]
    output: str
    pipeline: list[OpSpec]
    workers: int = 1
    output_format: str = "parquet"
    shard_size: int = 32 * 1024 * 1024  # input bytes per shard
    batch_size: int = 2000
    path: str = "<recipe>"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "inputs": [dataclasses.asdict(i) for i in self.inputs],
            "output": self.output,
            "workers": self.workers,
            "output_format": self.output_format,
            "shard_size": self.shard_size,
            "batch_size": self.batch_size,
            "pipeline": [{op.name: op.params, **({"sources": op.sources} if op.sources else {})}
                         for op in self.pipeline],
        }


def parse_size(value: Any) -> int:
    """'32MB', '1GiB', 1e6 or 4096 → bytes."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip().upper().replace("IB", "B")
    for suffix, mult in (("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40), ("B", 1)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * mult)
    return int(float(text))


def check_type(value: Any, tp: Any, where: str) -> Any:
    """Return value (numbers coerced where lossless) or raise RecipeError naming `where`."""
    if tp is Any or tp is None:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:
        for arg in args:
            try:
                return check_type(value, arg, where)
            except RecipeError:
                continue
        raise RecipeError(f"{where}: expected {_tname(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise RecipeError(f"{where}: expected one of {list(args)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value)
                if f.is_integer():
                    return int(f)
            except ValueError:
                pass
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads 2e9 as a string
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list or tp is list:
        if isinstance(value, list):
            item = args[0] if args else Any
            return [check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            kt, vt = args if args else (Any, Any)
            return {check_type(k, kt, where): check_type(v, vt, f"{where}.{k}") for k, v in value.items()}
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise RecipeError(f"{where}: expected {_tname(tp)}, got {value!r}")


def _tname(tp: Any) -> str:
    from garden.operator import type_name

    return type_name(tp)


def resolve_op(name: str, raw: Any, where: str) -> dict[str, Any]:
    """Validate one pipeline entry's parameters and fill in defaults."""
    try:
        cls = registry.get(name)
    except KeyError as exc:
        raise RecipeError(f"{where}: {exc.args[0]}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: parameters of '{name}' must be a mapping, got {raw!r}")
    params = {p.name: p for p in cls.params()}
    resolved = {}
    for key, value in raw.items():
        if key not in params:
            msg = registry.unknown_message(f"parameter of '{name}'", str(key), params)
            raise RecipeError(f"{where}: {msg}")
        resolved[key] = check_type(value, params[key].type, f"{where}: {name}.{key}")
    for p in params.values():
        resolved.setdefault(p.name, p.default)
    validate = getattr(cls, "validate_params", None)
    if validate:
        try:
            validate(resolved)
        except ValueError as exc:
            raise RecipeError(f"{where}: {name}: {exc}") from None
    return resolved


def _check_in_recipe(name: str, params: dict, earlier: list[str], where: str) -> None:
    """An operator's `validate_in_recipe(params, earlier_step_names)`: checks that need the steps before it."""
    check = getattr(registry.get(name), "validate_in_recipe", None)
    if check:
        try:
            check(params, earlier)
        except ValueError as exc:
            raise RecipeError(f"{where}: {name}: {exc}") from None


def _step_sources(only: Any, name: str, inputs: list[InputSpec], where: str) -> list[str] | None:
    """`sources: [web]` beside an operator: it sees only those sources' documents."""
    if only is None:
        return None
    if isinstance(only, str):
        only = [only]
    if not isinstance(only, list) or not only or not all(isinstance(s, str) for s in only):
        raise RecipeError(f"{where}: sources must be a list of source names")
    known = {i.source for i in inputs}
    for src in only:
        if src not in known:
            raise RecipeError(f"{where}: {registry.unknown_message('source', src, known)}")
    if registry.get(name).kind == "global":
        raise RecipeError(f"{where}: `sources` applies to mappers and filters; '{name}' is global")
    return sorted(only)


def _pipeline_lines(text: str) -> list[int]:
    """1-based line of each pipeline entry, from the YAML node tree."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, node in root.value:
        if key.value == "pipeline" and isinstance(node, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in node.value]
    return []


def load_recipe(path: str, overrides: dict[str, Any] | None = None, check_inputs: bool = True) -> Recipe:
    """Read and validate a recipe; raises RecipeError before any work starts."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read recipe: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: invalid YAML: {exc}") from None
    return recipe_from_dict(data, path, _pipeline_lines(text), overrides, check_inputs)


def recipe_from_dict(data: Any, path: str = "<recipe>", lines: list[int] | None = None,
                     overrides: dict[str, Any] | None = None, check_inputs: bool = True) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with name, inputs, output, pipeline")
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    for key in data:
        if key not in TOP_KEYS:
            raise RecipeError(f"{path}: {registry.unknown_message('recipe key', str(key), TOP_KEYS)}")
    for key in ("inputs", "output", "pipeline"):
        if key not in data:
            raise RecipeError(f"{path}: missing required key '{key}'")
    if not isinstance(data["output"], str) or not data["output"].strip():
        raise RecipeError(f"{path}: 'output' must be a folder path, got {data['output']!r}")
    raw_inputs = data["inputs"]
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise RecipeError(f"{path}: 'inputs' must be a non-empty list of {{path, source}}")
    inputs = []
    for i, raw in enumerate(raw_inputs):
        where = f"{path}: inputs[{i}]"
        if isinstance(raw, str):
            raw = {"path": raw}
        if not isinstance(raw, dict) or "path" not in raw:
            raise RecipeError(f"{where}: expected a mapping with 'path'")
        for key in raw:
            if key not in INPUT_KEYS:
                raise RecipeError(f"{where}: {registry.unknown_message('input key', str(key), INPUT_KEYS)}")
        spec = InputSpec(path=str(raw["path"]), source=str(raw.get("source", f"input{i}")),
                         text_field=str(raw.get("text_field", "text")), id_field=str(raw.get("id_field", "id")))
        if check_inputs:
            files = spec.files()
            if not files:
                raise RecipeError(f"{where}: no input file matches '{spec.path}'")
            for f in files:
                if not f.endswith(INPUT_SUFFIXES) and fs.isfile(f):
                    raise RecipeError(f"{where}: '{f}' is not .jsonl, .jsonl.gz, .jsonl.zst or .parquet")
        inputs.append(spec)
    pipeline_raw = data["pipeline"] or []
    if not isinstance(pipeline_raw, list):
        raise RecipeError(f"{path}: 'pipeline' must be a list of {{op_name: {{params}}}}")
    lines = lines or []
    pipeline = []
    for i, entry in enumerate(pipeline_raw):
        line = lines[i] if i < len(lines) else 0
        where = f"{path}:{line}: pipeline[{i}]" if line else f"{path}: pipeline[{i}]"
        if isinstance(entry, str):
            entry = {entry: {}}
        if isinstance(entry, dict):
            entry = dict(entry)
            only = entry.pop("sources", None)
        if not isinstance(entry, dict) or len(entry) != 1:
            raise RecipeError(f"{where}: each step is a mapping with exactly one operator name "
                              f"(and optionally `sources: [...]`)")
        (name, raw), = entry.items()
        params = resolve_op(str(name), raw, where)
        _check_in_recipe(str(name), params, [op.name for op in pipeline], where)
        pipeline.append(OpSpec(name=str(name), params=params, line=line, index=i,
                               sources=_step_sources(only, str(name), inputs, where)))
    fmt = data.get("output_format", "parquet")
    if fmt not in OUTPUT_FORMATS:
        raise RecipeError(f"{path}: output_format must be one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}")
    try:
        workers = int(data.get("workers", 1))
        shard_size = parse_size(data.get("shard_size", 32 * 1024 * 1024))
        batch_size = int(data.get("batch_size", 2000))
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{path}: {exc}") from None
    if workers < 1 or shard_size < 1 or batch_size < 1:
        raise RecipeError(f"{path}: workers, shard_size and batch_size must be positive")
    return Recipe(name=str(data.get("name", os.path.splitext(os.path.basename(path))[0])), inputs=inputs,
                  output=str(data["output"]), pipeline=pipeline, workers=workers, output_format=fmt,
                  shard_size=shard_size, batch_size=batch_size, path=path)
