"""Validation while training: loss on held-out tokens of every source, forward only.

Each source's windows are fixed once per run: its held-out documents (tokenize's
`<source>_valid` shards, or the valid part of blend.json's split) in a seeded order,
concatenated and cut into seq_len windows until `eval.tokens` tokens are scored, so every
evaluation (and a resumed run) sees the same tokens.  Windows are spread over the DP ranks and
run through megatron's forward-only schedule, so TP/PP/VPP layouts evaluate like training.
`overall` weights each source's loss by its share of the run's planned tokens: the loss on a
token drawn from the blend as a whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch


@dataclass
class Windows:
    """Fixed evaluation windows of one source: [n, seq_len] arrays and the scored token count."""
    tokens: np.ndarray
    labels: np.ndarray
    loss_mask: np.ndarray
    scored: int


def build_windows(held: dict, n_tokens: int, seq_len: int, seed: int) -> Windows:
    """The first n_tokens (+1 for the last label) of the held-out documents in a seeded order."""
    from garden.megatron_format import IndexedDatasetReader

    ds = IndexedDatasetReader(held["prefix"])
    order = np.random.default_rng(seed).permutation(np.arange(held["begin"], held["end"]))
    parts, have = [], 0
    for d in order:
        parts.append(np.asarray(ds[int(d)], dtype=np.int64))
        have += len(parts[-1])
        if have > n_tokens:
            break
    stream = np.concatenate(parts)[: n_tokens + 1] if parts else np.zeros(0, np.int64)
    scored = max(0, len(stream) - 1)
    n = math.ceil(scored / seq_len)
    tokens = np.zeros((n, seq_len), np.int64)
    labels = np.zeros((n, seq_len), np.int64)
    mask = np.zeros((n, seq_len), np.float32)
    for k in range(n):
        chunk = stream[k * seq_len: k * seq_len + seq_len + 1]
        m = len(chunk) - 1
        tokens[k, :m], labels[k, :m], mask[k, :m] = chunk[:-1], chunk[1:], 1.0
    return Windows(tokens, labels, mask, scored)


def rising(history: list[float], times: int) -> bool:
    """True when the last `times` evaluations each raised the loss."""
    last = history[-(times + 1):]
    return len(last) == times + 1 and all(b > a for a, b in zip(last, last[1:]))


def ppl(loss: float) -> float:
    return math.exp(loss) if loss < 700 else float("inf")


class Validator:
    """Runs the evaluation of one rank; rank 0 gets the metrics row."""

    def __init__(self, cfg: dict, model: list, fwd_bwd: Any, forward_step: Any, dp_rank: int):
        ev, tr = cfg["eval"], cfg["training"]
        self.cfg, self.model, self.fwd_bwd, self.forward_step = cfg, model, fwd_bwd, forward_step
        self.interval = int(ev["interval"])
        windows = {n: build_windows(ev["sources"][n], int(ev["tokens"]), tr["seq_len"],
                                    int(ev["seed"])) for n in sorted(ev["sources"])}
        self.empty = [n for n, w in windows.items() if not w.scored]
        self.windows = {n: w for n, w in windows.items() if w.scored}
        self.names = list(self.windows)
        self.weights = {n: float(ev["sources"][n]["weight"]) for n in self.names}
        self.mbs, self.owner = self._microbatches(dp_rank)

    @property
    def active(self) -> bool:
        return bool(self.interval and self.names)

    def due(self, iteration: int, total: int) -> bool:
        return self.active and (iteration % self.interval == 0 or iteration == total)

    def _microbatches(self, dp_rank: int) -> tuple[list[dict], list[int]]:
        """This DP rank's microbatches (whole microbatches per source, padded with masked
        windows so every rank runs the same count) and the source index of each."""
        tr, par = self.cfg["training"], self.cfg["parallel"]
        mb, dp, seq = tr["micro_batch"], par["dp"], tr["seq_len"]
        mbs, owner = [], []
        for i, name in enumerate(self.names):
            w = self.windows[name]
            per_rank = math.ceil(len(w.tokens) / dp)
            n_mb = math.ceil(per_rank / mb)
            lo = dp_rank * per_rank
            for m in range(n_mb):
                rows = range(lo + m * mb, lo + (m + 1) * mb)
                mbs.append(self._batch(w, [r if r < min(lo + per_rank, len(w.tokens)) else -1
                                          for r in rows], seq))
                owner.append(i)
        if par["vpp"]:  # the interleaved schedule runs microbatches in groups of pp
            while len(mbs) % par["pp"]:
                mbs.append(self._batch(None, [-1] * mb, seq))
                owner.append(-1)
        return mbs, owner

    @staticmethod
    def _batch(w: Windows | None, rows: list[int], seq: int) -> dict:
        """Stack windows `rows` (-1: a fully masked padding window)."""
        n = len(rows)
        tok, lab = np.zeros((n, seq), np.int64), np.zeros((n, seq), np.int64)
        mask = np.zeros((n, seq), np.float32)
        for j, r in enumerate(rows):
            if w is not None and r >= 0:
                tok[j], lab[j], mask[j] = w.tokens[r], w.labels[r], w.loss_mask[r]
        return {"tokens": torch.from_numpy(tok), "labels": torch.from_numpy(lab),
                "loss_mask": torch.from_numpy(mask),
                "position_ids": torch.arange(seq).repeat(n, 1)}

    def evaluate(self, iteration: int, device: torch.device, is_last_stage: bool) -> dict:
        """Collective forward-only pass over every window; the metrics row (same on all ranks)."""
        tr = self.cfg["training"]
        n_chunks = len(self.model)
        iters = [iter(self.mbs) for _ in range(n_chunks)] if n_chunks > 1 else iter(self.mbs)
        for chunk in self.model:
            chunk.eval()
        try:
            with torch.no_grad():
                out = self.fwd_bwd(
                    forward_step_func=partial(self.forward_step, 1.0), data_iterator=iters,
                    model=self.model, num_microbatches=len(self.mbs),
                    seq_length=tr["seq_len"], micro_batch_size=tr["micro_batch"],
                    decoder_seq_length=tr["seq_len"], forward_only=True)
        finally:
            for chunk in self.model:
                chunk.train()
        tot = torch.zeros(len(self.names), 2, dtype=torch.float64, device=device)
        if is_last_stage:
            for src, d in zip(self.owner, out):
                if src >= 0:
                    tot[src] += d.to(torch.float64)
        torch.distributed.all_reduce(tot)
        loss = {n: (tot[i, 0] / tot[i, 1]).item() for i, n in enumerate(self.names)}
        tokens = {n: self.windows[n].scored for n in self.names}
        wsum = sum(self.weights.values())
        loss["overall"] = sum(self.weights[n] * loss[n] for n in self.names) / wsum
        tokens["overall"] = sum(tokens.values())
        return {"iteration": iteration, "valid_loss": loss,
                "valid_ppl": {k: ppl(v) for k, v in loss.items()}, "valid_tokens": tokens}


def format_line(row: dict) -> str:
    """One log line for a validation row."""
    loss = row["valid_loss"]
    parts = " | ".join(f"{k} {v:.4f}" for k, v in loss.items() if k != "overall")
    return (f"valid  {row['iteration']:>6} | overall {loss['overall']:.4f} "
            f"(ppl {row['valid_ppl']['overall']:,.1f}) | {parts}")


def format_table(row: dict) -> str:
    """The end-of-run summary: loss, perplexity and held-out tokens per source."""
    names = [k for k in row["valid_loss"] if k != "overall"] + ["overall"]
    width = max(8, *(len(n) for n in names))
    lines = [f"validation at iteration {row['iteration']} (held-out tokens):",
             f"  {'source':<{width}}  {'loss':>7}  {'ppl':>9}  {'tokens':>8}"]
    for n in names:
        lines.append(f"  {n:<{width}}  {row['valid_loss'][n]:>7.4f}  "
                     f"{row['valid_ppl'][n]:>9,.1f}  {row['valid_tokens'][n]:>8,}")
    return "\n".join(lines)
