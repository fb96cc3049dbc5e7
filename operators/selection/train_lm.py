"""`train_lm`: an n-gram language model (modified Kneser-Ney) trained on the documents that reach it.

Scan counts n-grams per shard in parallel (one counts file per shard and language); finalize
merges them, estimates the model, prunes it to `max_size` and writes `<output>/<lang>/model.npz`
(and `model.arpa` with `arpa: true`). A later `perplexity: {model: auto}` uses these models.
"""
from __future__ import annotations

import io
import json
import time
from typing import ClassVar, Optional

import pyarrow as pa

from garden.io import fs
from garden.io.writer import atomic_write_json
from garden.lm import NgramCounter, Normalizer, TokenSpec, TrainConfig, estimate_from_counter, load_counts, save_counts
from garden.lm.kneser_ney import model_bytes
from garden.operator import GlobalOp, StageContext
from garden.registry import register

ALL = "*"  # the language key of a model trained on every document
ARTIFACT = "lm"  # ctx.artifacts["lm"] = {lang or "*": model path}


def token_spec(param: str, artifacts: dict) -> TokenSpec:
    """bytes, a tokenizer.json path (or its directory), or auto = the tokenizer train_tokenizer wrote."""
    if param == "auto":
        param = artifacts.get("tokenizer", "")
        if not param:
            raise ValueError("train_lm: tokenizer: auto needs train_tokenizer earlier in the recipe")
    if param in ("", "bytes"):
        return TokenSpec("bytes")
    path = fs.join(param, "tokenizer.json") if fs.isdir(param) else param
    spec = TokenSpec("tokenizer", tokenizer_json=fs.read_bytes(path).decode("utf-8"))
    spec.tokenizer()
    return spec


