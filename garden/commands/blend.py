"""`garden blend show out/blend.json`: sources × phases with tokens, share and epochs."""
from __future__ import annotations

import json
import sys

import click


def blend_rows(blend: dict) -> list[dict]:
    """One row per source: available tokens, then per phase tokens drawn, share and epochs."""
    rows = []
    for name, src in sorted(blend["sources"].items()):
        row = {"source": name, "available": int(src["tokens"]), "documents": int(src.get("documents", 0)),
               "phases": [], "epochs": float(blend.get("epochs", {}).get(name, 0.0))}
        total_epochs = 0.0
        for ph in blend["phases"]:
            share = float(ph["weights"].get(name, 0.0))
            drawn = int(round(share * float(ph["tokens"])))
            epochs = drawn / row["available"] if row["available"] else 0.0
            total_epochs += epochs
            row["phases"].append({"name": ph["name"], "tokens": drawn, "share": share, "epochs": epochs})
        row["epochs"] = total_epochs
        rows.append(row)
    return rows


def _human(n: float) -> str:
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{int(n)}"


@click.group()
def blend() -> None:
    """Inspect blend.json written by the mix / curriculum operators."""


@blend.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def show(path: str, as_json: bool) -> None:
    """Print sources × phases: tokens drawn, share and epochs; flag sources over max_epochs."""
    from rich.console import Console
    from rich.table import Table

    from garden.io import fs
    from garden.io.writer import read_json

    if not fs.isfile(path):
        raise click.BadParameter(f"no such file: {path}", param_hint="PATH")
    data = read_json(path)
    rows = blend_rows(data)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    max_epochs = float(data.get("max_epochs", float("inf")))
    table = Table(title=f"{path}  (dtype {data.get('dtype')}, vocab {data.get('tokenizer', {}).get('vocab_size')}, "
                        f"split {data.get('split')})")
    table.add_column("source")
    table.add_column("available", justify="right")
    for ph in data["phases"]:
        table.add_column(f"{ph['name']}\n{_human(float(ph['tokens']))} tok", justify="right")
    table.add_column("epochs", justify="right")
    for row in rows:
        cells = [row["source"], _human(row["available"])]
        for p in row["phases"]:
            cells.append(f"{_human(p['tokens'])}  {p['share']:.1%}  ×{p['epochs']:.2f}" if p["share"] else "—")
        flag = " !" if row["epochs"] > max_epochs else ""
        cells.append(f"{row['epochs']:.2f}{flag}")
        table.add_row(*cells)
    console = Console(file=sys.stdout, width=max(100, 30 + 26 * len(data["phases"])))
    console.print(table)
    for w in data.get("warnings", []):
        click.secho(f"warning: {w}", fg="yellow")
