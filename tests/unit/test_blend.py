"""garden.blend: the one blend.json module that `mix`/`curriculum` write with and the trainer reads with."""
from __future__ import annotations

import json

import numpy as np
import pytest

from garden.blend import BlendError, build_blend, check_split, load_blend
from garden.megatron_format import IndexedDatasetWriter


def test_one_error_class_for_both_sides():
    from operators.mix import BlendError as FromMix
    from trainer.blend import BlendError as FromTrainer

    assert FromMix is BlendError and FromTrainer is BlendError


def test_what_build_blend_writes_load_blend_reads(tmp_path):
    sources = {}
    for name, docs in (("web", 30), ("code", 10)):
        w = IndexedDatasetWriter(str(tmp_path / "tokens" / name), np.uint16)
        for _ in range(docs):
            w.add_document(np.ones(100, dtype=np.uint16))
        sources[name] = {"prefix": f"tokens/{name}", **w.finalize()}
    manifest = {"tokenizer": {"vocab_size": 500, "eod_id": 0}, "dtype": "uint16", "sources": sources}
    phases = [{"name": "general", "tokens": 2000, "weights": {"web": 3, "code": 1}},
              {"name": "code", "tokens": 500, "weights": {"code": 1}}]
    written = build_blend(str(tmp_path), manifest, phases, "100,0,0", max_epochs=4, strict=False)
    assert written["phases"][0]["weights"] == {"code": 0.25, "web": 0.75}
    assert written["epochs"] == {"code": 1.0, "web": 0.5}
    blend = load_blend(tmp_path / "blend.json")
    assert [(p["name"], p["tokens"], p["weights"]) for p in blend.phases] == [
        ("general", 2000, {"code": 0.25, "web": 0.75}), ("code", 500, {"code": 1.0})]
    assert blend.sources["web"]["prefix"] == str((tmp_path / "tokens" / "web").resolve())
    assert (blend.vocab_size, blend.eod_id, blend.split) == (500, 0, "100,0,0")
    with pytest.raises(BlendError, match="Megatron cannot build an empty split"):
        build_blend(str(tmp_path), manifest, phases, "98,1,1", max_epochs=4, strict=False, out_name="b2.json")
    with pytest.raises(BlendError, match="would be seen 5.00 times"):
        build_blend(str(tmp_path), manifest, [{"name": "x", "tokens": 5000, "weights": {"code": 1}}], "100,0,0",
                    max_epochs=4, strict=True, out_name="b3.json")
    raw = json.loads((tmp_path / "blend.json").read_text())
    raw["phases"][0]["weights"] = {"books": 1}
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(BlendError, match=r"phase 0 weights name unknown sources \['books'\]"):
        load_blend(tmp_path / "bad.json")


@pytest.mark.parametrize("split, ok", [("98,1,1", True), ("100/0/0", True), ("0,50,50", False), ("98,2", False),
                                       ("a,b,c", False), ("98,-1,3", False)])
def test_check_split(split, ok):
    if ok:
        check_split(split)
    else:
        with pytest.raises(ValueError, match="split must"):
            check_split(split)