@register
class TrainLM(GlobalOp):
    """Train an n-gram LM (interpolated modified Kneser-Ney) per language on kept documents; writes <output>/<lang>/model.npz."""

    name = "train_lm"
    order: int = 5
    tokenizer: str = "bytes"
    languages: list[str] = []
    from_sources: list[str] = []
    max_size: Optional[str] = None
    normalize: dict = {}
    output: str = "lm"
    arpa: bool = False
    max_memory: str = "512MB"
    param_docs = {
        "order": "n-gram order (5 as CCNet; bytes carry less context per token than words)",
        "tokenizer": "bytes (no tokenizer needed, any language), a tokenizer.json or its directory, or auto "
                     "(the one train_tokenizer wrote earlier)",
        "languages": "one model per language of the `lang` column (run `language` first); [] = one model for all",
        "from_sources": "train only on documents of these sources (the others pass through and are not counted)",
        "max_size": "prune each model to about this size on disk, e.g. 100MB (null = no pruning)",
        "normalize": "CCNet normalisation settings {lowercase, strip_accents, digits_to_zero, punct: ascii|remove|keep}",
        "output": "directory under the run directory",
        "arpa": "also write model.arpa (+ .garden.json), readable by KenLM",
        "max_memory": "n-gram counts held in memory per counter before sorted runs are spilled to the temp "
                      "directory and merged streaming (the same model, bounded memory while counting)",
    }
    scan_side_outputs: ClassVar[bool] = True

    @staticmethod
    def validate_params(params: dict) -> None:
        from garden.recipe import parse_size

        if not 1 <= params["order"] <= 10:
            raise ValueError("order must be between 1 and 10")
        Normalizer.from_dict(params["normalize"])
        if params["max_size"] is not None:
            parse_size(params["max_size"])
        if parse_size(params["max_memory"]) < 1024:
            raise ValueError("max_memory must be at least 1KB")
        tok = params["tokenizer"]
        if tok not in ("bytes", "auto", "") and not fs.exists(tok):
            raise ValueError(f"tokenizer: not found: {tok} (a tokenizer.json, its directory, bytes or auto)")

    @staticmethod
    def validate_in_recipe(params: dict, earlier: list[str]) -> None:
        if params["tokenizer"] == "auto" and "train_tokenizer" not in earlier:
            raise ValueError("tokenizer: auto needs a train_tokenizer step before train_lm")

    def setup(self) -> None:
        self._shard = -1
        self._counters: dict[str, NgramCounter] = {}
        self._spec: TokenSpec | None = None
        self._norm = Normalizer.from_dict(self.normalize)

    def _lang_key(self, lang) -> str | None:
        if not self.languages:
            return ALL
        return lang if lang in self.languages else None

    def scan(self, batch: pa.RecordBatch, ctx: StageContext) -> None:
        if self._spec is None:
            self._spec = token_spec(self.tokenizer, ctx.artifacts)
        if ctx.shard != self._shard:
            self._shard, self._counters = ctx.shard, {}
        texts = batch.column("text").to_pylist()
        sources = batch.column("source").to_pylist()
        langs = batch.column("lang").to_pylist() if "lang" in batch.schema.names else [None] * len(texts)
        groups: dict[str, list[str]] = {}
        for text, source, lang in zip(texts, sources, langs):
            key = self._lang_key(lang)
            if key is None or (self.from_sources and source not in self.from_sources):
                continue
            groups.setdefault(key, []).extend(n for n in (self._norm(x) for x in (text or "").split("\n")) if n)
        for key, lines in groups.items():
            counter = self._counters.get(key) or self._counters.setdefault(key, self._counter(self._spec))
            counter.add(self._spec.encode(lines))
        return None

    def _counter(self, spec: TokenSpec) -> NgramCounter:
        from garden.recipe import parse_size

        return NgramCounter(self.order, spec.bos, spec.eos, max_memory=parse_size(self.max_memory))

    def scan_end(self, ctx: StageContext) -> None:
        counters = self._counters if self._shard == ctx.shard else {}
        names = {}
        for i, (key, counter) in enumerate(sorted(counters.items())):
            buf = io.BytesIO()
            save_counts(buf, counter.finish(), counter.sentences, counter.tokens)
            fs.atomic_write_bytes(fs.join(ctx.shard_dir, f"counts-{i}.npz"), buf.getvalue())
            names[key] = f"counts-{i}.npz"
        atomic_write_json(fs.join(ctx.shard_dir, "counts.json"), names)
        self._shard, self._counters = -1, {}
        return None

    def finalize(self, ctx: StageContext) -> dict:
        from garden.recipe import parse_size

        spec = token_spec(self.tokenizer, ctx.artifacts)
        side = fs.join(fs.dirname(ctx.work_dir), "side")
        merged: dict[str, NgramCounter] = {}
        for k in range(ctx.num_shards):
            shard_dir = fs.join(side, f"shard-{k:05d}")
            for key, name in json.loads(fs.read_bytes(fs.join(shard_dir, "counts.json"))).items():
                counts, sentences, tokens = load_counts(io.BytesIO(fs.read_bytes(fs.join(shard_dir, name))))
                counter = merged.get(key) or merged.setdefault(key, self._counter(spec))
                counter.add_counts(counts)
                counter.sentences += sentences
                counter.tokens += tokens
        if not merged:
            wanted = f"languages {self.languages}" if self.languages else "any language"
            raise ValueError(f"train_lm: no documents to train on ({wanted}"
                             + (f", sources {self.from_sources})" if self.from_sources else ")"))
        config = TrainConfig(order=self.order, normalizer=self._norm,
                             max_bytes=parse_size(self.max_size) if self.max_size else None)
        paths, models = {}, {}
        for key, counter in sorted(merged.items()):
            t0 = time.perf_counter()
            model = estimate_from_counter(counter, spec, config)
            seconds = round(time.perf_counter() - t0, 3)
            out_dir = fs.join(ctx.run_dir, self.output, "all" if key == ALL else key)
            path = fs.join(out_dir, "model.npz")
            data = model.to_bytes()
            fs.atomic_write_bytes(path, data)
            if self.arpa:
                from garden.lm.arpa import SIDECAR, sidecar, write_arpa_stream

                with fs.StagedFile(fs.join(out_dir, "model.arpa")) as staged:
                    with open(staged.local, "w", encoding="utf-8") as fh:
                        write_arpa_stream(model, fh)
                atomic_write_json(fs.join(out_dir, "model.arpa" + SIDECAR), sidecar(model))
            paths[key] = path
            models[key] = {"path": fs.join(self.output, "all" if key == ALL else key, "model.npz"),
                           "bytes": len(data), "estimated_bytes": model_bytes(model), "ngrams": model.num_ngrams(),
                           "estimate_seconds": seconds, "merge_spilled_runs": counter.spilled_runs,
                           **model.meta}
        return {"artifacts": {ARTIFACT: paths}, "order": self.order, "tokens": spec.kind, "models": models}

