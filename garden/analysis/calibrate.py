"""Threshold calibration: how the share of dropped documents moves with one filter parameter.

Each filter of a recipe sees the whole sample as annotated by the operators before it (their
annotations applied, nothing dropped), so every curve is independent of the other thresholds.
One parameter varies over a grid while the others keep their recipe values.
"""
from __future__ import annotations

import datetime
import difflib
import io
import math
import typing
from typing import Any, Sequence

from garden.analysis.stats import quantile
from garden.languages import document_language, is_language_key, language_key
from garden.operator import Filter, GlobalOp, Mapper, Param
from garden.recipe import Recipe

# parameter-name fragment → the sample statistic its threshold is measured in (first match wins)
STAT_HINTS = (("top_ngram_char_frac.2", "top_2gram_ratio"), ("top_ngram_char_frac.3", "top_3gram_ratio"),
              ("top_ngram_char_frac.4", "top_4gram_ratio"), ("dup_line_frac", "dup_line_ratio"),
              ("symbol", "symbol_ratio"), ("digit", "digit_ratio"), ("alnum", "non_alnum_ratio"),
              ("lang_score", "lang_score"), ("quality", "quality_score"), ("sentence", "sentences"),
              ("word_len", "mean_word_len"), ("word_length", "mean_word_len"), ("line_len", "mean_line_len"),
              ("line_length", "mean_line_len"), ("char", "chars"), ("word", "words"), ("line", "lines"),
              ("token", "tokens"))
RATIO_HINTS = ("ratio", "frac", "score", "threshold", "prob", "share", "rate")
MAX_INT_POINTS = 64  # an integer grid holds every value between the sample's extremes, up to this many


def numeric_type(tp: Any) -> type | None:
    """int or float for int/float/Optional[...] parameters, and for the values of dict-valued ones
    (`top_ngram_char_frac: dict[int, float]`); None for anything else (bool included)."""
    if tp in (int, float):
        return tp
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        found = {numeric_type(a) for a in args} - {None}
        return found.pop() if len(found) == 1 else None
    if origin is dict:
        args = typing.get_args(tp)
        return args[1] if len(args) == 2 and args[1] in (int, float) else None
    return None


def numeric_params(cls: type) -> list[Param]:
    return [p for p in cls.params() if numeric_type(p.type) is not None]


def split_param(name: str) -> tuple[str, str | None]:
    """'top_ngram_char_frac.4' → ('top_ngram_char_frac', '4'); 'min_words' → ('min_words', None)."""
    param, _, key = name.partition(".")
    return param, (key or None)


def _dict_key(mapping: dict, key: str) -> Any:
    """The key of `mapping` that `key` (from the command line, a string) names: 4 for '4'."""
    for k in mapping:
        if str(k) == key:
            return k
    try:
        return int(key)
    except ValueError:
        return key


def is_language_target(cls: type, param: Param, key: str | None) -> bool:
    """`key` names a language of a per-language threshold (`min_doc_words.zh`), not an entry of a
    dict-valued parameter such as Gopher's {n: fraction} (`top_ngram_char_frac.4`)."""
    return key is not None and param.name in getattr(cls, "per_language", {}) and is_language_key(key)


def current_value(cls: type, params: dict, param: Param, key: str | None) -> Any:
    """The value in force: the parameter's, one entry of a dict-valued one, or for a language key
    the value that language gets (its own, its script group's, the built-in table's or default)."""
    value = params.get(param.name, param.default)
    if is_language_target(cls, param, key):
        return cls.language_values(param.name, value).get(language_key(key))
    if key is None or not isinstance(value, dict):
        return value
    return value.get(_dict_key(value, key))


def with_value(cls: type, params: dict, param: Param, key: str | None, value: Any) -> dict:
    """`params` with the parameter (or one entry of a dict-valued one, or one language of a
    per-language one) set to `value`."""
    if key is None:
        return {**params, param.name: value}
    old = params.get(param.name, param.default)
    if is_language_target(cls, param, key):
        if cls.is_language_map(param.name, old):
            return {**params, param.name: {**old, language_key(key): value}}
        if old == param.default:  # the built-in table applies: a map is merged over it
            return {**params, param.name: {language_key(key): value}}
        return {**params, param.name: {language_key(key): value, "default": old}}  # one value for all before
    return {**params, param.name: {**(old or {}), _dict_key(old or {}, key): value}}


