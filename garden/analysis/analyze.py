"""`garden analyze`: stream inputs, sample, measure, calibrate, write analysis.json + report.html.

Two parallel passes: (1) read every document once, counting totals and keeping the
deterministic bottom-N hash sample; (2) measure the sample in chunks. Memory holds the sample,
never the corpus.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter

import numpy as np
import pyarrow as pa

from garden.analysis.annotate import NUM_PERM, annotate_chunk
from garden.analysis.parallel import Workers, parallel, worker_pool
from garden.analysis.neardup import near_dup_summary
from garden.analysis.sample import SampleMerger, SampleTask, plan_tasks, sample_task
from garden.messages import printable
from garden.analysis.stats import group_summaries, stat_names, summarize
from garden.io.writer import atomic_write_bytes, atomic_write_json, write_table
from garden.progress import Progress


def take_sample(tasks: list[SampleTask], n: int, seed: int, workers: Workers, progress: Progress) -> SampleMerger:
    merger = SampleMerger(n)
    for res in parallel(sample_task, [(t, n, seed) for t in tasks], workers, progress,
                         "analyze: read + sample", lambda a, r: (sum(r["docs"].values()), r["bytes"])):
        merger.add(res)
    return merger


def measure(sample: list[dict], tokenizer: str | None, workers: Workers, n_workers: int,
            progress: Progress, detect_lang: bool = False) -> tuple[list[dict], np.ndarray, dict]:
    """Rows of measurements in sample order, MinHash signatures, and notes from optional helpers."""
    if not sample:
        return [], np.zeros((0, NUM_PERM), dtype=np.uint64), {}
    size = max(100, min(2000, len(sample) // max(1, n_workers * 6)))
    chunks = [sample[i:i + size] for i in range(0, len(sample), size)]
    done = parallel(_indexed_annotate, [(k, c, tokenizer, True, detect_lang) for k, c in enumerate(chunks)], workers,
                     progress, "analyze: measure sample",
                     lambda a, r: (len(a[1]), sum(len(d.get("text") or "") for d in a[1])))
    results = dict(done)
    rows: list[dict] = []
    sigs: list[np.ndarray] = []
    notes: dict = {}
    for k in range(len(chunks)):
        res = results[k]
        rows += res["rows"]
        sigs.append(np.frombuffer(res["signatures"], dtype=np.uint64).reshape(-1, NUM_PERM))
        notes.update(res["notes"])
    return rows, np.concatenate(sigs), notes


def _indexed_annotate(k: int, docs: list[dict], tokenizer: str | None, minhash: bool,
                      detect_lang: bool) -> tuple[int, dict]:
    return k, annotate_chunk(docs, tokenizer, minhash, detect_lang)


def tail_examples(rows: list[dict], names: list[str], per_tail: int = 2) -> dict[str, dict]:
    """Indices of the documents at both ends of each distribution (ties broken by sample order)."""
    out = {}
    for name in names:
        idx = [i for i, r in enumerate(rows) if r.get(name) is not None]
        if not idx:
            continue
        idx.sort(key=lambda i: (rows[i][name], i))
        low = idx[:per_tail]
        high = [i for i in reversed(idx[-per_tail:]) if i not in low]
        out[name] = {"low": low, "high": high}
    return out


def _languages(rows: list[dict]) -> dict:
    counts = Counter(r.get("lang") or "unknown" for r in rows)
    sources = Counter(r.get("lang_from") or "none" for r in rows)
    n = len(rows) or 1
    out = {"counts": dict(counts.most_common()), "shares": {k: v / n for k, v in counts.most_common()},
           "label_from": dict(sources)}
    labelled = [r for r in rows if "lang_input" in r]
    if labelled:  # --detect-lang: the input's own label against language ID
        pairs = Counter((str(r["lang_input"]), str(r["lang"])) for r in labelled if r["lang_input"] != r["lang"])
        out["input_vs_detected"] = {
            "docs": len(labelled), "disagree": sum(pairs.values()),
            "share": sum(pairs.values()) / len(labelled),
            "pairs": [{"input": a, "detected": b, "docs": k} for (a, b), k in pairs.most_common()]}
    return out


def _tokens(rows: list[dict], chars: Counter) -> dict | None:
    if not any(r.get("tokens") is not None for r in rows):
        return None
    per_source: dict[str, dict] = {}
    for src in sorted({r["source"] for r in rows}):
        rs = [r for r in rows if r["source"] == src and r.get("tokens")]
        t, c = sum(r["tokens"] for r in rs), sum(r["chars"] for r in rs)
        cpt = c / t if t else None
        per_source[src] = {"sample_tokens": t, "sample_chars": c, "chars_per_token": cpt,
                           "estimated_total_tokens": int(chars.get(src, 0) / cpt) if cpt else None}
    total_t = sum(r["tokens"] for r in rows if r.get("tokens"))
    total_c = sum(r["chars"] for r in rows if r.get("tokens"))
    return {"sample_tokens": total_t, "chars_per_token": total_c / total_t if total_t else None,
            "estimated_total_tokens": sum(v["estimated_total_tokens"] or 0 for v in per_source.values()),
            "by_source": per_source}


def _pii(rows: list[dict]) -> dict | None:
    counted = [r for r in rows if r.get("pii_count") is not None]
    if not counted:
        return None
    kinds: Counter = Counter()
    for r in counted:
        kinds.update(r.get("pii_kinds") or {})
    by_source = {}
    for src in sorted({r["source"] for r in counted}):
        rs = [r for r in counted if r["source"] == src]
        by_source[src] = {"docs": len(rs), "docs_with_pii": sum(1 for r in rs if r["pii_count"] > 0),
                          "matches": sum(r["pii_count"] for r in rs)}
    return {"docs": len(counted), "docs_with_pii": sum(1 for r in counted if r["pii_count"] > 0),
            "matches": sum(r["pii_count"] for r in counted), "kinds": dict(kinds), "by_source": by_source}


def _write_rows(path: str, rows: list[dict]) -> None:
    """The per-document measurements, for re-thresholding without re-reading the corpus."""
    if not rows:
        return
    flat = [{k: (json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v) for k, v in r.items()} for r in rows]
    keys = sorted({k for r in flat for k in r}, key=lambda k: list(flat[0]).index(k) if k in flat[0] else 999)
    table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in flat])
    write_table(path, table)


def run_analysis(paths: list[str], out_dir: str, sample_size: int = 10000, seed: int = 0, workers: int = 1,
                 tokenizer: str | None = None, recipe_path: str | None = None, targets: list[str] = (),
                 write_recipe_path: str | None = None, calibration_docs: int = 2000,
                 calibrate_only: list[str] = (), dup_threshold: float = 0.8,
                 text_field: str = "text", progress: Progress | None = None,
                 lm: dict[str, str] | None = None, detect_lang: bool = False) -> dict:
    """Analyse inputs (files, globs, run directories); returns analysis.json's content."""
    from garden.analysis import calibrate as cal

    progress = progress or Progress(enabled=False)
    t0 = time.perf_counter()
    recipe = None
    parsed_targets = cal.parse_targets(list(targets))
    if recipe_path:
        from garden.recipe import load_recipe

        recipe = load_recipe(recipe_path, check_inputs=not paths)
        if not paths:
            paths = [i.path for i in recipe.inputs]
    from garden.analysis.perplexity import calibrate_perplexity, perplexity_targets

    ppl_steps = [(i, label) for i, (label, spec) in enumerate(zip(cal._labels(recipe), recipe.pipeline))
                 if spec.name == "perplexity"] if recipe is not None else []
    ppl_targets = perplexity_targets(parsed_targets, {label for _, label in ppl_steps})
    if ppl_targets and not lm:
        raise ValueError("--target-drop perplexity.*: needs --lm MODEL (the sample is scored with it)")
    if (parsed_targets or write_recipe_path) and recipe is None:
        raise ValueError("--target-drop (except perplexity.*, with --lm) and --write-recipe need --recipe")
    if recipe is not None:
        cal.check_targets(recipe, parsed_targets)  # before any reading: a typo costs nothing
    if tokenizer and not os.path.exists(tokenizer):
        raise FileNotFoundError(f"tokenizer file not found: {tokenizer}")
    tasks = plan_tasks(list(paths), text_field=text_field)
    timings: dict[str, float] = {}

    with worker_pool(workers) as pool:
        t = time.perf_counter()
        merger = take_sample(tasks, sample_size, seed, pool, progress)
        sample = merger.sample()
        timings["read_and_sample"] = time.perf_counter() - t

        t = time.perf_counter()
        rows, sigs, notes = measure(sample, tokenizer, pool, workers, progress, detect_lang)
        timings["measure"] = time.perf_counter() - t
        if lm:
            from garden.analysis.perplexity import add_perplexity

            t = time.perf_counter()
            add_perplexity(sample, rows, lm)
            timings["perplexity"] = time.perf_counter() - t

        total_docs = sum(merger.docs.values())
        fraction = len(sample) / total_docs if total_docs else 0.0
        names = stat_names(rows)
        t = time.perf_counter()
        near = near_dup_summary(sigs, fraction, dup_threshold)
        groups = near.pop("groups")  # sample indices, for the report; analysis.json gets ids
        near["example_clusters"] = [[rows[i]["id"] for i in g] for g in groups]
        timings["near_dup"] = time.perf_counter() - t

        calibration = None
        t = time.perf_counter()
        n_cal = min(len(sample), calibration_docs)
        if recipe is not None and (parsed_targets or not ppl_targets):
            progress.log(f"analyze: calibrating {len(recipe.pipeline)} operators on {n_cal:,} sampled documents")
            calibration = cal.calibrate(recipe, sample[:n_cal], rows[:n_cal], parsed_targets, pool, progress,
                                        only=list(calibrate_only))
            calibration["recipe"] = recipe_path
        if ppl_targets:
            index, label = ppl_steps[0] if ppl_steps else (None, "perplexity")
            params = recipe.pipeline[index].params if index is not None else {}
            curves = calibrate_perplexity(rows, ppl_targets, {p: params.get(p) for p in ppl_targets}, index, label)
            calibration = calibration or {"docs": len(rows), "curves": [], "skipped": [], "recipe": recipe_path}
            calibration["curves"].extend(curves)
        if calibration is not None and recipe is not None:
            if write_recipe_path:
                note = (f"{n_cal:,} of {total_docs:,} documents of {', '.join(paths)} "
                        f"(bottom-{sample_size:,} hash sample, seed {seed})")
                calibration["written"] = {"path": write_recipe_path,
                                          "changes": cal.write_recipe(recipe_path, write_recipe_path, calibration, note)}
        if calibration is not None:
            timings["calibration"] = time.perf_counter() - t

    sources = {}
    for src in sorted(merger.docs):
        in_sample = sum(1 for r in rows if r["source"] == src)
        sources[src] = {"docs": merger.docs[src], "chars": merger.chars[src], "quarantined": merger.quarantined.get(src, 0),
                        "sample_docs": in_sample, "sample_fraction": in_sample / merger.docs[src] if merger.docs[src] else 0}
    analysis = {
        "inputs": [printable(p) for p in paths],
        "sample": {"requested": sample_size, "docs": len(sample), "seed": seed, "fraction": fraction,
                   "method": "bottom-N by blake2b(seed, source, id): deterministic for any worker count"},
        "totals": {"docs": total_docs, "chars": sum(merger.chars.values()),
                   "quarantined": sum(merger.quarantined.values()), "sources": sources,
                   "quarantine_examples": merger.quarantine_examples},
        "stat_names": names,
        "stats": {n: summarize(r.get(n) for r in rows) for n in names},
        "by_source": group_summaries(rows, "source", names),
        "by_language": group_summaries(rows, "lang", names),
        "languages": _languages(rows),
        "near_duplicates": near,
        "tokens": _tokens(rows, merger.chars),
        "pii": _pii(rows),
        "calibration": calibration,
        "examples": {k: {"low": [rows[i]["id"] for i in v["low"]], "high": [rows[i]["id"] for i in v["high"]]}
                     for k, v in tail_examples(rows, names).items()},
        "notes": notes,
        "workers": workers,
        "tokenizer": tokenizer,
    }
    timings["total"] = time.perf_counter() - t0
    analysis["seconds"] = {k: round(v, 3) for k, v in timings.items()}

    os.makedirs(out_dir, exist_ok=True)
    atomic_write_json(os.path.join(out_dir, "analysis.json"), analysis)
    _write_rows(os.path.join(out_dir, "sample_stats.parquet"), rows)
    from garden.analysis.analysis_report import render_analysis

    html = render_analysis(analysis, rows, sample, groups)
    atomic_write_bytes(os.path.join(out_dir, "report.html"), html.encode("utf-8"))
    return analysis
