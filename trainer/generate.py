"""`garden generate`: text from a Garden run or an exported Hugging Face folder.

Both inputs become the same plain-torch decoder (trainer.torch_llama) with a KV cache, so a
new token costs one position, and transformers is not needed at run time.  Sampling follows
transformers' order: repetition penalty, temperature, top-k, top-p.  Generation stops at the
end-of-document token the data appended after every document, or after max_new_tokens.
Prompts start with that token too (as every training document did after its predecessor),
unless `bos=False`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from trainer.restore import RestoreError
from trainer.run_tokenizer import ModelTokenizer
from trainer.torch_llama import DecoderShape, TorchDecoder


class GenerateError(ValueError):
    """A one-line reason generation cannot run (bad path, over-long prompt, no tokenizer)."""


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 64
    temperature: float = 0.8  # 0 = greedy (argmax)
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    repetition_penalty: float = 1.0  # 1 = off; >1 discourages tokens already in the context
    seed: int = 0
    stop_at_eod: bool = True

    def check(self) -> None:
        if self.max_new_tokens < 1:
            raise GenerateError("--max-new-tokens must be >= 1")
        if self.temperature < 0:
            raise GenerateError("--temperature must be >= 0 (0 = greedy)")
        if self.top_k < 0:
            raise GenerateError("--top-k must be >= 0 (0 = off)")
        if not 0 < self.top_p <= 1:
            raise GenerateError("--top-p must be in (0, 1]")
        if self.repetition_penalty <= 0:
            raise GenerateError("--repetition-penalty must be > 0 (1 = off)")


@dataclass
class GenerationModel:
    decoder: TorchDecoder
    tokenizer: ModelTokenizer | None
    eod_id: int
    context: int  # trained context length: prompt + new tokens must fit
    source: str  # what was loaded, for messages


@dataclass
class Completion:
    prompt_ids: list[int]
    new_ids: list[int]
    stop: str  # "eod" or "length"
    seconds: float


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GenerateError(f"--device {device}: no CUDA device here")
    return torch.device(device)


def is_hf_folder(path: Path) -> bool:
    return (path / "config.json").exists() and (
        (path / "model.safetensors").exists() or (path / "model.safetensors.index.json").exists())


def load_model(path: str | Path, iteration: int | None = None, device: str = "auto"
               ) -> GenerationModel:
    """A Garden run / checkpoint (any layout) or an HF folder (as `garden export` writes it)."""
    from trainer.hf_format import hf_config, megatron_to_hf
    from trainer.restore import load_full_state
    from trainer.run_tokenizer import run_vocab, tokenizer_of_hf_folder
    from trainer.torch_llama import read_hf_folder

    p = Path(path)
    dev = _device(device)
    dtype = torch.float32 if dev.type == "cpu" else torch.bfloat16
    if is_hf_folder(p):
        try:
            cfg, weights = read_hf_folder(p)
            shape = DecoderShape.from_hf_config(cfg)
        except (OSError, ValueError, KeyError) as e:
            raise GenerateError(f"{p}: not a readable model folder ({type(e).__name__}: {e})") \
                from None
        tok, _ = tokenizer_of_hf_folder(p)
        eod = tok.eod_id if tok else int(cfg.get("eos_token_id") or 0)
        return GenerationModel(TorchDecoder(shape, weights, dev, dtype), tok, eod,
                               shape.max_positions, str(p))
    try:
        info, sd = load_full_state(p, iteration)
    except RestoreError as e:
        raise GenerateError(f"{e} (or give an exported Hugging Face folder)") from None
    rv = run_vocab(info.blend, int(info.model["vocab_size"]))
    tok, eod, vocab = rv.tokenizer, rv.eod_id, rv.vocab_size
    weights = megatron_to_hf(sd, info.model, vocab)
    shape = DecoderShape.from_hf_config(hf_config(  # the config `garden export` would write
        info.model, vocab, info.seq_len, eod, eod, tied="lm_head.weight" not in weights,
        dtype="float32"))
    return GenerationModel(TorchDecoder(shape, weights, dev, dtype), tok, eod, info.seq_len,
                           str(info.path))


def pick_token(logits: torch.Tensor, context: list[int], s: Sampling,
               generator: torch.Generator | None) -> int:
    """The next token from the last position's logits [vocab] under the sampling settings."""
    logits = logits.float().clone()
    if s.repetition_penalty != 1.0 and context:
        seen = torch.tensor(sorted(set(context)), device=logits.device)
        vals = logits[seen]
        logits[seen] = torch.where(vals > 0, vals / s.repetition_penalty,
                                   vals * s.repetition_penalty)
    if s.temperature == 0:
        return int(torch.argmax(logits))
    logits = logits / s.temperature
    if s.top_k and s.top_k < logits.numel():
        kth = torch.topk(logits, s.top_k).values[-1]
        logits[logits < kth] = float("-inf")
    if s.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens ranked above it already reach top_p (keeps >= 1)
        drop = (torch.cumsum(probs, dim=-1) - probs) >= s.top_p
        logits[order[drop]] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


