"""`garden plan`: budget -> compute-optimal size and tokens, shape, batch, wall time, memory.

Torch-free.  Every number comes from a cited closed form (see scaling_laws and memory); the
plan is a dataclass so the text, the JSON and the written config all show the same values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from trainer.plan import hardware, memory
from trainer.plan.scaling_laws import (KAPLAN_CITE, LAWS, MAX_USEFUL_EPOCHS, MUENNIGHOFF_CITE,
                                       TOKENS_PER_PARAM_RULE, effective_tokens,
                                       rule_of_thumb)
from trainer.plan.shapes import Shape, custom_shape, flops_per_token, nearest_preset

DEEPSEEK_CITE = ("Bi et al. 2024, DeepSeek LLM: Scaling Open-Source Language Models with "
                 "Longtermism, arXiv:2401.02954 (batch size and learning rate vs compute)")
DEFAULT_VOCAB = 32000
DEFAULT_GPUS = 8
# Hoffmann et al. 2022 trained models of about 70M to 16B parameters for their fits.
FITTED_RANGE = (7e7, 1.6e10)


class PlanError(ValueError):
    """Bad or missing budget input, reported as one line."""


@dataclass
class PlanRequest:
    compute: float | None = None
    tokens: float | None = None
    blend: str | None = None
    gpus: int | None = None
    hours: float | None = None
    gpu: str | None = None
    peak_flops: float | None = None
    gpu_mem: float | None = None  # GB
    mfu: float = 0.4
    law: str = "epoch"
    seq_len: int = 2048
    micro_batch: int = 1
    vocab_size: int | None = None


@dataclass
class LawOptimum:
    law: str
    source: str
    n_params: float
    tokens: float
    tokens_per_param: float
    predicted_loss: float


@dataclass
class SourceData:
    name: str
    unique_tokens: int
    planned_tokens: float
    epochs: float
    effective_tokens: float


@dataclass
class DataCheck:
    """Muennighoff et al. 2023 on the blend at the planned token count."""

    unique_tokens: int
    planned_tokens: float
    epochs: float
    effective_tokens: float
    constrained: bool
    sources: list[SourceData]
    loss_fresh: float  # predicted with the planned tokens all fresh
    loss_repeated: float  # predicted with the effective tokens
    compute_at_4_epochs: float | None  # budget whose optimum sees MAX_USEFUL_EPOCHS epochs


@dataclass
class TrainingPlan:
    seq_len: int
    micro_batch: int
    global_batch: int
    batch_tokens: int
    train_iters: int
    train_tokens: int
    lr: float


@dataclass
class WallTime:
    gpus: int
    gpu: str
    peak_flops: float
    mfu: float
    flops: float  # of the chosen shape at the planned tokens, attention included
    hours: float
    gpu_hours: float


@dataclass
class Plan:
    budget: str  # where the compute came from
    compute_flops: float
    law: str
    optima: list[LawOptimum]
    rule: LawOptimum
    n_params: float
    tokens: float
    vocab_size: int
    preset: str
    preset_shape: Shape
    shape: Shape
    training: TrainingPlan
    wall: WallTime
    gpu_memory_bytes: float | None
    layouts: list[memory.MemoryEstimate]
    recommended: memory.MemoryEstimate | None
    data: DataCheck | None
    blend: str | None
    warnings: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise PlanError(f"{name} must be a positive number, got {value:g}")


@dataclass
class _BlendInfo:
    path: str
    vocab_size: int | None
    planned_tokens: float
    shares: dict[str, float]  # source -> share of the planned tokens
    unique: dict[str, int]  # source -> tokens in its shards


def _read_blend(path: str) -> _BlendInfo:
    """Token shares over all phases and unique tokens per used source (from the .idx files)."""
    from garden.megatron_format import read_lengths
    from trainer.blend import BlendError, load_blend

    try:
        blend = load_blend(path)
    except BlendError as e:
        raise PlanError(str(e)) from None
    planned = float(sum(ph["tokens"] for ph in blend.phases))
    drawn: dict[str, float] = {}
    for ph in blend.phases:
        total_w = sum(ph["weights"].values())
        for src, w in ph["weights"].items():
            drawn[src] = drawn.get(src, 0.0) + ph["tokens"] * w / total_w
    unique = {s: int(read_lengths(blend.sources[s]["prefix"])[1].sum()) for s in drawn}
    if sum(unique.values()) <= 0:
        raise PlanError(f"{path}: the blend's sources hold no tokens ({', '.join(unique)})")
    return _BlendInfo(str(blend.path), blend.vocab_size, planned,
                      {s: d / planned for s, d in drawn.items()}, unique)


def _resolve_compute(req: PlanRequest, blend: _BlendInfo | None) -> tuple[float | None, float | None, str]:
    """(compute, tokens, description): exactly one budget drives the plan."""
    if req.hours is not None and req.compute is not None:
        raise PlanError("give either --compute or --gpus/--hours, not both")
    if req.compute is not None and req.tokens is not None:
        raise PlanError("give either --compute or --tokens, not both (with --blend the blend's "
                        "unique tokens are checked against the compute-optimal token count)")
    if req.hours is not None and req.tokens is not None:
        raise PlanError("give either --tokens or --gpus/--hours, not both")
    if req.hours is not None:
        if req.gpus is None:
            raise PlanError("--hours needs --gpus (and --gpu or --peak-flops)")
        g = hardware.resolve_gpu(req.gpu, req.peak_flops, req.gpu_mem)
        c = req.gpus * req.hours * 3600 * g.peak_flops * req.mfu
        return c, None, (f"{req.gpus} x {g.name} for {req.hours:g} h at {req.mfu:.0%} MFU "
                         f"({g.peak_flops:.3g} FLOP/s peak)")
    if req.compute is not None:
        return req.compute, None, "--compute"
    if req.tokens is not None:
        return None, req.tokens, "--tokens"
    if blend is not None:
        return None, blend.planned_tokens, f"the blend's {blend.planned_tokens:.4g} planned tokens"
    raise PlanError("no budget: give --compute FLOPS, --tokens N, --blend blend.json, or "
                    "--gpus N --hours H --gpu h100|a100|h200")


def _data_check(blend: _BlendInfo, tokens: float, law) -> DataCheck:
    sources = []
    for s, share in sorted(blend.shares.items()):
        planned = tokens * share
        u = blend.unique[s]
        eff = effective_tokens(u, planned) if u > 0 else 0.0
        sources.append(SourceData(s, u, planned, planned / u if u else math.inf, eff))
    unique = sum(blend.unique.values())
    eff = sum(x.effective_tokens for x in sources)
    n = law.optimal_for_tokens(tokens)[0]
    # compute whose optimum would draw MAX_USEFUL_EPOCHS x the unique tokens
    c4 = law.optimal_for_tokens(MAX_USEFUL_EPOCHS * unique)[1]
    return DataCheck(unique_tokens=unique, planned_tokens=tokens, epochs=tokens / unique,
                     effective_tokens=eff, constrained=tokens > unique, sources=sources,
                     loss_fresh=law.loss(n, tokens), loss_repeated=law.loss(n, max(eff, 1.0)),
                     compute_at_4_epochs=c4)


def _training(compute: float, tokens: float, seq_len: int, micro_batch: int, dp: int) -> TrainingPlan:
    """Batch and LR from DeepSeek LLM's fits: B = 0.292 C^0.3271 tokens, lr = 0.3118 C^-0.125."""
    batch_tokens = 0.292 * compute ** 0.3271
    unit = micro_batch * dp
    gb = max(unit, round(batch_tokens / seq_len / unit) * unit)
    iters = max(1, math.ceil(tokens / (gb * seq_len)))
    return TrainingPlan(seq_len=seq_len, micro_batch=micro_batch, global_batch=gb,
                        batch_tokens=gb * seq_len, train_iters=iters,
                        train_tokens=iters * gb * seq_len, lr=0.3118 * compute ** -0.125)


