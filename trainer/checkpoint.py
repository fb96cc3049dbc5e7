"""Checkpoints with megatron dist_checkpointing (torch_dist), so any TP/PP layout can resume.

Layout: <dir>/iter_0000012/ (sharded model + optimizer, plus trainer_state.json) and
<dir>/latest (text: the iteration).  A checkpoint is written to a temp dir and renamed, and
`latest` moves only after every rank finished, so a crash mid-save keeps the last good one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "trainer_state.json"


def iter_dir(root: str | Path, iteration: int) -> Path:
    return Path(root) / f"iter_{iteration:07d}"


def latest(root: str | Path) -> Path | None:
    """The checkpoint `latest` points at, or None for a fresh run."""
    f = Path(root) / "latest"
    if not f.exists():
        return None
    path = iter_dir(root, int(f.read_text().strip()))
    return path if (path / STATE_FILE).exists() else None


def resolve_load(path: str | Path) -> Path:
    """`checkpoint.load` may name one iter_* directory or a checkpoints root (its latest)."""
    p = Path(path)
    if (p / STATE_FILE).exists():
        return p
    found = latest(p)
    if found is None:
        raise FileNotFoundError(f"checkpoint.load {p}: neither a checkpoint (no {STATE_FILE}) "
                                f"nor a checkpoints directory with a `latest` file")
    return found


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
        fa._results_queue = mp.get_context("fork").Manager().Queue()


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
