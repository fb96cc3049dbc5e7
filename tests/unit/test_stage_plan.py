"""The execution plan (garden.executor.plan): how a pipeline is cut into stages, and how each
stage's fingerprint chains from the one before, so that a change invalidates exactly the stage
it touches and every stage after it (resume reuses the ones before)."""
from __future__ import annotations

import os

import pyarrow as pa
import pytest

from garden.executor.plan import BASE_SCHEMA, RunPaths, build_plan, op_label, referenced_files, reject_schema
from garden.recipe import recipe_from_dict


def recipe(tmp_path, pipeline: list, **top):
    data = {"name": "t", "inputs": [{"path": str(tmp_path / "in" / "*.jsonl"), "source": "web"}],
            "output": str(tmp_path / "out"), "pipeline": pipeline, **top}
    return recipe_from_dict(data, check_inputs=False)


def shape(stages) -> list[tuple]:
    return [(s.dir_name, [o.name for o in s.ops], s.apply_op.name if s.apply_op else None, s.final)
            for s in stages]


def fingerprints(tmp_path, pipeline: list, input_fp: str = "inputs-1", **top) -> list[str]:
    return [s.fingerprint for s in build_plan(recipe(tmp_path, pipeline, **top), input_fp)]


PIPELINE = [{"normalize": {}}, {"length_filter": {"min_chars": 10}}, {"exact_dedup": {}},
            {"sample": {"fraction": 0.5}}, {"minhash_dedup": {}}, {"length_filter": {"min_chars": 20}}]


# -- stage chaining ----------------------------------------------------------------------------
def test_mappers_and_filters_fuse_and_a_global_op_is_a_barrier_whose_apply_opens_the_next_stage(tmp_path):
    stages = build_plan(recipe(tmp_path, PIPELINE), "fp")
    assert shape(stages) == [
        ("s00-stream", ["normalize", "length_filter"], None, False),
        ("s01-exact_dedup", ["exact_dedup"], None, False),
        ("s02-stream", ["sample"], "exact_dedup", False),
        ("s03-minhash_dedup", ["minhash_dedup"], None, False),
        ("s04-stream", ["length_filter"], "minhash_dedup", True),
    ]
    assert [s.index for s in stages] == list(range(5))
    assert [s.kind for s in stages] == ["stream", "global", "stream", "global", "stream"]
    # the apply of the global op runs first in the stage after it
    assert [o.name for o in stages[2].all_ops()] == ["exact_dedup", "sample"]
    assert [o.index for o in stages[4].all_ops()] == [4, 5]


def test_a_pipeline_that_starts_with_a_global_op_reads_the_inputs_in_an_empty_stream_stage(tmp_path):
    stages = build_plan(recipe(tmp_path, [{"exact_dedup": {}}]), "fp")
    assert shape(stages) == [("s00-stream", [], None, False), ("s01-exact_dedup", ["exact_dedup"], None, False),
                             ("s02-stream", [], "exact_dedup", True)]


def test_a_global_op_without_apply_leaves_the_last_stream_stage_final(tmp_path):
    stages = build_plan(recipe(tmp_path, [{"normalize": {}}, {"train_tokenizer": {"vocab_size": 300}}]), "fp")
    assert shape(stages) == [("s00-stream", ["normalize"], None, True),
                             ("s01-train_tokenizer", ["train_tokenizer"], None, False)]


def test_only_filters_is_one_final_stage(tmp_path):
    stages = build_plan(recipe(tmp_path, [{"normalize": {}}]), "fp")
    assert shape(stages) == [("s00-stream", ["normalize"], None, True)]


def test_stream_schema_accumulates_the_columns_its_ops_and_earlier_stages_add(tmp_path):
    stages = build_plan(recipe(tmp_path, [{"language": {}}, {"line_dedup": {}}, {"normalize": {}}]), "fp")
    language, line_dedup = (s.ops[0].cls for s in stages[:2])
    assert {"lang", "lang_score"} <= set(language.outputs) and "removed_lines" in line_dedup.outputs
    assert stages[0].schema.names == BASE_SCHEMA.names + list(language.outputs)
    assert stages[0].schema.field("lang_score").type == language.outputs["lang_score"] == pa.float32()
    # line_dedup's apply adds removed_lines in the stage after it, on top of what came before
    assert stages[2].schema.names == BASE_SCHEMA.names + list(language.outputs) + ["removed_lines"]
    rejected = reject_schema(stages[2], stages[2].apply_op)
    assert rejected.names == stages[2].schema.names + ["reason"]


def test_op_label_suffixes_only_repeated_ops(tmp_path):
    r = recipe(tmp_path, PIPELINE)
    assert [op_label(o, r) for o in r.pipeline] == ["normalize", "length_filter-1", "exact_dedup", "sample",
                                                    "minhash_dedup", "length_filter-5"]


