"""A stored n-gram model (ARPA semantics) and fast vectorised scoring.

Per order n the model holds sorted 64-bit keys, log10 probabilities, log10 backoffs (orders
below the highest) and the token rows (for ARPA export). p(w | h) is the longest stored
n-gram's probability plus the backoffs of the longer contexts that are stored, exactly as an
ARPA reader computes it. Files are `.npz` with a JSON header.
"""
from __future__ import annotations

import dataclasses
import io
import json
from typing import Sequence

import numpy as np

from garden.lm.counting import pad_sentences
from garden.hashing import sequence_keys
from garden.lm.normalize import Normalizer
from garden.lm.tokens import TokenSpec, spec_from_json, spec_to_json

FORMAT = "garden-ngram-1"


@dataclasses.dataclass
class OrderTable:
    keys: np.ndarray     # uint64, sorted
    logp: np.ndarray     # float32 log10 p
    backoff: np.ndarray  # float32 log10 backoff (zeros for the highest order)
    tokens: np.ndarray   # (U, n) token ids


@dataclasses.dataclass
class LineScores:
    """log10 probability and predicted-token count (words + </s>) of each scored line."""

    log10: np.ndarray
    tokens: np.ndarray


class NgramModel:
    def __init__(self, tables: list[OrderTable], spec: TokenSpec, normalizer: Normalizer, unk_logp: float,
                 meta: dict | None = None) -> None:
        self.tables, self.spec, self.normalizer = tables, spec, normalizer
        self.unk_logp = float(unk_logp)
        self.meta = dict(meta or {})

    @property
    def order(self) -> int:
        return len(self.tables)

    def num_ngrams(self) -> list[int]:
        return [len(t.keys) for t in self.tables]

    # -- scoring -----------------------------------------------------------------------
    def lines(self, text: str) -> list[str]:
        """The normalised non-empty lines of a text: the units the model scores."""
        return [n for n in (self.normalizer(line) for line in text.split("\n")) if n]

    def score_sentences(self, sentences: Sequence[np.ndarray]) -> LineScores:
        seq, sent, pos = pad_sentences(sentences, self.spec.bos, self.spec.eos)
        n_sent = len(sentences)
        if n_sent == 0:
            return LineScores(np.zeros(0), np.zeros(0, np.int64))
        keys = sequence_keys(seq, self.order)
        target = np.nonzero(pos >= 1)[0]  # every token after <s> is predicted
        tpos = pos[target]
        best_logp = np.full(len(target), self.unk_logp, dtype=np.float64)
        best_order = np.zeros(len(target), dtype=np.int64)
        for n in range(1, self.order + 1):
            ok = tpos >= n - 1
            start = target[ok] - (n - 1)
            found, idx = _lookup(self.tables[n - 1].keys, keys[n - 1][start])
            sel = np.nonzero(ok)[0][found]
            best_logp[sel] = self.tables[n - 1].logp[idx[found]]
            best_order[sel] = n
        total = best_logp
        for k in range(1, self.order):  # backoff of the context of length k, when longer than the match
            ok = (tpos >= k) & (best_order <= k)
            start = target[ok] - k
            found, idx = _lookup(self.tables[k - 1].keys, keys[k - 1][start])
            sel = np.nonzero(ok)[0][found]
            total[sel] += self.tables[k - 1].backoff[idx[found]]
        log10 = np.bincount(sent[target], weights=total, minlength=n_sent)
        counts = np.bincount(sent[target], minlength=n_sent)
        return LineScores(log10, counts)

    def score_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(log10 probability, predicted tokens) per text over its normalised lines; 0 tokens = empty."""
        lines, owner = [], []
        for i, text in enumerate(texts):
            for line in self.lines(text or ""):
                lines.append(line)
                owner.append(i)
        scores = self.score_sentences(self.spec.encode(lines))
        owner_arr = np.asarray(owner, dtype=np.int64)
        log10 = np.bincount(owner_arr, weights=scores.log10, minlength=len(texts))
        tokens = np.bincount(owner_arr, weights=scores.tokens, minlength=len(texts)).astype(np.int64)
        return log10, tokens

    def perplexity(self, texts: Sequence[str]) -> list[float | None]:
        """10 ** (-log10 p / tokens) per text, as CCNet and KenLM compute it; None for empty text."""
        log10, tokens = self.score_texts(texts)
        return [perplexity_of(lp, n) for lp, n in zip(log10, tokens)]

    def log10_prob(self, history: Sequence[int], word: int) -> float:
        """log10 p(word | history) the slow, obvious way (ARPA backoff); for checks, not for speed."""
        from garden.hashing import rows_keys

        history = list(history)[-(self.order - 1):] if self.order > 1 else []
        total = 0.0
        for start in range(len(history) + 1):
            gram = np.array([history[start:] + [word]], dtype=np.int64)
            found, idx = _lookup(self.tables[gram.shape[1] - 1].keys, rows_keys(gram))
            if found[0]:
                return total + float(self.tables[gram.shape[1] - 1].logp[idx[0]])
            ctx = np.array([history[start:]], dtype=np.int64)
            if ctx.shape[1]:
                found, idx = _lookup(self.tables[ctx.shape[1] - 1].keys, rows_keys(ctx))
                if found[0]:
                    total += float(self.tables[ctx.shape[1] - 1].backoff[idx[0]])
        return total + self.unk_logp

    # -- storage -----------------------------------------------------------------------
    def header(self) -> dict:
        return {"format": FORMAT, "order": self.order, "normalize": self.normalizer.to_dict(),
                "tokens": self.spec.to_meta(), "unk_logp": self.unk_logp, "ngrams": self.num_ngrams(), **self.meta}

    def to_bytes(self) -> bytes:
        arrays = {"header": np.frombuffer(json.dumps(self.header()).encode(), dtype=np.uint8),
                  "token_spec": np.frombuffer(spec_to_json(self.spec).encode(), dtype=np.uint8)}
        tok_dtype = np.uint8 if self.spec.unk < 256 else np.uint16 if self.spec.unk < 65536 else np.uint32
        for n, t in enumerate(self.tables, 1):
            arrays[f"keys{n}"] = t.keys
            arrays[f"logp{n}"] = t.logp.astype(np.float32)
            arrays[f"backoff{n}"] = t.backoff.astype(np.float32)
            arrays[f"tokens{n}"] = t.tokens.astype(tok_dtype)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "NgramModel":
        with np.load(io.BytesIO(data)) as z:
            header = json.loads(bytes(z["header"]).decode())
            if header.get("format") != FORMAT:
                raise ValueError(f"not a Garden n-gram model (format {header.get('format')!r})")
            spec = spec_from_json(bytes(z["token_spec"]).decode())
            tables = [OrderTable(z[f"keys{n}"], z[f"logp{n}"], z[f"backoff{n}"], z[f"tokens{n}"].astype(np.int64))
                      for n in range(1, header["order"] + 1)]
        meta = {k: v for k, v in header.items() if k not in ("format", "order", "normalize", "tokens", "unk_logp", "ngrams")}
        return cls(tables, spec, Normalizer.from_dict(header["normalize"]), header["unk_logp"], meta)


def perplexity_of(log10: float, tokens: int) -> float | None:
    return None if tokens <= 0 else float(10.0 ** (-log10 / tokens))


def _lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found mask, index) of each query in a sorted key array."""
    if len(sorted_keys) == 0 or len(queries) == 0:
        return np.zeros(len(queries), dtype=bool), np.zeros(len(queries), dtype=np.int64)
    idx = np.searchsorted(sorted_keys, queries)
    idx[idx == len(sorted_keys)] = 0
    return sorted_keys[idx] == queries, idx
