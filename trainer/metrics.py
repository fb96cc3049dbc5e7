"""Rank-0 metrics: a log line per interval, metrics.jsonl rows, MFU, and the loss-curve PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from trainer.config import PEAK_BF16_FLOPS


def device_peak_flops(cfg: dict) -> float | None:
    """Peak FLOP/s of one device: logging.peak_flops if set, else the known bf16 peak of the
    GPU model (A100/H100/H200), else None (CPU: MFU is not reported unless configured)."""
    if cfg["logging"].get("peak_flops"):
        return float(cfg["logging"]["peak_flops"])
    if not cfg["cuda"]:
        return None
    import torch

    name = torch.cuda.get_device_name()
    for key, peak in PEAK_BF16_FLOPS.items():
        if key in name:
            return peak
    return None


class MetricsWriter:
    """Appends rows to <run_dir>/metrics.jsonl; on resume drops rows past the resumed step."""

    def __init__(self, run_dir: str | Path, resume_iter: int):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept, self.rows = [], []
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if row.get("iteration", 0) <= resume_iter:
                    kept.append(line)
                    self.rows.append(row)
        self.path.write_text("".join(k + "\n" for k in kept))

    def rows_written(self) -> list[dict]:
        """Every row of metrics.jsonl now (kept from before a resume and written since)."""
        return read_metrics(self.path.parent)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def format_row(row: dict[str, Any]) -> str:
    """One human log line for a metrics row."""
    mfu = f" | mfu {row['mfu'] * 100:.1f}%" if row.get("mfu") is not None else ""
    gn = row.get("grad_norm")
    return (f"iter {row['iteration']:>6} | tokens {row['consumed_tokens']:>12,} | "
            f"phase {row['phase']} | loss {row['loss']:.4f} | lr {row['lr']:.3e} | "
            f"grad_norm {gn if gn is None else f'{gn:.3f}'} | "
            f"tok/s {row['tokens_per_s']:,.0f}{mfu}"
            + (" | SKIPPED (spike)" if row.get("skipped") else ""))


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def phase_starts(run_dir: str | Path, rows: list[dict]) -> list[tuple[str, int]]:
    """(phase, first token) of every phase after the first: the real switch point from
    config.json, not the first logged row of the new phase (which is up to an interval late)."""
    try:
        cfg = json.loads((Path(run_dir) / "config.json").read_text())
        per_iter = int(cfg["training"]["seq_len"]) * int(cfg["training"]["global_batch"])
        return [(p["name"], int(p["start_iter"]) * per_iter) for p in cfg["data"]["phases"][1:]]
    except (OSError, KeyError, TypeError, ValueError):
        starts, prev = [], rows[0]["phase"]
        for r in rows[1:]:
            if r["phase"] != prev:
                starts.append((r["phase"], r["consumed_tokens"]))
                prev = r["phase"]
        return starts


def plot_loss(run_dir: str | Path) -> Path | None:
    """Write <run_dir>/loss.png from metrics.jsonl (matplotlib Agg); None if nothing to plot."""
    every = read_metrics(run_dir)
    rows = [r for r in every if r.get("loss") is not None and math.isfinite(r["loss"])]
    valid = [r for r in every if r.get("valid_loss")]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["consumed_tokens"] for r in rows], [r["loss"] for r in rows], lw=1.2,
            color="black", label="training")
    per_iter = rows[-1]["consumed_tokens"] / rows[-1]["iteration"] if rows[-1]["iteration"] else 0
    names = sorted({k for r in valid for k in r["valid_loss"]} - {"overall"})
    for name in names + (["overall"] if valid else []):
        pts = [(r["iteration"] * per_iter, r["valid_loss"][name]) for r in valid
               if name in r["valid_loss"] and math.isfinite(r["valid_loss"][name])]
        ax.plot([x for x, _ in pts], [y for _, y in pts], lw=1.0, marker=".",
                ls="--" if name == "overall" else "-", label=f"valid {name}")
    if valid:
        ax.legend(fontsize=7, ncol=2)
    for name, tokens in phase_starts(run_dir, rows):
        ax.axvline(tokens, color="grey", ls="--", lw=0.8)
        ax.text(tokens, ax.get_ylim()[1], f" {name}", va="top", fontsize=8, color="grey")
    ax.set_xlabel("consumed tokens")
    ax.set_ylabel("loss")
    ax.set_title(f"{Path(run_dir).name}: training" + (" and validation" if valid else "") + " loss")
    ax.grid(alpha=0.3)
    out = Path(run_dir) / "loss.png"
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
