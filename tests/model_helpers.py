"""Fixtures for export/generate tests: a real (word-level) tokenizer matching trainer_helpers'
token ids, and short training runs of each layout, shared by tests/test_export.py and
tests/test_generate.py."""

from __future__ import annotations

import json
from pathlib import Path

from trainer_helpers import EOD, make_blend, run_train, tiny_config

# 250 tokens (the trainer pads the model to 256 rows, so export must strip 6): "<|endoftext|>"
# = 0 (EOD, as in trainer_helpers), "t1".."t249" = ids 1..249; "t10 t11" encodes to [10, 11].
TOKENIZER_VOCAB = 250


def write_word_tokenizer(directory: Path) -> Path:
    """tokenizer.json + transformers config files, written the way the data side writes them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from operators._tok_train import save_tokenizer_dir

    vocab = {"<|endoftext|>": EOD, **{f"t{i}": i for i in range(1, TOKENIZER_VOCAB)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    tok.add_special_tokens(["<|endoftext|>"])
    directory.mkdir(parents=True, exist_ok=True)
    return Path(save_tokenizer_dir(tok, str(directory), "<|endoftext|>", [], model_max_length=32))


def make_model_blend(root: Path) -> Path:
    """trainer_helpers' two-source blend, with a real tokenizer of 250 tokens."""
    blend = make_blend(root, [{"name": "main", "tokens": 10**6, "weights": {"a": 0.5, "b": 0.5}}],
                       docs=100)
    write_word_tokenizer(root / "tokenizer")
    raw = json.loads(blend.read_text())
    raw["tokenizer"].update(vocab_size=TOKENIZER_VOCAB, eod_token="<|endoftext|>")
    blend.write_text(json.dumps(raw, indent=1))
    return blend


def train_run(tmp: Path, blend: Path, name: str, preset: str = "tiny", layout: tuple = (),
              nproc: int = 1, iters: int = 3) -> Path:
    """A short `garden train` of one preset and layout; returns its run directory."""
    cfg = tiny_config(tmp, blend, model={"preset": preset}, training={"train_iters": iters})
    run_dir = tmp / name
    r = run_train(cfg, f"run_dir={run_dir}", *layout, nproc=nproc)
    assert r.returncode == 0, r.stdout + r.stderr
    return run_dir
