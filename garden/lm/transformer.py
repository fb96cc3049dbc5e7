"""A Garden-trained transformer as a perplexity scorer (a `garden train` run, a checkpoint, or
an exported Hugging Face folder).

Detection here is torch-free (file names only), so validating a recipe or running the n-gram
path never imports torch; `TransformerScorer` imports torch and the trainer lazily, in the
worker that loads it.  Documents are scored as `garden eval` scores them (trainer.evaluate:
each document alone after an EOD token, EOD appended, non-overlapping windows of the trained
context), with the plain-torch decoder `garden generate` uses (trainer.torch_llama).
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
CHECKPOINT_STATE = "trainer_state.json"  # trainer.checkpoint.STATE_FILE (that module imports torch)
BATCH_TOKENS = 8192  # windows per forward = BATCH_TOKENS // seq_len, as garden eval


def is_transformer_path(path: str) -> bool:
    """A directory holding an HF export, a checkpoint (iter_*), or a run (checkpoints/latest)."""
    if not os.path.isdir(path):
        return False
    if os.path.isfile(os.path.join(path, "config.json")) and \
            any(os.path.isfile(os.path.join(path, w)) for w in HF_WEIGHTS):
        return True
    if os.path.isfile(os.path.join(path, CHECKPOINT_STATE)):
        return True
    root = os.path.join(path, "checkpoints") if os.path.isdir(os.path.join(path, "checkpoints")) else path
    return os.path.isfile(os.path.join(root, "latest"))


class _DecoderModule:
    """trainer.evaluate.Scorer's model interface (`model(ids, positions, mask)`, parameters())
    over trainer.torch_llama's TorchDecoder."""

    def __init__(self, decoder) -> None:
        self.decoder = decoder

    def parameters(self):
        yield self.decoder.w["model.embed_tokens.weight"]

    def __call__(self, ids, positions, mask):
        return self.decoder.forward(ids)


class TransformerScorer:
    """`perplexity(texts)` / `score_texts(texts)` of a Garden transformer: per-token loss over the
    document's tokens (its EOD included), perplexity = exp(loss), as `garden eval --per-doc`."""

    def __init__(self, path: str, device: str = "auto", seq_len: int | None = None) -> None:
        from trainer.evaluate import Scorer
        from trainer.generate import GenerateError, load_model

        try:
            loaded = load_model(path, device=device)
        except GenerateError as e:
            raise ValueError(str(e)) from None
        if loaded.tokenizer is None:
            raise ValueError(f"{path}: the model's tokenizer was not found, so text cannot be encoded")
        self.tokenizer = loaded.tokenizer.tokenizer
        self.eod_id = loaded.eod_id
        self.seq_len = min(seq_len or loaded.context, loaded.context)
        vocab = self.tokenizer.get_vocab_size(with_added_tokens=True)
        self._scorer = Scorer(_DecoderModule(loaded.decoder), self.seq_len,
                              max(1, BATCH_TOKENS // self.seq_len), vocab, self.eod_id)

    def lines(self, text: str) -> list[str]:
        return [line for line in text.split("\n") if line.strip()]

    def _tokens(self, texts: list[str]) -> list[np.ndarray]:
        from operators.tokens import encode_flat

        flat, lengths = encode_flat(self.tokenizer, texts, np.dtype(np.int64), self.eod_id)
        return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []

    def score_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(log10 probability, scored tokens) per text; blank texts score 0 tokens (missing)."""
        from trainer.eval_data import EvalDoc

        log10 = np.zeros(len(texts))
        tokens = np.zeros(len(texts), dtype=np.int64)
        real = [i for i, t in enumerate(texts) if t and t.strip()]
        if not real:
            return log10, tokens
        ids = self._tokens([texts[i] for i in real])
        nats = self._scorer.score([EvalDoc(str(i), t, None) for i, t in zip(real, ids)])
        for i, t, n in zip(real, ids, nats):
            log10[i] = -n / math.log(10)
            tokens[i] = len(t)
        return log10, tokens

    def perplexity(self, texts: Sequence[str]) -> list[float | None]:
        log10, tokens = self.score_texts(texts)
        return [math.exp(-lp * math.log(10) / n) if n else None for lp, n in zip(log10, tokens)]
