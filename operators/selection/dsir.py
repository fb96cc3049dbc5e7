"""`dsir`: data selection with importance resampling (Xie et al., 2023) towards a target sample.

Scan counts hashed unigram+bigram features over the corpus (the raw distribution), one
histogram per shard. Finalize fits the target distribution on the `target` files, computes
the log importance weight of every document and its Gumbel key (weight + seeded Gumbel noise
from the document id: top-k of the keys = sampling without replacement proportional to the
weights), and the key threshold that keeps `keep_fraction` of the documents or `target_tokens`
tokens. Apply writes `dsir_weight` and keeps the documents at or above the threshold. The
threshold pass reads the corpus once more on the driver.
"""
from __future__ import annotations

import io
import json
import os
from typing import ClassVar, Literal, Optional

import numpy as np
import pyarrow as pa

from garden.io.outputs import read_output_batches
from garden.hashing import seeded_hashes64
from garden.io import fs
from garden.io.writer import atomic_write_json
from garden.lm.hashed_features import histogram, log_distribution, log_weights
from garden.operator import Doc, GlobalOp, StageContext, Verdict
from garden.registry import register
from operators.quality import read_texts

STATE_FILE = "dsir.json"
RATIO_FILE = "log_ratio.npy"


def gumbel(ids: list[str], seed: int) -> np.ndarray:
    """Standard Gumbel noise from a hash of (seed, id): the same for any worker count or order."""
    u = np.array([(h + 0.5) / 2.0 ** 64 for h in seeded_hashes64(seed, ids, byteorder="little")], dtype=np.float64)
    return -np.log(-np.log(u))


@register
class DSIR(GlobalOp):
    """Importance resampling towards `target` files: writes dsir_weight, keeps a seeded Gumbel top-k (keep_fraction or target_tokens)."""

    name = "dsir"
    target: list[str] = []
    text_field: str = "text"
    buckets: int = 65536
    keep_fraction: Optional[float] = None
    target_tokens: Optional[int] = None
    seed: int = 0
    mode: Literal["drop", "annotate"] = "drop"
    outputs: ClassVar[dict] = {"dsir_weight": pa.float32()}
    param_docs = {
        "target": "files of the target domain (.jsonl[.gz|.zst], .parquet, .txt one document per line)",
        "text_field": "field holding the text in the target files",
        "buckets": "hash bins for the unigram+bigram features",
        "keep_fraction": "keep this share of the documents",
        "target_tokens": "keep documents until their words (CJK characters count one each) reach this many",
        "seed": "seed of the Gumbel noise (combined with each document id)",
        "mode": "drop (keep the selection) | annotate (dsir_weight only)",
    }
    has_apply: ClassVar[bool] = True
    scan_side_outputs: ClassVar[bool] = True

    @staticmethod
    def validate_params(params: dict) -> None:
        if not params["target"]:
            raise ValueError("target is required: files of documents like the ones to select")
        for path in params["target"]:
            if not os.path.isfile(path):
                raise ValueError(f"target: no such file: {path}")
        if params["buckets"] < 16:
            raise ValueError("buckets must be at least 16")
        kf, tt = params["keep_fraction"], params["target_tokens"]
        if params["mode"] == "drop" and (kf is None) == (tt is None):
            raise ValueError("mode: drop needs exactly one of keep_fraction and target_tokens")
        if kf is not None and not 0 < kf <= 1:
            raise ValueError("keep_fraction must be in (0, 1]")
        if tt is not None and tt < 1:
            raise ValueError("target_tokens must be positive")

    def setup(self) -> None:
        self._shard = -1
        self._hist = np.zeros(0, dtype=np.int64)
        self._ratio: np.ndarray | None = None
        self._threshold = -np.inf

    def scan(self, batch: pa.RecordBatch, ctx: StageContext) -> None:
        if ctx.shard != self._shard:
            self._shard, self._hist = ctx.shard, np.zeros(self.buckets, dtype=np.int64)
        self._hist += histogram(batch.column("text").to_pylist(), self.buckets)
        return None

    def scan_end(self, ctx: StageContext) -> None:
        hist = self._hist if self._shard == ctx.shard else np.zeros(self.buckets, dtype=np.int64)
        buf = io.BytesIO()
        np.save(buf, hist)
        fs.atomic_write_bytes(fs.join(ctx.shard_dir, "features.npy"), buf.getvalue())
        self._shard = -1
        return None

    def finalize(self, ctx: StageContext) -> dict:
        side = fs.join(fs.dirname(ctx.work_dir), "side")
        raw = np.zeros(self.buckets, dtype=np.int64)
        for k in range(ctx.num_shards):
            raw += np.load(io.BytesIO(fs.read_bytes(fs.join(side, f"shard-{k:05d}", "features.npy"))))
        target_texts = list(read_texts(self.target, self.text_field))
        if not target_texts:
            raise ValueError(f"dsir: no text in the target files {self.target} (field {self.text_field!r})")
        target = histogram(target_texts, self.buckets)
        ratio = log_distribution(target) - log_distribution(raw)
        buf = io.BytesIO()
        np.save(buf, ratio)
        fs.atomic_write_bytes(fs.join(ctx.work_dir, RATIO_FILE), buf.getvalue())
        keys, tokens = [], []
        for path in ctx.input_shards:  # second pass on the driver: every document's key
            for batch in read_output_batches(path, None, 4096):
                texts = batch.column("text").to_pylist()
                w, n = log_weights(texts, ratio)
                keys.append(w + gumbel(batch.column("id").to_pylist(), self.seed))
                tokens.append(n)
        key = np.concatenate(keys) if keys else np.zeros(0)
        ntok = np.concatenate(tokens) if tokens else np.zeros(0, dtype=np.int64)
        threshold, kept = self._threshold_for(key, ntok)
        atomic_write_json(fs.join(ctx.work_dir, STATE_FILE), {"threshold": threshold})
        return {"documents": int(len(key)), "selected": kept, "threshold": None if threshold == -np.inf else threshold,
                "target_documents": len(target_texts), "selected_tokens": int(ntok[key >= threshold].sum()),
                "corpus_tokens": int(ntok.sum())}

    def _threshold_for(self, key: np.ndarray, ntok: np.ndarray) -> tuple[float, int]:
        if self.mode == "annotate" or len(key) == 0:
            return -np.inf, int(len(key))
        order = np.argsort(-key, kind="stable")
        if self.keep_fraction is not None:
            k = max(1, int(round(self.keep_fraction * len(key))))
        else:
            k = int(np.searchsorted(np.cumsum(ntok[order]), self.target_tokens) + 1)
        k = min(k, len(key))
        return float(key[order[k - 1]]), k

    def prepare_apply(self, ctx: StageContext) -> None:
        self._ratio = np.load(io.BytesIO(fs.read_bytes(fs.join(ctx.work_dir, RATIO_FILE))))
        self._threshold = json.loads(fs.read_bytes(fs.join(ctx.work_dir, STATE_FILE)))["threshold"]

    def apply(self, docs: list[Doc], shard: int) -> list[Verdict]:
        w, _ = log_weights([d["text"] for d in docs], self._ratio)
        keys = w + gumbel([d["id"] for d in docs], self.seed)
        out: list[Verdict] = []
        for doc, weight, key in zip(docs, w, keys):
            doc["dsir_weight"] = float(weight)
            out.append(True if self.mode == "annotate" or key >= self._threshold else "not_selected")
        return out
