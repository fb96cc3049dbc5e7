"""Whole-recipe validation (issue 12, point 9): every mistake fails in `garden validate` and before
`garden run` does any work, naming file, line and a fix; a step that leaves no documents stops the
run with stats.json and report.html that name it."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml
from click.testing import CliRunner

from conftest import GARDEN, run_garden, write_jsonl
from garden.cli import main
from garden.plan_check import check_output_path
from garden.recipe import InputSpec, RecipeError, load_recipe, recipe_from_dict

DOCS = [{"id": str(i), "text": f"The quick brown fox number {i} jumps over the lazy dog near the river."}
        for i in range(30)]


@pytest.fixture
def inp(tmp_path):
    """in/web.jsonl (returned) and in/code.jsonl beside it, 30 documents each."""
    write_jsonl(tmp_path / "in" / "code.jsonl", [{**d, "id": f"c{d['id']}"} for d in DOCS])
    return write_jsonl(tmp_path / "in" / "web.jsonl", DOCS)


def recipe_file(tmp_path, pipeline_yaml: str, inp: str, output: str | None = None, name: str = "r.yaml") -> str:
    """A recipe written by hand (steps from line 7), so that line numbers in messages can be checked."""
    out = output if output is not None else str(tmp_path / "out")
    code = os.path.join(os.path.dirname(inp), "code.jsonl")
    text = (f"name: t\ninputs:\n  - {{path: {inp}, source: web}}\n  - {{path: {code}, source: code}}\n"
            f"output: {out}\npipeline:\n{pipeline_yaml}")
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def refused(path: str, *fragments: str) -> str:
    """`garden validate` and `garden run` (the CLI, in-process) both refuse with the same message
    before any output exists."""
    v = CliRunner().invoke(main, ["validate", path])
    assert v.exit_code == 2, v.output
    for fragment in fragments:
        assert fragment in v.stderr, (fragment, v.stderr)
    out = yaml.safe_load(open(path).read()).get("output")
    before = _tree(out)
    r = CliRunner().invoke(main, ["run", path, "-q"])
    assert r.exit_code == 2 and r.stderr == v.stderr
    assert _tree(out) == before  # no work was started: nothing created, nothing removed
    return v.stderr


def _tree(folder) -> list | None:
    if not isinstance(folder, str) or not os.path.exists(folder):
        return None
    if os.path.isfile(folder):
        return [os.path.getsize(folder)]
    return sorted((d, sorted(f)) for d, _, f in os.walk(folder))


def test_mix_weight_with_unknown_source_names_line_and_suggests(tmp_path, inp):
    path = recipe_file(tmp_path, "  - train_tokenizer: {vocab_size: 300}\n  - tokenize: {}\n"
                                 "  - mix:\n      weights: {web: 0.7, cdoe: 0.3}\n", inp)
    refused(path, f"{path}:10: pipeline[2]", "unknown source 'cdoe' (did you mean 'code'?)", "code, web")


def test_curriculum_phase_with_unknown_source(tmp_path, inp):
    path = recipe_file(tmp_path, "  - train_tokenizer: {vocab_size: 300}\n  - tokenize: {}\n"
                                 "  - curriculum:\n      phases:\n        - {name: a, tokens: 100, weights: {web: 1}}\n"
                                 "        - {name: b, tokens: 100, weights: {books: 1}}\n", inp)
    refused(path, "phases[1] (b) weights: unknown source 'books'")


def test_blend_sources_are_checked_against_a_given_tokens_json(tmp_path, inp):
    manifest = tmp_path / "prev" / "tokens.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"version": 1, "sources": {"wiki": {"prefix": "tokens/wiki", "tokens": 10}}}))
    path = recipe_file(tmp_path, f"  - mix: {{tokens: {manifest}, weights: {{wikki: 1}}}}\n", inp)
    refused(path, "unknown source 'wikki' (did you mean 'wiki'?)", f"the sources in {manifest}")
    ok = recipe_file(tmp_path, f"  - mix: {{tokens: {manifest}, weights: {{wiki: 1}}}}\n", inp, name="ok.yaml")
    assert load_recipe(ok).pipeline[0].params["weights"] == {"wiki": 1}  # no tokenize needed with a path


def test_steps_that_need_an_earlier_step(tmp_path, inp):
    path = recipe_file(tmp_path, "  - length_filter: {min_chars: 3}\n  - mix: {weights: {web: 1}}\n", inp)
    refused(path, f"{path}:8: pipeline[1]", "no `tokenize` comes before it", "set tokens: PATH")
    path = recipe_file(tmp_path, "  - tokenize: {}\n  - train_tokenizer: {vocab_size: 300}\n", inp)
    refused(path, f"{path}:7: pipeline[0]", "tokenize: reads tokenizer/ of a `train_tokenizer` step")


def test_mix_and_curriculum_in_one_recipe(tmp_path, inp):
    path = recipe_file(tmp_path, "  - train_tokenizer: {vocab_size: 300}\n  - tokenize: {}\n"
                                 "  - mix: {weights: {web: 1}}\n"
                                 "  - curriculum: {phases: [{name: a, tokens: 10, weights: {web: 1}}]}\n", inp)
    refused(path, f"{path}:10: pipeline[3]", "writes blend.json", "pipeline[2] `mix` (line 9)", "keep one of them")


def test_two_tokenize_steps_would_overwrite_tokens_json(tmp_path, inp):
    path = recipe_file(tmp_path, "  - train_tokenizer: {vocab_size: 300}\n  - tokenize: {}\n"
                                 "  - tokenize: {output_dir: tokens2}\n", inp)
    refused(path, "pipeline[2]", "writes tokens.json", "keep one `tokenize` step")


@pytest.mark.parametrize("value,fragment", [
    ("../../x", "'../../x' is not inside the run folder (it writes outside it)"),
    ("tokens/../../x", "is not inside the run folder"),
    ("/tmp/elsewhere", "'/tmp/elsewhere' is not inside the run folder"),
    ("~/x", "is not inside the run folder"),
    (".", "writes into the run folder itself"),
    ("data", "where Garden writes its own data"),
    ("_work/tok", "where Garden writes its own _work"),
])
def test_output_folder_parameters_stay_inside_the_run_folder(tmp_path, inp, value, fragment):
    path = recipe_file(tmp_path, f"  - train_tokenizer: {{vocab_size: 300}}\n  - tokenize:\n"
                                 f"      threads: 1\n      output_dir: '{value}'\n", inp)
    refused(path, f"{path}:10: pipeline[1]", "tokenize: output_dir", fragment)  # the parameter's own line


def test_min_greater_than_max_is_refused_for_every_pair(tmp_path, inp):
    path = recipe_file(tmp_path, "  - length_filter:\n      min_chars: 500\n      max_chars: 100\n", inp)
    refused(path, f"{path}:8: pipeline[0]", "min_chars (500) is greater than max_chars (100)")
    path = recipe_file(tmp_path, "  - gopher_quality: {min_mean_word_length: 8, max_mean_word_length: 4}\n", inp)
    refused(path, "min_mean_word_length (8) is greater than max_mean_word_length (4)")
    # equal bounds and one side off (null) are fine
    ok = recipe_file(tmp_path, "  - length_filter: {min_chars: 100, max_chars: 100, min_words: 5, max_words: null}\n",
                     inp, name="ok.yaml")
    assert load_recipe(ok).pipeline[0].params["max_chars"] == 100


@pytest.mark.parametrize("step,fragment", [
    ("train_tokenizer: {vocab_size: 1e12}", "vocab_size must be between 256 and 4,194,304, got 1e+12"),
    ("train_tokenizer: {vocab_size: 100}", "vocab_size must be between 256"),
    ("length_filter: {min_chars: -5}", "min_chars must be >= 0, got -5"),
    ("sample: {fraction: 1.5}", "fraction must be between 0 and 1"),
    ("gopher_repetition: {dup_ngram_char_frac: {5: 1.5}}", "dup_ngram_char_frac must be between 0 and 1, got 1.5"),
    ("tokenize: {tokenizer: x.json, valid_fraction: -0.1}", "valid_fraction must be between 0 and 1"),
    ("line_dedup: {max_docs: 0}", "max_docs must be >= 1"),
])
def test_parameter_bounds(tmp_path, inp, step, fragment):
    path = recipe_file(tmp_path, f"  - {step}\n", inp)
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert f"{path}:7: pipeline[0]" in str(err.value) and fragment in str(err.value)


def test_vocab_size_1e12_fails_in_validate_not_in_rust(tmp_path, inp):
    path = recipe_file(tmp_path, "  - train_tokenizer: {vocab_size: 1e12}\n", inp)
    refused(path, "vocab_size must be between 256 and 4,194,304")  # was: Rust allocation abort, exit 134


def test_top_level_sizes_are_bounded(tmp_path, inp):
    with pytest.raises(RecipeError, match="workers must be at most 4,096"):
        recipe_from_dict({"inputs": [inp], "output": str(tmp_path / "o"), "pipeline": [], "workers": 1e6})
    with pytest.raises(RecipeError, match="batch_size must be at most 1,000,000"):
        recipe_from_dict({"inputs": [inp], "output": str(tmp_path / "o"), "pipeline": [], "batch_size": "1e9"})


# -- language codes ----------------------------------------------------------------------------
def test_language_names_are_refused_with_a_code_suggestion(tmp_path, inp):
    path = recipe_file(tmp_path, "  - language:\n      keep: [zh-cn, english]\n", inp)
    refused(path, f"{path}:8: pipeline[0]", "'english' is not a language code of the language model",
            "(did you mean 'en'?)")
    path = recipe_file(tmp_path, "  - language: {keep: [deutsch]}\n", inp)
    refused(path, "(did you mean 'de'?)")
    path = recipe_file(tmp_path, "  - language: {keep: [klingon]}\n", inp)
    assert "did you mean" not in refused(path, "'klingon' is not a language code")


def test_bcp47_tags_are_mapped_to_the_model_labels(tmp_path):
    from operators.lang import default_model_path, model_labels, normalise_language

    labels = model_labels(default_model_path())
    assert len(labels) == 176 and "en" in labels and "wuu" in labels
    assert [normalise_language(t, labels) for t in ("zh-CN", "zh-Hans", "zh_Hant_TW", "en-US", "EN", "no", "yue", "und")] \
        == ["zh", "zh", "zh", "en", "en", "nb", "zh", "und"]
    with pytest.raises(ValueError, match="did you mean 'zh'"):
        normalise_language("chinese", labels)


@pytest.mark.slow
def test_bcp47_keep_list_filters_as_its_codes(tmp_path):
    """keep: [en-US, zh-Hans] keeps English and Chinese documents through a real run (not only validates)."""
    rows = [{"id": "en", "text": "The committee approved the new budget for the public library after a long debate."},
            {"id": "zh", "text": "委员会在经过长时间的辩论后批准了公共图书馆的新预算，并决定明年扩建阅览室。"},
            {"id": "de", "text": "Der Ausschuss hat nach langer Debatte den neuen Haushalt der Bibliothek genehmigt."}]
    src = write_jsonl(tmp_path / "mixed.jsonl", rows)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"inputs": [{"path": src, "source": "m"}], "output": str(tmp_path / "out"),
                                    "pipeline": [{"language": {"keep": ["en-US", "zh-Hans"]}}]}))
    run_garden("run", path, "-q")
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["kept_docs"] == 2 and stats["ops"][0]["dropped"] == {"language:de": 1}


# -- output folder -----------------------------------------------------------------------------
def test_output_null_is_refused(tmp_path, inp):
    path = recipe_file(tmp_path, "  - length_filter: {min_chars: 3}\n", inp, output="~")
    refused(path, f"{path}:5: output must be a folder path or URL, got null")
    with pytest.raises(RecipeError, match="got null"):
        check_output_path(None, [])
    with pytest.raises(RecipeError, match="output must be"):
        check_output_path("  ", [])


def test_output_that_holds_or_is_an_input_is_refused(tmp_path, inp):
    folder = os.path.dirname(inp)
    path = recipe_file(tmp_path, "  - length_filter: {min_chars: 3}\n", inp, output=folder)
    refused(path, f"{path}:5: output '{folder}' holds the input '{inp}'")
    path = recipe_file(tmp_path, "  - length_filter: {min_chars: 3}\n", inp, output=str(tmp_path))
    refused(path, f"output '{tmp_path}' holds the input")
    path = recipe_file(tmp_path, "  - length_filter: {min_chars: 3}\n", inp, output=inp)
    refused(path, f"output '{inp}' is the input")
    assert open(inp).read().count("\n") == len(DOCS)  # untouched


def test_output_path_checks(tmp_path, inp):
    link = tmp_path / "link"
    link.symlink_to(os.path.dirname(inp))
    with pytest.raises(RecipeError, match="holds the input"):  # compared by real path
        check_output_path(str(link), [inp])
    with pytest.raises(RecipeError, match="holds the input"):  # a glob: its fixed folder
        check_output_path(str(tmp_path), [InputSpec(path=str(tmp_path / "in" / "*.jsonl"), source="s")])
    with pytest.raises(RecipeError, match="is the root folder"):
        check_output_path("/", [])
    with pytest.raises(RecipeError, match="is the home folder"):
        check_output_path(os.path.expanduser("~") + "/", [])
    with pytest.raises(RecipeError, match="holds the input 's3://bucket/corpus/a.jsonl'"):
        check_output_path("s3://bucket/corpus/", ["s3://bucket/corpus/a.jsonl"])
    # a sibling, a sub-folder of the input's folder, or a prefix that is only a string prefix: fine
    assert check_output_path(str(tmp_path / "out"), [inp]) == str(tmp_path / "out")
    assert check_output_path(os.path.dirname(inp) + "/out", [inp])
    assert check_output_path(str(tmp_path / "i"), [str(tmp_path / "in2" / "x.jsonl")])
    assert check_output_path("s3://bucket/corpus-out", ["s3://bucket/corpus/a.jsonl"])


@pytest.mark.slow
def test_cli_output_override_is_checked_too(tmp_path, inp):
    path = recipe_file(tmp_path, "  - length_filter: {min_chars: 3}\n", inp)
    res = CliRunner().invoke(main, ["run", path, "-q", "--output", os.path.dirname(inp)])
    assert res.exit_code == 2 and "holds the input" in res.stderr


# -- YAML size and aliases ---------------------------------------------------------------------
def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines)


@pytest.mark.slow
def test_yaml_alias_bomb_is_refused_promptly(tmp_path, inp):
    body = "  - blocklist:\n      words: *a9\n"
    bomb = billion_laughs()
    text = ("x-anchors:\n" + "\n".join("  " + ln for ln in bomb.splitlines()) +
            f"\ninputs: [{{path: {inp}, source: web}}]\noutput: {tmp_path / 'out'}\npipeline:\n{body}")
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    for cmd in ("validate", "run"):
        # the timeout only guards against a hang (it hung before); no speed is asserted
        proc = subprocess.run(GARDEN + [cmd, str(path)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert f"{path}:" in proc.stderr and "expands to more than 1,000,000 values through YAML aliases" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_recursive_alias_and_deep_nesting_are_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("a: &x [1, *x]\n")
    with pytest.raises(RecipeError, match="refers to itself"):
        load_recipe(str(path))
    # PyYAML's scanner is quadratic in [ ] nesting (2,000 deep took 10 s, 1 MB would hang): refused before parsing
    path.write_text("a: " + "[" * 500_000 + "]" * 500_000 + "\n")
    with pytest.raises(RecipeError, match=r"nested too deeply \(more than 64 levels"):
        load_recipe(str(path))
    path.write_text("a:\n  " + "- " * 5000 + "x\n")  # block nesting: Python's recursion limit, reported
    with pytest.raises(RecipeError, match="nested too deeply"):
        load_recipe(str(path))


def test_recipe_size_is_bounded(tmp_path, inp):
    words = ", ".join(f"w{i:07d}" for i in range(130_000))  # about 1.2 MB
    path = tmp_path / "big.yaml"
    path.write_text(f"inputs: [{inp}]\noutput: {tmp_path / 'o'}\npipeline:\n  - blocklist: {{words: [{words}]}}\n")
    with pytest.raises(RecipeError, match=r"big.yaml: a recipe is at most 1 MB.*words_file"):
        load_recipe(str(path))


def test_aliases_below_the_limit_still_work(tmp_path, inp):
    path = tmp_path / "ok.yaml"
    path.write_text(f"x: &words [spam, eggs]\ninputs: [{inp}]\noutput: {tmp_path / 'o'}\n"
                    f"pipeline:\n  - blocklist: {{words: *words}}\n")
    with pytest.raises(RecipeError, match="unknown recipe key 'x'"):  # aliases parse; top-level keys still checked
        load_recipe(str(path))
    path.write_text(f"inputs: [{inp}]\noutput: {tmp_path / 'o'}\n"
                    f"pipeline:\n  - blocklist: {{words: &w [spam, eggs]}}\n  - blocklist: {{words: *w}}\n")
    assert load_recipe(str(path)).pipeline[1].params["words"] == ["spam", "eggs"]


# -- a step that leaves no documents -----------------------------------------------------------
@pytest.mark.slow
def test_step_that_drops_everything_stops_the_run_and_is_named(tmp_path, inp):
    """language keeps only Japanese from English text: nothing reaches train_tokenizer."""
    path = recipe_file(tmp_path, "  - length_filter: {min_chars: 3}\n  - language: {keep: [ja]}\n"
                                 "  - train_tokenizer: {vocab_size: 300}\n  - tokenize: {}\n", inp)
    for attempt in range(2):  # the rerun (resume) stops the same way
        proc = run_garden("run", path, "-q", check=False)
        assert proc.returncode == 4, proc.stderr
        assert f"error: {path}:8: pipeline[1] `language` left no documents (dropped en=60)" in proc.stderr
        assert "so `train_tokenizer` (pipeline[2]) has nothing to work on" in proc.stderr
        assert "Traceback" not in proc.stderr
    out = tmp_path / "out"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stopped"]["step"] == 1 and stats["stopped"]["step_name"] == "language"
    assert stats["stopped"]["before_name"] == "train_tokenizer"
    assert stats["input_docs"] == 60 and stats["kept_docs"] == 0 and stats["rejected_docs"] == 60
    assert stats["accounting_ok"]
    assert [o.get("not_run", False) for o in stats["ops"]] == [False, False, True, True]
    report = (out / "report.html").read_text()
    assert "the run stopped" in report and "`language` left no documents" in report
    assert not (out / "tokenizer").exists() and not (out / "tokens.json").exists()


@pytest.mark.slow
def test_empty_inputs_stop_before_a_global_step(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("web", "code"):
        (tmp_path / "in" / f"{name}.jsonl").write_text("")
    path = recipe_file(tmp_path, "  - train_tokenizer: {vocab_size: 300}\n", str(tmp_path / "in" / "web.jsonl"))
    proc = run_garden("run", path, "-q", check=False)
    assert proc.returncode == 4 and "the inputs hold no documents" in proc.stderr
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["stopped"]["step"] is None


@pytest.mark.slow
def test_filters_only_recipe_that_keeps_nothing_still_succeeds(tmp_path, inp):
    """Without a later global step an empty result is a result (kept 0, exit 0), as before."""
    path = recipe_file(tmp_path, "  - length_filter: {min_chars: 100000}\n", inp)
    run_garden("run", path, "-q")
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["kept_docs"] == 0 and "stopped" not in stats
