"""Speed and agreement of Garden's four heuristic filters against datatrove's, on the same files.

    .venv/bin/python bench/bench_filters.py [--quick]

Garden runs gopher_repetition + gopher_quality + c4_quality + fineweb_quality through
`garden run` with 1 and 2 workers; datatrove runs GopherRepetitionFilter + GopherQualityFilter +
C4QualityFilter + FineWebQualityFilter (defaults, offline) through its LocalPipelineExecutor in
its own venv (bench/_work/venv-datatrove, created here). Both read the same N jsonl files.
Per-document decisions of every filter, applied independently to the original text, are
written by both and compared. Figures go to bench/results/filters.md.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPORA = "/work/shared/corpora"
ENGLISH = ["en_linux_doc_rst", "en_python_doc_rst", "en_fortunes", "en_dict_foldoc"]
WORK = os.path.join(ROOT, "bench", "_work", "filters")
DT_VENV = os.path.join(ROOT, "bench", "_work", "venv-datatrove")
RESULTS = os.path.join(ROOT, "bench", "results", "filters.md")
GARDEN_OPS = ["gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]
DT_NAMES = {"gopher_repetition": "GopherRepetitionFilter", "gopher_quality": "GopherQualityFilter",
            "c4_quality": "C4QualityFilter", "fineweb_quality": "FineWebQualityFilter"}
N_FILES = 2
EXPLANATION = """## Why the decisions differ where they do

The rules and thresholds are the same; the differences come from what counts as a word.
datatrove splits with spaCy and keeps punctuation tokens (`=`, `,`, `(`) in the word list; Garden's
words are runs of letters/digits (CJK characters one by one) and never punctuation.

- **gopher_repetition**: datatrove's n-grams include punctuation tokens, so reStructuredText
  underlines (`=====` → `= = = =`) make "repeated 2/3/4-grams" that cover more than 100 % of the
  text in some files; Garden's n-grams are over words only and keep those pages. In short documents
  (fortunes, dictionary entries) the most frequent n-gram occurs once and covers a large share by
  itself (the rule as published; both tools apply it), and the share depends on the word split
  (`wasn't` is one word here, `was` + `n't` in spaCy), so verdicts flip near the threshold. Most of
  these short documents are dropped by gopher_quality anyway (see "all four").
- **gopher_quality**: the alphabetic-word share counts punctuation tokens in the denominator as
  datatrove does; spaCy splits more (`foo_bar`, `--option`, URLs into several tokens), so datatrove
  drops more markup-heavy pages.
- **fineweb_quality**: both tools now use FineWeb-2's terminal characters (no quotes; Garden
  counted closing quotes before, see docs/published-rules.md); the list ratio divides by a token
  count that splits less than spaCy (hyphenated words stay one token).
- **c4_quality**: sentences are split by sentencex (rule-based, per language), not by datatrove's
  tokenizer; abbreviations end no sentence in either.
"""

DT_PIPELINE = r'''
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.pipeline.filters import GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter, FineWebQualityFilter

if __name__ == "__main__":
    src, out, workers, tasks, logs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    LocalPipelineExecutor(pipeline=[
        JsonlReader(src, glob_pattern="*.jsonl", text_key="text", id_key="id"),
        GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter(),
        JsonlWriter(out, compression=None),
    ], tasks=tasks, workers=workers, logging_dir=logs).run()
'''

DT_DECISIONS = r'''
import json, sys
from datatrove.data import Document
from datatrove.pipeline.filters import GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter, FineWebQualityFilter

if __name__ == "__main__":
    filters = {"gopher_repetition": GopherRepetitionFilter(), "gopher_quality": GopherQualityFilter(),
               "c4_quality": C4QualityFilter(), "fineweb_quality": FineWebQualityFilter()}
    with open(sys.argv[1], "w") as out:
        for path in sys.argv[2:]:
            for raw in open(path):
                row = json.loads(raw)
                verdicts = {}
                for name, f in filters.items():
                    res = f.filter(Document(text=row["text"], id=row["id"]))
                    verdicts[name] = True if res is True or (isinstance(res, bool) and res) else (res[1] if isinstance(res, tuple) else "drop")
                out.write(json.dumps({"id": row["id"], "v": verdicts}) + "\n")
'''


def _proc_times() -> dict[int, tuple[int, float]]:
    """pid → (parent pid, user+system CPU seconds) for every process, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return out


