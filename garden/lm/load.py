"""Open any model file the `perplexity` operator accepts: Garden .npz, ARPA (.gz), KenLM binary."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from garden.lm.arpa import read_arpa
from garden.lm.model import NgramModel
from garden.lm.normalize import Normalizer
from garden.lm.transformer import is_transformer_path

MODEL_FILE = "model.npz"
KENLM_MAGIC = b"mmap lm "


def resolve_path(path: str) -> str:
    """A model directory (as `garden lm train -o DIR` writes), a file, or a transformer directory
    (`garden train` run, checkpoint, exported HF folder), returned as is."""
    if is_transformer_path(path):
        return path
    if os.path.isdir(path):
        candidate = os.path.join(path, MODEL_FILE)
        if not os.path.isfile(candidate):
            raise FileNotFoundError(f"{path}: no {MODEL_FILE} in this directory, and not a `garden train` "
                                    "run, checkpoint or exported model folder")
        return candidate
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model not found: {path}")
    return path


def model_kind(path: str) -> str:
    """npz | arpa | kenlm, from the first bytes; transformer for a model directory; ValueError for anything else."""
    if is_transformer_path(path):
        return "transformer"
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith(b"PK"):
        return "npz"
    if head.startswith(KENLM_MAGIC):
        return "kenlm"
    if head.startswith(b"\x1f\x8b") or head.lstrip().startswith(b"\\data\\"):
        return "arpa"
    raise ValueError(f"{path}: not a Garden n-gram model (.npz), an ARPA file or a KenLM binary")


def load_model(path: str):
    """An object with `perplexity(texts)`, `score_texts(texts)` and `lines(text)`."""
    path = resolve_path(path)
    kind = model_kind(path)
    if kind == "transformer":
        from garden.lm.transformer import TransformerScorer  # imports torch: only for this kind

        return TransformerScorer(path)
    if kind == "npz":
        with open(path, "rb") as fh:
            return NgramModel.from_bytes(fh.read())
    if kind == "arpa":
        return read_arpa(path)
    return KenlmModel(path)


class KenlmModel:
    """A KenLM binary, scored by the `kenlm` module when it happens to be installed (words, CCNet normalisation)."""

    def __init__(self, path: str, normalizer: Normalizer | None = None) -> None:
        try:
            import kenlm
        except ImportError:
            raise ValueError(f"{path}: a KenLM binary needs the `kenlm` Python module (pip install kenlm), "
                             "or convert it to ARPA") from None
        self._model = kenlm.Model(path)
        self.normalizer = normalizer or Normalizer()
        self.order = self._model.order

    def lines(self, text: str) -> list[str]:
        return [n for n in (self.normalizer(line) for line in text.split("\n")) if n]

    def score_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        log10 = np.zeros(len(texts))
        tokens = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            for line in self.lines(text or ""):
                log10[i] += self._model.score(line, bos=True, eos=True)
                tokens[i] += len(line.split()) + 1
        return log10, tokens

    def perplexity(self, texts: Sequence[str]) -> list[float | None]:
        from garden.lm.model import perplexity_of

        log10, tokens = self.score_texts(texts)
        return [perplexity_of(lp, n) for lp, n in zip(log10, tokens)]
