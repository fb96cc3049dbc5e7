"""Training config: defaults, LLaMA-style model presets, `a.b=value` overrides, validation.

Pure Python (yaml + stdlib only): the launcher validates everything here *before* it spends
seconds starting torchrun, so a bad layout or a missing shard is reported immediately.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from trainer.blend import Blend, BlendError, held_out, load_blend


class ConfigError(ValueError):
    """A problem with the training config, reported before launch."""


# LLaMA design everywhere: RMSNorm, SwiGLU, RoPE, grouped-query attention, untied embeddings,
# no biases.  vocab_size None = the tokenizer's vocab from blend.json, padded to a multiple of 128.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(num_layers=4, hidden_size=64, num_attention_heads=4, num_query_groups=2,
                 ffn_hidden_size=176, vocab_size=None),
    "tiny-moe": dict(num_layers=4, hidden_size=64, num_attention_heads=4, num_query_groups=2,
                     ffn_hidden_size=128, vocab_size=None, num_experts=4, top_k=2),
    "125m": dict(num_layers=12, hidden_size=768, num_attention_heads=12, num_query_groups=4,
                 ffn_hidden_size=2048, vocab_size=32000),
    # TinyLlama-1.1B's published shape.
    "1b": dict(num_layers=22, hidden_size=2048, num_attention_heads=32, num_query_groups=4,
               ffn_hidden_size=5632, vocab_size=32000),
    # LLaMA-7B's published shape (multi-head attention: 32 query groups).
    "7b": dict(num_layers=32, hidden_size=4096, num_attention_heads=32, num_query_groups=32,
               ffn_hidden_size=11008, vocab_size=32000),
}

MODEL_DEFAULTS: dict[str, Any] = dict(
    preset="tiny", norm_eps=1e-6, rotary_base=10000, init_std=0.02,
    num_experts=None, top_k=2, moe_aux_loss_coeff=0.01,
)

DEFAULTS: dict[str, Any] = {
    "name": "run",
    "run_dir": None,  # default out/train/<name>
    "model": {},
    "parallel": {"tp": 1, "pp": 1, "vpp": None, "sequence_parallel": False,
                 "distributed_optimizer": "auto"},
    "training": {"seq_len": 128, "micro_batch": 4, "global_batch": 8,
                 "train_tokens": None, "train_iters": None,
                 "lr": 1e-3, "min_lr": None, "warmup_iters": None,
                 "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
                 "grad_clip": 1.0, "seed": 1234, "recompute": None,
                 "skip_on_spike": None, "spike_window": 20},
    "precision": "auto",  # fp32 on CPU, bf16 on GPU
    "data": {"blend": None, "trace_samples": False},
    "checkpoint": {"dir": None, "interval": 0, "load": None, "init_from": None, "keep": None},
    "logging": {"interval": 1, "peak_flops": None},
    # Validation on held-out data: every `interval` iterations (None: a tenth of the run, 0: off),
    # `tokens` per source (the same windows every time, chosen with `seed`), and a warning when a
    # source's loss rises `warn_rising` evaluations in a row.
    "eval": {"interval": None, "tokens": 8192, "seed": 0, "warn_rising": 3},
}

# Keys that must be numbers (int: whole numbers); checked before anything uses them so a bad
# override (`training.lr=abc`) is a message naming the key.
INT_KEYS = {
    "parallel": ("tp", "pp", "vpp"),
    "training": ("seq_len", "micro_batch", "global_batch", "train_iters", "warmup_iters", "seed",
                 "spike_window"),
    "checkpoint": ("interval", "keep"),
    "logging": ("interval",),
    "eval": ("interval", "tokens", "seed", "warn_rising"),
}
FLOAT_KEYS = {
    "training": ("train_tokens", "lr", "min_lr", "weight_decay", "beta1", "beta2", "eps",
                 "grad_clip", "skip_on_spike"),
    "logging": ("peak_flops",),
}

PEAK_BF16_FLOPS = {"A100": 312e12, "H100": 989e12, "H200": 989e12}


def _merge(base: dict, extra: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if where == "" and key not in base:
            raise ConfigError(f"unknown config section {key!r} (known: {', '.join(base)})")
        if isinstance(out.get(key), dict) and key != "model":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{key} must be a mapping")
            unknown = set(value) - set(out[key])
            if unknown:
                raise ConfigError(f"unknown key(s) in {where}{key}: {', '.join(sorted(unknown))}; "
                                  f"known: {', '.join(out[key])}")
            out[key].update(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply `section.key=value` strings (value parsed as YAML) to a raw config dict."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        path, value = item.split("=", 1)
        parts = path.strip().split(".")
        node = raw
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p} is not a section")
        node[parts[-1]] = _parse_value(value, path.strip())
    return raw


def _parse_value(value: str, key: str = "") -> Any:
    """YAML scalar, plus numbers YAML 1.1 leaves as strings (`3e-4`, `2e9`)."""
    if value == "":
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise ConfigError(f"{key or 'value'}={value!r}: not a YAML value "
                          f"({getattr(e, 'problem', None) or e})") from None
    if isinstance(parsed, str):
        for cast in (int, float):
            try:
                return cast(parsed)
            except ValueError:
                pass
    return parsed


def load_raw(path: str | Path) -> dict:
    """Read a YAML config file into a dict."""
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: {problem} (plain YAML only: tags such as !!python are "
                          f"refused)") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return raw


def _check_numbers(cfg: dict) -> None:
    """Every numeric key holds a number (or null): a ConfigError naming the key otherwise."""
    for kinds, want in ((INT_KEYS, "a whole number"), (FLOAT_KEYS, "a number")):
        for section, keys in kinds.items():
            for key in keys:
                v = cfg[section].get(key)
                ok = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                if ok and kinds is INT_KEYS and isinstance(v, float):
                    ok = v.is_integer()
                    if ok:
                        cfg[section][key] = int(v)
                if not ok:
                    raise ConfigError(f"{section}.{key} must be {want}, got {v!r}")


def resolve_model(model: dict, tokenizer_vocab: int | None) -> dict:
    """Preset + user fields -> a complete model dict (vocab padded, ffn default for SwiGLU)."""
    model = dict(model or {})
    preset = model.get("preset", MODEL_DEFAULTS["preset"])
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}; known: {', '.join(PRESETS)}")
    out = {**MODEL_DEFAULTS, **PRESETS[preset], **model, "preset": preset}
    known = set(MODEL_DEFAULTS) | set(PRESETS["tiny-moe"])
    unknown = set(out) - known
    if unknown:
        raise ConfigError(f"unknown model field(s): {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(known))}")
    out.setdefault("num_query_groups", out["num_attention_heads"])
    if out.get("num_query_groups") is None:
        out["num_query_groups"] = out["num_attention_heads"]
    if out.get("ffn_hidden_size") is None:
        out["ffn_hidden_size"] = int(math.ceil(8 * out["hidden_size"] / 3 / 64) * 64)
    if out.get("vocab_size") in (None, "auto"):
        if tokenizer_vocab is None:
            raise ConfigError("model.vocab_size is auto but blend.json has no tokenizer vocab")
        out["vocab_size"] = int(math.ceil(tokenizer_vocab / 128) * 128)
    return out


def plan_phases(blend: Blend, tokens_per_iter: int, total_iters: int) -> list[dict]:
    """Phase boundaries in iterations: phase i ends at ceil(cumulative tokens / tokens per iter).

    The last phase is extended (or phases cut) so the plan covers exactly total_iters.
    """
    plan, cum, start = [], 0, 0
    for i, ph in enumerate(blend.phases):
        cum += ph["tokens"]
        end = max(start + 1, math.ceil(cum / tokens_per_iter))
        if i == len(blend.phases) - 1 or end >= total_iters:
            end = total_iters
        plan.append({"index": i, "name": ph["name"], "start_iter": start, "end_iter": end,
                     "weights": ph["weights"]})
        start = end
        if end >= total_iters:
            break
    return plan


def plan_mismatch(blend: Blend, plan: list[dict], tokens_per_iter: int, total: int) -> list[str]:
    """Warnings when train_iters/train_tokens disagree with the blend's phase budgets: which
    phases are cut short, dropped, or (the last one) stretched beyond its budget."""
    out = []
    budget_iters = [math.ceil(ph["tokens"] / tokens_per_iter) for ph in blend.phases]
    planned = {p["name"]: p["end_iter"] - p["start_iter"] for p in plan}
    for ph, want in zip(blend.phases, budget_iters):
        got = planned.get(ph["name"], 0)
        if got == 0:
            out.append(f"phase {ph['name']!r} is dropped ({want} iterations budgeted)")
        elif got < want:
            out.append(f"phase {ph['name']!r} is cut to {got} of its {want} budgeted iterations")
        elif got > want and ph is blend.phases[-1]:
            out.append(f"phase {ph['name']!r} is stretched to {got} iterations (budget {want}): "
                       f"its sources repeat more than blend.json planned")
    if out:
        out.insert(0, f"training.train_iters/train_tokens give {total} iterations, the blend's "
                      f"phases budget {sum(budget_iters)}")
    return out


def resolve_eval(ev: dict, blend: Blend, phases: list[dict], total: int) -> dict:
    """Validation plan: interval, windows per source, held-out data per source and the weight
    of each source in `overall` (its share of the run's planned tokens)."""
    interval = ev["interval"]
    if interval is None:
        interval = max(1, total // 10)
    if interval < 0 or ev["tokens"] < 1 or ev["warn_rising"] < 1:
        raise ConfigError("eval.interval must be >= 0 (0: off), eval.tokens and eval.warn_rising "
                          ">= 1")
    share: dict[str, float] = {}
    for ph in phases:
        for name, w in ph["weights"].items():
            share[name] = share.get(name, 0.0) + w * (ph["end_iter"] - ph["start_iter"])
    used = sorted(share)
    try:
        found, missing = held_out(blend, used) if interval else ({}, {})
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return {**ev, "interval": int(interval),
            "sources": {n: {**h.to_dict(), "weight": share[n]} for n, h in found.items()},
            "skipped": missing}


def resolve(raw: dict, world_size: int, cuda: bool, base_dir: Path | None = None) -> dict:
    """Validate a raw config for a world size and return the complete config the workers use.

    Raises ConfigError naming the offending field for every check the issue lists.
    """
    cfg = _merge(DEFAULTS, raw)
    par, tr = cfg["parallel"], cfg["training"]
    for section in ("training", "parallel", "checkpoint", "logging", "eval"):
        for key, value in cfg[section].items():
            if isinstance(value, str):
                cfg[section][key] = _parse_value(value, f"{section}.{key}")
    _check_numbers(cfg)
    tp, pp, vpp = int(par["tp"]), int(par["pp"]), par["vpp"]
    if tp < 1 or pp < 1:
        raise ConfigError("parallel.tp and parallel.pp must be >= 1")
    if world_size % (tp * pp):
        raise ConfigError(f"world size {world_size} is not divisible by tp*pp = {tp}*{pp} = {tp * pp}")
    dp = world_size // (tp * pp)
    if cfg["precision"] == "auto":
        cfg["precision"] = "bf16" if cuda else "fp32"
    if cfg["precision"] not in ("fp32", "bf16"):
        raise ConfigError(f"precision must be fp32 or bf16, got {cfg['precision']!r}")
    if cfg["precision"] == "bf16" and not cuda:
        raise ConfigError("precision bf16 needs a GPU; use precision=fp32 on CPU")
    if par["sequence_parallel"] and not cuda:
        raise ConfigError("parallel.sequence_parallel needs a GPU (torch norms without Apex/TE "
                          "do not support it on CPU)")
    if par["sequence_parallel"] and tp == 1:
        par["sequence_parallel"] = False
    par["distributed_optimizer_requested"] = par["distributed_optimizer"]
    if par["distributed_optimizer"] == "auto":
        par["distributed_optimizer"] = bool(cuda and dp > 1)
    elif par["distributed_optimizer"] and not cuda:
        raise ConfigError("parallel.distributed_optimizer is GPU-only here: its checkpoint load "
                          "breaks with torch's CPU AdamW; set it to false or auto on CPU")
    par.update(tp=tp, pp=pp, dp=dp, world_size=world_size)

    # Data first: the model vocab may come from the tokenizer.
    if not cfg["data"]["blend"]:
        raise ConfigError("data.blend is required (path to blend.json written by garden run)")
    blend_location = str(cfg["data"]["blend"])
    if "://" not in blend_location:  # a URL (s3://bucket/run/blend.json) is used as it is
        blend_path = Path(blend_location)
        if not blend_path.is_absolute() and base_dir is not None and not blend_path.exists():
            blend_path = base_dir / blend_path
        blend_location = str(blend_path.resolve())
    try:
        blend = load_blend(blend_location)
    except BlendError as e:
        raise ConfigError(str(e)) from None
    cfg["data"]["blend"] = blend_location
    cfg["data"]["resolved"] = blend.to_dict()

    m = cfg["model"] = resolve_model(cfg["model"], blend.vocab_size)
    if blend.vocab_size is not None and blend.vocab_size > m["vocab_size"]:
        raise ConfigError(f"tokenizer vocab {blend.vocab_size} is larger than model.vocab_size "
                          f"{m['vocab_size']}; raise model.vocab_size")
    if m["num_attention_heads"] % tp:
        raise ConfigError(f"model.num_attention_heads {m['num_attention_heads']} is not divisible "
                          f"by parallel.tp {tp}")
    if m["num_query_groups"] % tp or m["num_attention_heads"] % m["num_query_groups"]:
        raise ConfigError(f"model.num_query_groups {m['num_query_groups']} must divide the heads "
                          f"and be divisible by parallel.tp {tp}")
    if m["hidden_size"] % m["num_attention_heads"]:
        raise ConfigError("model.hidden_size must be divisible by model.num_attention_heads")
    if m["vocab_size"] % tp:
        raise ConfigError(f"model.vocab_size {m['vocab_size']} is not divisible by tp {tp}")
    if m["ffn_hidden_size"] % tp:
        raise ConfigError(f"model.ffn_hidden_size {m['ffn_hidden_size']} not divisible by tp {tp}")
    stages = pp * (vpp or 1)
    if vpp is not None and (pp < 2 or int(vpp) < 2):
        raise ConfigError("parallel.vpp (virtual pipeline) needs pp >= 2 and vpp >= 2")
    if m["num_layers"] % stages:
        raise ConfigError(f"model.num_layers {m['num_layers']} is not divisible by "
                          f"pp{'*vpp' if vpp else ''} = {stages}")
    if m["num_experts"] is not None:
        if not (1 <= int(m["top_k"]) <= int(m["num_experts"])):
            raise ConfigError("model.top_k must be between 1 and model.num_experts")
        if tp > 1 and not par["sequence_parallel"]:
            raise ConfigError("MoE with parallel.tp > 1 needs parallel.sequence_parallel=true "
                              "(megatron-core requires it; GPU + TransformerEngine only). On CPU "
                              "train MoE with tp=1 (pp and dp work)")

    mb, gb, seq = int(tr["micro_batch"]), int(tr["global_batch"]), int(tr["seq_len"])
    if gb % (mb * dp):
        raise ConfigError(f"training.global_batch {gb} is not divisible by micro_batch*dp = "
                          f"{mb}*{dp} = {mb * dp}")
    if vpp and (gb // (mb * dp)) % pp:
        raise ConfigError("with parallel.vpp the number of microbatches must be a multiple of pp")
    tr.update(micro_batch=mb, global_batch=gb, seq_len=seq,
              num_microbatches=gb // (mb * dp), tokens_per_iter=gb * seq)
    tr["train_iters_requested"] = tr["train_iters"] is not None or tr["train_tokens"] is not None
    if tr["train_iters"] is not None:
        total = int(tr["train_iters"])
    elif tr["train_tokens"] is not None:
        total = math.ceil(float(tr["train_tokens"]) / tr["tokens_per_iter"])
    else:
        total = math.ceil(sum(p["tokens"] for p in blend.phases) / tr["tokens_per_iter"])
    if total < 0:
        raise ConfigError("training.train_iters must be >= 0")
    tr["train_iters"] = total
    tr["lr"] = float(tr["lr"])
    tr["min_lr"] = float(tr["min_lr"]) if tr["min_lr"] is not None else 0.1 * tr["lr"]
    if tr["warmup_iters"] is None:
        tr["warmup_iters"] = max(1, round(0.01 * total)) if total else 0
    if tr["recompute"] not in (None, False, "selective", "full", True):
        raise ConfigError("training.recompute must be null, selective or full")
    if tr["recompute"] is True:
        tr["recompute"] = "full"
    cfg["data"]["phases"] = plan_phases(blend, tr["tokens_per_iter"], max(total, 1))
    explicit = tr["train_iters_requested"] if "train_iters_requested" in tr else None
    cfg["data"]["plan_warnings"] = plan_mismatch(blend, cfg["data"]["phases"],
                                                 tr["tokens_per_iter"], total) \
        if explicit else []
    tr.pop("train_iters_requested", None)
    cfg["eval"] = resolve_eval(cfg["eval"], blend, cfg["data"]["phases"], total)

    if cfg["run_dir"] is None:
        cfg["run_dir"] = str(Path("out/train") / str(cfg["name"]))
    cfg["run_dir"] = str(Path(cfg["run_dir"]).resolve())
    ck = cfg["checkpoint"]
    ck["dir"] = str(Path(ck["dir"] or Path(cfg["run_dir"]) / "checkpoints").resolve())
    for key in ("load", "init_from"):
        if ck[key]:
            if not Path(ck[key]).exists():
                raise ConfigError(f"checkpoint.{key} {ck[key]} does not exist")
            ck[key] = str(Path(ck[key]).resolve())
    if int(cfg["logging"]["interval"]) < 1:
        raise ConfigError("logging.interval must be >= 1")
    if ck["keep"] is not None and int(ck["keep"]) < 1:
        raise ConfigError("checkpoint.keep must be >= 1 (or null to keep every checkpoint)")
    cfg["cuda"] = bool(cuda)
    return cfg
