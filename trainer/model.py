"""Build the LLaMA-style megatron-core GPTModel chunks (wrapped in megatron DDP) and count FLOPs."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F

from trainer.plan.shapes import flops_per_token, param_counts  # noqa: F401  (one place, torch-free)


def transformer_config(cfg: dict):
    """TransformerConfig for the model/parallel/precision sections (LLaMA design, no fusions
    that need Apex/TE, CPU initialisation so every TP layout draws the same master weights)."""
    from megatron.core.transformer.transformer_config import TransformerConfig

    m, par, tr = cfg["model"], cfg["parallel"], cfg["training"]
    bf16 = cfg["precision"] == "bf16"
    dtype = torch.bfloat16 if bf16 else torch.float32
    kw: dict[str, Any] = {}
    if tr["recompute"] == "full":
        kw.update(recompute_granularity="full", recompute_method="uniform", recompute_num_layers=1)
    elif tr["recompute"] == "selective":
        kw.update(recompute_granularity="selective")
    if m.get("num_experts"):
        kw.update(num_moe_experts=int(m["num_experts"]), moe_router_topk=int(m["top_k"]),
                  moe_aux_loss_coeff=float(m["moe_aux_loss_coeff"]),
                  moe_router_load_balancing_type="aux_loss",
                  moe_token_dispatcher_type="alltoall", moe_grouped_gemm=False)
    return TransformerConfig(
        num_layers=m["num_layers"], hidden_size=m["hidden_size"],
        num_attention_heads=m["num_attention_heads"], num_query_groups=m["num_query_groups"],
        ffn_hidden_size=m["ffn_hidden_size"],
        normalization="RMSNorm", layernorm_epsilon=float(m["norm_eps"]),
        gated_linear_unit=True, activation_func=F.silu, add_bias_linear=False,
        hidden_dropout=0.0, attention_dropout=0.0, init_method_std=float(m["init_std"]),
        tensor_model_parallel_size=par["tp"], pipeline_model_parallel_size=par["pp"],
        virtual_pipeline_model_parallel_size=par["vpp"],
        sequence_parallel=bool(par["sequence_parallel"]),
        bf16=bf16, params_dtype=dtype, pipeline_dtype=dtype,
        use_cpu_initialization=not cfg["cuda"],
        calculate_per_token_loss=True,
        bias_activation_fusion=False, masked_softmax_fusion=False, persist_layer_norm=False,
        bias_dropout_fusion=False, apply_rope_fusion=False, gradient_accumulation_fusion=False,
        cross_entropy_loss_fusion=False, deallocate_pipeline_outputs=False,
        # gloo matches isend/irecv per peer by order: a batched exchange carrying both an
        # activation and a gradient to the same peer (interleaved PP=2) can swap them.  The
        # unbatched path sends the two directions over different groups, which is exact.
        batch_p2p_comm=bool(cfg["cuda"]),
        **kw,
    )


def _moe_without_te_fix() -> None:
    """megatron-core 0.16.1 bug: without TransformerEngine, moe_utils never defines
    `te_general_gemm` but the router reads it -> NameError on any MoE forward.  Define it as
    None so the router takes its plain torch.mm path (CPU, or GPU without TE)."""
    from megatron.core.transformer.moe import moe_utils

    if not hasattr(moe_utils, "te_general_gemm"):
        moe_utils.te_general_gemm = None


def layer_spec(cfg: dict):
    """megatron's layer spec for cfg: TransformerEngine's on a GPU that has it, else the local one."""
    from megatron.core.models.gpt import gpt_layer_specs as specs

    n_exp = cfg["model"].get("num_experts")
    if n_exp:
        _moe_without_te_fix()
    if cfg["cuda"]:
        try:
            import transformer_engine  # noqa: F401

            return specs.get_gpt_layer_with_transformer_engine_spec(num_experts=n_exp)
        except ImportError:
            pass
    if cfg["parallel"]["sequence_parallel"]:
        raise SystemExit("parallel.sequence_parallel needs TransformerEngine (pip install "
                         "transformer_engine[pytorch]); megatron's torch norms do not support it")
    return specs.get_gpt_layer_local_spec(num_experts=n_exp, normalization="RMSNorm")


@contextlib.contextmanager
def _layout_independent_init(seed: int):
    """Reseed the CPU generator before each transformer layer from (seed, global layer number).

    With CPU initialisation megatron draws every full weight from the default generator in
    construction order; a pipeline stage builds only its own layers, so without this PP=2 would
    start from other weights than PP=1.  Per-layer seeds make TP/PP/VPP layouts bit-identical
    at step 0 (the embedding is drawn first and the LM head right after the last layer, so
    both line up too).
    """
    from megatron.core import parallel_state as ps
    from megatron.core.transformer import transformer_layer as tl

    orig = tl.TransformerLayer.__init__

    def init(self, config, submodules, layer_number=1, *args, **kwargs):
        vp_stage = kwargs.get("vp_stage")
        offset = tl.get_transformer_layer_offset(config, vp_stage,
                                                 ps.get_pipeline_model_parallel_rank())
        torch.manual_seed(seed * 100_003 + layer_number + offset)
        orig(self, config, submodules, layer_number, *args, **kwargs)

    tl.TransformerLayer.__init__ = init
    try:
        yield
    finally:
        tl.TransformerLayer.__init__ = orig


def gpt_model(cfg: dict, tcfg: Any, spec: Any = None, *, pre_process: bool = True,
              post_process: bool = True, vp_stage: int | None = None) -> Any:
    """One GPTModel (a pipeline chunk, or the whole model at PP=1) on cfg's device; the one
    place that fixes Garden's architecture choices (RoPE, untied embeddings)."""
    from megatron.core.models.gpt import GPTModel

    model = GPTModel(
        config=tcfg, transformer_layer_spec=spec if spec is not None else layer_spec(cfg),
        vocab_size=cfg["model"]["vocab_size"], max_sequence_length=cfg["training"]["seq_len"],
        pre_process=pre_process, post_process=post_process,
        share_embeddings_and_output_weights=False, position_embedding_type="rope",
        rotary_base=int(cfg["model"]["rotary_base"]), vp_stage=vp_stage,
    )
    if cfg["cuda"]:
        model.cuda(torch.cuda.current_device())
    return model


