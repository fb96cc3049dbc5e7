"""The end-of-run summary table, rendered from a run's `Stats` (garden.executor.stats)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from garden.executor.stats import Stats


def print_summary(stats: Stats, output: str, console: Console | None = None) -> None:
    """Per-step counts, the accounting line and per-source counts, on stderr unless `console` is given."""
    console = console or Console(stderr=True)
    table = Table(title=f"{stats.recipe}: {stats.seconds:.1f}s, {stats.workers} workers")
    for col in ("operator", "kind", "in", "out", "dropped", "top reasons", "seconds"):
        table.add_column(col, justify="right" if col in ("in", "out", "dropped", "seconds") else "left")
    for op in stats.ops:
        top = ", ".join(f"{r.split(':', 1)[-1]}={n}" for r, n in sorted(op.dropped.items(), key=lambda kv: -kv[1])[:3])
        if op.not_run:  # the run stopped before this step (no documents left)
            table.add_row(op.name, op.kind, "–", "–", "–", "not run", "–")
            continue
        table.add_row(op.name, op.kind, f"{op.n_in:,}", f"{op.n_out:,}", f"{op.dropped_total:,}", top,
                      f"{op.seconds:.2f}")
    console.print(table)
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
    console.print(f"output: {output}/ (data/, rejected/, quarantine/, stats.json, recipe.lock.yaml, report.html)")
