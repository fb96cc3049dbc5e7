"""The three subword models (bpe, unigram with byte fallback, wordpiece) on real Chinese and
English text: trained through the CLI and through a recipe, tokenized to Megatron shards, loaded
by transformers offline, exported, and compared in one table."""
from __future__ import annotations

import gzip
import json
import os

import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer

import tokens_helpers as th
from garden.cli import main
from garden.commands.tokenizer import tokenizer as tok_cli
from garden.megatron_format import IndexedDatasetReader
from operators.tokens import (CompressionReport, compare_rows, load_tokenizer, model_kind, save_tokenizer_dir,
                              train_model, train_unigram, unk_token_of)

ZH_DOC = os.path.join(th.FIXTURES, "zh_linux_doc_rst.jsonl.gz")
EN_DOC = os.path.join(th.FIXTURES, "en_linux_doc_rst.jsonl.gz")
EOD = "<|endoftext|>"
# rare characters, emoji, a CJK Extension B character, a character no corpus here has, the
# SentencePiece space marker and a literal byte-piece spelling: all must survive bpe and unigram
RARE = ("emoji 😀🀄🧧 and 𠀀𪚥 龘 ▁x ▁▁ <0x41><0xE4> \x00\x1b tab\there  lead and trail  \r\n"
        "مرحبا Привет ﬁ é (e + \u0301) 「引号」～…… ①②③ 𝔘𝔫𝔦")


def _read(path: str) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


ZH = _read(ZH_DOC)
EN = _read(EN_DOC)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, str]:
    """bpe, unigram and wordpiece trained by `garden tokenizer train` on the same Chinese and English
    kernel documentation, with the same vocabulary size (check documents held out)."""
    base = tmp_path_factory.mktemp("models")
    out = {}
    for model in ("bpe", "unigram", "wordpiece"):
        res = CliRunner().invoke(tok_cli, ["train", ZH_DOC, EN_DOC, "-o", str(base / model), "--model", model,
                                           "--vocab-size", "2000", "--sample-docs", "90", "--special-token", "<|pad|>"])
        assert res.exit_code == 0, res.output
        out[model] = str(base / model)
        out[model + ":output"] = res.output
    return out


def _report(d: str) -> dict:
    with open(os.path.join(d, "report.json"), encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bpe", "unigram", "wordpiece"])
def test_cli_trains_each_model_with_the_requested_vocabulary(trained, model):
    d = trained[model]
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    assert model_kind(tok) == model
    assert tok.get_vocab_size(with_added_tokens=True) == 2000
    assert tok.token_to_id(EOD) == 0 and tok.token_to_id("<|pad|>") == 1
    report = _report(d)
    assert report["documents_checked"] == 35 and report["check_held_out"]
    assert {r["lang"] for r in report["compression"]} == {"en", "zh", "zh-Hant"}
    assert (report.get("model") or "bpe") == model  # bpe's report.json is unchanged (no model key)
    if model == "wordpiece":
        assert report["round_trip_checked"] is False and "round trip: not applicable" in trained[model + ":output"]
    else:
        assert report["round_trip_failures"] == 0 and "round trip: 35/35 documents exact" in trained[model + ":output"]


def test_unigram_byte_fallback_spells_every_text(trained):
    tok = Tokenizer.from_file(os.path.join(trained["unigram"], "tokenizer.json"))
    vocab = tok.get_vocab()
    assert all(f"<0x{b:02X}>" in vocab for b in range(256))
    unk = tok.token_to_id("<unk>")
    for text in [RARE, *(d["text"] for d in ZH + EN)]:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert unk not in ids
        assert tok.decode(ids) == text
    enc = tok.encode("😀", add_special_tokens=False)
    assert enc.tokens == ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]
    # a literal "<0x41>" is spelled with its characters, never read as the byte piece (which decodes to "A")
    assert "<0x41>" not in tok.encode("x <0x41> y", add_special_tokens=False).tokens


def test_unigram_learns_multi_character_chinese_pieces_and_leaves_rare_characters_to_bytes(trained):
    tok = Tokenizer.from_file(os.path.join(trained["unigram"], "tokenizer.json"))
    pieces = tok.get_vocab()
    han = [p for p in pieces if len(p) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in p)]
    assert len(han) > 100
    seen = {c for d in ZH for c in d["text"]}
    assert len([c for c in seen if c not in pieces]) > 0  # the rarest characters: byte pieces
    rows = {r["lang"]: r for r in _report(trained["unigram"])["compression"]}
    assert rows["zh"]["chars_per_token"] > 1.0 and rows["zh"]["unk_tokens"] == 0


@pytest.mark.slow
def test_unigram_training_is_deterministic():
    texts = [d["text"] for d in th.read_fixture("zh")[:250] + th.read_fixture("en")[:250]]
    a = train_unigram(lambda: iter(texts), 1200, EOD, [], {})
    b = train_unigram(lambda: iter(texts), 1200, EOD, [], {})
    assert a.to_str() == b.to_str()
    assert a.get_vocab_size() == 1200


