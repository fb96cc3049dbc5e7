"""Parameter counts and FLOPs of the LLaMA-style model from its shape, and shape search.

Pure Python (no torch), so `garden plan` and the launcher can count parameters without
building anything.  The counts equal megatron-core's built GPTModel exactly (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainer.config import PRESETS, resolve_model


def param_counts(m: dict) -> dict[str, float]:
    """Parameter counts of the full model from its shape.

    total: every parameter (what Chinchilla counts); non_embedding: without the input embedding
    and the untied output layer (Kaplan et al. 2020's N); active_matmul: parameters a token
    multiplies through (top-k experts only, LM head included, embedding lookup excluded).
    """
    h, L, f, v = m["hidden_size"], m["num_layers"], m["ffn_hidden_size"], m["vocab_size"]
    hd = h // m["num_attention_heads"]
    attn = h * h * 2 + 2 * h * hd * m["num_query_groups"]
    mlp = 3 * h * f
    experts = m.get("num_experts") or 0
    mlp_total = mlp * experts + h * experts if experts else mlp
    mlp_active = mlp * int(m["top_k"]) + h * experts if experts else mlp
    norms = 2 * h
    layer_total = attn + mlp_total + norms
    total = L * layer_total + 2 * v * h + h
    return {"total": total, "non_embedding": total - 2 * v * h,
            "active_matmul": L * (attn + mlp_active) + v * h}


def flops_per_token(m: dict, seq_len: int) -> float:
    """Training FLOPs per token: 6N (N = active matmul params incl. the LM head, not the
    embedding lookup) plus causal-free attention 12 * L * h * s (PaLM appendix B)."""
    n = param_counts(m)["active_matmul"]
    return 6 * n + 12 * m["num_layers"] * m["hidden_size"] * seq_len


@dataclass
class Shape:
    """A dense LLaMA shape and its parameter counts."""

    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_query_groups: int
    ffn_hidden_size: int
    vocab_size: int
    total_params: int
    non_embedding_params: int

    def model_fields(self) -> dict:
        """The `model:` fields of a garden train config."""
        return {k: getattr(self, k) for k in ("num_layers", "hidden_size", "num_attention_heads",
                                               "num_query_groups", "ffn_hidden_size", "vocab_size")}


def shape_from_model(m: dict) -> Shape:
    counts = param_counts(m)
    return Shape(int(m["num_layers"]), int(m["hidden_size"]), int(m["num_attention_heads"]),
                 int(m["num_query_groups"]), int(m["ffn_hidden_size"]), int(m["vocab_size"]),
                 int(counts["total"]), int(counts["non_embedding"]))


def preset_model(name: str, vocab_size: int) -> dict:
    """A preset resolved like `garden train` does; presets with vocab 'auto' take vocab_size."""
    return resolve_model({"preset": name, **({} if PRESETS[name].get("vocab_size") else
                                             {"vocab_size": vocab_size})}, vocab_size)


def nearest_preset(n_params: float, vocab_size: int) -> tuple[str, Shape]:
    """The dense preset whose total parameter count is nearest to n_params (in log space)."""
    dense = [p for p in PRESETS if not PRESETS[p].get("num_experts")]
    best = min(dense, key=lambda p: abs(math.log(
        param_counts(preset_model(p, vocab_size))["total"] / n_params)))
    return best, shape_from_model(preset_model(best, vocab_size))


def _query_groups(heads: int) -> int:
    """Grouped-query attention as LLaMA-2/3 do: about a quarter of the heads, at most 8, a
    power of two dividing the head count (so TP up to that value divides it)."""
    g = 1
    while g * 2 <= max(1, min(8, heads // 4)) and heads % (g * 2) == 0:
        g *= 2
    return g


def _hidden_sizes() -> list[tuple[int, int]]:
    """(hidden, heads) candidates with tensor-parallel-friendly head counts: head dim 16/32
    below 512 (like the tiny preset), 64 up to 2048 with an even head count, then 128 with
    heads a multiple of 8 (LLaMA-7B/65B: 4096/32, 8192/64)."""
    out = []
    for hidden in range(64, 512, 64):
        out.append((hidden, hidden // (16 if hidden < 256 else 32)))
    for hidden in range(512, 2048, 128):
        out.append((hidden, hidden // 64))
    for hidden in range(2048, 32769, 1024):
        out.append((hidden, hidden // 128))
    return out


def custom_shape(n_params: float, vocab_size: int, aspect: float = 96.0) -> Shape:
    """The LLaMA shape whose total parameter count is closest to n_params.

    Candidates: hidden sizes and heads from `_hidden_sizes`, GQA groups from `_query_groups`, SwiGLU FFN from the config's default rule, and
    for each hidden the layer count that gets closest.  Among shapes within 2 % of the target
    the one whose hidden/layers is nearest `aspect` wins, preferring layer counts divisible
    by 4 (Kaplan et al. 2020: loss depends
    weakly on shape for hidden/layers between ~20 and ~200; LLaMA-7B has 128, TinyLlama 93).
    """
    if n_params <= 0:
        raise ValueError("the target parameter count must be positive")
    cands: list[tuple[float, float, Shape]] = []
    for hidden, heads in _hidden_sizes():
        base = resolve_model({"preset": "tiny", "num_layers": 1, "hidden_size": hidden,
                              "num_attention_heads": heads, "num_query_groups": _query_groups(heads),
                              "ffn_hidden_size": None, "vocab_size": vocab_size}, vocab_size)
        one = param_counts(base)["total"]
        per_layer = param_counts({**base, "num_layers": 2})["total"] - one
        layers = max(1, round((n_params - (one - per_layer)) / per_layer))
        s = shape_from_model({**base, "num_layers": layers})
        err = abs(math.log(s.total_params / n_params))
        # a layer count divisible by 4 leaves pipeline-parallel options open
        cands.append((err, abs(math.log(hidden / layers / aspect)) + 0.2 * (layers % 4 != 0), s))
    best_err = min(c[0] for c in cands)
    close = [c for c in cands if c[0] <= max(best_err, 0.02)]
    return min(close, key=lambda c: (c[1], c[0]))[2]
