"""One fused streaming pass: run a stage's mappers and filters over a batch of documents.

This is where the framework does for operators what they must not do themselves: count,
time, trace drops with their reasons, and isolate a document that makes an operator fail.
"""
from __future__ import annotations

import time
import traceback
from collections import Counter
from typing import Callable

from garden.executor.stats import OpStats, SourceStepCounts
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
        self.by_source: dict[str, SourceStepCounts] = {}  # the same counts per source
        self.counts: Counter = Counter()  # the operator's own counters (Operator.counters), summed
        self._counters = type(op).counters is not Operator.counters

    def stats(self) -> OpStats:
        return OpStats(n_in=self.n_in, n_out=self.n_out, dropped=dict(sorted(self.dropped.items())),
                       errors=self.errors, seconds=round(self.seconds, 4), chars_in=self.chars_in,
                       chars_out=self.chars_out, sources=dict(sorted(self.by_source.items())),
                       counts=dict(sorted(self.counts.items())))

    def _source(self, doc: dict) -> SourceStepCounts:
        src = doc.get("source") or ""
        counts = self.by_source.get(src)
        if counts is None:
            counts = self.by_source[src] = SourceStepCounts()
        return counts

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
        # before the call: a mapper or filter may rewrite the text in place
        per_source = [self._source(d) for d in docs]
        lengths = [len(d.get("text") or "") for d in docs]
        self.chars_in += sum(lengths)
        for counts, n in zip(per_source, lengths):
            counts.n_in += 1
            counts.chars_in += n
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
        processed: list[dict] = []  # what the operator returned or annotated, kept or dropped: its counters' input
        mapper = isinstance(self.op, Mapper) and not self.is_apply
        for i, (doc, result) in enumerate(zip(docs, results)):
            counts = per_source[i]
            if i in failed:
                counts.errors += 1
                out.append(None)
            elif mapper:
                problem = unwritable(result)
                if problem:  # one bad output document must not abort the shard's writer
                    self.errors += 1
                    counts.errors += 1
                    quarantine(doc, f"{self.op.name}: {problem}")
                    out.append(None)
                else:
                    out.append(result)
                    processed.append(result)
            elif result is True or (not isinstance(result, str) and bool(result)):
                out.append(doc)
                processed.append(doc)
            else:
                reason = result if isinstance(result, str) and result else f"{self.op.name}"
                if not reason.startswith(f"{self.op.name}:") and reason != self.op.name:
                    reason = f"{self.op.name}:{reason}"
                self.dropped[reason] += 1
                counts.dropped[reason] = counts.dropped.get(reason, 0) + 1
                reject(self.label, doc, reason)
                out.append(None)
                processed.append(doc)
        n_kept = 0
        for counts, doc in zip(per_source, out):
            if doc is not None:
                n = len(doc.get("text") or "")
                n_kept += 1
                self.chars_out += n
                counts.n_out += 1
                counts.chars_out += n
        self.n_out += n_kept
        if self._counters and processed:
            self.counts.update({k: int(v) for k, v in self.op.counters(processed).items() if v})
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
