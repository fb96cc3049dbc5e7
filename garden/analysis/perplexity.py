"""`garden analyze --lm [LANG=]MODEL`: the perplexity of every sampled document under n-gram LMs.

The value lands in each sample row as `perplexity`, so analysis.json and the report show its
distribution overall, per language and per source, like any other statistic. A document whose
language has no model (and no catch-all model was given) has none.
"""
from __future__ import annotations

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
