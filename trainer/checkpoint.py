"""Checkpoints with megatron dist_checkpointing (torch_dist), so any TP/PP layout can resume.

Layout: <dir>/iter_0000012/ (sharded model + optimizer, manifest.json, trainer_state.json) and
<dir>/latest (text: the iteration).  A checkpoint is written to a temp dir and renamed, and
`latest` moves only after every rank finished, so a crash mid-save keeps the last good one.
manifest.json holds each file's size and CRC-32, checked before a load: a checkpoint truncated or
damaged later (disk full, partial copy) is named and the previous complete one is used.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "trainer_state.json"
MANIFEST = "manifest.json"


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was asked for (explicit checkpoint.load damaged)."""


def iter_dir(root: str | Path, iteration: int) -> Path:
    return Path(root) / f"iter_{iteration:07d}"


def latest(root: str | Path) -> Path | None:
    """The checkpoint `latest` points at, or None for a fresh run."""
    f = Path(root) / "latest"
    if not f.exists():
        return None
    path = iter_dir(root, int(f.read_text().strip()))
    return path if (path / STATE_FILE).exists() else None


def resolve_load(path: str | Path, verified: bool = False, say=print) -> Path:
    """`checkpoint.load` may name one iter_* directory or a checkpoints root (its latest).
    verified=True (collective): the checkpoint is checked against its manifest; a damaged
    iter_* directory is an error, a root falls back to its newest complete checkpoint."""
    p = Path(path)
    if (p / STATE_FILE).exists():
        if verified:
            problem = verify(p)
            if problem:
                raise CheckpointError(f"checkpoint.load: {problem}")
        return p
    found = newest_usable(p, say) if verified else latest(p)
    if found is None:
        raise FileNotFoundError(f"checkpoint.load {p}: neither a checkpoint (no {STATE_FILE}) "
                                f"nor a checkpoints directory with a `latest` file")
    return found


def iteration_of(path: Path) -> int | None:
    try:
        return int(path.name[len("iter_"):]) if path.name.startswith("iter_") else None
    except ValueError:
        return None


def complete(root: str | Path) -> list[Path]:
    """Finished checkpoints under root (state file present), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if iteration_of(p) is not None and (p / STATE_FILE).exists()]
    return sorted(found, key=iteration_of, reverse=True)


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(16 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _files(path: Path) -> list[str]:
    return sorted(str(f.relative_to(path)) for f in path.rglob("*")
                  if f.is_file() and f.name not in (MANIFEST, STATE_FILE))


def _share(items: list, fn) -> list:
    """Apply fn to this rank's share of items (every world_size-th) and gather all results."""
    world, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
    mine = [(i, fn(x)) for i, x in enumerate(items) if i % world == rank]
    gathered: list = [None] * world
    torch.distributed.all_gather_object(gathered, mine)
    out: list = [None] * len(items)
    for part in gathered:
        for i, r in part:
            out[i] = r
    return out


def write_manifest(path: Path) -> None:
    """Collective: size and CRC-32 of every file, the reading spread over the ranks."""
    names = _files(path)
    crcs = _share(names, lambda n: _crc32(path / n))
    if torch.distributed.get_rank() == 0:
        files = {n: {"bytes": (path / n).stat().st_size, "crc32": c} for n, c in zip(names, crcs)}
        (path / MANIFEST).write_text(json.dumps({"files": files}, indent=0))


def verify(path: str | Path) -> str | None:
    """Collective: why the checkpoint at path is unusable, or None when every file matches its
    manifest.  Checkpoints written before manifests existed are only checked for their state."""
    path = Path(path)
    if not (path / STATE_FILE).exists():
        return f"{path} has no {STATE_FILE} (an unfinished save)"
    try:
        files = json.loads((path / MANIFEST).read_text())["files"] \
            if (path / MANIFEST).exists() else {}
    except (ValueError, KeyError) as e:
        return f"{path / MANIFEST} is unreadable: {e}"

    def check(name: str) -> str | None:
        f, want = path / name, files[name]
        if not f.exists():
            return f"{f} is missing"
        size = f.stat().st_size
        if size != want["bytes"]:
            return f"{f} has {size:,} bytes, {want['bytes']:,} were written (truncated?)"
        if _crc32(f) != want["crc32"]:
            return f"{f} does not match its checksum (damaged)"
        return None

    problems = [p for p in _share(sorted(files), check) if p]
    return problems[0] if problems else None