def test_run_paths(tmp_path):
    stages = build_plan(recipe(tmp_path, PIPELINE), "fp")
    paths = RunPaths(str(tmp_path / "out"))
    assert paths.stage_dir(stages[1]) == os.path.join(str(tmp_path / "out"), "_work", "s01-exact_dedup")
    assert paths.rejected_dir("length_filter-1") == os.path.join(str(tmp_path / "out"), "rejected", "length_filter-1")
    assert paths.data == os.path.join(str(tmp_path / "out"), "data")


# -- fingerprints ------------------------------------------------------------------------------
def test_fingerprints_are_deterministic_and_distinct(tmp_path):
    a = fingerprints(tmp_path, PIPELINE)
    assert a == fingerprints(tmp_path, PIPELINE)
    assert len(set(a)) == len(a) and all(len(f) == 16 for f in a)


@pytest.mark.parametrize("step,param,value,first_changed", [
    (1, "min_chars", 11, 0),          # a filter of the first stage: everything
    (3, "fraction", 0.4, 2),          # the stream stage after exact_dedup, and what follows
    (4, "threshold", 0.9, 3),         # a global op: itself and after, not the stages before
    (5, "min_chars", 21, 4),          # the last stage only
])
def test_a_changed_parameter_invalidates_its_stage_and_every_later_one(tmp_path, step, param, value, first_changed):
    before = fingerprints(tmp_path, PIPELINE)
    changed = [dict(e) for e in PIPELINE]
    (name, params), = changed[step].items()
    changed[step] = {name: {**params, param: value}}
    after = fingerprints(tmp_path, changed)
    assert after[:first_changed] == before[:first_changed]
    assert all(a != b for a, b in zip(after[first_changed:], before[first_changed:]))


def test_inputs_batch_size_and_record_limit_invalidate_every_stage(tmp_path):
    base = fingerprints(tmp_path, PIPELINE)
    for other in (fingerprints(tmp_path, PIPELINE, input_fp="inputs-2"),
                  fingerprints(tmp_path, PIPELINE, batch_size=1000),
                  fingerprints(tmp_path, PIPELINE, max_record_bytes="1MB")):
        assert all(a != b for a, b in zip(base, other))


def test_workers_and_shard_size_change_no_fingerprint(tmp_path):
    """Outputs do not depend on them, so a resume with more workers reuses every stage."""
    base = fingerprints(tmp_path, PIPELINE)
    assert fingerprints(tmp_path, PIPELINE, workers=7) == base
    assert fingerprints(tmp_path, PIPELINE, shard_size="1MB") == base


def test_output_format_invalidates_only_the_final_stage(tmp_path):
    pipeline = [{"normalize": {}}, {"exact_dedup": {}}, {"sample": {"fraction": 0.5}}]
    base = fingerprints(tmp_path, pipeline)
    other = fingerprints(tmp_path, pipeline, output_format="jsonl")
    assert other[:-1] == base[:-1] and other[-1] != base[-1]


def test_step_sources_are_part_of_the_fingerprint(tmp_path):
    two = [{"path": str(tmp_path / "a.jsonl"), "source": "a"}, {"path": str(tmp_path / "b.jsonl"), "source": "b"}]
    base = fingerprints(tmp_path, [{"normalize": {}}], inputs=two)
    scoped = fingerprints(tmp_path, [{"normalize": {}, "sources": ["a"]}], inputs=two)
    assert base != scoped


def test_editing_a_file_a_parameter_names_invalidates_that_stage_and_later_ones(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("spam\neggs\n")
    pipeline = [{"normalize": {}}, {"exact_dedup": {}}, {"blocklist": {"words_file": str(words)}}]
    before = fingerprints(tmp_path, pipeline)
    assert referenced_files({"words_file": str(words)}) == [f"{words}:{_fp(words)}"]
    words.write_text("spam\nham!\n")  # same size
    os.utime(words, ns=(1, 1))
    after = fingerprints(tmp_path, pipeline)
    assert after[:2] == before[:2] and after[2] != before[2]


def test_referenced_files_looks_inside_lists_and_dicts_and_ignores_non_files(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a")
    b.write_text("b")
    found = referenced_files({"eval_files": [str(a)], "nested": {"x": str(b)}, "mode": "replace",
                              "n": 3, "missing": str(tmp_path / "nope.txt"), "url": "nosuchscheme://bucket/x"})
    assert [f.rsplit(":", 4)[0] for f in found] == [str(a), str(b)]
    assert referenced_files({"files": str(tmp_path / "*.txt")}) == found


def _fp(path) -> str:
    from garden.io.identity import sampled_fingerprint

    return sampled_fingerprint(str(path))
