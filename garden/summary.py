"""The end-of-run summary table, rendered from a run's `Stats` (garden.executor.stats)."""
from __future__ import annotations

import io
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
    for part in _steps(stats, console):
        console.print(part)
    for op in stats.ops:  # the operators' own counters, e.g. PII found per kind
        if op.counts:
            console.print(Text(f"{op.name}: " + ", ".join(f"{k}={n:,}" for k, n in _top(op.counts, len(op.counts)))))
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


def _steps(stats: Stats, console: Console) -> list[Table]:
    """The steps table. A reason is never cut: its column is as wide as the longest `reason=count`
    and wraps only between them; where the console is too narrow for that, the reasons follow
    the table, one step per line."""
    rows = []
    for op in stats.ops:
        reasons = [f"{r.split(':', 1)[-1]}={n:,}" for r, n in _top(op.dropped)]
        name = op.name if op.applies_to is None else f"{op.name}\n(only {', '.join(op.applies_to)})"
        rows.append((op, name, reasons))
    if _narrowest(_steps_table(stats, rows, with_reasons=True, narrowest=True)) <= console.width:
        return [_steps_table(stats, rows, with_reasons=True)]
    reasons = Table.grid(padding=(0, 2))
    reasons.add_column(no_wrap=True)
    reasons.add_column()
    for op, _, items in rows:
        if items and not op.not_run:
            reasons.add_row(op.name, Text(", ".join(items)))
    out = [_steps_table(stats, rows, with_reasons=False)]
    if reasons.row_count:
        out.append(Text("top reasons", style="bold"))
        out.append(reasons)
    return out


def _narrowest(table: Table) -> int:
    """The width of `table` laid out with nothing squeezed (its reasons column at its narrowest)."""
    probe = Console(file=io.StringIO(), width=10_000, color_system=None)
    probe.print(table)
    return max((len(line.rstrip()) for line in probe.file.getvalue().splitlines()), default=0)  # type: ignore[attr-defined]


def _steps_table(stats: Stats, rows: list, with_reasons: bool, narrowest: bool = False) -> Table:
    widest = max((len(r) + 1 for _, _, reasons in rows for r in reasons), default=0)  # +1: the comma
    table = Table(title=f"{stats.recipe}: {stats.seconds:.1f}s, {stats.workers} workers", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    table.add_column("operator", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for col in ("in", "out", "dropped"):
        table.add_column(col, justify="right", no_wrap=True)
    if with_reasons:
        table.add_column("top reasons", min_width=max(widest, 11), max_width=max(widest, 11) if narrowest else None)
    table.add_column("seconds", justify="right", no_wrap=True)
    for op, name, reasons in rows:
        if op.not_run:  # the run stopped before this step (no documents left)
            cells = [name, op.kind, "–", "–", "–", "not run", "–"]
        else:
            cells = [name, op.kind, f"{op.n_in:,}", f"{op.n_out:,}", f"{op.dropped_total:,}",
                     Text(", ".join(reasons)), f"{op.seconds:.2f}"]  # Text: a reason is not rich markup
        if not with_reasons:
            del cells[5]
        table.add_row(*cells)
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
                    f"({100 * c.lost / c.input:.1f}%, more than {100 * threshold:g}%)", style="yellow")
        top = _top(source_reasons(stats, name))
        if top:
            text.append(": top reasons " + ", ".join(f"{r}={n:,}" for r, n in top))
        lines.append(text)
    return lines
