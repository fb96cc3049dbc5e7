"""`make bench`: run every bench/bench_*.py, then gather bench/results/*.md into bench/RESULTS.md."""
from __future__ import annotations

import glob
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = f"{names[0]} ×{len(names)}" if names else cpu
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def publish(lines: list[str], results: "str | os.PathLike", write: bool = True) -> None:
    """Print a bench's results table and (unless --no-write) save it as bench/results/*.md,
    which run_all.py gathers into bench/RESULTS.md."""
    text = "\n".join(lines) + "\n"
    print(text)
    if write:
        os.makedirs(os.path.dirname(os.fspath(results)), exist_ok=True)
        with open(results, "w", encoding="utf-8") as fh:
            fh.write(text)


def gather() -> None:
    parts = ["# Benchmark results\n", f"Machine: {machine()}\n",
             "Each section is written by one script under bench/ (`make bench` runs them all); "
             "ratios compare Garden with a peer or a raw library call measured in the same run.\n"]
    for path in sorted(glob.glob(os.path.join(HERE, "results", "*.md"))):
        with open(path, encoding="utf-8") as fh:
            parts.append(fh.read().strip() + "\n")
    with open(os.path.join(HERE, "RESULTS.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))


def main() -> int:
    only = sys.argv[1:]
    failed = []
    for script in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        name = os.path.basename(script)
        if only and not any(o in name for o in only):
            continue
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, script]).returncode != 0:
            failed.append(name)
    gather()
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
