"""What a user sees: plain progress lines off a terminal, the summary, the lock file."""
import pytest
import yaml

from conftest import run_garden, write_jsonl, write_recipe

pytestmark = pytest.mark.slow


def test_progress_lines_summary_and_lock(tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"text": f"document {i} " * (i % 7)} for i in range(300)])
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_words": 3}}, {"exact_dedup": {}}],
                          [{"path": inp, "source": "s"}], workers=2)
    proc = run_garden("run", recipe)
    err = proc.stderr
    assert "[stage 0: length_filter] done:" in err and "docs/s" in err and "MB/s" in err
    assert "[stage 1: exact_dedup scan] done:" in err
    assert "input 300 = kept" in err and "accounted" in err
    lock = yaml.safe_load((tmp_path / "out" / "recipe.lock.yaml").read_text())
    assert lock["pipeline"][0]["length_filter"]["max_chars"] is None  # defaults filled in
    assert lock["pipeline"][1] == {"exact_dedup": {"keep": "first"}}
    assert lock["versions"]["garden"] and lock["versions"]["pyarrow"]
    again = run_garden("run", recipe)
    assert "already complete (resumed)" in again.stderr
