"""The tokenizer a model was trained with: from a training run (via its blend.json) or from an
exported Hugging Face folder, with its end-of-document id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer


@dataclass
class ModelTokenizer:
    tokenizer: Tokenizer
    eod_id: int  # end-of-document token the data appended after every document
    eod_token: str
    path: str  # the tokenizer.json (or vocab file) it was read from


def blend_tokenizer_entry(blend: str | None) -> dict:
    """blend.json's `tokenizer` entry ({"path", "vocab_size", "eod_id", ...}), {} if none."""
    from garden.io import fs
    from garden.io.writer import read_json

    if not blend or not fs.exists(blend):
        return {}
    try:
        return dict(read_json(blend).get("tokenizer") or {})
    except ValueError:
        return {}


def tokenizer_of_blend(blend: str | None) -> tuple[ModelTokenizer | None, str]:
    """(tokenizer, '') for the blend.json a run trained on, or (None, why not)."""
    from garden.io import fs

    if not blend:
        return None, "the run records no blend.json"
    if not fs.exists(blend):
        return None, f"{blend} (the run's blend.json) no longer exists"
    tok = blend_tokenizer_entry(blend)
    if not tok.get("path"):
        return None, f"{blend} names no tokenizer path"
    path = tok["path"] if fs.is_url(tok["path"]) or Path(tok["path"]).is_absolute() \
        else fs.join(fs.dirname(blend), tok["path"])
    if not fs.exists(path):
        return None, f"tokenizer {path} (named by {blend}) does not exist"
    from operators.tokens import load_tokenizer

    try:
        tokenizer, info = load_tokenizer(path, tok.get("eod_token"))
    except (OSError, ValueError) as e:
        return None, f"tokenizer {path}: {e}"
    eod = int(tok.get("eod_id", info.eod_id))
    if eod != info.eod_id:
        return None, (f"{blend} says eod_id {eod} but tokenizer {path} has "
                      f"{info.eod_token!r} = {info.eod_id}")
    return ModelTokenizer(tokenizer, eod, info.eod_token, info.path), ""


@dataclass
class RunVocab:
    """A run's vocabulary as far as it can be known, with or without a loadable tokenizer."""

    tokenizer: ModelTokenizer | None
    why: str  # why there is no tokenizer ('' when there is one)
    eod_id: int  # the tokenizer's; else blend.json's eod_id; else 0
    vocab_size: int  # the tokenizer's real tokens; else blend.json's; else the model's (padded) rows


def run_vocab(blend: str | None, padded_vocab: int) -> RunVocab:
    """The tokenizer, EOD id and real vocabulary size of the run that trained on `blend`
    (the model's embedding is padded to `padded_vocab` rows, which the data never produces)."""
    tok, why = tokenizer_of_blend(blend)
    if tok is not None:
        return RunVocab(tok, "", tok.eod_id, tok.tokenizer.get_vocab_size(with_added_tokens=True))
    entry = blend_tokenizer_entry(blend)
    return RunVocab(None, why, int(entry.get("eod_id", 0)),
                    int(entry.get("vocab_size") or padded_vocab))


def tokenizer_of_hf_folder(path: str | Path) -> tuple[ModelTokenizer | None, str]:
    """(tokenizer, '') for an HF folder with tokenizer.json; EOD = its eos token."""
    p = Path(path)
    if not (p / "tokenizer.json").exists():
        return None, f"{p} has no tokenizer.json"
    tok = Tokenizer.from_file(str(p / "tokenizer.json"))
    eos_id = None
    gen = p / "generation_config.json"
    if gen.exists():
        eos_id = json.loads(gen.read_text()).get("eos_token_id")
    if eos_id is None and (p / "config.json").exists():
        eos_id = json.loads((p / "config.json").read_text()).get("eos_token_id")
    if isinstance(eos_id, list):
        eos_id = eos_id[0] if eos_id else None
    if eos_id is None:
        return None, f"{p}: no eos_token_id in generation_config.json or config.json"
    return ModelTokenizer(tok, int(eos_id), tok.id_to_token(int(eos_id)) or "",
                          str(p / "tokenizer.json")), ""
