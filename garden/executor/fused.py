"""One fused streaming pass: run a stage's mappers and filters over a batch of documents.

This is where the framework does for operators what they must not do themselves: count,
time, trace drops with their reasons, and isolate a document that makes an operator fail.
"""
from __future__ import annotations

import time
import traceback
from collections import Counter
from typing import Callable

from garden.executor.stats import OpStats
from garden.io.reader import lone_surrogate
from garden.operator import Filter, GlobalOp, Mapper, Operator


class OpRun:
    """An operator instance with its counters for one shard."""

    def __init__(self, key: str, label: str, op: Operator, is_apply: bool = False, shard: int = -1,
                 sources: list[str] | None = None) -> None:
        self.key = key
        self.sources = set(sources) if sources else None
        self.shard = shard
        self.label = label
        self.op = op
        self.is_apply = is_apply
        self.n_in = 0
        self.n_out = 0
        self.dropped: Counter = Counter()
        self.errors = 0
        self.seconds = 0.0
        self.chars_in = 0   # characters of text entering / leaving: the report's character funnel
        self.chars_out = 0

    def stats(self) -> OpStats:
        return OpStats(n_in=self.n_in, n_out=self.n_out, dropped=dict(sorted(self.dropped.items())),
                       errors=self.errors, seconds=round(self.seconds, 4), chars_in=self.chars_in,
                       chars_out=self.chars_out)

    def _call(self, docs: list[dict]) -> list:
        op = self.op
        if self.is_apply:
            return op.apply(docs, self.shard)  # type: ignore[union-attr]
        if isinstance(op, Filter):
            return op.keep_batch(docs)
        if isinstance(op, Mapper):
            return op.map_batch(docs)
        raise TypeError(f"{op.name}: not a mapper or filter")

    def run(self, docs: list[dict], reject: Callable[[str, dict, str], None],
            quarantine: Callable[[dict, str], None]) -> list[dict]:
        """Return the documents that go on; dropped ones go to `reject`, failing ones to `quarantine`."""
        if self.sources is None:
            return [d for d in self._outcomes(docs, reject, quarantine) if d is not None]
        # A step scoped to some sources: the others pass through untouched, in their places.
        mine = [i for i, d in enumerate(docs) if d["source"] in self.sources]
        out: list[dict | None] = list(docs)
        for i, result in zip(mine, self._outcomes([docs[i] for i in mine], reject, quarantine)):
            out[i] = result
        return [d for d in out if d is not None]

    def _outcomes(self, docs: list[dict], reject: Callable[[str, dict, str], None],
                  quarantine: Callable[[dict, str], None]) -> list[dict | None]:
        """One entry per input document: the document that goes on, or None (dropped/quarantined)."""
        if not docs:
            return []
        start = time.perf_counter()
        self.n_in += len(docs)
        self.chars_in += sum(len(d.get("text") or "") for d in docs)
        failed: set[int] = set()
        try:
            results = list(self._call(docs))
            if len(results) != len(docs):
                raise RuntimeError(f"{self.op.name} returned {len(results)} results for {len(docs)} documents")
        except Exception:
            results = []  # isolate the failing document(s): rerun one by one
            for i, doc in enumerate(docs):
                try:
                    results.append(self._call([doc])[0])
                except Exception as exc:
                    self.errors += 1
                    failed.add(i)
                    results.append(None)
                    quarantine(doc, f"{self.op.name}: {type(exc).__name__}: {exc} | {_where(exc)}")
        out: list[dict | None] = []
        mapper = isinstance(self.op, Mapper) and not self.is_apply
        for i, (doc, result) in enumerate(zip(docs, results)):
            if i in failed:
                out.append(None)
            elif mapper:
                problem = unwritable(result)
                if problem:  # one bad output document must not abort the shard's writer
                    self.errors += 1
                    quarantine(doc, f"{self.op.name}: {problem}")
                    out.append(None)
                else:
                    out.append(result)
            elif result is True or (not isinstance(result, str) and bool(result)):
                out.append(doc)
            else:
                reason = result if isinstance(result, str) and result else f"{self.op.name}"
                if not reason.startswith(f"{self.op.name}:") and reason != self.op.name:
                    reason = f"{self.op.name}:{reason}"
                self.dropped[reason] += 1
                reject(self.label, doc, reason)
                out.append(None)
        kept = [d for d in out if d is not None]
        self.n_out += len(kept)
        self.chars_out += sum(len(d.get("text") or "") for d in kept)
        self.seconds += time.perf_counter() - start
        return out


def unwritable(doc: object) -> str:
    """Why a mapper's output document cannot be written as UTF-8, or ''. Python strings may hold
    lone surrogates (\\ud800) that no UTF-8 writer accepts; the document is quarantined instead."""
    if not isinstance(doc, dict):
        return f"returned {type(doc).__name__}, not a document"
    for key, value in doc.items():
        if isinstance(value, str):
            at = lone_surrogate(value)
            if at >= 0:
                return f"output field '{key}' has a lone surrogate {ascii(value[at])} at character {at}"
    return ""


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    frame = tb[-1]
    return f"{frame.filename}:{frame.lineno}"


def is_global(op: Operator) -> bool:
    return isinstance(op, GlobalOp)
