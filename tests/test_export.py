"""`garden export`: a trained run of each layout (tiny, tiny-moe, TP=2, PP=2) becomes a
Hugging Face folder that transformers loads (CPU, no network) with the logits of Garden's own
megatron forward pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("megatron.core")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

import torch  # noqa: E402
from model_helpers import RUNS, TOKENIZER_VOCAB, garden, garden_reference, sample_tokens  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(600)]
torch.set_num_threads(1)  # as trainer_helpers does for workers: shared CPUs, see there
TOL = 1e-4


@pytest.fixture(scope="module")
def exported(model_runs):
    """Every RUNS entry trained (once per session), exported by the CLI, and Garden's reference
    logits for it."""
    base = model_runs.base
    runs = {name: model_runs.get(name) for name in RUNS}
    out = {}
    for name, run in runs.items():
        hf = base / f"hf-{name}"
        shutil.rmtree(hf, ignore_errors=True)
        r = garden("export", str(run), "-o", str(hf))
        assert r.returncode == 0, r.stdout + r.stderr
        out[name] = hf
    ids = sample_tokens()
    ref = garden_reference(base, list(runs.values()), ids)
    return {"base": base, "runs": runs, "hf": out, "ids": ids,
            "ref": {name: ref[run]["logits"] for name, run in runs.items()}}


def hf_logits(folder: Path, ids: torch.Tensor) -> torch.Tensor:
    model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32,
                                                              local_files_only=True)
    model.eval()
    with torch.no_grad():
        return model(ids).logits


@pytest.mark.parametrize("name", list(RUNS))
def test_transformers_logits_equal_garden_forward(exported, name):
    folder = exported["hf"][name]
    cfg = json.loads((folder / "config.json").read_text())
    moe = name == "tiny-moe"
    assert cfg["architectures"] == ["MixtralForCausalLM" if moe else "LlamaForCausalLM"]
    assert cfg["num_key_value_heads"] == 2 and cfg["num_attention_heads"] == 4  # GQA mapped
    assert cfg["vocab_size"] == TOKENIZER_VOCAB  # padding (256 rows in training) stripped
    assert cfg["tie_word_embeddings"] is False
    got = hf_logits(folder, exported["ids"])
    ref = exported["ref"][name]
    assert ref.shape[-1] == 256 and got.shape[-1] == TOKENIZER_VOCAB
    diff = (got - ref[..., :TOKENIZER_VOCAB]).abs().max().item()
    assert diff < TOL, f"{name}: max |transformers - garden| = {diff}"
    # the comparison has teeth: the logits are far from uniform and differ by position
    assert ref.std().item() > 0.1


def test_layouts_export_the_same_model(exported):
    """TP=2 and PP=2 runs train the TP=1 run's model; their merged exports agree with it."""
    from safetensors.torch import load_file

    one = load_file(str(exported["hf"]["tiny"] / "model.safetensors"))
    for name in ("tp2", "pp2"):
        other = load_file(str(exported["hf"][name] / "model.safetensors"))
        assert other.keys() == one.keys()
        for k in one:
            assert torch.allclose(one[k], other[k], atol=2e-3), (name, k)


def test_tokenizer_and_generation_config(exported):
    folder = exported["hf"]["tiny"]
    tok = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert tok("t10 t11 t12")["input_ids"] == [10, 11, 12]
    assert tok.bos_token == tok.eos_token == tok.pad_token == "<|endoftext|>"
    assert tok.eos_token_id == 0  # the EOD id the data appended
    gen = json.loads((folder / "generation_config.json").read_text())
    assert gen["eos_token_id"] == gen["bos_token_id"] == 0
    # the trained context: transformers' generate would warn if max_length were set as well
    assert "max_length" not in gen
    assert json.loads((folder / "config.json").read_text())["max_position_embeddings"] == 32
    src = exported["base"] / "data" / "tokenizer" / "tokenizer.json"
    assert (folder / "tokenizer.json").read_bytes() == src.read_bytes()
    prov = json.loads((folder / "garden_export.json").read_text())
    assert prov["iteration"] == 2 and prov["trained_vocab_size"] == 256


def test_sharded_bf16_and_earlier_checkpoint(exported, tmp_path):
    from safetensors.torch import load_file

    from trainer.export import export

    run = exported["runs"]["tiny"]
    sharded = tmp_path / "sharded"
    export(run, sharded, max_shard_bytes=200_000)
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and not (sharded / "model.safetensors").exists()
    assert all((sharded / s).stat().st_size <= 200_000 + 70_000 for s in shards)  # + header
    assert torch.equal(hf_logits(sharded, exported["ids"]), hf_logits(exported["hf"]["tiny"],
                                                                       exported["ids"]))

    half = tmp_path / "bf16"
    export(run, half, dtype="bf16")
    assert {t.dtype for t in load_file(str(half / "model.safetensors")).values()} == {torch.bfloat16}
    assert json.loads((half / "config.json").read_text())["dtype"] == "bfloat16"

    first = tmp_path / "iter1"
    export(run, first, iteration=1)
    assert json.loads((first / "garden_export.json").read_text())["iteration"] == 1
    assert not torch.equal(hf_logits(first, exported["ids"]), hf_logits(exported["hf"]["tiny"],
                                                                         exported["ids"]))
    r = garden("export", str(run), "-o", str(tmp_path / "x"), "--checkpoint", "7")
    assert r.returncode != 0 and "no complete checkpoint for iteration 7 (have: 1, 2)" in r.stderr


