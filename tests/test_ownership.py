"""Garden deletes or overwrites only files it wrote, in folders it owns."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe

pytestmark = pytest.mark.slow

PIPELINE = [{"length_filter": {"min_words": 3}}]


def _docs(n=20, prefix="doc"):
    return [{"id": f"{prefix}{i}", "text": ("word " * (1 + i % 6)).strip()} for i in range(n)]


def _inputs(tmp_path, name="in"):
    path = write_jsonl(tmp_path / name / "a.jsonl", _docs())
    return [{"path": path, "source": "a"}]


def _snapshot(folder) -> dict[str, bytes]:
    out = {}
    for root, _dirs, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = open(p, "rb").read()
    return out


def test_output_holding_the_input_is_refused_and_the_input_survives(tmp_path):
    inputs = _inputs(tmp_path)
    before = _snapshot(tmp_path / "in")
    recipe = write_recipe(tmp_path, PIPELINE, inputs, output="in")
    proc = run_garden("run", recipe, "-q", check=False)
    assert proc.returncode != 0
    assert "holds the input" in proc.stderr and "Traceback" not in proc.stderr
    assert _snapshot(tmp_path / "in") == before
    proc = run_garden("run", recipe, "-q", "--no-resume", "--force", check=False)
    assert proc.returncode != 0 and _snapshot(tmp_path / "in") == before


def test_root_home_and_the_input_itself_are_refused(tmp_path):
    inputs = _inputs(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    for output in ("/", str(home), inputs[0]["path"]):
        recipe = write_recipe(tmp_path, PIPELINE, inputs, output=output)
        proc = run_garden("run", recipe, "-q", check=False, env=env)
        assert proc.returncode == 2, output
        assert f"output '{output}'" in proc.stderr and "Traceback" not in proc.stderr
    assert not os.listdir(home)


def test_non_empty_foreign_folder_needs_force_and_its_files_are_never_touched(tmp_path):
    inputs = _inputs(tmp_path)
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "_work").mkdir()
    user_files = {"notes.txt": b"mine", "report.tmp-123": b"not a garden temp", "data/keep.parquet": b"x",
                  "_work/mine.txt": b"y", "data/part-00000.parquet.tmp-77": b"z"}
    for rel, data in user_files.items():
        (out / rel).write_bytes(data)
    recipe = write_recipe(tmp_path, PIPELINE, inputs, output="mine")
    proc = run_garden("run", recipe, "-q", check=False)
    assert proc.returncode == 2 and "not a Garden run folder" in proc.stderr and str(out) in proc.stderr
    assert not (out / "stats.json").exists()

    run_garden("run", recipe, "-q", "--force")
    stats = read_stats(out)
    assert stats["accounting_ok"] and stats["input_docs"] == 20
    assert len(read_data(out)) == stats["kept_docs"]
    run_garden("run", recipe, "-q", "--no-resume")  # starts over: Garden's outputs only
    for rel, data in user_files.items():
        assert (out / rel).read_bytes() == data, rel


def test_force_refuses_to_overwrite_files_with_garden_names(tmp_path):
    inputs = _inputs(tmp_path)
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "data" / "part-00000.parquet").write_bytes(b"a user's file")
    recipe = write_recipe(tmp_path, PIPELINE, inputs, output="mine")
    proc = run_garden("run", recipe, "-q", "--force", check=False)
    assert proc.returncode == 2 and "data/part-00000.parquet" in proc.stderr
    assert (out / "data" / "part-00000.parquet").read_bytes() == b"a user's file"


def test_foreign_files_in_a_run_folder_stay_and_are_not_counted(tmp_path):
    inputs = _inputs(tmp_path)
    recipe = write_recipe(tmp_path, PIPELINE, inputs, output="out")
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    kept = read_stats(out)["kept_docs"]
    write_jsonl(out / "data" / "extra.jsonl", _docs(5, "extra"))
    (out / "data" / "old.tmp-5").write_bytes(b"user")
    (out / "scratch.tmp-1").write_bytes(b"user")
    proc = run_garden("run", recipe)  # resume
    assert "Garden did not write" in proc.stderr + proc.stdout
    run_garden("run", recipe, "-q", "--no-resume")
    assert (out / "data" / "extra.jsonl").exists() and (out / "data" / "old.tmp-5").exists()
    assert (out / "scratch.tmp-1").read_bytes() == b"user"
    run_garden("analyze", out, "-o", tmp_path / "an", "--sample", "1000")
    analysis = json.loads((tmp_path / "an" / "analysis.json").read_text())
    assert analysis["totals"]["docs"] == kept


def test_garden_temp_files_of_a_killed_run_are_removed_and_user_temp_names_are_not(tmp_path):
    inputs = _inputs(tmp_path)
    recipe = write_recipe(tmp_path, PIPELINE, inputs, output="out")
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    dead = [out / "data" / ".part-00000.parquet.garden-tmp-99", out / "_work" / ".plan.json.garden-tmp-98"]
    for p in dead:
        p.write_bytes(b"partial")
    user = [out / "data" / "mine.tmp-96", out / "data" / "part-00003.parquet.tmp-97"]  # this version never
    for p in user:                                                                    # writes `.tmp-N` names
        p.write_bytes(b"mine")
    run_garden("run", recipe, "-q")
    assert not any(p.exists() for p in dead) and all(p.read_bytes() == b"mine" for p in user)


def test_a_run_folder_of_an_earlier_garden_is_adopted_and_only_its_names_removed(tmp_path):
    inputs = _inputs(tmp_path)
    recipe = write_recipe(tmp_path, PIPELINE, inputs, output="out")
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    os.remove(out / ".garden-run.json")  # as written before run markers existed
    legacy_temp = out / "data" / "part-00000.parquet.tmp-4242"  # an earlier version's temp name
    legacy_temp.write_bytes(b"partial")
    (out / "rejected" / "length_filter" / "notes.md").write_text("mine")
    (out / "quarantine").mkdir(exist_ok=True)
    (out / "quarantine" / "triage.txt").write_text("mine")
    run_garden("run", recipe, "-q", "--no-resume")
    assert (out / ".garden-run.json").exists() and not legacy_temp.exists()
    assert (out / "rejected" / "length_filter" / "notes.md").read_text() == "mine"
    assert (out / "quarantine" / "triage.txt").read_text() == "mine"
    assert read_stats(out)["accounting_ok"]


def test_a_step_that_leaves_the_recipe_takes_its_outputs_along(tmp_path):
    rows = _docs() + [{"id": f"dup{i}", "text": "word word word word"} for i in range(3)]
    inputs = [{"path": write_jsonl(tmp_path / "in" / "a.jsonl", rows), "source": "a"}]
    two = [{"length_filter": {"min_words": 3}}, {"minhash_dedup": {"threshold": 0.8}}, {"exact_dedup": {}}]
    recipe = write_recipe(tmp_path, two, inputs, output="out")
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    assert (out / "dedup").is_dir() and (out / "rejected" / "minhash_dedup").is_dir()
    (out / "dedup" / "mine.txt").write_text("user")  # a user's file inside a step's folder stays
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_words": 3}}], inputs, output="out")
    run_garden("run", recipe, "-q")
    stats = read_stats(out)
    assert not (out / "rejected" / "minhash_dedup").exists() and not (out / "rejected" / "exact_dedup").exists()
    assert not (out / "dedup" / "clusters.parquet").exists()
    assert (out / "dedup" / "mine.txt").read_text() == "user"
    marker = json.loads((out / ".garden-run.json").read_text())
    assert not marker["step_outputs"]
    rejected_rows = 0
    import pyarrow.parquet as pq

    for root, _d, files in os.walk(out / "rejected"):
        rejected_rows += sum(pq.read_metadata(os.path.join(root, f)).num_rows for f in files if f.startswith("part-"))
    assert rejected_rows == stats["rejected_docs"] == stats["input_docs"] - stats["kept_docs"]


def test_output_null_in_yaml_is_refused(tmp_path):
    inputs = _inputs(tmp_path)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "inputs": inputs, "output": None, "pipeline": PIPELINE}))
    for cmd in ("validate", "run"):
        proc = run_garden(cmd, path, check=False)
        assert proc.returncode == 2 and "output" in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists("None")
