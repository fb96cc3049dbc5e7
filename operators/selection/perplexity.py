"""`perplexity`: score documents (or lines) with n-gram LMs per language; drop, annotate or bucket.

A global operator because CCNet-style rules need the corpus: scan scores every document (or
line) and records (language, perplexity); finalize turns `max_percentile` and the bucket
percentiles into per-language cut-offs (in stats.json); apply scores again and decides.
Documents in a language without a model pass unscored (perplexity null) and are counted.
"""
from __future__ import annotations

import json
from typing import ClassVar, Literal, Optional

import numpy as np
import pyarrow as pa

from garden.io import fs
from garden.io.writer import atomic_write_json
from garden.lm import load_model, model_kind, perplexity_of, resolve_path
from garden.operator import Doc, GlobalOp, StageContext, Verdict
from garden.registry import register
from operators.selection.train_lm import ALL, ARTIFACT

BUCKETS = ("head", "middle", "tail")
CUTOFFS_FILE = "cutoffs.json"


def model_paths(model: str, models: dict, artifacts: dict) -> dict[str, str]:
    """{language or "*": path} from the parameters; `auto` = what train_lm wrote earlier."""
    out = {}
    if model == "auto":
        trained = artifacts.get(ARTIFACT)
        if not trained:
            raise ValueError("perplexity: model: auto needs a train_lm step earlier in the recipe")
        out.update(trained)
    elif model:
        out[ALL] = model
    for lang, path in models.items():
        out[lang] = path
    return out


