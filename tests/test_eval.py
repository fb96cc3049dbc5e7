"""`garden eval` after real CPU trainings (TP=1 and TP=2) of the tiny preset.

The runs are the session's shared model runs (conftest.model_runs: `tiny` and `tp2`, two
iterations each, trained once for this module, test_export.py and test_generate.py), with their
word-level tokenizer of 250 ids (the model pads its vocabulary to 256).  This module writes its
own token shards and held-out `<source>_valid` shards, and the same held-out documents as text
files: "short" documents, and "long" ones of more than three context windows.  Counts are
recomputed here from the inputs, and the loss is recomputed with a plain torch LLaMA forward
written below, from the checkpoint's tensors read with torch's own distributed-checkpoint reader
(not megatron), over the windows `garden eval` documents.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("megatron.core")
torch = pytest.importorskip("torch")

from trainer_helpers import RANGES, ROOT  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(600)]
SEQ = 32  # the shared runs' training context (trainer_helpers.tiny_config)
ITERATION = 2  # their last checkpoint
EOD_TOKEN = "<|endoftext|>"


def _docs(source: str, n: int, lengths: tuple[int, int], seed: int) -> list[str]:
    """Documents like the runs' training data: arithmetic runs of word tokens in a source's range."""
    lo, hi = RANGES[source]
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        length, start, step = int(rng.integers(*lengths)), int(rng.integers(0, hi - lo)), int(rng.integers(1, 4))
        docs.append(" ".join(f"t{(start + i * step) % (hi - lo) + lo}" for i in range(length)))
    return docs


def _write_shard(prefix: Path, tok, texts: list[str], eod: int) -> dict:
    from garden.megatron_format import IndexedDatasetWriter
    from operators.tokens import encode_flat

    flat, lengths = encode_flat(tok, texts, np.dtype(np.uint16), eod)
    w = IndexedDatasetWriter(str(prefix), np.uint16)
    w.add_flat(flat, lengths)
    return {"prefix": str(prefix.relative_to(prefix.parents[1])), **w.finalize()}


@pytest.fixture(scope="module")
def world(model_runs, tmp_path_factory):
    """The runs' tokenizer, shards, blend.json, held-out text files, and the TP=1 and TP=2 runs."""
    from tokenizers import Tokenizer

    runs = {"tp1": model_runs.get("tiny"), "tp2": model_runs.get("tp2")}
    tmp = tmp_path_factory.mktemp("eval")
    data = tmp / "data"
    shutil.copytree(model_runs.tokenizer_dir, data / "tokenizer")
    tok = Tokenizer.from_file(str(data / "tokenizer" / "tokenizer.json"))
    eod = tok.token_to_id(EOD_TOKEN)
    short, long = _docs("a", 640, (3, 30), seed=1), _docs("b", 10, (100, 130), seed=2)
    held = {"short": short[600:640], "long": long[8:10]}
    sources = {}
    for name, train in (("short", short[:600]), ("long", long[:8])):
        sources[name] = _write_shard(data / "tokens" / name, tok, train, eod)
        sources[name]["valid"] = _write_shard(data / "tokens" / f"{name}_valid", tok, held[name], eod)
    blend = data / "blend.json"
    blend.write_text(json.dumps({
        "version": 1, "dtype": "uint16", "split": "100,0,0",
        "tokenizer": {"path": "tokenizer/tokenizer.json", "vocab_size": tok.get_vocab_size(), "eod_id": eod},
        "sources": sources,
        "phases": [{"name": "main", "tokens": 10**6, "weights": {"short": 0.7, "long": 0.3}}]}))
    text = tmp / "heldout"
    text.mkdir()
    (text / "short.jsonl").write_text("".join(json.dumps({"id": f"short-{i}", "text": t}) + "\n"
                                              for i, t in enumerate(held["short"])))
    with gzip.open(text / "long.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"text": t}) + "\n" for t in held["long"])
    (text / "single.txt").write_text(held["long"][0], encoding="utf-8")
    return {"tmp": tmp, "tok": tok, "eod": eod, "held": held, "blend": blend, "text": text, "runs": runs,
            "refs": {}}


def garden_eval(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "garden", "eval", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, env=env)


# --- an independent reference: checkpoint tensors + a plain torch LLaMA forward -------------------

def checkpoint_tensors(iter_dir: Path) -> dict:
    """Every model tensor at its global shape, read with torch.distributed.checkpoint directly."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    reader = dcp.FileSystemReader(str(iter_dir))
    meta = reader.read_metadata().state_dict_metadata
    sd = {k: torch.empty(m.size, dtype=m.properties.dtype) for k, m in meta.items()
          if isinstance(m, TensorStorageMetadata) and not k.startswith("optimizer")}
    import warnings

    with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
        warnings.simplefilter("ignore", UserWarning)
        dcp.load(sd, storage_reader=reader)
    return sd


def reference_nats(w: dict, model: dict, tokens: list[int], eod: int, vocab: int, seq: int) -> float:
    """Sum of nats of a document: after an EOD, windows of `seq` predictions, each scored alone."""
    h, nq, ng = model["hidden_size"], model["num_attention_heads"], model["num_query_groups"]
    hd, r, eps = h // nq, nq // ng, float(model["norm_eps"])
    inputs, total = [eod] + tokens[:-1], 0.0
    for start in range(0, len(tokens), seq):
        x_ids = torch.tensor(inputs[start:start + seq])
        y = torch.tensor(tokens[start:start + seq])
        s = len(x_ids)

        def norm(x, weight):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

        inv = 1.0 / (float(model["rotary_base"]) ** (torch.arange(0, hd, 2).double() / hd))
        ang = torch.outer(torch.arange(s).double(), inv)
        cos, sin = torch.cat([ang, ang], -1).cos().float(), torch.cat([ang, ang], -1).sin().float()

        def rope(t, cos=cos, sin=sin):  # [s, heads, hd], rotate-half convention
            t1, t2 = t[..., :hd // 2], t[..., hd // 2:]
            return t * cos[:, None] + torch.cat([-t2, t1], -1) * sin[:, None]

        x = w["embedding.word_embeddings.weight"][x_ids]
        for i in range(model["num_layers"]):
            lw = {k[len("decoder.layers."):]: v[i] for k, v in w.items() if k.startswith("decoder.layers.")}
            a = norm(x, lw["self_attention.linear_qkv.layer_norm_weight"])
            qkv = (a @ lw["self_attention.linear_qkv.weight"].T).view(s, ng, r + 2, hd)
            q = rope(qkv[:, :, :r].reshape(s, nq, hd))
            k = rope(qkv[:, :, r]).repeat_interleave(r, dim=1)
            v = qkv[:, :, r + 1].repeat_interleave(r, dim=1)
            scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd)
            scores = scores.masked_fill(torch.triu(torch.ones(s, s, dtype=torch.bool), 1), float("-inf"))
            att = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).reshape(s, h)
            x = x + att @ lw["self_attention.linear_proj.weight"].T
            m = norm(x, lw["mlp.linear_fc1.layer_norm_weight"]) @ lw["mlp.linear_fc1.weight"].T
            gate, up = m.chunk(2, dim=-1)
            x = x + (torch.nn.functional.silu(gate) * up) @ lw["mlp.linear_fc2.weight"].T
        logits = norm(x, w["decoder.final_layernorm.weight"]) @ w["output_layer.weight"].T
        total += float(torch.nn.functional.cross_entropy(logits[:, :vocab].double(), y, reduction="sum"))
    return total


def reference_loss(world, run: str, source: str, seq: int = SEQ) -> float:
    """Mean nats per token of the held-out documents of `source` under a run's final checkpoint."""
    key = (run, source, seq)
    if key not in world["refs"]:
        iter_dir = world["runs"][run] / "checkpoints" / f"iter_{ITERATION:07d}"
        model = json.loads((iter_dir / "trainer_state.json").read_text())["model"]
        w = checkpoint_tensors(iter_dir)
        docs = encoded(world, world["held"][source])
        vocab = world["tok"].get_vocab_size()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # many threads on a shared CPU are many times slower
        try:
            with torch.no_grad():
                nats = sum(reference_nats(w, model, d, world["eod"], vocab, seq) for d in docs)
        finally:
            torch.set_num_threads(threads)
        world["refs"][key] = nats / sum(len(d) for d in docs)
    return world["refs"][key]


def encoded(world, texts: list[str]) -> list[list[int]]:
    return [world["tok"].encode(t, add_special_tokens=False).ids + [world["eod"]] for t in texts]


# --- tests ------------------------------------------------------------------------------------------

def test_counts_and_loss_match_an_independent_forward(world):
    tmp, text, held = world["tmp"], world["text"], world["held"]
    out, per_doc = tmp / "tp1.json", tmp / "tp1_docs.parquet"
    r = garden_eval(world["runs"]["tp1"], f"short_text={text / 'short.jsonl'}",
                    f"long_text={text / 'long.jsonl.gz'}", text / "single.txt", world["blend"], "--json", out,
                    "--per-doc", per_doc)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.read_text())
    src = report["sources"]
    assert list(src) == ["short_text", "long_text", "single", "long", "short"]
    assert report["seq_len"] == SEQ and report["iteration"] == ITERATION
    for name in ("short", "long"):
        docs = encoded(world, held[name])
        expect = {"documents": len(held[name]), "tokens": sum(map(len, docs)),
                  "bytes": sum(len(t.encode("utf-8")) for t in held[name])}
        for got in (src[f"{name}_text"], src[name]):  # text file, and the same documents as tokens
            assert {k: got[k] for k in expect} == expect, (name, got)
        # bytes of token shards come from decoding: the same as the text's (the decoder joins words with a space)
        assert src[name]["loss"] == pytest.approx(src[f"{name}_text"]["loss"], rel=1e-9)
    assert src["single"]["documents"] == 1
    assert src["single"]["tokens"] == len(encoded(world, held["long"][:1])[0])
    # the long documents are longer than three windows: windowing is exercised
    assert min(map(len, encoded(world, held["long"]))) > 3 * SEQ

    for name in ("short", "long"):
        want = reference_loss(world, "tp1", name)
        got = src[name]
        assert abs(got["loss"] - want) / want < 0.005, (name, got["loss"], want)
        assert abs(got["loss"] - want) < 1e-4  # in fact the same function
        assert got["ppl"] == pytest.approx(math.exp(got["loss"]))
        assert got["bpb"] == pytest.approx(got["loss"] * got["tokens"] / math.log(2) / got["bytes"])
    overall = report["overall"]
    assert overall["tokens"] == sum(s["tokens"] for s in src.values())
    assert overall["documents"] == sum(s["documents"] for s in src.values())
    assert overall["loss"] * overall["tokens"] == pytest.approx(
        sum(s["loss"] * s["tokens"] for s in src.values()), rel=1e-9)
    assert "overall" in r.stdout and "short_text" in r.stdout  # the terminal table

    import pyarrow.parquet as pq

    rows = pq.read_table(per_doc).to_pylist()
    assert len(rows) == overall["documents"]
    assert sum(row["tokens"] for row in rows) == overall["tokens"]
    assert sum(row["bytes"] for row in rows) == overall["bytes"]
    assert sum(row["loss"] * row["tokens"] for row in rows) == pytest.approx(
        overall["loss"] * overall["tokens"], rel=1e-9)
    assert rows[0]["id"] == "short-0" and rows[0]["source"] == "short_text"