def targetable(cls: type) -> list[str]:
    """Every name `--target-drop OP.NAME=SHARE` accepts for this filter: scalar parameters, and
    PARAM.KEY for each entry of a dict-valued one."""
    out = []
    for p in numeric_params(cls):
        if isinstance(p.default, dict):
            out += [f"{p.name}.{k}" for k in p.default]
        else:
            out.append(p.name)
    return out


def is_ratio(param: Param, current: Any) -> bool:
    """A share or score in [0, 1] (dup_line_frac, min_score, max_symbol_ratio ...)."""
    name = param.name.lower()
    if numeric_type(param.type) is not float:
        return False
    if any(h in name for h in RATIO_HINTS):
        return current is None or 0 <= current <= 1
    return current is not None and 0 <= current <= 1 and not any(frag in name for frag, _ in STAT_HINTS)


def stat_for(name: str) -> str | None:
    """The sample statistic a parameter's threshold is measured in ('min_words' → 'words').
    Per-line thresholds ('min_words_per_line') are not measured in whole-document statistics."""
    name = name.lower()
    if "_per_" in name:
        return None
    return next((s for frag, s in STAT_HINTS if frag in name), None)


def grid_for(param: Param, current: Any, rows: Sequence[dict], points: int = 13, key: str | None = None) -> list[float]:
    """Values to try, from the sample itself: every integer between the sample's extremes of the
    matching statistic (capped) for integer parameters, that statistic's quantiles for float ones.
    Without a matching statistic: a 0–1 grid for ratios (refined later where the curve moves),
    else multiples of the current value."""
    tp = numeric_type(param.type)
    stat = stat_for(f"{param.name}.{key}" if key else param.name) or stat_for(param.name)
    stat_vals = sorted(float(r[stat]) for r in rows if stat and r.get(stat) is not None)
    if tp is int and stat_vals:
        lo, hi = math.floor(stat_vals[0]), math.ceil(stat_vals[-1])
        if hi - lo + 1 <= MAX_INT_POINTS:
            values = list(range(lo, hi + 1))
        else:
            values = [quantile(stat_vals, i / (MAX_INT_POINTS - 1)) for i in range(MAX_INT_POINTS)]
        values.append(hi + 1)  # just past the largest: a min_ threshold that drops everything
    elif stat_vals:
        values = [quantile(stat_vals, i / (points - 1)) for i in range(points)]
    elif is_ratio(param, current):
        values = [i / (points - 1) for i in range(points)]
    elif tp is int and current is not None:
        values = list(range(0, min(MAX_INT_POINTS, max(10, 2 * int(current)) + 1)))
    elif current:
        values = [current * m for m in (0, 0.125, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 8)]
    else:
        values = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000, 100000]
    if current is not None and not isinstance(current, dict):
        values.append(current)
    if tp is int:
        values = [int(round(v)) for v in values]
    else:
        values = [round(float(v), 6) for v in values]
    return sorted(set(values))


def refine(grid: list[float], drops: list[float | None], evaluate, is_int: bool, extra: int = 6) -> tuple[list, list]:
    """Add points where the curve jumps most, so that a grid with no statistic behind it still
    follows the sample: the new points are placed by the sample's own drop distribution."""
    grid, drops = list(grid), list(drops)
    for _ in range(extra):
        gaps = [(abs(drops[i + 1] - drops[i]), i) for i in range(len(grid) - 1)
                if drops[i] is not None and drops[i + 1] is not None]
        if not gaps:
            break
        jump, i = max(gaps)
        mid = (grid[i] + grid[i + 1]) / 2
        mid = int(mid) if is_int else round(mid, 6)
        if jump == 0 or mid in (grid[i], grid[i + 1]):
            break
        grid.insert(i + 1, mid)
        drops.insert(i + 1, evaluate(mid))
    return grid, drops


