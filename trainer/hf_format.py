"""megatron-core GPT (Garden's LLaMA design) <-> Hugging Face LLaMA / Mixtral: names, layouts, config.

One place for the mapping (checked in tests/test_export.py: equal logits):
- fused QKV rows are grouped per query group: [q heads of g; k of g; v of g] for each group g;
- the SwiGLU fc1 weight is [gate; up] stacked on dim 0;
- megatron's non-interleaved rotary equals HF's rotate_half, so q/k rows need no permutation;
- the vocabulary is padded to a multiple of 128 for training: HF gets the tokenizer's size;
- MoE: router -> block_sparse_moe.gate, expert e's fc1 -> w1 (gate) and w3 (up), fc2 -> w2
  (the hub layout every transformers version loads; top-k then softmax over the chosen k in
  megatron equals Mixtral's softmax, top-k and renormalisation).
"""

from __future__ import annotations

from typing import Any

import torch


def hf_architecture(model: dict[str, Any]) -> str:
    return "MixtralForCausalLM" if model.get("num_experts") else "LlamaForCausalLM"


def hf_config(model: dict[str, Any], vocab_size: int, seq_len: int, bos_id: int, eos_id: int,
              tied: bool, dtype: str) -> dict[str, Any]:
    """config.json for the exported model (plain JSON: no transformers import needed)."""
    moe = bool(model.get("num_experts"))
    cfg: dict[str, Any] = {
        "architectures": [hf_architecture(model)],
        "model_type": "mixtral" if moe else "llama",
        "vocab_size": int(vocab_size),
        "hidden_size": int(model["hidden_size"]),
        "intermediate_size": int(model["ffn_hidden_size"]),
        "num_hidden_layers": int(model["num_layers"]),
        "num_attention_heads": int(model["num_attention_heads"]),
        "num_key_value_heads": int(model["num_query_groups"]),
        "head_dim": int(model["hidden_size"]) // int(model["num_attention_heads"]),
        "hidden_act": "silu",
        "max_position_embeddings": int(seq_len),
        "rms_norm_eps": float(model["norm_eps"]),
        "rope_theta": float(model["rotary_base"]),
        "rope_parameters": {"rope_type": "default", "rope_theta": float(model["rotary_base"])},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": float(model.get("init_std", 0.02)),
        "tie_word_embeddings": bool(tied),
        "use_cache": True,
        "bos_token_id": int(bos_id),
        "eos_token_id": int(eos_id),
        "torch_dtype": dtype,
        "dtype": dtype,
    }
    if moe:
        cfg.update(num_local_experts=int(model["num_experts"]),
                   num_experts_per_tok=int(model["top_k"]),
                   router_aux_loss_coef=float(model.get("moe_aux_loss_coeff", 0.0)),
                   router_jitter_noise=0.0, output_router_logits=False, sliding_window=None)
    else:
        cfg.update(mlp_bias=False, pretraining_tp=1)
    return cfg


def split_qkv(qkv: torch.Tensor, heads: int, groups: int, head_dim: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """megatron's fused QKV [(heads + 2 groups) * hd, hidden] -> (q, k, v) in HF's row order."""
    per = heads // groups
    hidden = qkv.shape[-1]
    g = qkv.reshape(groups, (per + 2) * head_dim, hidden)
    q = g[:, : per * head_dim].reshape(heads * head_dim, hidden)
    k = g[:, per * head_dim: (per + 1) * head_dim].reshape(groups * head_dim, hidden)
    v = g[:, (per + 1) * head_dim:].reshape(groups * head_dim, hidden)
    return q, k, v


def split_gate_up(fc1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """megatron's fused SwiGLU fc1 [2 * ffn, hidden] -> (gate, up)."""
    half = fc1.shape[0] // 2
    return fc1[:half], fc1[half:]


def megatron_to_hf(sd: dict[str, torch.Tensor], model: dict[str, Any], vocab_size: int
                   ) -> dict[str, torch.Tensor]:
    """Per-layer megatron names (trainer.restore.split_layers) -> HF LlamaForCausalLM /
    MixtralForCausalLM names, vocabulary padding stripped to `vocab_size` rows.

    Without `output_layer.weight` the model shares its embedding (tied): no lm_head is written.
    """
    heads, groups = int(model["num_attention_heads"]), int(model["num_query_groups"])
    hd = int(model["hidden_size"]) // heads
    moe = bool(model.get("num_experts"))
    out: dict[str, torch.Tensor] = {
        "model.embed_tokens.weight": sd["embedding.word_embeddings.weight"][:vocab_size],
        "model.norm.weight": sd["decoder.final_layernorm.weight"],
    }
    if "output_layer.weight" in sd:
        out["lm_head.weight"] = sd["output_layer.weight"][:vocab_size]
    for i in range(int(model["num_layers"])):
        src, dst = f"decoder.layers.{i}.", f"model.layers.{i}."
        q, k, v = split_qkv(sd[src + "self_attention.linear_qkv.weight"], heads, groups, hd)
        out[dst + "self_attn.q_proj.weight"] = q
        out[dst + "self_attn.k_proj.weight"] = k
        out[dst + "self_attn.v_proj.weight"] = v
        out[dst + "self_attn.o_proj.weight"] = sd[src + "self_attention.linear_proj.weight"]
        out[dst + "input_layernorm.weight"] = sd[src + "input_layernorm.weight"]
        out[dst + "post_attention_layernorm.weight"] = sd[src + "pre_mlp_layernorm.weight"]
        if moe:
            moe_dst = dst + "block_sparse_moe."
            out[moe_dst + "gate.weight"] = sd[src + "mlp.router.weight"]
            for e in range(int(model["num_experts"])):
                ex = f"{src}mlp.experts.local_experts.{e}."
                gate, up = split_gate_up(sd[ex + "linear_fc1.weight"])
                out[f"{moe_dst}experts.{e}.w1.weight"] = gate
                out[f"{moe_dst}experts.{e}.w3.weight"] = up
                out[f"{moe_dst}experts.{e}.w2.weight"] = sd[ex + "linear_fc2.weight"]
        else:
            gate, up = split_gate_up(sd[src + "mlp.linear_fc1.weight"])
            out[dst + "mlp.gate_proj.weight"] = gate
            out[dst + "mlp.up_proj.weight"] = up
            out[dst + "mlp.down_proj.weight"] = sd[src + "mlp.linear_fc2.weight"]
    return out