def sh(cmd: list[str], **kw) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and every process it starts).

    The process tree is sampled every 0.2 s (getrusage misses pool workers their parent never
    waits for, as datatrove's are); a process's CPU after its last sample is lost, < 0.2 s each.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, **kw)
    seen: dict[int, float] = {}
    while True:
        table = _proc_times()
        tree = {proc.pid}
        grew = True
        while grew:
            kids = {pid for pid, (ppid, _) in table.items() if ppid in tree and pid not in tree}
            tree |= kids
            grew = bool(kids)
        for pid in tree:
            if pid in table:
                seen[pid] = max(seen.get(pid, 0.0), table[pid][1])
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, sum(seen.values())


def prepare_inputs(quick: bool) -> tuple[list[str], int, int]:
    """Split the English corpora round-robin into N_FILES plain jsonl files (datatrove: one file per task)."""
    src = os.path.join(WORK, "input-quick" if quick else "input")
    os.makedirs(src, exist_ok=True)
    paths = [os.path.join(src, f"part-{i:02d}.jsonl") for i in range(N_FILES)]
    docs = nbytes = 0
    handles = [open(p, "w", encoding="utf-8") for p in paths]
    for name in ENGLISH:
        with gzip.open(os.path.join(CORPORA, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
            for i, raw in enumerate(fh):
                if quick and i % 10:
                    continue
                row = json.loads(raw)
                rec = {"id": f"{name}/{row['id']}", "text": row["text"]}
                handles[docs % N_FILES].write(json.dumps(rec, ensure_ascii=False) + "\n")
                docs += 1
                nbytes += len(row["text"].encode("utf-8"))
    for h in handles:
        h.close()
    return paths, docs, nbytes


def ensure_datatrove() -> str:
    py = os.path.join(DT_VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", DT_VENV], check=True)
        subprocess.run([os.path.join(DT_VENV, "bin", "pip"), "install", "-q", "datatrove[processing,io]", "spacy"],
                       check=True)
    return py


def run_garden(paths: list[str], workers: int, tag: str) -> tuple[float, float]:
    out = os.path.join(WORK, f"garden-{tag}-w{workers}")
    recipe = os.path.join(WORK, f"recipe-{tag}.yaml")
    with open(recipe, "w") as fh:
        json.dump({"name": "bench-filters", "output": out, "workers": workers, "output_format": "jsonl",
                   "inputs": [{"path": os.path.join(os.path.dirname(paths[0]), "*.jsonl"), "source": "en"}],
                   "pipeline": [{op: {}} for op in GARDEN_OPS]}, fh)  # JSON is YAML
    garden = os.path.join(os.path.dirname(sys.executable), "garden")
    return sh([garden, "run", recipe, "--no-resume", "-q", "-w", str(workers)])


def run_datatrove(py: str, paths: list[str], workers: int, tag: str) -> tuple[float, float]:
    script = os.path.join(WORK, "dt_pipeline.py")
    with open(script, "w") as fh:
        fh.write(DT_PIPELINE)
    out = os.path.join(WORK, f"dt-{tag}-w{workers}")
    logs = os.path.join(WORK, f"dt-logs-{tag}-w{workers}")
    subprocess.run(["rm", "-rf", out, logs], check=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DATATROVE_COLORIZE_LOGS": "0"}
    return sh([py, script, os.path.dirname(paths[0]), out, str(workers), str(len(paths)), logs],
              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def garden_decisions(paths: list[str]) -> dict[str, dict[str, object]]:
    sys.path.insert(0, ROOT)
    import operators  # noqa: F401  (registers every operator)
    from garden import registry

    ops = {name: registry.get(name)() for name in GARDEN_OPS}
    out: dict[str, dict[str, object]] = {}
    for path in paths:
        for raw in open(path, encoding="utf-8"):
            row = json.loads(raw)
            doc = {"id": row["id"], "text": row["text"], "source": "en", "meta": "{}"}
            out[row["id"]] = {name: op.keep(dict(doc)) for name, op in ops.items()}
    return out


def datatrove_decisions(py: str, paths: list[str]) -> dict[str, dict[str, object]]:
    script = os.path.join(WORK, "dt_decisions.py")
    with open(script, "w") as fh:
        fh.write(DT_DECISIONS)
    target = os.path.join(WORK, "dt_decisions.jsonl")
    subprocess.run([py, script, target, *paths], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                   stderr=subprocess.DEVNULL)
    return {r["id"]: r["v"] for r in map(json.loads, open(target))}


def compare(ours: dict, theirs: dict) -> tuple[list[str], list[str]]:
    """Markdown rows: agreement per filter and overall, and the most frequent disagreement reasons."""
    rows, diffs = [], []
    ids = sorted(ours)
    for name in GARDEN_OPS + ["all four"]:
        same = kept_both = drop_both = g_only = d_only = 0
        why: Counter = Counter()
        for i in ids:
            if name == "all four":
                g = all(v is True for v in ours[i].values())
                d = all(v is True for v in theirs[i].values())
            else:
                g, d = ours[i][name] is True, theirs[i][name] is True
                if g != d:
                    why[f"garden {'keep' if g else ours[i][name]} / datatrove {'keep' if d else theirs[i][name]}"] += 1
            same += g == d
            kept_both += g and d
            drop_both += (not g) and (not d)
            g_only += (not g) and d
            d_only += g and (not d)
        rows.append(f"| {name} | {same / len(ids):.1%} | {kept_both} | {drop_both} | {g_only} | {d_only} |")
        for reason, n in why.most_common(4):
            diffs.append(f"| {name} | {reason} | {n} |")
    return rows, diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 10th document only")
    args = parser.parse_args()
    tag = "quick" if args.quick else "full"
    os.makedirs(WORK, exist_ok=True)
    paths, docs, nbytes = prepare_inputs(args.quick)
    py = ensure_datatrove()
    mb = nbytes / 1e6
    timings = []
    load = os.getloadavg()[0]
    for workers in (1, 2):
        g = run_garden(paths, workers, tag)
        d = run_datatrove(py, paths, workers, tag)
        timings.append((workers, g, d))
        print(f"workers={workers}: garden {g[0]:.1f}s wall {g[1]:.1f}s cpu, datatrove {d[0]:.1f}s wall {d[1]:.1f}s cpu",
              flush=True)
    load = max(load, os.getloadavg()[0])
    ours = garden_decisions(paths)
    theirs = datatrove_decisions(py, paths)
    agree, diffs = compare(ours, theirs)

    lines = [
        "# Heuristic filters: Garden vs datatrove",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}. Run: `bench/bench_filters.py{' --quick' if args.quick else ''}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Data: {', '.join(ENGLISH)} from /work/shared/corpora{' (every 10th doc)' if args.quick else ''}: "
        f"{docs:,} docs, {mb:.1f} MB of text, split into {N_FILES} jsonl files (datatrove: one task per file).",
        "Pipeline: Gopher repetition → Gopher quality → C4 quality → FineWeb quality, all defaults; "
        "wall time of the whole command (read, filter, write jsonl), start-up included.",
        "",
        f"The machine is shared with other engineers (1-minute load average up to {load:.1f} on {os.cpu_count()} cores "
        "during this run), so wall times are inflated and noisy; the CPU columns (user+system seconds of the command "
        "and all its worker processes, sampled from /proc) measure per-worker speed and are the fairer comparison.",
        "",
        "| workers | Garden docs/s | Garden MB/s | datatrove docs/s | datatrove MB/s | Garden / datatrove (wall) "
        "| Garden MB per CPU-s | datatrove MB per CPU-s | Garden / datatrove (CPU) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for workers, (gw, gc), (dw, dc) in timings:
        lines.append(f"| {workers} | {docs / gw:,.0f} | {mb / gw:.2f} | {docs / dw:,.0f} | {mb / dw:.2f} | {dw / gw:.1f}× "
                     f"| {mb / gc:.2f} | {mb / dc:.2f} | {dc / gc:.1f}× |")
    lines += [
        "",
        "## Agreement of drop decisions",
        "Each filter applied alone to the original text of every document, in both tools.",
        "",
        "| filter | agreement | kept by both | dropped by both | dropped only by Garden | dropped only by datatrove |",
        "|---|---|---|---|---|---|",
        *agree,
        "",
        "Most frequent disagreements:",
        "",
        "| filter | verdicts | docs |",
        "|---|---|---|",
        *diffs,
        "",
    ]
    lines += [EXPLANATION]
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