def check_fits(n_prompt: int, s: Sampling, context: int, what: str = "the prompt") -> None:
    if n_prompt + s.max_new_tokens > context:
        raise GenerateError(
            f"{what} is {n_prompt} tokens + --max-new-tokens {s.max_new_tokens} = "
            f"{n_prompt + s.max_new_tokens}, more than the model's trained context of {context} "
            f"tokens; shorten it or lower --max-new-tokens")


def generate_ids(model: GenerationModel, prompt_ids: list[int], s: Sampling,
                 use_cache: bool = True, on_token: Callable[[int], None] | None = None
                 ) -> Completion:
    """Generate after prompt_ids; with use_cache=False every step re-runs the whole sequence
    (the reference the cache must equal, and the baseline of bench/bench_model_loop.py)."""
    s.check()
    if not prompt_ids:
        raise GenerateError("empty prompt: give text, or keep the document-start token")
    check_fits(len(prompt_ids), s, model.context)
    dec = model.decoder
    gen = torch.Generator().manual_seed(s.seed)
    ids = list(prompt_ids)
    new: list[int] = []
    stop = "length"
    t0 = time.time()
    cache = dec.new_cache(1, len(prompt_ids) + s.max_new_tokens) if use_cache else None
    step_input = ids
    for _ in range(s.max_new_tokens):
        inp = step_input if use_cache else ids
        logits = dec.forward(torch.tensor([inp], dtype=torch.long), cache)[0, -1]
        tok = pick_token(logits, ids, s, gen)
        if s.stop_at_eod and tok == model.eod_id:
            stop = "eod"
            break
        ids.append(tok)
        new.append(tok)
        step_input = [tok]
        if on_token is not None:
            on_token(tok)
    return Completion(list(prompt_ids), new, stop, time.time() - t0)


def encode_prompt(model: GenerationModel, text: str, bos: bool = True) -> list[int]:
    if model.tokenizer is None:
        raise GenerateError(f"{model.source}: no tokenizer found for this model, so text "
                            f"prompts cannot be encoded (export from a run whose blend.json "
                            f"names its tokenizer)")
    ids = model.tokenizer.tokenizer.encode(text, add_special_tokens=False).ids
    return ([model.eod_id] if bos else []) + ids


def completion_text(tok: ModelTokenizer, prompt_ids: list[int], new_ids: list[int]) -> str:
    """The text the new ids add after the prompt (decoded in context, as TextStream shows it)."""
    before = tok.tokenizer.decode(prompt_ids)
    full = tok.tokenizer.decode(prompt_ids + new_ids)
    return full[len(before):] if full.startswith(before) else tok.tokenizer.decode(new_ids)


class TextStream:
    """Turns generated ids into text deltas as they arrive.  Decodes after the prompt's ids (so
    a decoder that strips a leading space, or joins words, sees the real context) and holds back
    an incomplete UTF-8 character (byte-level BPE can split one across tokens)."""

    def __init__(self, tokenizer: ModelTokenizer, write: Callable[[str], None],
                 prompt_ids: list[int] | None = None):
        self.tok, self.write = tokenizer, write
        self.ids: list[int] = list(prompt_ids or [])
        self.shown = len(self._text())

    def _text(self) -> str:
        return self.tok.tokenizer.decode(self.ids)

    def __call__(self, token: int) -> None:
        self.ids.append(token)
        text = self._text()
        if text.endswith("\ufffd"):
            return
        self.write(text[self.shown:])
        self.shown = len(text)

    def finish(self) -> None:
        text = self._text()
        if len(text) > self.shown:
            self.write(text[self.shown:])
