"""`garden plan` and `garden ladder` command lines (click + stdlib at import time)."""

from __future__ import annotations

import json

import click


def _float(value: str | None, name: str) -> float | None:
    """Accept 5.76e23, 1e9 and plain numbers; a clear message otherwise."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number", param_hint=name) from None


@click.command("plan")
@click.option("--blend", help="blend.json written by garden run (tokens per source and phase).")
@click.option("--tokens", help="Training token budget D (e.g. 2e9).")
@click.option("--compute", help="Compute budget in FLOPs (e.g. 5.76e23).")
@click.option("--gpus", type=int, help="Number of GPUs (compute budget with --hours; layouts).")
@click.option("--hours", help="Wall-clock hours on --gpus GPUs.")
@click.option("--gpu", help="GPU model: h100, a100 or h200 [default h100].")
@click.option("--peak-flops", help="Dense bf16 peak FLOP/s per GPU, for other GPUs.")
@click.option("--gpu-mem", help="Memory per GPU in GB, for other GPUs.")
@click.option("--mfu", type=float, default=0.4, show_default=True, help="Model FLOPs utilisation.")
@click.option("--law", type=click.Choice(["epoch", "hoffmann"]), default="epoch", show_default=True,
              help="Fitted constants to size the model with: Epoch AI's replication "
                   "(Besiroglu et al. 2024) or Hoffmann et al. 2022 approach 3.")
@click.option("--seq-len", type=int, default=2048, show_default=True)
@click.option("--micro-batch", type=int, default=1, show_default=True)
@click.option("--vocab", "vocab_size", type=int, help="Vocabulary size [blend's tokenizer, else 32000].")
@click.option("--write-config", type=click.Path(dir_okay=False), help="Write a garden train config here.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(blend, tokens, compute, gpus, hours, gpu, peak_flops, gpu_mem, mfu, law, seq_len,
         micro_batch, vocab_size, write_config, as_json) -> None:
    """Compute-optimal model size and tokens for a budget, with shape, batch, wall time and
    memory per GPU (Hoffmann et al. 2022; Besiroglu et al. 2024; Muennighoff et al. 2023)."""
    from trainer.plan.planner import PlanError, PlanRequest, make_plan
    from trainer.plan.render import render_text
    from trainer.plan.render import write_config as write_cfg

    req = PlanRequest(compute=_float(compute, "--compute"), tokens=_float(tokens, "--tokens"),
                      blend=blend, gpus=gpus, hours=_float(hours, "--hours"), gpu=gpu,
                      peak_flops=_float(peak_flops, "--peak-flops"),
                      gpu_mem=_float(gpu_mem, "--gpu-mem"), mfu=mfu, law=law, seq_len=seq_len,
                      micro_batch=micro_batch, vocab_size=vocab_size)
    try:
        p = make_plan(req)
    except PlanError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(p.to_dict(), indent=1))
    else:
        click.echo(render_text(p))
    if write_config:
        path = write_cfg(p, write_config)
        click.echo(f"wrote {path}", err=True)
