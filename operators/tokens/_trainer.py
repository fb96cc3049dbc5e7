"""Byte-level BPE training with HF `tokenizers`, and the files `transformers` needs to load it.

Pre-tokenisation is where Chinese goes wrong in GPT-2 style tokenizers: its regex glues a
run of Han characters to the Latin text and spaces around it and byte-level BPE then starts
from 3 bytes per character. Here CJK runs are isolated first (`cjk: run`, BPE may then learn
multi-character words inside a run) or split into single characters (`cjk: char`), and digits
are split (`digits: individual` or `groups3`) so numbers do not waste the vocabulary. No
normaliser is used: `decode(encode(x)) == x` holds for every string.
"""
from __future__ import annotations

import json
from typing import Iterable

from garden.io import fs
from garden.text import HAN_KANA
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

CJK = HAN_KANA  # letters only: punctuation stays its own token
CJK_MODES = ("run", "char", "none")
DIGIT_MODES = ("individual", "groups3", "none")
DEFAULT_PRE_TOKENIZER = {"cjk": "run", "digits": "individual"}


def check_pre_tokenizer(options: dict) -> dict:
    """Fill defaults and reject unknown keys/values (recipe validation)."""
    unknown = set(options) - set(DEFAULT_PRE_TOKENIZER)
    if unknown:
        raise ValueError(f"pre_tokenizer: unknown option(s) {sorted(unknown)}; known: cjk, digits")
    merged = {**DEFAULT_PRE_TOKENIZER, **options}
    if merged["cjk"] not in CJK_MODES:
        raise ValueError(f"pre_tokenizer.cjk must be one of {CJK_MODES}")
    if merged["digits"] not in DIGIT_MODES:
        raise ValueError(f"pre_tokenizer.digits must be one of {DIGIT_MODES}")
    return merged


def build_pre_tokenizer(options: dict) -> pre_tokenizers.PreTokenizer:
    opts = check_pre_tokenizer(options)
    steps = []
    if opts["cjk"] == "run":
        steps.append(pre_tokenizers.Split(Regex(f"[{CJK}]+"), behavior="isolated"))
    elif opts["cjk"] == "char":
        steps.append(pre_tokenizers.Split(Regex(f"[{CJK}]"), behavior="isolated"))
    if opts["digits"] == "individual":
        steps.append(pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"))
    elif opts["digits"] == "groups3":
        steps.append(pre_tokenizers.Split(Regex(r"\p{N}{1,3}"), behavior="isolated"))
    steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    return pre_tokenizers.Sequence(steps)


def special_token_list(eod_token: str, special_tokens: list[str]) -> list[str]:
    """EOD first (id 0), then the user's special tokens, without duplicates."""
    out = [eod_token]
    for tok in special_tokens:
        if tok not in out:
            out.append(tok)
    return out


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int, eod_token: str,
              special_tokens: list[str], pre_tokenizer: dict, max_token_length: int | None = None) -> Tokenizer:
    """Train a byte-level BPE on `texts` (deterministic for the same texts in the same order)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = build_pre_tokenizer(pre_tokenizer)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency,
        special_tokens=special_token_list(eod_token, special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
        max_token_length=max_token_length)
    tok.train_from_iterator(texts, trainer)
    return tok


def hf_config_files(eod_token: str, special_tokens: list[str], model_max_length: int) -> dict[str, dict]:
    """tokenizer_config.json and special_tokens_map.json for `AutoTokenizer.from_pretrained(dir)`.

    `PreTrainedTokenizerFast` reads the model from tokenizer.json; the config names the class,
    the special tokens and keeps `clean_up_tokenization_spaces` off so decoding stays lossless.
    """
    specials = special_token_list(eod_token, special_tokens)
    added = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True} for i, t in enumerate(specials)}
    extra = specials[1:]
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
        "bos_token": eod_token,
        "eos_token": eod_token,
        "unk_token": eod_token,
        "pad_token": None,
        "additional_special_tokens": extra,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    special_map = {"bos_token": eod_token, "eos_token": eod_token, "unk_token": eod_token}
    if extra:
        special_map["additional_special_tokens"] = extra
    return {"tokenizer_config.json": config, "special_tokens_map.json": special_map}


def save_tokenizer_dir(tok: Tokenizer, out_dir: str, eod_token: str, special_tokens: list[str],
                       model_max_length: int = 4096) -> str:
    """Write tokenizer.json + transformers config files atomically; returns tokenizer.json's path."""
    path = fs.join(out_dir, "tokenizer.json")
    staged = fs.StagedFile(path)
    tok.save(staged.local, pretty=True)
    for name, content in hf_config_files(eod_token, special_tokens, model_max_length).items():
        fs.atomic_write_bytes(fs.join(out_dir, name), (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode())
    staged.commit()  # last: tokenizer.json present means the directory is complete
    return path
