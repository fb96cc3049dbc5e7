"""The near-duplicate set of the dedup tests (tests/test_minhash_dedup.py, test_dedup_resume.py):
tests/neardup_set.py's generator over the small fixture pool in tests/fixtures/dedup."""
from __future__ import annotations

import gzip
import json
import os

import neardup_set

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "dedup", "pool.jsonl.gz")


def fixture_pool() -> list[str]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def neardup_records(groups: int = 60, distinct: int = 140, seed: int = 3) -> list[dict]:
    """Originals, exact and edited copies (with their measured Jaccard) and distinct documents."""
    return neardup_set.build_set(fixture_pool(), groups=groups, distinct=distinct, seed=seed)
