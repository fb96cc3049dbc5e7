"""Find a Garden checkpoint and read it, whatever TP/PP/VPP/DP layout wrote it: the one loader
behind `garden eval`, `garden export` and `garden generate`.

`find_checkpoint` + `read_info` locate an iter_* directory and its trainer state (model, seq_len,
blend.json); `load_full_state` reads full tensors in one CPU process; `megatron_model` loads the
checkpoint into one TP1/PP1 megatron GPTModel (Garden's own forward, used by eval).

`torch_dist` checkpoints (megatron dist_checkpointing) store every model tensor with its global
shape, so no shard merging is needed: torch's distributed-checkpoint reader fills full-size
tensors directly, without a process group and without megatron.  Only model tensors are read
(the optimizer state, two to three times larger, stays on disk).

Layer weights are stored stacked along a leading layer axis (`decoder.layers.<name>`: [L, ...]),
expert weights along [L, E, ...]; `split_layers` turns them into the per-layer names of a
TP1/PP1 megatron `GPTModel` (local layer spec) that `garden export` and `garden eval` map from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainer import checkpoint


class RestoreError(ValueError):
    """The path is not a readable Garden run or checkpoint (one-line message for the CLI)."""


@dataclass
class CheckpointInfo:
    """What a checkpoint holds besides tensors: where it is, and the model it was trained as."""

    path: Path  # the iter_* directory
    iteration: int
    model: dict[str, Any]  # the resolved `model` config section (preset, sizes, vocab, rope, eps)
    seq_len: int  # trained context length
    run_dir: Path | None  # the training run directory, when the checkpoint sits in one
    blend: str | None  # blend.json the run trained on (tokenizer and EOD come from it)
    state: dict[str, Any] = field(default_factory=dict)  # trainer_state.json as written


def find_checkpoint(path: str | Path, iteration: int | None = None) -> Path:
    """The iter_* directory for a run dir (the checkpoint dir its config.json names, else its
    checkpoints/), a checkpoints dir or an iter_* dir: `latest` unless `iteration` is given."""
    p = Path(path)
    if not p.exists():
        raise RestoreError(f"{p}: no such run directory or checkpoint")
    if (p / checkpoint.STATE_FILE).exists():
        if iteration is not None and checkpoint.read_state(p).get("iteration") != iteration:
            raise RestoreError(f"{p} is the checkpoint of iteration "
                               f"{checkpoint.read_state(p).get('iteration')}, not {iteration}")
        return p
    roots = [p, p / "checkpoints"]
    config = p / "config.json"
    if config.exists():
        try:
            roots.insert(0, Path(json.loads(config.read_text())["checkpoint"]["dir"]))
        except (ValueError, KeyError, TypeError):
            raise RestoreError(f"{config}: not a garden train config") from None
    with_latest = [r for r in roots if (r / "latest").exists()]
    if with_latest:
        root = with_latest[0]
    else:
        root = p / "checkpoints" if (p / "checkpoints").is_dir() else p
    if iteration is not None:
        found = checkpoint.iter_dir(root, iteration)
        if not (found / checkpoint.STATE_FILE).exists():
            have = sorted(int(d.name[5:]) for d in root.glob("iter_*")
                          if d.name[5:].isdigit() and (d / checkpoint.STATE_FILE).exists())
            raise RestoreError(f"{root}: no complete checkpoint for iteration {iteration} "
                               f"(have: {', '.join(map(str, have)) or 'none'})")
        return found
    if not with_latest:
        raise RestoreError(f"{p}: no checkpoint: not a Garden training run or checkpoint (neither "
                           f"an iter_* directory with {checkpoint.STATE_FILE} nor a run or "
                           f"checkpoints directory with a `latest` file); train with `garden "
                           f"train` first (checkpoint.interval, or let the run finish)")
    found = checkpoint.latest(root)
    if found is None:
        raise RestoreError(f"{root / 'latest'} names iteration "
                           f"{(root / 'latest').read_text().strip()}, which has no complete "
                           f"checkpoint ({checkpoint.STATE_FILE} missing)")
    return found


def read_info(ckpt: Path) -> CheckpointInfo:
    """CheckpointInfo from trainer_state.json (and the run's config.json for older states)."""
    try:
        state = checkpoint.read_state(ckpt)
    except (OSError, ValueError) as e:
        raise RestoreError(f"{ckpt / checkpoint.STATE_FILE}: unreadable "
                           f"({type(e).__name__}: {e})") from None
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else None
    cfg: dict[str, Any] = {}
    if run_dir is not None and (run_dir / "config.json").exists():
        try:
            cfg = json.loads((run_dir / "config.json").read_text())
        except ValueError:
            cfg = {}
    model = state.get("model") or cfg.get("model")
    seq_len = state.get("seq_len") or (cfg.get("training") or {}).get("seq_len")
    if not model or not seq_len:
        raise RestoreError(f"{ckpt}: trainer_state.json names no model or seq_len; not a Garden "
                           f"checkpoint")
    blend = state.get("blend") or (cfg.get("data") or {}).get("blend")
    return CheckpointInfo(path=ckpt, iteration=int(state.get("iteration", 0)), model=dict(model),
                          seq_len=int(seq_len), run_dir=run_dir, blend=blend, state=state)


def read_model_tensors(ckpt: Path) -> dict[str, torch.Tensor]:
    """Every model tensor of a torch_dist checkpoint at its global shape, as stored (stacked)."""
    import warnings

    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    reader = dcp.FileSystemReader(str(ckpt))
    try:
        meta = reader.read_metadata()
    except Exception as e:  # noqa: BLE001 - any unreadable metadata is the same user problem
        raise RestoreError(f"{ckpt}: checkpoint metadata unreadable ({type(e).__name__}: {e})") \
            from None
    sd = {k: torch.empty(v.size, dtype=v.properties.dtype)
          for k, v in meta.state_dict_metadata.items()
          if isinstance(v, TensorStorageMetadata) and not k.startswith("optimizer.")}
    if "embedding.word_embeddings.weight" not in sd:
        raise RestoreError(f"{ckpt}: no embedding.word_embeddings.weight; not a GPT checkpoint")
    from torch.distributed.checkpoint.api import CheckpointException

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "assuming the intent is to load in a single process"
            dcp.load(sd, storage_reader=reader, no_dist=True)
    # CheckpointException (a BaseException) wraps what the reader hit, e.g. EOFError
    except (Exception, CheckpointException) as e:  # noqa: BLE001
        cause = _first_cause(e)
        raise RestoreError(f"{ckpt}: checkpoint data unreadable, truncated or incomplete "
                           f"({cause})") from None
    return sd


def _first_cause(e: BaseException) -> str:
    """One line naming what failed inside a (possibly wrapped) reader exception."""
    failures = getattr(e, "failures", None)  # CheckpointException: {rank: exception}
    if isinstance(failures, dict) and failures:
        inner = next(iter(failures.values()))  # (exception, traceback)
        inner = inner[0] if isinstance(inner, tuple) else inner
        if isinstance(inner, BaseException):
            e = inner
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}{': ' + text[0] if text else ''}"


