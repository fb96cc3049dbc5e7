"""`garden export`: a training run's checkpoint (any TP/PP/VPP layout) -> a Hugging Face folder.

config.json (LlamaForCausalLM or MixtralForCausalLM), model.safetensors (or shards + index
above `max_shard_bytes`), generation_config.json, the run's tokenizer (tokenizer.json,
tokenizer_config.json, special_tokens_map.json) and garden_export.json (what it came from).
Needs torch and safetensors only; transformers is not imported.

The folder is written next to its destination and renamed into place, so a crash leaves no
half-written model; an existing non-empty destination is refused unless it is an earlier
Garden export and `force` is set.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from trainer.hf_format import hf_architecture, hf_config, megatron_to_hf
from trainer.restore import RestoreError, load_full_state
from trainer.run_tokenizer import ModelTokenizer, run_vocab

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}
MARKER = "garden_export.json"
DEFAULT_MAX_SHARD_BYTES = 5 * 10**9  # transformers' usual shard size


class ExportError(ValueError):
    """A one-line reason the export cannot be written."""


@dataclass
class ExportResult:
    out_dir: Path
    architecture: str
    iteration: int
    parameters: int
    dtype: str
    files: list[str]
    tokenizer: str | None  # where the tokenizer came from, None when the run has none
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def shard_plan(tensors: dict[str, torch.Tensor], max_bytes: int,
               dtype: torch.dtype | None = None) -> list[list[str]]:
    """Names grouped into shards of at most max_bytes each (a bigger tensor gets its own),
    sized as they will be written (in `dtype` when given)."""
    item = torch.empty((), dtype=dtype).element_size() if dtype is not None else None
    shards: list[list[str]] = [[]]
    size = 0
    for name, t in tensors.items():
        n = t.numel() * (item or t.element_size())
        if shards[-1] and size + n > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += n
    return shards


def write_safetensors(tensors: dict[str, torch.Tensor], out: Path, max_bytes: int,
                      dtype: torch.dtype | None = None) -> list[str]:
    """model.safetensors, or model-0000i-of-0000n.safetensors + model.safetensors.index.json.

    Tensors may be views (q/k/v slices of one fused weight): each shard's tensors are copied
    into `dtype` only while that shard is written, so memory stays at the checkpoint plus one
    shard (and safetensors, which refuses tensors sharing storage, gets separate copies)."""
    from safetensors.torch import save_file

    def materialise(names: list[str]) -> dict[str, torch.Tensor]:
        return {k: tensors[k].detach().to(dtype=dtype or tensors[k].dtype, copy=True).contiguous()
                for k in names}

    plan = shard_plan(tensors, max_bytes, dtype)
    meta = {"format": "pt"}
    if len(plan) == 1:
        save_file(materialise(plan[0]), str(out / "model.safetensors"), metadata=meta)
        return ["model.safetensors"]
    files, weight_map, total = [], {}, 0
    for i, names in enumerate(plan, 1):
        name = f"model-{i:05d}-of-{len(plan):05d}.safetensors"
        shard = materialise(names)
        total += sum(t.numel() * t.element_size() for t in shard.values())
        save_file(shard, str(out / name), metadata=meta)
        del shard
        files.append(name)
        weight_map.update({k: name for k in names})
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    return files + ["model.safetensors.index.json"]


def tokenizer_files(tok: ModelTokenizer, seq_len: int) -> dict[str, dict]:
    """tokenizer_config.json / special_tokens_map.json for the exported folder.

    The data side appended the EOD token after every document and never padded, so EOD is the
    document boundary in both directions: bos = eos = EOD.  pad = EOD too, so batched
    generation in transformers works (padding is masked, it never reaches the loss here).
    The tokenizer adds no special token itself (as in training): prepend bos by hand.
    """
    from operators.tokens import hf_config_files, unk_token_of

    eod = tok.eod_token
    specials = [t.content for t in tok.tokenizer.get_added_tokens_decoder().values()
                if t.special and t.content != eod]
    files = hf_config_files(eod, specials, seq_len, unk_token_of(tok.tokenizer))  # unigram <unk>, wordpiece [UNK]
    files["tokenizer_config.json"]["pad_token"] = eod
    files["special_tokens_map.json"]["pad_token"] = eod
    return files


def _prepare_destination(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).exists():
            raise ExportError(f"{out_dir} exists and is not empty; choose another -o (Garden "
                              f"does not overwrite files it did not write)")
        if not force:
            raise ExportError(f"{out_dir} holds an earlier export; pass --force to replace it")


def export(run: str | Path, out_dir: str | Path, iteration: int | None = None,
           dtype: str = "auto", max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
           force: bool = False) -> ExportResult:
    """Write the HF folder for a run's checkpoint; raises RestoreError / ExportError."""
    t0 = time.time()
    out_dir = Path(out_dir).resolve()
    if dtype != "auto" and dtype not in DTYPES:
        raise ExportError(f"--dtype {dtype}: choose auto, {', '.join(DTYPES)}")
    _prepare_destination(out_dir, force)
    info, sd = load_full_state(run, iteration)
    rv = run_vocab(info.blend, int(info.model["vocab_size"]))
    tok, eod, vocab = rv.tokenizer, rv.eod_id, rv.vocab_size
    warnings = [] if tok else [f"no tokenizer exported: {rv.why}"]
    # the trainer pads the embedding to a multiple of 128; rows past the tokenizer's are dropped
    if vocab > int(info.model["vocab_size"]):
        raise ExportError(f"tokenizer has {vocab} tokens but the model only "
                          f"{info.model['vocab_size']} rows")
    target = DTYPES[dtype] if dtype != "auto" else sd["embedding.word_embeddings.weight"].dtype
    hf = megatron_to_hf(sd, info.model, vocab)  # views into sd; copied shard by shard
    tied = "lm_head.weight" not in hf
    config = hf_config(info.model, vocab, info.seq_len, bos_id=eod, eos_id=eod, tied=tied,
                       dtype=DTYPE_NAMES[target])

    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        files = write_safetensors(hf, tmp, max_shard_bytes, target)
        _write_json(tmp / "config.json", config)
        _write_json(tmp / "generation_config.json", {
            "bos_token_id": eod, "eos_token_id": eod, "pad_token_id": eod, "do_sample": False})
        files += ["config.json", "generation_config.json"]
        if tok:
            _write_tokenizer_json(tok, tmp / "tokenizer.json")
            for name, content in tokenizer_files(tok, info.seq_len).items():
                _write_json(tmp / name, content)
            files += ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
        provenance = {"checkpoint": str(info.path), "iteration": info.iteration,
                      "run_dir": str(info.run_dir) if info.run_dir else None,
                      "blend": info.blend, "preset": info.model.get("preset"),
                      "trained_vocab_size": int(info.model["vocab_size"]),
                      "exported_vocab_size": vocab, "dtype": DTYPE_NAMES[target],
                      "tokenizer": tok.path if tok else None}
        _write_json(tmp / MARKER, provenance)
        files.append(MARKER)
        if out_dir.exists():
            shutil.rmtree(out_dir)  # empty, or an earlier Garden export with --force
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n_params = sum(t.numel() for t in hf.values())
    return ExportResult(out_dir=out_dir, architecture=hf_architecture(info.model),
                        iteration=info.iteration, parameters=n_params, dtype=DTYPE_NAMES[target],
                        files=files, tokenizer=tok.path if tok else None, warnings=warnings,
                        seconds=time.time() - t0)


def _write_tokenizer_json(tok: ModelTokenizer, dest: Path) -> None:
    """The run's tokenizer.json byte for byte; a GPT-2 vocab/merges pair (or a remote file) is
    saved as the one tokenizer.json it was loaded into."""
    src = Path(tok.path)
    if src.suffix == ".json" and src.name not in ("vocab.json", "encoder.json") and src.is_file():
        shutil.copyfile(tok.path, dest)
    else:
        tok.tokenizer.save(str(dest))


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


__all__ = ["export", "ExportError", "ExportResult", "RestoreError", "shard_plan"]