def rounded(value: float, is_int: bool, drop_of, docs: int) -> float:
    """The shortest value (fewest significant digits) that drops the same documents as `value`,
    or within one document of it."""
    if is_int or value == 0:
        return value
    want = drop_of(value)
    for digits in (1, 2, 3, 4):
        candidate = float(f"{value:.{digits}g}")
        got = drop_of(candidate)
        if got is not None and want is not None and abs(got - want) * max(1, docs) <= 1 + 1e-9:
            return candidate
    return round(value, 6)


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


def suggest(evaluate, grid: list[float], drops: list[float | None], target: float, is_int: bool,
            steps: int = 14) -> tuple[float | None, float | None]:
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
                d = evaluate(mid)
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
    """['length_filter.min_chars=0.1', 'gopher_repetition.top_ngram_char_frac.4=5%']
    → {('length_filter', 'min_chars'): 0.1, ('gopher_repetition', 'top_ngram_char_frac.4'): 0.05}."""
    out = {}
    for spec in specs:
        try:
            key, share = spec.split("=", 1)
            op, param = key.split(".", 1)
            if not op or not param:
                raise ValueError
            value = float(share.rstrip("%")) / (100 if share.endswith("%") else 1)
        except ValueError:
            raise ValueError(f"--target-drop {spec!r}: expected OP.PARAM[.KEY]=SHARE, e.g. length_filter.min_words=0.1 "
                             "or gopher_repetition.top_ngram_char_frac.4=0.05") from None
        if not 0 <= value <= 1:
            raise ValueError(f"--target-drop {spec!r}: the share must be between 0 and 1")
        out[(op, param)] = value
    return out


def _closest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_targets(recipe: Recipe, targets: dict[tuple[str, str], float]) -> None:
    """Refuse, before any sampling, a target that names no step of the recipe, a step that is not a
    filter, or a parameter that is not a numeric threshold of it (naming the closest one)."""
    labels = _labels(recipe)
    steps = {**{spec.name: spec for spec in recipe.pipeline}, **dict(zip(labels, recipe.pipeline))}
    for op, name in targets:
        where = f"--target-drop {op}.{name}"
        spec = steps.get(op)
        if spec is None:
            raise ValueError(f"{where}: the recipe {recipe.path} has no step '{op}'{_closest(op, list(steps))} "
                             f"(steps: {', '.join(labels)})")
        if not issubclass(spec.cls, Filter):
            kind = "a global operator" if issubclass(spec.cls, GlobalOp) else "a mapper"
            raise ValueError(f"{where}: '{op}' is {kind}, not a filter: it drops nothing by a threshold "
                             "that a sample could calibrate")
        param_name, key = split_param(name)
        params = {p.name: p for p in numeric_params(spec.cls)}
        names = targetable(spec.cls)
        if param_name not in params:
            raise ValueError(f"{where}: no numeric parameter '{param_name}' of the filter '{op}'"
                             f"{_closest(name, names)} (its thresholds: {', '.join(names) or 'none'})")
        param = params[param_name]
        if isinstance(param.default, dict) and key is None:
            raise ValueError(f"{where}: '{param_name}' holds one threshold per key: name one, e.g. "
                             f"{op}.{param_name}.{next(iter(param.default))}")
        if key is not None and is_language_key(key) and not isinstance(param.default, dict) \
                and param.name not in getattr(spec.cls, "per_language", {}):
            raise ValueError(f"{where}: '{param_name}' of '{op}' has one value for every language "
                             "(it is not a per-language threshold)")
        if key is not None:
            trial = with_value(spec.cls, dict(spec.params), param, key,
                               current_value(spec.cls, spec.params, param, key))
            if isinstance(trial[param_name], dict) and any(isinstance(v, dict) for v in trial[param_name].values()):
                raise ValueError(f"{where}: '{param_name}' holds a mapping per language; calibrate one of its "
                                 "entries for every language (e.g. " f"{op}.{param_name}.4), or give the map in the recipe")
            try:
                spec.cls.check_params(dict(trial))
            except Exception as exc:
                raise ValueError(f"{where}: '{param_name}' of '{op}' takes no value per key '{key}' ({exc})") from None