def test_tp2_checkpoint_in_one_process(world):
    # a second blend over the training shards, without _valid shards: its split's valid documents
    raw = json.loads(world["blend"].read_text())
    for src in raw["sources"].values():
        del src["valid"]
    split_blend = world["blend"].with_name("split_blend.json")
    split_blend.write_text(json.dumps({**raw, "split": "90,10,0"}))
    out = world["tmp"] / "tp2.json"
    r = garden_eval(world["runs"]["tp2"], world["blend"], f"split={split_blend}", "--json", out)
    assert r.returncode == 0, r.stdout + r.stderr
    tp2 = json.loads(out.read_text())["sources"]
    from garden.megatron_format import read_lengths

    for name in ("short", "long"):  # megatron's rounding: documents [round(.9 n), round(1.0 n))
        lengths = read_lengths(str(world["blend"].parent / "tokens" / name))[1]
        first = int(round(0.9 * len(lengths)))
        assert tp2[f"split.{name}"]["documents"] == len(lengths) - first
        assert tp2[f"split.{name}"]["tokens"] == int(lengths[first:].sum())
    for name in ("short", "long"):
        want = reference_loss(world, "tp2", name)
        assert abs(tp2[name]["loss"] - want) < 1e-4, (name, tp2[name]["loss"], want)
        # the TP=2 run trained the same weights as the TP=1 run (tests/test_train_parallel.py)
        tp1 = reference_loss(world, "tp1", name)
        assert tp2[name]["loss"] == pytest.approx(tp1, rel=1e-4)


