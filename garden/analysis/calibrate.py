"""Threshold calibration: how the share of dropped documents moves with one filter parameter.

Each filter of a recipe sees the whole sample as annotated by the operators before it (their
annotations applied, nothing dropped), so every curve is independent of the other thresholds.
One parameter varies over a grid while the others keep their recipe values.
"""
from __future__ import annotations

import datetime
import math
import typing
from typing import Any, Sequence

import yaml

from garden.analysis.stats import quantile
from garden.operator import Filter, GlobalOp, Mapper, Param
from garden.recipe import Recipe

# parameter-name fragment → the sample statistic its threshold is measured in (first match wins)
STAT_HINTS = (("word_len", "mean_word_len"), ("word_length", "mean_word_len"), ("line_len", "mean_line_len"),
              ("line_length", "mean_line_len"), ("char", "chars"), ("word", "words"), ("line", "lines"),
              ("token", "tokens"))
RATIO_HINTS = ("ratio", "frac", "score", "threshold", "prob", "share", "rate")


def numeric_type(tp: Any) -> type | None:
    """int or float for int/float/Optional[...] parameters; None for anything else (bool included)."""
    if tp in (int, float):
        return tp
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and args[0] in (int, float):
            return args[0]
    return None


def numeric_params(cls: type) -> list[Param]:
    return [p for p in cls.params() if numeric_type(p.type) is not None]


def is_ratio(param: Param, current: Any) -> bool:
    """A share or score in [0, 1] (dup_line_frac, min_score, max_symbol_ratio ...)."""
    name = param.name.lower()
    if numeric_type(param.type) is not float:
        return False
    if any(h in name for h in RATIO_HINTS):
        return current is None or 0 <= current <= 1
    return current is not None and 0 <= current <= 1 and not any(frag in name for frag, _ in STAT_HINTS)


def grid_for(param: Param, current: Any, rows: Sequence[dict], points: int = 13) -> list[float]:
    """Values to try: a 0–1 grid for ratios, quantiles of the matching statistic for lengths, else multiples."""
    tp = numeric_type(param.type)
    name = param.name.lower()
    # "min_words_per_line" is not measured in document words: only whole-document quantities get quantiles
    stat = None if "_per_" in name else next((s for frag, s in STAT_HINTS if frag in name), None)
    stat_vals = sorted(r[stat] for r in rows if stat and r.get(stat) is not None)
    if is_ratio(param, current):
        values = [i / (points - 1) for i in range(points)]
    elif stat_vals:
        values = [quantile(stat_vals, i / (points - 1)) for i in range(points)]
    elif current:
        values = [current * m for m in (0, 0.125, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 8)]
    else:
        values = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000, 100000]
    if current is not None:
        values.append(current)
    if tp is int:
        values = [int(round(v)) for v in values]
    else:
        values = [round(float(v), 6) for v in values]
    return sorted(set(values))


def drop_mask(cls: type, params: dict, docs: list[dict]) -> list[bool]:
    cls.check_params(dict(params))
    op = cls(**params)
    verdicts = op.keep_batch([dict(d) for d in docs])
    return [not (v is True or (not isinstance(v, str) and bool(v))) for v in verdicts]


def drop_share(cls: type, params: dict, docs: list[dict]) -> float | None:
    """Share of `docs` the operator drops with `params`; None where the value is invalid or makes it fail."""
    if not docs:
        return 0.0
    try:
        return sum(drop_mask(cls, params, docs)) / len(docs)
    except Exception:
        return None


def suggest(cls: type, params: dict, name: str, docs: list[dict], grid: list[float], drops: list[float],
            target: float, is_int: bool, steps: int = 14) -> tuple[float | None, float | None]:
    """The value whose drop share is closest to `target`: best grid point, then bisection inside the bracket."""
    valid = [i for i in range(len(grid)) if drops[i] is not None]
    if not valid:
        return None, None
    best = min(valid, key=lambda i: (abs(drops[i] - target), i))
    best_v, best_d = grid[best], drops[best]
    for i in range(len(grid) - 1):
        lo_d, hi_d = drops[i], drops[i + 1]
        if lo_d is None or hi_d is None:
            continue
        if min(lo_d, hi_d) <= target <= max(lo_d, hi_d) and lo_d != hi_d:
            lo, hi = grid[i], grid[i + 1]
            increasing = hi_d > lo_d
            for _ in range(steps):
                mid = (lo + hi) / 2
                if is_int:
                    mid = int(math.floor(mid))
                    if mid in (lo, hi):
                        break
                d = drop_share(cls, {**params, name: mid}, docs)
                if d is None:
                    break
                if abs(d - target) < abs(best_d - target):
                    best_v, best_d = mid, d
                if (d < target) == increasing:
                    lo = mid
                else:
                    hi = mid
            break
    return best_v, best_d


def _labels(recipe: Recipe) -> list[str]:
    counts: dict[str, int] = {}
    for spec in recipe.pipeline:
        counts[spec.name] = counts.get(spec.name, 0) + 1
    return [s.name if counts[s.name] == 1 else f"{s.name}-{s.index}" for s in recipe.pipeline]


