"""`garden ladder`: train small models on the same blend, fit L(N, D), predict a target.

Each rung is an ordinary `garden train` run (subprocess) of a custom LLaMA shape for
tokens-per-param x N tokens, in its own run directory: a killed or failed rung resumes from its
last checkpoint when the ladder is run again, and a finished one is not trained twice.  The
loss fitted is each rung's final validation loss (`valid_loss.overall`, the blend-weighted loss
on held-out tokens) from its metrics.jsonl.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trainer.plan.fit import FitError, FitResult, choose_free, fit, predict
from trainer.plan.scaling_laws import LAWS, ScalingLaw
from trainer.plan.shapes import Shape, custom_shape, param_counts

# (sizes, tokens per parameter): 3 x 2 = 6 rungs.  On 2 CPU cores the largest CPU rung is ~2M
# tokens (a few minutes), the others about a minute; the GPU ones suit a node of 8 GPUs.
DEFAULTS_CPU = ("80k,160k,320k", "2,6")
DEFAULTS_GPU = ("20M,50M,120M", "5,20")


class LadderError(ValueError):
    """Bad ladder input, reported as one line."""


def parse_count(text: str) -> float:
    """'200k', '1.5M', '3B', '2e6' -> a positive number."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([kKmMbBtT]?)\s*", text)
    mult = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
    try:
        value = float(m.group(1)) * mult[m.group(2).lower()] if m else math.nan
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise LadderError(f"{text!r} is not a positive count (e.g. 200k, 1.5M, 3e6)")
    return value


@dataclass
class Rung:
    name: str
    shape: Shape
    tokens_per_param: float
    train_iters: int
    tokens: int
    run_dir: str
    overrides: list[str]
    status: str = "pending"  # done | failed | no-validation
    valid_loss: float | None = None
    valid_iteration: int | None = None
    valid_by_source: dict[str, float] = field(default_factory=dict)
    message: str = ""

    @property
    def flops(self) -> float:
        return 6.0 * self.shape.total_params * self.tokens


@dataclass
class Ladder:
    config: str
    out_dir: str
    rungs: list[Rung]
    target_params: float
    target_tokens: float
    law: str  # published law whose exponents are used when too few runs fit them
    fit: FitResult | None = None
    fit_note: str = ""
    prediction: float | None = None
    prediction_ci: list[float] | None = None
    frontier: dict | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["fit"] = self.fit.to_dict() if self.fit else None
        for r, d in zip(self.rungs, out["rungs"]):
            d["flops"] = r.flops
        return out


def _cuda() -> bool:
    from trainer.cli import _cuda_available

    return _cuda_available()


def base_config(config: str, overrides: list[str], nproc: int) -> tuple[dict, dict]:
    """(raw, resolved) config of the ladder's template."""
    from trainer.config import ConfigError, apply_overrides, load_raw, resolve

    try:
        raw = apply_overrides(load_raw(config), overrides)
        return raw, resolve(raw, world_size=nproc, cuda=_cuda(), base_dir=Path(config).resolve().parent)
    except ConfigError as e:
        raise LadderError(f"{config}: {e}") from None


def plan_rungs(config: str, overrides: list[str], sizes: list[float], ratios: list[float],
               out_dir: Path, nproc: int) -> list[Rung]:
    """One rung per (size, tokens-per-param), smallest compute first; each checked by the
    trainer's own config validation before anything is launched."""
    from trainer.config import DEFAULTS, ConfigError, apply_overrides, resolve

    raw, cfg = base_config(config, overrides, nproc)
    if "eval" in cfg and not cfg["eval"].get("interval"):
        raise LadderError(f"{config}: eval.interval is 0 (validation off); the ladder fits the "
                          f"final validation loss, so leave it on")
    vocab = cfg["model"]["vocab_size"]
    per_iter = cfg["training"]["tokens_per_iter"]
    warm = cfg["training"]["warmup_iters"]
    ck_interval = int(cfg["checkpoint"]["interval"] or 0)
    rungs = []
    for size in sizes:
        shape = custom_shape(size, vocab)
        for ratio in ratios:
            iters = max(1, math.ceil(ratio * shape.total_params / per_iter))
            name = f"n{_short(shape.total_params)}-r{ratio:g}"
            run_dir = out_dir / "rungs" / name
            ov = [f"name={name}", f"run_dir={run_dir}"]
            ov += [f"model.{k}={v}" for k, v in shape.model_fields().items()]
            ov += ["model.num_experts=", f"training.train_iters={iters}", "training.train_tokens=",
                   f"training.warmup_iters={min(warm, max(1, iters // 10))}",
                   f"checkpoint.dir={run_dir / 'checkpoints'}", "checkpoint.load=",
                   "checkpoint.init_from=",
                   f"checkpoint.interval={ck_interval or max(1, iters // 4)}"]
            if "eval" in DEFAULTS:  # evaluate once, at the end: the loss the fit uses
                ov.append(f"eval.interval={iters}")
            try:
                resolve(apply_overrides(raw, ov), world_size=nproc, cuda=_cuda(),
                        base_dir=Path(config).resolve().parent)
            except ConfigError as e:
                raise LadderError(f"rung {name}: {e}") from None
            rungs.append(Rung(name, shape, ratio, iters, iters * per_iter, str(run_dir), ov))
    names = [r.name for r in rungs]
    if len(set(names)) != len(names):
        raise LadderError("two --sizes map to the same model shape; give sizes further apart")
    return sorted(rungs, key=lambda r: r.flops)


