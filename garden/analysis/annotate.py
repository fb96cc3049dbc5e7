"""Everything measured on one sampled document: statistics, language, PII, tokens, MinHash.

Runs in worker processes on chunks of the sample. Optional helpers (the `language` and `pii`
operators, a tokenizer) are loaded once per process; when one cannot be loaded the analysis
goes on without it and says why in `notes`.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from garden.analysis.stats import doc_stats
from garden.text import words

NUM_PERM = 128
SHINGLE = 5
MINHASH_SEED = 1

_HELPERS: dict[str, Any] = {}
NOTES: dict[str, str] = {}


def _meta(doc: dict) -> dict:
    raw = doc.get("meta")
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _operator(name: str):
    """An instance of a registered operator with its default parameters, or None (reason in NOTES)."""
    key = f"op:{name}"
    if key not in _HELPERS:
        from garden import registry

        _HELPERS[key] = None
        try:
            _HELPERS[key] = registry.get(name)()
        except KeyError:
            why = registry.UNAVAILABLE.get(name)
            NOTES[name] = f"operator '{name}' not available" + (f" ({why})" if why else " (not installed)")
        except Exception as exc:  # a missing model file or dependency
            NOTES[name] = f"operator '{name}' could not start: {type(exc).__name__}: {exc}"
    return _HELPERS[key]


def _run_operator(op, docs: list[dict]) -> list[dict]:
    """Annotated copies of `docs` (a filter's verdicts are ignored: only its annotations matter)."""
    from garden.operator import Filter, Mapper

    copies = [dict(d) for d in docs]
    if isinstance(op, Mapper):
        return list(op.map_batch(copies))
    if isinstance(op, Filter):
        op.keep_batch(copies)
        return copies
    return copies


def _columns(op, kind: str) -> list[str]:
    outs = getattr(op, "outputs", {}) or {}
    if kind == "str":
        return [n for n, t in outs.items() if pa.types.is_string(t) or pa.types.is_large_string(t)]
    if kind == "float":
        return [n for n, t in outs.items() if pa.types.is_floating(t)]
    return [n for n, t in outs.items() if pa.types.is_integer(t)]


def add_language(docs: list[dict], rows: list[dict], detect: bool = False) -> None:
    """lang / lang_score: the document's column, else meta.lang, else the `language` operator.
    With `detect`, the operator labels every document and the input's own label is kept beside
    it (`lang_input`), so a wrong label in the input shows instead of being reported as truth."""
    need = []
    for doc, row in zip(docs, rows):
        lang = doc.get("lang")
        score = doc.get("lang_score")
        if lang is None:
            meta = _meta(doc)
            lang, score = meta.get("lang") or meta.get("language"), meta.get("lang_score", score)
            row["lang_from"] = "meta" if lang else None
        else:
            row["lang_from"] = "column"
        row["lang"], row["lang_score"] = lang, _float(score)
        if detect:
            row["lang_input"] = lang if lang is not None else "none"
        if lang is None or detect:
            need.append((doc, row))
    if not need:
        return
    op = _operator("language")
    if op is None:
        for _, row in need:
            if row["lang"] is None:
                row["lang"], row["lang_from"] = "unknown", "none"
        return
    try:
        annotated = _run_operator(op, [d for d, _ in need])
    except Exception as exc:
        NOTES["language"] = f"language operator failed: {type(exc).__name__}: {exc}"
        for _, row in need:
            if row["lang"] is None:
                row["lang"], row["lang_from"] = "unknown", "none"
        return
    lang_col = "lang" if "lang" in (op.outputs or {}) else next(iter(_columns(op, "str")), "lang")
    score_col = "lang_score" if "lang_score" in (op.outputs or {}) else next(iter(_columns(op, "float")), "lang_score")
    for (_, row), ann in zip(need, annotated):
        row["lang"] = ann.get(lang_col) or "unknown"
        row["lang_score"] = _float(ann.get(score_col))
        row["lang_from"] = "language operator"


def _pii_kinds(value: Any) -> dict[str, int] | None:
    """The pii operator's per-kind counts: a JSON object string such as '{"email":1,"phone":2}'."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            kinds = json.loads(value)
        except ValueError:
            return None
        return {str(k): int(v) for k, v in kinds.items() if isinstance(v, (int, float))}
    return None


def add_pii(docs: list[dict], rows: list[dict]) -> None:
    """pii_count (and per-kind counts): the document's columns, else the `pii` operator if importable."""
    if all(doc.get("pii_count") is not None for doc in docs):
        annotated = docs
    else:
        op = _operator("pii")
        if op is None:
            return
        try:
            annotated = _run_operator(op, docs)
        except Exception as exc:
            NOTES["pii"] = f"pii operator failed: {type(exc).__name__}: {exc}"
            return
    for ann, row in zip(annotated, rows):
        count = ann.get("pii_count")
        if count is None:
            NOTES["pii"] = "the pii operator adds no pii_count column; PII not counted"
            return
        row["pii_count"] = int(count)
        kinds = _pii_kinds(ann.get("pii"))
        if kinds:
            row["pii_kinds"] = kinds


def _tokenizer(path: str):
    key = f"tok:{path}"
    if key not in _HELPERS:
        from tokenizers import Tokenizer

        _HELPERS[key] = Tokenizer.from_file(path)
    return _HELPERS[key]


def add_stop_words(docs: list[dict], rows: list[dict]) -> None:
    """stopword_share: the share of a document's words that are stop words of its language, by
    the lists gopher_quality uses (a CJK stop word covers its characters, each one a word).
    Documents of a language without a list, or of no known language, get none."""
    from garden.languages import language_code
    from operators.quality import CJK_LANGS, stop_words_re

    for doc, row in zip(docs, rows):
        lang = language_code(str(row.get("lang") or ""))
        pattern = stop_words_re(lang) if lang not in ("", "unknown", "und") else None
        if pattern is None or not row.get("words"):
            continue
        found = pattern.findall(doc.get("text") or "")
        covered = sum(len(m) for m in found) if lang in CJK_LANGS else len(found)
        row["stopword_share"] = min(1.0, covered / row["words"])


def add_tokens(docs: list[dict], rows: list[dict], tokenizer_path: str) -> None:
    enc = _tokenizer(tokenizer_path).encode_batch([d["text"] for d in docs], add_special_tokens=False)
    for e, row in zip(enc, rows):
        row["tokens"] = len(e.ids)
        row["chars_per_token"] = row["chars"] / len(e.ids) if e.ids else None


def shingles(text: str, n: int = SHINGLE) -> set[bytes]:
    """Word n-grams (a CJK character is a word), the same unit near-dedup compares."""
    ws = [w.lower() for w in words(text)]
    if len(ws) < n:
        return {" ".join(ws).encode()} if ws else {b""}
    return {" ".join(ws[i:i + n]).encode() for i in range(len(ws) - n + 1)}


def signature(text: str) -> np.ndarray:
    return signatures([text])[0]


def signatures(texts: list[str]) -> np.ndarray:
    """MinHash signatures, one row per text; `MinHash.bulk` shares the permutations (much faster)."""
    from datasketch import MinHash

    if not texts:
        return np.zeros((0, NUM_PERM), dtype=np.uint64)
    hashes = MinHash.bulk([list(shingles(t)) for t in texts], num_perm=NUM_PERM, seed=MINHASH_SEED)
    return np.stack([m.hashvalues.astype(np.uint64) for m in hashes])


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def annotate_chunk(docs: list[dict], tokenizer_path: str | None = None, minhash: bool = True,
                   detect_lang: bool = False) -> dict:
    """Rows of measurements for a chunk of sampled documents (plus MinHash signatures as bytes)."""
    rows = []
    for doc in docs:
        text = doc.get("text") or ""
        row: dict[str, Any] = {"id": str(doc.get("id")), "source": doc.get("source") or "unknown"}
        row.update(doc_stats(text))
        q = doc.get("quality_score")
        if q is None:
            q = _meta(doc).get("quality_score")
        row["quality_score"] = _float(q)
        rows.append(row)
    add_language(docs, rows, detect_lang)
    add_stop_words(docs, rows)
    add_pii(docs, rows)
    if tokenizer_path:
        add_tokens(docs, rows, tokenizer_path)
    sigs = signatures([d.get("text") or "" for d in docs]).tobytes() if minhash else b""
    return {"rows": rows, "signatures": sigs, "notes": dict(NOTES)}
