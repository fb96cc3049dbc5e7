"""Score held-out documents with a model: loss, perplexity and bits per byte per source.

Windows (what `garden eval` documents): every document is scored on its own, with no context
from other documents.  As in training, where each document follows the previous one's EOD, the
model first sees the EOD token, then predicts every token of the document including its final
EOD: a document of n tokens (EOD included) contributes n scored tokens.  Documents longer than the
sequence length L are cut into consecutive non-overlapping windows of L predictions; each token
is scored exactly once, with the context of its own window only (the first token of a window sees
no earlier text).  The loss is normalised over the tokenizer's real vocabulary (logits of
megatron's vocabulary padding are dropped).

loss = total nats / total tokens, ppl = exp(loss), bpb = total nats / ln 2 / total UTF-8 bytes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from trainer.eval_data import Codec, EvalDoc, EvalInput, EvalInputError, iter_documents

IGNORE = -100
BUFFER_WINDOWS_PER_BATCH = 16  # windows gathered before sorting by length (less padding)


@dataclasses.dataclass
class Tally:
    documents: int = 0
    tokens: int = 0
    bytes: int | None = 0  # None once a document's size is unknown
    nats: float = 0.0

    def add(self, tokens: int, n_bytes: int | None, nats: float, documents: int = 1) -> None:
        self.documents += documents
        self.tokens += tokens
        self.bytes = None if self.bytes is None or n_bytes is None else self.bytes + n_bytes
        self.nats += nats

    @property
    def loss(self) -> float | None:
        return self.nats / self.tokens if self.tokens else None

    def to_dict(self) -> dict:
        loss = self.loss
        bpb = self.nats / math.log(2) / self.bytes if loss is not None and self.bytes else None
        return {"documents": self.documents, "tokens": self.tokens, "bytes": self.bytes,
                "loss": loss, "ppl": math.exp(loss) if loss is not None else None, "bpb": bpb}


@dataclasses.dataclass
class EvalReport:
    checkpoint: str
    iteration: int
    seq_len: int
    sources: dict[str, Tally]
    overall: Tally

    def to_dict(self) -> dict:
        return {"checkpoint": self.checkpoint, "iteration": self.iteration, "seq_len": self.seq_len,
                "windows": "each document alone, after an EOD token; non-overlapping windows of "
                           "seq_len predictions",
                "sources": {k: v.to_dict() for k, v in self.sources.items()},
                "overall": self.overall.to_dict()}


@dataclasses.dataclass(frozen=True)
class DocScore:
    source: str
    doc: EvalDoc
    nats: float


def windows(tokens: np.ndarray, eod_id: int, seq_len: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(inputs, targets) windows of a document: inputs are [EOD] + tokens[:-1], targets the tokens."""
    tokens = np.asarray(tokens, dtype=np.int64)
    inputs = np.concatenate([np.array([eod_id], dtype=np.int64), tokens[:-1]])
    return [(inputs[i:i + seq_len], tokens[i:i + seq_len]) for i in range(0, len(tokens), seq_len)]


