"""Object-store benchmark: the same recipe on local disk and on S3 (moto), and the S3 requests it makes.

Garden reads inputs and writes its run directory through garden.io.fs: local paths through the OS,
s3:// URLs through fsspec (every file staged locally and uploaded in one PUT, markers last,
MinHash signatures read with coalesced range requests). What a run on an object store costs is
mostly a matter of how many requests it makes per shard, so this script runs one recipe twice in
this process, on the same machine: (a) inputs and output on local disk, (b) inputs uploaded to a
moto S3 server started here and output s3://garden-bench/run. It reports both wall times, per
phase; every request the server answers during (b), by method, kind, phase and part of the run
directory (parsed from the `werkzeug` log lines of moto's server: pool workers reach it over
HTTP, so their requests are counted too); the bytes and objects written. Writes
bench/results/object_store.md, with a model of what the counts mean on real S3, and every
request of (b) to bench/_work/object_store/requests.jsonl for a closer look.

Input: the English corpora of ../shared/corpora (or, when absent or with --quick, the demo
corpus). Usage: python bench/bench_object_store.py [--quick] [--repeats N]
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import re
import shutil
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import bench_ray  # noqa: E402 - a sibling script (bench/ is on sys.path when run)
from garden.progress import Progress

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, "_work", "object_store")
RESULTS = os.path.join(HERE, "results", "object_store.md")
BUCKET = "garden-bench"
METHODS = ["GET", "PUT", "HEAD", "POST", "DELETE"]

# bench_ray's recipe and inputs (its gopher_repetition step makes no request of its own)
PIPELINE = [step for step in bench_ray.PIPELINE if "gopher_repetition" not in step]
ENGLISH, DEMO = bench_ray.ENGLISH, bench_ray.DEMO


def input_files(quick: bool) -> list[str]:
    return [i["path"] for i in bench_ray.inputs(quick)]


class RequestLog(logging.Handler):
    """Every request moto's server answers, from werkzeug's access log (one record per request)."""

    LINE = re.compile(r"^(\w+) (\S+) HTTP")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.requests: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.args or len(record.args) < 2:
            return
        line = re.sub(r"\x1b\[[0-9;]*m", "", str(record.args[0]))  # werkzeug colours by status
        m = self.LINE.match(line)
        if m:
            self.requests.append(classify(m.group(1), m.group(2), int(record.args[1])))


def classify(method: str, target: str, status: int) -> dict:
    """Method, kind (LIST, ranged GET, 404 HEAD, ...) and the object key or listed prefix."""
    url = urlsplit(target)
    query = parse_qs(url.query, keep_blank_values=True)
    bucket, _, key = unquote(url.path).lstrip("/").partition("/")
    kind = method
    if method == "GET" and "list-type" in query:
        kind, key = "LIST", query.get("prefix", [""])[0]
    elif method == "GET" and status == 206:
        kind = "GET range"
    elif method == "GET" and not key:
        kind = "GET bucket " + (url.query or "")
    elif method == "HEAD" and status == 404:
        kind = "HEAD (404: absent)"
    elif method == "POST" and "delete" in query:
        kind = "POST ?delete (DeleteObjects)"
    elif method == "POST" and ("uploads" in query or "uploadId" in query):
        kind = "POST multipart"
    elif not key:
        kind = f"{method} bucket"
    return {"method": method, "kind": kind, "status": status, "key": key}


def area(key: str) -> str:
    """The part of the run directory a key or prefix belongs to: `_work/*/done`, `data`, ..."""
    if key.startswith("in/"):
        return "inputs"
    if not key.startswith("run"):
        return "(bucket)" if not key else key
    parts = key[len("run"):].strip("/").split("/")
    if parts == [""]:
        return "run/ (the run directory itself)"
    if parts[0] == "_work" and len(parts) > 2:
        return "_work/*/" + parts[2]
    if parts[0] == "_work" and len(parts) == 2:
        return "_work/" + parts[1] if "." in parts[1] else "_work/* (stage directories)"
    return parts[0] if "." in parts[0] and len(parts) == 1 else parts[0] + "/"


def start_s3() -> tuple[Any, Any]:
    """moto's S3 server on localhost; the AWS variables reach the pool's worker processes."""
    from moto.server import ThreadedMotoServer
    import s3fs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint})
    store = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    store.mkdir(BUCKET)
    return server, store


class PhaseClock(Progress):
    """A silent Progress that marks where each phase starts and ends, in time and in requests."""

    def __init__(self, log: RequestLog) -> None:
        super().__init__(enabled=False)
        self.log_ = log
        self.marks: list[tuple[str, float, int]] = []

    def mark(self, label: str) -> None:
        self.marks.append((label, time.perf_counter(), len(self.log_.requests)))

    def start(self, label: str, total_tasks: int, skipped: int = 0) -> None:
        self.mark(f"{label} ({total_tasks} tasks)")

    def finish(self) -> None:
        self.mark("driver")

    def log(self, message: str) -> None:
        if message.endswith("finalize"):
            self.mark(message + " (driver)")


def run_once(inputs: list[str], out: str, shard_size: str, workers: int, log: RequestLog) -> dict:
    """One run of the recipe; wall time, stats and per-phase (wall, requests) from the clock."""
    from garden.api import run_recipe
    from garden.recipe import recipe_from_dict

    recipe = recipe_from_dict({"name": "bench-object-store", "output": out, "workers": workers,
                               "shard_size": shard_size, "pipeline": PIPELINE,
                               "inputs": [{"path": p, "source": p.rsplit("/", 1)[1].split(".")[0]} for p in inputs]})
    clock = PhaseClock(log)
    first = len(log.requests)
    clock.mark("driver")
    stats = run_recipe(recipe, resume=False, progress=clock)  # type: ignore[arg-type]
    clock.mark("end")
    phases: dict[str, list] = {}  # label -> [wall, requests]; every "driver" gap summed in one row
    for (label, t, n), (_, t_next, n_next) in zip(clock.marks, clock.marks[1:]):
        row = phases.setdefault(label, [0.0, 0])
        row[0] += t_next - t
        row[1] += n_next - n
        for r in log.requests[n:n_next]:
            r["phase"] = label
    return {"wall": clock.marks[-1][1] - clock.marks[0][1], "stats": stats, "phases": phases,
            "requests": log.requests[first:]}


def local_tree(out: str) -> tuple[int, int]:
    """(files, bytes) of a local run directory."""
    sizes = [os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs]
    return len(sizes), sum(sizes)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the demo corpus only (about 2 minutes)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each kind, interleaved; the best is reported")
    ap.add_argument("--shard-size", default=None, help="default 2MB, 256KB with --quick (≥ 8 input shards)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    shard_size = args.shard_size or ("256KB" if args.quick else "2MB")

    log = RequestLog()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.addHandler(log)
    werkzeug.propagate = False
    server, store = start_s3()
    os.environ.setdefault("GARDEN_TMPDIR", os.path.join(WORK, "staging"))
    os.makedirs(os.environ["GARDEN_TMPDIR"], exist_ok=True)
    try:
        files = input_files(args.quick)
        keys = [f"{BUCKET}/in/{os.path.basename(f)}" for f in files]
        for f, k in zip(files, keys):
            store.put_file(f, k)
        load0 = os.getloadavg()
        local_out, s3_out = os.path.join(WORK, "local"), f"s3://{BUCKET}/run"
        local_runs, s3_runs = [], []
        for _ in range(args.repeats):
            shutil.rmtree(local_out, ignore_errors=True)
            local_runs.append(run_once(files, local_out, shard_size, args.workers, log))
            if store.exists(f"{BUCKET}/run"):
                store.rm(f"{BUCKET}/run", recursive=True)
            s3_runs.append(run_once([f"s3://{k}" for k in keys], s3_out, shard_size, args.workers, log))
        load1 = os.getloadavg()
        store.invalidate_cache()
        objects = store.find(f"{BUCKET}/run", detail=True)
        s3_stats = json.loads(store.cat_file(f"{BUCKET}/run/stats.json"))
        with open(os.path.join(WORK, "requests.jsonl"), "w") as fh:  # for a closer look; not in the report
            fh.writelines(json.dumps(r) + "\n" for r in s3_runs[-1]["requests"])
    finally:
        server.stop()
    write_results(args, shard_size, files, local_runs, s3_runs, objects, s3_stats, local_tree(local_out), load0, load1)


def text_bytes(files: list[str]) -> int:
    """Decompressed size of the inputs: what shard_size counts."""
    total = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
    return total


def split_requests(run: dict) -> dict[str, list[dict]]:
    """Requests made by per-shard tasks (stream, scan, apply), by reduce tasks, by the driver alone."""
    side: dict[str, list[dict]] = {"tasks": [], "reduce": [], "driver": []}
    for r in run["requests"]:
        label = r.get("phase", "driver")
        side["driver" if "driver" in label else "reduce" if " reduce (" in label else "tasks"].append(r)
    return side


def write_results(args, shard_size: str, files: list[str], local_runs: list[dict], s3_runs: list[dict],
                  objects: dict, s3_stats: dict, local_files: tuple[int, int], load0, load1) -> None:
    a = min(local_runs, key=lambda r: r["wall"])
    b = min(s3_runs, key=lambda r: r["wall"])
    reqs = s3_runs[-1]["requests"]  # the counts are the same in every run
    shards = s3_stats["input_shards"]
    in_bytes = sum(os.path.getsize(f) for f in files)
    txt_bytes = text_bytes(files)
    up_bytes = sum(o["size"] for o in objects.values())
    n_obj = len(objects)
    by_method = Counter(r["method"] for r in reqs)
    by_kind = Counter(r["kind"] for r in reqs)
    corpus = ("demo corpus (recipes/data/demo)" if files[0].startswith(os.path.abspath(DEMO)) else
              "English corpora of ../shared/corpora (" + ", ".join(ENGLISH) + ")")

    method_rows = [[m, f"{by_method[m]:,}", f"{by_method[m] / shards:.1f}"] for m in METHODS]
    method_rows.append(["**total**", f"**{len(reqs):,}**", f"**{len(reqs) / shards:.1f}**"])
    kind_rows = [[k, f"{n:,}", f"{n / shards:.1f}"] for k, n in by_kind.most_common()]

    areas = Counter((area(r["key"]), r["kind"]) for r in reqs)
    area_names = sorted({x for x, _ in areas}, key=lambda x: -sum(n for (y, _), n in areas.items() if y == x))
    kinds = [k for k, _ in by_kind.most_common()]
    area_rows = [[f"`{x}`"] + [areas[(x, k)] or "" for k in kinds] + [sum(areas[(x, k)] for k in kinds)]
                 for x in area_names]

    labels = list(dict.fromkeys(list(a["phases"]) + list(b["phases"])))
    labels = [x for x in labels if x != "driver"] + ["driver"]
    phase_rows = []
    for x in labels:
        wa, _ = a["phases"].get(x, [0.0, 0])
        wb, nb = b["phases"].get(x, [0.0, 0])
        phase_rows.append([x, f"{wa:.2f}", f"{wb:.2f}", f"{wb / wa:.1f}" if wa > 0.05 else "–", f"{nb:,}",
                           f"{nb / shards:.1f}"])
    op_rows = []
    for oa, ob in zip(a["stats"]["ops"], s3_stats["ops"]):
        t = ob.get("timing") or {}
        op_rows.append([oa["name"], f"{oa['seconds']:.2f}", f"{ob['seconds']:.2f}",
                        ", ".join(f"{k} {v['seconds']:.2f}" for k, v in t.items()) or "–"])

    # the model: request latency against compute, at 32 MiB shards and 1 TB of text
    lat, shard_mb = 0.03, 32 * 2 ** 20 / 1e6
    n_tb = 1e12 / (32 * 2 ** 20)
    side = split_requests(s3_runs[-1])
    core_s_per_shard = sum(o["seconds"] for o in a["stats"]["ops"]) / (txt_bytes / 1e6) * shard_mb
    task_per_shard = len(side["tasks"]) / shards
    reduce_tasks = sum(int(re.search(r"\((\d+) tasks\)", x).group(1)) for x in b["phases"] if " reduce (" in x)
    per_reduce = len(side["reduce"]) / max(reduce_tasks, 1)
    scan_reads = sum(1 for r in side["reduce"] if "/scan/" in r["key"])
    driver_reads = [r for r in side["driver"] if re.search(r"(shard|part)-\d+", r["key"])]
    driver_shard = len(driver_reads)
    driver_meta = sum(1 for r in driver_reads if r["kind"] == "LIST" or r["method"] == "HEAD")
    overhead = {mb: task_per_shard * lat / (core_s_per_shard / shard_mb * mb * 1.048576) for mb in (8, 32, 128)}
    scan_puts = sum(1 for r in side["tasks"] if r["method"] == "PUT" and area(r["key"]) == "_work/*/scan")
    apply_reduce = sum(1 for r in side["tasks"] if area(r["key"]) == "_work/*/reduce")
    signature_gets = sum(1 for r in side["reduce"] if r["key"].endswith(".u32"))
    token_bytes = sum(o["size"] for k, o in objects.items() if "/run/tokens/" in "/" + k)
    model_rows = [
        ["per-shard tasks (stream, scan, apply)", f"{task_per_shard:.0f} per shard",
         f"{task_per_shard * lat:.1f} s per 32 MiB shard vs ≈ {core_s_per_shard:.0f} core-s of compute "
         f"(+{task_per_shard * lat / core_s_per_shard:.0%})"],
        ["each reduce task (reads every shard's scan file)", f"{per_reduce:.0f} here = "
         f"{scan_reads / max(reduce_tasks, 1) / shards:.1f} × shards",
         f"{scan_reads / max(reduce_tasks, 1) / shards * n_tb * lat / 60 / 8:.0f} min per reduce task at {n_tb:,.0f} shards "
         f"(8 GETs in flight), and only {reduce_tasks} reduce tasks: a floor on the reduce phases however many machines"],
        ["driver (per-shard objects)", f"{driver_shard / shards:.1f} per shard "
         f"({len(side['driver']):,} driver requests in all)",
         f"up to {driver_shard / shards * n_tb * lat / 60:.0f} min at {n_tb:,.0f} shards if one at a time; the id hashes, "
         "tokenize's counts and .idx files are fetched 8 at a time, the rest (tokenizer training's reads, "
         "the .bin merge) is sequential"],
    ]

    per_shard = len(reqs) / shards
    text = f"""# Object store (S3 via moto) vs local disk

