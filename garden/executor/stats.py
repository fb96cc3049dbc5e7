"""Accounting: what every task reports, and the run's totals written to stats.json.

Tasks return typed results (`StreamResult`, `ScanResult`, `ReduceResult`, `FinalizeResult`);
the same objects are written as completion markers and read back when a run resumes. `Ledger`
collects them during a run and `Ledger.stats()` adds them up into `Stats`, the one object that
stats.json, the end-of-run summary (garden.summary) and report.html (garden.run_report) read.

The invariant of every run: input documents = kept + rejected + quarantined (`Stats.check`).
stats.json's layout (keys, order, values) is a published format: `Stats.to_dict` writes it and
`Stats.from_dict` reads it back, also from runs of older Garden versions that lack some fields.
"""
from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from garden.executor.empty import Stop
    from garden.recipe import Recipe


class AccountingError(RuntimeError):
    """input_docs != kept + rejected + quarantined: something was lost."""


# -- per task ----------------------------------------------------------------------------------

@dataclasses.dataclass
class SourceStepCounts:
    """One step's counts for the documents of one source (a shard's or the run's): the funnel and
    the drop reasons per source, where a step scoped to some sources sees only theirs."""

    n_in: int = 0
    n_out: int = 0
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)  # reason → documents
    errors: int = 0     # quarantined by this step
    chars_in: int = 0
    chars_out: int = 0

    def add(self, other: "SourceStepCounts") -> None:
        self.n_in += other.n_in
        self.n_out += other.n_out
        self.errors += other.errors
        self.chars_in += other.chars_in
        self.chars_out += other.chars_out
        merged = Counter(self.dropped)
        merged.update(other.dropped)
        self.dropped = dict(sorted(merged.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"in": self.n_in, "out": self.n_out, "dropped": dict(sorted(self.dropped.items())),
                "errors": self.errors, "chars_in": self.chars_in, "chars_out": self.chars_out}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SourceStepCounts":
        return cls(n_in=d.get("in", 0), n_out=d.get("out", 0), dropped=dict(d.get("dropped") or {}),
                   errors=d.get("errors", 0), chars_in=d.get("chars_in", 0), chars_out=d.get("chars_out", 0))


def _sum_sources(parts: Iterable[Mapping[str, SourceStepCounts]]) -> dict[str, SourceStepCounts]:
    total: dict[str, SourceStepCounts] = {}
    for part in parts:
        for src, c in part.items():
            total.setdefault(src, SourceStepCounts()).add(c)
    return dict(sorted(total.items()))


@dataclasses.dataclass
class OpStats:
    """One operator's counts over one shard (a task result) or summed over shards."""

    n_in: int = 0
    n_out: int = 0
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)  # reason → documents
    errors: int = 0
    seconds: float = 0.0
    chars_in: int = 0   # characters of text entering / leaving: the report's character funnel
    chars_out: int = 0
    sources: dict[str, SourceStepCounts] = dataclasses.field(default_factory=dict)  # the same, per source
    counts: dict[str, int] = dataclasses.field(default_factory=dict)  # the operator's own counters (Operator.counters)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"in": self.n_in, "out": self.n_out, "dropped": dict(sorted(self.dropped.items())),
                               "errors": self.errors, "seconds": self.seconds, "chars_in": self.chars_in,
                               "chars_out": self.chars_out}
        if self.sources:
            out["sources"] = {s: c.to_dict() for s, c in sorted(self.sources.items())}
        if self.counts:
            out["counts"] = dict(sorted(self.counts.items()))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OpStats":
        return cls(n_in=d["in"], n_out=d["out"], dropped=dict(d["dropped"]), errors=d["errors"], seconds=d["seconds"],
                   chars_in=d.get("chars_in", 0), chars_out=d.get("chars_out", 0),  # absent in markers of older runs
                   sources={s: SourceStepCounts.from_dict(c) for s, c in (d.get("sources") or {}).items()},
                   counts=dict(d.get("counts") or {}))


