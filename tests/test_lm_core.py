"""garden.lm: Kneser-Ney probabilities sum to one, vectorised scoring = ARPA backoff by hand, ARPA and .npz
round trips, pruning to a size budget, CCNet normalisation, empty text."""
import gzip
import json
import os

import numpy as np
import pytest

from garden.lm import Normalizer, NgramModel, TokenSpec, TrainConfig, load_model, read_arpa, train_model, write_arpa
from garden.lm.kneser_ney import discounts

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "lm")


def docs(name: str, n: int) -> list[str]:
    with gzip.open(os.path.join(FIX, name), "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh][:n]


@pytest.fixture(scope="module")
def small_model() -> NgramModel:
    spec, norm = TokenSpec("bytes"), Normalizer()
    lines = [n for d in docs("en_train.jsonl.gz", 80) for n in (norm(x) for x in d.split("\n")) if n]
    return train_model(spec.encode(lines), spec, TrainConfig(order=4))


def conditional_mass(model: NgramModel, history: list[int]) -> float:
    """Sum over the whole vocabulary (every seen token and <unk>) of p(w | history)."""
    vocab = [int(t) for t in model.tables[0].tokens[:, 0] if t != model.spec.bos] + [model.spec.unk]
    return sum(10 ** model.log10_prob(history, w) for w in vocab)


@pytest.mark.parametrize("history", [[], [256], list(b"the "), list(b"qzx"), list(b"tion")])
def test_conditional_distributions_sum_to_one(small_model, history):
    history = [small_model.spec.bos] if history == [256] else history
    assert conditional_mass(small_model, history) == pytest.approx(1.0, abs=1e-4)


def test_vectorised_scores_equal_arpa_backoff_by_hand(small_model):
    spec = small_model.spec
    sentences = spec.encode(["the kernel uses this value.", "zqxj vvv 0000", "a"])
    scores = small_model.score_sentences(sentences)
    for s, got, n in zip(sentences, scores.log10, scores.tokens):
        seq = [spec.bos] + list(s) + [spec.eos]
        want = sum(small_model.log10_prob(seq[:j], seq[j]) for j in range(1, len(seq)))
        assert got == pytest.approx(want, abs=1e-6)
        assert n == len(s) + 1


def test_discounts_from_count_of_counts():
    adjusted = np.array([1] * 100 + [2] * 40 + [3] * 20 + [4] * 10 + [9] * 5)
    y = 100 / (100 + 2 * 40)
    assert discounts(adjusted) == pytest.approx((1 - 2 * y * 40 / 100, 2 - 3 * y * 20 / 40, 3 - 4 * y * 10 / 20))
    assert discounts(np.array([1, 1, 2])) == (0.5, 1.0, 1.5)  # no 3s and 4s: the fallback


def test_arpa_and_npz_round_trips_score_the_same(small_model, tmp_path):
    texts = docs("en_test.jsonl.gz", 5) + ["", "   "]
    want = small_model.perplexity(texts)
    assert want[-2:] == [None, None]  # empty text is missing, not NaN
    path = tmp_path / "m.arpa"
    write_arpa(small_model, str(path))
    head = path.read_text().splitlines()[:3]
    assert head[0] == "\\data\\" and head[1].startswith("ngram 1=")
    assert "<0x74>" in path.read_text()  # 't' as a byte piece
    from_arpa = read_arpa(str(path)).perplexity(texts)
    (tmp_path / "m.npz").write_bytes(small_model.to_bytes())
    from_npz = load_model(str(tmp_path / "m.npz")).perplexity(texts)
    assert from_npz == want
    assert from_arpa[-2:] == [None, None]
    assert np.allclose(from_arpa[:-2], want[:-2], rtol=1e-4)


def test_arpa_without_sidecar_guesses_byte_tokens(small_model, tmp_path):
    path = tmp_path / "m.arpa"
    write_arpa(small_model, str(path))
    os.remove(str(path) + ".garden.json")
    model = read_arpa(str(path))
    assert model.spec.kind == "bytes"
    assert model.perplexity(["the value"]) == pytest.approx(small_model.perplexity(["the value"]), rel=1e-4)


def test_pruning_fits_the_budget_and_stays_normalised(small_model):
    spec, norm = TokenSpec("bytes"), Normalizer()
    lines = [n for d in docs("en_train.jsonl.gz", 80) for n in (norm(x) for x in d.split("\n")) if n]
    full = len(small_model.to_bytes())
    pruned = train_model(spec.encode(lines), spec, TrainConfig(order=4, max_bytes=full // 3))
    assert len(pruned.to_bytes()) <= full // 3
    assert sum(pruned.num_ngrams()) < sum(small_model.num_ngrams())
    assert pruned.num_ngrams()[0] == small_model.num_ngrams()[0]  # unigrams are never pruned
    for history in ([], list(b"the "), list(b"ing")):
        assert conditional_mass(pruned, history) == pytest.approx(1.0, abs=1e-3)
    test = docs("en_test.jsonl.gz", 20)
    ratio = np.mean(pruned.perplexity(test)) / np.mean(small_model.perplexity(test))
    assert 1.0 <= ratio < 1.5  # a smaller model is a little worse, not broken


def test_ccnet_normalisation():
    norm = Normalizer()
    assert norm("  Café Ünïcödé 2023年，“你好”…  ") == 'cafe unicode 0000年,"你好"...'
    assert norm("a\u200bb\x07c") == "abc"  # zero-width and control characters go
    assert Normalizer(punct="remove")("你好，世界。") == "你好世界"
    keep = Normalizer(lowercase=False, strip_accents=False, digits_to_zero=False, punct="keep")
    assert keep("Café 42，") == "Café 42，"
    with pytest.raises(ValueError):
        Normalizer.from_dict({"punct": "drop"})


def test_tokenizer_tokens_and_pieces(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(docs("en_train.jsonl.gz", 50), trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.save(str(tmp_path / "tokenizer.json"))
    spec = TokenSpec.from_option(str(tmp_path))
    model = train_model(spec.encode(["the kernel", "the value of the kernel"]), spec, TrainConfig(order=3))
    write_arpa(model, str(tmp_path / "t.arpa"))
    text = (tmp_path / "t.arpa").read_text()
    assert "Ġkernel" in text or "Ġk" in text  # the tokenizer's own printable pieces
    again = read_arpa(str(tmp_path / "t.arpa"))
    assert again.spec.kind == "tokenizer"
    assert again.perplexity(["the kernel"]) == pytest.approx(model.perplexity(["the kernel"]), rel=1e-4)
    with pytest.raises(FileNotFoundError):
        TokenSpec.from_option(str(tmp_path / "missing.json"))
