"""Third-party operators register through the `garden.operators` entry-point group."""
import os
import textwrap

import pytest

from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe

pytestmark = pytest.mark.slow


def install_plugin(site) -> None:
    """What pip does for a plugin package: the module plus a dist-info with entry_points.txt."""
    os.makedirs(site / "garden_shout-0.1.dist-info")
    (site / "garden_shout.py").write_text(textwrap.dedent('''
        from garden.operator import Filter, Mapper

        class Shout(Mapper):
            """Upper-case the text (a test plugin)."""
            name = "shout"
            suffix: str = "!"
            def map(self, doc):
                doc["text"] = doc["text"].upper() + self.suffix
                return doc

        class NoQuestions(Filter):
            name = "no_questions"
            def keep(self, doc):
                return "question" if "?" in doc["text"] else True
    '''))
    (site / "garden_shout-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: garden-shout\nVersion: 0.1\n")
    (site / "garden_shout-0.1.dist-info" / "entry_points.txt").write_text(
        "[garden.operators]\nshout = garden_shout:Shout\nno_questions = garden_shout:NoQuestions\n")


def test_plugin_operator_runs_from_a_recipe(tmp_path):
    site = tmp_path / "site"
    install_plugin(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "text": "hello"}, {"id": "2", "text": "why?"}])
    recipe = write_recipe(tmp_path, [{"no_questions": {}}, {"shout": {"suffix": "!!"}}], [{"path": inp, "source": "s"}],
                          workers=2)
    assert "shout" in run_garden("ops", env=env).stdout
    run_garden("run", recipe, "-q", env=env)
    assert [r["text"] for r in read_data(tmp_path / "out")] == ["HELLO!!"]
    assert read_stats(tmp_path / "out")["ops"][0]["dropped"] == {"no_questions:question": 1}
    # without the plugin installed the recipe is refused up front
    proc = run_garden("validate", recipe, check=False)
    assert proc.returncode == 2 and "unknown operator 'no_questions'" in proc.stderr
