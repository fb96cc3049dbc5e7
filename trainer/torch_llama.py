"""A plain-torch LLaMA / Mixtral decoder over Hugging Face-named weights, with a KV cache.

`garden generate` runs this one model for both of its inputs: a Garden run (its checkpoint
mapped to HF names by trainer.hf_format) and an exported HF folder (read with safetensors).
One code path for both, no transformers at run time, and a cache that megatron's training
forward does not have: each new token costs one position.  Tests pin it to megatron's forward
and to transformers' LlamaForCausalLM / MixtralForCausalLM by equal logits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DecoderShape:
    """The architecture fields of an HF LLaMA/Mixtral config.json that the forward needs."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    max_positions: int
    tied: bool
    num_experts: int = 0
    top_k: int = 0

    @classmethod
    def from_hf_config(cls, cfg: dict[str, Any]) -> "DecoderShape":
        heads = int(cfg["num_attention_heads"])
        rope = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0)
        return cls(vocab_size=int(cfg["vocab_size"]), hidden_size=int(cfg["hidden_size"]),
                   num_layers=int(cfg["num_hidden_layers"]), num_heads=heads,
                   num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
                   head_dim=int(cfg.get("head_dim") or cfg["hidden_size"] // heads),
                   rms_norm_eps=float(cfg["rms_norm_eps"]), rope_theta=float(rope),
                   max_positions=int(cfg["max_position_embeddings"]),
                   tied=bool(cfg.get("tie_word_embeddings", False)),
                   num_experts=int(cfg.get("num_local_experts") or 0),
                   top_k=int(cfg.get("num_experts_per_tok") or 0))


class KVCache:
    """Keys and values of every layer for positions [0, length), preallocated to max_len."""

    def __init__(self, shape: DecoderShape, batch: int, max_len: int, dtype: torch.dtype,
                 device: torch.device):
        size = (batch, shape.num_kv_heads, max_len, shape.head_dim)
        self.k = [torch.zeros(size, dtype=dtype, device=device) for _ in range(shape.num_layers)]
        self.v = [torch.zeros(size, dtype=dtype, device=device) for _ in range(shape.num_layers)]
        self.length = 0


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class TorchDecoder:
    """Forward of LlamaForCausalLM / MixtralForCausalLM (no dropout, no biases) in eval mode."""

    def __init__(self, shape: DecoderShape, weights: dict[str, torch.Tensor],
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        self.shape, self.device, self.dtype = shape, torch.device(device), dtype
        self.w = {k: v.to(device=self.device, dtype=dtype) for k, v in weights.items()}
        if "lm_head.weight" not in self.w:
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]  # tied
        hd = shape.head_dim
        self.inv_freq = 1.0 / (shape.rope_theta ** (
            torch.arange(0, hd, 2, dtype=torch.int64).float().to(self.device) / hd))

    def _rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    def _attention(self, i: int, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   cache: KVCache | None, start: int) -> torch.Tensor:
        s, p = self.shape, f"model.layers.{i}.self_attn."
        b, t, _ = x.shape
        q = F.linear(x, self.w[p + "q_proj.weight"]).view(b, t, s.num_heads, s.head_dim).transpose(1, 2)
        k = F.linear(x, self.w[p + "k_proj.weight"]).view(b, t, s.num_kv_heads, s.head_dim).transpose(1, 2)
        v = F.linear(x, self.w[p + "v_proj.weight"]).view(b, t, s.num_kv_heads, s.head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        if cache is not None:
            cache.k[i][:, :, start:start + t] = k
            cache.v[i][:, :, start:start + t] = v
            k, v = cache.k[i][:, :, :start + t], cache.v[i][:, :, :start + t]
        rep = s.num_heads // s.num_kv_heads
        if rep > 1:
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if t == 1:
            out = F.scaled_dot_product_attention(q, k, v)  # one query sees every cached key
        elif start == 0:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            mask = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(b, t, s.num_heads * s.head_dim)
        return F.linear(out, self.w[p + "o_proj.weight"])

    def _swiglu(self, x: torch.Tensor, gate: str, up: str, down: str) -> torch.Tensor:
        return F.linear(F.silu(F.linear(x, self.w[gate])) * F.linear(x, self.w[up]), self.w[down])

    def _mlp(self, i: int, x: torch.Tensor) -> torch.Tensor:
        s = self.shape
        if not s.num_experts:
            p = f"model.layers.{i}.mlp."
            return self._swiglu(x, p + "gate_proj.weight", p + "up_proj.weight",
                                p + "down_proj.weight")
        p = f"model.layers.{i}.block_sparse_moe."
        flat = x.reshape(-1, x.shape[-1])
        probs = torch.softmax(F.linear(flat, self.w[p + "gate.weight"]).float(), dim=-1)
        top_w, top_i = torch.topk(probs, s.top_k, dim=-1)
        top_w = (top_w / top_w.sum(-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(flat)
        for e in top_i.unique().tolist():
            rows, slot = torch.where(top_i == e)
            ex = f"{p}experts.{e}."
            y = self._swiglu(flat[rows], ex + "w1.weight", ex + "w3.weight", ex + "w2.weight")
            out.index_add_(0, rows, y * top_w[rows, slot, None])
        return out.view_as(x)

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits [batch, len, vocab] for token ids [batch, len] placed after the cache's
        positions (or at 0 without a cache); the cache grows by len."""
        s = self.shape
        start = cache.length if cache is not None else 0
        t = ids.shape[1]
        if start + t > s.max_positions:
            raise ValueError(f"{start + t} positions exceed the trained context {s.max_positions}")
        cos, sin = self._rope(torch.arange(start, start + t, device=self.device))
        x = F.embedding(ids.to(self.device), self.w["model.embed_tokens.weight"])
        for i in range(s.num_layers):
            p = f"model.layers.{i}."
            x = x + self._attention(i, _rms_norm(x, self.w[p + "input_layernorm.weight"],
                                                 s.rms_norm_eps), cos, sin, cache, start)
            x = x + self._mlp(i, _rms_norm(x, self.w[p + "post_attention_layernorm.weight"],
                                           s.rms_norm_eps))
        if cache is not None:
            cache.length = start + t
        x = _rms_norm(x, self.w["model.norm.weight"], s.rms_norm_eps)
        return F.linear(x, self.w["lm_head.weight"]).float()

    def new_cache(self, batch: int = 1, max_len: int | None = None) -> KVCache:
        return KVCache(self.shape, batch, max_len or self.shape.max_positions, self.dtype,
                       self.device)


def read_hf_folder(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config.json, tensors) of an HF model folder: one model.safetensors or an index + shards."""
    from safetensors.torch import load_file

    p = Path(path)
    cfg = json.loads((p / "config.json").read_text())
    index = p / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() \
        else ["model.safetensors"]
    weights: dict[str, torch.Tensor] = {}
    for name in files:
        weights.update(load_file(str(p / name)))
    return cfg, weights