def test_wordpiece_reports_its_unknown_rate(trained):
    d = trained["wordpiece"]
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    assert unk_token_of(tok) == "[UNK]"
    report = _report(d)
    assert report["unk_token"] == "[UNK]"
    assert report["unk_rate"] == round(report["unk_tokens"] / sum(r["tokens"] for r in report["compression"]), 6)
    # measured independently on text the tokenizer never saw: rare characters are [UNK]
    ids = tok.encode(RARE, add_special_tokens=False).ids
    assert ids.count(tok.token_to_id("[UNK]")) >= 3
    rep = CompressionReport()
    rep.add(tok, [{"id": "r", "text": RARE, "source": "s", "lang": "mixed"}])
    (row,) = rep.table()
    assert row["unk_tokens"] == ids.count(tok.token_to_id("[UNK]")) and rep.failures == []
    assert tok.decode(ids) != RARE  # why wordpiece has no round-trip check
    res = CliRunner().invoke(tok_cli, ["stats", d, ZH_DOC, "--docs", "10"])
    assert res.exit_code == 0, res.output
    assert "round trip: not applicable" in res.output and "unknown tokens" in res.output


@pytest.mark.slow
def test_compare_table_rows_per_model_and_language(trained):
    res = CliRunner().invoke(tok_cli, ["compare", ZH_DOC, EN_DOC, "--docs", "70", "--json",
                                       *[a for m in ("bpe", "unigram", "wordpiece") for a in ("-t", trained[m])]])
    assert res.exit_code == 0, res.output
    rows = {(r["model"], r["lang"]): r for r in json.loads(res.output)}
    assert set(rows) == {(m, lang) for m in ("bpe", "unigram", "wordpiece") for lang in ("en", "zh", "zh-Hant")}
    for (model, _), r in rows.items():
        assert r["vocab_size"] == 2000 and r["documents"] > 0
        assert r["round_trip_failures"] == (None if model == "wordpiece" else 0)
    assert rows[("unigram", "zh")]["unk_rate"] == 0
    text = CliRunner().invoke(tok_cli, ["compare", ZH_DOC, EN_DOC, "--docs", "20", "-t", f"mine={trained['unigram']}"])
    assert text.exit_code == 0 and text.output.splitlines()[1].startswith("mine ")


