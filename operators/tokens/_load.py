"""Load a tokenizer from what users have: a `tokenizer.json`, a directory, or GPT-2 BPE files.

GPT-2 style files come as `vocab.json` + `merges.txt` (Hugging Face) or `encoder.json` +
`vocab.bpe` (OpenAI); both are byte-level BPE and are rebuilt as a `tokenizers.Tokenizer`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from garden.io import fs

EOD_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<eod>", "<|eod|>")


@dataclasses.dataclass(frozen=True)
class TokenizerInfo:
    path: str          # what was loaded (a tokenizer.json or the vocab file)
    vocab_size: int    # including added/special tokens
    eod_id: int
    eod_token: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _gpt2_bpe(vocab: str, merges: str) -> Tokenizer:
    tok = Tokenizer(models.BPE.from_file(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def _resolve(path: str) -> tuple[str, str | None]:
    """(main file, merges file or None) for a file or directory path."""
    if os.path.isdir(path):
        for name, merges in (("tokenizer.json", None), ("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
            main = os.path.join(path, name)
            if os.path.exists(main) and (merges is None or os.path.exists(os.path.join(path, merges))):
                return main, os.path.join(path, merges) if merges else None
        raise FileNotFoundError(f"{path}: no tokenizer.json, vocab.json+merges.txt or encoder.json+vocab.bpe")
    if not os.path.exists(path):
        raise FileNotFoundError(f"tokenizer not found: {path}")
    base = os.path.basename(path)
    if base in ("vocab.json", "encoder.json"):
        merges = os.path.join(os.path.dirname(path), "merges.txt" if base == "vocab.json" else "vocab.bpe")
        if not os.path.exists(merges):
            raise FileNotFoundError(f"{path}: GPT-2 BPE needs {os.path.basename(merges)} next to it")
        return path, merges
    return path, None


def find_eod(tok: Tokenizer, eod_token: str | None = None) -> tuple[int, str]:
    names = (eod_token,) if eod_token else EOD_CANDIDATES
    for name in names:
        tid = tok.token_to_id(name)
        if tid is not None:
            return tid, name
    raise ValueError(f"the tokenizer has no end-of-document token (looked for {', '.join(names)}); "
                     f"set eod_token to one of its special tokens")


def _configured_eos(main: str) -> str | None:
    """The eos_token of a transformers tokenizer_config.json next to the tokenizer, if any."""
    cfg = os.path.join(os.path.dirname(main), "tokenizer_config.json")
    try:
        with open(cfg, encoding="utf-8") as fh:
            eos = json.load(fh).get("eos_token")
    except (OSError, ValueError):
        return None
    if isinstance(eos, dict):
        eos = eos.get("content")
    return eos if isinstance(eos, str) else None


def load_tokenizer(path: str, eod_token: str | None = None) -> tuple[Tokenizer, TokenizerInfo]:
    """The tokenizer at `path` and its vocabulary size and end-of-document id."""
    if fs.is_url(path):
        return _load_remote(path, eod_token)
    main, merges = _resolve(path)
    tok = _gpt2_bpe(main, merges) if merges else Tokenizer.from_file(main)
    eod_token = eod_token or _configured_eos(main)
    eod_id, eod = find_eod(tok, eod_token)
    return tok, TokenizerInfo(path=os.path.abspath(main), vocab_size=tok.get_vocab_size(with_added_tokens=True),
                              eod_id=eod_id, eod_token=eod)


def _load_remote(url: str, eod_token: str | None) -> tuple[Tokenizer, TokenizerInfo]:
    """A tokenizer at a URL (e.g. trained into a run on an object store): its directory's files
    (a few MB) are copied to a temp dir and loaded from there; the info keeps the URL."""
    directory = url if fs.isdir(url) else fs.dirname(url)
    with tempfile.TemporaryDirectory(prefix="garden-tok-", dir=fs.staging_dir()) as tmp:
        for name in fs.listdir(directory):
            if fs.isfile(fs.join(directory, name)):
                with fs.local_copy(fs.join(directory, name)) as local:
                    shutil.copyfile(local, os.path.join(tmp, name))
        local_path = tmp if directory == url else os.path.join(tmp, url.rstrip("/").rsplit("/", 1)[-1])
        tok, info = load_tokenizer(local_path, eod_token)
    main = fs.join(directory, os.path.basename(info.path))
    return tok, dataclasses.replace(info, path=main)
