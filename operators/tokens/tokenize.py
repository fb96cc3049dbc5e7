"""`tokenize`: kept documents → Megatron indexed datasets (.bin/.idx), one prefix per source.

Scan (in parallel, one task per shard) encodes each batch and appends it straight to per-shard,
per-source `.bin` files in the shard's side directory, so a worker never holds more than one
batch of tokens. Finalize (driver) concatenates each source's shard files **in shard order**,
which is input order: document i of `tokens/<source>` is the i-th kept document of that source
as read from the inputs, for any worker count. It then writes `tokens.json`.
"""
from __future__ import annotations

import json

import re
import time
from typing import ClassVar, Optional

import numpy as np
import pyarrow as pa

from garden.io import fs
from garden.io.writer import atomic_write_json
from garden.megatron_format import IndexedDatasetWriter, merge, token_dtype
from garden.operator import GlobalOp, StageContext
from garden.registry import register
from operators.tokens._encode import encode_flat, set_thread_pool_size
from operators.tokens._load import TokenizerInfo, load_tokenizer
from garden.hashing import seeded_fraction as stable_fraction

SPLITS = ("train", "valid", "test")
COUNTS_FILE = "counts.json"


def prefix_name(source: str, split: str) -> str:
    """A file-system-safe dataset name: `web`, `web_valid`, `web_test`."""
    safe = re.sub(r"[^\w.-]+", "_", source, flags=re.UNICODE).strip("._") or "source"
    return safe if split == "train" else f"{safe}_{split}"


def resolve_tokenizer_path(param: str, artifacts: dict) -> str:
    if param in ("", "auto"):
        path = artifacts.get("tokenizer")
        if not path:
            raise ValueError("tokenize: no tokenizer — put train_tokenizer earlier in the recipe or set "
                             "tokenizer: PATH (tokenizer.json, a directory, or GPT-2 vocab.json)")
        return path
    return param


