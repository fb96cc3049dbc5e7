"""Read and check `blend.json` (docs/blend-format.md) without torch.

The trainer's launcher uses this to fail before launch on missing shards or a bad contract.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class BlendError(ValueError):
    """blend.json is missing, malformed, or points at missing shards."""


@dataclass
class Blend:
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


@dataclass
class HeldOut:
    """Where a source's held-out documents are: documents [begin, end) of a Megatron dataset."""
    prefix: str
    begin: int
    end: int
    origin: str  # "valid shards" (tokenize's <source>_valid) or "blend split" (blend.json's split)

    def to_dict(self) -> dict:
        return {"prefix": self.prefix, "begin": self.begin, "end": self.end, "origin": self.origin}


def held_out(blend: Blend, names: list[str]) -> tuple[dict[str, HeldOut], dict[str, str]]:
    """Held-out data of each named source, never training data: tokenize's `<source>_valid`
    shards, else the valid part of blend.json's split (documents megatron leaves out of training).
    Returns (found, {source: why it has none})."""
    from garden.megatron_format import read_lengths, split_ranges

    found, missing = {}, {}
    for name in names:
        src = blend.sources[name]
        if "://" in src["prefix"]:
            missing[name] = "its shards are not local (validation reads local shards only)"
            continue
        valid = src.get("valid")
        if valid:
            n = len(read_lengths(valid["prefix"])[1])
            if n:
                found[name] = HeldOut(valid["prefix"], 0, n, "valid shards")
                continue
        begin, end = split_ranges(blend.split, len(read_lengths(src["prefix"])[1]))["valid"]
        if end > begin:
            found[name] = HeldOut(src["prefix"], begin, end, "blend split")
        else:
            missing[name] = (f"no {name}_valid shards (tokenize valid_fraction) and blend split "
                             f"{blend.split!r} holds nothing out")
    return found, missing


def _check_local_dataset(path: Path, name: str, prefix: Path) -> None:
    """Both files exist, the .idx parses and the .bin holds every token it indexes."""
    from garden.megatron_format import IndexedDatasetReader

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
    from garden.megatron_format import empty_splits, read_lengths

    used = {s for ph in phases for s in ph["weights"]}
    empty = empty_splits(split, {s: len(read_lengths(sources[s]["prefix"])[1]) for s in used})
    if empty:
        raise BlendError(f"{path}: " + "; ".join(empty) + ". Use split '100,0,0' or more documents.")


# megatron-core reads these object stores itself (the .idx cached locally, the .bin in chunks).
MEGATRON_URL_SCHEMES = ("s3://", "msc://")


def _load_remote_blend(url: str) -> tuple[dict, dict[str, dict]]:
    """blend.json at a URL and its sources with prefixes as URLs, each checked to exist."""
    from garden.io import fs
    from garden.io.writer import read_json

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
