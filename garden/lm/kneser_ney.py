"""Interpolated modified Kneser-Ney estimation (Chen & Goodman 1998, as KenLM's lmplz does it).

Adjusted counts: the highest order and n-grams starting with <s> keep their counts; lower
orders use continuation counts (how many distinct words precede them). Discounts D1, D2, D3+
per order come from the count-of-counts of the adjusted counts. Unigrams interpolate with the
uniform distribution over the vocabulary (plus <unk>). The result is written in ARPA form:
interpolated probabilities and backoff = the interpolation weight of each context. Pruning
to a size budget drops the rarest n-grams of orders >= 2, keeps the table closed under
prefixes and suffixes, and renormalises the backoffs.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np

from garden.lm.counting import NgramCounter, OrderCounts
from garden.hashing import rows_keys
from garden.lm.model import NgramModel, OrderTable
from garden.lm.normalize import Normalizer
from garden.lm.tokens import TokenSpec

DEFAULT_DISCOUNTS = (0.5, 1.0, 1.5)


@dataclasses.dataclass
class TrainConfig:
    order: int = 5
    max_bytes: int | None = None  # prune to about this many bytes on disk
    normalizer: Normalizer = dataclasses.field(default_factory=Normalizer)


def discounts(adjusted: np.ndarray) -> tuple[float, float, float]:
    """D1, D2, D3+ from the count-of-counts t1..t4; the fixed defaults when the data are too small."""
    t = [int(np.count_nonzero(adjusted == k)) for k in (1, 2, 3, 4)]
    if min(t) == 0:
        return DEFAULT_DISCOUNTS
    y = t[0] / (t[0] + 2 * t[1])
    d = (1 - 2 * y * t[1] / t[0], 2 - 3 * y * t[2] / t[1], 3 - 4 * y * t[3] / t[2])
    if not (0 < d[0] < 1 and 0 < d[1] < 2 and 0 < d[2] < 3):
        return DEFAULT_DISCOUNTS
    return d


def _find(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(sorted_keys, queries)
    idx[idx == len(sorted_keys)] = 0
    if len(queries) and not np.all(sorted_keys[idx] == queries):
        raise AssertionError("an n-gram's suffix or prefix is missing from the lower order")
    return idx


def adjusted_counts(counts: list[OrderCounts], bos: int) -> list[np.ndarray]:
    order = len(counts)
    out = [c.counts.copy() for c in counts]
    for n in range(1, order):  # order n (1-based) gets continuation counts from order n+1
        higher = counts[n]
        suffix_keys = rows_keys(higher.tokens[:, 1:])
        uniq, cont = np.unique(suffix_keys, return_counts=True)
        cur = counts[n - 1]
        adj = np.zeros(len(cur.keys), dtype=np.int64)
        adj[_find(cur.keys, uniq)] = cont
        starts_bos = cur.tokens[:, 0] == bos
        adj[starts_bos] = cur.counts[starts_bos]
        out[n - 1] = adj
    return out


def estimate(counts: list[OrderCounts], spec: TokenSpec, config: TrainConfig) -> NgramModel:
    bos = spec.bos
    adj = adjusted_counts(counts, bos)
    order = len(counts)
    probs: list[np.ndarray] = []
    gammas: list[np.ndarray] = []  # interpolation weight of each n-gram as a context (order n < N)
    disc_all = []
    for n in range(1, order + 1):
        c, a = counts[n - 1], adj[n - 1]
        predicted = ~((c.tokens[:, -1] == bos))  # <s> is never predicted
        d = discounts(a[predicted] if n == 1 else a)
        disc_all.append([round(x, 4) for x in d])
        dvec = np.array((0.0,) + d)[np.minimum(a, 3)]
        if n == 1:
            denom = float(a[predicted].sum())
            n1, n2, n3 = (int(np.count_nonzero(a[predicted] == 1)), int(np.count_nonzero(a[predicted] == 2)),
                          int(np.count_nonzero(a[predicted] >= 3)))
            gamma0 = (d[0] * n1 + d[1] * n2 + d[2] * n3) / denom if denom else 1.0
            vocab = int(predicted.sum()) + 1  # + <unk>
            p = np.where(predicted, (a - dvec) / max(denom, 1.0) + gamma0 / vocab, 0.0)
            unk_p = gamma0 / vocab
        else:
            ctx_keys = rows_keys(c.tokens[:, :-1])
            uniq, inverse = np.unique(ctx_keys, return_inverse=True)
            inverse = inverse.ravel()
            denom = np.bincount(inverse, weights=a, minlength=len(uniq))
            nk = [np.bincount(inverse, weights=(np.minimum(a, 3) == k), minlength=len(uniq)) for k in (1, 2, 3)]
            gamma = (d[0] * nk[0] + d[1] * nk[1] + d[2] * nk[2]) / denom
            lower = probs[n - 2][_find(counts[n - 2].keys, rows_keys(c.tokens[:, 1:]))]
            p = (a - dvec) / denom[inverse] + gamma[inverse] * lower
            ctx_idx = _find(counts[n - 2].keys, uniq)
            g = np.ones(len(counts[n - 2].keys))
            g[ctx_idx] = gamma
            gammas.append(g)
        probs.append(p)
    gammas.append(np.ones(len(counts[-1].keys)))
    # the unigram context (empty history) weight is not stored: ARPA has no slot for it
    tables = []
    for n in range(1, order + 1):
        logp = _log10(probs[n - 1])
        if n == 1:
            logp[counts[0].tokens[:, 0] == bos] = -99.0
        bo = _log10(gammas[n - 1]) if n < order else np.zeros(len(counts[n - 1].keys))
        tables.append(OrderTable(counts[n - 1].keys, logp.astype(np.float32), bo.astype(np.float32),
                                 counts[n - 1].tokens))
    meta = {"discounts": disc_all}  # no timings: the same data gives the same bytes
    model = NgramModel(tables, spec, config.normalizer, float(np.log10(unk_p)), meta)
    if config.max_bytes is not None:
        prune_to_size(model, adj, config.max_bytes)
    return model


def _log10(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(np.maximum(p, 1e-99))


def entry_bytes(model: NgramModel, n: int) -> int:
    itemsize = 1 if model.spec.unk < 256 else 2 if model.spec.unk < 65536 else 4
    return 8 + 4 + 4 + n * itemsize


def model_bytes(model: NgramModel, sizes: list[int] | None = None) -> int:
    sizes = sizes or model.num_ngrams()
    return sum(entry_bytes(model, n) * k for n, k in enumerate(sizes, 1)) + 4096


def prune_to_size(model: NgramModel, adjusted: list[np.ndarray], max_bytes: int) -> None:
    """Drop n-grams (orders >= 2) with adjusted count <= t for the smallest t that fits."""
    if model_bytes(model) <= max_bytes:
        return
    threshold = 0
    keep = [np.ones(len(t.keys), dtype=bool) for t in model.tables]
    while True:
        threshold += 1
        keep = [np.ones(len(model.tables[0].keys), dtype=bool)] + [a > threshold for a in adjusted[1:]]
        keep = _close(model, keep)
        if model_bytes(model, [int(k.sum()) for k in keep]) <= max_bytes or not any(k.any() for k in keep[1:]):
            break
    _apply_prune(model, keep)
    model.meta["pruned"] = {"min_adjusted_count": threshold + 1, "ngrams": model.num_ngrams()}


def _close(model: NgramModel, keep: list[np.ndarray]) -> list[np.ndarray]:
    """Keep the prefix and the suffix of every kept n-gram (ARPA readers need them)."""
    keep = [k.copy() for k in keep]
    for n in range(model.order, 1, -1):
        tokens = model.tables[n - 1].tokens[keep[n - 1]]
        lower = model.tables[n - 2].keys
        for part in (tokens[:, :-1], tokens[:, 1:]):
            keep[n - 2][_find(lower, rows_keys(part))] = True
    return keep


def _apply_prune(model: NgramModel, keep: list[np.ndarray]) -> None:
    """Remove dropped n-grams and renormalise the backoffs of their contexts (SRILM's rule)."""
    tables = [OrderTable(t.keys[k], t.logp[k], t.backoff[k].copy(), t.tokens[k]) for t, k in zip(model.tables, keep)]
    for n in range(2, model.order + 1):
        t, lower = tables[n - 1], tables[n - 2]
        ctx = _find(lower.keys, rows_keys(t.tokens[:, :-1]))
        p_lower = 10.0 ** lower.logp[_find(lower.keys, rows_keys(t.tokens[:, 1:]))].astype(np.float64)
        p_here = 10.0 ** t.logp.astype(np.float64)
        num = 1.0 - np.bincount(ctx, weights=p_here, minlength=len(lower.keys))
        den = 1.0 - np.bincount(ctx, weights=p_lower, minlength=len(lower.keys))
        has = np.bincount(ctx, minlength=len(lower.keys)) > 0
        bo = np.zeros(len(lower.keys))
        bo[has] = np.log10(np.clip(num[has], 1e-12, None) / np.clip(den[has], 1e-12, None))
        lower.backoff[:] = bo.astype(np.float32)
    model.tables = tables


def train_model(sentences: Iterable[np.ndarray], spec: TokenSpec, config: TrainConfig) -> NgramModel:
    """Count and estimate from token-id sentences (already normalised and encoded)."""
    counter = NgramCounter(config.order, spec.bos, spec.eos)
    counter.add(sentences)
    return estimate_from_counter(counter, spec, config)


def estimate_from_counter(counter: NgramCounter, spec: TokenSpec, config: TrainConfig) -> NgramModel:
    counts = counter.finish()
    if counter.sentences == 0:
        raise ValueError("no text to train on (every line was empty after normalisation)")
    model = estimate(counts, spec, config)
    model.meta["trained_on"] = {"sentences": counter.sentences, "tokens": counter.tokens}
    return model
