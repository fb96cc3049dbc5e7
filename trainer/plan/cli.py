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


@click.command("ladder", context_settings={"ignore_unknown_options": False})
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--sizes",
              help="Comma-separated model sizes in parameters, each becoming the closest custom "
                   "LLaMA shape [CPU: 80k,160k,320k; GPU: 20M,50M,120M].")
@click.option("--tokens-per-param", "ratios",
              help="Comma-separated token budgets per rung, as tokens per parameter "
                   "[CPU: 2,6; GPU: 5,20].")
@click.option("--target-params", help="Model size to predict [the CONFIG's model].")
@click.option("--target-tokens", help="Token count to predict [the CONFIG's run].")
@click.option("--law", type=click.Choice(["epoch", "hoffmann"]), default="epoch", show_default=True,
              help="Published exponents used when too few rungs finish to fit them.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Ladder directory [<CONFIG's run_dir>-ladder].")
@click.option("--nproc", type=int, default=1, show_default=True, help="Processes per rung.")
@click.option("--bootstrap", type=int, default=100, show_default=True, help="Bootstrap resamples.")
@click.option("--dry-run", is_flag=True, help="Print the rungs as JSON; train nothing.")
def ladder(config, overrides, sizes, ratios, target_params, target_tokens, law, out_dir, nproc,
           bootstrap, dry_run) -> None:
    """Train a ladder of small models on CONFIG's blend (sizes x token budgets, each a
    `garden train` run that resumes if killed), fit L(N, D) = E + A/N^alpha + B/D^beta to their
    final validation losses and predict a target (Hoffmann et al. 2022, approach 3).

    Writes ladder.json, ladder.png and ladder.html into the ladder directory."""
    from pathlib import Path

    from trainer.plan import ladder as lad
    from trainer.plan import ladder_report as rep

    defaults = lad.DEFAULTS_GPU if lad._cuda() else lad.DEFAULTS_CPU
    sizes, ratios = sizes or defaults[0], ratios or defaults[1]
    try:
        size_list = [lad.parse_count(s) for s in sizes.split(",") if s.strip()]
        ratio_list = [lad.parse_count(s) for s in ratios.split(",") if s.strip()]
        if not size_list or not ratio_list:
            raise lad.LadderError("--sizes and --tokens-per-param need at least one value each")
        if nproc < 1 or bootstrap < 0:
            raise lad.LadderError("--nproc must be >= 1 and --bootstrap >= 0")
        _, cfg = lad.base_config(config, list(overrides), nproc)
        out = Path(out_dir or f"{cfg['run_dir']}-ladder").resolve()
        rungs = lad.plan_rungs(config, list(overrides), size_list, ratio_list, out, nproc)
        t_n, t_d = lad.target_from_config(cfg)
        t_n = lad.parse_count(target_params) if target_params else t_n
        t_d = lad.parse_count(target_tokens) if target_tokens else t_d
    except lad.LadderError as e:
        raise click.ClickException(str(e)) from None
    n_ratios = len(set(ratio_list))
    if len(rungs) < 6 or n_ratios < 2:
        click.echo(f"note: {len(rungs)} rungs at {n_ratios} token budget(s); all five constants "
                   f"need 6 or more at 2 or more budgets, so fewer are fitted", err=True)
    if dry_run:
        click.echo(json.dumps([{**{k: getattr(r, k) for k in ("name", "tokens_per_param",
                                                              "train_iters", "tokens", "run_dir",
                                                              "overrides")},
                                "params": r.shape.total_params, "flops": r.flops} for r in rungs],
                              indent=1))
        return
    result = lad.Ladder(config=str(Path(config).resolve()), out_dir=str(out), rungs=rungs,
                        target_params=t_n, target_tokens=t_d, law=law)
    for r in rungs:
        lad.run_rung(r, config, list(overrides), nproc, echo=lambda m: click.echo(m, err=True))
    lad.fit_ladder(result, bootstrap=bootstrap)
    out.mkdir(parents=True, exist_ok=True)
    rep.write_json(result, out / "ladder.json")
    png = rep.plot(result, out / "ladder.png")
    rep.write_html(result, png, out / "ladder.html")
    click.echo(rep.render_text(result))
    click.echo(f"wrote {out / 'ladder.json'}, {out / 'ladder.html'}" + (f", {png}" if png else ""),
               err=True)
    unvalidated = [r for r in rungs if r.status == "no-validation"]
    if unvalidated:
        raise click.ClickException(f"{len(unvalidated)} rung(s) trained but have no validation "
                                   f"loss: {unvalidated[0].message}")
    failed = [r.name for r in rungs if r.status == "failed"]
    if failed:
        raise click.ClickException(f"{len(failed)} rung(s) failed ({', '.join(failed)}; see their "
                                   f"ladder.log); run the same command again to resume them")
    if result.fit is None:
        raise click.ClickException(result.fit_note)
