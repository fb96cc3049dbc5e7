"""Load a Garden checkpoint of any TP/PP/VPP layout into one TP=1/PP=1 GPTModel in this process.

`torch_dist` checkpoints store every tensor with its global shape, so megatron's
`dist_checkpointing.load` fills a single-process model's sharded state dict from shards written by
any layout (the same path `garden train` uses to resume into another layout).  megatron needs a
process group even for one process: a one-rank gloo group (nccl on a GPU), plus the CPU bridge
(trainer/cpu.py) when there is no CUDA.

A checkpoint is self-describing: its trainer_state.json holds the resolved model section, the
training sequence length and the blend.json it trained on, which leads to the tokenizer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from trainer import checkpoint


class CheckpointError(ValueError):
    """No usable checkpoint at the given path; the message names it."""


@dataclasses.dataclass(frozen=True)
class RunCheckpoint:
    path: Path          # the iter_* directory
    iteration: int
    model: dict         # resolved model section (preset, sizes, padded vocab_size)
    seq_len: int        # training sequence length
    blend: str | None   # the blend.json it trained on


@dataclasses.dataclass(frozen=True)
class RunTokenizer:
    tokenizer: Any | None   # tokenizers.Tokenizer, or None when the file is gone
    eod_id: int
    vocab_size: int         # the tokenizer's real vocabulary (the model's may be padded)
    path: str | None


def find_checkpoint(target: str | os.PathLike) -> Path:
    """A run dir (its config's checkpoint dir), a checkpoints dir (its `latest`) or an iter_* dir."""
    p = Path(target)
    if not p.exists():
        raise CheckpointError(f"{p}: no such run directory or checkpoint")
    if (p / checkpoint.STATE_FILE).exists():
        return p
    roots = [p]
    config = p / "config.json"
    if config.exists():
        try:
            roots.insert(0, Path(json.loads(config.read_text())["checkpoint"]["dir"]))
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"{config}: not a garden train config") from None
    roots.append(p / "checkpoints")
    for root in roots:
        if (root / "latest").exists():
            found = checkpoint.latest(root)
            if found is None:
                raise CheckpointError(f"{root / 'latest'} names iteration "
                                      f"{(root / 'latest').read_text().strip()}, which has no "
                                      f"complete checkpoint ({checkpoint.STATE_FILE} missing)")
            return found
    raise CheckpointError(f"{p}: no checkpoint (neither an iter_* directory with "
                          f"{checkpoint.STATE_FILE} nor a run or checkpoints directory with a "
                          f"`latest` file; train with checkpoint.interval or let the run finish)")


def read_run_checkpoint(path: Path) -> RunCheckpoint:
    try:
        state = checkpoint.read_state(path)
        return RunCheckpoint(path=path, iteration=int(state["iteration"]), model=state["model"],
                             seq_len=int(state["seq_len"]), blend=state.get("blend"))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path / checkpoint.STATE_FILE}: unreadable ({type(e).__name__}: {e})") from None


def run_tokenizer(ck: RunCheckpoint, warn: Callable[[str], None] = print) -> RunTokenizer:
    """The tokenizer the data side trained, found through the checkpoint's blend.json."""
    vocab = int(ck.model["vocab_size"])
    if not ck.blend or not Path(ck.blend).exists():
        warn(f"warning: the run's blend.json ({ck.blend}) is gone: no tokenizer, so no text inputs "
             f"and no bits per byte; EOD id assumed 0")
        return RunTokenizer(None, 0, vocab, None)
    tok_meta = json.loads(Path(ck.blend).read_text()).get("tokenizer") or {}
    eod = int(tok_meta.get("eod_id", 0))
    vocab = int(tok_meta.get("vocab_size") or vocab)
    path = tok_meta.get("path")
    if path and not Path(path).is_absolute():
        path = str(Path(ck.blend).parent / path)
    if not path or not Path(path).exists():
        warn(f"warning: tokenizer {path} (from {ck.blend}) not found: no text inputs and no bits per byte")
        return RunTokenizer(None, eod, vocab, None)
    from operators._tok_load import load_tokenizer

    tok, info = load_tokenizer(path, tok_meta.get("eod_token"))
    if tok_meta.get("vocab_size") is None:
        vocab = info.vocab_size
    return RunTokenizer(tok, eod, vocab, info.path)


def _init_one_process(cuda: bool) -> None:
    import torch
    from megatron.core import parallel_state as ps

    if not cuda:
        from trainer import cpu

        cpu.install()
    if not torch.distributed.is_initialized():
        store = os.path.join(tempfile.mkdtemp(prefix="garden-eval-"), "store")
        torch.distributed.init_process_group("nccl" if cuda else "gloo", init_method=f"file://{store}",
                                             rank=0, world_size=1)
    if not ps.model_parallel_is_initialized():
        from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

        ps.initialize_model_parallel(tensor_model_parallel_size=1, pipeline_model_parallel_size=1)
        model_parallel_cuda_manual_seed(0)  # attention forks this RNG state (dropout is 0)


def single_process_config(model: dict, seq_len: int, cuda: bool) -> dict:
    """The slice of a resolved training config that trainer.model needs, at TP=1/PP=1, fp32."""
    return {"model": model, "cuda": cuda, "precision": "fp32",
            "parallel": {"tp": 1, "pp": 1, "vpp": None, "sequence_parallel": False},
            "training": {"recompute": None, "seq_len": seq_len, "seed": 0}}


def load_model(ck: RunCheckpoint):
    """The checkpoint's weights in one GPTModel (eval mode), on the GPU if there is one."""
    import torch
    from megatron.core.models.gpt import GPTModel

    from trainer.model import _layer_spec, transformer_config

    cuda = torch.cuda.is_available()
    _init_one_process(cuda)
    cfg = single_process_config(ck.model, ck.seq_len, cuda)
    # the weights are overwritten by the checkpoint: skip megatron's random initialisation
    tcfg = dataclasses.replace(transformer_config(cfg), perform_initialization=False)
    model = GPTModel(config=tcfg, transformer_layer_spec=_layer_spec(cfg),
                     vocab_size=int(ck.model["vocab_size"]), max_sequence_length=ck.seq_len,
                     pre_process=True, post_process=True, share_embeddings_and_output_weights=False,
                     position_embedding_type="rope", rotary_base=int(ck.model["rotary_base"]))
    if cuda:
        model.cuda(torch.cuda.current_device())
    try:
        checkpoint.load(ck.path, [model], None)
    except Exception as e:  # noqa: BLE001 - a broken checkpoint is one line naming it
        raise CheckpointError(f"{ck.path}: cannot load the model weights "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    model.eval()
    return model
