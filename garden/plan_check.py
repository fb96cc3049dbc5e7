"""Whole-recipe checks: what no single step can see on its own.

Each step's parameters are checked where the step is read (garden.recipe.resolve_op). This
module checks the recipe as a whole, before any work: steps that need an earlier step (an
artifact, or the `lang` column for thresholds given per language), source
names against the inputs, steps that would write the same file of the run folder, output
folders that lie outside the run folder, and an output folder that would hold or replace the
inputs. `garden validate` and `garden run` both reach it through `recipe_from_dict`, so what
run refuses at start, validate refuses too.
"""
from __future__ import annotations

import os
import posixpath
from typing import Any, Iterable, Sequence

from garden import registry
from garden.io import fs
from garden.recipe import InputSpec, OpSpec, Recipe, RecipeError

# What Garden itself writes at the top of a run folder: no operator output may land there.
GARDEN_NAMES = ("data", "rejected", "quarantine", "_work", "stats.json", "report.html", "recipe.lock.yaml")

# Steps that read an earlier step's artifact when a parameter is "auto" (or empty):
# step -> (parameter, the step that must come first, the artifact).
NEEDS = {
    "tokenize": ("tokenizer", "train_tokenizer", "tokenizer/"),
    "mix": ("tokens", "tokenize", "tokens.json"),
    "curriculum": ("tokens", "tokenize", "tokens.json"),
}
BLEND_STEPS = ("mix", "curriculum")


def check_plan(recipe: Recipe) -> None:
    """Raise RecipeError (file, line, suggestion) for the first whole-recipe mistake."""
    check_output_path(recipe.output, recipe.inputs, where=_key_at(recipe, "output"))
    _check_order(recipe)
    _check_language_maps(recipe)
    _check_blend_sources(recipe)
    _check_run_files(recipe)


def check_output_path(output: Any, inputs: Sequence[InputSpec | str] = (), where: str = "output") -> str:
    """The output folder, refused when it is null, `/`, the home folder, an input or holds one.

    Garden writes and cleans its output folder, so an output that holds the inputs could lose
    them. Local paths are compared by real path (symbolic links resolved); URLs by prefix.
    Returns the output; raises RecipeError naming it.
    """
    if not isinstance(output, str) or not output.strip():
        shown = "null (YAML ~ or an empty value)" if output is None else repr(output)
        raise RecipeError(f"{where}: output must be a folder path or URL, got {shown}")
    out = _canonical(output)
    if not fs.is_url(output):
        if out == os.path.sep:
            raise RecipeError(f"{where}: output '{output}' is the root folder; give a folder for this run")
        if out == os.path.realpath(os.path.expanduser("~")):
            raise RecipeError(f"{where}: output '{output}' is the home folder; give a folder for this run, "
                              f"e.g. {os.path.join(output, 'runs', 'NAME')}")
    for spec in inputs:
        path = spec.path if isinstance(spec, InputSpec) else str(spec)
        name = path
        root = _canonical(spec.base_dir() if isinstance(spec, InputSpec) and _is_pattern(path) else path)
        if _within(root, out):
            what = "is the input" if root == out else "holds the input"
            raise RecipeError(f"{where}: output '{output}' {what} '{name}'; writing there could "
                              f"overwrite or delete it: give a folder of its own, e.g. "
                              f"{_suggest_output(output)}")
    return output


def _is_pattern(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _canonical(path: str) -> str:
    if fs.is_url(path):
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{posixpath.normpath('/' + rest).lstrip('/')}"
    return os.path.realpath(os.path.expanduser(path))


def _within(path: str, folder: str) -> bool:
    """path is folder or lies under it."""
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder if folder.endswith("/") else folder + "/")


def _suggest_output(output: str) -> str:
    base = output.rstrip("/") or "."
    return f"{base}/garden-run" if fs.is_url(output) else os.path.join(base, "garden-run")


def _key_at(recipe: Recipe, key: str) -> str:
    line = recipe.key_lines.get(key)
    return f"{recipe.path}:{line}" if line else recipe.path


def _fail(recipe: Recipe, op: OpSpec, message: str, param: str | None = None) -> None:
    raise RecipeError(f"{op.where(recipe.path, param)}: {op.name}: {message}")


def _check_order(recipe: Recipe) -> None:
    """A step that reads an earlier step's artifact ("auto") needs that step before it."""
    seen: set[str] = set()
    for op in recipe.pipeline:
        need = NEEDS.get(op.name)
        if need:
            param, before, artifact = need
            if op.params.get(param) in ("", "auto") and before not in seen:
                _fail(recipe, op, f"reads {artifact} of a `{before}` step, but no `{before}` comes before it: "
                                  f"put `{before}` earlier in the pipeline or set {param}: PATH", param)
        seen.add(op.name)


def _check_language_maps(recipe: Recipe) -> None:
    """A threshold given per language needs a step before it that writes `lang` (inputs never carry
    the column: an input's own `lang` field stays in `meta`); without one only `default` would apply."""
    lang_set = False
    for op in recipe.pipeline:
        cls = op.cls
        for name in cls.per_language:
            value = op.params.get(name)
            if not lang_set and cls.is_language_map(name, value):
                langs = [str(k) for k in value if k != "default"]
                if langs:
                    _fail(recipe, op, f"{name} gives values for {', '.join(langs)}, but no step before it sets "
                                      f"`lang`: put `language` earlier in the pipeline (or give one value)", name)
        lang_set = lang_set or "lang" in cls.outputs


