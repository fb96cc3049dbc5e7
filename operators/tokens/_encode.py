"""Encode batches of texts to flat token arrays fast, without oversubscribing the CPU.

`encode_batch` runs on tokenizers' rayon thread pool (every core by default). Garden already
runs one process per core, so by default each worker encodes on one thread
(TOKENIZERS_PARALLELISM=false for the duration of the call) — the same work, no contention.
"""
from __future__ import annotations

import contextlib
import itertools
import os
from typing import Iterator

import numpy as np
from tokenizers import Tokenizer


@contextlib.contextmanager
def tokenizer_threads(threads: int) -> Iterator[None]:
    """threads=1: serial encode_batch; 0 or more: tokenizers' own thread pool."""
    old = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false" if threads == 1 else "true"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = old


def set_thread_pool_size(threads: int) -> None:
    """Size rayon's pool (read once, before tokenizers first uses it in this process)."""
    if threads > 1 and "RAYON_NUM_THREADS" not in os.environ:
        os.environ["RAYON_NUM_THREADS"] = str(threads)


MAX_CHUNK_CHARS = 1_000_000  # Encoding objects cost tens of bytes per token: bound them per call
MAX_CHUNK_DOCS = 512


def _chunks(texts: list[str]) -> Iterator[list[str]]:
    start, chars = 0, 0
    for i, t in enumerate(texts):
        chars += len(t)
        if chars >= MAX_CHUNK_CHARS or i + 1 - start >= MAX_CHUNK_DOCS:
            yield texts[start:i + 1]
            start, chars = i + 1, 0
    if start < len(texts):
        yield texts[start:]


def encode_flat(tok: Tokenizer, texts: list[str], dtype: np.dtype, eod_id: int | None,
                threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(all tokens back to back, tokens per document), with `eod_id` after each document if given.

    Texts are encoded in chunks of at most ~1M characters, so memory does not grow with the
    recipe's batch size; only the compact token arrays are kept.
    """
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # fast: no offsets computed
    extra = 0 if eod_id is None else 1
    eod = () if eod_id is None else (eod_id,)
    flats, all_lengths = [], []
    for chunk in _chunks(texts):
        with tokenizer_threads(threads):
            encodings = encode(chunk, add_special_tokens=False)
        ids = [e.ids for e in encodings]
        del encodings
        lengths = np.fromiter((len(x) + extra for x in ids), dtype=np.int64, count=len(ids))
        flats.append(np.fromiter(itertools.chain.from_iterable(itertools.chain(x, eod) for x in ids), dtype=dtype,
                                 count=int(lengths.sum())))
        all_lengths.append(lengths)
    if not flats:
        return np.zeros(0, dtype=dtype), np.zeros(0, dtype=np.int64)
    if len(flats) == 1:
        return flats[0], all_lengths[0]
    return np.concatenate(flats), np.concatenate(all_lengths)