def test_shorter_windows(world):
    """--seq-len 8: four times more windows, each token still scored once, same reference."""
    out = world["tmp"] / "short.json"
    r = garden_eval(world["runs"]["tp1"], world["text"] / "long.jsonl.gz", "--seq-len", "8", "--json", out)
    assert r.returncode == 0, r.stdout + r.stderr
    short = json.loads(out.read_text())
    assert short["seq_len"] == 8
    got = short["sources"]["long"]
    assert got["tokens"] == sum(map(len, encoded(world, world["held"]["long"])))
    assert abs(got["loss"] - reference_loss(world, "tp1", "long", seq=8)) < 1e-4
    r = garden_eval(world["runs"]["tp1"], world["text"] / "long.jsonl.gz", "--seq-len", str(SEQ + 1))
    assert r.returncode != 0 and f"longer than the {SEQ} tokens" in r.stderr


@pytest.mark.parametrize("case", ["no-run", "no-checkpoint", "bad-line", "half-shard"])
def test_errors_are_one_line(world, case, tmp_path):
    run, inp, needle = world["runs"]["tp1"], world["text"] / "short.jsonl", None
    if case == "no-run":
        run, needle = tmp_path / "missing", f"{tmp_path / 'missing'}: no such run directory"
    elif case == "no-checkpoint":
        run, needle = tmp_path, f"{tmp_path}: no checkpoint"
    elif case == "bad-line":
        inp = tmp_path / "bad.jsonl"
        inp.write_text('{"text": "fine"}\n{"text": broken\n')
        needle = f"{inp}:2: invalid JSON"
    else:
        inp = tmp_path / "half"
        (tmp_path / "half.bin").write_bytes(b"")
        needle = f"{inp}: a token shard needs both"
    r = garden_eval(run, inp)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