def parse_targets(specs: Sequence[str]) -> dict[tuple[str, str], float]:
    """['length_filter.min_chars=0.1'] → {('length_filter', 'min_chars'): 0.1}."""
    out = {}
    for spec in specs:
        try:
            key, share = spec.split("=", 1)
            op, param = key.rsplit(".", 1)
            value = float(share.rstrip("%")) / (100 if share.endswith("%") else 1)
        except ValueError:
            raise ValueError(f"--target-drop {spec!r}: expected OP.PARAM=SHARE, e.g. length_filter.min_words=0.1") from None
        if not 0 <= value <= 1:
            raise ValueError(f"--target-drop {spec!r}: the share must be between 0 and 1")
        out[(op, param)] = value
    return out


def curve_job(op_name: str, params: dict, param: str, grid: list, docs: list[dict], target: float | None,
              is_int: bool) -> dict:
    """One parameter's curve (and suggestion): runs in a worker process."""
    from garden import registry

    cls = registry.get(op_name)
    out = {"drop": [drop_share(cls, {**params, param: v}, docs) for v in grid],
           "current_drop": drop_share(cls, params, docs) if params.get(param) is not None else None}
    if target is not None:
        value, got = suggest(cls, params, param, docs, grid, out["drop"], target, is_int)
        # unreachable: the operator's other rules already drop more than the target at every value
        reachable = got is not None and abs(got - target) <= max(0.02, 0.2 * target)
        out.update(target=target, suggested=value, suggested_drop=got, reachable=reachable)
    return out


def calibrate(recipe: Recipe, docs: list[dict], rows: list[dict], targets: dict[tuple[str, str], float],
              workers: int = 1, progress=None, only: Sequence[str] = ()) -> dict:
    """Curves for every numeric parameter of every filter (or those named in `only`: OP or OP.PARAM),
    and suggestions for the targets asked for."""
    from garden.analysis.parallel import parallel
    from garden.progress import Progress

    labels = _labels(recipe)
    known = {(lab, p.name) for lab, spec in zip(labels, recipe.pipeline) for p in numeric_params(spec.cls)}
    known |= {(spec.name, p.name) for spec in recipe.pipeline for p in numeric_params(spec.cls)}
    for op, param in targets:
        if (op, param) not in known:
            raise ValueError(f"--target-drop {op}.{param}: no numeric parameter '{param}' of a filter "
                             f"'{op}' in {recipe.path} (filters: {', '.join(labels)})")
    def chosen(label: str, spec, param: str) -> bool:
        target = targets.get((label, param), targets.get((spec.name, param)))
        return not only or target is not None or bool({label, spec.name, f"{label}.{param}", f"{spec.name}.{param}"} & set(only))

    # operators after the last calibrated filter need not run on the sample
    last = max((i for i, (label, spec) in enumerate(zip(labels, recipe.pipeline))
                if issubclass(spec.cls, Filter) and any(chosen(label, spec, p.name) for p in numeric_params(spec.cls))),
               default=-1)
    current = [dict(d) for d in docs]
    curves, jobs, skipped = [], [], []
    for i, (label, spec) in enumerate(zip(labels, recipe.pipeline)):
        if i > last:
            break
        cls = spec.cls
        if issubclass(cls, GlobalOp):
            skipped.append(f"{label}: global operator, not calibrated on a sample")
            continue
        if issubclass(cls, Filter):
            for p in numeric_params(cls):
                cur = spec.params.get(p.name, p.default)
                grid = grid_for(p, cur, rows)
                target = targets.get((label, p.name), targets.get((spec.name, p.name)))
                if not chosen(label, spec, p.name):
                    continue
                curves.append({"op": label, "name": spec.name, "index": spec.index, "param": p.name,
                               "current": cur, "grid": grid})
                jobs.append((spec.name, dict(spec.params), p.name, grid, current, target, numeric_type(p.type) is int))
        try:  # annotate for the operators that follow (mappers rewrite, filters may add columns)
            op = cls(**spec.params)
            if issubclass(cls, Mapper):
                current = [dict(d) for d in op.map_batch([dict(d) for d in current])]
            else:
                current = [dict(d) for d in current]
                op.keep_batch(current)
        except Exception as exc:
            skipped.append(f"{label}: could not run on the sample ({type(exc).__name__}: {exc})")
    results = parallel(_indexed_job, [(k, *job) for k, job in enumerate(jobs)], workers,
                       progress or Progress(enabled=False), "analyze: calibrate thresholds",
                       lambda a, r: (len(a[5]) * len(a[4]), 0))
    for k, res in results:
        curves[k].update(res)
    return {"docs": len(docs), "curves": curves, "skipped": skipped}


def _indexed_job(k: int, *job) -> tuple[int, dict]:
    return k, curve_job(*job)


def write_recipe(recipe_path: str, out_path: str, calibration: dict, sample_note: str) -> list[str]:
    """A copy of the recipe with the suggested thresholds and a header comment saying where they came from."""
    with open(recipe_path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    changes = []
    for c in calibration["curves"]:
        if c.get("suggested") is None or c.get("index") is None:
            continue  # index None: a perplexity suggestion for a recipe without a perplexity step
        entry = data["pipeline"][c["index"]]
        params = entry.get(c["name"]) or {}
        params[c["param"]] = c["suggested"]
        entry[c["name"]] = params
        changes.append(f"{c['op']}.{c['param']}: {c['current']!r} -> {c['suggested']!r} "
                       f"(drops {100 * c['suggested_drop']:.1f}% of the sample; target {100 * c['target']:.1f}%)")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"# Thresholds calibrated by `garden analyze` on {stamp} from {recipe_path}",
              f"# Sample: {sample_note}"] + [f"#   {c}" for c in changes]
    text = "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    with open(out_path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return changes
