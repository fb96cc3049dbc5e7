"""Recipe validation: every mistake fails before any work, naming file, line and entry."""
import os

import pytest

from conftest import run_garden, write_jsonl, write_recipe
from garden.recipe import RecipeError, load_recipe


@pytest.fixture
def inp(tmp_path):
    return [{"path": write_jsonl(tmp_path / "in.jsonl", [{"text": "hello world"}]), "source": "s"}]


def recipe_text(tmp_path, body: str) -> str:
    p = tmp_path / "r.yaml"
    p.write_text(body)
    return str(p)


def test_unknown_operator_names_line_and_suggests(tmp_path, inp):
    path = recipe_text(tmp_path, f"""name: x
inputs:
  - {{path: {inp[0]['path']}, source: s}}
output: {tmp_path}/out
pipeline:
  - normalize: {{}}
  - lenght_filter: {{min_chars: 3}}
""")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    msg = str(err.value)
    assert f"{path}:7" in msg and "pipeline[1]" in msg
    assert "unknown operator 'lenght_filter'" in msg and "did you mean 'length_filter'" in msg


def test_unknown_parameter_and_wrong_type(tmp_path, inp):
    path = write_recipe(tmp_path, [{"length_filter": {"min_char": 3}}], inp)
    with pytest.raises(RecipeError, match=r"unknown parameter of 'length_filter' 'min_char' \(did you mean 'min_chars'\?\)"):
        load_recipe(path)
    path = write_recipe(tmp_path, [{"length_filter": {"min_chars": "many"}}], inp)
    with pytest.raises(RecipeError, match=r"length_filter.min_chars: expected int, got 'many'"):
        load_recipe(path)
    path = write_recipe(tmp_path, [{"normalize": {"form": "NFX"}}], inp)
    with pytest.raises(RecipeError, match=r"expected one of"):
        load_recipe(path)


def test_numbers_from_yaml_strings_are_coerced(tmp_path, inp):
    # YAML 1.1 reads 2e3 as a string; an int parameter still gets 2000.
    path = write_recipe(tmp_path, [{"length_filter": {"min_chars": "2e3"}}], inp)
    assert load_recipe(path).pipeline[0].params["min_chars"] == 2000


@pytest.mark.slow
def test_missing_input_fails_before_work(tmp_path):
    path = write_recipe(tmp_path, [], [{"path": str(tmp_path / "nope-*.jsonl"), "source": "s"}])
    proc = run_garden("run", path, check=False)
    assert proc.returncode == 2
    assert "inputs[0]: no input file matches" in proc.stderr
    assert not os.path.exists(tmp_path / "out" / "data")


def test_unsafe_yaml_is_refused(tmp_path, inp):
    path = recipe_text(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RecipeError, match="invalid YAML"):
        load_recipe(path)


@pytest.mark.slow
def test_validate_and_ops_commands(tmp_path, inp):
    path = write_recipe(tmp_path, [{"length_filter": {"min_chars": 3}}, {"exact_dedup": {}}], inp)
    proc = run_garden("validate", path)
    assert "ok — 2 steps, 1 input files" in proc.stdout
    listing = run_garden("ops").stdout
    for name in ("length_filter", "normalize", "sample", "field_filter", "exact_dedup"):
        assert name in listing
    one = run_garden("ops", "length_filter").stdout
    assert "[filter]" in one and "min_chars: int = 0" in one and "max_chars: int | null = None" in one
    bad = run_garden("ops", "normalise", check=False)
    assert bad.returncode == 2 and "did you mean 'normalize'" in bad.stderr


def test_cross_field_validation(tmp_path, inp):
    path = write_recipe(tmp_path, [{"sample": {"fraction": 1.5}}], inp)
    with pytest.raises(RecipeError, match="fraction must be between 0 and 1"):
        load_recipe(path)
    path = write_recipe(tmp_path, [{"exact_dedup": {"keep": "biggest"}}], inp)
    with pytest.raises(RecipeError, match="keep must be first, longest or highest"):
        load_recipe(path)