def test_tied_embeddings_map_to_no_lm_head(exported, tmp_path):
    """Garden's presets are untied; a tied model (no output_layer) exports without lm_head and
    transformers ties it back."""
    from trainer.export import write_safetensors
    from trainer.hf_format import hf_config, megatron_to_hf
    from trainer.restore import load_full_state

    info, sd = load_full_state(exported["runs"]["tiny"])
    sd["output_layer.weight"] = sd["embedding.word_embeddings.weight"]
    untied = megatron_to_hf(sd, info.model, TOKENIZER_VOCAB)
    del sd["output_layer.weight"]
    tied = megatron_to_hf(sd, info.model, TOKENIZER_VOCAB)
    assert "lm_head.weight" not in tied and "lm_head.weight" in untied
    for folder, weights, is_tied in ((tmp_path / "t", tied, True), (tmp_path / "u", untied, False)):
        folder.mkdir()
        write_safetensors(weights, folder, 10**9)
        (folder / "config.json").write_text(json.dumps(hf_config(
            info.model, TOKENIZER_VOCAB, 32, 0, 0, tied=is_tied, dtype="float32")))
    a, b = hf_logits(tmp_path / "t", exported["ids"]), hf_logits(tmp_path / "u", exported["ids"])
    assert (a - b).abs().max().item() < 1e-5


def test_bad_inputs_are_one_line_messages(exported, tmp_path):
    results = []

    def fails(*args: str, says: str) -> None:
        r = garden("export", *args)
        results.append(r)
        assert r.returncode != 0 and says in r.stderr, r.stderr

    fails(str(tmp_path / "nope"), "-o", str(tmp_path / "o"), says="no such run directory")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    fails(str(junk), "-o", str(tmp_path / "o"), says="not a Garden training run or checkpoint")

    broken = tmp_path / "broken"
    shutil.copytree(exported["runs"]["tiny"] / "checkpoints" / "iter_0000002", broken)
    for f in broken.glob("*.distcp"):
        f.write_bytes(f.read_bytes()[:100])
    fails(str(broken), "-o", str(tmp_path / "o"), says="unreadable, truncated or incomplete")
    assert not (tmp_path / "o").exists()  # nothing half-written

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("user file")
    fails(str(exported["runs"]["tiny"]), "-o", str(busy), says="not empty")
    assert [p.name for p in busy.iterdir()] == ["mine.txt"]  # a user's folder is never touched
    assert all("Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
               for r in results)

    from trainer.export import ExportError, export

    again = tmp_path / "again"
    export(exported["runs"]["tiny"], again)
    with pytest.raises(ExportError, match="--force"):
        export(exported["runs"]["tiny"], again)
    export(exported["runs"]["tiny"], again, iteration=1, force=True)
    assert json.loads((again / "garden_export.json").read_text())["iteration"] == 1


def test_garden_eval_agrees_with_a_transformers_perplexity(exported, tmp_path):
    """`garden eval` of the run and a perplexity computed by transformers from the export, over
    the same windows (eval's documented windowing: [EOD] + document, cut every `seq_len`)."""
    import math
    import random

    from trainer.evaluate import windows
    from trainer_helpers import EOD

    rng = random.Random(7)
    docs = [[rng.randrange(1, TOKENIZER_VOCAB) for _ in range(rng.randrange(3, 30))] for _ in range(12)]
    data = tmp_path / "held.jsonl"
    data.write_text("".join(json.dumps({"id": f"d{k}", "text": " ".join(f"t{i}" for i in d)}) + "\n"
                            for k, d in enumerate(docs)))
    out = tmp_path / "eval.json"
    r = garden("eval", str(exported["runs"]["tiny"]), f"held={data}", "--json", str(out), "--seq-len", "8")
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(out.read_text())["sources"]["held"]

    model = transformers.AutoModelForCausalLM.from_pretrained(str(exported["hf"]["tiny"]), dtype=torch.float32,
                                                              local_files_only=True)
    model.eval()
    nats, count = 0.0, 0
    with torch.no_grad():
        for d in docs:
            for x, y in windows(d + [EOD], EOD, 8):  # every document ends with EOD, as tokenize writes it
                logits = model(torch.from_numpy(x)[None]).logits[0]
                nats += torch.nn.functional.cross_entropy(logits, torch.from_numpy(y), reduction="sum").item()
                count += len(y)
    assert got["tokens"] == count == sum(len(d) + 1 for d in docs)
    want = math.exp(nats / count)
    assert abs(got["ppl"] - want) / want < 0.005, (got["ppl"], want)
