"""Programmatic entry points behind `garden run` (the CLI is a thin layer over these)."""
from __future__ import annotations

import os
import re
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml

from garden import __version__
from garden.executor.empty import EmptyStageError
from garden.executor.runner import AccountingError, Run
from garden.io import fs
from garden.io.writer import atomic_write_bytes
from garden.progress import Progress
from garden.recipe import Recipe

TEMP_RE = re.compile(r"\.tmp-\d+$")
LOCK_PACKAGES = ("pyarrow", "datasketch", "fasttext-modern", "regex", "tokenizers", "numpy", "pyyaml", "ray")


class StrictError(RuntimeError):
    """--strict and some records were quarantined."""


def package_versions() -> dict[str, str]:
    out = {"garden": __version__, "python": platform.python_version()}
    for name in LOCK_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def write_lock(recipe: Recipe) -> None:
    lock = recipe.to_dict()
    lock["versions"] = package_versions()
    text = f"# Resolved from {recipe.path}: every default filled in, with the package versions used.\n"
    text += yaml.safe_dump(lock, sort_keys=False, allow_unicode=True)
    atomic_write_bytes(fs.join(recipe.output, "recipe.lock.yaml"), text.encode())


def remove_stale_temp_files(root: str) -> int:
    """Temp files of a killed run are never complete: delete them before resuming.

    Only local runs have any: writes to a URL are staged outside the output (garden.io.fs).
    """
    removed = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            if TEMP_RE.search(name):
                os.remove(os.path.join(dirpath, name))
                removed += 1
    return removed


def write_report(run_dir: str, progress: Progress) -> str | None:
    """report.html next to stats.json; a broken report is a warning, never a failed run."""
    from garden.run_report import write_run_report

    try:
        return write_run_report(run_dir)
    except Exception as exc:  # the data is written and accounted for already
        progress.log(f"warning: could not write report.html: {type(exc).__name__}: {exc}")
        return None


def make_executor(name: str, workers: int, progress: Progress, address: str | None = None) -> Any:
    if name == "local":
        from garden.executor.pool import LocalExecutor

        return LocalExecutor(workers, lambda stage, docs, nbytes: progress.advance(docs, nbytes))
    if name == "ray":
        from garden.executor.ray_executor import RayExecutor

        return RayExecutor(workers, progress, address)
    raise ValueError(f"unknown executor '{name}' (local or ray)")


def run_recipe(recipe: Recipe, resume: bool = True, strict: bool = False, executor: str = "local",
               address: str | None = None, progress: Progress | None = None) -> dict:
    """Run a validated recipe; returns stats.json's content."""
    progress = progress or Progress(enabled=False)
    if not resume:
        for sub in ("_work", "data", "rejected", "quarantine", "stats.json"):
            path = fs.join(recipe.output, sub)
            if fs.isdir(path):
                fs.rmtree(path)
            else:
                fs.remove(path)
    fs.makedirs(recipe.output)
    remove_stale_temp_files(recipe.output)
    write_lock(recipe)
    ex = make_executor(executor, recipe.workers, progress, address)
    try:
        stats = Run(recipe, ex, progress).execute()
    except (AccountingError, EmptyStageError):
        write_report(recipe.output, progress)  # the report shows where the counts diverge or the step that emptied
        raise
    finally:
        ex.close()
        progress.close()
    report = write_report(recipe.output, progress)
    if report:
        stats["report"] = report
    if strict and stats["quarantined_docs"]:
        raise StrictError(f"--strict: {stats['quarantined_docs']} records quarantined (see {recipe.output}/quarantine/)")
    if strict and stats["duplicate_ids"]["count"]:
        raise StrictError(f"--strict: {stats['duplicate_ids']['count']} documents share an id across shards "
                          f"(e.g. {', '.join(stats['duplicate_ids']['examples'])})")
    return stats
