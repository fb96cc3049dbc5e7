"""`garden analyze --lm [LANG=]MODEL`: the perplexity of every sampled document under n-gram LMs,
and `--target-drop perplexity.max_percentile=SHARE` (or max_perplexity) calibrated from it.

The value lands in each sample row as `perplexity`, so analysis.json and the report show its
distribution overall, per language and per source, like any other statistic. A document whose
language has no model (and no catch-all model was given) has none.
"""
from __future__ import annotations

import numpy as np

ALL = "*"


def parse_lm_options(values: list[str]) -> dict[str, str]:
    """["zh=lm/zh", "lm/all"] -> {"zh": "lm/zh", "*": "lm/all"}."""
    out: dict[str, str] = {}
    for value in values:
        lang, sep, path = value.partition("=")
        if not sep:
            lang, path = ALL, value
        if not path:
            raise ValueError(f"--lm {value!r}: give PATH or LANG=PATH")
        out[lang] = path
    return out


def add_perplexity(sample: list[dict], rows: list[dict], models: dict[str, str]) -> None:
    from garden.lm import load_model

    loaded = {}
    for lang, path in models.items():
        try:
            loaded[lang] = load_model(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"--lm {lang}={path}: {exc}") from None
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        key = row.get("lang") if row.get("lang") in loaded else ALL if ALL in loaded else None
        if key is not None:
            groups.setdefault(key, []).append(i)
    for key, idx in groups.items():
        for i, ppl in zip(idx, loaded[key].perplexity([sample[i].get("text") or "" for i in idx])):
            rows[i]["perplexity"] = None if ppl is None else round(ppl, 4)


PARAMS = ("max_percentile", "max_perplexity")
GRID_POINTS = 13
BISECT_STEPS = 40


def perplexity_targets(targets: dict[tuple[str, str], float], labels: set[str]) -> dict[str, float]:
    """The `perplexity.PARAM=SHARE` targets ({param: share}), taken out of `targets` (in place):
    `perplexity` is calibrated from the sample's own perplexities (--lm), not by re-running it."""
    out = {}
    for op, param in list(targets):
        if op == "perplexity" or (op in labels and op.startswith("perplexity")):
            if param not in PARAMS:
                raise ValueError(f"--target-drop {op}.{param}: perplexity calibrates {' or '.join(PARAMS)}")
            out[param] = targets.pop((op, param))
    return out


def _scored(rows: list[dict]) -> dict[str, np.ndarray]:
    """{language: perplexities} of the sampled documents that have one (as the operator groups them)."""
    groups: dict[str, list[float]] = {}
    for r in rows:
        if r.get("perplexity") is not None:
            groups.setdefault(str(r.get("lang") or "unknown"), []).append(float(r["perplexity"]))
    return {lang: np.asarray(v) for lang, v in sorted(groups.items())}


def cutoffs(scored: dict[str, np.ndarray], param: str, value: float) -> dict[str, float]:
    """Per-language cut-off the `perplexity` operator would use for this parameter value."""
    if param == "max_perplexity":
        return {lang: float(value) for lang in scored}
    return {lang: float(np.percentile(v, value)) for lang, v in scored.items()}


def drop_share(scored: dict[str, np.ndarray], n_docs: int, param: str, value: float) -> float:
    """Share of the sample above its language's cut-off (documents without a perplexity are kept)."""
    cuts = cutoffs(scored, param, value)
    return sum(int(np.count_nonzero(v > cuts[lang])) for lang, v in scored.items()) / n_docs if n_docs else 0.0


def _round(param: str, value: float) -> float:
    return round(value, 3) if param == "max_percentile" else float(f"{value:.5g}")


def suggest(scored: dict[str, np.ndarray], n_docs: int, param: str, target: float) -> tuple[float, float]:
    """The value whose drop share is closest to `target`, by bisection (the share falls as the value rises;
    max_perplexity is searched on a log scale)."""
    if param == "max_percentile":
        lo, hi, to_value = 0.0, 100.0, (lambda x: x)
    else:
        every = np.concatenate(list(scored.values()))
        lo, hi, to_value = float(np.log(every.min())) - 1e-9, float(np.log(every.max())), np.exp
    best = (_round(param, to_value(hi)), drop_share(scored, n_docs, param, _round(param, to_value(hi))))
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        value = _round(param, float(to_value(mid)))
        share = drop_share(scored, n_docs, param, value)
        if abs(share - target) < abs(best[1] - target) or (abs(share - target) == abs(best[1] - target) and value < best[0]):
            best = (value, share)
        if share > target:
            lo = mid
        else:
            hi = mid
    return best


def calibrate_perplexity(rows: list[dict], targets: dict[str, float], current: dict[str, float | None],
                         index: int | None, label: str = "perplexity") -> list[dict]:
    """One calibration curve per targeted parameter, in the shape of garden.analysis.calibrate's curves,
    with the per-language cut-offs the suggestion implies."""
    scored = _scored(rows)
    if not scored:
        raise ValueError("--target-drop perplexity.*: no sampled document has a perplexity (give --lm MODEL, "
                         "or LANG=MODEL for the sample's languages)")
    n_docs = len(rows)
    every = np.sort(np.concatenate(list(scored.values())))
    curves = []
    for param, target in targets.items():
        if param == "max_percentile":
            grid = [round(100 * i / (GRID_POINTS - 1), 3) for i in range(1, GRID_POINTS)]
        else:
            grid = sorted({_round(param, float(np.quantile(every, i / (GRID_POINTS - 1)))) for i in range(GRID_POINTS)})
        cur = current.get(param)
        value, got = suggest(scored, n_docs, param, target)
        curves.append({"op": label, "name": "perplexity", "index": index, "param": param, "current": cur,
                       "grid": grid, "drop": [drop_share(scored, n_docs, param, v) for v in grid],
                       "current_drop": None if cur is None else drop_share(scored, n_docs, param, cur),
                       "target": target, "suggested": value, "suggested_drop": got,
                       "reachable": abs(got - target) <= max(0.02, 0.2 * target),
                       "cutoffs": {lang: round(c, 4) for lang, c in cutoffs(scored, param, value).items()},
                       "scored_docs": int(len(every)), "docs": n_docs})
    return curves
