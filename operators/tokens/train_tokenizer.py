"""`train_tokenizer`: a subword tokenizer (byte-level BPE, unigram with byte fallback, or WordPiece)
trained on the kept documents (or a seeded sample of them)."""
from __future__ import annotations

from typing import ClassVar, Iterator, Literal, Optional

import numpy as np
import pyarrow as pa

from garden.io import fs
from garden.io.writer import atomic_write_json
from garden.io.outputs import read_output_batches
from garden.operator import GlobalOp, StageContext
from garden.registry import register
from operators.tokens._report import CompressionReport
from operators.tokens._sample import bottom_k, choose, doc_keys
from operators.tokens._trainer import (DEFAULT_CHARACTER_COVERAGE, DEFAULT_PRE_TOKENIZER, check_model,
                                       check_pre_tokenizer, save_tokenizer_dir, special_token_list, train_model)

READ_COLUMNS = ("id", "text", "source", "meta", "lang")


@register
class TrainTokenizer(GlobalOp):
    """Train a subword tokenizer (HF tokenizers: bpe, unigram, wordpiece) on kept documents; writes
    tokenizer/ in the run dir.

    The sample is the documents with the smallest seeded hash of their id (per source with
    `balance_sources`), so the same data gives the same tokenizer for any worker count.
    Documents outside the sample (`check_docs` of them) measure bytes and characters per token
    per source and language, and every one must survive decode(encode(x)) == x (bpe, unigram;
    wordpiece cannot, and reports its unknown-token rate instead).
    """

    name = "train_tokenizer"
    model: Literal["bpe", "unigram", "wordpiece"] = "bpe"
    vocab_size: int = 32000
    min_frequency: int = 2
    special_tokens: list[str] = []
    eod_token: str = "<|endoftext|>"
    sample_docs: Optional[int] = None
    balance_sources: bool = False
    seed: int = 0
    pre_tokenizer: dict = dict(DEFAULT_PRE_TOKENIZER)
    max_token_length: Optional[int] = None
    check_docs: int = 1000
    model_max_length: int = 4096
    character_coverage: float = DEFAULT_CHARACTER_COVERAGE
    param_docs = {
        "model": "bpe (byte-level, GPT-style), unigram (SentencePiece-style with byte fallback) or wordpiece "
                 "(BERT-style, for encoders: drops whitespace, unseen characters are [UNK])",
        "vocab_size": "vocabulary size including the special tokens",
        "min_frequency": "a pair must occur this often to be merged (bpe, wordpiece)",
        "special_tokens": "extra special tokens (the EOD token is always first, id 0; unigram adds <unk>, "
                          "wordpiece [UNK] after them)",
        "eod_token": "end-of-document token appended after every document by `tokenize`",
        "sample_docs": "train on this many documents (seeded by id); null = every kept document",
        "balance_sources": "sample the same number of documents from each source",
        "seed": "seed of the sample",
        "pre_tokenizer": "{cjk: run|char|none, digits: individual|groups3|none}",
        "max_token_length": "longest token in characters (null = no limit for bpe, 16 for unigram; not wordpiece)",
        "check_docs": "documents (held out when possible) for compression figures and the round-trip check",
        "model_max_length": "written to tokenizer_config.json for transformers",
        "character_coverage": "unigram: share of the training characters that get their own piece (the "
                              "rarest are spelled as UTF-8 byte pieces; at most half the vocabulary)",
    }
    scan_side_outputs: ClassVar[bool] = False
    run_files: ClassVar[tuple[str, ...]] = ("tokenizer",)
    # 2^22 tokens is far past any vocabulary in use; 1e12 would abort in the Rust trainer (exit 134)
    param_bounds = {"vocab_size": (256, 1 << 22), "min_frequency": (0, None), "sample_docs": (1, None),
                    "check_docs": (0, None), "max_token_length": (1, None), "model_max_length": (1, None),
                    "character_coverage": (0, 1)}

    @staticmethod
    def validate_params(params: dict) -> None:
        check_pre_tokenizer(params["pre_tokenizer"] or {})
        model = check_model(params["model"])
        specials = special_token_list(params["eod_token"], list(params["special_tokens"]), model)
        if model == "unigram" and params["vocab_size"] < 256 + len(specials) + 64:
            raise ValueError(f"vocab_size must cover the 256 byte pieces, the {len(specials)} special tokens "
                             f"and at least 64 unigram pieces")
        if params["vocab_size"] < 256 + len(specials):
            raise ValueError("vocab_size must cover the 256 byte symbols plus the special tokens")
        if model == "wordpiece" and params["max_token_length"] is not None:
            raise ValueError("max_token_length applies to bpe and unigram, not wordpiece")
        if not 0 < params["character_coverage"] <= 1:
            raise ValueError("character_coverage must be in (0, 1]")
        if params["sample_docs"] is not None and params["sample_docs"] < 1:
            raise ValueError("sample_docs must be positive (or null for all documents)")
        if params["check_docs"] < 0:
            raise ValueError("check_docs must be >= 0")

    def setup(self) -> None:
        self._shard = -1
        self._parts: list[pa.Table] = []

    # -- scan: keys of every document, pruned to each shard's bottom-k ----------------------
    def _limit(self) -> int:
        return (self.sample_docs or 0) + self.check_docs

    def scan(self, batch: pa.RecordBatch, ctx: StageContext) -> None:
        if ctx.shard != self._shard:
            self._shard, self._parts = ctx.shard, []
        n = batch.num_rows
        part = pa.table({
            "key": pa.array(doc_keys(batch.column("id").to_pylist(), self.seed)),
            "shard": pa.array(np.full(n, ctx.shard, dtype=np.int32)),
            "row": pa.array(np.arange(ctx.row_offset, ctx.row_offset + n, dtype=np.int64)),
            "source": batch.column("source"),
        })
        self._parts.append(bottom_k(part, self._limit(), self.balance_sources))
        if len(self._parts) > 8:
            self._parts = [bottom_k(pa.concat_tables(self._parts), self._limit(), self.balance_sources)]
        return None

    def scan_end(self, ctx: StageContext) -> pa.Table | None:
        parts = self._parts if self._shard == ctx.shard else []
        self._shard, self._parts = -1, []
        if not parts:
            return None
        return bottom_k(pa.concat_tables(parts), self._limit(), self.balance_sources)

    # -- finalize: choose, read texts back, train, check ------------------------------------
    def finalize(self, ctx: StageContext) -> dict:
        scan_files = fs.glob(fs.join(fs.dirname(ctx.work_dir), "scan", "shard-*", "rows.parquet"))
        keys = pa.concat_tables([fs.parquet_file(f).read() for f in scan_files]) if scan_files else None
        if keys is None or keys.num_rows == 0:
            raise ValueError("train_tokenizer: no documents to train on")
        train_rows, check_rows, held_out = choose(keys, self.sample_docs, self.check_docs, self.balance_sources)
        check_docs: list[dict] = []
        counts = {"documents": 0, "chars": 0}
        passes: list[int] = []  # unigram reads the sample twice; the first pass records

        def texts() -> Iterator[str]:
            first = not passes
            passes.append(1)
            for shard, path in enumerate(ctx.input_shards):
                for doc in _iter_docs(path, shard, train_rows, check_rows, everything=self.sample_docs is None):
                    if first and (shard, doc["row"]) in check_rows:
                        check_docs.append(doc)
                    if self.sample_docs is None or (shard, doc["row"]) in train_rows:
                        if first:
                            counts["documents"] += 1
                            counts["chars"] += len(doc["text"])
                        yield doc["text"]

        tok = train_model(self.model, texts, self.vocab_size, self.min_frequency, self.eod_token,
                          list(self.special_tokens), self.pre_tokenizer or {}, self.max_token_length,
                          self.character_coverage)
        out_dir = fs.join(ctx.run_dir, "tokenizer")
        path = save_tokenizer_dir(tok, out_dir, self.eod_token, list(self.special_tokens), self.model_max_length)
        from tokenizers import Tokenizer

        report = CompressionReport()
        with fs.local_copy(path) as saved:  # check what was written, not the object in memory
            report.add(Tokenizer.from_file(saved), check_docs)
        summary = {"vocab_size": tok.get_vocab_size(with_added_tokens=True), "eod_id": tok.token_to_id(self.eod_token),
                   "eod_token": self.eod_token, "trained_on": counts, "check_held_out": held_out, **report.summary()}
        if self.model != "bpe":  # bpe's report stays as it was
            summary = {"model": self.model, **summary}
        atomic_write_json(fs.join(out_dir, "report.json"), summary)
        report.raise_on_failure()
        return {"artifacts": {"tokenizer": path}, **summary}


def _iter_docs(path: str, shard: int, train_rows: set, check_rows: set, everything: bool) -> Iterator[dict]:
    """Documents of one stage-output shard that are in the sample (all of them with `everything`)."""
    wanted = {row for s, row in train_rows | check_rows if s == shard}
    if not wanted and not everything:
        return
    offset = 0
    for batch in read_output_batches(path, None, 4096):  # the stage output: parquet or jsonl[.gz|.zst]
        batch = batch.select([c for c in READ_COLUMNS if c in batch.schema.names])
        n = batch.num_rows
        if everything:
            idx = range(n)
        else:
            idx = [r - offset for r in range(offset, offset + n) if r in wanted]
        if idx:
            rows = batch.take(pa.array(list(idx), pa.int64())).to_pylist() if not everything else batch.to_pylist()
            for i, doc in zip(idx, rows):
                doc["row"] = offset + i
                yield doc
        offset += n