def curve_job(op_name: str, params: dict, name: str, grid: list, docs: list[dict], target: float | None,
              is_int: bool) -> dict:
    """One parameter's curve (and suggestion): runs in a worker process."""
    from garden import registry

    cls = registry.get(op_name)
    param_name, key = split_param(name)
    param = next(p for p in cls.params() if p.name == param_name)

    def evaluate(value: Any) -> float | None:
        return drop_share(cls, with_value(cls, params, param, key, value), docs)

    drops = [evaluate(v) for v in grid]
    if stat_for(name) is None and numeric_type(param.type) is float:
        grid, drops = refine(grid, drops, evaluate, is_int)
    current = current_value(cls, params, param, key)
    out = {"grid": grid, "drop": drops, "current_drop": drop_share(cls, params, docs) if current is not None else None}
    if target is not None:
        value, got = suggest(evaluate, grid, drops, target, is_int)
        if value is not None:
            value = rounded(value, is_int, evaluate, len(docs))
            got = evaluate(value)
        # unreachable: the operator's other rules already drop more than the target at every value
        reachable = got is not None and abs(got - target) <= max(0.02, 0.2 * target)
        out.update(target=target, suggested=value, suggested_drop=got, reachable=reachable)
    return out


def rule_shares(cls: type, params: dict, docs: list[dict]) -> dict:
    """Which rule of a filter drops what, at the recipe's values: {docs, dropped, reasons: {reason: n}}."""
    op = cls(**params)
    verdicts = op.keep_batch([dict(d) for d in docs])
    reasons: dict[str, int] = {}
    for v in verdicts:
        if v is True or (not isinstance(v, str) and bool(v)):
            continue
        reason = v if isinstance(v, str) and v else "dropped"
        reasons[reason] = reasons.get(reason, 0) + 1
    return {"docs": len(docs), "dropped": sum(reasons.values()),
            "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))}


def calibrate(recipe: Recipe, docs: list[dict], rows: list[dict], targets: dict[tuple[str, str], float],
              workers: int = 1, progress=None, only: Sequence[str] = ()) -> dict:
    """Curves for every threshold of every filter (or those named in `only`: OP or OP.PARAM), the
    suggestions for the targets asked for, and which rule of each filter drops what."""
    from garden.analysis.parallel import parallel
    from garden.progress import Progress

    check_targets(recipe, targets)
    labels = _labels(recipe)

    def target_of(label: str, spec, name: str) -> float | None:
        return targets.get((label, name), targets.get((spec.name, name)))

    def names_of(label: str, spec) -> list[str]:
        asked = [n for (op, n) in targets if op in (label, spec.name)]
        return targetable(spec.cls) + [n for n in asked if n not in targetable(spec.cls)]

    def chosen(label: str, spec, name: str) -> bool:
        param_name = split_param(name)[0]
        return (not only or target_of(label, spec, name) is not None
                or bool({label, spec.name, f"{label}.{name}", f"{spec.name}.{name}", f"{label}.{param_name}",
                         f"{spec.name}.{param_name}"} & set(only)))

    # operators after the last calibrated filter need not run on the sample
    last = max((i for i, (label, spec) in enumerate(zip(labels, recipe.pipeline))
                if issubclass(spec.cls, Filter) and any(chosen(label, spec, n) for n in names_of(label, spec))),
               default=-1)
    current = [dict(d) for d in docs]
    curves, jobs, skipped, rules = [], [], [], []
    for i, (label, spec) in enumerate(zip(labels, recipe.pipeline)):
        if i > last:
            break
        cls = spec.cls
        if issubclass(cls, GlobalOp):
            skipped.append(f"{label}: global operator, not calibrated on a sample")
            continue
        if issubclass(cls, Filter):
            params = {p.name: p for p in cls.params()}
            for name in names_of(label, spec):
                if not chosen(label, spec, name):
                    continue
                param_name, key = split_param(name)
                param = params[param_name]
                cur = current_value(cls, spec.params, param, key)
                picked = range(len(current))
                if is_language_target(cls, param, key):  # a per-language threshold: that language's documents
                    picked = [j for j, doc in enumerate(current) if document_language(doc) == language_key(key)]
                on = [current[j] for j in picked]
                grid = grid_for(param, cur, [rows[j] for j in picked], key=key)
                curves.append({"op": label, "name": spec.name, "index": spec.index, "param": name,
                               "current": cur, "grid": grid, "docs": len(on)})
                jobs.append((spec.name, dict(spec.params), name, grid, on, target_of(label, spec, name),
                             numeric_type(param.type) is int))
        try:  # annotate for the operators that follow (mappers rewrite, filters may add columns)
            op = cls(**spec.params)
            if issubclass(cls, Mapper):
                current = [dict(d) for d in op.map_batch([dict(d) for d in current])]
            else:
                rules.append({"op": label, **rule_shares(cls, spec.params, current)})
                current = [dict(d) for d in current]
                op.keep_batch(current)
        except Exception as exc:
            skipped.append(f"{label}: could not run on the sample ({type(exc).__name__}: {exc})")
    results = parallel(_indexed_job, [(k, *job) for k, job in enumerate(jobs)], workers,
                       progress or Progress(enabled=False), "analyze: calibrate thresholds",
                       lambda a, r: (len(a[5]) * len(a[4]), 0))
    for k, res in results:
        curves[k].update(res)
    return {"docs": len(docs), "curves": curves, "skipped": skipped, "rules": rules}


def _indexed_job(k: int, *job) -> tuple[int, dict]:
    return k, curve_job(*job)


def write_recipe(recipe_path: str, out_path: str, calibration: dict, sample_note: str) -> list[str]:
    """A copy of the recipe with the suggested thresholds, its comments and layout kept (a
    round-trip YAML load), and a header comment saying where the new values came from."""
    from ruamel.yaml import YAML

    from garden.io.writer import atomic_write_bytes

    from ruamel.yaml.util import load_yaml_guess_indent

    with open(recipe_path, encoding="utf-8") as fh:
        source = fh.read()
    _, indent, sequence_offset = load_yaml_guess_indent(source)
    yaml_rt = YAML(typ="rt")
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 4096  # never re-wrap the user's long lines
    indent, sequence_offset = indent or 2, sequence_offset or 0  # the guess: a sequence's indent and its dash's offset
    yaml_rt.indent(mapping=max(2, indent - sequence_offset), sequence=indent, offset=sequence_offset)
    data = yaml_rt.load(source)
    changes = []
    for c in calibration["curves"]:
        if c.get("suggested") is None or c.get("index") is None:
            continue  # index None: a perplexity suggestion for a recipe without a perplexity step
        entry = data["pipeline"][c["index"]]
        if entry.get(c["name"]) is None:
            entry[c["name"]] = {}
        params = entry[c["name"]]
        param_name, key = split_param(c["param"])
        if key is None:
            params[param_name] = c["suggested"]
        else:
            from garden import registry

            cls = registry.get(c["name"])
            param = next(p for p in cls.params() if p.name == param_name)
            new = with_value(cls, dict(params), param, key, c["suggested"])[param_name]
            old = params.get(param_name)
            if isinstance(old, dict) and isinstance(new, dict):
                for k, v in new.items():  # in place: the map keeps its comments and layout
                    old[k] = v
            else:
                params[param_name] = new
        changes.append(f"{c['op']}.{c['param']}: {c['current']!r} -> {c['suggested']!r} "
                       f"(drops {100 * c['suggested_drop']:.1f}% of the sample; target {100 * c['target']:.1f}%)")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"# Thresholds calibrated by `garden analyze` on {stamp} from {recipe_path}",
              f"# Sample: {sample_note}"] + [f"#   {c}" for c in changes]
    body = io.StringIO()
    yaml_rt.dump(data, body)
    atomic_write_bytes(out_path, ("\n".join(header) + "\n" + body.getvalue()).encode("utf-8"))
    return changes
