"""YAML recipes: load safely, validate against the operator registry, resolve defaults.

Every error names the recipe file, the line and the entry, so a typo fails in a second
instead of after an hour of processing.
"""
from __future__ import annotations

import dataclasses
import os
import re
import typing
from typing import Any

import yaml

from garden import registry
from garden.io import fs
from garden.io.input_files import InputFileError, input_files
from garden.io.inputs import InputSpec
from garden.io.lines import DEFAULT_MAX_RECORD_BYTES
from garden.operator import Operator

OUTPUT_FORMATS = ("parquet", "jsonl", "jsonl.gz", "jsonl.zst")
INPUT_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet", ".json", ".json.gz", ".json.zst")
TOP_KEYS = {"name", "inputs", "output", "workers", "pipeline", "output_format", "shard_size",
            "batch_size", "description", "max_record_bytes"}
INPUT_KEYS = {"path", "source", "text_field", "id_field"}


MAX_WORKERS = 4096  # processes on one machine, or Ray tasks at once
MAX_BATCH_SIZE = 1_000_000  # documents held in memory at once per worker


class RecipeError(ValueError):
    """A recipe that cannot run; the message names file, line and entry."""


@dataclasses.dataclass
class OpSpec:
    name: str
    params: dict[str, Any]
    line: int
    index: int
    sources: list[str] | None = None  # apply only to these sources (mappers/filters); None = all
    param_lines: dict[str, int] = dataclasses.field(default_factory=dict)  # parameter -> recipe line
    # Values the operator derives from `params`, computed once when the recipe is read (e.g.
    # MinHash bands × rows) and carried in every task, so no worker repeats the search. Not
    # part of the lock file or the fingerprint: they follow from `params`.
    derived: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def run_params(self) -> dict[str, Any]:
        """What the operator is built with: the recipe's parameters with the derived values."""
        return {**self.params, **self.derived}

    def where(self, path: str, param: str | None = None) -> str:
        """`recipe.yaml:12: pipeline[3]` (the parameter's own line when known), for error messages."""
        line = self.param_lines.get(param, self.line) if param else self.line
        return f"{_at(path, line)}: pipeline[{self.index}]"

    def build(self) -> Operator:
        return registry.get(self.name)(**self.run_params)

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
    key_lines: dict[str, int] = dataclasses.field(default_factory=dict)  # top-level key -> recipe line
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES  # a longer JSONL line is quarantined unread

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "inputs": [dataclasses.asdict(i) for i in self.inputs],
            "output": self.output,
            "workers": self.workers,
            "output_format": self.output_format,
            "shard_size": self.shard_size,
            "batch_size": self.batch_size,
            "max_record_bytes": self.max_record_bytes,
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


def resolve_op(name: str, raw: Any, where: str, param_lines: dict[str, int] | None = None) -> dict[str, Any]:
    """Validate one pipeline entry's parameters and fill in defaults.

    `where` is `file:line: pipeline[i]`; with `param_lines`, an error about one parameter
    names that parameter's own line instead of the step's.
    """
    def at(param: Any) -> str:
        line = (param_lines or {}).get(str(param))
        return re.sub(r"^(.*?):\d+: pipeline", lambda m: f"{m.group(1)}:{line}: pipeline", where) if line else where

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
            raise RecipeError(f"{at(key)}: {msg}")
        if cls.is_language_map(key, value):
            resolved[key] = _check_language_map(value, params[key].type, f"{at(key)}: {name}.{key}")
        else:
            resolved[key] = check_type(value, params[key].type, f"{at(key)}: {name}.{key}")
    for p in params.values():
        resolved.setdefault(p.name, p.default)
    try:
        cls.check_params(resolved)
    except ValueError as exc:
        raise RecipeError(f"{at(getattr(exc, 'param', None))}: {name}: {exc}") from None
    return resolved


def _check_language_map(value: dict, tp: Any, where: str) -> dict:
    """A per-language map (`{zh: 80, default: 50}`): known language keys, each value of the parameter's type."""
    from garden.languages import language_key

    out = {}
    for key, item in value.items():
        try:
            code = language_key(key)
        except ValueError as exc:
            raise RecipeError(f"{where}: {exc}") from None
        if code in out:
            raise RecipeError(f"{where}: '{key}' is given twice (as {code})")
        out[code] = check_type(item, tp, f"{where}.{key}")
    return out