Produced by `python bench/bench_object_store.py{' --quick' if args.quick else ''}{f' --repeats {args.repeats}' if args.repeats != 1 else ''}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}
({platform.machine()}, {os.cpu_count()} cores shared with other engineers' jobs: load average {load0[0]:.1f} at the
start, {load1[0]:.1f} at the end, so wall times are noisy; both runs are in the same process on the same machine).

Input: {corpus}: {a['stats']['input_docs']:,} documents, {txt_bytes / 1e6:.1f} MB of JSON lines ({in_bytes / 1e6:.1f} MB
compressed) in {len(files)} files, {shards} input shards (shard_size {shard_size}), {args.workers} workers (local process pool).
Pipeline: {', '.join(next(iter(p)) for p in PIPELINE)}.
(a) inputs and output on local disk; (b) inputs uploaded to a moto S3 server running in this
process (`ThreadedMotoServer`), output `s3://{BUCKET}/run`; the pool's worker processes reach it over
HTTP on localhost. Same kept documents in both: **{a['stats']['kept_docs'] == s3_stats['kept_docs']}** ({s3_stats['kept_docs']:,}).

## Wall time

| run | wall (s) | vs local |
|---|---|---|
| (a) local disk{' (best of ' + ', '.join(f"{r['wall']:.1f}" for r in local_runs) + ')' if len(local_runs) > 1 else ''} | {a['wall']:.1f} | 1.00 |
| (b) S3 on moto{' (best of ' + ', '.join(f"{r['wall']:.1f}" for r in s3_runs) + ')' if len(s3_runs) > 1 else ''} | {b['wall']:.1f} | **{b['wall'] / a['wall']:.2f}** |