@dataclasses.dataclass
class SourceCounts:
    """Documents of one source: read, kept, rejected and quarantined (in a shard or a run)."""

    n_in: int = 0
    kept: int = 0
    rejected: int = 0
    quarantined: int = 0
    chars_in: int | None = None   # characters of text read / written; None in markers of older runs
    chars_out: int | None = None

    def to_dict(self) -> dict[str, int]:
        """The counts that are not zero, and the character counts when known (a shard marker's form)."""
        out = {k: v for k, v in (("in", self.n_in), ("kept", self.kept), ("rejected", self.rejected),
                                 ("quarantined", self.quarantined)) if v}
        for k, v in (("chars_in", self.chars_in), ("chars_out", self.chars_out)):
            if v is not None:
                out[k] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, int]) -> "SourceCounts":
        return cls(d.get("in", 0), d.get("kept", 0), d.get("rejected", 0), d.get("quarantined", 0),
                   d.get("chars_in"), d.get("chars_out"))


@dataclasses.dataclass
class StreamResult:
    """One stream task: documents in and out of a shard, per operator and per source."""

    shard: int
    n_in: int                  # documents read, including those the reader quarantined
    read_quarantined: int
    op_quarantined: int
    blank_lines: int
    n_out: int
    ops: dict[str, OpStats]     # op key ("index:name") → counts
    sources: dict[str, SourceCounts]
    seconds: float

    @property
    def quarantined(self) -> int:
        return self.read_quarantined + self.op_quarantined

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.shard, "in": self.n_in, "read_quarantined": self.read_quarantined,
                "op_quarantined": self.op_quarantined, "blank_lines": self.blank_lines, "out": self.n_out,
                "ops": {k: v.to_dict() for k, v in self.ops.items()},
                "sources": {s: c.to_dict() for s, c in sorted(self.sources.items())}, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StreamResult":
        return cls(shard=d["shard"], n_in=d["in"], read_quarantined=d["read_quarantined"],
                   op_quarantined=d["op_quarantined"], blank_lines=d["blank_lines"], n_out=d["out"],
                   ops={k: OpStats.from_dict(v) for k, v in d["ops"].items()},
                   sources={s: SourceCounts.from_dict(c) for s, c in d["sources"].items()}, seconds=d["seconds"])


@dataclasses.dataclass
class ScanResult:
    """One scan task of a global step."""

    shard: int
    rows_in: int
    rows_out: int
    partitions: list[int] | None  # which pNNNN files it wrote; None in markers of older runs
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"shard": self.shard, "rows_in": self.rows_in, "rows_out": self.rows_out}
        if self.partitions is not None:
            out["partitions"] = self.partitions
        out["seconds"] = self.seconds
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ScanResult":
        return cls(d["shard"], d["rows_in"], d["rows_out"], d.get("partitions"), d["seconds"])


@dataclasses.dataclass
class ReduceResult:
    """One reduce task of a global step."""

    partition: int
    files: int
    rows_out: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "files": self.files, "rows_out": self.rows_out, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ReduceResult":
        return cls(d["partition"], d["files"], d["rows_out"], d["seconds"])


@dataclasses.dataclass
class FinalizeResult:
    """A global step's finalize: the operator's own figures, the artifacts later steps see, and
    the top-level entries of the run folder it created (for the ownership record, not the marker)."""

    figures: dict[str, Any]
    artifacts: dict[str, Any] | None
    seconds: float
    created: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The marker: what finalize returned, then its seconds."""
        out = dict(self.figures)
        if self.artifacts is not None:
            out["artifacts"] = self.artifacts
        out["seconds"] = self.seconds
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FinalizeResult":
        return cls(figures={k: v for k, v in d.items() if k not in ("artifacts", "seconds")},
                   artifacts=d.get("artifacts"), seconds=d.get("seconds", 0))


# -- per run -----------------------------------------------------------------------------------

@dataclasses.dataclass
class Phase:
    """One phase (scan, reduce, finalize) of a global step."""

    seconds: float
    rows: int | None = None  # rows written (scan, reduce); finalize has none

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds} if self.rows is None else {"seconds": self.seconds, "rows": self.rows}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Phase":
        return cls(d.get("seconds", 0), d.get("rows"))


@dataclasses.dataclass
class GlobalStep:
    """What a global step's phases took and what its finalize reported."""

    phases: dict[str, Phase] = dataclasses.field(default_factory=dict)
    result: dict[str, Any] = dataclasses.field(default_factory=dict)
    stage: int | None = None  # its stage index: a step without apply sees what the stream stage before it wrote


_STEP_KEYS = ("name", "kind", "in", "out", "dropped", "errors", "seconds", "chars_in", "chars_out", "not_run", "timing",
              "applies_to", "counts", "by_source")


