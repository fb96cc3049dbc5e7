"""A Garden-trained transformer as the `perplexity` scorer: the same numbers as `garden eval
--per-doc` (same windows), and torch imported only by that model type's workers."""
import math
import os
import random
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe
from model_helpers import TOKENIZER_VOCAB, garden

pytestmark = [pytest.mark.slow, pytest.mark.train]

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "lm")


@pytest.fixture(scope="module")
def run_dir(model_runs):
    return model_runs.get("tiny")


def word_docs(n: int, seed: int = 0) -> list[dict]:
    """Documents in the tiny run's word vocabulary (t1..t249), some longer than its 32-token context."""
    rng = random.Random(seed)
    lengths = [3, 10, 31, 32, 33, 70, 100] + [rng.randint(1, 60) for _ in range(n - 7)]
    docs = [{"id": f"d{i}", "text": " ".join(f"t{rng.randint(1, TOKENIZER_VOCAB - 1)}" for _ in range(k))}
            for i, k in enumerate(lengths)]
    return docs + [{"id": "blank", "text": "  "}]


def test_run_dir_perplexity_equals_garden_eval_per_doc(tmp_path, run_dir):
    docs = word_docs(20)
    data = write_jsonl(tmp_path / "docs.jsonl", docs)
    recipe = write_recipe(tmp_path, [{"perplexity": {"model": str(run_dir), "mode": "annotate"}}],
                          [{"path": data, "source": "web"}], workers=2)
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    scored = {r["id"]: r["perplexity"] for r in read_data(out)}
    assert set(scored) == {d["id"] for d in docs}  # nothing lost, nothing dropped in annotate mode
    assert scored.pop("blank") is None  # empty text scores as missing, never NaN
    stats = next(o for o in read_stats(out)["ops"] if o["name"] == "perplexity")
    assert stats["languages"]["unknown"]["scored_documents"] == len(docs) - 1
    assert stats["languages"]["unknown"]["empty"] == 1

    per_doc = tmp_path / "per_doc.parquet"
    nonblank = write_jsonl(tmp_path / "nonblank.jsonl", docs[:-1])
    r = garden("eval", str(run_dir), nonblank, "--per-doc", str(per_doc))
    assert r.returncode == 0, r.stdout + r.stderr
    reference = {row["id"]: math.exp(row["loss"]) for row in pq.read_table(per_doc).to_pylist()}
    assert set(reference) == set(scored)
    for doc_id, ppl in reference.items():
        assert scored[doc_id] == pytest.approx(ppl, rel=1e-3), doc_id
    assert len({round(p, 3) for p in scored.values()}) > 5  # really per document, not one number


def test_exported_folder_scores_as_the_run_and_bad_dirs_fail_validate(tmp_path, run_dir):
    hf = tmp_path / "hf"
    r = garden("export", str(run_dir), "-o", str(hf))
    assert r.returncode == 0, r.stdout + r.stderr
    text = " ".join(f"t{i}" for i in range(5, 80))  # longer than the 32-token context: two windows
    from_run = float(run_garden("lm", "score", run_dir, text).stdout.split()[0])
    from_export = float(run_garden("lm", "score", hf, text).stdout.split()[0])
    assert from_run > 1 and from_export == pytest.approx(from_run, rel=1e-4)
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    recipe = write_recipe(tmp_path, [{"perplexity": {"model": str(empty), "mode": "annotate"}}],
                          [{"path": write_jsonl(tmp_path / "d.jsonl", word_docs(8)), "source": "web"}])
    bad = run_garden("validate", recipe, check=False)
    assert bad.returncode != 0 and "model:" in bad.stderr + bad.stdout
    assert "not a `garden train` run" in bad.stderr + bad.stdout and "Traceback" not in bad.stderr


def test_ngram_perplexity_workers_never_import_torch(tmp_path):
    """A `torch` on PYTHONPATH that records every import: the n-gram path must never trigger it."""
    poison = tmp_path / "poison" / "torch"
    poison.mkdir(parents=True)
    marker = tmp_path / "torch-imported"
    (poison / "__init__.py").write_text(
        "import os\nopen(os.environ['TORCH_MARKER'], 'a').write(str(os.getpid()) + '\\n')\n"
        "raise ImportError('torch is poisoned in this test')\n")
    model = tmp_path / "zh"
    run_garden("lm", "train", os.path.join(FIX, "zh_train.jsonl.gz"), "-o", model, "--order", 3)
    recipe = write_recipe(tmp_path, [{"perplexity": {"model": str(model), "max_percentile": 80}}],
                          [{"path": os.path.join(FIX, "zh_test.jsonl.gz"), "source": "web"}], workers=2)
    env = dict(os.environ, TORCH_MARKER=str(marker),
               PYTHONPATH=os.pathsep.join([str(poison.parent), os.environ.get("PYTHONPATH", "")]))
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode == 1 and marker.exists()  # the poison is what `import torch` finds
    marker.unlink()
    run_garden("run", recipe, "-q", env=env)
    stats = next(o for o in read_stats(tmp_path / "out")["ops"] if o["name"] == "perplexity")
    assert stats["languages"]["unknown"]["scored_documents"] == 100  # every fixture document scored
    assert not marker.exists(), f"torch imported by pids {marker.read_text()}"
