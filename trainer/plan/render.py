"""Text and YAML views of a Plan (the JSON view is Plan.to_dict)."""

from __future__ import annotations

from pathlib import Path

import yaml

from trainer.plan.hardware import known_gpus
from trainer.plan.planner import Plan
from trainer.plan.scaling_laws import MAX_USEFUL_EPOCHS, R_STAR_DATA


def human(n: float, unit: str = "") -> str:
    for suffix, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}{unit}"
    return f"{n:.3g}{unit}"


def duration(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:,.1f} days"
    if hours >= 1:
        return f"{hours:.1f} h"
    return f"{hours * 60:.1f} min" if hours * 60 >= 1 else f"{hours * 3600:.1f} s"


def _gb(b: float) -> str:
    return f"{b / 1e9:.1f}"


def _shape_line(s) -> str:
    return (f"layers {s.num_layers}, hidden {s.hidden_size}, heads {s.num_attention_heads}, "
            f"KV heads {s.num_query_groups}, FFN {s.ffn_hidden_size}, vocab {s.vocab_size}: "
            f"{human(s.total_params)} params ({human(s.non_embedding_params)} non-embedding)")


def render_text(p: Plan) -> str:
    out = [f"Compute budget: {p.compute_flops:.3g} FLOPs (C = 6 N D), from {p.budget}",
           "",
           "Compute-optimal size (N counts all parameters, embeddings included, as Chinchilla "
           "does):",
           f"  {'fit':<17}{'params N':>10}{'tokens D':>10}{'D/N':>7}{'pred. loss':>12}"]
    for o in p.optima + [p.rule]:
        mark = " <- used" if o.law == p.law else ""
        out.append(f"  {o.law:<17}{human(o.n_params):>10}{human(o.tokens):>10}"
                   f"{o.tokens_per_param:>7.1f}{o.predicted_loss:>12.3f}{mark}")
    out.append("  (the two fits are the published disagreement: Epoch AI's refit matches "
               "Chinchilla's 70B/1.4T; approach 3's own constants want a smaller model on more "
               "data. Choose with --law.)")
    out += ["", f"Model ({p.law}: {human(p.n_params)} params, {human(p.tokens)} tokens):",
            f"  nearest preset : {p.preset} ({_shape_line(p.preset_shape)})",
            f"  custom shape   : {_shape_line(p.shape)}"]
    if p.data:
        d = p.data
        out += ["", f"Data (blend {p.blend}): {human(d.unique_tokens)} unique tokens, "
                    f"{human(d.planned_tokens)} planned = {d.epochs:.2f} epochs"]
        for s in d.sources:
            out.append(f"  {s.name:<16} unique {human(s.unique_tokens):>8}  planned "
                       f"{human(s.planned_tokens):>8}  epochs {s.epochs:6.2f}  effective "
                       f"{human(s.effective_tokens):>8}")
        if d.constrained:
            out.append(f"  data-constrained: effective data {human(d.effective_tokens)} of "
                       f"{human(d.planned_tokens)} (Muennighoff et al. 2023, "
                       f"D' = U + U R*(1 - exp(-R/R*)), R* = {R_STAR_DATA}); predicted loss "
                       f"{d.loss_repeated:.3f} instead of {d.loss_fresh:.3f} with fresh data")
            if d.compute_at_4_epochs:
                out.append(f"  the optimum sees {MAX_USEFUL_EPOCHS:g} epochs of this blend at "
                           f"{d.compute_at_4_epochs:.3g} FLOPs")
        else:
            out.append("  not data-constrained: the blend has enough unique tokens")
    t, w = p.training, p.wall
    out += ["", "Training (garden train):",
            f"  seq_len {t.seq_len}, micro_batch {t.micro_batch}, global_batch {t.global_batch} "
            f"({human(t.batch_tokens)} tokens), train_iters {t.train_iters:,} "
            f"({human(t.train_tokens)} tokens), lr {t.lr:.2e}",
            "  (batch and lr from DeepSeek LLM's compute fits, Bi et al. 2024)",
            f"  wall time: {duration(w.hours)} on {w.gpus} x {w.gpu} at {w.mfu:.0%} MFU "
            f"({w.gpu_hours:,.3g} GPU-hours, {w.flops:.3g} FLOPs with attention)"]
    mem = f"{p.gpu_memory_bytes / 1e9:.0f} GB" if p.gpu_memory_bytes else "unknown (--gpu-mem)"
    out += ["", f"Memory per GPU in GB ({w.gpus} GPUs of {mem}; bf16 weights, fp32 grads, fp32 "
                f"Adam + main weights; activations Korthikanti et al. 2022 with micro_batch "
                f"{t.micro_batch}, sequence parallel when TP > 1, no flash attention):",
            f"  {'TP':>3}{'PP':>4}{'DP':>5}{'weights':>9}{'grads':>8}{'optim':>8}{'ZeRO-1':>8}"
            f"{'act':>8}{'act-sel':>8}{'act-full':>9}  fits"]
    for e in p.layouts:
        mark = "*" if e is p.recommended else " "
        out.append(f" {mark}{e.tp:>3}{e.pp:>4}{e.dp:>5}{_gb(e.weights):>9}{_gb(e.grads):>8}"
                   f"{_gb(e.optimizer):>8}{_gb(e.optimizer_zero1):>8}"
                   f"{_gb(e.activations['none']):>8}{_gb(e.activations['selective']):>8}"
                   f"{_gb(e.activations['full']):>9}  {e.fits or '?'}")
    out.append("  fits: the first of no / selective / full recomputation that fits with 10 % "
               "headroom (ZeRO-1 when DP > 1); * = used for the config")
    for warning in p.warnings:
        out.append(f"warning: {warning}")
    out += ["", "References:"] + [f"  {c}" for c in p.citations]
    return "\n".join(out)


