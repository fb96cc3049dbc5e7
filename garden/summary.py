"""The end-of-run summary table, rendered from a run's `Stats` (garden.executor.stats)."""
from __future__ import annotations

from collections import Counter

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from garden.executor.stats import Stats

DEFAULT_WARN_SOURCE_LOSS = 0.5  # warn when a source loses more than this share of its documents
TOP_REASONS = 3


def print_summary(stats: Stats, output: str, console: Console | None = None,
                  warn_source_loss: float | None = DEFAULT_WARN_SOURCE_LOSS) -> None:
    """Per-step counts, the accounting line, per-source counts and a warning for each source that
    lost more than `warn_source_loss` of its documents (None: no warnings), on stderr unless
    `console` is given."""
    console = console or Console(stderr=True)
    console.print(_steps_table(stats))
    console.print(
        f"input {stats.input_docs:,} = kept {stats.kept_docs:,} + rejected {stats.rejected_docs:,}"
        f" + quarantined {stats.quarantined_docs:,}  "
        + ("[green]✓ accounted[/green]" if stats.accounting_ok else "[red]✗ MISMATCH[/red]"))
    src = Table(title="per source")
    for col in ("source", "input", "kept", "rejected", "quarantined"):
        src.add_column(col, justify="left" if col == "source" else "right")
    for name, c in stats.sources.items():
        src.add_row(name, *(f"{v:,}" for v in (c.input, c.kept, c.rejected, c.quarantined)))
    console.print(src)
    if warn_source_loss is not None:
        for line in source_loss_warnings(stats, warn_source_loss):
            console.print(line)
    console.print(f"output: {output}/ (data/, rejected/, quarantine/, stats.json, recipe.lock.yaml, report.html)")


def _steps_table(stats: Stats) -> Table:
    """One row per step. A reason is never cut: the reasons column is at least as wide as its
    longest `reason=count` and wraps only between them (after a comma)."""
    rows = []
    for op in stats.ops:
        reasons = [f"{r.split(':', 1)[-1]}={n:,}" for r, n in _top(op.dropped)]
        name = op.name if op.applies_to is None else f"{op.name}\n(only {', '.join(op.applies_to)})"
        rows.append((op, name, reasons))
    widest = max((len(r) for _, _, reasons in rows for r in reasons), default=0)
    table = Table(title=f"{stats.recipe}: {stats.seconds:.1f}s, {stats.workers} workers", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    table.add_column("operator", no_wrap=True, min_width=max((len(op.name) for op in stats.ops), default=8))
    table.add_column("kind", no_wrap=True)
    for col in ("in", "out", "dropped"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("top reasons", min_width=min(max(widest, 11), 40), overflow="fold")
    table.add_column("seconds", justify="right", no_wrap=True)
    for op, name, reasons in rows:
        if op.not_run:  # the run stopped before this step (no documents left)
            table.add_row(name, op.kind, "–", "–", "–", "not run", "–")
            continue
        table.add_row(name, op.kind, f"{op.n_in:,}", f"{op.n_out:,}", f"{op.dropped_total:,}", ", ".join(reasons),
                      f"{op.seconds:.2f}")
    return table


def _top(counts: dict[str, int], n: int = TOP_REASONS) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def source_reasons(stats: Stats, source: str) -> Counter:
    """Why documents of `source` were lost: drop reasons of every step, quarantined records."""
    reasons: Counter = Counter()
    for op in stats.ops:
        counts = op.by_source.get(source)
        if counts is not None:
            reasons.update(counts.dropped)
    totals = stats.sources.get(source)
    if totals is not None and totals.quarantined:
        reasons["quarantined"] += totals.quarantined
    return reasons


def lost_sources(stats: Stats, threshold: float) -> list[str]:
    """Sources that lost more than `threshold` of their documents (rejected or quarantined)."""
    return [name for name, c in stats.sources.items() if c.input and c.lost / c.input > threshold]


def source_loss_warnings(stats: Stats, threshold: float) -> list[Text]:
    """One line per source that lost more than `threshold` of its documents, with its top reasons."""
    lines = []
    for name in lost_sources(stats, threshold):
        c = stats.sources[name]
        text = Text(f"warning: source {name} lost {c.lost:,} of {c.input:,} documents "
                    f"({100 * c.lost / c.input:.1f} %, more than {100 * threshold:g} %)", style="yellow")
        top = _top(source_reasons(stats, name))
        if top:
            text.append(": top reasons " + ", ".join(f"{r}={n:,}" for r, n in top))
        lines.append(text)
    return lines
