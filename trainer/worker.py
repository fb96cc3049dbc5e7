"""torchrun entry point: `python -m trainer.worker RESOLVED_CONFIG.json`.

Sets up one rank (process group, CPU bridge when there is no CUDA, megatron parallel state,
seeds), builds model/optimizer/data, restores a checkpoint, and runs the loop.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from datetime import timedelta

from trainer import signals

signals.install()  # before torch's import: a Ctrl-C during start-up stops at the first step

import torch  # noqa: E402


def setup_distributed(cfg: dict) -> None:
    """Process group (nccl on GPU, gloo on CPU), megatron parallel groups and RNG seeds."""
    from megatron.core import parallel_state as ps
    from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

    if cfg["cuda"] != torch.cuda.is_available():
        raise SystemExit(f"launcher expected CUDA={cfg['cuda']} but this worker sees "
                         f"CUDA={torch.cuda.is_available()}")
    if cfg["cuda"]:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    else:
        from trainer import cpu

        cpu.install()
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cfg["cuda"] else "gloo",
                                             timeout=timedelta(minutes=10))
    par = cfg["parallel"]
    ps.initialize_model_parallel(tensor_model_parallel_size=par["tp"],
                                 pipeline_model_parallel_size=par["pp"],
                                 virtual_pipeline_model_parallel_size=par["vpp"])
    seed = int(cfg["training"]["seed"])
    torch.manual_seed(seed)  # same on all ranks: CPU init draws identical master weights
    model_parallel_cuda_manual_seed(seed)


def _choose_optimizer_kind(cfg: dict) -> None:
    """Keep the distributed optimizer only where its checkpoints can be reloaded.

    torch's AdamW keeps a per-parameter `step`; megatron 0.16's distributed-optimizer checkpoint
    load breaks on it (assertion, KeyError, then silently shared steps).  Fused Adam from
    TransformerEngine/Apex does not have the problem.  Must run before DDP is built.
    """
    import megatron.core.optimizer as mopt

    par = cfg["parallel"]
    if par["distributed_optimizer"] and mopt.Adam.__module__.startswith("torch"):
        say = print if torch.distributed.get_rank() == 0 else (lambda *a, **k: None)
        msg = ("distributed optimizer with torch AdamW (no TransformerEngine/Apex): megatron "
               "0.16 cannot reload its checkpoints")
        if par.get("distributed_optimizer_requested") == "auto":
            par["distributed_optimizer"] = False
            say(f"WARNING: {msg}; using the regular optimizer", flush=True)
        else:
            say(f"WARNING: {msg}; resume will fail. Set parallel.distributed_optimizer=auto "
                  f"to fall back", flush=True)


def build_optimizer(cfg: dict, model: list):
    """megatron AdamW (β=(0.9, 0.95), wd 0.1, clip 1.0 by default), distributed on GPU+DP."""
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer

    tr = cfg["training"]
    par = cfg["parallel"]
    ocfg = OptimizerConfig(
        optimizer="adam", lr=tr["lr"], min_lr=tr["min_lr"], weight_decay=float(tr["weight_decay"]),
        adam_beta1=float(tr["beta1"]), adam_beta2=float(tr["beta2"]), adam_eps=float(tr["eps"]),
        clip_grad=float(tr["grad_clip"]), bf16=cfg["precision"] == "bf16",
        params_dtype=torch.bfloat16 if cfg["precision"] == "bf16" else torch.float32,
        use_distributed_optimizer=bool(par["distributed_optimizer"]),
    )
    optimizer = get_megatron_optimizer(ocfg, model)
    from trainer.loop import lr_at, set_group_hparams

    set_group_hparams(optimizer, lr_at(tr, 0), float(tr["weight_decay"]))
    return optimizer


class Stopped(Exception):
    """A handled stop (bad checkpoint, incompatible resume, NaN loss): rank 0 prints one line
    and records the exit code for `garden train`; the workers exit 0 so torchrun adds no
    tracebacks of its own."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def _check_compatible(cfg: dict, state: dict, path) -> None:
    tr = cfg["training"]
    if state.get("model") and {k: state["model"][k] for k in ("num_layers", "hidden_size",
                                                              "vocab_size")} != \
            {k: cfg["model"][k] for k in ("num_layers", "hidden_size", "vocab_size")}:
        raise Stopped(f"checkpoint {path} was trained with model {state['model']}, "
                         f"config asks for {cfg['model']}")
    for key in ("global_batch", "seq_len"):
        if key in state and state[key] != tr[key]:
            raise Stopped(f"checkpoint {path} used training.{key}={state[key]}; resuming needs "
                             f"the same value (got {tr[key]}) so data positions line up")


