"""The run folder is Garden's, and only what Garden wrote in it is Garden's.

A folder becomes a run folder when Garden creates it (or adopts an empty one): a marker file
records that, and the files each global step wrote at the top level. Everything Garden removes
goes through `RunFolder`, which removes only names Garden writes: `data/part-NNNNN.*`,
`rejected/<step>/part-NNNNN.*`, `quarantine/sNN-part-NNNNN.jsonl`, its stage folders under
`_work/`, its own top-level files, the files a step recorded, and its own temp names. A user's
file beside them, or inside them, is never touched.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from typing import Callable, Sequence

from garden import __version__
from garden.io import fs
from garden.plan_check import check_output_path
from garden.recipe import InputSpec, RecipeError

MARKER = ".garden-run.json"
LOCK = ".garden-lock"
# Top-level names Garden writes itself (global steps record theirs in the marker).
OWN_DIRS = ("data", "rejected", "quarantine", "_work")
OWN_FILES = ("stats.json", "recipe.lock.yaml", "report.html", MARKER, LOCK)
PART_RE = re.compile(r"^part-\d{5}\.(parquet|jsonl|jsonl\.gz|jsonl\.zst)$")
QUARANTINE_RE = re.compile(r"^s\d{2}-part-\d{5}\.jsonl$")
STAGE_DIR_RE = re.compile(r"^s\d{2}-[A-Za-z0-9_.-]+$")
WORK_FILES = ("plan.json",)
# Temp names of Garden versions before the run marker: `<garden name>.tmp-<pid>`.
LEGACY_TEMP_RE = re.compile(r"^(?P<name>.+)\.tmp-\d+$")


class OwnershipError(RuntimeError):
    """The output folder is not one Garden may write to; the message says which and why."""


def is_part_name(name: str) -> bool:
    return bool(PART_RE.match(name))


@dataclasses.dataclass
class Marker:
    """What `.garden-run.json` says: who made the folder, how, and what each step wrote."""

    garden: str = __version__
    created: float = 0.0
    origin: str = "new"                     # new | legacy | forced
    step_outputs: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # step label → files

    @classmethod
    def load(cls, path: str) -> "Marker":
        with fs.open(path, "rb") as fh:
            raw = json.loads(fh.read())
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


class RunFolder:
    """One run folder: claimed before any work, then cleaned through these methods only."""

    def __init__(self, root: str, log: Callable[[str], None] = lambda _m: None) -> None:
        self.root = root
        self.log = log
        self.marker = Marker()

    # -- claiming -----------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return fs.join(self.root, *parts)

    def claim(self, inputs: Sequence[InputSpec], force: bool = False) -> None:
        """Make sure the folder is Garden's to write, or refuse before any work."""
        try:
            check_output_path(self.root, inputs)  # validation did this already, unless built in code
        except RecipeError as exc:
            raise OwnershipError(str(exc)) from None
        if not fs.is_url(self.root) and os.path.exists(self.root) and not os.path.isdir(self.root):
            raise OwnershipError(f"output {self.root} is a file, not a folder")
        marker = self.path(MARKER)
        if fs.exists(marker):
            try:
                self.marker = Marker.load(marker)
            except (ValueError, TypeError, OSError) as exc:
                raise OwnershipError(f"{marker}: unreadable run marker ({exc}); "
                                     f"move the folder away or remove the marker if it is a Garden run") from None
            return
        entries = [e for e in fs.listdir(self.root) if not fs.is_temp_name(e)]
        if not entries:
            origin = "new"
        elif self._looks_like_legacy_run(entries):
            origin = "legacy"
            self.log(f"{self.root}: a run folder of an earlier Garden version; adopting it "
                     f"(only Garden's own names will be removed there)")
        elif not force:
            shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
            raise OwnershipError(f"output {self.root} is not empty and is not a Garden run folder "
                                 f"({len(entries)} entries: {shown}); choose an empty or new folder, "
                                 f"or pass --force to write beside them (Garden will not touch them)")
        else:
            clash = self._existing_garden_names()
            if clash:
                raise OwnershipError(f"--force: {self.root} already holds files with names Garden writes "
                                     f"({', '.join(clash[:5])}); Garden would overwrite them, so move them away")
            origin = "forced"
            self.log(f"--force: writing into {self.root} beside {len(entries)} entries Garden will not touch")
        fs.makedirs(self.root)
        self.marker = Marker(created=time.time(), origin=origin)
        self._save()

    def _looks_like_legacy_run(self, entries: list[str]) -> bool:
        """A folder written before the marker existed: stats.json, recipe.lock.yaml and _work/."""
        return {"stats.json", "recipe.lock.yaml", "_work"} <= set(entries) and fs.isdir(self.path("_work"))

    def _existing_garden_names(self) -> list[str]:
        found = [n for n in OWN_FILES if fs.exists(self.path(n))]
        for d in ("data", "quarantine"):
            found += [f"{d}/{n}" for n in fs.listdir(self.path(d)) if self._is_own_file(d, n)]
        for label in fs.listdir(self.path("rejected")):
            found += [f"rejected/{label}/{n}" for n in fs.listdir(self.path("rejected", label)) if is_part_name(n)]
        found += [f"_work/{n}" for n in fs.listdir(self.path("_work")) if STAGE_DIR_RE.match(n) or n in WORK_FILES]
        return found

    def _save(self) -> None:
        fs.atomic_write_bytes(self.path(MARKER), (json.dumps(dataclasses.asdict(self.marker), indent=2) + "\n").encode())

    # -- what is Garden's ---------------------------------------------------------------
    @staticmethod
    def _is_own_file(folder: str, name: str) -> bool:
        if folder == "quarantine":
            return bool(QUARANTINE_RE.match(name))
        return is_part_name(name)

    def _is_own_temp(self, folder: str, name: str) -> bool:
        if fs.is_temp_name(name):
            return True
        legacy = LEGACY_TEMP_RE.match(name)
        if not legacy or self.marker.origin != "legacy":  # only earlier versions wrote such names
            return False
        base = legacy.group("name")
        return folder.startswith("_work") or self._is_own_file(folder, base) or (folder == "" and base in OWN_FILES)

    def foreign_files(self, folder: str = "data") -> list[str]:
        """Files in one of Garden's folders that Garden did not write (left alone, never read)."""
        return sorted(n for n in fs.listdir(self.path(folder))
                      if not self._is_own_file(folder, n) and not self._is_own_temp(folder, n)
                      and not fs.isdir(self.path(folder, n)))

    def part_files(self, folder: str) -> list[str]:
        """Garden's shard files in data/ or rejected/<step>/, sorted."""
        return [self.path(folder, n) for n in fs.listdir(self.path(folder)) if is_part_name(n)]

    # -- removing Garden's files only ---------------------------------------------------
    def _remove_own(self, folder: str) -> int:
        """Garden's shard files (and temp files) in one folder; the folder goes only if empty."""
        removed = 0
        for name in fs.listdir(self.path(folder)):
            if self._is_own_file(folder, name) or self._is_own_temp(folder, name):
                fs.remove(self.path(folder, name))
                removed += 1
        self._remove_if_empty(self.path(folder))
        return removed

    @staticmethod
    def _remove_if_empty(path: str) -> None:
        if not fs.is_url(path):
            try:
                os.rmdir(path)
            except OSError:
                pass

    def remove_data(self) -> None:
        self._remove_own("data")

    def remove_rejected(self, label: str) -> None:
        self._remove_own(f"rejected/{label}")
        self._remove_if_empty(self.path("rejected"))

    def remove_quarantine(self, prefix: str = "") -> None:
        for name in fs.listdir(self.path("quarantine")):
            if name.startswith(prefix) and (QUARANTINE_RE.match(name) or self._is_own_temp("quarantine", name)):
                fs.remove(self.path("quarantine", name))
        self._remove_if_empty(self.path("quarantine"))

    def remove_stage_dir(self, dir_name: str) -> None:
        """A stage's private folder under _work/ (everything in it is Garden's)."""
        if STAGE_DIR_RE.match(dir_name):
            fs.rmtree(self.path("_work", dir_name))

    def remove_step_outputs(self, label: str) -> None:
        """The files a global step recorded at the top level (tokens/, blend.json, ...)."""
        if label not in self.marker.step_outputs:
            return
        files = self.marker.step_outputs.pop(label)
        for rel in files:
            fs.remove(self.path(rel))
        for d in sorted({os.path.dirname(r) for r in files if "/" in r}, key=len, reverse=True):
            while d:
                self._remove_if_empty(self.path(d))
                d = os.path.dirname(d)
        self._save()

    def remove_outputs(self) -> None:
        """--no-resume: everything Garden wrote here, nothing else."""
        for name in fs.listdir(self.path("_work")):
            if STAGE_DIR_RE.match(name):
                self.remove_stage_dir(name)
            elif name in WORK_FILES or self._is_own_temp("_work", name):
                fs.remove(self.path("_work", name))
        self._remove_if_empty(self.path("_work"))
        self.remove_data()
        for label in fs.listdir(self.path("rejected")):
            self.remove_rejected(label)
        self.remove_quarantine()
        for label in list(self.marker.step_outputs):
            self.remove_step_outputs(label)
        for name in ("stats.json", "report.html"):
            fs.remove(self.path(name))

    def remove_stale(self, stream_labels: set[str], step_labels: set[str], stage_dirs: set[str]) -> None:
        """Outputs of steps that left the recipe: rejected/<step>/, their top-level files, stage folders."""
        for label in fs.listdir(self.path("rejected")):
            if label not in stream_labels and fs.isdir(self.path("rejected", label)):
                self.log(f"removing rejected/{label}/: that step is no longer in the recipe")
                self.remove_rejected(label)
        for label in list(self.marker.step_outputs):
            if label not in step_labels:
                self.log(f"removing the outputs of '{label}': that step is no longer in the recipe")
                self.remove_step_outputs(label)
        for name in fs.listdir(self.path("_work")):
            if STAGE_DIR_RE.match(name) and name not in stage_dirs:
                self.remove_stage_dir(name)

    def remove_temp_files(self) -> int:
        """Temp files of a killed local run, in Garden's folders only (object stores have none)."""
        if fs.is_url(self.root):
            return 0
        removed = 0
        folders = ["", "data", "quarantine"] + [f"rejected/{n}" for n in fs.listdir(self.path("rejected"))]
        folders += sorted({os.path.dirname(r) for files in self.marker.step_outputs.values() for r in files})
        for folder in folders:
            for name in fs.listdir(self.path(folder)):
                if self._is_own_temp(folder, name):
                    fs.remove(self.path(folder, name))
                    removed += 1
        for dirpath, _dirs, files in os.walk(self.path("_work")):
            for name in files:
                if self._is_own_temp("_work", name):
                    os.remove(os.path.join(dirpath, name))
                    removed += 1
        return removed

    # -- recording what global steps write ----------------------------------------------
    def record_step_outputs(self, label: str, created: Sequence[str]) -> None:
        """After a global step's finalize: the top-level entries it created (its finalize task
        reports them, `FinalizeResult.created`) or had recorded before are its."""
        known = {r.split("/", 1)[0] for r in self.marker.step_outputs.get(label, [])}
        mine = (set(created) - set(OWN_DIRS) - set(OWN_FILES)) | known
        files: list[str] = []
        for entry in sorted(mine):
            files += self._files_under(entry)
        self.marker.step_outputs[label] = sorted(files)
        self._save()

    def _files_under(self, rel: str) -> list[str]:
        path = self.path(rel)
        if not fs.isdir(path):
            return [rel] if fs.exists(path) else []
        if fs.is_url(path):
            prefix = path.rstrip("/") + "/"
            return [rel + "/" + p[len(prefix):] for p in fs.glob(prefix + "**") if not fs.isdir(p)]
        out = []
        for dirpath, _dirs, names in os.walk(path):
            for n in names:
                out.append(os.path.relpath(os.path.join(dirpath, n), self.root).replace(os.sep, "/"))
        return out
