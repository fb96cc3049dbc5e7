"""Bounded memory in n-gram counting: counts spilled to sorted runs on disk and merged by key ranges give
the same counts, and the same model bytes, as counting in memory."""
import gzip
import json
import os

import numpy as np
import pytest

from conftest import read_stats, run_garden, write_recipe
from garden.lm import NgramCounter, Normalizer, TokenSpec, TrainConfig, estimate_from_counter
from garden.lm.counting import merge_runs

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "lm")


def sentences() -> list[np.ndarray]:
    spec = TokenSpec("bytes")
    norm = Normalizer()
    with gzip.open(os.path.join(FIX, "zh_train.jsonl.gz"), "rt", encoding="utf-8") as fh:
        lines = [n for r in map(json.loads, fh) for n in (norm(x) for x in r["text"].split("\n")) if n]
    return list(spec.encode(lines[:400]))


def counted(sents, **kwargs) -> NgramCounter:
    counter = NgramCounter(4, TokenSpec("bytes").bos, TokenSpec("bytes").eos, **kwargs)
    for i in range(0, len(sents), 50):
        counter.add(sents[i:i + 50])
    return counter


def test_spilled_counts_equal_in_memory_counts_and_model_bytes(tmp_path):
    sents = sentences()
    memory, spilled = counted(sents), counted(sents, max_memory=64 * 1024, spill_dir=str(tmp_path))
    a, b = memory.finish(), spilled.finish()
    assert spilled.spilled_runs >= 3 and memory.spilled_runs == 0
    assert os.listdir(tmp_path) == []  # runs removed after the merge
    for x, y in zip(a, b):
        assert np.array_equal(x.keys, y.keys) and np.array_equal(x.tokens, y.tokens)
        assert np.array_equal(x.counts, y.counts)
    config = TrainConfig(order=4, normalizer=Normalizer())
    spec = TokenSpec("bytes")
    assert estimate_from_counter(memory, spec, config).to_bytes() == estimate_from_counter(spilled, spec, config).to_bytes()


def test_merge_by_key_ranges_equals_one_merge():
    sents = sentences()
    runs = [counted(sents[i:i + 100]).finish() for i in range(0, 400, 100)]
    whole = counted(sents).finish()
    for chunk in (7, 1000, 10**9):  # many key ranges, a few, one
        for x, y in zip(whole, merge_runs(runs, chunk_entries=chunk)):
            assert np.array_equal(x.keys, y.keys) and np.array_equal(x.counts, y.counts)
            assert np.array_equal(x.tokens, y.tokens)


@pytest.mark.slow
def test_train_lm_with_a_tiny_budget_writes_the_same_model(tmp_path):
    inputs = [{"path": os.path.join(FIX, "zh_train.jsonl.gz"), "source": "docs"}]
    for name, extra in (("mem", {}), ("spill", {"max_memory": "16KB"})):
        recipe = write_recipe(tmp_path, [{"train_lm": {"order": 3, **extra}}], inputs, output=name, workers=2,
                              shard_size="100KB")
        run_garden("run", recipe, "-q")
    one, two = (tmp_path / n / "lm" / "all" / "model.npz" for n in ("mem", "spill"))
    assert one.read_bytes() == two.read_bytes()
    spilled = next(o for o in read_stats(tmp_path / "spill")["ops"] if o["name"] == "train_lm")
    assert spilled["models"]["*"]["merge_spilled_runs"] > 0  # the budget really forced spills
    bad = write_recipe(tmp_path, [{"train_lm": {"max_memory": "10"}}], inputs, output="bad")
    proc = run_garden("validate", bad, check=False)
    assert proc.returncode == 2 and "max_memory" in proc.stderr