def make_plan(req: PlanRequest) -> Plan:
    """Compute the whole plan; raises PlanError (or HardwareError) on bad input."""
    for name, value in (("--compute", req.compute), ("--tokens", req.tokens),
                        ("--hours", req.hours), ("--peak-flops", req.peak_flops),
                        ("--gpu-mem", req.gpu_mem)):
        _positive(name, value)
    if req.gpus is not None and req.gpus < 1:
        raise PlanError(f"--gpus must be >= 1, got {req.gpus}")
    if not 0 < req.mfu <= 1:
        raise PlanError(f"--mfu must be in (0, 1], got {req.mfu:g}")
    if req.seq_len < 1 or req.micro_batch < 1:
        raise PlanError("--seq-len and --micro-batch must be >= 1")
    if req.law not in LAWS:
        raise PlanError(f"unknown --law {req.law!r}; known: {', '.join(LAWS)}")
    try:
        gpu = hardware.resolve_gpu(req.gpu, req.peak_flops, req.gpu_mem)
    except hardware.HardwareError as e:
        raise PlanError(str(e)) from None
    blend = _read_blend(req.blend) if req.blend else None
    compute, tokens, budget = _resolve_compute(req, blend)
    law = LAWS[req.law]
    if compute is None:
        compute = law.optimal_for_tokens(tokens)[1]
    optima = []
    for other in LAWS.values():
        n, d = other.optimal_for_compute(compute)
        optima.append(LawOptimum(other.name, other.source, n, d, d / n, other.loss(n, d)))
    n20, d20 = rule_of_thumb(compute)
    rule = LawOptimum("20 tokens/param", f"Hoffmann et al. 2022 rule of thumb (D = "
                      f"{TOKENS_PER_PARAM_RULE:g} N)", n20, d20, TOKENS_PER_PARAM_RULE,
                      law.loss(n20, d20))
    chosen = next(o for o in optima if o.law == law.name)
    n_params, tokens = chosen.n_params, chosen.tokens

    warnings: list[str] = []
    if not FITTED_RANGE[0] / 2 <= n_params <= FITTED_RANGE[1] * 10:
        warnings.append(f"{n_params:.3g} parameters is far outside the range the laws were fitted "
                        f"on (about {FITTED_RANGE[0]:.0e} to {FITTED_RANGE[1]:.0e}): the optimum "
                        f"is an extrapolation; `garden ladder` fits your own")
    vocab = req.vocab_size or (blend.vocab_size if blend else None) or DEFAULT_VOCAB
    vocab = int(math.ceil(vocab / 128) * 128)
    preset, preset_shape = nearest_preset(n_params, vocab)
    shape = custom_shape(n_params, vocab)
    if 2 * vocab * shape.hidden_size > 0.5 * shape.total_params:
        warnings.append(f"embeddings are {2 * vocab * shape.hidden_size / shape.total_params:.0%} "
                        f"of the parameters at this size: the laws were fitted on models where "
                        f"they are a small share, so treat the optimum as rough")

    data = _data_check(blend, tokens, law) if blend else None
    if data:
        for s in data.sources:
            if s.epochs > MAX_USEFUL_EPOCHS:
                warnings.append(f"source {s.name!r} would be repeated {s.epochs:.1f} times (> "
                                f"{MAX_USEFUL_EPOCHS:g} epochs): repeated tokens are worth "
                                f"{s.effective_tokens / s.planned_tokens:.0%} of fresh ones "
                                f"(Muennighoff et al. 2023); add unique data or lower the budget")

    gpus = req.gpus or DEFAULT_GPUS
    m = {**shape.model_fields()}
    layouts = [memory.estimate(m, tp, pp, dp, req.micro_batch, req.seq_len)
               for tp, pp, dp in memory.candidate_layouts(m, gpus)]
    for est in layouts:
        est.judge(gpu.memory_bytes)
    order = {lvl: i for i, lvl in enumerate(memory.RECOMPUTE)}
    fitting = [e for e in layouts if e.fits not in (None, "no")]
    recommended = min(fitting, key=lambda e: (e.tp * e.pp, order[e.fits.split("+")[-1]], e.pp),
                      default=None)
    if gpu.memory_bytes and recommended is None:
        warnings.append(f"no TP x PP layout of {gpus} GPUs fits {gpu.memory_bytes / 1e9:.0f} GB "
                        f"per GPU even with full recomputation: use more GPUs")
    dp = recommended.dp if recommended else gpus
    training = _training(compute, tokens, req.seq_len, req.micro_batch, dp)
    flops = flops_per_token(m, req.seq_len) * training.train_tokens
    seconds = flops / (gpus * gpu.peak_flops * req.mfu)
    wall = WallTime(gpus=gpus, gpu=gpu.name, peak_flops=gpu.peak_flops, mfu=req.mfu, flops=flops,
                    hours=seconds / 3600, gpu_hours=seconds * gpus / 3600)
    cites = [law_.source for law_ in LAWS.values()] + [MUENNIGHOFF_CITE, KAPLAN_CITE,
                                                         DEEPSEEK_CITE, memory.KORTHIKANTI_CITE]
    return Plan(budget=budget, compute_flops=compute, law=law.name, optima=optima, rule=rule,
                n_params=n_params, tokens=tokens, vocab_size=vocab, preset=preset,
                preset_shape=preset_shape, shape=shape, training=training, wall=wall,
                gpu_memory_bytes=gpu.memory_bytes, layouts=layouts, recommended=recommended,
                data=data, blend=blend.path if blend else None, warnings=warnings,
                citations=cites)