@dataclasses.dataclass
class StepStats:
    """One pipeline step over the whole run (an entry of stats.json's `ops`)."""

    name: str
    kind: str
    n_in: int = 0
    n_out: int = 0
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)  # reason → documents, sorted
    errors: int = 0
    seconds: float = 0.0               # streaming seconds plus, for a global step, its phases
    chars_in: int | None = 0           # None: a stats.json of an older Garden had no character counts
    chars_out: int | None = 0
    not_run: bool = False              # the run stopped before this step
    timing: dict[str, Phase] | None = None  # global steps: seconds per phase
    result: dict[str, Any] = dataclasses.field(default_factory=dict)  # a global step's own figures
    applies_to: list[str] | None = None  # a step scoped to these sources (`sources:` in the recipe); None = all
    counts: dict[str, int] = dataclasses.field(default_factory=dict)  # the operator's counters (e.g. PII per kind)
    by_source: dict[str, SourceStepCounts] = dataclasses.field(default_factory=dict)  # in/out/drops per source

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def applies(self, source: str) -> bool:
        """Whether this step sees the documents of `source` (a scoped step passes the others on)."""
        return self.applies_to is None or source in self.applies_to

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "kind": self.kind, "in": self.n_in, "out": self.n_out,
                                 "dropped": dict(self.dropped), "errors": self.errors, "seconds": self.seconds}
        if self.chars_in is not None:
            entry["chars_in"] = self.chars_in
        if self.chars_out is not None:
            entry["chars_out"] = self.chars_out
        if self.not_run:
            entry["not_run"] = True
        entry.update(self.result)  # the operator's own figures (clusters, tokens, phases...)
        if self.timing is not None:
            entry["timing"] = {k: p.to_dict() for k, p in self.timing.items()}
        if self.applies_to is not None:
            entry["applies_to"] = list(self.applies_to)
        if self.counts:
            entry["counts"] = dict(self.counts)
        if self.by_source:
            entry["by_source"] = {s: c.to_dict() for s, c in self.by_source.items()}
        return entry

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StepStats":
        timing = d.get("timing")
        applies_to = d.get("applies_to")
        return cls(name=d["name"], kind=d["kind"], n_in=d["in"], n_out=d["out"], dropped=dict(d["dropped"]),
                   errors=d.get("errors", 0), seconds=d.get("seconds", 0), chars_in=d.get("chars_in"),
                   chars_out=d.get("chars_out"), not_run=bool(d.get("not_run", False)),
                   timing={k: Phase.from_dict(p) for k, p in timing.items()} if isinstance(timing, dict) else None,
                   result={k: v for k, v in d.items() if k not in _STEP_KEYS},
                   applies_to=list(applies_to) if isinstance(applies_to, list) else None,
                   counts=dict(d.get("counts") or {}),
                   by_source={s: SourceStepCounts.from_dict(c) for s, c in (d.get("by_source") or {}).items()})


@dataclasses.dataclass
class SourceTotals:
    """One source over the run (an entry of stats.json's `sources`)."""

    input: int = 0
    kept: int = 0
    rejected: int = 0
    quarantined: int = 0
    chars_in: int | None = None    # characters of text read / kept; None where the run did not count them
    chars_out: int | None = None

    @property
    def lost(self) -> int:
        """Documents of this source that did not reach the output (rejected or quarantined)."""
        return self.rejected + self.quarantined

    def to_dict(self) -> dict[str, int]:
        out = {"input": self.input, "kept": self.kept, "rejected": self.rejected, "quarantined": self.quarantined}
        for k, v in (("chars_in", self.chars_in), ("chars_out", self.chars_out)):
            if v is not None:
                out[k] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, int]) -> "SourceTotals":
        return cls(d.get("input", 0), d.get("kept", 0), d.get("rejected", 0), d.get("quarantined", 0),
                   d.get("chars_in"), d.get("chars_out"))


@dataclasses.dataclass
class DuplicateIds:
    """Documents whose id also occurs in another shard (reported, not dropped)."""

    count: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": self.examples}