class Scorer:
    """Sum of token nats per document, batching windows of similar length together."""

    def __init__(self, model: Any, seq_len: int, batch: int, vocab_size: int, eod_id: int):
        self.model, self.seq_len, self.batch = model, seq_len, batch
        self.vocab_size, self.eod_id = vocab_size, eod_id

    def _forward(self, wins: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        device = next(self.model.parameters()).device
        length = max(len(t) for _, t in wins)
        inputs = np.full((len(wins), length), self.eod_id, dtype=np.int64)
        targets = np.full((len(wins), length), IGNORE, dtype=np.int64)
        for row, (x, y) in enumerate(wins):
            inputs[row, :len(x)], targets[row, :len(y)] = x, y
        x = torch.from_numpy(inputs).to(device)
        y = torch.from_numpy(targets).to(device)
        pos = torch.arange(length, device=device).unsqueeze(0).expand_as(x)
        with torch.inference_mode():
            logits = self.model(x, pos, None)  # [batch, length, padded vocab]
            logits = logits[..., :self.vocab_size].float()
            nats = F.cross_entropy(logits.reshape(-1, self.vocab_size), y.reshape(-1),
                                   ignore_index=IGNORE, reduction="none").view(len(wins), length)
        return nats.double().sum(dim=1).cpu().numpy()

    def score(self, docs: list[EvalDoc]) -> list[float]:
        """Total nats of each document (0.0 for a document without tokens)."""
        wins, owner = [], []
        for i, doc in enumerate(docs):
            if len(doc.tokens) and int(doc.tokens.max()) >= self.vocab_size:
                raise EvalInputError(f"document {doc.id}: token id {int(doc.tokens.max())} is outside the "
                                     f"tokenizer's vocabulary ({self.vocab_size}): data from another tokenizer?")
            for w in windows(doc.tokens, self.eod_id, self.seq_len):
                wins.append(w)
                owner.append(i)
        totals = np.zeros(len(docs), dtype=np.float64)
        order = sorted(range(len(wins)), key=lambda k: -len(wins[k][1]))
        for start in range(0, len(order), self.batch):
            chunk = order[start:start + self.batch]
            for k, nats in zip(chunk, self._forward([wins[k] for k in chunk])):
                totals[owner[k]] += nats
        return totals.tolist()


def _buffered(docs: Iterable[EvalDoc], scorer: Scorer) -> Iterator[tuple[EvalDoc, float]]:
    """Score documents in groups of about BUFFER_WINDOWS_PER_BATCH batches, in input order."""
    limit = scorer.batch * BUFFER_WINDOWS_PER_BATCH
    buf, n_windows = [], 0
    for doc in docs:
        buf.append(doc)
        n_windows += max(1, math.ceil(len(doc.tokens) / scorer.seq_len))
        if n_windows >= limit:
            yield from zip(buf, scorer.score(buf))
            buf, n_windows = [], 0
    if buf:
        yield from zip(buf, scorer.score(buf))


def evaluate(inputs: list[EvalInput], codec: Codec, scorer: Scorer,
             on_doc: Callable[[DocScore], None] | None = None) -> tuple[dict[str, Tally], Tally]:
    """Per-source and overall tallies; `on_doc` sees every document's score (for --per-doc)."""
    sources: dict[str, Tally] = {}
    overall = Tally()
    for inp in inputs:
        tally = sources.setdefault(inp.name, Tally())
        for doc, nats in _buffered(iter_documents(inp, codec), scorer):
            tally.add(len(doc.tokens), doc.bytes, nats)
            overall.add(len(doc.tokens), doc.bytes, nats)
            if on_doc is not None:
                on_doc(DocScore(inp.name, doc, nats))
    return sources, overall


class PerDocWriter:
    """--per-doc: one parquet row per document (id, source, tokens, bytes, loss), written in
    row groups as documents are scored and renamed into place when complete."""

    SCHEMA_FIELDS = (("id", "string"), ("source", "string"), ("tokens", "int64"), ("bytes", "int64"),
                     ("loss", "float64"))
    ROWS_PER_GROUP = 65536

    def __init__(self, path: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        from garden.io import fs

        self._pa = pa
        self.schema = pa.schema([(n, getattr(pa, t)()) for n, t in self.SCHEMA_FIELDS])
        self.staged = fs.StagedFile(path)
        self.writer = pq.ParquetWriter(self.staged.local, self.schema, compression="zstd")
        self.rows: dict[str, list] = {n: [] for n, _ in self.SCHEMA_FIELDS}

    def add(self, s: DocScore) -> None:
        n = len(s.doc.tokens)
        for key, value in (("id", s.doc.id), ("source", s.source), ("tokens", n), ("bytes", s.doc.bytes),
                           ("loss", s.nats / n if n else None)):
            self.rows[key].append(value)
        if len(self.rows["id"]) >= self.ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.rows["id"]:
            self.writer.write_table(self._pa.table(self.rows, schema=self.schema))
            self.rows = {n: [] for n, _ in self.SCHEMA_FIELDS}

    def close(self) -> None:
        self._flush()
        self.writer.close()
        self.staged.commit()

    def abort(self) -> None:
        self.writer.close()
        self.staged.abort()
