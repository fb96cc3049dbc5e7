"""Curriculum data: one megatron BlendedDataset per blend.json phase, indexed by iteration.

Sample positions are a pure function of the iteration number (phase start, global batch, DP
rank, microbatch), so resume is exact without any iterator state, and every TP/PP/DP layout
sees the same global batch at the same step.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np
import torch


class _Tokenizer:
    """The duck-typed tokenizer megatron's GPTDataset needs (only ids, never text)."""

    def __init__(self, vocab_size: int, eod: int):
        self.vocab_size = vocab_size
        self.eod = eod
        self.pad = -1  # never a real id: nothing gets masked as padding
        self.unique_identifiers = {"class": "GardenBlendTokenizer", "vocab_size": vocab_size,
                                   "eod": eod}


class PhaseData:
    """The dataset of one curriculum phase; item -> (source name, sample dict)."""

    def __init__(self, dataset: Any, sources: list[str]):
        self.dataset = dataset
        self.sources = sources

    def __getitem__(self, idx: int) -> tuple[str, dict]:
        item = self.dataset[idx]
        src = self.sources[int(item.pop("dataset_id", 0))]
        return src, item


def build_phase_datasets(cfg: dict) -> list[PhaseData]:
    """Build one dataset per planned phase, sized for the phase's iterations.

    Each phase gets its own seed so a later phase does not replay the document order of an
    earlier one.  Rank 0 builds the index caches first (megatron's builder barriers for us).
    """
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    blend = cfg["data"]["resolved"]
    tr = cfg["training"]
    tok = _Tokenizer(cfg["model"]["vocab_size"], blend["eod_id"])
    cache = os.path.join(cfg["run_dir"], "data_cache")
    os.makedirs(cache, exist_ok=True)
    out = []
    for ph in cfg["data"]["phases"]:
        names = sorted(ph["weights"])
        prefixes = [blend["sources"][n]["prefix"] for n in names]
        weights = [ph["weights"][n] for n in names]
        n_samples = max(1, (ph["end_iter"] - ph["start_iter"]) * tr["global_batch"])
        dcfg = GPTDatasetConfig(
            random_seed=int(tr["seed"]) + 1000 * ph["index"],
            sequence_length=tr["seq_len"],
            blend=(prefixes, weights if len(prefixes) > 1 else None),
            split=blend["split"],
            tokenizer=tok,
            reset_position_ids=False,
            reset_attention_mask=False,
            eod_mask_loss=False,
            create_attention_mask=False,
            path_to_cache=cache,
            **_object_storage(prefixes, cfg["run_dir"]),
        )
        ds = BlendedMegatronDatasetBuilder(GPTDataset, [n_samples, 0, 0], lambda: True, dcfg)
        train = ds.build()[0]
        if len(train) < n_samples:
            raise RuntimeError(f"phase {ph['name']}: dataset has {len(train)} samples, "
                               f"needs {n_samples}")
        out.append(PhaseData(train, names))
    return out


def _object_storage(prefixes: list[str], run_dir: str) -> dict:
    """Shards on s3://: megatron-core caches each .idx under the run and streams the .bin in
    chunks, which it can only do without a memory map."""
    if not any("://" in p for p in prefixes):
        return {}
    return {"object_storage_cache_path": os.path.join(run_dir, "object_store_cache"), "mmap_bin_files": False}


def phase_at(cfg: dict, iteration: int) -> dict:
    """The planned phase covering a (0-based) iteration."""
    for ph in cfg["data"]["phases"]:
        if ph["start_iter"] <= iteration < ph["end_iter"]:
            return ph
    return cfg["data"]["phases"][-1]


def microbatches(cfg: dict, phases: list[PhaseData], iteration: int, dp_rank: int
                 ) -> tuple[list[dict], list[tuple[int, str, int]]]:
    """This DP rank's microbatches for an iteration, plus (sample index, source, first token)."""
    tr = cfg["training"]
    ph = phase_at(cfg, iteration)
    data = phases[ph["index"]]
    per_rank = tr["global_batch"] // cfg["parallel"]["dp"]
    base = (iteration - ph["start_iter"]) * tr["global_batch"] + dp_rank * per_rank
    mbs, trace = [], []
    for m in range(tr["num_microbatches"]):
        items = []
        for k in range(tr["micro_batch"]):
            idx = base + m * tr["micro_batch"] + k
            src, item = data[idx]
            items.append(item)
            trace.append((idx, src, int(item["tokens"][0])))
        mbs.append({key: torch.stack([torch.as_tensor(np.asarray(it[key])) for it in items])
                    for key in ("tokens", "labels", "loss_mask", "position_ids")})
    return mbs, trace


def iterator(mbs: list[dict]) -> Iterator[dict]:
    """An iterator over prepared microbatches (one per model chunk with virtual pipeline)."""
    return iter(mbs)