@register
class Tokenize(GlobalOp):
    """Encode kept documents (+EOD) into Megatron .bin/.idx per source under tokens/, and tokens.json."""

    name = "tokenize"
    tokenizer: str = "auto"
    eod_token: Optional[str] = None
    append_eod: bool = True
    output_dir: str = "tokens"
    valid_fraction: float = 0.0
    test_fraction: float = 0.0
    seed: int = 0
    threads: int = 1
    split_by: Optional[str] = None
    param_docs = {
        "tokenizer": "auto = the one train_tokenizer wrote earlier in this recipe; or a tokenizer.json, "
                     "a directory, or GPT-2 vocab.json (+merges.txt) / encoder.json (+vocab.bpe)",
        "eod_token": "end-of-document token (default: eos_token of tokenizer_config.json, else <|endoftext|>, </s>, ...)",
        "append_eod": "append the EOD token after every document",
        "output_dir": "directory under the run directory for the .bin/.idx files",
        "valid_fraction": "documents (seeded by id) written to <source>_valid instead",
        "test_fraction": "documents (seeded by id) written to <source>_test instead",
        "seed": "seed of the valid/test assignment",
        "threads": "tokenizer threads per worker: 1 = processes give the parallelism; 0 = all cores",
        "split_by": "a column (e.g. ppl_bucket) that splits each source into `source:value` datasets, which "
                    "mix/curriculum weights can name (web:head); documents without a value stay in `source`",
    }
    scan_side_outputs: ClassVar[bool] = True
    output_params: ClassVar[tuple[str, ...]] = ("output_dir",)
    run_files: ClassVar[tuple[str, ...]] = ("tokens.json",)
    param_bounds = {"valid_fraction": (0, 1), "test_fraction": (0, 1), "threads": (0, 1024)}

    @staticmethod
    def validate_params(params: dict) -> None:
        v, t = params["valid_fraction"], params["test_fraction"]
        if v < 0 or t < 0 or v + t >= 1:
            raise ValueError("valid_fraction and test_fraction must be >= 0 and sum to less than 1")
        if params["threads"] < 0:
            raise ValueError("threads must be >= 0")

    @staticmethod
    def validate_in_recipe(params: dict, earlier: list[str]) -> None:
        if params["split_by"] == "ppl_bucket" and "perplexity" not in earlier:
            raise ValueError("split_by: ppl_bucket needs a perplexity step with mode: bucket before tokenize")

    def setup(self) -> None:
        set_thread_pool_size(self.threads)
        self._tok = None
        self._info: TokenizerInfo | None = None
        self._dtype = np.dtype(np.uint16)
        self._shard = -1
        self._writers: dict[str, IndexedDatasetWriter] = {}
        self._counts: dict[str, dict] = {}
        self._cpu = 0.0  # CPU seconds of this shard's scan (encode + write), for the speed report

    def _load(self, artifacts: dict) -> None:
        if self._tok is None:
            self._tok, self._info = load_tokenizer(resolve_tokenizer_path(self.tokenizer, artifacts), self.eod_token)
            self._dtype = token_dtype(self._info.vocab_size)

    def _split_of(self, doc_id: str) -> str:
        if not (self.valid_fraction or self.test_fraction):
            return "train"
        f = stable_fraction(self.seed, doc_id)
        if f < self.valid_fraction:
            return "valid"
        return "test" if f < self.valid_fraction + self.test_fraction else "train"

    def _start_shard(self, ctx: StageContext) -> None:
        for w in self._writers.values():  # left over from a failed shard in this process
            w.abort()
        self._shard, self._writers, self._counts, self._cpu = ctx.shard, {}, {}, 0.0

    def scan(self, batch: pa.RecordBatch, ctx: StageContext) -> None:
        self._load(ctx.artifacts)
        if ctx.shard != self._shard:
            self._start_shard(ctx)
        cpu0 = time.process_time()
        try:
            self._scan(batch, ctx)
        finally:
            self._cpu += time.process_time() - cpu0
        return None

    def _scan(self, batch: pa.RecordBatch, ctx: StageContext) -> None:
        texts = batch.column("text").to_pylist()
        sources = batch.column("source").to_pylist()
        if self.split_by and self.split_by in batch.schema.names:
            parts = batch.column(self.split_by).to_pylist()
            sources = [s if v is None else f"{s}:{v}" for s, v in zip(sources, parts)]
        ids = batch.column("id").to_pylist()
        splits = [self._split_of(i) for i in ids]
        names = [prefix_name(s, sp) for s, sp in zip(sources, splits)]
        flat, lengths = encode_flat(self._tok, texts, self._dtype, self._info.eod_id if self.append_eod else None,
                                    self.threads)
        for name, source, split in dict.fromkeys(zip(names, sources, splits)):
            if name not in self._writers:
                self._writers[name] = IndexedDatasetWriter(fs.join(ctx.shard_dir, name), self._dtype)
                self._counts[name] = {"source": source, "split": split}
        if len(set(names)) == 1:
            self._writers[names[0]].add_flat(flat, lengths)
            return None
        ends = np.cumsum(lengths)
        starts = ends - lengths
        for name in dict.fromkeys(names):
            sel = [i for i, n in enumerate(names) if n == name]
            self._writers[name].add_flat(np.concatenate([flat[starts[i]:ends[i]] for i in sel]), lengths[sel])
        return None

    def scan_end(self, ctx: StageContext) -> None:
        if ctx.shard != self._shard:  # a shard without documents
            self._start_shard(ctx)
        for name, writer in sorted(self._writers.items()):
            self._counts[name].update(writer.finalize())
        atomic_write_json(fs.join(ctx.shard_dir, COUNTS_FILE),
                          {"dtype": str(self._dtype), "cpu_seconds": round(self._cpu, 4), "datasets": self._counts})
        self._shard, self._writers, self._counts = -1, {}, {}
        return None

    def finalize(self, ctx: StageContext) -> dict:
        self._load(ctx.artifacts)
        side = fs.join(fs.dirname(ctx.work_dir), "side")
        parts: dict[str, list[str]] = {}
        meta: dict[str, dict] = {}
        cpu = 0.0
        shard_dirs = [fs.join(side, f"shard-{k:05d}") for k in range(ctx.num_shards)]
        count_files = fs.prefetched([fs.join(d, COUNTS_FILE) for d in shard_dirs])  # concurrent on object stores
        for shard_dir, (_, raw) in zip(shard_dirs, count_files):
            counts = json.loads(raw)
            cpu += counts.get("cpu_seconds", 0.0)
            for name, c in sorted(counts["datasets"].items()):
                meta.setdefault(name, {"source": c["source"], "split": c["split"]})
                if meta[name]["source"] != c["source"]:
                    raise ValueError(f"tokenize: sources {meta[name]['source']!r} and {c['source']!r} "
                                     f"map to the same file name {name!r}; rename one")
                parts.setdefault(name, []).append(fs.join(shard_dir, name))
        out_dir = fs.join(ctx.run_dir, self.output_dir)
        sources: dict[str, dict] = {}
        for name in sorted(parts):
            merged = merge(parts[name], fs.join(out_dir, name), self._dtype)
            entry = {"prefix": fs.join(self.output_dir, name), **merged}
            src, split = meta[name]["source"], meta[name]["split"]
            if split == "train":
                sources.setdefault(src, {}).update(entry)
            else:
                sources.setdefault(src, {})[split] = entry
        for src, entry in sources.items():
            if "prefix" not in entry:  # every document of a small source went to valid/test
                raise ValueError(f"tokenize: source {src!r} has no training documents")
        info = self._info
        tok_path = info.path
        run_dir = fs.abspath(ctx.run_dir).rstrip("/") + "/"
        if fs.abspath(tok_path).startswith(run_dir):
            tok_path = fs.abspath(tok_path)[len(run_dir):]
        manifest = {
            "version": 1,
            "tokenizer": {"path": tok_path, "vocab_size": info.vocab_size, "eod_id": info.eod_id,
                          "eod_token": info.eod_token},
            "dtype": str(self._dtype),
            "append_eod": self.append_eod,
            "order": "per source, documents in input order (shard by shard)",
            "sources": dict(sorted(sources.items())),
        }
        path = fs.join(ctx.run_dir, "tokens.json")
        atomic_write_json(path, manifest)
        totals = {"documents": sum(e["documents"] for e in sources.values()),
                  "tokens": sum(e["tokens"] for e in sources.values())}
        return {"artifacts": {"tokens": path}, **totals, "dtype": str(self._dtype),
                "scan_cpu_seconds": round(cpu, 3),
                "sources": {s: {"documents": e["documents"], "tokens": e["tokens"]} for s, e in sources.items()}}

