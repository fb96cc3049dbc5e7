"""End to end: raw jsonl → normalize/length_filter/exact_dedup → train_tokenizer → tokenize → mix,
read back with megatron-core (IndexedDataset, GPTDataset + BlendedMegatronDatasetBuilder)."""
from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pytest
from tokenizers import Tokenizer

import tokens_helpers as th

indexed_dataset = pytest.importorskip("megatron.core.datasets.indexed_dataset")

pytestmark = [pytest.mark.slow, pytest.mark.train]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same recipe twice: 2 workers on small shards, 1 worker on one shard per file."""
    base = tmp_path_factory.mktemp("tokens")
    parallel = base / "parallel"
    serial = base / "serial"
    stats_p = th.run(parallel, workers=2, shard_size="40KB")
    stats_s = th.run(serial, workers=1)
    return {"parallel": (parallel, stats_p), "serial": (serial, stats_s)}


def _kept_docs(out_dir) -> dict[str, list[str]]:
    """Texts of the kept documents per source, in output order (= input order)."""
    import pyarrow.parquet as pq

    by_source: dict[str, list[str]] = {}
    for f in sorted(os.listdir(out_dir / "data")):
        for row in pq.read_table(out_dir / "data" / f, columns=["source", "text"]).to_pylist():
            by_source.setdefault(row["source"], []).append(row["text"])
    return by_source


def test_more_than_one_shard_per_source(runs):
    out, stats = runs["parallel"]
    assert stats["input_shards"] > 3 and stats["accounting_ok"]


def test_tokenizer_files_and_report(runs):
    out, stats = runs["parallel"]
    tok_dir = out / "tokenizer"
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    assert tok.get_vocab_size() == 3000
    assert tok.token_to_id("<|endoftext|>") == 0 and tok.token_to_id("<|pad|>") == 1
    cfg = json.loads((tok_dir / "tokenizer_config.json").read_text())
    assert cfg["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert cfg["eos_token"] == "<|endoftext|>" and cfg["clean_up_tokenization_spaces"] is False
    assert cfg["added_tokens_decoder"]["0"]["content"] == "<|endoftext|>" and cfg["added_tokens_decoder"]["0"]["special"]
    smap = json.loads((tok_dir / "special_tokens_map.json").read_text())
    assert smap["eos_token"] == "<|endoftext|>" and smap["additional_special_tokens"] == ["<|pad|>"]
    op = next(o for o in stats["ops"] if o["name"] == "train_tokenizer")
    assert op["round_trip_failures"] == 0 and op["documents_checked"] == 200 and op["check_held_out"]
    assert op["trained_on"]["documents"] == 900
    rows = {(r["source"], r["lang"]): r for r in op["compression"]}
    zh = rows[("zh", "zh")]
    # Chinese: several UTF-8 bytes per token and more than one character per token, not 1 token/byte
    assert zh["bytes_per_token"] > 2.0 and zh["chars_per_token"] > 1.0
    assert rows[("en", "en")]["bytes_per_token"] > 2.0


def test_same_tokenizer_and_tokens_for_any_worker_count(runs):
    p, _ = runs["parallel"]
    s, _ = runs["serial"]
    assert (p / "tokenizer" / "tokenizer.json").read_bytes() == (s / "tokenizer" / "tokenizer.json").read_bytes()
    for name in sorted(os.listdir(p / "tokens")):
        assert (p / "tokens" / name).read_bytes() == (s / "tokens" / name).read_bytes(), name


def test_bin_idx_match_direct_encoding_in_input_order(runs):
    out, stats = runs["parallel"]
    manifest = json.loads((out / "tokens.json").read_text())
    tok = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    assert manifest["dtype"] == "uint16" and manifest["tokenizer"]["eod_id"] == 0
    kept = _kept_docs(out)
    assert set(manifest["sources"]) == set(kept) == {"en", "zh", "code"}
    for source, texts in kept.items():
        entry = manifest["sources"][source]
        ds = indexed_dataset.IndexedDataset(str(out / entry["prefix"]))
        assert len(ds) == len(texts) == entry["documents"]
        assert ds.index.dtype == np.uint16
        total = 0
        for i, text in enumerate(texts):
            expected = tok.encode(text, add_special_tokens=False).ids + [0]
            assert ds[i].tolist() == expected, (source, i)
            total += len(expected)
        assert total == entry["tokens"]
    op = next(o for o in stats["ops"] if o["name"] == "tokenize")
    assert op["tokens"] == sum(e["tokens"] for e in manifest["sources"].values())


def test_blend_json_contract(runs):
    out, _ = runs["parallel"]
    blend = json.loads((out / "blend.json").read_text())
    assert blend["version"] == 1 and blend["dtype"] == "uint16"
    assert blend["tokenizer"]["path"] == "tokenizer/tokenizer.json" and blend["tokenizer"]["eod_id"] == 0
    (phase,) = blend["phases"]
    assert phase["name"] == "main" and phase["tokens"] == 300_000
    assert phase["weights"] == pytest.approx(th.WEIGHTS)
    for s, w in th.WEIGHTS.items():
        assert phase["epochs"][s] == pytest.approx(300_000 * w / blend["sources"][s]["tokens"], rel=1e-3)
    args = (out / blend["megatron"]["data_args_path"]).read_text().split()
    from megatron.core.datasets.utils import get_blend_from_list

    prefixes, weights = get_blend_from_list(args)
    assert dict(zip([os.path.basename(p) for p in prefixes], weights)) == pytest.approx(th.WEIGHTS)
    per_split = json.loads((out / blend["megatron"]["per_split_data_args_path"]).read_text())
    assert set(per_split) == {"train", "valid", "test"} and per_split["train"] == args
    # the trainer's own reader accepts it
    from trainer.blend import load_blend

    loaded = load_blend(out / "blend.json")
    assert loaded.eod_id == 0 and loaded.vocab_size == 3000 and set(loaded.sources) == {"en", "zh", "code"}


class _Tok:
    """The duck-typed tokenizer GPTDataset needs."""

    def __init__(self, vocab_size: int, eod: int):
        self.vocab_size, self.eod, self.pad = vocab_size, eod, -1
        self.unique_identifiers = {"class": "test", "vocab_size": vocab_size, "eod": eod}


def test_megatron_blended_dataset_samples_the_weights(runs, tmp_path):
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    out, _ = runs["parallel"]
    blend = json.loads((out / "blend.json").read_text())
    names = sorted(blend["phases"][0]["weights"])
    prefixes = [str(out / blend["sources"][n]["prefix"]) for n in names]
    weights = [blend["phases"][0]["weights"][n] for n in names]
    cfg = GPTDatasetConfig(random_seed=1234, sequence_length=32, blend=(prefixes, weights), split=blend["split"],
                           tokenizer=_Tok(blend["tokenizer"]["vocab_size"], blend["tokenizer"]["eod_id"]),
                           reset_position_ids=False, reset_attention_mask=False, eod_mask_loss=False,
                           create_attention_mask=False)
    n = 10_000
    train = BlendedMegatronDatasetBuilder(GPTDataset, [n, 0, 0], lambda: True, cfg).build()[0]
    assert len(train) >= n
    counts = Counter(int(train[i]["dataset_id"]) if "dataset_id" in train[i] else -1 for i in range(n))
    assert -1 not in counts
    for k, name in enumerate(names):
        assert abs(counts[k] / n - blend["phases"][0]["weights"][name]) < 0.02, (name, counts)
    sample = train[0]
    assert sample["tokens"].shape[0] == 32 and int(sample["tokens"].max()) < blend["tokenizer"]["vocab_size"]
