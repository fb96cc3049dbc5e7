"""The end-of-run summary table."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_summary(stats: dict, output: str) -> None:
    console = Console(stderr=True)
    table = Table(title=f"{stats['recipe']}: {stats['seconds']:.1f}s, {stats['workers']} workers")
    for col in ("operator", "kind", "in", "out", "dropped", "top reasons", "seconds"):
        table.add_column(col, justify="right" if col in ("in", "out", "dropped", "seconds") else "left")
    for op in stats["ops"]:
        dropped = sum(op["dropped"].values())
        top = ", ".join(f"{r.split(':', 1)[-1]}={n}" for r, n in sorted(op["dropped"].items(), key=lambda kv: -kv[1])[:3])
        if op.get("not_run"):  # the run stopped before this step (no documents left)
            table.add_row(op["name"], op["kind"], "–", "–", "–", "not run", "–")
            continue
        table.add_row(op["name"], op["kind"], f"{op['in']:,}", f"{op['out']:,}", f"{dropped:,}", top,
                      f"{op['seconds']:.2f}")
    console.print(table)
    console.print(
        f"input {stats['input_docs']:,} = kept {stats['kept_docs']:,} + rejected {stats['rejected_docs']:,}"
        f" + quarantined {stats['quarantined_docs']:,}  "
        + ("[green]✓ accounted[/green]" if stats["accounting_ok"] else "[red]✗ MISMATCH[/red]"))
    src = Table(title="per source")
    for col in ("source", "input", "kept", "rejected", "quarantined"):
        src.add_column(col, justify="left" if col == "source" else "right")
    for name, c in stats["sources"].items():
        src.add_row(name, *(f"{c[k]:,}" for k in ("input", "kept", "rejected", "quarantined")))
    console.print(src)
    console.print(f"output: {output}/ (data/, rejected/, quarantine/, stats.json, recipe.lock.yaml, report.html)")