@dataclasses.dataclass
class Stats:
    """A run's accounting: what stats.json holds, in its order."""

    recipe: str
    input_docs: int
    kept_docs: int
    rejected_docs: int
    quarantined_docs: int
    ops: list[StepStats]
    sources: dict[str, SourceTotals]
    blank_lines: int = 0
    input_shards: int = 0
    input_bytes: int = 0
    duplicate_ids: DuplicateIds = dataclasses.field(default_factory=DuplicateIds)
    artifacts: dict[str, Any] = dataclasses.field(default_factory=dict)
    workers: int = 1
    executor: str = "local"
    seconds: float = 0.0
    stopped: "Stop | None" = None   # the run stopped before a global step with no documents left

    @property
    def accounting_ok(self) -> bool:
        """The invariant: every input document is kept, rejected or quarantined."""
        return self.input_docs == self.kept_docs + self.rejected_docs + self.quarantined_docs

    def check(self) -> None:
        """Raise AccountingError naming the four counts when the invariant does not hold."""
        if not self.accounting_ok:
            raise AccountingError(
                f"documents lost: input {self.input_docs} != kept {self.kept_docs} + rejected {self.rejected_docs}"
                f" + quarantined {self.quarantined_docs}")

    def step(self, name: str) -> StepStats | None:
        """The first step of that operator, or None."""
        return next((s for s in self.ops if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "recipe": self.recipe,
            "input_docs": self.input_docs,
            "kept_docs": self.kept_docs,
            "rejected_docs": self.rejected_docs,
            "quarantined_docs": self.quarantined_docs,
            "blank_lines": self.blank_lines,
            "input_shards": self.input_shards,
            "input_bytes": self.input_bytes,
            "ops": [s.to_dict() for s in self.ops],
            "sources": {k: v.to_dict() for k, v in self.sources.items()},
            "duplicate_ids": self.duplicate_ids.to_dict(),
            "artifacts": self.artifacts,
            "workers": self.workers,
            "executor": self.executor,
            "seconds": self.seconds,
            "accounting_ok": self.accounting_ok,
        }
        if self.stopped is not None:
            out["stopped"] = self.stopped.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Stats":
        """stats.json's content, also of older runs (missing fields take their defaults)."""
        from garden.executor.empty import Stop

        dup = d.get("duplicate_ids") or {}
        stopped = d.get("stopped")
        return cls(recipe=d.get("recipe", ""), input_docs=d["input_docs"], kept_docs=d["kept_docs"],
                   rejected_docs=d["rejected_docs"], quarantined_docs=d["quarantined_docs"],
                   ops=[StepStats.from_dict(o) for o in d.get("ops", [])],
                   sources={k: SourceTotals.from_dict(v) for k, v in d.get("sources", {}).items()},
                   blank_lines=d.get("blank_lines", 0), input_shards=d.get("input_shards", 0),
                   input_bytes=d.get("input_bytes", 0),
                   duplicate_ids=DuplicateIds(dup.get("count", 0), list(dup.get("examples", []))),
                   artifacts=dict(d.get("artifacts") or {}), workers=d.get("workers", 1),
                   executor=d.get("executor", "local"), seconds=d.get("seconds", 0),
                   stopped=Stop.from_dict(stopped) if isinstance(stopped, dict) else None)

    def write(self, path: str) -> None:
        """stats.json, atomically."""
        from garden.io.writer import atomic_write_json

        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str) -> "Stats":
        from garden.io.writer import read_json

        return cls.from_dict(read_json(path))


