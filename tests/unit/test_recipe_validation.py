"""Recipe validation (garden.recipe + garden.plan_check), in-process: each mistake is refused
before any work with one message that names the file, the line, the step and a fix."""
from __future__ import annotations

import pytest

from garden.plan_check import check_output_path
from garden.recipe import (MAX_FLOW_DEPTH, RecipeError, check_type, load_recipe, parse_size, read_yaml,
                           recipe_from_dict)


@pytest.fixture
def inp(tmp_path) -> str:
    path = tmp_path / "in" / "web.jsonl"
    path.parent.mkdir()
    path.write_text('{"id": "1", "text": "hello"}\n')
    return str(path)


def refused(tmp_path, inp: str, steps: list, **top) -> str:
    data = {"inputs": [{"path": inp, "source": "web"}], "output": str(tmp_path / "out"), "pipeline": steps, **top}
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(data, "r.yaml")
    return str(err.value)


def refused_file(tmp_path, inp: str, pipeline_yaml: str) -> tuple[str, str]:
    """A recipe written as text, steps from line 5, so that line numbers can be checked."""
    path = tmp_path / "r.yaml"
    path.write_text(f"name: t\ninputs: [{{path: {inp}, source: web}}]\noutput: {tmp_path / 'out'}\n"
                    f"pipeline:\n{pipeline_yaml}")
    with pytest.raises(RecipeError) as err:
        load_recipe(str(path))
    return str(path), str(err.value)


# -- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize("steps,message", [
    (["normalise"], "r.yaml: pipeline[0]: unknown operator 'normalise' (did you mean 'normalize'?)"),
    ([{"length_filter": {"min_char": 3}}],
     "r.yaml: pipeline[0]: unknown parameter of 'length_filter' 'min_char' (did you mean 'min_chars'?)"),
    ([{"length_filter": {"min_chars": "abc"}}], "r.yaml: pipeline[0]: length_filter.min_chars: expected int, got 'abc'"),
    ([{"sample": {"fraction": 1.5}}], "r.yaml: pipeline[0]: sample: fraction must be between 0 and 1"),
    ([{"normalize": {}}, {"length_filter": 3}],
     "r.yaml: pipeline[1]: parameters of 'length_filter' must be a mapping, got 3"),
    ([{"normalize": {}, "length_filter": {}}],
     "r.yaml: pipeline[0]: each step is a mapping with exactly one operator name (and optionally `sources: [...]`)"),
])
def test_bad_parameters(tmp_path, inp, steps, message):
    assert refused(tmp_path, inp, steps) == message


def test_bounds_that_let_nothing_pass_are_refused(tmp_path, inp):
    message = refused(tmp_path, inp, [{"length_filter": {"min_chars": 500, "max_chars": 100}}])
    assert message.startswith("r.yaml: pipeline[0]: length_filter: min_chars (500) is greater than max_chars (100)")
    assert message.endswith(": no document can pass")


def test_a_parameter_error_names_the_parameters_own_line(tmp_path, inp):
    path, message = refused_file(tmp_path, inp, "  - normalize: {}\n  - length_filter:\n      min_words: 2\n"
                                                "      max_chars: nope\n")
    assert message == f"{path}:8: pipeline[1]: length_filter.max_chars: expected int | null, got 'nope'"


def test_numbers_written_as_yaml_strings_are_coerced_losslessly():
    assert check_type("2e3", int, "w") == 2000 and check_type(3.0, int, "w") == 3
    assert check_type("1e-3", float, "w") == 0.001
    with pytest.raises(RecipeError, match="w: expected int, got 2.5"):
        check_type(2.5, int, "w")
    with pytest.raises(RecipeError, match="w: expected int, got True"):
        check_type(True, int, "w")
    assert check_type({"a": "1"}, dict[str, float], "w") == {"a": 1.0}
    with pytest.raises(RecipeError, match=r"w\[1\]: expected str"):
        check_type(["a", 2], list[str], "w")


@pytest.mark.parametrize("text,size", [("32MB", 32 << 20), ("1GiB", 1 << 30), ("24KB", 24 << 10), (4096, 4096),
                                       (1e6, 10**6), ("512", 512), ("1.5KB", 1536)])
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_parse_size_refuses_booleans_and_words():
    with pytest.raises(ValueError):
        parse_size(True)
    with pytest.raises(ValueError):
        parse_size("lots")


