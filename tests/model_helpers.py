"""Fixtures for the model tests: a real (word-level) tokenizer matching trainer_helpers' token
ids, and short training runs of each layout, trained once per session and shared by
tests/test_eval.py, test_export.py, test_generate.py and test_lm_transformer.py (through the
`model_runs` fixture of tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from trainer_helpers import EOD, ROOT, make_blend, run_train, tiny_config

# 250 tokens (the trainer pads the model to 256 rows, so export must strip 6): "<|endoftext|>"
# = 0 (EOD, as in trainer_helpers), "t1".."t249" = ids 1..249; "t10 t11" encodes to [10, 11].
TOKENIZER_VOCAB = 250


def write_word_tokenizer(directory: Path) -> Path:
    """tokenizer.json + transformers config files, written the way the data side writes them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from operators.tokens import save_tokenizer_dir

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


# name -> (preset, layout overrides, processes).  Two iterations each, a checkpoint after each.
RUNS = {"tiny": ("tiny", (), 1), "tiny-moe": ("tiny-moe", (), 1),
        "tp2": ("tiny", ("parallel.tp=2",), 2), "pp2": ("tiny", ("parallel.pp=2",), 2)}


def runs_base(tmp_path_factory) -> Path:
    """Where trained runs live: the session's temp dir (shared by test_export.py and
    test_generate.py), or $GARDEN_TEST_MODEL_RUNS to keep them between local sessions."""
    return Path(os.environ.get("GARDEN_TEST_MODEL_RUNS") or
                tmp_path_factory.getbasetemp() / "model-runs")


class ModelRuns:
    """The session's trained runs under `base`, each trained on first use (`model_runs` fixture)."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def get(self, name: str) -> Path:
        return trained_run(self.base, name)

    @property
    def tokenizer_dir(self) -> Path:
        """The word-level tokenizer every run was trained with (written with the data)."""
        return self.base / "data" / "tokenizer"


def trained_run(base: Path, name: str) -> Path:
    """A short `garden train` of RUNS[name] under base (shared by the test modules of one
    session: a finished run is reused, not retrained)."""
    run_dir = base / name
    if (run_dir / "checkpoints" / "latest").exists():
        return run_dir
    blend = base / "data" / "blend.json"
    if not blend.exists():
        make_model_blend(base / "data")
    preset, layout, nproc = RUNS[name]
    (base / f"cfg-{name}").mkdir(parents=True, exist_ok=True)
    cfg = tiny_config(base / f"cfg-{name}", blend, model={"preset": preset},
                      training={"train_iters": 2}, checkpoint={"interval": 1})
    r = run_train(cfg, f"run_dir={run_dir}", *layout, nproc=nproc)
    assert r.returncode == 0, r.stdout + r.stderr
    return run_dir


def garden(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """`garden ARGS...` as a user runs it, without network access to any model hub."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1",
               PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "garden", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


_REFERENCE = """
import sys, torch
from trainer.restore import find_checkpoint, read_info, megatron_model
out, ids, steps, vocab = sys.argv[1], torch.load(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
res = {}
for run in sys.argv[5:]:
    model = megatron_model(read_info(find_checkpoint(run)), cuda=False)
    with torch.no_grad():
        logits = model(ids, torch.arange(ids.shape[1])[None].expand_as(ids), None)
        seq = ids[:1].clone()
        for _ in range(steps):  # greedy without a cache: the whole sequence every step
            nxt = model(seq, torch.arange(seq.shape[1])[None], None)[0, -1, :vocab].argmax()
            seq = torch.cat([seq, nxt.view(1, 1)], dim=1)
    res[run] = {"logits": logits, "greedy": seq[0, ids.shape[1]:].tolist()}
torch.save(res, out)
"""


def garden_reference(tmp: Path, runs: list[Path], ids, greedy_steps: int = 0) -> dict:
    """Garden's own forward: each run's checkpoint loaded into a TP1/PP1 megatron GPTModel by
    the trainer's checkpoint.load, in a child process (megatron's CPU bridge patches torch for
    the life of a process).  {run: {"logits": [b, s, padded vocab], "greedy": [ids after
    ids[0]]}}."""
    import torch

    ids_path, out = tmp / "ref-ids.pt", tmp / "ref-out.pt"
    torch.save(ids, ids_path)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    r = subprocess.run([sys.executable, "-c", _REFERENCE, str(out), str(ids_path),
                        str(greedy_steps), str(TOKENIZER_VOCAB), *map(str, runs)],
                       cwd=ROOT, capture_output=True,
                       text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return {Path(k): v for k, v in torch.load(out).items()}


def sample_tokens(batch: int = 2, length: int = 24, seed: int = 0):
    """Token ids like the training data (arithmetic runs inside source a's and b's ranges),
    starting with EOD as every document does."""
    import torch

    from trainer_helpers import RANGES

    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(batch):
        lo, hi = RANGES["ab"[i % 2]]
        start = int(torch.randint(0, hi - lo, (1,), generator=g))
        rows.append([EOD] + [lo + (start + 2 * j) % (hi - lo) for j in range(length - 1)])
    return torch.tensor(rows)