def derive_params(name: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """An operator's `derived_params(params)`: parameter values it computes from the others
    (e.g. MinHash bands × rows from the threshold). Computed here once, on the driver."""
    derive = getattr(registry.get(name), "derived_params", None)
    if derive is None:
        return {}
    try:
        return dict(derive(params))
    except ValueError as exc:
        raise RecipeError(f"{where}: {name}: {exc}") from None


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


MAX_RECIPE_BYTES = 1 << 20  # a recipe is a page of YAML; a bigger file is a mistake or an attack
MAX_YAML_NODES = 1_000_000  # values after alias expansion (a billion-laughs recipe has 10^9)
MAX_FLOW_DEPTH = 64  # [ [ [ ... ] ] ] nesting: PyYAML's scanner is quadratic in it (2,000 deep: 10 s)


def _flow_depth(text: str) -> int:
    """Deepest nesting of [ ] and { } (brackets inside quoted strings count too: an upper bound)."""
    import numpy as np

    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = np.isin(raw, (ord("["), ord("{"))).astype(np.int32) - np.isin(raw, (ord("]"), ord("}")))
    if not steps.size:
        return 0
    level = np.cumsum(steps)  # floored at 0: a stray closing bracket does not hide depth
    return int((level - np.minimum.accumulate(np.minimum(level, 0))).max())


@dataclasses.dataclass
class RecipeLines:
    """1-based lines of a recipe's parts, so that errors can point at them."""

    keys: dict[str, int] = dataclasses.field(default_factory=dict)  # top-level key -> line
    steps: list[int] = dataclasses.field(default_factory=list)  # pipeline entry -> line
    params: list[dict[str, int]] = dataclasses.field(default_factory=list)  # per entry: parameter -> line


def _expanded_size(root: yaml.Node, path: str) -> int:
    """Number of values once every alias is expanded; refuses above MAX_YAML_NODES and cycles.

    PyYAML shares the object an alias points to, so loading is quick, but everything that walks
    the result (type checks, the lock file, fingerprints) sees the expansion: 9 nested lists of 9
    aliases are 10^9 values. Sizes are memoised per node, so this costs one pass over the nodes.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise RecipeError(f"{path}:{node.start_mark.line + 1}: a YAML alias refers to itself (recursive anchor)")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = total
        if total > MAX_YAML_NODES:
            raise RecipeError(f"{path}:{node.start_mark.line + 1}: this value expands to more than "
                              f"{MAX_YAML_NODES:,} values through YAML aliases (&anchor/*alias); "
                              f"write the value out or use fewer aliases")
        return total

    return size(root)


def _lines(root: yaml.Node | None) -> RecipeLines:
    out = RecipeLines()
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, node in root.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        out.keys[str(key.value)] = key.start_mark.line + 1
        if key.value == "pipeline" and isinstance(node, yaml.SequenceNode):
            for item in node.value:
                out.steps.append(item.start_mark.line + 1)
                params: dict[str, int] = {}
                if isinstance(item, yaml.MappingNode):
                    for _, op_node in item.value:
                        if isinstance(op_node, yaml.MappingNode):
                            params.update({str(k.value): k.start_mark.line + 1 for k, _ in op_node.value
                                           if isinstance(k, yaml.ScalarNode)})
                out.params.append(params)
    return out


def read_yaml(path: str, text: str) -> tuple[Any, RecipeLines]:
    """Parse a recipe's text with bounded size, nesting and alias expansion; raises RecipeError."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RECIPE_BYTES:
        raise RecipeError(f"{path}: a recipe is at most {MAX_RECIPE_BYTES >> 20} MB; put long lists "
                          f"(word lists, eval sets) in files that the operator reads (e.g. words_file)")
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise RecipeError(f"{path}: the YAML is nested too deeply (more than {MAX_FLOW_DEPTH} levels of [ ] or {{ }})")
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, RecipeLines()
        _expanded_size(root, path)
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise RecipeError(f"{path}: the YAML is nested too deeply") from None
    finally:
        loader.dispose()
    return data, _lines(root)


def load_recipe(path: str, overrides: dict[str, Any] | None = None, check_inputs: bool = True) -> Recipe:
    """Read and validate a recipe as a whole; raises RecipeError before any work starts.

    `garden validate` and `garden run` both call this, so validate refuses all that run would.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read recipe: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not UTF-8 text (byte {exc.start}): is this a recipe?") from None
    data, lines = read_yaml(path, text)
    return recipe_from_dict(data, path, lines, overrides, check_inputs)


def _at(path: str, line: int | None) -> str:
    return f"{path}:{line}" if line else path


def _check_scalars(data: dict, path: str, lines: RecipeLines) -> None:
    """`output: ~` is YAML null and `path: ~` too: refuse them rather than run into a folder named 'None'."""
    out = data["output"]
    if not isinstance(out, str) or not out.strip():
        raise RecipeError(f"{_at(path, lines.keys.get('output'))}: output must be a folder path or URL, "
                          f"got {'null (YAML ~ or an empty value)' if out is None else repr(out)}")
    for i, raw in enumerate(data["inputs"] if isinstance(data["inputs"], list) else []):
        raw = {"path": raw} if not isinstance(raw, dict) else raw
        for key in ("path", "source", "text_field", "id_field"):
            if key in raw and (not isinstance(raw[key], (str, int, float)) or isinstance(raw[key], bool)
                               or not str(raw[key]).strip()):
                raise RecipeError(f"{_at(path, lines.keys.get('inputs'))}: inputs[{i}]: {key} must be a "
                                  f"non-empty string, got {'null' if raw[key] is None else repr(raw[key])}")


def recipe_from_dict(data: Any, path: str = "<recipe>", lines: RecipeLines | list[int] | None = None,
                     overrides: dict[str, Any] | None = None, check_inputs: bool = True) -> Recipe:
    """Validate a parsed recipe step by step, then as a whole (garden.plan_check)."""
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with name, inputs, output, pipeline")
    if not isinstance(lines, RecipeLines):
        lines = RecipeLines(steps=list(lines or []))
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    for key in data:
        if key not in TOP_KEYS:
            raise RecipeError(f"{path}: {registry.unknown_message('recipe key', str(key), TOP_KEYS)}")
    for key in ("inputs", "output", "pipeline"):
        if key not in data:
            raise RecipeError(f"{path}: missing required key '{key}'")
    _check_scalars(data, path, lines)
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
            try:
                files = spec.files()
            except InputFileError as exc:
                raise RecipeError(f"{where}: {exc}") from None
            if not files:
                raise RecipeError(f"{where}: no input file matches '{spec.path}'")
            for f in files:
                if not f.endswith(INPUT_SUFFIXES) and fs.isfile(f):
                    raise RecipeError(f"{where}: '{f}' is not .jsonl, .jsonl.gz, .jsonl.zst or .parquet")
        inputs.append(spec)
    if check_inputs:
        try:
            input_files(inputs)
        except InputFileError as exc:
            raise RecipeError(f"{path}: {exc}") from None
    pipeline_raw = data["pipeline"] or []
    if not isinstance(pipeline_raw, list):
        raise RecipeError(f"{path}: 'pipeline' must be a list of {{op_name: {{params}}}}")
    pipeline = []
    for i, entry in enumerate(pipeline_raw):
        line = lines.steps[i] if i < len(lines.steps) else 0
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
        param_lines = lines.params[i] if i < len(lines.params) else {}
        params = resolve_op(str(name), raw, where, param_lines)
        _check_in_recipe(str(name), params, [op.name for op in pipeline], where)
        pipeline.append(OpSpec(name=str(name), params=params, line=line, index=i,
                               sources=_step_sources(only, str(name), inputs, where), param_lines=param_lines,
                               derived=derive_params(str(name), params, where)))
    fmt = data.get("output_format", "parquet")
    if fmt not in OUTPUT_FORMATS:
        raise RecipeError(f"{path}: output_format must be one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}")
    try:
        workers = check_type(data.get("workers", 1), int, "workers")
        shard_size = parse_size(data.get("shard_size", 32 * 1024 * 1024))
        batch_size = check_type(data.get("batch_size", 2000), int, "batch_size")
        max_record_bytes = parse_size(data.get("max_record_bytes", DEFAULT_MAX_RECORD_BYTES))
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{path}: {exc}") from None
    if workers < 1 or shard_size < 1 or batch_size < 1 or max_record_bytes < 1:
        raise RecipeError(f"{path}: workers, shard_size, batch_size and max_record_bytes must be positive")
    for key, value, high in (("workers", workers, MAX_WORKERS), ("batch_size", batch_size, MAX_BATCH_SIZE)):
        if value > high:
            raise RecipeError(f"{_at(path, lines.keys.get(key))}: {key} must be at most {high:,}, got {value:,}")
    recipe = Recipe(name=str(data.get("name", os.path.splitext(os.path.basename(path))[0])), inputs=inputs,
                    output=str(data["output"]), pipeline=pipeline, workers=workers, output_format=fmt,
                    shard_size=shard_size, batch_size=batch_size, path=path, key_lines=dict(lines.keys),
                    max_record_bytes=max_record_bytes)
    from garden.plan_check import check_plan

    check_plan(recipe)
    return recipe
