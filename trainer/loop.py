"""The training loop: one megatron forward/backward + optimizer step per iteration, curriculum
phase switches, LR schedule, spike skipping, NaN stop, metrics and periodic checkpoints."""

from __future__ import annotations

import json
import math
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from trainer import checkpoint, data, signals
from trainer.metrics import MetricsWriter, device_peak_flops, format_row
from trainer.model import flops_per_token
from trainer.validation import Validator, format_line, format_table, rising


class NonFiniteLoss(RuntimeError):
    """Raised when the loss is NaN/Inf: the run stops, the last good checkpoint stays."""


def lr_at(tr: dict, iteration: int) -> float:
    """Linear warm-up to lr over warmup_iters, then cosine decay to min_lr at train_iters."""
    lr, min_lr, warm, total = tr["lr"], tr["min_lr"], tr["warmup_iters"], tr["train_iters"]
    if warm and iteration < warm:
        return lr * (iteration + 1) / warm
    span = max(1, total - warm)
    progress = min(1.0, (iteration - warm) / span)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def set_group_hparams(optimizer: Any, lr: float, weight_decay: float) -> None:
    """Each param group's lr and weight decay from megatron's per-group multipliers.

    megatron puts norms and biases in groups with wd_mult=0.0, but only its own scheduler turns
    that into a group weight decay; torch AdamW would otherwise decay them with the full value.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
        group["weight_decay"] = weight_decay * group.get("wd_mult", 1.0)


def _fault(name: str) -> int | None:
    """Test-only fault injection (GARDEN_FAULT_NAN_AT / _SPIKE_AT / _KILL_AT = iteration)."""
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else None


def _loss_func(loss_mask: torch.Tensor, scale: float, output_tensor: torch.Tensor):
    losses = output_tensor.float().view(-1)
    mask = loss_mask.reshape(-1).float()
    loss_sum = torch.sum(losses * mask) * scale
    ntok = mask.sum()
    # The reported sum in float64: a float32 sum of thousands of per-token losses rounds at
    # ~1e-7 relative, which differs between DP layouts (and a resumed run) by more than 1e-5.
    reported = torch.sum(losses.detach().double() * mask.double()) * scale
    return loss_sum, ntok.to(torch.int), torch.stack([reported, ntok.detach().double()])


def _forward_step(scale: float, data_iterator, model):
    batch = next(data_iterator)
    dev = torch.cuda.current_device() if torch.cuda.is_available() else "cpu"
    b = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
    out = model(b["tokens"], b["position_ids"], None, labels=b["labels"])
    return out, partial(_loss_func, b["loss_mask"], scale)


class Trainer:
    """Holds the built pieces of one rank and runs iterations [start, train_iters)."""

    def __init__(self, cfg: dict, model: list, optimizer: Any, phases: list, state: dict):
        from megatron.core import parallel_state as ps
        from megatron.core.pipeline_parallel import get_forward_backward_func

        self.cfg, self.model, self.optimizer, self.phases = cfg, model, optimizer, phases
        self.tr = cfg["training"]
        self.rank = torch.distributed.get_rank()
        self.dp_rank = ps.get_data_parallel_rank()
        self.first_stage_tp0 = ps.get_tensor_model_parallel_rank() == 0 and \
            ps.get_pipeline_model_parallel_rank() == 0
        self.is_last_stage = ps.is_pipeline_last_stage(ignore_virtual=True)
        self.fwd_bwd = get_forward_backward_func()
        self.device = torch.device("cuda", torch.cuda.current_device()) if cfg["cuda"] \
            else torch.device("cpu")
        self.iteration = int(state.get("iteration", 0))
        self.spike_history: list[float] = list(state.get("spike_history", []))
        self.run_dir = Path(cfg["run_dir"])
        self.metrics = MetricsWriter(self.run_dir, self.iteration) if self.rank == 0 else None
        self.stop_requested = False
        self.interrupted: str | None = None  # "SIGINT at iteration 7: saved ..." after a stop
        self.validator = Validator(cfg, model, self.fwd_bwd, _forward_step, self.dp_rank) \
            if cfg["eval"]["interval"] and cfg["eval"]["sources"] else None
        if self.validator is not None:
            for name in self.validator.empty:
                self.log(f"validation: source {name!r} skipped: its held-out data has no token "
                         f"to score")
        self.valid_history: dict[str, list[float]] = {}
        for row in (self.metrics.rows if self.metrics else []):
            for name, v in (row.get("valid_loss") or {}).items():
                self.valid_history.setdefault(name, []).append(v)
        self.peak = device_peak_flops(cfg)
        self.fpt = flops_per_token(cfg["model"], self.tr["seq_len"])
        self.trace = None
        if cfg["data"].get("trace_samples") and self.first_stage_tp0:
            p = self.run_dir / f"samples.dp{self.dp_rank}.jsonl"
            if self.iteration == 0 and p.exists():
                p.unlink()
            self.trace = p.open("a")

    def log(self, msg: str) -> None:
        if self.rank == 0:
            print(msg, flush=True)

    def state(self) -> dict:
        ph = data.phase_at(self.cfg, max(self.iteration - 1, 0))
        nxt = data.phase_at(self.cfg, self.iteration)
        return {
            "iteration": self.iteration,
            "consumed_tokens": self.iteration * self.tr["tokens_per_iter"],
            "consumed_samples": self.iteration * self.tr["global_batch"],
            "phase": nxt["name"], "phase_index": nxt["index"],
            "phase_position_samples": (self.iteration - nxt["start_iter"]) * self.tr["global_batch"],
            "last_phase_trained": ph["name"],
            "spike_history": self.spike_history,
            "global_batch": self.tr["global_batch"], "seq_len": self.tr["seq_len"],
            "model": self.cfg["model"], "layout": {k: self.cfg["parallel"][k]
                                                   for k in ("tp", "pp", "dp")},
            "blend": self.cfg["data"]["blend"],
        }

    def save(self, quiet: bool = False) -> Path:
        ck = self.cfg["checkpoint"]
        path = checkpoint.save(ck["dir"], self.iteration, self.model, self.optimizer, self.state())
        if self.rank == 0:
            for old in checkpoint.prune(ck["dir"], ck.get("keep")):
                self.log(f"removed checkpoint {old} (checkpoint.keep={ck['keep']})")
        if not quiet:
            self.log(f"saved checkpoint {path}")
        return path

    def validate(self) -> dict:
        """Evaluate on every source's held-out windows; log, record and warn on rising loss."""
        t = time.time()
        row = self.validator.evaluate(self.iteration, self.device, self.is_last_stage)
        if self.rank == 0:
            self.log(f"{format_line(row)} | {time.time() - t:.1f}s")
            self.metrics.write(row)
            times = int(self.cfg["eval"]["warn_rising"])
            for name, v in row["valid_loss"].items():
                hist = self.valid_history.setdefault(name, [])
                hist.append(v)
                if rising(hist, times):
                    path = " -> ".join(f"{x:.4f}" for x in hist[-(times + 1):])
                    self.log(f"WARNING: validation loss of {name!r} rose {times} evaluations in "
                             f"a row ({path}): the blend may be hurting it")
        return row

    def summary(self) -> None:
        """Rank 0: the latest validation row as a table (end of run)."""
        if self.rank != 0:
            return
        rows = [r for r in self.metrics.rows_written() if "valid_loss" in r]
        if rows:
            self.log(format_table(rows[-1]))

    def step(self) -> dict:
        """Run one iteration; returns its loss, lr, grad norm and whether it was skipped."""
        it = self.iteration
        ph = data.phase_at(self.cfg, it)
        mbs, trace = data.microbatches(self.cfg, self.phases, it, self.dp_rank)
        if self.trace is not None:
            for idx, src, first in trace:
                self.trace.write(json.dumps({"iteration": it, "phase": ph["name"], "sample": idx,
                                             "source": src, "first_token": first}) + "\n")
            self.trace.flush()
        if _fault("GARDEN_FAULT_NAN_AT") == it:
            with torch.no_grad():
                next(self.model[0].parameters()).fill_(float("nan"))
        scale = 100.0 if _fault("GARDEN_FAULT_SPIKE_AT") == it else 1.0

        for chunk in self.model:
            chunk.zero_grad_buffer()
        self.optimizer.zero_grad()
        n_chunks = len(self.model)
        iters = [data.iterator(mbs) for _ in range(n_chunks)] if n_chunks > 1 \
            else data.iterator(mbs)
        out = self.fwd_bwd(
            forward_step_func=partial(_forward_step, scale), data_iterator=iters,
            model=self.model, num_microbatches=self.tr["num_microbatches"],
            seq_length=self.tr["seq_len"], micro_batch_size=self.tr["micro_batch"],
            decoder_seq_length=self.tr["seq_len"], forward_only=False,
        )
        # [loss_sum, tokens, stop] summed over the world: TP replicas cancel in the ratio, and
        # every rank learns whether any rank got a stop signal (so all stop at this boundary).
        tot = torch.zeros(3, dtype=torch.float64, device=self.device)
        if self.is_last_stage:
            for d in out:
                tot[:2] += d.to(torch.float64)
        tot[2] = 1.0 if signals.requested() else 0.0
        torch.distributed.all_reduce(tot)
        self.stop_requested = bool(tot[2].item() > 0)
        loss = (tot[0] / tot[1]).item()
        lr = lr_at(self.tr, it)
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"iteration {it + 1}: loss is {loss}; stopping. The last good "
                                f"checkpoint in {self.cfg['checkpoint']['dir']} is intact.")
        k = self.tr.get("skip_on_spike")
        hist = self.spike_history
        if k and len(hist) >= min(5, self.tr["spike_window"]) and loss > k * (sum(hist) / len(hist)):
            self.log(f"SPIKE iteration {it + 1}: loss {loss:.4f} > {k} x running mean "
                     f"{sum(hist) / len(hist):.4f}; skipping this update")
            self.iteration += 1
            return {"loss": loss, "lr": lr, "grad_norm": None, "skipped": True, "phase": ph["name"]}
        set_group_hparams(self.optimizer, lr, float(self.tr["weight_decay"]))
        ok, grad_norm, _ = self.optimizer.step()
        if k:
            hist.append(loss)
            del hist[:-int(self.tr["spike_window"])]
        self.iteration += 1
        return {"loss": loss, "lr": lr, "grad_norm": float(grad_norm) if grad_norm is not None
                else None, "skipped": not ok, "phase": ph["name"]}

    def run(self) -> None:
        """Train to train_iters, logging every interval and checkpointing every interval."""
        tr, ck = self.tr, self.cfg["checkpoint"]
        total, interval = tr["train_iters"], int(self.cfg["logging"]["interval"])
        world = self.cfg["parallel"]["world_size"]
        window: list[dict] = []
        t0 = time.time()
        prev_phase = data.phase_at(self.cfg, self.iteration)["name"] if total else None
        while self.iteration < total:
            ph = data.phase_at(self.cfg, self.iteration)
            if ph["name"] != prev_phase:
                self.log(f"curriculum: phase {prev_phase!r} -> {ph['name']!r} at iteration "
                         f"{self.iteration + 1} ({self.iteration * tr['tokens_per_iter']:,} "
                         f"tokens), weights {ph['weights']}")
                prev_phase = ph["name"]
            r = self.step()
            window.append(r)
            if self.iteration % interval == 0 or self.iteration == total:
                dt = time.time() - t0
                toks = len(window) * tr["tokens_per_iter"]
                tps = toks / dt if dt > 0 else 0.0
                good = [w["loss"] for w in window if not w["skipped"]] or [window[-1]["loss"]]
                row = {
                    "iteration": self.iteration,
                    "consumed_tokens": self.iteration * tr["tokens_per_iter"],
                    "phase": r["phase"], "loss": sum(good) / len(good), "lr": r["lr"],
                    "grad_norm": r["grad_norm"], "tokens_per_s": tps,
                    "mfu": (tps * self.fpt / (self.peak * world)) if self.peak else None,
                    "skipped": any(w["skipped"] for w in window),
                }
                if self.rank == 0:
                    self.log(format_row(row))
                    self.metrics.write(row)
                window, t0 = [], time.time()
            if self.validator is not None and self.validator.due(self.iteration, total):
                self.validate()
                t0 = time.time()
            if _fault("GARDEN_FAULT_KILL_AT") == self.iteration and self.rank == 0:
                os.kill(os.getpid(), 9)  # test-only: a kill -9 after this step's rows
            if self.stop_requested and self.iteration < total:
                path = self.save(quiet=True)
                self.interrupted = (f"stopped by {signals.name() or 'a signal on another rank'} "
                                    f"at iteration {self.iteration}: saved checkpoint {path}; "
                                    f"run the same command to resume")
                self.log(self.interrupted)
                return
            if ck["interval"] and self.iteration % int(ck["interval"]) == 0 \
                    and self.iteration < total:
                self.save()
                t0 = time.time()
        done = checkpoint.latest(ck["dir"])
        if done is not None and checkpoint.read_state(done)["iteration"] == self.iteration:
            self.log(f"already trained to iteration {self.iteration}; checkpoint {done} kept")
            self.summary()
            return
        t = time.time()
        self.save()
        self.log(f"final checkpoint took {time.time() - t:.1f}s")
        self.summary()