# -- order and sources -------------------------------------------------------------------------
@pytest.mark.parametrize("steps,message", [
    ([{"tokenize": {}}],
     "r.yaml: pipeline[0]: tokenize: reads tokenizer/ of a `train_tokenizer` step, but no `train_tokenizer` comes "
     "before it: put `train_tokenizer` earlier in the pipeline or set tokenizer: PATH"),
    ([{"train_tokenizer": {"vocab_size": 300}}, {"mix": {"weights": {"web": 1}}}],
     "r.yaml: pipeline[1]: mix: reads tokens.json of a `tokenize` step, but no `tokenize` comes before it: "
     "put `tokenize` earlier in the pipeline or set tokens: PATH"),
    ([{"train_tokenizer": {"vocab_size": 300}}, {"tokenize": {}}, {"mix": {"weights": {"wbe": 1}}}],
     "r.yaml: pipeline[2]: mix: weights: unknown source 'wbe' (did you mean 'web'?); the inputs' sources: web"),
    ([{"normalize": {}, "sources": ["webb"]}], "r.yaml: pipeline[0]: unknown source 'webb' (did you mean 'web'?)"),
    ([{"exact_dedup": {}, "sources": ["web"]}],
     "r.yaml: pipeline[0]: `sources` applies to mappers and filters; 'exact_dedup' is global"),
])
def test_order_and_source_mistakes(tmp_path, inp, steps, message):
    assert refused(tmp_path, inp, steps) == message


def test_the_right_order_is_accepted(tmp_path, inp):
    data = {"inputs": [{"path": inp, "source": "web"}], "output": str(tmp_path / "out"),
            "pipeline": [{"train_tokenizer": {"vocab_size": 300}}, {"tokenize": {}}, {"mix": {"weights": {"web": 1}}}]}
    assert [op.name for op in recipe_from_dict(data).pipeline] == ["train_tokenizer", "tokenize", "mix"]


# -- language codes ----------------------------------------------------------------------------
@pytest.mark.parametrize("keep,fragment", [
    (["english"], "'english' is not a language code of the language model (did you mean 'en'?)"),
    (["zh-cn", "deutsch"], "'deutsch' is not a language code of the language model (did you mean 'de'?)"),
])
def test_language_names_are_refused_with_a_code(tmp_path, inp, keep, fragment):
    message = refused(tmp_path, inp, [{"language": {"keep": keep}}])
    assert message.startswith("r.yaml: pipeline[0]: language: keep: ") and fragment in message
    assert "use ISO 639-1 codes" in message


def test_bcp47_tags_are_accepted_as_written(tmp_path, inp):
    data = {"inputs": [{"path": inp, "source": "web"}], "output": str(tmp_path / "out"),
            "pipeline": [{"language": {"keep": ["en-US", "zh-Hans", "EN"]}}]}
    assert recipe_from_dict(data).pipeline[0].params["keep"] == ["en-US", "zh-Hans", "EN"]  # the lock file keeps them


# -- output paths ------------------------------------------------------------------------------
@pytest.mark.parametrize("value,fragment", [
    ("../x", "output_dir '../x' is not inside the run folder (it writes outside it): give a folder name inside it, "
             "e.g. output_dir: x"),
    ("/abs/tokens", "output_dir '/abs/tokens' is not inside the run folder: give a path relative to the run folder"),
    (".", "writes into the run folder itself"),
    ("data", "output_dir 'data' is where Garden writes its own data: choose another name"),
    ("quarantine/t", "is where Garden writes its own quarantine"),
    ("tokenizer", "writes tokenizer in the run folder, as pipeline[0] `train_tokenizer` does"),
])
def test_output_folder_parameters(tmp_path, inp, value, fragment):
    message = refused(tmp_path, inp, [{"train_tokenizer": {"vocab_size": 300}}, {"tokenize": {"output_dir": value}}])
    assert message.startswith("r.yaml: pipeline[1]: tokenize: ") and fragment in message


def test_two_steps_writing_the_same_file(tmp_path, inp):
    message = refused(tmp_path, inp, [{"train_tokenizer": {"vocab_size": 300}}, {"train_tokenizer": {"vocab_size": 400}}])
    assert message == ("r.yaml: pipeline[1]: train_tokenizer: writes tokenizer in the run folder, as pipeline[0] "
                       "`train_tokenizer` does: the second would replace the first; keep one `train_tokenizer` step")


