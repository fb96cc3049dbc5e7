"""`garden generate`: the same greedy text from a Garden run, its export and transformers; the
KV cache changes nothing but speed; sampling settings do what they say; bad input is a message."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("megatron.core")
pytest.importorskip("safetensors")

import torch  # noqa: E402
from model_helpers import garden, garden_reference, sample_tokens  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(600)]
torch.set_num_threads(1)  # as trainer_helpers does for workers: shared CPUs, see there


@pytest.fixture(scope="module")
def runs(model_runs):
    """tiny and tiny-moe runs (trained once per session, conftest.model_runs) and their exports."""
    from trainer.export import export

    base = model_runs.base
    out = {}
    for name in ("tiny", "tiny-moe"):
        run = model_runs.get(name)
        hf = base / f"gen-hf-{name}"
        shutil.rmtree(hf, ignore_errors=True)
        export(run, hf)  # the CLI is tested in test_export.py
        out[name] = {"run": run, "hf": hf}
    return {"base": base, **out}


def test_greedy_same_from_run_export_transformers_and_megatron(runs):
    transformers = pytest.importorskip("transformers")
    prompt = "t10 t12 t14 t16"
    steps = 12
    run, hf = runs["tiny"]["run"], runs["tiny"]["hf"]
    texts = []
    for src in (run, hf):
        r = garden("generate", str(src), "--prompt", prompt, "--greedy", "--ignore-eod",
                   "--max-new-tokens", str(steps))
        assert r.returncode == 0, r.stderr
        assert f"{steps} tokens in" in r.stderr
        texts.append(r.stdout)
    assert texts[0] == texts[1]
    new_words = texts[0].strip().split()[4:]
    assert len(new_words) == steps
    got = [int(w[1:]) if w != "<|endoftext|>" else 0 for w in new_words]

    ids = torch.tensor([[0, 10, 12, 14, 16]])  # EOD starts every prompt, as every document
    model = transformers.AutoModelForCausalLM.from_pretrained(str(hf), local_files_only=True,
                                                              dtype=torch.float32)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=steps, min_new_tokens=steps, eos_token_id=None,
                         pad_token_id=0)
    assert out[0, ids.shape[1]:].tolist() == got
    ref = garden_reference(runs["base"], [run], ids, greedy_steps=steps)[run]
    assert ref["greedy"] == got


@pytest.mark.parametrize("name", ["tiny", "tiny-moe"])
def test_kv_cache_equals_recomputing(runs, name):
    from trainer.generate import Sampling, generate_ids, load_model

    m = load_model(runs[name]["hf"], device="cpu")
    ids = sample_tokens(1, 6)[0].tolist()
    for s in (Sampling(max_new_tokens=20, temperature=0, stop_at_eod=False),
              Sampling(max_new_tokens=20, temperature=1.3, top_k=50, top_p=0.95,
                       repetition_penalty=1.3, seed=3, stop_at_eod=False)):
        a = generate_ids(m, ids, s, use_cache=True)
        b = generate_ids(m, ids, s, use_cache=False)
        assert a.new_ids == b.new_ids and len(a.new_ids) == 20
    # logits position by position: one token at a time through the cache = one full pass
    seq = torch.tensor([ids + a.new_ids])
    full = m.decoder.forward(seq)
    cache = m.decoder.new_cache()
    steps = [m.decoder.forward(seq[:, :4], cache)] + \
        [m.decoder.forward(seq[:, i:i + 1], cache) for i in range(4, seq.shape[1])]
    assert (torch.cat(steps, dim=1) - full).abs().max().item() < 1e-5


def test_run_and_export_load_the_same_weights(runs):
    from trainer.generate import load_model

    a = load_model(runs["tiny-moe"]["run"], device="cpu")
    b = load_model(runs["tiny-moe"]["hf"], device="cpu")
    assert a.context == b.context == 32 and a.eod_id == b.eod_id == 0
    assert a.decoder.shape == b.decoder.shape
    ids = sample_tokens(2, 16)
    assert torch.equal(a.decoder.forward(ids), b.decoder.forward(ids))


def test_stops_at_end_of_document(runs):
    from trainer.generate import Sampling, generate_ids, load_model

    m = load_model(runs["tiny"]["run"], device="cpu")
    prompt = [0, 10, 11, 12]
    free = generate_ids(m, prompt, Sampling(max_new_tokens=10, temperature=0, stop_at_eod=False))
    assert free.stop == "length" and len(free.new_ids) == 10
    # the last greedy token that did not occur earlier becomes the end-of-document token:
    # generation stops right before it
    k = max(i for i, t in enumerate(free.new_ids) if t not in free.new_ids[:i])
    m.eod_id = free.new_ids[k]
    stopped = generate_ids(m, prompt, Sampling(max_new_tokens=10, temperature=0))
    assert stopped.stop == "eod" and stopped.new_ids == free.new_ids[:k]


def test_sampling_settings():
    from trainer.generate import Sampling, pick_token

    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([2.0, 1.9, -1.0, 0.5])
    assert pick_token(logits, [], Sampling(temperature=0), g) == 0
    # repetition penalty: token 0 already in the context loses its lead (2.0 / 1.5 < 1.9)
    assert pick_token(logits, [0], Sampling(temperature=0, repetition_penalty=1.5), g) == 1
    # top-k 2 never samples outside the two best; top-p 0.5 keeps only the best here
    draws = {pick_token(logits, [], Sampling(temperature=5.0, top_k=2), g) for _ in range(200)}
    assert draws == {0, 1}
    peaked = torch.tensor([3.0, 1.0, 0.0, -1.0])  # p(best) ~ 0.84 >= 0.8
    assert {pick_token(peaked, [], Sampling(temperature=1.0, top_p=0.8), g)
            for _ in range(200)} == {0}
    assert len({pick_token(peaked, [], Sampling(temperature=1.0), g) for _ in range(300)}) > 1
    # the same seed gives the same draws
    a = [pick_token(logits, [], Sampling(temperature=2.0), torch.Generator().manual_seed(5))
         for _ in range(5)]
    b = [pick_token(logits, [], Sampling(temperature=2.0), torch.Generator().manual_seed(5))
         for _ in range(5)]
    assert a == b


def test_stream_never_shows_half_a_character():
    """Byte-level BPE can split one UTF-8 character over tokens: the stream waits for it."""
    from operators.tokens import train_bpe
    from trainer.generate import TextStream
    from trainer.run_tokenizer import ModelTokenizer

    tok = train_bpe(["plain ascii text only"] * 20, vocab_size=300, min_frequency=1,
                    eod_token="<|endoftext|>", special_tokens=[], pre_tokenizer={})
    text = "héllo 你好 wörld"
    ids = tok.encode(text, add_special_tokens=False).ids
    assert len(ids) > len(text)  # multi-byte characters span tokens
    pieces: list[str] = []
    stream = TextStream(ModelTokenizer(tok, 0, "<|endoftext|>", ""), pieces.append)
    for i in ids:
        stream(i)
    stream.finish()
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)


def test_prompts_file_writes_jsonl(runs, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "t10 t12 t14 t16"}) + "\n" +
                       json.dumps({"prompt": "t100 t101"}) + "\n")
    out = tmp_path / "out" / "completions.jsonl"
    r = garden("generate", str(runs["tiny"]["hf"]), "--prompts", str(prompts), "--output",
               str(out), "--greedy", "--ignore-eod", "--max-new-tokens", "12")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [row["prompt"] for row in rows] == ["t10 t12 t14 t16", "t100 t101"]
    assert [row["prompt_tokens"] for row in rows] == [5, 3]
    assert all(row["new_tokens"] == 12 and row["stop"] == "length" for row in rows)
    single = garden("generate", str(runs["tiny"]["hf"]), "--prompt", "t10 t12 t14 t16",
                    "--greedy", "--ignore-eod", "--max-new-tokens", "12")
    assert single.stdout.strip() == ("t10 t12 t14 t16" + rows[0]["completion"]).strip()


def test_refusals_are_one_line_messages(runs, tmp_path):
    long_prompt = " ".join(f"t{10 + i}" for i in range(28))  # 29 tokens with the EOD start
    r = garden("generate", str(runs["tiny"]["run"]), "--prompt", long_prompt,
               "--max-new-tokens", "8")
    assert r.returncode != 0
    assert "29 tokens + --max-new-tokens 8 = 37, more than the model's trained context of 32" \
        in r.stderr
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "weights.bin").write_bytes(b"\0" * 10)
    for path, says in ((tmp_path / "missing", "no such run directory"),
                       (junk, "not a Garden training run or checkpoint")):
        r = garden("generate", str(path), "--prompt", "t10")
        assert r.returncode != 0 and says in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
