"""`garden train`: validate the config, then launch torchrun with world size = TP x PP x DP.

Imports only click/yaml/stdlib at module level so `garden --help` stays fast and works
without the `train` extra installed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import click

INSTALL_HINT = ("garden train needs torch, megatron-core, psutil and matplotlib; install them "
                "with: pip install 'garden[train]'  (or `make install`)")


def _missing_deps() -> list[str]:
    missing = []
    for mod, pkg in (("torch", "torch"), ("megatron.core", "megatron-core"),
                     ("psutil", "psutil")):
        try:
            if importlib.util.find_spec(mod) is None:
                missing.append(pkg)
        except ModuleNotFoundError:
            missing.append(pkg)
    return missing


def _cuda_available() -> bool:
    """Whether the workers will see CUDA.  A `+cpu` torch build answers without importing
    torch (2-3 s saved per launch); otherwise ask torch."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        if "+cpu" in version("torch"):
            return False
    except PackageNotFoundError:
        return False
    import torch  # deferred: only once we know we will train

    return torch.cuda.is_available()


def _train(config: str, overrides: tuple[str, ...], nproc: int, nnodes: int, node_rank: int,
           master_addr: str | None, master_port: int, dry_run: bool, strict: bool = False) -> None:
    from trainer.config import ConfigError, apply_overrides, load_raw, resolve
    from trainer.launch import pop_exit_status, run, torchrun_command, worker_env, write_resolved

    missing = _missing_deps()
    if missing:
        raise click.ClickException(f"missing {', '.join(missing)}. {INSTALL_HINT}")
    try:
        raw = apply_overrides(load_raw(config), list(overrides))
        cfg = resolve(raw, world_size=nproc * nnodes, cuda=_cuda_available(),
                      base_dir=Path(config).resolve().parent)
    except ConfigError as e:
        msg = str(e)
        raise click.ClickException(msg if msg.startswith(config) else f"{config}: {msg}") from None
    warnings = cfg["data"]["plan_warnings"]
    if warnings:
        plan = ", ".join(f"{p['name']} iterations {p['start_iter']}-{p['end_iter']}"
                         for p in cfg["data"]["phases"])
        if strict:
            raise click.ClickException(f"{config}: {'; '.join(warnings)} (plan: {plan}); "
                                       f"--strict refuses a plan that differs from the blend")
        click.echo(f"plan: {plan}", err=True)
        for w in warnings:
            click.echo(f"WARNING: {w}", err=True)
    if dry_run:
        click.echo(json.dumps(cfg, indent=1))
        return
    path = write_resolved(cfg)
    pop_exit_status(cfg["run_dir"])  # a stale record of an earlier run
    try:
        cmd = torchrun_command(path, nproc, nnodes, node_rank, master_addr, master_port)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    par = cfg["parallel"]
    click.echo(f"garden train: {nproc * nnodes} processes = tp {par['tp']} x pp {par['pp']} x "
               f"dp {par['dp']} on {'GPU (nccl)' if cfg['cuda'] else 'CPU (gloo)'}; "
               f"run dir {cfg['run_dir']}", err=True)
    sys.stdout.flush()
    outcome = run(cmd, env=worker_env(cfg["cuda"], nproc))
    code = outcome.code
    status = pop_exit_status(cfg["run_dir"]) if code == 0 else None
    if node_rank == 0:
        try:
            from trainer.metrics import plot_loss

            png = plot_loss(cfg["run_dir"])
            if png:
                click.echo(f"loss curve: {png}", err=True)
        except ImportError:
            click.echo("matplotlib missing: no loss.png (pip install 'garden[train]')", err=True)
    if outcome.signal is not None:
        sys.exit(130 if outcome.signal == "SIGINT" else 143)
    if status is not None:  # rank 0 printed the ERROR line
        sys.exit(int(status["code"]))
    if code != 0:
        raise click.ClickException(f"training exited with code {code}; see the log above and "
                                   f"{Path(cfg['run_dir']) / 'metrics.jsonl'}")


@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--nproc", type=int, default=1, show_default=True,
              help="Processes on this node (one per GPU; CPU: any number).")
@click.option("--nnodes", type=int, default=1, show_default=True, help="Number of nodes.")
@click.option("--node-rank", type=int, default=0, show_default=True, help="This node's rank.")
@click.option("--master-addr", default=None, help="Address of node 0 (multi-node only).")
@click.option("--master-port", type=int, default=29500, show_default=True,
              help="Rendezvous port on node 0 (multi-node only).")
@click.option("--dry-run", is_flag=True, help="Validate and print the resolved config; no launch.")
@click.option("--strict", is_flag=True,
              help="Refuse train_iters/train_tokens that cut or stretch the blend's phases.")
def train(config: str, overrides: tuple[str, ...], nproc: int, nnodes: int, node_rank: int,
          master_addr: str | None, master_port: int, dry_run: bool, strict: bool) -> None:
    """Pretrain a LLaMA-style GPT with megatron-core on the shards of a blend.json.

    CONFIG is a YAML file; OVERRIDES are section.key=value (e.g. training.lr=3e-4 parallel.tp=2
    data.blend=out/blend.json).  World size (nproc x nnodes) must equal tp x pp x dp.
    """
    _train(config, overrides, nproc, nnodes, node_rank, master_addr, master_port, dry_run, strict)


train_command = click.command("train")(train)