@register
class Perplexity(GlobalOp):
    """Perplexity of each document (or line) under n-gram LMs per language; drop above a threshold or percentile, or bucket."""

    name = "perplexity"
    model: str = ""
    models: dict[str, str] = {}
    per: Literal["document", "line"] = "document"
    mode: Literal["drop", "annotate", "bucket"] = "drop"
    max_perplexity: Optional[float] = None
    max_percentile: Optional[float] = None
    bucket_percentiles: list[float] = [30.0, 60.0]
    lang_field: str = "lang"
    only_sources: list[str] = []
    outputs: ClassVar[dict] = {"perplexity": pa.float32(), "ppl_bucket": pa.string()}
    param_docs = {
        "model": "a model for every language: train_lm's model.npz (or its directory), an ARPA file (.arpa[.gz]), a "
                 "KenLM binary (needs the kenlm module), a `garden train` run / checkpoint or `garden export` folder "
                 "(a transformer: slow, imports torch); auto = the models train_lm wrote earlier in the recipe",
        "models": "per language {zh: PATH, en: PATH} (by the `lang` column); overrides `model` for those languages",
        "per": "document: one perplexity per document; line: score lines, remove lines above the cut-off, keep the rest",
        "mode": "drop (above the cut-off) | annotate (perplexity column only) | bucket (ppl_bucket head/middle/tail)",
        "max_perplexity": "fixed cut-off",
        "max_percentile": "cut-off per language at this percentile of the corpus's own perplexities (e.g. 90)",
        "bucket_percentiles": "per-language percentiles separating head | middle | tail (CCNet: 30, 60)",
        "lang_field": "the column holding the language (from the `language` operator)",
        "only_sources": "score only these sources (e.g. not the one train_lm learned from); the others pass untouched",
    }
    has_apply: ClassVar[bool] = True

    @staticmethod
    def validate_params(params: dict) -> None:
        if not params["model"] and not params["models"]:
            raise ValueError("model or models is required (a train_lm model, an ARPA file, or auto)")
        named = ([("model", params["model"])] if params["model"] not in ("", "auto") else []) + \
            [(f"models.{lang}", path) for lang, path in params["models"].items()]
        for what, path in named:
            try:
                model_kind(resolve_path(path))
            except (FileNotFoundError, ValueError) as exc:
                raise ValueError(f"{what}: {exc}") from None
        mp, pc = params["max_perplexity"], params["max_percentile"]
        if mp is not None and mp <= 0:
            raise ValueError("max_perplexity must be positive")
        if pc is not None and not 0 < pc <= 100:
            raise ValueError("max_percentile must be in (0, 100]")
        if params["mode"] == "drop" and mp is None and pc is None:
            raise ValueError("mode: drop needs max_perplexity or max_percentile (or use mode: annotate)")
        if params["per"] == "line" and params["mode"] != "drop":
            raise ValueError("per: line removes lines, so it needs mode: drop")
        b = params["bucket_percentiles"]
        if len(b) != 2 or not 0 < b[0] < b[1] < 100:
            raise ValueError("bucket_percentiles must be two increasing percentiles in (0, 100)")

    @staticmethod
    def validate_in_recipe(params: dict, earlier: list[str]) -> None:
        if params["model"] == "auto" and "train_lm" not in earlier:
            raise ValueError("model: auto needs a train_lm step before perplexity")

    def setup(self) -> None:
        self._models: dict[str, object] = {}
        self._paths: dict[str, str] | None = None
        self._cutoffs: dict[str, float] = {}
        self._buckets: dict[str, list[float]] = {}
        self._shard = -1
        self._parts: list[pa.Table] = []

    # -- models ------------------------------------------------------------------------
    def _load(self, artifacts: dict) -> None:
        if self._paths is None:
            self._paths = model_paths(self.model, self.models, artifacts)
            for lang, path in self._paths.items():
                if fs.is_url(path):
                    with fs.local_copy(path) as local:
                        self._models[lang] = load_model(local)
                else:
                    self._models[lang] = load_model(path)

    def _skipped(self, doc: Doc) -> bool:
        return bool(self.only_sources) and doc.get("source") not in self.only_sources

    def _model_key(self, doc: Doc) -> str | None:
        if self._skipped(doc):
            return None
        lang = doc.get(self.lang_field)
        if lang in self._models:
            return lang
        return ALL if ALL in self._models else None

    def _units(self, docs: list[Doc]) -> tuple[list[str | None], list[list[float | None]]]:
        """Model key per document and the perplexity of each unit (the document, or each raw line)."""
        keys = [self._model_key(d) for d in docs]
        out: list[list[float | None]] = [[] for _ in docs]
        by_key: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            if k is not None:
                by_key.setdefault(k, []).append(i)
        for k, idx in by_key.items():
            model = self._models[k]
            if self.per == "document":
                for i, p in zip(idx, model.perplexity([docs[i]["text"] or "" for i in idx])):
                    out[i] = [p]
            else:
                owners, lines = [], []
                for i in idx:
                    for line in (docs[i]["text"] or "").split("\n"):
                        owners.append(i)
                        lines.append(line)
                for i, p in zip(owners, model.perplexity(lines)):
                    out[i].append(p)
        return keys, out

    # -- scan: (language, perplexity) of every unit --------------------------------------
    def scan(self, batch: pa.RecordBatch, ctx: StageContext) -> pa.Table:
        self._load(ctx.artifacts)
        docs = batch.select([c for c in ("text", "source", self.lang_field) if c in batch.schema.names]).to_pylist()
        keys, units = self._units(docs)
        rows: list[tuple[str, float | None, str]] = []
        for doc, key, vals in zip(docs, keys, units):
            lang = self._group(doc)
            if self._skipped(doc):
                continue
            if key is None:
                rows.append((lang, None, "no_model"))
            elif not any(v is not None for v in vals):
                rows.append((lang, None, "empty"))
            rows.extend((lang, v, "scored") for v in vals if v is not None)
        langs, ppls, kinds = zip(*rows) if rows else ((), (), ())
        return pa.table({"lang": pa.array(list(langs), pa.string()), "ppl": pa.array(list(ppls), pa.float64()),
                         "kind": pa.array(list(kinds), pa.string())})

    def finalize(self, ctx: StageContext) -> dict:
        files = fs.glob(fs.join(fs.dirname(ctx.work_dir), "scan", "shard-*", "rows.parquet"))
        table = pa.concat_tables([fs.parquet_file(f).read() for f in files]) if files else None
        cutoffs, buckets, counts = {}, {}, {}
        if table is not None and table.num_rows:
            langs = np.array(table.column("lang").to_pylist(), dtype=object)
            ppl = table.column("ppl").to_numpy(zero_copy_only=False).astype(np.float64)
            kinds = np.array(table.column("kind").to_pylist(), dtype=object)
            for lang in sorted(set(langs.tolist())):
                mine = langs == lang
                scored = ppl[mine & (kinds == "scored")]
                unit = "lines" if self.per == "line" else "documents"
                entry = {f"scored_{unit}": int(len(scored)),
                         "unscored_no_model": int(np.count_nonzero(mine & (kinds == "no_model"))),
                         "empty": int(np.count_nonzero(mine & (kinds == "empty")))}
                if len(scored):
                    entry["median"] = round(float(np.median(scored)), 3)
                    cut = self.max_perplexity
                    if self.max_percentile is not None:
                        pct = float(np.percentile(scored, self.max_percentile))
                        cut = pct if cut is None else min(cut, pct)
                    if cut is not None:
                        cutoffs[lang] = cut
                        entry["cutoff"] = round(cut, 4)
                        entry[f"above_cutoff_{unit}"] = int(np.count_nonzero(scored > cut))
                    if self.mode == "bucket":
                        buckets[lang] = [float(np.percentile(scored, p)) for p in self.bucket_percentiles]
                        entry["bucket_cutoffs"] = [round(b, 4) for b in buckets[lang]]
                counts[lang] = entry
        atomic_write_json(fs.join(ctx.work_dir, CUTOFFS_FILE), {"cutoffs": cutoffs, "buckets": buckets})
        return {"per": self.per, "mode": self.mode, "max_percentile": self.max_percentile,
                "max_perplexity": self.max_perplexity, "languages": counts}

    # -- apply -------------------------------------------------------------------------
    def prepare_apply(self, ctx: StageContext) -> None:
        self._load(ctx.artifacts)
        saved = json.loads(fs.read_bytes(fs.join(ctx.work_dir, CUTOFFS_FILE)))
        self._cutoffs, self._buckets = saved["cutoffs"], saved["buckets"]

    def _group(self, doc: Doc) -> str:
        """Cut-offs and buckets are per language, whichever model scored the document."""
        return str(doc.get(self.lang_field) or "unknown")

    def _cut(self, doc: Doc) -> float | None:
        return self._cutoffs.get(self._group(doc), self.max_perplexity)

    def apply(self, docs: list[Doc], shard: int) -> list[Verdict]:
        keys, units = self._units(docs)
        verdicts: list[Verdict] = []
        for doc, key, vals in zip(docs, keys, units):
            doc["perplexity"], doc["ppl_bucket"] = None, None
            if key is None:
                verdicts.append(True)
                continue
            cut = self._cut(doc)
            if self.per == "line":
                verdicts.append(self._apply_lines(doc, key, vals, cut))
                continue
            ppl = vals[0] if vals else None
            doc["perplexity"] = ppl
            if ppl is None:
                verdicts.append(True)
            elif self.mode == "bucket":
                lo, hi = self._buckets.get(self._group(doc), [float("inf"), float("inf")])
                doc["ppl_bucket"] = BUCKETS[0] if ppl <= lo else BUCKETS[1] if ppl <= hi else BUCKETS[2]
                verdicts.append(True)
            elif self.mode == "drop" and cut is not None and ppl > cut:
                verdicts.append("high_perplexity")
            else:
                verdicts.append(True)
        return verdicts

    def _apply_lines(self, doc: Doc, key: str, vals: list[float | None], cut: float | None) -> Verdict:
        lines = (doc["text"] or "").split("\n")
        kept = [line for line, p in zip(lines, vals) if p is None or cut is None or p <= cut]
        if not any(p is not None for p in vals):
            return True  # nothing scorable: an empty or whitespace-only text
        if not any(p is not None and (cut is None or p <= cut) for p in vals):
            return "all_lines_high_perplexity"
        doc["text"] = "\n".join(kept)
        log10, tokens = self._models[key].score_texts([doc["text"]])
        doc["perplexity"] = perplexity_of(float(log10[0]), int(tokens[0]))
        return True