def split_layers(stacked: dict[str, torch.Tensor], model: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Stacked checkpoint tensors -> a TP1/PP1 GPTModel's names (local spec): layer i's weights
    as `decoder.layers.{i}.<name>`, expert e's as `...mlp.experts.local_experts.{e}.<name>`.

    The checkpoint uses TransformerEngine's names for the norms fused into the next linear
    layer (`linear_qkv.layer_norm_weight`, `linear_fc1.layer_norm_weight`); they become
    `input_layernorm.weight` and `pre_mlp_layernorm.weight`.
    """
    renames = {"self_attention.linear_qkv.layer_norm_weight": "input_layernorm.weight",
               "mlp.linear_fc1.layer_norm_weight": "pre_mlp_layernorm.weight"}
    n_layers = int(model["num_layers"])
    out: dict[str, torch.Tensor] = {}
    for key, t in stacked.items():
        if not key.startswith("decoder.layers."):
            out[key] = t
            continue
        name = key[len("decoder.layers."):]
        if t.shape[0] != n_layers:
            raise RestoreError(f"{key}: {t.shape[0]} layers stored, the model has {n_layers}")
        name = renames.get(name, name)
        for i in range(n_layers):
            if name.startswith("mlp.experts.experts."):
                rest = name[len("mlp.experts.experts."):]
                for e in range(t.shape[1]):
                    out[f"decoder.layers.{i}.mlp.experts.local_experts.{e}.{rest}"] = t[i, e]
            else:
                out[f"decoder.layers.{i}.{name}"] = t[i]
    return out


def load_full_state(run_dir_or_ckpt: str | Path, iteration: int | None = None
                    ) -> tuple[CheckpointInfo, dict[str, torch.Tensor]]:
    """(CheckpointInfo, full tensors named as in a TP1/PP1 megatron GPTModel) for a run
    directory, its checkpoints/ directory or one iter_* directory, whatever layout trained it.

    Raises RestoreError with a one-line message for anything that is not a readable checkpoint.
    """
    ckpt = find_checkpoint(run_dir_or_ckpt, iteration)
    info = read_info(ckpt)
    return info, split_layers(read_model_tensors(ckpt), info.model)


def single_process_config(model: dict[str, Any], seq_len: int, cuda: bool) -> dict[str, Any]:
    """The slice of a resolved training config that trainer.model needs, at TP=1/PP=1, fp32."""
    return {"model": model, "cuda": cuda, "precision": "fp32",
            "parallel": {"tp": 1, "pp": 1, "vpp": None, "sequence_parallel": False,
                         "distributed_optimizer": False},
            "training": {"recompute": None, "seed": 0, "seq_len": seq_len}}


def _init_one_process(cuda: bool) -> None:
    """A one-rank process group (nccl on a GPU, else gloo plus the CPU bridge) and megatron's
    TP1/PP1 parallel state, unless this process has them already."""
    import os
    import tempfile

    from megatron.core import parallel_state as ps

    if not torch.cuda.is_available():
        from trainer import cpu

        cpu.install()
    if not torch.distributed.is_initialized():
        store = os.path.join(tempfile.mkdtemp(prefix="garden-pg-"), "store")
        torch.distributed.init_process_group("nccl" if cuda else "gloo",
                                             init_method=f"file://{store}", rank=0, world_size=1)
    if not ps.model_parallel_is_initialized():
        from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

        ps.initialize_model_parallel(tensor_model_parallel_size=1, pipeline_model_parallel_size=1)
        model_parallel_cuda_manual_seed(0)  # attention forks this RNG state (dropout is 0)


def megatron_model(info: CheckpointInfo, cuda: bool | None = None) -> Any:
    """A TP1/PP1 megatron GPTModel (eval mode) in this process, loaded from the checkpoint
    through the trainer's own `checkpoint.load` (megatron resharding from any layout).
    Garden's reference forward pass: `model(tokens, position_ids, None)` returns logits
    [batch, seq, padded vocab].  `cuda`: on the GPU (default: when there is one).

    Initialises a one-process group and megatron's parallel state if there are none.
    """
    import dataclasses

    from trainer.model import gpt_model, transformer_config

    cuda = torch.cuda.is_available() if cuda is None else cuda
    _init_one_process(cuda)
    cfg = single_process_config(info.model, info.seq_len, cuda)
    # the weights are overwritten by the checkpoint: skip megatron's random initialisation
    tcfg = dataclasses.replace(transformer_config(cfg), perform_initialization=False)
    model = gpt_model(cfg, tcfg)
    try:
        checkpoint.load(info.path, [model], None)
    except Exception as e:  # noqa: BLE001 - a broken checkpoint is one line naming it
        first = str(e).splitlines()[0] if str(e) else ""
        raise RestoreError(f"{info.path}: cannot load the model weights "
                           f"({type(e).__name__}: {first})") from None
    model.eval()
    return model
