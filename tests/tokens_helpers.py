"""Shared by the token tests: the fixture corpus and one full pipeline run (filters → mix)."""
from __future__ import annotations

import gzip
import json
import os

from garden.api import run_recipe
from garden.recipe import recipe_from_dict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "tokens")
SOURCES = {"en": "en_fortunes.jsonl.gz", "zh": "zh_fortunes.jsonl.gz", "code": "code_python.jsonl.gz"}
WEIGHTS = {"en": 0.5, "zh": 0.3, "code": 0.2}


def inputs() -> list[dict]:
    return [{"path": os.path.join(FIXTURES, f), "source": s} for s, f in SOURCES.items()]


def read_fixture(source: str) -> list[dict]:
    with gzip.open(os.path.join(FIXTURES, SOURCES[source]), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def pipeline(vocab_size: int = 3000, extra: list | None = None) -> list[dict]:
    return [
        {"normalize": {}},
        {"length_filter": {"min_chars": 20}},
        {"exact_dedup": {}},
        {"train_tokenizer": {"vocab_size": vocab_size, "sample_docs": 900, "check_docs": 200,
                             "special_tokens": ["<|pad|>"]}},
        {"tokenize": {}},
        {"mix": {"weights": WEIGHTS, "total_tokens": 3e5, "max_epochs": 4, "split": "100,0,0"}},
        *(extra or []),
    ]


def run(out_dir: str, workers: int = 1, shard_size: str = "32MB", steps: list | None = None) -> dict:
    recipe = recipe_from_dict({"name": "tokens-test", "inputs": inputs(), "output": str(out_dir),
                               "workers": workers, "shard_size": shard_size, "pipeline": steps or pipeline()})
    return run_recipe(recipe)
