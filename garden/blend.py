"""blend.json (docs/blend-format.md): how `mix`/`curriculum` plan and write it, how `garden train`
reads and checks it. Torch-free: the data side and the trainer's launcher both import it.

Writing. A phase asks for `tokens` tokens with token shares `weights` per source. Megatron's
BlendedDataset draws fixed-length samples, so a token share is also a sample share: the
Megatron blend weight of a source is its normalised share. Source s with T_s tokens is seen
tokens × w_s / T_s times (epochs); phases add up, and more than `max_epochs` is a warning
(an error with `strict`).

Reading. `load_blend` resolves prefixes relative to blend.json and checks every shard exists
and is whole, so the trainer fails before launch, not inside megatron-core.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from garden.io import fs
from garden.io.writer import atomic_write_bytes, atomic_write_json, read_json
from garden.megatron_format import IndexedDatasetReader, empty_splits, read_lengths


class BlendError(ValueError):
    """Weights or phases the available tokens cannot satisfy, or a blend.json that is missing,
    malformed, or points at missing shards."""


# --- planning and writing (mix, curriculum) ----------------------------------------------------


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
    """tokens.json as `tokenize` wrote it: the sources a blend can draw from."""
    return read_json(path)


def check_split(split: str) -> None:
    """Recipe-time validation of Megatron's train,valid,test split string."""
    parts = split.replace("/", ",").split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"split must look like '98,1,1', got {split!r}") from None
    if len(values) != 3 or any(v < 0 for v in values) or values[0] <= 0:
        raise ValueError(f"split must be three non-negative numbers train,valid,test with train > 0, got {split!r}")


# --- reading and checking (garden train) -------------------------------------------------------


@dataclass
class Blend:
    """blend.json as the trainer uses it: prefixes resolved, phases checked against the sources."""

    path: Path | str  # a local path, or the URL of a blend.json on s3://
    sources: dict[str, dict[str, Any]]  # name -> {"prefix": absolute prefix, ...}
    phases: list[dict[str, Any]]  # [{"name", "tokens", "weights"}]
    vocab_size: int | None
    eod_id: int
    split: str

    def to_dict(self) -> dict:
        return {"path": str(self.path), "sources": self.sources, "phases": self.phases,
                "vocab_size": self.vocab_size, "eod_id": self.eod_id, "split": self.split}


def _tokenizer_vocab(tok: dict, base: Path) -> int | None:
    if tok.get("vocab_size") is not None:
        return int(tok["vocab_size"])
    if tok.get("path"):
        p = Path(tok["path"])
        p = p if p.is_absolute() else base / p
        try:
            from tokenizers import Tokenizer  # optional
        except ImportError:
            return None
        if p.exists():
            return Tokenizer.from_file(str(p)).get_vocab_size(with_added_tokens=True)
    return None


def _check_local_dataset(path: Path, name: str, prefix: Path) -> None:
    """Both files exist, the .idx parses and the .bin holds every token it indexes."""
    for ext in (".bin", ".idx"):
        f = prefix.with_name(prefix.name + ext)
        if not f.exists():
            raise BlendError(f"{path}: source {name!r}: missing data file {f}")
    try:
        ds = IndexedDatasetReader(str(prefix))
    except (ValueError, OSError, KeyError, struct.error) as e:
        raise BlendError(f"{path}: source {name!r}: {prefix}.idx is unreadable: {e}") from None
    if len(ds):
        need = int(ds.sequence_pointers[-1]) + int(ds.sequence_lengths[-1]) * ds.dtype.itemsize
        have = (prefix.with_name(prefix.name + ".bin")).stat().st_size
        if have < need:
            raise BlendError(f"{path}: source {name!r}: {prefix}.bin is truncated: {have:,} bytes, "
                             f"its .idx indexes {need:,}")


def check_splits(path: Path | str, split: str, sources: dict, phases: list[dict]) -> None:
    """megatron-core 0.16.1 hangs building a split with no document: refuse it before launch."""
    used = {s for ph in phases for s in ph["weights"]}
    empty = empty_splits(split, {s: len(read_lengths(sources[s]["prefix"])[1]) for s in used})
    if empty:
        raise BlendError(f"{path}: " + "; ".join(empty) + ". Use split '100,0,0' or more documents.")