def main(argv: list[str]) -> int:
    t_start = time.time()
    with open(argv[0]) as f:
        cfg = json.load(f)
    warnings.filterwarnings("ignore", category=UserWarning)
    setup_distributed(cfg)
    try:
        _train(cfg, t_start)
    except Stopped as e:
        if torch.distributed.get_rank() == 0:
            from trainer.launch import write_exit_status

            print(f"ERROR: {e}", flush=True)
            write_exit_status(cfg["run_dir"], e.code, str(e))
    torch.distributed.destroy_process_group()
    return 0


def _train(cfg: dict, t_start: float) -> None:
    """Build, restore and train on this rank; raises Stopped for a handled stop."""
    from megatron.core.distributed import finalize_model_grads

    from trainer import checkpoint, data, loop, model as model_mod

    rank = torch.distributed.get_rank()
    t_setup = time.time()
    _choose_optimizer_kind(cfg)
    model = model_mod.build_model(cfg)
    tcfg = model[0].config
    tcfg.finalize_model_grads_func = finalize_model_grads
    tcfg.no_sync_func = [m.no_sync for m in model] if len(model) > 1 else model[0].no_sync
    optimizer = build_optimizer(cfg, model)

    ck, state = cfg["checkpoint"], {}
    say = (lambda msg: print(msg, flush=True)) if rank == 0 else (lambda msg: None)
    try:
        path = checkpoint.choose(ck, say)
    except (checkpoint.CheckpointError, FileNotFoundError) as e:
        raise Stopped(str(e)) from None
    if path:
        state = checkpoint.read_state(path)
        _check_compatible(cfg, state, path)
        try:
            checkpoint.load(path, model, optimizer)
        except Exception as e:  # noqa: BLE001 - one line naming the checkpoint, not a traceback
            raise Stopped(f"checkpoint {path} could not be loaded: {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}") from None
        if rank == 0:
            print(f"resumed from {path}: iteration {state['iteration']}, phase "
                  f"{state['phase']!r} at sample {state['phase_position_samples']} of the phase, "
                  f"{state['consumed_tokens']:,} tokens consumed", flush=True)
    elif ck["init_from"]:
        checkpoint.load(checkpoint.resolve_load(ck["init_from"]), model, None)
        if rank == 0:
            print(f"initialised weights from {ck['init_from']}", flush=True)
    t_model = time.time()
    phases = data.build_phase_datasets(cfg)
    t_data = time.time()
    if rank == 0:
        n = model_mod.param_counts(cfg["model"])["total"]
        par = cfg["parallel"]
        print(f"model {cfg['model']['preset']}: {n / 1e6:.2f}M params | tp {par['tp']} pp "
              f"{par['pp']} dp {par['dp']} | {cfg['training']['train_iters']} iterations x "
              f"{cfg['training']['tokens_per_iter']:,} tokens | phases "
              f"{[(p['name'], p['start_iter'], p['end_iter']) for p in cfg['data']['phases']]}",
              flush=True)
        print(f"startup: imports+process groups {t_setup - t_start:.1f}s, model+optimizer+"
              f"checkpoint {t_model - t_setup:.1f}s, datasets {t_data - t_model:.1f}s", flush=True)
    for name, why in cfg["eval"]["skipped"].items():
        say(f"validation: source {name!r} skipped: {why}")
    trainer = loop.Trainer(cfg, model, optimizer, phases, state)
    try:
        trainer.run()
    except loop.NonFiniteLoss as e:
        if rank == 0:
            trainer.metrics.write({"iteration": trainer.iteration + 1, "error": str(e),
                                   "loss": None, "phase": None, "consumed_tokens": None})
        torch.distributed.barrier()
        raise Stopped(str(e), code=3) from None
    torch.distributed.barrier()
    if rank == 0 and not trainer.interrupted:
        print(f"done in {time.time() - t_start:.1f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
