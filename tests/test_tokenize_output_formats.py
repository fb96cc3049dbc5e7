"""Global token steps read the stage output in whatever output_format the recipe chose."""
import json
import os

import pytest

from conftest import DEMO_DATA, read_stats, run_garden, write_recipe
from garden.megatron_format import IndexedDatasetReader

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fmt", ["jsonl.zst"])
def test_tokenizer_tokenize_mix_after_text_output(tmp_path, fmt):
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_words": 5}},
                                     {"train_tokenizer": {"vocab_size": 600, "sample_docs": 800}},
                                     {"tokenize": {}}, {"mix": {"split": "100,0,0"}}],
                          [{"path": os.path.join(DEMO_DATA, "fortunes_zh.jsonl.gz"), "source": "zh"}],
                          output_format=fmt, workers=2, shard_size="64KB")
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    stats = read_stats(out)
    blend = json.loads((out / "blend.json").read_text())
    ds = IndexedDatasetReader(str(out / blend["sources"]["zh"]["prefix"]))
    assert len(ds) == stats["kept_docs"] == blend["sources"]["zh"]["documents"] > 500
