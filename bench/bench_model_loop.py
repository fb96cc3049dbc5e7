"""The model loop after training: `garden export` time and `garden generate` tokens/s on CPU.

For each preset (tiny: a few training steps; 125m: random init, a 0-iteration `garden train`
that only writes the checkpoint) on synthetic shards:
- export: trainer.export.export (read the torch_dist checkpoint, map, write safetensors) next
  to its floor, the raw library calls it is made of (torch.distributed.checkpoint load of the
  model tensors + safetensors save_file of the same bytes);
- generate: greedy tokens/s of Garden's decoder with the KV cache and without it (each token
  re-runs the whole sequence), next to transformers' generate() with its cache on the exported
  folder (same prompt, same tokens).
All in one process with one torch thread (the machine is shared; several threads per process
slow down ~20x under contention, see bench/results/train.md).

    python bench/bench_model_loop.py [--presets tiny,125m] [--new-tokens 128] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
WORK = REPO / "bench" / "_work" / "model_loop"
RESULTS = REPO / "bench" / "results" / "model_loop.md"
SEQ_LEN = 256


def make_run(preset: str, iters: int) -> Path:
    """A `garden train` run of the preset on bench_train's synthetic shards (vocab 32000)."""
    from bench_train import make_data

    run_dir = WORK / f"run-{preset}"
    if (run_dir / "checkpoints" / "latest").exists():
        return run_dir
    blend = make_data(WORK / "data", docs=300, vocab=32000)
    cmd = [sys.executable, "-m", "trainer", str(REPO / "recipes" / "train-tiny.yaml"),
           f"data.blend={blend}", f"run_dir={run_dir}", f"model.preset={preset}",
           "model.vocab_size=32000", f"training.train_iters={iters}",
           f"training.seq_len={SEQ_LEN}", "training.micro_batch=2", "training.global_batch=2",
           "checkpoint.interval=0"]
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        raise SystemExit(r.stdout + r.stderr)
    return run_dir


def bench_export(run_dir: Path, out: Path) -> dict:
    import shutil

    import torch
    from safetensors.torch import save_file

    from trainer.export import export
    from trainer.restore import find_checkpoint, read_model_tensors

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    r = export(run_dir, out)
    garden_s = time.perf_counter() - t
    # floor: the two library calls alone (read every model tensor, write the same bytes)
    t = time.perf_counter()
    sd = read_model_tensors(find_checkpoint(run_dir))
    save_file({k: v.contiguous() for k, v in sd.items()}, str(WORK / "raw.safetensors"))
    raw_s = time.perf_counter() - t
    size = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    del sd
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return {"export_s": garden_s, "raw_s": raw_s, "params": r.parameters, "bytes": size}


def bench_generate(hf: Path, prompt_len: int, new_tokens: int, no_cache_tokens: int) -> dict:
    import torch
    import transformers

    from trainer.generate import Sampling, generate_ids, load_model

    m = load_model(hf, device="cpu")
    g = torch.Generator().manual_seed(0)
    prompt = [0] + torch.randint(1, m.decoder.shape.vocab_size, (prompt_len - 1,), generator=g).tolist()
    greedy = Sampling(max_new_tokens=new_tokens, temperature=0, stop_at_eod=False)
    generate_ids(m, prompt, Sampling(max_new_tokens=4, temperature=0))  # warm-up
    cached = generate_ids(m, prompt, greedy, use_cache=True)
    short = Sampling(max_new_tokens=no_cache_tokens, temperature=0, stop_at_eod=False)
    uncached = generate_ids(m, prompt, short, use_cache=False)
    assert uncached.new_ids == cached.new_ids[:no_cache_tokens], "cache changed the tokens"

    model = transformers.AutoModelForCausalLM.from_pretrained(str(hf), dtype=torch.float32,
                                                              local_files_only=True)
    model.eval()
    ids = torch.tensor([prompt])
    kw = dict(attention_mask=torch.ones_like(ids), do_sample=False, eos_token_id=None,
              pad_token_id=0)
    model.generate(ids, max_new_tokens=4, min_new_tokens=4, **kw)  # warm-up
    t = time.perf_counter()
    out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kw)
    hf_s = time.perf_counter() - t
    same = out[0, len(prompt):].tolist() == cached.new_ids
    return {"cache_tps": new_tokens / cached.seconds, "no_cache_tps": no_cache_tokens / uncached.seconds,
            "no_cache_tokens": no_cache_tokens, "hf_tps": new_tokens / hf_s, "same_as_hf": same}


def main() -> None:
    from run_all import publish

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", default="tiny,125m")
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import torch
    from run_all import machine

    torch.set_num_threads(1)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    WORK.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    rows = []
    for preset in args.presets.split(","):
        run = make_run(preset, iters=20 if preset.startswith("tiny") else 0)
        e = bench_export(run, WORK / f"hf-{preset}")
        no_cache = args.new_tokens if preset.startswith("tiny") else min(args.new_tokens, 32)
        g = bench_generate(WORK / f"hf-{preset}", args.prompt_len, args.new_tokens, no_cache)
        rows.append({"preset": preset, **e, **g})
        print(json.dumps(rows[-1]), flush=True)
    lines = [
        "# garden export / garden generate (CPU, one torch thread)",
        "",
        f"Synthetic shards, vocab 32000, seq_len {SEQ_LEN}; tiny trained 20 iterations, 125m "
        f"random init (0-iteration run). Generation: greedy, prompt {args.prompt_len} tokens, "
        f"{args.new_tokens} new tokens (without the cache: the first N shown, as each token "
        f"re-runs the whole sequence). Machine: {machine()}; load average (1 min) at start: "
        f"{load:.1f} on {os.cpu_count()} cores (above the core count, other work shared the "
        f"CPUs: compare the ratios, not the absolute rates).",
        "",
        "| preset | params | safetensors MB | export s | raw dcp load + save_file s | export / raw "
        "| generate tok/s, KV cache | tok/s, no cache (N) | cache speed-up | transformers "
        "generate tok/s | Garden / transformers | same tokens |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['params'] / 1e6:.1f}M | {r['bytes'] / 1e6:.1f} | "
            f"{r['export_s']:.2f} | {r['raw_s']:.2f} | {r['export_s'] / r['raw_s']:.2f}x | "
            f"{r['cache_tps']:.1f} | {r['no_cache_tps']:.1f} ({r['no_cache_tokens']}) | "
            f"{r['cache_tps'] / r['no_cache_tps']:.1f}x | {r['hf_tps']:.1f} | "
            f"{r['cache_tps'] / r['hf_tps']:.2f}x | {'yes' if r['same_as_hf'] else 'NO'} |")
    publish(lines, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