def choose(ck: dict, say) -> Path | None:
    """Collective: the checkpoint to resume from.  An explicit checkpoint.load wins over the
    run's own latest; a damaged latest is named and the newest older complete one is used."""
    if ck.get("load"):
        path = resolve_load(ck["load"], verified=True, say=say)
        own = latest(ck["dir"])
        if own is not None and own.resolve() != path.resolve():
            say(f"checkpoint.load {path} wins over this run's latest checkpoint {own} "
                f"(drop checkpoint.load to resume from that one)")
        return path
    return newest_usable(ck["dir"], say)


def newest_usable(root: str | Path, say) -> Path | None:
    """Collective: `latest` if it verifies, else the newest older checkpoint that does."""
    f = Path(root) / "latest"
    if not f.exists():
        return None
    try:
        pointed = iter_dir(root, int(f.read_text().strip()))
    except ValueError:
        pointed = None
    bad = []
    if pointed is not None and not (pointed / STATE_FILE).exists():
        bad.append(f"{pointed} has no {STATE_FILE} (an unfinished save)")
    limit = iteration_of(pointed) if pointed is not None else None
    for cand in complete(root):
        if limit is not None and iteration_of(cand) > limit:
            continue  # newer than `latest`: its save did not finish on every rank
        problem = verify(cand)
        if problem is None:
            for b in bad:
                say(f"WARNING: checkpoint unusable: {b}; resuming from the previous complete "
                    f"checkpoint {cand}")
            return cand
        bad.append(problem)
    if bad:
        raise CheckpointError(f"no usable checkpoint in {root}: " + "; ".join(bad))
    return None


def prune(root: str | Path, keep: int | None) -> list[Path]:
    """Delete all but the newest `keep` complete checkpoints (rank 0 only); returns the deleted."""
    if not keep:
        return []
    old = complete(root)[int(keep):]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    return old


def read_state(path: str | Path) -> dict:
    return json.loads((Path(path) / STATE_FILE).read_text())


def _sharded(model: list, optimizer: Any | None, is_loading: bool) -> dict:
    sd: dict[str, Any] = {}
    for i, chunk in enumerate(model):
        sd[f"model{i}"] = chunk.module.sharded_state_dict() if hasattr(chunk, "module") \
            else chunk.sharded_state_dict()
    if optimizer is not None:
        # fully_reshardable: the distributed optimizer's state is saved per parameter, so a
        # checkpoint loads into any TP/PP/DP layout (the regular optimizer ignores it).
        sd["optimizer"] = optimizer.sharded_state_dict(
            dict(sd), is_loading=is_loading,
            metadata={"distrib_optim_sharding_type": "fully_reshardable"})
    return sd


def _fork_results_queue() -> None:
    """megatron's checkpoint writer collects results through a `spawn` Manager: a fresh
    interpreter per rank per process lifetime that re-imports torch (seconds on small CPUs).
    A `fork` Manager does the same job in milliseconds; it only ferries write results."""
    import multiprocessing as mp

    from megatron.core.dist_checkpointing.strategies import filesystem_async as fa

    if getattr(fa, "_results_queue", "missing") is None:
        from multiprocessing.managers import SyncManager

        manager = SyncManager(ctx=mp.get_context("fork"))
        manager.start(initializer=_die_with_parent)  # never outlives a killed rank
        fa._results_queue = manager.Queue()


def _die_with_parent() -> None:
    """Initializer of the manager process: killed with the rank that forked it; a stop signal
    is the rank's to handle, not the manager's."""
    import signal

    from trainer.signals import die_with_parent

    die_with_parent(signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def save(root: str | Path, iteration: int, model: list, optimizer: Any, state: dict) -> Path:
    """Collective: every rank calls it.  Returns the final checkpoint directory."""
    from megatron.core import dist_checkpointing

    rank = torch.distributed.get_rank()
    _fork_results_queue()
    final = iter_dir(root, iteration)
    tmp = final.with_name(final.name + ".tmp")
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    torch.distributed.barrier()
    dist_checkpointing.save(_sharded(model, optimizer, is_loading=False), str(tmp))
    torch.distributed.barrier()
    write_manifest(tmp)
    if rank == 0:
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        latest_tmp = Path(root) / "latest.tmp"
        latest_tmp.write_text(str(iteration))
        os.replace(latest_tmp, Path(root) / "latest")
    torch.distributed.barrier()
    return final


def load(path: str | Path, model: list, optimizer: Any | None) -> dict:
    """Load model (and optimizer unless None) from a checkpoint in any layout; return its state."""
    from megatron.core import dist_checkpointing

    loaded = dist_checkpointing.load(_sharded(model, optimizer, is_loading=True), str(path))
    for i, chunk in enumerate(model):
        target = chunk.module if hasattr(chunk, "module") else chunk
        target.load_state_dict(loaded[f"model{i}"], strict=True)
    if optimizer is not None:
        optimizer.load_state_dict(loaded["optimizer"])
    return read_state(path)