# megatron-core reads these object stores itself (the .idx cached locally, the .bin in chunks).
MEGATRON_URL_SCHEMES = ("s3://", "msc://")


def _load_remote_blend(url: str) -> tuple[dict, dict[str, dict]]:
    """blend.json at a URL and its sources with prefixes as URLs, each checked to exist."""
    if not url.startswith(MEGATRON_URL_SCHEMES):
        raise BlendError(f"data.blend: {url}: megatron-core reads shards from s3:// (or msc://) only; "
                         f"copy the run's blend.json and tokens/ to a local or shared filesystem")
    if not fs.isfile(url):
        raise BlendError(f"data.blend: {url} does not exist")
    try:
        raw = read_json(url)
    except ValueError as e:
        raise BlendError(f"{url}: not valid JSON: {e}") from None
    base = fs.dirname(url)
    sources = {}
    for name, src in (raw.get("sources") or {}).items():
        prefix = src["prefix"] if "://" in src["prefix"] else fs.join(base, src["prefix"])
        if not prefix.startswith(MEGATRON_URL_SCHEMES):
            raise BlendError(f"{url}: source {name!r}: {prefix} is not on s3://")
        for ext in (".bin", ".idx"):
            if not fs.isfile(prefix + ext):
                raise BlendError(f"{url}: source {name!r}: missing data file {prefix + ext}")
        sources[name] = {**src, "prefix": prefix}
    return raw, sources


def load_blend(path: str | Path) -> Blend:
    """Parse blend.json, resolve prefixes relative to it and check every .bin/.idx exists.

    A blend.json at an s3:// URL (a run whose output is a bucket) is read there, and so are
    its shards, by megatron-core's object-storage reader."""
    if "://" in str(path):
        raw, sources = _load_remote_blend(str(path))
        return _blend(str(path), raw, sources, base=None)
    path = Path(path)
    if not path.exists():
        raise BlendError(f"data.blend: {path} does not exist (run `garden run` with a mix step "
                         f"first, or point data.blend at an existing blend.json)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BlendError(f"{path}: not valid JSON: {e}") from None
    base = path.parent
    sources = {}
    for name, src in (raw.get("sources") or {}).items():
        src = dict(src)
        for split in ("", "valid", "test"):
            entry = src.get(split) if split else src
            if not isinstance(entry, dict) or "prefix" not in entry:
                continue
            prefix = Path(entry["prefix"])
            prefix = prefix if prefix.is_absolute() else base / prefix
            _check_local_dataset(path, f"{name}_{split}" if split else name, prefix)
            if split:
                src[split] = {**entry, "prefix": str(prefix.resolve())}
            else:
                src["prefix"] = str(prefix.resolve())
        sources[name] = src
    return _blend(path, raw, sources, base)


def _blend(path: Path | str, raw: dict, sources: dict[str, dict], base: Path | None) -> Blend:
    if not sources:
        raise BlendError(f"{path}: no sources")
    phases = raw.get("phases") or []
    if not phases:
        raise BlendError(f"{path}: no phases")
    clean = []
    for i, ph in enumerate(phases):
        weights = {k: float(v) for k, v in (ph.get("weights") or {}).items() if float(v) > 0}
        unknown = set(weights) - set(sources)
        if unknown:
            raise BlendError(f"{path}: phase {i} weights name unknown sources {sorted(unknown)}")
        if not weights:
            raise BlendError(f"{path}: phase {i} has no positive weights")
        if float(ph.get("tokens", 0)) <= 0:
            raise BlendError(f"{path}: phase {i} needs a positive token budget")
        clean.append({"name": str(ph.get("name", f"phase{i}")), "tokens": int(float(ph["tokens"])),
                      "weights": weights})
    split = str(raw.get("split", "100,0,0"))
    check_splits(path, split, sources, clean)
    tok = raw.get("tokenizer") or {}
    vocab = _tokenizer_vocab(tok, base) if base is not None else tok.get("vocab_size")
    return Blend(path=path.resolve() if isinstance(path, Path) else path, sources=sources, phases=clean,
                 vocab_size=int(vocab) if vocab is not None else None, eod_id=int(tok.get("eod_id", 0)),
                 split=split)
