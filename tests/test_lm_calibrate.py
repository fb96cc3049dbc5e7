"""`garden analyze --lm MODEL --target-drop perplexity.max_percentile=SHARE` (and max_perplexity): the suggested
threshold comes from the sample's own perplexities and drops that share when the recipe runs with it."""
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import read_stats, run_garden, write_recipe

pytestmark = pytest.mark.slow

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "lm")
ZH_TEST = os.path.join(FIX, "zh_test.jsonl.gz")


@pytest.fixture(scope="module")
def zh_model(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("lm") / "zh"
    run_garden("lm", "train", os.path.join(FIX, "zh_train.jsonl.gz"), "-o", out, "--order", 3)
    return str(out)


def analyze(out, model, *targets, extra=()):
    run_garden("analyze", ZH_TEST, "--lm", f"zh={model}", *[a for t in targets for a in ("--target-drop", t)],
               *extra, "-o", out, "-q")
    analysis = json.loads((out / "analysis.json").read_text())
    curves = {c["param"]: c for c in analysis["calibration"]["curves"]}
    ppl = pq.read_table(out / "sample_stats.parquet").column("perplexity").to_numpy(zero_copy_only=False)
    return curves, np.asarray(ppl, dtype=float)


def dropped_by_recipe(tmp_path, model, name, **params):
    recipe = write_recipe(tmp_path, [{"perplexity": {"model": model, **params}}],
                          [{"path": ZH_TEST, "source": "web"}], output=name)
    run_garden("run", recipe, "-q")
    stats = next(o for o in read_stats(tmp_path / name)["ops"] if o["name"] == "perplexity")
    return stats["dropped"].get("perplexity:high_perplexity", 0)


def test_suggested_percentile_and_threshold_drop_the_target_share(tmp_path, zh_model):
    curves, ppl = analyze(tmp_path / "a", zh_model, "perplexity.max_percentile=0.2", "perplexity.max_perplexity=0.3")
    assert len(ppl) == 100 and not np.isnan(ppl).any()

    pct = curves["max_percentile"]
    assert pct["suggested_drop"] == pytest.approx(0.2, abs=0.011) and pct["reachable"]
    assert 75 <= pct["suggested"] <= 85
    cut = np.percentile(ppl, pct["suggested"])  # the cut-off the operator computes from the same documents
    assert pct["cutoffs"]["zh"] == pytest.approx(cut, rel=1e-4)
    assert np.count_nonzero(ppl > cut) == round(100 * pct["suggested_drop"])
    assert dropped_by_recipe(tmp_path, zh_model, "p", max_percentile=pct["suggested"]) == round(100 * pct["suggested_drop"])

    fixed = curves["max_perplexity"]
    assert fixed["suggested_drop"] == pytest.approx(0.3, abs=0.011)
    assert np.count_nonzero(ppl > fixed["suggested"]) == round(100 * fixed["suggested_drop"])
    assert abs(dropped_by_recipe(tmp_path, zh_model, "m", max_perplexity=fixed["suggested"])
               - 100 * fixed["suggested_drop"]) <= 1  # perplexities in the sample are rounded to 4 decimals
    drops = fixed["drop"]
    assert all(a >= b for a, b in zip(drops, drops[1:]))  # a higher threshold never drops more


def test_write_recipe_sets_the_perplexity_step(tmp_path, zh_model):
    recipe = write_recipe(tmp_path, [{"perplexity": {"model": zh_model, "max_percentile": 50}}],
                          [{"path": ZH_TEST, "source": "web"}])
    out = tmp_path / "calibrated.yaml"
    curves, _ = analyze(tmp_path / "a", zh_model, "perplexity.max_percentile=0.1",
                        extra=("--recipe", recipe, "--write-recipe", out))
    assert curves["max_percentile"]["current"] == 50
    assert curves["max_percentile"]["current_drop"] == pytest.approx(0.5, abs=0.011)
    written = yaml.safe_load(out.read_text())
    assert written["pipeline"][0]["perplexity"]["max_percentile"] == curves["max_percentile"]["suggested"]
    assert 85 <= curves["max_percentile"]["suggested"] <= 95


def test_perplexity_target_without_lm_is_a_one_line_error(tmp_path, zh_model):
    bad = run_garden("analyze", ZH_TEST, "--target-drop", "perplexity.max_percentile=0.2", "-o", tmp_path, "-q",
                     check=False)
    assert bad.returncode == 2 and "needs --lm" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_garden("analyze", ZH_TEST, "--lm", zh_model, "--target-drop", "perplexity.min_x=0.2", "-o", tmp_path,
                     "-q", check=False)
    assert bad.returncode == 2 and "max_percentile or max_perplexity" in bad.stderr
