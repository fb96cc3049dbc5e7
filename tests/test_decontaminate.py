"""decontaminate: documents sharing a 13-token span with an eval set are dropped, naming the set."""
from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import run_garden, write_jsonl, write_recipe

pytestmark = pytest.mark.slow

QUESTION = ("Which planet in the solar system has the longest day measured against its own year, "
            "and why does it rotate backwards?")
PARQUET_ITEM = "The mitochondria is the powerhouse of the cell and it produces most of the chemical energy needed"
ZH_ITEM = "床前明月光疑是地上霜举头望明月低头思故乡这是李白的名作"
TXT_ITEM = "to be or not to be that is the question whether tis nobler in the mind to suffer"


def make_eval_files(tmp_path):
    qa = write_jsonl(tmp_path / "evals" / "planets_qa.jsonl",
                     [{"question": QUESTION, "answer": "Venus"}, {"question": "Short one?", "answer": "yes"}])
    pq.write_table(pa.table({"text": [PARQUET_ITEM]}), tmp_path / "evals" / "bio.parquet")
    (tmp_path / "evals" / "poems.txt").write_text(f"{ZH_ITEM}\n{TXT_ITEM}\n", encoding="utf-8")
    return [qa, str(tmp_path / "evals" / "bio.parquet"), str(tmp_path / "evals" / "poems.txt")]


def docs():
    filler = "Some ordinary text about gardening, soil and the weather this spring."
    words = QUESTION.split()
    return [
        {"id": "qa-copy", "text": f"{filler}\nQ: {QUESTION.upper().replace(',', ' ;')}\nA: Venus."},
        {"id": "qa-12", "text": f"{filler} {' '.join(words[:12])} and then something else entirely."},
        {"id": "bio", "text": f"Lecture notes. {PARQUET_ITEM}, as every student learns."},
        {"id": "zh", "text": f"今天我们读一首诗：{ZH_ITEM[:15]}。很美。"},
        {"id": "zh-short", "text": f"今天我们读一首诗：{ZH_ITEM[:12]}。"},
        {"id": "hamlet", "text": f"Famous line: '{TXT_ITEM}'."},
        {"id": "short-answer", "text": "Short one? yes"},
        {"id": "clean", "text": filler * 3},
    ]


def test_decontaminate_drops_matches_and_names_eval_set(tmp_path):
    evals = make_eval_files(tmp_path)
    inp = write_jsonl(tmp_path / "in.jsonl", docs())
    recipe = write_recipe(tmp_path, [{"decontaminate": {"eval_files": evals}}], [{"path": inp, "source": "s"}],
                          workers=2)
    run_garden("run", recipe)
    out = tmp_path / "out"
    kept = [r["id"] for f in sorted(os.listdir(out / "data")) for r in pq.read_table(out / "data" / f).to_pylist()]
    assert sorted(kept) == ["clean", "qa-12", "short-answer", "zh-short"]
    rejected = {r["id"]: r for f in sorted(os.listdir(out / "rejected" / "decontaminate"))
                for r in pq.read_table(out / "rejected" / "decontaminate" / f).to_pylist()}
    assert {k: v["matched_eval"] for k, v in rejected.items()} == {
        "qa-copy": "planets_qa", "bio": "bio", "zh": "poems", "hamlet": "poems"}
    assert rejected["qa-copy"]["reason"] == "decontaminate:contaminated:planets_qa"
    assert rejected["qa-copy"]["matched_span"].split()[0] in QUESTION.lower()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["ops"][0]["dropped"] == {"decontaminate:contaminated:bio": 1,
                                          "decontaminate:contaminated:planets_qa": 1,
                                          "decontaminate:contaminated:poems": 2}


def test_fields_select_what_counts_as_eval_text(tmp_path):
    evals = make_eval_files(tmp_path)
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": f"The answer is Venus. {QUESTION}"}])
    recipe = write_recipe(tmp_path, [{"decontaminate": {"eval_files": evals[:1], "fields": ["answer"]}}],
                          [{"path": inp, "source": "s"}])
    run_garden("run", recipe)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["kept_docs"] == 1  # only the one-word answers are eval text now: nothing spans 13 tokens


def test_missing_eval_file_is_a_recipe_error(tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}])
    recipe = write_recipe(tmp_path, [{"decontaminate": {"eval_files": [str(tmp_path / "nope.jsonl")]}}],
                          [{"path": inp, "source": "s"}])
    proc = run_garden("run", recipe, check=False)
    assert proc.returncode != 0 and "eval file not found" in proc.stdout + proc.stderr


def test_short_eval_items_must_appear_whole(tmp_path):
    item = "name the three primary colours of light in physics"  # 9 tokens: below 13, above min_ngram 8
    ev = write_jsonl(tmp_path / "short_qa.jsonl", [{"text": item}, {"text": "too short to count"}])
    words = item.split()
    inp = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "whole", "text": f"Quiz: {item.title()}? Red, green, blue."},
        {"id": "partial", "text": f"Quiz: {' '.join(words[:-1])} and chemistry."},
        {"id": "tiny", "text": "This is too short to count as contamination."},
    ])
    recipe = write_recipe(tmp_path, [{"decontaminate": {"eval_files": [ev]}}], [{"path": inp, "source": "s"}])
    run_garden("run", recipe)
    out = tmp_path / "out"
    kept = [r["id"] for f in sorted(os.listdir(out / "data")) for r in pq.read_table(out / "data" / f).to_pylist()]
    assert sorted(kept) == ["partial", "tiny"]