def build_model(cfg: dict) -> list:
    """GPTModel chunks for this rank's pipeline stage(s), each wrapped in megatron DDP."""
    from megatron.core import parallel_state as ps
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig

    tcfg = transformer_config(cfg)
    spec = layer_spec(cfg)
    vpp = cfg["parallel"]["vpp"] or 1
    chunks = []
    seed = int(cfg["training"]["seed"])
    torch.manual_seed(seed)
    init_ctx = _layout_independent_init(seed)
    init_ctx.__enter__()
    for i in range(vpp):
        vp_stage = i if cfg["parallel"]["vpp"] else None
        pre = ps.is_pipeline_first_stage(ignore_virtual=False, vp_stage=vp_stage)
        post = ps.is_pipeline_last_stage(ignore_virtual=False, vp_stage=vp_stage)
        chunks.append(gpt_model(cfg, tcfg, spec, pre_process=pre, post_process=post,
                                vp_stage=vp_stage))
    init_ctx.__exit__(None, None, None)
    ddp_cfg = DistributedDataParallelConfig(
        grad_reduce_in_fp32=True, overlap_grad_reduce=False,
        use_distributed_optimizer=bool(cfg["parallel"]["distributed_optimizer"]),
        average_in_collective=False,
    )
    return [DistributedDataParallel(config=tcfg, ddp_config=ddp_cfg, module=m,
                                    disable_bucketing=i > 0) for i, m in enumerate(chunks)]
