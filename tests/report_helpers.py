"""The small real run behind the run-report tests (tests/test_report_run.py and
tests/test_report_browser.py): near-duplicate copies, a broken line, four dropping operators."""
from __future__ import annotations

import json
import os

from garden import registry
from garden.api import run_recipe
from garden.recipe import recipe_from_dict

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "analysis")
EN = os.path.join(FIX, "en_fortunes_150.jsonl")
ZH = os.path.join(FIX, "zh_fortunes_100.jsonl")


def read_docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def long_docs() -> list[dict]:
    """Twelve English documents long enough that one added word keeps Jaccard above 0.7."""
    return [d for d in read_docs(EN) if 300 < len(d["text"]) < 1200][:12]


def make_run(tmp: str) -> tuple[str, dict]:
    """A small real run: near-duplicate copies, a broken line, four dropping operators.

    The pipeline is the same on every machine: the language operator is part of Garden, and a
    machine where it does not load fails here, naming why, instead of testing another report."""
    assert "language" in registry.all_operators(), \
        f"the language operator did not load: {registry.UNAVAILABLE.get('language', 'unknown reason')}"
    copies = os.path.join(tmp, "copies.jsonl")
    with open(copies, "w", encoding="utf-8") as fh:
        for doc in long_docs():
            fh.write(json.dumps({**doc, "id": doc["id"] + "#copy", "text": doc["text"] + " Indeed."}) + "\n")
        fh.write("this line is not JSON\n")
    pipeline = [{"normalize": {}}, {"language": {}}, {"length_filter": {"min_chars": 60}},
                {"minhash_dedup": {"threshold": 0.7}}, {"length_filter": {"max_lines": 12}}]
    recipe = recipe_from_dict({"name": "report-test", "workers": 1, "output": os.path.join(tmp, "run"),
                               "inputs": [{"path": EN, "source": "en"}, {"path": ZH, "source": "zh"},
                                          {"path": copies, "source": "copies"}],
                               "pipeline": pipeline})
    stats = run_recipe(recipe)
    return recipe.output, stats