@pytest.mark.parametrize("model", ["bpe", "unigram", "wordpiece"])
def test_transformers_loads_each_model_offline(trained, model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import PreTrainedTokenizerFast

    d = trained[model]
    hf = PreTrainedTokenizerFast.from_pretrained(d)
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    text = ZH[0]["text"][:500] + " " + EN[0]["text"][:500] + RARE
    ids = hf(text, add_special_tokens=False)["input_ids"]
    assert ids == tok.encode(text, add_special_tokens=False).ids
    assert hf.eos_token == EOD and hf.eos_token_id == 0 and len(hf) == 2000
    assert hf.unk_token == {"bpe": EOD, "unigram": "<unk>", "wordpiece": "[UNK]"}[model]
    extra = getattr(hf, "extra_special_tokens", None)  # transformers 5; additional_special_tokens before
    assert (extra if extra is not None else hf.additional_special_tokens) == ["<|pad|>"]
    assert set(hf.all_special_tokens) == {EOD, "<|pad|>", hf.unk_token}
    if model != "wordpiece":
        assert hf.decode(ids) == text


@pytest.mark.parametrize("model", ["unigram", "wordpiece"])
def test_training_and_export_read_the_new_tokenizers(trained, model, tmp_path):
    """`garden train` reads the vocabulary and EOD through blend.json; `garden export` writes the
    transformers config files with the model's unknown token."""
    from trainer.export import tokenizer_files
    from trainer.run_tokenizer import run_vocab

    blend = tmp_path / "blend.json"
    path = os.path.join(trained[model], "tokenizer.json")
    blend.write_text(json.dumps({"tokenizer": {"path": path, "vocab_size": 2000, "eod_id": 0, "eod_token": EOD}}))
    rv = run_vocab(str(blend), 2048)
    assert rv.tokenizer is not None and rv.why == "" and rv.eod_id == 0 and rv.vocab_size == 2000
    files = tokenizer_files(rv.tokenizer, 1024)
    unk = {"unigram": "<unk>", "wordpiece": "[UNK]"}[model]
    cfg = files["tokenizer_config.json"]
    assert cfg["unk_token"] == unk and cfg["pad_token"] == EOD and cfg["model_max_length"] == 1024
    assert cfg["additional_special_tokens"] == ["<|pad|>"]
    assert {v["content"]: int(k) for k, v in cfg["added_tokens_decoder"].items()} == {
        EOD: 0, "<|pad|>": 1, unk: rv.tokenizer.tokenizer.token_to_id(unk)}
    assert files["special_tokens_map.json"]["unk_token"] == unk


def _recipe(tmp_path, model: str) -> str:
    recipe = {"name": f"tok-{model}", "output": str(tmp_path / "out"), "workers": 2, "shard_size": "64KB",
              "inputs": [{"path": ZH_DOC, "source": "zh_doc"}, {"path": EN_DOC, "source": "en_doc"}],
              "pipeline": [{"train_tokenizer": {"model": model, "vocab_size": 1500, "sample_docs": 100,
                                                "check_docs": 25}},
                           {"tokenize": {}}]}
    path = tmp_path / "recipe.yaml"
    path.write_text(json.dumps(recipe))  # JSON is YAML
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["unigram", "wordpiece"])
def test_recipe_trains_then_tokenizes_to_megatron_shards(tmp_path, model):
    res = CliRunner().invoke(main, ["run", _recipe(tmp_path, model), "-q"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    tok, info = load_tokenizer(str(out / "tokenizer"))
    assert model_kind(tok) == model and info.eod_id == 0
    manifest = json.loads((out / "tokens.json").read_text())
    assert manifest["tokenizer"]["vocab_size"] == 1500 and manifest["dtype"] == "uint16"
    for source, docs in (("zh_doc", ZH), ("en_doc", EN)):
        ds = IndexedDatasetReader(str(out / manifest["sources"][source]["prefix"]))
        assert len(ds) == len(docs)
        for i, doc in enumerate(docs):
            ids = ds[i].tolist()
            assert ids[-1] == 0 and 0 not in ids[:-1]
            assert ids[:-1] == tok.encode(doc["text"], add_special_tokens=False).ids
            if model == "unigram":
                assert tok.decode(ids[:-1]) == doc["text"]
    report = json.loads((out / "tokenizer" / "report.json").read_text())
    assert report["model"] == model and report["documents_checked"] == 25
    if model == "wordpiece":
        assert report["round_trip_checked"] is False and 0 <= report["unk_rate"] < 0.05
    else:
        assert report["round_trip_failures"] == 0 and report["unk_tokens"] == 0


def test_model_choice_is_validated(tmp_path):
    from garden.recipe import RecipeError, recipe_from_dict

    def steps(params):
        return {"name": "x", "output": str(tmp_path / "o"), "inputs": [{"path": ZH_DOC, "source": "zh"}],
                "pipeline": [{"train_tokenizer": params}]}

    with pytest.raises(RecipeError, match="sentencepiece"):
        recipe_from_dict(steps({"model": "sentencepiece"}))
    with pytest.raises(RecipeError, match="max_token_length applies to bpe and unigram"):
        recipe_from_dict(steps({"model": "wordpiece", "max_token_length": 8}))
    with pytest.raises(RecipeError, match="256 byte pieces"):
        recipe_from_dict(steps({"model": "unigram", "vocab_size": 300}))


def test_bpe_stays_what_it_was():
    """The default model is bpe, built exactly as before the other models existed."""
    texts = [d["text"] for d in EN[:20]]
    a = train_model("bpe", lambda: iter(texts), 600, 2, EOD, [], {})
    from operators.tokens import train_bpe

    assert a.to_str() == train_bpe(texts, 600, 2, EOD, [], {}).to_str()
    model = json.loads(a.to_str())
    assert model["model"]["type"] == "BPE" and model["decoder"]["type"] == "ByteLevel"
    assert unk_token_of(a) is None


@pytest.mark.slow
def test_save_dir_names_the_unknown_token(tmp_path):
    texts = [d["text"] for d in ZH[:10] + EN[:10]]
    rows = []
    for model in ("unigram", "wordpiece"):
        tok = train_model(model, lambda: iter(texts), 900, 2, EOD, [], {})
        save_tokenizer_dir(tok, str(tmp_path / model), EOD, [])
        smap = json.loads((tmp_path / model / "special_tokens_map.json").read_text())
        assert smap["unk_token"] == unk_token_of(tok) and "additional_special_tokens" not in smap
        rows += compare_rows([(model, tok)], [{"id": "1", "text": RARE, "source": "s", "lang": "x"}])
    assert [r["model"] for r in rows] == ["unigram", "wordpiece"]
    assert rows[0]["round_trip_failures"] == 0 and rows[1]["round_trip_failures"] is None


def test_compare_and_encode_say_what_is_lost(trained, tmp_path):
    """A lossy tokenizer among the compared ones fails the command; `encode` counts wordpiece's [UNK]."""
    from tokenizers import normalizers

    lossy = Tokenizer.from_file(os.path.join(trained["bpe"], "tokenizer.json"))
    lossy.normalizer = normalizers.Lowercase()
    lossy.save(str(tmp_path / "lossy.json"))
    res = CliRunner().invoke(tok_cli, ["compare", EN_DOC, "--docs", "5", "-t", trained["unigram"],
                                       "-t", f"lower={tmp_path / 'lossy.json'}"])
    assert res.exit_code == 1
    assert "lower: 5 documents in en do not round-trip" in res.output and "unigram: " not in res.output
    tok = Tokenizer.from_file(os.path.join(trained["wordpiece"], "tokenizer.json"))
    n_unk = tok.encode("龘 x 😀", add_special_tokens=False).ids.count(tok.token_to_id("[UNK]"))
    res = CliRunner().invoke(tok_cli, ["encode", trained["wordpiece"], "龘 x 😀"])
    assert res.exit_code == 0 and f"{n_unk} unknown ([UNK]); no round trip" in res.output and n_unk == 2