def train_config(p: Plan, name: str = "plan") -> dict:
    """A `garden train` config for the plan's custom shape and recommended layout."""
    e = p.recommended
    tp, pp = (e.tp, e.pp) if e else (1, 1)
    recompute = e.fits.split("+")[-1] if e else "full"
    t = p.training
    return {
        "name": name,
        "model": {"preset": p.preset, **p.shape.model_fields()},
        "parallel": {"tp": tp, "pp": pp, "sequence_parallel": tp > 1,
                     "distributed_optimizer": "auto"},
        "training": {"seq_len": t.seq_len, "micro_batch": t.micro_batch,
                     "global_batch": t.global_batch, "train_iters": t.train_iters,
                     "lr": float(f"{t.lr:.3g}"),
                     "recompute": None if recompute == "none" else recompute},
        "precision": "auto",
        "data": {"blend": p.blend},
        "checkpoint": {"interval": max(1, min(1000, t.train_iters // 20))},
        # the trainer knows the peaks of A100/H100/H200 itself; others need it for MFU
        "logging": {"interval": 10, "peak_flops": None if p.wall.gpu in known_gpus()
                    else p.wall.peak_flops},
    }


def write_config(p: Plan, path: str | Path) -> Path:
    """Write the config atomically with a header saying where its numbers come from."""
    from garden.io.fs import atomic_write_bytes

    path = Path(path)
    w = p.wall
    header = (f"# garden plan: {p.law} fit at {p.compute_flops:.3g} FLOPs -> "
              f"{human(p.shape.total_params)} params, {human(p.training.train_tokens)} tokens\n"
              f"# run: garden train {path.name} --nproc {min(w.gpus, 8)}"
              + (f" --nnodes {-(-w.gpus // 8)}" if w.gpus > 8 else "")
              + (f"   (~{duration(w.hours)} on {w.gpus} x {w.gpu} at {w.mfu:.0%} MFU)\n"))
    if not p.blend:
        header += "# data.blend is empty: set it to your blend.json before training\n"
    body = yaml.safe_dump(train_config(p, path.stem), sort_keys=False)
    atomic_write_bytes(str(path), (header + body).encode())
    return path
