"""Perplexity separates clean paragraphs from corrupted ones (real text, tests/fixtures/lm)."""
import gzip
import json
import os
import random

import numpy as np
import pytest

from garden.lm import Normalizer, TokenSpec, TrainConfig, train_model

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "lm")
KEYS = "qwertyuiopasdfghjklzxcvbnm"


def texts(name: str) -> list[str]:
    with gzip.open(os.path.join(FIX, name), "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def auc(higher: list[float], lower: list[float]) -> float:
    """P(a corrupted paragraph scores above a clean one), ties counted half."""
    a, b = np.array(higher)[:, None], np.array(lower)[None, :]
    return float((a > b).mean() + 0.5 * (a == b).mean())


def shuffled(text: str, rng: random.Random, chars: bool) -> str:
    units = list(text) if chars else text.split()
    rng.shuffle(units)
    return ("" if chars else " ").join(units)


def keyboard_noise(text: str, rng: random.Random, rate: float = 0.15) -> str:
    return "".join(rng.choice(KEYS) if not c.isspace() and rng.random() < rate else c for c in text)


def lines_of(docs: list[str]) -> list[str]:
    norm = Normalizer()
    return [n for d in docs for n in (norm(x) for x in d.split("\n")) if n]


@pytest.fixture(scope="module")
def en_tokenizer() -> TokenSpec:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines_of(texts("en_train.jsonl.gz")), trainers.BpeTrainer(
        vocab_size=2000, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return TokenSpec("tokenizer", tokenizer_json=tok.to_str())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_perplexity_auc_clean_vs_corrupted(lang, en_tokenizer):
    spec = en_tokenizer if lang == "en" else TokenSpec("bytes")  # Chinese needs no segmenter: bytes
    model = train_model(spec.encode(lines_of(texts(f"{lang}_train.jsonl.gz"))), spec, TrainConfig(order=5))
    test = texts(f"{lang}_test.jsonl.gz")
    rng = random.Random(0)
    clean = model.perplexity(test)
    shuffle_auc = auc(model.perplexity([shuffled(t, rng, chars=lang == "zh") for t in test]), clean)
    noise_auc = auc(model.perplexity([keyboard_noise(t, rng) for t in test]), clean)
    pooled = (shuffle_auc + noise_auc) / 2  # same clean set: the pooled AUC is the mean
    print(f"{lang}: shuffle {shuffle_auc:.3f} noise {noise_auc:.3f} pooled {pooled:.3f}")
    assert pooled >= 0.95, (shuffle_auc, noise_auc)
    assert min(shuffle_auc, noise_auc) >= 0.85
