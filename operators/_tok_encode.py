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


def encode_flat(tok: Tokenizer, texts: list[str], dtype: np.dtype, eod_id: int | None,
                threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(all tokens back to back, tokens per document), with `eod_id` after each document if given."""
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # fast: no offsets computed
    with tokenizer_threads(threads):
        encodings = encode(texts, add_special_tokens=False)
    ids = [e.ids for e in encodings]
    extra = 0 if eod_id is None else 1
    lengths = np.fromiter((len(x) + extra for x in ids), dtype=np.int64, count=len(ids))
    total = int(lengths.sum())
    if eod_id is None:
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=dtype, count=total)
    else:
        eod = (eod_id,)
        flat = np.fromiter(itertools.chain.from_iterable(itertools.chain(x, eod) for x in ids), dtype=dtype,
                           count=total)
    return flat, lengths