Best against best; pairing any (b) run with any (a) run the ratio lies between
{min(r['wall'] for r in s3_runs) / max(r['wall'] for r in local_runs):.2f} and {max(r['wall'] for r in s3_runs) / min(r['wall'] for r in local_runs):.2f}. A phase with b/a below 1 in the table below (the same CPU work in
both runs) would show the noise of the shared cores.

Per phase (wall time of each phase as the driver sees it; "driver" sums everything between
phases: planning, fingerprints, the id check, stats.json and report.html), with the requests
moto answered during each phase of (b):

{table(["phase", "(a) local (s)", "(b) S3 (s)", "b/a", "S3 requests", "per input shard"], phase_rows)}

Per operator, from stats.json ("seconds" summed over tasks; global ops' phase wall times):

{table(["operator", "(a) Σ task s", "(b) Σ task s", "(b) global phases, wall (s)"], op_rows)}

## S3 requests during run (b)

{len(reqs):,} requests for {shards} input shards: **{per_shard:.0f} per input shard**.

{table(["method", "requests", "per input shard"], method_rows)}

By kind (LIST = GET with `list-type`; "GET range" = answered 206; a HEAD answered 404 is an
existence check of an absent object):

{table(["kind", "requests", "per input shard"], kind_rows)}

By part of the run directory (key of the object, or the prefix listed; `_work/*/x` sums the
`x` directories of all stages):

{table(["where"] + kinds + ["total"], area_rows)}

Written: {n_obj:,} objects under `s3://{BUCKET}/run`, {up_bytes / 1e6:.1f} MB
(local run directory: {local_files[0]:,} files, {local_files[1] / 1e6:.1f} MB): {up_bytes / txt_bytes:.2f} × the
input's {txt_bytes / 1e6:.1f} MB of JSON lines ({up_bytes / in_bytes:.1f} × its compressed bytes), {n_obj / shards:.0f} objects
and {up_bytes / shards / 1e6:.2f} MB per input shard. {by_method['PUT']:,} PUTs for {n_obj:,} objects: every object is
written once.

What stands out in the pattern (the code named is Garden's):

- **Reduce tasks read one file per shard, listing nothing.** The scan markers say which
  partitions each shard wrote, so a `ReduceTask` (garden/executor/tasks.py) gets its file list
  from the driver, and fetches the files whole, 8 at a time (`fs.prefetched`: one GET each, no
  size request): {scan_reads / max(reduce_tasks, 1) / shards:.1f} × the shard count per reduce task, for each of the
  {reduce_tasks} partitions (16 exact_dedup + 64 minhash_dedup); minhash's reduce also reads
  signature ranges from every shard's `.u32` ({signature_gets:,} ranged GETs, coalesced and
  concurrent): {per_reduce:.0f} requests per reduce task in all. (The first version of this bench
  found a LIST per shard directory per reduce task and HEAD + range GETs per file: 6,522
  requests, 1,221 of them LIST, against 5,214 and 88 now, same recipe and input.)
- **Scan tasks write one small object per partition**: {scan_puts / shards:.0f} PUTs per shard into `_work/*/scan`
  (one per non-empty partition of 16 + 64), the same files as locally; fine at 32 MiB shards, the
  dominant PUT count at small ones.
- **HEADs**: `fs.parquet_file` opens a URL itself (one size request); `rows_for_shard` (apply
  tasks after a global op, skipping row groups by shard) goes through a pyarrow dataset, whose
  fsspec wrapper asks twice: {apply_reduce / shards:.0f} requests per shard to `_work/*/reduce`, mostly exact_dedup's
  16 partitions × (2 HEAD + 1 GET). Left as is: one request per (shard, partition).
- **Driver-side requests grow with the shard count**: the id check lists
  `_work/s00-stream/ids/` once and downloads the per-shard hash files 8 at a time, tokenize's
  finalize fetches every shard's `counts.json` and `.idx` 8 at a time, then streams each `.bin`;
  train_tokenizer's finalize lists `scan/` once and reads the sampled rows of `data/` shard by
  shard: {driver_shard / shards:.1f} requests per shard from the driver ({driver_meta / max(driver_shard, 1):.0%} of them LIST or HEAD). Input
  files are also HEADed several times while planning (`fs.size`, `fs.fingerprint`), and a
  compressed input is read through once by the driver to plan its shards (as locally).
- **All tokens pass through the driver**: tokenize's finalize (`megatron_format.merge`)
  downloads every shard's `.bin` and uploads one merged `.bin` per source, staged whole in the
  driver's temp dir: {token_bytes / 1e6:.1f} MB here ({token_bytes / txt_bytes:.2f} × the input text) down and up again,
  serial, and as much local disk on the driver. At 1 TB of text that is ≈ {token_bytes / txt_bytes * 1e12 / 1e9:.0f} GB each way,
  ≈ {token_bytes / txt_bytes * 1e12 * 2 / 100e6 / 3600:.1f} h at 100 MB/s (an assumption), beside the per-request costs below.

## What this means on real S3

moto is a Python server running inside the benchmark process, on the same 2 shared cores as the
driver and both workers, every request paying Python HTTP parsing, XML and in-memory copies
under the driver's GIL: the ratio {b['wall'] / a['wall']:.2f} above is an **upper bound dominated by moto**, not a
measurement of S3. What carries over to S3 is the request pattern, which does not depend on
the server.

Assumptions, **not measured here**: a request to S3 costs ~20–50 ms to first byte (30 ms below),
one connection streams ~100 MB/s or more, and a task issues its requests one after another
(except the coalesced MinHash signature ranges, which fsspec fetches concurrently, and a reduce
task's scan files, 8 in flight). Scaling the
counts measured above to 1 TB of text at the default 32 MiB shards ({n_tb:,.0f} shards), with
this pipeline's compute measured on local disk ({core_s_per_shard:.0f} core-seconds per 32 MiB shard):

{table(["who makes the requests", "measured", "at 30 ms per request"], model_rows)}

Reading it:

- Per shard, the count of requests hardly depends on the shard's size (most are one per
  partition: scan files written, reduce outputs read by apply), so their latency weighs less
  the larger the shard: {task_per_shard:.0f} × 30 ms ≈ {task_per_shard * lat:.1f} s per shard is +{overhead[8]:.0%} on the compute of an 8 MiB
  shard, +{overhead[32]:.0%} at 32 MiB, +{overhead[128]:.0%} at 128 MiB, if every request waits (a task's requests are
  sequential with its work, so a core idles meanwhile; running more workers than cores hides it).
  This part scales out with the number of cores. Bytes: {up_bytes / txt_bytes:.2f} × the input written and about as
  much read back, ≈ {up_bytes / txt_bytes * 2 * shard_mb / 100:.1f} s per 32 MiB shard at 100 MB/s: ≪ compute. With tiny shards
  (KB) the count of requests, not the bytes, sets the time.
- The terms that do **not** scale out are the ones proportional to the number of shards inside a
  single task: each reduce task's reading of every shard's scan file (now 8 concurrent GETs, so
  ~1/8 of the table's serial estimate), and the driver's per-shard reads (concurrent for the
  id hashes and tokenize's counts and indexes, sequential for tokenizer training and the .bin merge). They are negligible at {shards} shards and grow at tens of thousands; fewer and larger
  shuffle files are what to do next; larger shards reduce
  all of them in proportion.
- Cost (us-east-1 list prices, an assumption: PUT/LIST $5, GET/HEAD $0.4 per million):
  ≈ ${(sum(n for k, n in by_kind.items() if k.startswith(('PUT', 'LIST', 'POST'))) * 5e-6 + sum(n for k, n in by_kind.items() if k.startswith(('GET', 'HEAD'))) * 0.4e-6) / shards * 1000:.2f} per thousand input shards at this shard count: negligible next to compute (reduce reads
  grow with shards × partitions, so this rises with the shard count).
"""
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