def _tokenized_sources(recipe: Recipe, op: OpSpec) -> tuple[set[str], str] | None:
    """The source names a blend step will find, and where they come from; None if unknown now."""
    tokens = op.params.get("tokens", "auto")
    if tokens in ("", "auto"):
        sources = {i.source for i in recipe.inputs}
        if _splits_by_bucket(recipe, op):  # tokenize writes one dataset per `source:bucket`
            from operators.selection.perplexity import BUCKETS

            return sources | {f"{s}:{b}" for s in sources for b in BUCKETS}, "the inputs' sources (and source:bucket)"
        return sources, "the inputs' sources"
    try:
        if fs.exists(tokens):
            from garden.blend import load_manifest

            return set(load_manifest(tokens)["sources"]), f"the sources in {tokens}"
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an unreadable tokens.json fails with its own message when the step runs
    return None


def _splits_by_bucket(recipe: Recipe, op: OpSpec) -> bool:
    """A `tokenize` with split_by: ppl_bucket comes before this blend step."""
    return any(o.name == "tokenize" and o.params.get("split_by") == "ppl_bucket"
               for o in recipe.pipeline[:op.index])


def _weights_of(op: OpSpec) -> Iterable[tuple[str, str, dict]]:
    """(label, parameter, weights) of a blend step: mix's weights or each curriculum phase's."""
    if op.name == "mix" and op.params.get("weights"):
        yield "weights", "weights", op.params["weights"]
    for i, phase in enumerate(op.params.get("phases") or [] if op.name == "curriculum" else []):
        if isinstance(phase, dict) and isinstance(phase.get("weights"), dict):
            yield f"phases[{i}] ({phase.get('name', f'phase{i}')}) weights", "phases", phase["weights"]


def _check_blend_sources(recipe: Recipe) -> None:
    for op in recipe.pipeline:
        if op.name not in BLEND_STEPS:
            continue
        known = _tokenized_sources(recipe, op)
        if known is None:
            continue
        sources, origin = known
        for label, param, weights in _weights_of(op):
            for name in weights:
                if name not in sources:
                    msg = registry.unknown_message("source", str(name), sources)
                    _fail(recipe, op, f"{label}: {msg}; {origin}: {', '.join(sorted(sources))}", param)


def _run_files(op: OpSpec) -> list[tuple[str, str | None]]:
    """(path relative to the run folder, the parameter that names it) of what a step writes there."""
    cls = op.cls
    out = [(name, None) for name in getattr(cls, "run_files", ())]
    for param in getattr(cls, "output_params", ()):
        value = op.params.get(param)
        if value is not None:
            out.append((str(value), param))
    return out


def _check_output_param(recipe: Recipe, op: OpSpec, param: str, value: str) -> str:
    """An output folder parameter: relative, inside the run folder, not one of Garden's own names."""
    if not value.strip():
        _fail(recipe, op, f"{param} is empty: give a folder name inside the run folder", param)
    if os.path.isabs(value) or fs.is_url(value) or value.startswith("~"):
        _fail(recipe, op, f"{param} '{value}' is not inside the run folder: give a path relative to the "
                          f"run folder, e.g. {param}: {posixpath.basename(value.rstrip('/')) or 'out'}", param)
    norm = posixpath.normpath(value.replace(os.sep, "/"))
    if norm == ".." or norm.startswith("../") or norm == ".":
        _fail(recipe, op, f"{param} '{value}' is not inside the run folder (it writes "
                          f"{'into the run folder itself' if norm == '.' else 'outside it'}): give a folder "
                          f"name inside it, e.g. {param}: {posixpath.basename(norm) if norm not in ('.', '..') else 'out'}",
              param)
    top = norm.split("/", 1)[0]
    if top in GARDEN_NAMES:
        _fail(recipe, op, f"{param} '{value}' is where Garden writes its own {top}: choose another name", param)
    return norm


def _check_run_files(recipe: Recipe) -> None:
    """No two steps write the same file or folder of the run folder (the second would replace the first)."""
    owner: dict[str, OpSpec] = {}
    for op in recipe.pipeline:
        for path, param in _run_files(op):
            norm = _check_output_param(recipe, op, param, path) if param else path.rstrip("/")
            for other_path, other in owner.items():
                if _within(norm, other_path) or _within(other_path, norm):
                    if {op.name, other.name} == set(BLEND_STEPS):
                        hint = "keep one of them (a curriculum with one phase is a mix)"
                    else:
                        hint = f"give {param} another name" if param else f"keep one `{op.name}` step"
                    line = f" (line {other.line})" if other.line else ""
                    _fail(recipe, op, f"writes {norm} in the run folder, as pipeline[{other.index}] "
                                      f"`{other.name}`{line} does: the second would replace the first; {hint}", param)
            owner[norm] = op
