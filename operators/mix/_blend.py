"""Blend arithmetic in tokens, and the files Megatron-LM and `garden train` read.

A phase asks for `tokens` tokens with token shares `weights` per source. Megatron's
BlendedDataset draws fixed-length samples, so a token share is also a sample share: the
Megatron blend weight of a source is its normalised share. Source s with T_s tokens is seen
tokens × w_s / T_s times (epochs); phases add up, and more than `max_epochs` is a warning
(an error with `strict`).
"""
from __future__ import annotations

import os

from garden.megatron_format import empty_splits
from garden.io import fs
from garden.io.writer import atomic_write_bytes, atomic_write_json, read_json


class BlendError(ValueError):
    """Weights or phases that the available tokens cannot satisfy."""


def normalise(weights: dict[str, float]) -> dict[str, float]:
    positive = {k: float(v) for k, v in weights.items() if float(v) > 0}
    total = sum(positive.values())
    if total <= 0:
        raise BlendError("weights must have at least one positive entry")
    return {k: v / total for k, v in sorted(positive.items())}


def check_weights(weights: dict) -> None:
    for k, v in weights.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise ValueError(f"weight of {k!r} must be a number >= 0, got {v!r}")
    if not any(v > 0 for v in weights.values()):
        raise ValueError("weights need at least one positive entry")


def check_phases(phases: list) -> None:
    """Recipe-time validation of curriculum phases: [{name, tokens, weights}, ...]."""
    if not phases:
        raise ValueError("phases: give at least one {name, tokens, weights}")
    seen = set()
    for i, ph in enumerate(phases):
        if not isinstance(ph, dict):
            raise ValueError(f"phases[{i}] must be a mapping with name, tokens, weights")
        unknown = set(ph) - {"name", "tokens", "weights"}
        if unknown:
            raise ValueError(f"phases[{i}]: unknown key(s) {sorted(unknown)}")
        name = str(ph.get("name", f"phase{i}"))
        if name in seen:
            raise ValueError(f"phases[{i}]: duplicate name {name!r}")
        seen.add(name)
        try:
            tokens = float(ph.get("tokens", 0))
        except (TypeError, ValueError):
            raise ValueError(f"phases[{i}] ({name}): tokens must be a number") from None
        if tokens <= 0:
            raise ValueError(f"phases[{i}] ({name}): tokens must be positive")
        if not isinstance(ph.get("weights"), dict):
            raise ValueError(f"phases[{i}] ({name}): weights must be a mapping source -> share")
        check_weights(ph["weights"])


def plan(available: dict[str, int], phases: list[dict], max_epochs: float) -> tuple[list[dict], dict, list[str]]:
    """Phases with normalised weights and epochs, epochs per source over all phases, warnings."""
    out, total_epochs, warnings = [], {s: 0.0 for s in available}, []
    for i, ph in enumerate(phases):
        name = str(ph.get("name", f"phase{i}"))
        weights = normalise(ph["weights"])
        unknown = sorted(set(weights) - set(available))
        if unknown:
            raise BlendError(f"phase {name!r}: unknown source(s) {unknown}; tokenized sources: {sorted(available)}")
        empty = sorted(s for s in weights if available[s] <= 0)
        if empty:
            raise BlendError(f"phase {name!r}: source(s) {empty} have no tokens")
        tokens = int(float(ph["tokens"]))
        epochs = {s: tokens * w / available[s] for s, w in weights.items()}
        for s, e in epochs.items():
            total_epochs[s] += e
        out.append({"name": name, "tokens": tokens, "weights": {s: round(w, 8) for s, w in weights.items()},
                    "source_tokens": {s: int(round(tokens * w)) for s, w in weights.items()},
                    "epochs": {s: round(e, 4) for s, e in epochs.items()}})
    for s, e in total_epochs.items():
        if e > max_epochs:
            warnings.append(f"source {s!r} would be seen {e:.2f} times (max_epochs {max_epochs:g}); "
                            f"it has {available[s]:,} tokens")
    return out, {s: round(e, 4) for s, e in total_epochs.items()}, warnings


def megatron_blend(weights: dict[str, float], prefixes: dict[str, str]) -> list[str]:
    """Megatron-LM's flat "weight prefix weight prefix ..." list."""
    out = []
    for s, w in sorted(weights.items()):
        out += [f"{w:.8g}", prefixes[s]]
    return out


def write_megatron_files(run_dir: str, phase: dict, sources: dict[str, dict]) -> dict:
    """`--data-args-path` text and `--per-split-data-args-path` JSON for one phase.

    Megatron-LM resolves prefixes against its working directory, so these hold absolute paths.
    valid/test use the held-out `<source>_valid/_test` datasets when `tokenize` wrote them (the
    other held-out set if only one exists), else the training datasets: then use the
    --data-args-path form with --split, since per-split evaluation would see training data.
    """
    def abs_prefix(entry: dict) -> str:
        p = entry["prefix"]
        return p if os.path.isabs(p) or fs.is_url(p) else fs.abspath(fs.join(run_dir, p))

    weights = phase["weights"]
    train = {s: abs_prefix(sources[s]) for s in weights}
    per_split: dict[str, list[str]] = {"train": megatron_blend(weights, train)}
    held_out: dict[str, str] = {}
    for split in ("valid", "test"):
        for use in (split, "test" if split == "valid" else "valid"):
            have = {s: sources[s][use] for s in weights if use in sources[s]}
            if have:
                w = normalise({s: weights[s] for s in have})
                per_split[split] = megatron_blend(w, {s: abs_prefix(e) for s, e in have.items()})
                held_out[split] = use
                break
        else:
            per_split[split] = per_split["train"]
            held_out[split] = "train"
    rel = {"data_args_path": f"megatron/{phase['name']}.data_args.txt",
           "per_split_data_args_path": f"megatron/{phase['name']}.per_split_data_args.json"}
    atomic_write_bytes(fs.join(run_dir, rel["data_args_path"]), (" ".join(per_split["train"]) + "\n").encode())
    atomic_write_json(fs.join(run_dir, rel["per_split_data_args_path"]), per_split)
    return {**rel, "held_out": held_out}


def build_blend(run_dir: str, tokens_manifest: dict, phases: list[dict], split: str, max_epochs: float,
                strict: bool, out_name: str = "blend.json") -> dict:
    """Plan the phases, write the Megatron files and blend.json (docs/blend-format.md)."""
    sources = tokens_manifest["sources"]
    available = {s: int(e["tokens"]) for s, e in sources.items()}
    planned, total_epochs, warnings = plan(available, phases, max_epochs)
    used = {s for ph in planned for s in ph["weights"]}
    empty = empty_splits(split, {s: int(sources[s]["documents"]) for s in used})
    if empty:
        raise BlendError("; ".join(empty) + ". Megatron cannot build an empty split: use split '100,0,0' "
                         "(with tokenize valid_fraction/test_fraction for held-out sets) or more documents")
    if warnings and strict:
        raise BlendError("; ".join(warnings))
    for ph in planned:
        ph["megatron"] = write_megatron_files(run_dir, ph, sources)
    blend = {
        "version": 1,
        "tokenizer": tokens_manifest["tokenizer"],
        "dtype": tokens_manifest["dtype"],
        "sources": sources,
        "split": split,
        "phases": planned,
        "epochs": total_epochs,
        "max_epochs": max_epochs,
        "warnings": warnings,
        "megatron": {k: planned[0]["megatron"][k] for k in ("data_args_path", "per_split_data_args_path")},
    }
    atomic_write_json(fs.join(run_dir, out_name), blend)
    return blend


def load_manifest(path: str) -> dict:
    return read_json(path)
