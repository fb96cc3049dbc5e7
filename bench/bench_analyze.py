"""Time `garden analyze --sample 100000` on the English corpora with 2 workers (and 1, for scaling).

Writes bench/results/analyze.md. `--quick`: a 5,000-document sample of two small corpora.
Runs the real CLI in a subprocess, so start-up and worker spawn are included in the times.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPORA = "/work/shared/corpora"
ENGLISH = ["en_linux_doc_rst", "en_python_doc_rst", "en_fortunes", "en_dict_foldoc"]
QUICK = ["en_fortunes", "en_dict_foldoc"]
GARDEN = [sys.executable, "-m", "garden"]


def run(files: list[str], sample: int, workers: int, out: str) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (the CLI and its worker processes) and analysis.json of one run."""
    cmd = GARDEN + ["analyze", *files, "--sample", str(sample), "--workers", str(workers), "--out", out, "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    with open(os.path.join(out, "analysis.json"), encoding="utf-8") as fh:
        return wall, cpu, json.load(fh)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="5,000-document sample of two small corpora")
    args = ap.parse_args()
    names = QUICK if args.quick else ENGLISH
    sample = 5000 if args.quick else 100_000
    files = [os.path.join(CORPORA, f"{n}.jsonl.gz") for n in names]
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        print(f"corpora not found: {missing}", file=sys.stderr)
        return 1
    work = os.path.join(HERE, "_work", "analyze")
    rows = []
    for workers in (2, 1):
        load = os.getloadavg()[0]
        wall, cpu, a = run(files, sample, workers, os.path.join(work, f"w{workers}"))
        rows.append((workers, wall, a, load, cpu))
        print(f"workers={workers}: {wall:.1f}s, {a['totals']['docs']:,} docs", flush=True)
    a = rows[0][2]
    mb = a["totals"]["chars"] / 1e6
    lines = [
        "## garden analyze" + (" (quick)" if args.quick else ""),
        "",
        f"`garden analyze {' '.join(n + '.jsonl.gz' for n in names)} --sample {sample:,} --workers W` "
        f"on {a['totals']['docs']:,} documents, {mb:.1f} M characters "
        f"(sample: {a['sample']['docs']:,} documents = {100 * a['sample']['fraction']:.0f} %). "
        "Wall time of the whole CLI run (start-up, read + sample, per-document statistics, language labels "
        "from the input, PII when the operator is installed, MinHash near-dup estimate, report).",
        "",
        "| workers | wall s | CPU s (all processes) | read + sample s | measure s | near-dup s | docs/s (measure) "
        "| load avg at start |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, wall, res, load, cpu in rows:
        s = res["seconds"]
        lines.append(f"| {workers} | {wall:.1f} | {cpu:.1f} | {s['read_and_sample']:.1f} | {s['measure']:.1f} | "
                     f"{s['near_dup']:.1f} | {res['sample']['docs'] / max(s['measure'], 1e-9):,.0f} | {load:.1f} |")
    near = a["near_duplicates"]
    lines += ["", f"Speed-up 1 → 2 workers: {rows[1][1] / rows[0][1]:.2f}× on {os.cpu_count()} cores shared with "
              "other jobs (see the load average: above the core count, the extra worker mostly waits for a CPU).",
              f"Near-duplicate documents in the sample: {100 * near['sample_dup_rate']:.2f} % "
              f"({near['clusters']} clusters). Languages: "
              + ", ".join(f"{k} {100 * v:.1f} %" for k, v in list(a["languages"]["shares"].items())[:4]) + ".",
              f"Notes: {'; '.join(a['notes'].values()) or 'none'}.", ""]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "analyze.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