def _short(n: float) -> str:
    for suffix, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{n:g}"


def final_validation(run_dir: str | Path) -> tuple[int, float, dict[str, float]] | None:
    """(iteration, overall, per source) of the last metrics.jsonl row with `valid_loss`."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return None
    last = None
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row.get("valid_loss"), dict) and "overall" in row["valid_loss"]:
            last = row
    if last is None:
        return None
    per = {k: float(v) for k, v in last["valid_loss"].items() if k != "overall"}
    return int(last["iteration"]), float(last["valid_loss"]["overall"]), per


def is_finished(rung: Rung) -> bool:
    """Trained to its last iteration (checkpoints/latest) and evaluated there."""
    latest = Path(rung.run_dir) / "checkpoints" / "latest"
    v = final_validation(rung.run_dir)
    try:
        done = int(latest.read_text().strip()) == rung.train_iters
    except (OSError, ValueError):
        return False
    return done and v is not None and v[0] == rung.train_iters


def run_rung(rung: Rung, config: str, overrides: list[str], nproc: int, echo=print) -> None:
    """Train (or resume) one rung with `garden train`; fill in its status and final loss."""
    Path(rung.run_dir).mkdir(parents=True, exist_ok=True)
    if is_finished(rung):
        echo(f"{rung.name}: already trained, not run again")
    else:
        log = Path(rung.run_dir) / "ladder.log"
        cmd = [sys.executable, "-m", "garden", "train", config, *overrides, *rung.overrides,
               "--nproc", str(nproc)]
        echo(f"{rung.name}: {rung.shape.total_params:,} params, {rung.tokens:,} tokens "
             f"({rung.train_iters} iterations); log {log}")
        with log.open("a") as fh:
            code = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT)
        if code != 0:
            tail = log.read_text().strip().splitlines()[-3:]
            rung.status = "failed"
            rung.message = (f"garden train exited with {code}: " + " | ".join(tail))[:600]
            return
    v = final_validation(rung.run_dir)
    if v is None:
        rung.status = "no-validation"
        rung.message = (f"no row with valid_loss in {Path(rung.run_dir) / 'metrics.jsonl'}: the "
                        f"trainer did not evaluate (held-out data in the blend? eval section?)")
        return
    rung.valid_iteration, rung.valid_loss, rung.valid_by_source = v
    rung.status = "done"
    if rung.valid_iteration != rung.train_iters:
        rung.message = (f"last validation at iteration {rung.valid_iteration}, not at the end "
                        f"({rung.train_iters})")


def fit_ladder(ladder: Ladder, bootstrap: int = 100, seed: int = 0) -> None:
    """Fit the finished rungs, predict the target and the fitted compute-optimal frontier."""
    done = [r for r in ladder.rungs if r.status == "done"]
    ratios = len({r.tokens_per_param for r in done})
    try:
        free, note = choose_free(len(done), ratios)
    except FitError as e:
        ladder.fit_note = str(e)
        return
    published = LAWS[ladder.law]
    ladder.fit = fit([r.shape.total_params for r in done], [r.tokens for r in done],
                     [r.valid_loss for r in done], free=free, fixed_law=published,
                     bootstrap=bootstrap, seed=seed)
    ladder.fit_note = note + (f" ({published.source})" if len(free) < 5 else "")
    ladder.prediction, ladder.prediction_ci = predict(ladder.fit, ladder.target_params,
                                                      ladder.target_tokens)
    law: ScalingLaw = ladder.fit.law()
    c = 6 * ladder.target_params * ladder.target_tokens
    n_opt, d_opt = law.optimal_for_compute(c)
    ladder.frontier = {"compute": c, "n_params": n_opt, "tokens": d_opt,
                       "loss": law.loss(n_opt, d_opt),
                       "published": {name: dict(zip(("n_params", "tokens"), p.optimal_for_compute(c)))
                                     for name, p in LAWS.items()}}


def target_from_config(cfg: dict) -> tuple[float, float]:
    """The template config's own model and token count: what the ladder predicts by default."""
    return float(param_counts(cfg["model"])["total"]), float(
        cfg["training"]["train_iters"] * cfg["training"]["tokens_per_iter"])