def test_output_folder_that_would_lose_the_inputs(tmp_path, inp):
    parent = str(tmp_path / "in")
    assert refused(tmp_path, inp, [], output=parent) == (
        f"r.yaml: output '{parent}' holds the input '{inp}'; writing there could overwrite or delete it: give a "
        f"folder of its own, e.g. {parent}/garden-run")
    assert f"output '{inp}' is the input '{inp}'" in refused(tmp_path, inp, [], output=inp)
    assert refused(tmp_path, inp, [], output="/") == "r.yaml: output '/' is the root folder; give a folder for this run"
    assert refused(tmp_path, inp, [], output=None) == \
        "r.yaml: output must be a folder path or URL, got null (YAML ~ or an empty value)"


def test_output_path_check_resolves_links_and_compares_urls_by_prefix(tmp_path, inp):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "in")
    with pytest.raises(RecipeError, match="is the input"):
        check_output_path(str(link), [str(tmp_path / "in")])
    with pytest.raises(RecipeError, match="holds the input"):
        check_output_path("s3://bucket/run", ["s3://bucket/run/in/a.jsonl"])
    assert check_output_path("s3://bucket/run2", ["s3://bucket/run/in/a.jsonl"]) == "s3://bucket/run2"
    assert check_output_path(str(tmp_path / "out"), [inp]) == str(tmp_path / "out")


# -- top level and YAML ------------------------------------------------------------------------
@pytest.mark.parametrize("top,message", [
    ({"workerz": 3}, "r.yaml: unknown recipe key 'workerz' (did you mean 'workers'?)"),
    ({"output_format": "csv"}, "r.yaml: output_format must be one of parquet, jsonl, jsonl.gz, jsonl.zst, got 'csv'"),
    ({"workers": 0}, "r.yaml: workers, shard_size, batch_size and max_record_bytes must be positive"),
    ({"workers": 10**6}, "r.yaml: workers must be at most 4,096, got 1,000,000"),
    ({"pipeline": "normalize"}, "r.yaml: 'pipeline' must be a list of {op_name: {params}}"),
    ({"inputs": []}, "r.yaml: 'inputs' must be a non-empty list of {path, source}"),
])
def test_top_level_mistakes(tmp_path, inp, top, message):
    steps = top.pop("pipeline", [])
    assert refused(tmp_path, inp, steps, **top) == message


def test_missing_input_files_are_named(tmp_path):
    missing = str(tmp_path / "nothing" / "*.jsonl")
    assert refused(tmp_path, missing, []) == f"r.yaml: inputs[0]: no input file matches '{missing}'"
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert refused(tmp_path, str(other), []) == \
        f"r.yaml: inputs[0]: '{other}' is not .jsonl, .jsonl.gz, .jsonl.zst or .parquet"


def test_yaml_bombs_and_deep_nesting_are_refused_before_expansion():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, n in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(RecipeError, match="expands to more than 1,000,000 values through YAML aliases"):
        read_yaml("bomb.yaml", bomb)
    deep = "x: " + "[" * (MAX_FLOW_DEPTH + 1) + "]" * (MAX_FLOW_DEPTH + 1) + "\n"
    with pytest.raises(RecipeError, match="nested too deeply"):
        read_yaml("deep.yaml", deep)
    with pytest.raises(RecipeError, match=r"self\.yaml:1: a YAML alias refers to itself"):
        read_yaml("self.yaml", "a: &a [1, *a]\n")
    data, lines = read_yaml("ok.yaml", "name: t\npipeline:\n  - normalize: {}\n  - length_filter:\n      min_chars: 3\n")
    assert data["pipeline"][1] == {"length_filter": {"min_chars": 3}}
    assert lines.keys == {"name": 1, "pipeline": 2} and lines.steps == [3, 4]
    assert lines.params == [{}, {"min_chars": 5}]


def test_invalid_yaml_and_a_non_mapping_recipe(tmp_path):
    with pytest.raises(RecipeError, match="bad.yaml: invalid YAML"):
        read_yaml("bad.yaml", "a: [1, 2\n")
    with pytest.raises(RecipeError, match="r.yaml: a recipe is a mapping with name, inputs, output, pipeline"):
        recipe_from_dict(["not", "a", "mapping"], "r.yaml")
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RecipeError, match=r"binary.yaml: not UTF-8 text \(byte 0\)"):
        load_recipe(str(path))