class Ledger:
    """Collects task results during a run and adds them up into `Stats`."""

    def __init__(self) -> None:
        self.stream: dict[int, list[StreamResult]] = {}  # stream stage index → results by shard
        self.global_steps: dict[str, GlobalStep] = {}    # op key → phases and figures
        self.artifacts: dict[str, Any] = {}              # what finalize steps published for later steps
        self.duplicate_ids = DuplicateIds()
        self.stopped: "Stop | None" = None

    def add_stream(self, stage: int, results: Iterable[StreamResult]) -> None:
        self.stream[stage] = sorted(results, key=lambda r: r.shard)

    def documents_left(self) -> int | None:
        """Documents the last stream stage that ran wrote; None before any stream stage ran."""
        if not self.stream:
            return None
        return sum(r.n_out for r in self.stream[max(self.stream)])

    def op_totals(self) -> dict[str, OpStats]:
        """Per op key: the sum over every shard of every stream stage that ran."""
        totals: dict[str, OpStats] = {}
        dropped: dict[str, Counter] = defaultdict(Counter)
        counts: dict[str, Counter] = defaultdict(Counter)
        by_source: dict[str, list[dict[str, SourceStepCounts]]] = defaultdict(list)
        for stage in sorted(self.stream):
            for r in self.stream[stage]:
                for key, st in r.ops.items():
                    tot = totals.setdefault(key, OpStats())
                    tot.n_in += st.n_in
                    tot.n_out += st.n_out
                    tot.chars_in += st.chars_in
                    tot.chars_out += st.chars_out
                    dropped[key].update(st.dropped)
                    counts[key].update(st.counts)
                    by_source[key].append(st.sources)
                    tot.errors += st.errors
                    tot.seconds += st.seconds
        for key, tot in totals.items():
            tot.dropped = dict(sorted(dropped[key].items()))
            tot.counts = dict(sorted(counts[key].items()))
            tot.sources = _sum_sources(by_source[key])
        return totals

    def passed_on(self, stage: int) -> dict[str, SourceStepCounts] | None:
        """What the stream stage before global stage `stage` wrote, per source: the documents a
        global step without apply sees and passes on unchanged; None when no such stage ran."""
        before = [s for s in self.stream if s < stage]
        if not before:
            return None
        per: dict[str, SourceStepCounts] = {}
        for r in self.stream[max(before)]:
            for src, c in r.sources.items():
                kept, chars = c.kept, c.chars_out or 0
                p = per.setdefault(src, SourceStepCounts())
                p.n_in += kept
                p.n_out += kept
                p.chars_in += chars
                p.chars_out += chars
        return {s: c for s, c in sorted(per.items()) if c.n_in}

    def stats(self, recipe: "Recipe", input_shards: int, input_bytes: int, workers: int, executor: str,
              seconds: float) -> Stats:
        """The run's totals; the stream stages that ran hold the document counts."""
        from garden.executor.plan import op_key

        stages = sorted(self.stream)
        first, final = self.stream[stages[0]], self.stream[stages[-1]]
        totals = self.op_totals()
        ops = []
        for spec in recipe.pipeline:
            key = op_key(spec)
            tot = totals.get(key, OpStats())
            step = StepStats(name=spec.name, kind=spec.cls.kind, n_in=tot.n_in, n_out=tot.n_out,
                             dropped=tot.dropped, errors=tot.errors, seconds=round(tot.seconds, 3),
                             chars_in=tot.chars_in, chars_out=tot.chars_out,
                             not_run=key not in totals and key not in self.global_steps,
                             applies_to=list(spec.sources) if spec.sources else None, counts=tot.counts,
                             by_source=tot.sources)
            g = self.global_steps.get(key)
            if g is not None:
                step.result = dict(g.result)
                step.timing = dict(g.phases)
                step.seconds = round(step.seconds + sum(p.seconds for p in g.phases.values()), 3)
                seen = self.passed_on(g.stage) if g.stage is not None and not spec.cls.has_apply else None
                if seen is not None:  # no apply: it sees every document that reaches it and passes all on
                    step.by_source = seen
                    step.n_in = step.n_out = sum(c.n_in for c in seen.values())
                    step.chars_in = step.chars_out = sum(c.chars_in for c in seen.values())
            ops.append(step)
        sources: dict[str, SourceTotals] = defaultdict(SourceTotals)
        for r in first:
            for src, c in r.sources.items():
                sources[src].input += c.n_in
                if c.chars_in is not None:
                    sources[src].chars_in = (sources[src].chars_in or 0) + c.chars_in
        for stage in stages:
            for r in self.stream[stage]:
                for src, c in r.sources.items():
                    sources[src].rejected += c.rejected
                    sources[src].quarantined += c.quarantined
        for r in final:
            for src, c in r.sources.items():
                sources[src].kept += c.kept
                if c.chars_out is not None:
                    sources[src].chars_out = (sources[src].chars_out or 0) + c.chars_out
        return Stats(
            recipe=recipe.name,
            input_docs=sum(r.n_in for r in first),
            kept_docs=sum(r.n_out for r in final),
            rejected_docs=sum(sum(t.dropped.values()) for t in totals.values()),
            quarantined_docs=sum(r.quarantined for s in stages for r in self.stream[s]),
            blank_lines=sum(r.blank_lines for r in first),
            input_shards=input_shards,
            input_bytes=input_bytes,
            ops=ops,
            sources=dict(sorted(sources.items())),
            duplicate_ids=self.duplicate_ids,
            artifacts=self.artifacts,
            workers=workers,
            executor=executor,
            seconds=round(seconds, 3),
            stopped=self.stopped,
        )
