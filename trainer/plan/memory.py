"""Memory per GPU of a TP x PP x DP layout: weights, gradients, optimizer states, activations.

Bytes per parameter follow megatron-core as `garden train` configures it:
- bf16 (GPU): bf16 weights (2), fp32 gradient buffer (4, grad_reduce_in_fp32), and fp32 main
  weights + Adam m + v (12) in the optimizer, which the distributed optimizer (ZeRO-1) shards
  over DP: 2 + 4 + 12/DP.
- fp32 (CPU): fp32 weights (4), fp32 gradients (4), Adam m + v (8; the weights are the main copy).

Activations use Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models" (arXiv:2205.05198), for 16-bit activations, per layer and microbatch:
  no recomputation        s*b*h*(34 + 5*a*s/h) / t
  selective recomputation s*b*h*34 / t            (attention scores recomputed)
  full recomputation      s*b*h*2 / t             (layer input only) + one layer's full set
with sequence parallelism assumed whenever t > 1 (the 10*s*b*h of norms/dropout otherwise stays
unsplit).  It describes the GPT-3 block (4h MLP, dropout, no flash attention), so for a LLaMA
block with flash attention it is an upper bound.  With the 1F1B schedule the first pipeline stage
holds PP microbatches of L/PP layers, i.e. L layers' worth, whatever PP is; the last stage adds
the fp32 logits (4*s*b*v/t).  fp32 activations (CPU) count twice these bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from trainer.plan.shapes import param_counts

BYTES = {  # per parameter: weights, gradients, optimizer states (not sharded)
    "bf16": (2, 4, 12),
    "fp32": (4, 4, 8),
}
KORTHIKANTI_CITE = ("Korthikanti et al. 2022, Reducing Activation Recomputation in Large "
                    "Transformer Models, arXiv:2205.05198")
RECOMPUTE = ("none", "selective", "full")
# Kept free for the CUDA context, NCCL buffers and allocator fragmentation.
HEADROOM = 0.10


@dataclass
class MemoryEstimate:
    """Bytes per GPU on the busiest pipeline stage of one layout."""

    tp: int
    pp: int
    dp: int
    micro_batch: int
    seq_len: int
    precision: str
    params_per_gpu: int
    weights: float
    grads: float
    optimizer: float
    optimizer_zero1: float
    activations: dict[str, float] = field(default_factory=dict)
    fits: str | None = None  # cheapest setting that fits, e.g. "zero1+selective"; "no"; None = unknown

    def total(self, zero1: bool, recompute: str) -> float:
        opt = self.optimizer_zero1 if zero1 else self.optimizer
        return self.weights + self.grads + opt + self.activations[recompute]

    def static(self, zero1: bool) -> float:
        """Weights + gradients + optimizer states."""
        return self.weights + self.grads + (self.optimizer_zero1 if zero1 else self.optimizer)

    def judge(self, gpu_mem_bytes: float | None) -> None:
        """Set `fits` to the first of none/selective/full recomputation that fits (with ZeRO-1
        whenever DP > 1, as `garden train` enables it on GPUs), keeping HEADROOM free."""
        if not gpu_mem_bytes:
            self.fits = None
            return
        zero1 = self.dp > 1
        for level in RECOMPUTE:
            if self.total(zero1, level) <= gpu_mem_bytes * (1 - HEADROOM):
                self.fits = ("zero1+" if zero1 else "") + level
                return
        self.fits = "no"

    def to_dict(self) -> dict:
        return asdict(self)


def _stage_params(m: dict, tp: int, pp: int) -> tuple[int, int]:
    """Parameters per GPU on the first and the last pipeline stage."""
    h, L, v = m["hidden_size"], m["num_layers"], m["vocab_size"]
    total = param_counts(m)["total"]
    per_layer = (total - 2 * v * h - h) // L  # matmuls + the layer's two norms
    per_layer_gpu = (per_layer - 2 * h) // tp + 2 * h  # norms are replicated across TP
    body = (L // pp) * per_layer_gpu
    emb = v * h // tp
    if pp == 1:
        return body + 2 * emb + h, body + 2 * emb + h
    return body + emb, body + emb + h


def activation_bytes(m: dict, tp: int, pp: int, micro_batch: int, seq_len: int,
                     recompute: str, precision: str = "bf16") -> float:
    """Activation memory of the busiest stage (first or last), Korthikanti et al. 2022."""
    s, b, h, a = seq_len, micro_batch, m["hidden_size"], m["num_attention_heads"]
    L, v = m["num_layers"], m["vocab_size"]
    full_layer = s * b * h * (34 + 5 * a * s / h) / tp
    per_layer = {"none": full_layer, "selective": s * b * h * 34 / tp,
                 "full": 2 * s * b * h / tp}[recompute]
    extra = full_layer if recompute == "full" else 0.0  # the layer being recomputed
    logits = 4 * s * b * v / tp + 4 * s * b * h / tp  # fp32 logits + final norm/output input
    first = L * per_layer + extra + (logits if pp == 1 else 0.0)
    last = (L // pp) * per_layer + extra + logits
    scale = 2.0 if precision == "fp32" else 1.0
    return max(first, last) * scale


def estimate(m: dict, tp: int, pp: int, dp: int, micro_batch: int, seq_len: int,
             precision: str = "bf16") -> MemoryEstimate:
    """Memory per GPU of the model `m` (a resolved model dict) in one layout."""
    first, last = _stage_params(m, tp, pp)
    p = max(first, last)
    w, g, o = BYTES[precision]
    return MemoryEstimate(
        tp=tp, pp=pp, dp=dp, micro_batch=micro_batch, seq_len=seq_len, precision=precision,
        params_per_gpu=p, weights=w * p, grads=g * p, optimizer=o * p, optimizer_zero1=o * p / dp,
        activations={r: activation_bytes(m, tp, pp, micro_batch, seq_len, r, precision)
                     for r in RECOMPUTE})


def candidate_layouts(m: dict, gpus: int, gpus_per_node: int = 8) -> list[tuple[int, int, int]]:
    """(tp, pp, dp) with tp*pp*dp = gpus, TP a power of two within a node dividing heads, query
    groups, FFN and vocab, and PP dividing the layer count (as `garden train` requires)."""
    out = []
    tp = 1
    while tp <= min(gpus, gpus_per_node):
        ok = all(m[k] % tp == 0 for k in ("num_attention_heads", "num_query_groups",
                                          "ffn_hidden_size", "vocab_size"))
        if ok:
            for pp in range(1, m["num_layers"] + 1):
                if m["num_layers"] % pp == 0 and gpus % (tp * pp) == 0:
                    out.append((tp, pp, gpus // (tp * pp)))
        tp *= 2
    return sorted(out, key=lambda t: (t[0] * t[1], t[1]))
