"""trainer.restore.find_checkpoint / read_info, the one checkpoint finder behind `garden eval`,
`garden export` and `garden generate`, on hand-made checkpoint directories (no training, no
tensors: only the files the finder reads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer import checkpoint
from trainer.restore import RestoreError, find_checkpoint, read_info

pytestmark = pytest.mark.train

MODEL = {"preset": "tiny", "vocab_size": 256}


def _checkpoint(root: Path, iteration: int, latest: bool = True) -> Path:
    d = checkpoint.iter_dir(root, iteration)
    d.mkdir(parents=True)
    (d / checkpoint.STATE_FILE).write_text(json.dumps(
        {"iteration": iteration, "model": MODEL, "seq_len": 32, "blend": "/data/blend.json"}))
    if latest:
        (root / "latest").write_text(str(iteration))
    return d


def test_run_dir_follows_its_config_checkpoint_dir(tmp_path):
    """A run whose config.json keeps checkpoints elsewhere (checkpoint.dir) is found there."""
    elsewhere, run = tmp_path / "store" / "ckpts", tmp_path / "run"
    run.mkdir()
    _checkpoint(elsewhere, 1)
    want = _checkpoint(elsewhere, 2)
    (run / "config.json").write_text(json.dumps({"checkpoint": {"dir": str(elsewhere)}}))
    assert find_checkpoint(run) == want
    assert find_checkpoint(run, iteration=1) == checkpoint.iter_dir(elsewhere, 1)
    info = read_info(want)
    assert (info.iteration, info.seq_len, info.blend, info.model) == (2, 32, "/data/blend.json",
                                                                       MODEL)


def test_run_dir_checkpoints_dir_and_iter_dir_agree(tmp_path):
    run = tmp_path / "run"
    _checkpoint(run / "checkpoints", 1)
    want = _checkpoint(run / "checkpoints", 2)
    assert find_checkpoint(run) == find_checkpoint(run / "checkpoints") == find_checkpoint(want)
    assert read_info(want).run_dir == run
    with pytest.raises(RestoreError, match=r"no complete checkpoint for iteration 5 \(have: 1, 2\)"):
        find_checkpoint(run, iteration=5)
    with pytest.raises(RestoreError, match="is the checkpoint of iteration 2, not 1"):
        find_checkpoint(want, iteration=1)


def test_latest_naming_an_incomplete_checkpoint_is_named(tmp_path):
    root = tmp_path / "checkpoints"
    _checkpoint(root, 1)
    (root / "latest").write_text("3")  # a crash between the rename and `latest` never does this
    with pytest.raises(RestoreError, match=r"latest names iteration 3, which has no complete"):
        find_checkpoint(tmp_path)


def test_not_a_checkpoint_messages(tmp_path):
    with pytest.raises(RestoreError, match="no such run directory or checkpoint"):
        find_checkpoint(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RestoreError) as e:
        find_checkpoint(tmp_path)
    # the wording garden eval's and garden export's tests look for
    assert str(e.value).startswith(f"{tmp_path}: no checkpoint")
    assert "not a Garden training run or checkpoint" in str(e.value)
    (tmp_path / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    with pytest.raises(RestoreError, match="config.json: not a garden train config"):
        find_checkpoint(tmp_path)
    bad = _checkpoint(tmp_path / "other", 1)
    (bad / checkpoint.STATE_FILE).write_text("{truncated")
    with pytest.raises(RestoreError, match=r"trainer_state.json: unreadable \(JSONDecodeError"):
        read_info(bad)
