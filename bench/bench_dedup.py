"""Dedup benchmarks (issue 4): quality, speed against peers, signature throughput, scale and memory.

1. Quality: a near-duplicate set from real corpora (tests/neardup_set.py: exact and edited copies
   at measured word-5-gram Jaccard, plus distinct documents), threshold 0.8: share of copies with
   Jaccard ≥ 0.85 removed, share of distinct documents lost, for Garden, datatrove and datasketch.
2. Speed, same input, same run: `garden run` with minhash_dedup vs datatrove's 4-stage MinHash
   (its defaults, 2 workers) vs a plain datasketch MinHashLSH script (one process).
3. Signature throughput: Garden's batched signatures (MinHash.generator → update_batch) vs
   datasketch's per-token `update` on the same shingles.
4. Scale: synthetic ~1 KB documents with web-like duplicate structure at several sizes; peak RSS
   per phase (sum over the driver and its workers, and the largest single process).

    python bench/bench_dedup.py [--quick] [--sizes 250000,1000000] [--skip-peers]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import threading
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, "_work", "dedup")
RESULTS = os.path.join(HERE, "results", "dedup.md")
GARDEN = os.path.join(REPO, ".venv", "bin", "garden")
DT_VENV = os.path.join(HERE, "_work", "venv-datatrove")
DT_PY = os.path.join(DT_VENV, "bin", "python")
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))  # neardup_set: shared with the tests

import neardup_set  # noqa: E402


# -- process-tree memory sampling ------------------------------------------------------------
class TreeSampler(threading.Thread):
    """Samples the RSS of a process and its children; `phase_of()` names the current phase."""

    def __init__(self, pid: int, phase_of, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.phase_of = phase_of
        self.interval = interval
        self.peaks: dict[str, dict[str, float]] = {}
        self.order: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            phase = self.phase_of()
            if phase not in self.peaks:
                self.peaks[phase] = {"total": 0.0, "max_proc": 0.0}
                self.order.append(phase)
            pk = self.peaks[phase]
            pk["total"] = max(pk["total"], sum(rss) / 2**20)
            pk["max_proc"] = max(pk["max_proc"], max(rss) / 2**20 if rss else 0)
            self.stop.wait(self.interval)


def garden_phase(out: str):
    """Phase of a `garden run` with [minhash_dedup] from its completion markers."""
    def count(pattern: str) -> int:
        return len(glob.glob(os.path.join(out, "_work", pattern)))

    def phase() -> str:
        plan = os.path.join(out, "_work", "plan.json")
        if not os.path.exists(plan):
            return "read"
        try:
            with open(plan) as fh:
                n = len(json.load(fh)["shards"])
        except (OSError, ValueError):
            return "read"
        if count("s00-stream/done/shard-*.json") < n:
            return "read"
        if count("s01-minhash_dedup/done/scan-*.json") < n:
            return "scan"
        if count("s01-minhash_dedup/done/reduce-*.json") < 64:
            return "reduce"
        if not os.path.exists(os.path.join(out, "_work", "s01-minhash_dedup", "done", "finalize.json")):
            return "finalize"
        return "apply"
    return phase


def run_measured(cmd: list[str], phase_of=lambda: "all", env=None) -> tuple[float, TreeSampler]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    sampler = TreeSampler(proc.pid, phase_of)
    sampler.start()
    output = proc.communicate()[0]
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{output[-3000:]}")
    return wall, sampler


# -- the three dedup implementations ---------------------------------------------------------
def run_garden(inp: str, out: str, workers: int = 2, threshold: float = 0.8, shard_size: str = "32MB"):
    recipe = {"name": "bench-dedup", "inputs": [{"path": inp, "source": "bench"}], "output": out,
              "workers": workers, "shard_size": shard_size,
              "pipeline": [{"minhash_dedup": {"threshold": threshold}}]}
    path = out.rstrip("/") + ".yaml"
    import yaml

    with open(path, "w") as fh:
        yaml.safe_dump(recipe, fh)
    wall, sampler = run_measured([GARDEN, "run", path, "--no-resume", "-q"], garden_phase(out))
    with open(os.path.join(out, "stats.json")) as fh:
        stats = json.load(fh)
    return wall, sampler, stats


def garden_kept(out: str) -> set[str]:
    import pyarrow.parquet as pq

    kept: set[str] = set()
    for f in glob.glob(os.path.join(out, "data", "*.parquet")):
        kept.update(pq.read_table(f, columns=["id"]).column("id").to_pylist())
    return kept


def datasketch_baseline(inp: str, out: str, threshold: float = 0.8, num_perm: int = 128) -> None:
    """The plain script: lowercased whitespace words, 5-gram shingles, query-then-insert MinHashLSH."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept = []
    with open(inp, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            w = doc["text"].lower().split()
            sh = {" ".join(w[i:i + 5]).encode() for i in range(max(1, len(w) - 4))}
            m = MinHash(num_perm=num_perm)
            m.update_batch(sh)
            if lsh.query(m):
                continue
            lsh.insert(doc["id"], m)
            kept.append(doc["id"])
    with open(out, "w") as fh:
        fh.write("\n".join(kept))


DT_SCRIPT = r'''
import glob, json, os, sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupSignature, MinhashDedupBuckets,
                                              MinhashDedupCluster, MinhashDedupFilter)

if __name__ == "__main__":
    inp, work, tasks, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cfg = MinhashConfig()
    logs = os.path.join(work, "logs")
    LocalPipelineExecutor(pipeline=[JsonlReader(inp), MinhashDedupSignature(os.path.join(work, "sigs"), config=cfg)],
                          tasks=tasks, workers=workers, logging_dir=logs + "/1").run()
    LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(os.path.join(work, "sigs"), os.path.join(work, "buckets"), config=cfg)],
                          tasks=cfg.num_buckets, workers=workers, logging_dir=logs + "/2").run()
    LocalPipelineExecutor(pipeline=[MinhashDedupCluster(os.path.join(work, "buckets"), os.path.join(work, "remove"), config=cfg)],
                          tasks=1, workers=1, logging_dir=logs + "/3").run()
    LocalPipelineExecutor(pipeline=[JsonlReader(inp), MinhashDedupFilter(os.path.join(work, "remove")),
                                    JsonlWriter(os.path.join(work, "out"), compression=None)],
                          tasks=tasks, workers=workers, logging_dir=logs + "/4").run()
'''


def split_input(inp: str, out_dir: str, parts: int) -> None:
    """datatrove gives one file to one task: cut the input into `parts` files."""
    import shutil

    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    with open(inp, encoding="utf-8") as fh:
        lines = fh.readlines()
    step = (len(lines) + parts - 1) // parts
    for k in range(parts):
        with open(os.path.join(out_dir, f"part-{k:02d}.jsonl"), "w", encoding="utf-8") as fh:
            fh.writelines(lines[k * step:(k + 1) * step])


def run_datatrove(inp: str, work: str, workers: int = 2, tasks: int = 4):
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    split = os.path.join(work, "input")
    split_input(inp, split, tasks)
    script = os.path.join(work, "dt_minhash.py")
    with open(script, "w") as fh:
        fh.write(DT_SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DATATROVE_COLORIZE_LOGS": "0"}
    wall, sampler = run_measured([DT_PY, script, split, work, str(tasks), str(workers)], env=env)
    kept: set[str] = set()
    for f in glob.glob(os.path.join(work, "out", "*.jsonl")):
        with open(f, encoding="utf-8") as fh:
            kept.update(json.loads(line)["id"] for line in fh)
    return wall, sampler, kept


def run_datasketch(inp: str, work: str):
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "datasketch-kept.txt")
    wall, sampler = run_measured([sys.executable, os.path.abspath(__file__), "--datasketch-baseline", inp, out])
    with open(out) as fh:
        kept = set(fh.read().split("\n"))
    return wall, sampler, kept


# -- sections --------------------------------------------------------------------------------
def section_quality(args, lines: list[str]) -> None:
    groups, distinct, per_source = (250, 1500, 800) if args.quick else (1200, 8000, 4000)
    inp = os.path.join(WORK, f"neardup-{groups}.jsonl")
    if not os.path.exists(inp):
        pool = neardup_set.make_pool(per_source=per_source)
        records = neardup_set.build_set(pool, groups, distinct, seed=1)
        neardup_set.write_jsonl(inp, records)
    with open(inp, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    plain = os.path.join(WORK, f"neardup-{groups}-plain.jsonl")
    neardup_set.write_jsonl(plain, [{"id": r["id"], "text": r["text"]} for r in records])
    results = {}
    wall, _, stats = run_garden(plain, os.path.join(WORK, "q-garden"), shard_size="2MB")
    results["Garden minhash_dedup"] = (wall, neardup_set.evaluate(records, garden_kept(os.path.join(WORK, "q-garden"))))
    op = stats["ops"][0]
    if not args.skip_peers:
        w, _, kept = run_datatrove(plain, os.path.join(WORK, "q-datatrove"))
        results["datatrove MinHash (defaults)"] = (w, neardup_set.evaluate(records, kept))
        w, _, kept = run_datasketch(plain, WORK)
        results["datasketch MinHashLSH script"] = (w, neardup_set.evaluate(records, kept))
    n_zh = sum(neardup_set.is_cjk(r["text"]) for r in records)
    lines += [
        "## 1. Quality on planted near-duplicates (threshold 0.8)", "",
        f"Set: {len(records):,} documents ({n_zh:,} Chinese) cut from the shared corpora (kernel and Python docs, "
        f"FOLDOC, Chinese kernel docs and man pages), cleaned of their own near-duplicates; {groups:,} originals with "
        f"{sum(r['kind'] == 'exact' for r in records):,} exact and {sum(r['kind'] == 'edited' for r in records):,} "
        "edited copies at measured word-5-gram Jaccard, and "
        f"{sum(r['kind'] == 'distinct' for r in records):,} distinct documents. "
        f"Garden chose {op['bands']} bands × {op['rows']} rows; S-curve P(candidate | s): "
        + ", ".join(f"{k}: {v}" for k, v in op["s_curve"].items()) + ".", "",
        "| implementation | copies with J ≥ 0.85 removed | distinct docs lost | wall s |",
        "|---|---|---|---|",
    ]
    for name, (wall, ev) in results.items():
        lines.append(f"| {name} | {ev['recall_high']:.4f} ({ev['copies_high']:,} copies) | "
                     f"{ev['distinct_loss_rate']:.4%} ({ev['distinct_lost']} of {ev['distinct']:,}) | {wall:.1f} |")
    ev = results["Garden minhash_dedup"][1]
    lines += ["", "Garden: share of copies removed by true Jaccard with the original:", "",
              "| Jaccard | copies | removed |", "|---|---|---|"]
    for k, v in ev["removed_by_bin"].items():
        if v["n"] >= 5:
            lines.append(f"| {k} | {v['n']} | {v['rate']:.3f} |")
    lines.append("")


def section_speed(args, lines: list[str]) -> None:
    n = 10_000 if args.quick else 50_000
    inp = ensure_synthetic(n)
    lines += [f"## 2. Speed side by side: {n:,} synthetic documents (~1 KB, 25 % copies), same file, same run", "",
              "| implementation | workers | wall s | docs/s | peak RSS (all processes) MiB | duplicates removed |",
              "|---|---|---|---|---|---|"]
    wall, sampler, stats = run_garden(inp, os.path.join(WORK, "s-garden"))
    g_wall = wall
    peak = max(p["total"] for p in sampler.peaks.values())
    dropped = sum(stats["ops"][0]["dropped"].values())
    lines.append(f"| Garden minhash_dedup | 2 | {wall:.1f} | {n / wall:,.0f} | {peak:,.0f} | {dropped:,} |")
    if not args.skip_peers:
        w, s, kept = run_datatrove(inp, os.path.join(WORK, "s-datatrove"))
        lines.append(f"| datatrove 4-stage MinHash (defaults: 5-grams, 14×8) | 2 | {w:.1f} | {n / w:,.0f} | "
                     f"{max(p['total'] for p in s.peaks.values()):,.0f} | {n - len(kept):,} |")
        dt_wall = w
        w, s, kept = run_datasketch(inp, WORK)
        lines.append(f"| datasketch MinHashLSH script | 1 | {w:.1f} | {n / w:,.0f} | "
                     f"{max(p['total'] for p in s.peaks.values()):,.0f} | {n - len(kept):,} |")
        lines += ["", f"Ratios: Garden is {dt_wall / g_wall:.2f}× datatrove's speed and {w / g_wall:.2f}× the "
                  "datasketch script's (wall time; the script is one process holding the whole LSH index in memory)."]
    lines.append("")


def section_signatures(args, lines: list[str]) -> None:
    from datasketch import MinHash

    from operators.dedup import SCHEME, prehashed, shingle_hashes, shingles, signatures

    n = 2000 if args.quick else 10000
    with open(ensure_synthetic(10_000 if args.quick else 50_000), encoding="utf-8") as fh:
        texts = [json.loads(next(fh))["text"] for _ in range(n)]

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    t_garden, (sigs, _) = timed(lambda: signatures(texts, 5, 128, 1))

    def per_token_default():  # the textbook loop: string shingles, SHA-1, one update() per shingle
        out = []
        for t in texts:
            m = MinHash(num_perm=128, seed=1, scheme=SCHEME)
            for sh in shingles(t, 5):
                m.update(sh)
            out.append(m.hashvalues)
        return out

    t_default, _ = timed(per_token_default)
    hashed = [shingle_hashes(t, 5) for t in texts]

    def per_token_same_hash():
        out = []
        for hs in hashed:
            m = MinHash(num_perm=128, seed=1, hashfunc=prehashed, scheme=SCHEME)
            for h in hs:
                m.update(h)
            out.append(m.hashvalues)
        return out

    t_same, slow = timed(per_token_same_hash)
    t_shingle, _ = timed(lambda: [shingle_hashes(t, 5) for t in texts])
    same = all((a == b).all() for a, b in zip(sigs, slow))
    lines += [f"## 3. Signature throughput ({n:,} synthetic documents, one process, 128 permutations, word 5-grams)", "",
              "| method | docs/s | vs Garden |", "|---|---|---|",
              f"| Garden `signatures()`: hashed n-grams + datasketch `MinHash.generator` (batched `update_batch`) | {n / t_garden:,.0f} | 1.00× |",
              f"| datasketch per-token `update`, string shingles, SHA-1 (64-bit) | {n / t_default:,.0f} | {t_garden / t_default:.2f}× |",
              f"| datasketch per-token `update`, Garden's shingle hashes | {n / (t_shingle + t_same):,.0f} | {t_garden / (t_shingle + t_same):.2f}× |",
              "", f"Batched and per-token signatures over the same shingle hashes are identical: {same}.", ""]


def ensure_synthetic(n: int) -> str:
    path = os.path.join(WORK, f"syn-{n}.jsonl")
    if os.path.exists(path):
        return path
    big = os.path.join(WORK, "syn-1000000.jsonl")
    if os.path.exists(big) and n <= 1_000_000:
        with open(big, encoding="utf-8") as src, open(path + ".tmp", "w", encoding="utf-8") as dst:
            for _ in range(n):
                dst.write(next(src))
        os.replace(path + ".tmp", path)
    else:
        neardup_set.synthetic_corpus(path, n)
    return path


def section_scale(args, lines: list[str]) -> None:
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([20_000, 80_000] if args.quick else [250_000, 1_000_000])
    lines += ["## 4. Scale and memory (2 workers, 32 MB shards)", "",
              "Peak RSS per phase in MiB: all processes together (driver + 2 workers) / the largest single process.", "",
              "| docs | input MB | wall s | read | scan | reduce | finalize | apply | union-find nodes | candidate pairs | duplicates |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = {}
    for n in sizes:
        inp = ensure_synthetic(n)
        out = os.path.join(WORK, f"scale-{n}")
        wall, sampler, stats = run_garden(inp, out)
        op = stats["ops"][0]
        cells = []
        for ph in ("read", "scan", "reduce", "finalize", "apply"):
            pk = sampler.peaks.get(ph)
            cells.append(f"{pk['total']:,.0f} / {pk['max_proc']:,.0f}" if pk else "–")
        rows[n] = sampler.peaks
        lines.append(f"| {n:,} | {os.path.getsize(inp) / 2**20:,.0f} | {wall:,.0f} | " + " | ".join(cells)
                     + f" | {op['union_find_nodes']:,} | {op['candidate_pairs']:,} | {op['duplicates']:,} |")
        phases = ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in (op.get("timing") or op.get("phases") or {}).items())
        lines.append(f"|  | phases: {phases}; bands×rows {op['bands']}×{op['rows']}; clusters {op['clusters']:,}, "
                     f"largest {op['largest_cluster']:,} | | | | | | | | | |")
        write_results(lines)  # keep what is measured even if a later size fails
    if len(sizes) >= 2:
        lo, hi = rows[sizes[0]], rows[sizes[-1]]
        ratios = []
        for ph in ("read", "scan", "reduce", "apply", "finalize"):
            if ph in lo and ph in hi:
                ratios.append(f"{ph} {hi[ph]['max_proc'] / lo[ph]['max_proc']:.2f}×")
        lines += ["", f"Growth of the largest process's peak RSS from {sizes[0]:,} to {sizes[-1]:,} documents: "
                  + ", ".join(ratios) + " (finalize holds the union-find over the nodes in candidate pairs).", ""]


def section_lines(args, lines: list[str]) -> None:
    """line_dedup on raw HTML pages; decontaminate against eval items planted from known documents."""
    import gzip
    import random

    import yaml

    corpora = neardup_set.CORPORA
    html = os.path.join(corpora, "web_raw_html_debian_handbook.jsonl.gz")
    out = os.path.join(WORK, "l-linededup")
    recipe = {"name": "bench-lines", "inputs": [{"path": html, "source": "web"}], "output": out, "workers": 2,
              "pipeline": [{"line_dedup": {"max_docs": 10}}]}
    with open(out + ".yaml", "w") as fh:
        yaml.safe_dump(recipe, fh)
    wall, sampler = run_measured([GARDEN, "run", out + ".yaml", "--no-resume", "-q"])
    with open(os.path.join(out, "stats.json")) as fh:
        op = json.load(fh)["ops"][0]
    n_html = op["in"]
    lines += ["## 5. line_dedup and decontaminate on real text", "",
              f"line_dedup (`max_docs: 10`, lines) on {n_html:,} raw HTML pages of the Debian handbook "
              f"({op['chars_in'] / 1e6:.1f} M characters): {op['frequent_units']:,} boilerplate lines "
              f"(the most common one is on {op['max_docs_of_a_unit']:,} pages) were removed "
              f"{op['unit_occurrences_removed']:,} times, "
              f"{1 - op['chars_out'] / op['chars_in']:.1%} of the characters; {n_html / wall:,.0f} pages/s end to end "
              f"({wall:.1f} s), peak RSS {max(p['total'] for p in sampler.peaks.values()):,.0f} MiB.", ""]

    rng = random.Random(0)
    src = os.path.join(corpora, "en_python_doc_rst.jsonl.gz")
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    planted = rng.sample([d for d in docs if len(d["text"].split()) > 200], 50)
    eval_path = os.path.join(WORK, "eval-python-docs.jsonl")
    with open(eval_path, "w", encoding="utf-8") as fh:
        for d in planted:
            words = d["text"].split()
            k = rng.randrange(len(words) - 40)
            fh.write(json.dumps({"question": " ".join(words[k:k + 30]), "answer": "x"}) + "\n")
    out = os.path.join(WORK, "l-decontam")
    recipe = {"name": "bench-decontam", "inputs": [{"path": src, "source": "pydoc"}], "output": out, "workers": 2,
              "pipeline": [{"decontaminate": {"eval_files": [eval_path], "fields": ["question"]}}]}
    with open(out + ".yaml", "w") as fh:
        yaml.safe_dump(recipe, fh)
    wall, _ = run_measured([GARDEN, "run", out + ".yaml", "--no-resume", "-q"])
    kept = garden_kept(out)
    flagged = {d["id"] for d in docs} - kept
    found = sum(d["id"] in flagged for d in planted)
    lines += [f"decontaminate (13-grams) of the {len(docs):,} Python documentation sources against 50 eval items, "
              "each a 30-word span cut from a known document: "
              f"{found} of the 50 source documents flagged, {len(flagged) - found} other documents flagged "
              f"(they share a 13-word span with an item); {len(docs) / wall:,.0f} docs/s end to end ({wall:.1f} s).", ""]


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
    except OSError:
        names = []
    mem = psutil.virtual_memory().total / 2**30
    return f"{names[0] if names else 'CPU'} ×{os.cpu_count()}, {mem:.0f} GiB RAM"


HEADER: list[str] = []


SECTION_ORDER = ("quality", "speed", "signatures", "scale", "lines")
CURRENT: list[str] = [""]
STAMP: list[str] = [""]


def write_results(lines: list[str]) -> None:
    """Save this section's lines, then assemble the results file from every section measured so far."""
    part_dir = os.path.join(WORK, "sections")
    os.makedirs(part_dir, exist_ok=True)
    stamped = lines[:1] + ["", STAMP[0]] + lines[1:] if lines else lines
    with open(os.path.join(part_dir, f"{CURRENT[0]}.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(stamped) + "\n")
    body = []
    for name in SECTION_ORDER:
        path = os.path.join(part_dir, f"{name}.md")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                body.append(fh.read())
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS + ".tmp", "w", encoding="utf-8") as fh:
        fh.write("\n".join(HEADER) + "\n" + "\n".join(body))
    os.replace(RESULTS + ".tmp", RESULTS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    ap.add_argument("--skip-peers", action="store_true", help="Garden only (no datatrove / datasketch runs)")
    ap.add_argument("--sizes", default="", help="comma-separated corpus sizes for the scale section")
    ap.add_argument("--sections", default="quality,speed,signatures,scale,lines")
    ap.add_argument("--datasketch-baseline", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.datasketch_baseline:
        datasketch_baseline(*args.datasketch_baseline)
        return
    os.makedirs(WORK, exist_ok=True)
    if not args.skip_peers and not os.path.exists(DT_PY):
        subprocess.run([sys.executable, "-m", "venv", DT_VENV], check=True)
        subprocess.run([os.path.join(DT_VENV, "bin", "pip"), "install", "-q", "datatrove[processing,io]", "spacy"],
                       check=True)
    HEADER[:] = ["# Dedup (issue 4)", "",
                 f"Machine: {machine()}; "
                 "`python bench/bench_dedup.py` (`--quick` for a small run); sections may come from separate invocations "
                 "(`--sections`), each stamped with its own time.", ""]
    sections = {"quality": section_quality, "speed": section_speed, "signatures": section_signatures,
                "scale": section_scale, "lines": section_lines}
    for name in args.sections.split(","):
        CURRENT[0] = name
        lines: list[str] = []
        load = os.getloadavg()
        stamp = (f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{' (--quick)' if args.quick else ''}; "
                 f"load average at start {load[0]:.1f} (the machine is shared: other jobs ran at the same time)._")
        STAMP[0] = stamp
        sections[name](args, lines)
        write_results(lines)
    print(open(RESULTS, encoding="utf-8").read())


if __name__ == "__main__":
    main()
