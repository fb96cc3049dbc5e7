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


def grid_for(param: Param, current: Any, rows: Sequence[dict], points: int = 21) -> list[float]:
    """Values to try: quantiles of the matching statistic, a 0–1 grid for ratios, else multiples of the value."""
    tp = numeric_type(param.type)
    name = param.name.lower()
    values: list[float] = []
    stat = next((s for frag, s in STAT_HINTS if frag in name), None)
    stat_vals = sorted(r[stat] for r in rows if stat and r.get(stat) is not None)
    if stat_vals:
        values = [quantile(stat_vals, i / (points - 1)) for i in range(points)]
    elif tp is float and (current is None and any(h in name for h in RATIO_HINTS) or
                          current is not None and 0 <= current <= 1):
        values = [i / (points - 1) for i in range(points)]
    elif current:
        values = [current * m for m in (0, 0.125, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 8)]
    else:
        values = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000]
    if current is not None:
        values.append(current)
    if tp is int:
        values = [int(round(v)) for v in values]
    return sorted(set(values))


def drop_mask(cls: type, params: dict, docs: list[dict]) -> list[bool]:
    op = cls(**params)
    verdicts = op.keep_batch([dict(d) for d in docs])
    return [not (v is True or (not isinstance(v, str) and bool(v))) for v in verdicts]


def drop_share(cls: type, params: dict, docs: list[dict]) -> float:
    if not docs:
        return 0.0
    return sum(drop_mask(cls, params, docs)) / len(docs)


def suggest(cls: type, params: dict, name: str, docs: list[dict], grid: list[float], drops: list[float],
            target: float, is_int: bool, steps: int = 14) -> tuple[float, float]:
    """The value whose drop share is closest to `target`: best grid point, then bisection inside the bracket."""
    best = min(range(len(grid)), key=lambda i: (abs(drops[i] - target), i))
    best_v, best_d = grid[best], drops[best]
    for i in range(len(grid) - 1):
        lo_d, hi_d = drops[i], drops[i + 1]
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


def calibrate(recipe: Recipe, docs: list[dict], rows: list[dict], targets: dict[tuple[str, str], float],
              progress=None) -> dict:
    """Curves for every numeric parameter of every filter, and suggestions for the targets asked for."""
    labels = _labels(recipe)
    known = {(lab, p.name) for lab, spec in zip(labels, recipe.pipeline) for p in numeric_params(spec.cls)}
    known |= {(spec.name, p.name) for spec in recipe.pipeline for p in numeric_params(spec.cls)}
    for op, param in targets:
        if (op, param) not in known:
            raise ValueError(f"--target-drop {op}.{param}: no numeric parameter '{param}' of a filter "
                             f"'{op}' in {recipe.path} (filters: {', '.join(labels)})")
    current = [dict(d) for d in docs]
    curves, skipped = [], []
    for label, spec in zip(labels, recipe.pipeline):
        cls = spec.cls
        if issubclass(cls, GlobalOp):
            skipped.append(f"{label}: global operator, not calibrated on a sample")
            continue
        if issubclass(cls, Filter):
            for p in numeric_params(cls):
                cur = spec.params.get(p.name, p.default)
                grid = grid_for(p, cur, rows)
                drops = [drop_share(cls, {**spec.params, p.name: v}, current) for v in grid]
                entry = {"op": label, "name": spec.name, "index": spec.index, "param": p.name,
                         "current": cur, "current_drop": drop_share(cls, spec.params, current) if cur is not None else None,
                         "grid": grid, "drop": drops}
                target = targets.get((label, p.name), targets.get((spec.name, p.name)))
                if target is not None:
                    value, got = suggest(cls, spec.params, p.name, current, grid, drops, target,
                                         numeric_type(p.type) is int)
                    entry.update(target=target, suggested=value, suggested_drop=got)
                curves.append(entry)
                if progress is not None:
                    progress.log(f"calibrated {label}.{p.name} over {len(grid)} values")
        try:  # annotate for the operators that follow (mappers rewrite, filters may add columns)
            op = cls(**spec.params)
            if issubclass(cls, Mapper):
                current = list(op.map_batch(current))
            else:
                op.keep_batch(current)
        except Exception as exc:
            skipped.append(f"{label}: could not run on the sample ({type(exc).__name__}: {exc})")
    return {"docs": len(docs), "curves": curves, "skipped": skipped}


def write_recipe(recipe_path: str, out_path: str, calibration: dict, sample_note: str) -> list[str]:
    """A copy of the recipe with the suggested thresholds and a header comment saying where they came from."""
    with open(recipe_path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    changes = []
    for c in calibration["curves"]:
        if "suggested" not in c:
            continue
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
