"""Near-duplicate test sets: real documents plus planted exact and edited copies at measured Jaccard.

A pool of distinct ~1 KB pieces is cut from real corpora (English and Chinese) and cleaned of
its own near-duplicates (any pair of pieces with true word-5-gram Jaccard ≥ 0.5 loses one
side), so every "distinct" document really is distinct. Groups are then planted: an original
and copies that are exact or edited (word/character replacements, deletions, insertions, an
appended or dropped line) until the true Jaccard with the original reaches a drawn target;
the measured value is recorded with each copy. Used by bench/bench_dedup.py and, on a small
fixture, by tests/test_minhash_dedup.py (through tests/dedup_helpers.py).

    python tests/neardup_set.py --out set.jsonl --groups 500 --distinct 3000
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
from typing import Iterable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from garden.text import CJK_CHAR_RE as CJK_RE  # noqa: E402
from operators.dedup import shingles  # noqa: E402

CORPORA = "/work/shared/corpora"
DEFAULT_SOURCES = ("en_linux_doc_rst", "en_python_doc_rst", "en_dict_foldoc", "zh_linux_doc_rst", "zh_manpages")


def jaccard(a: str, b: str, ngram: int = 5) -> float:
    """True Jaccard of word n-gram sets (the same shingles minhash_dedup estimates)."""
    sa, sb = shingles(a, ngram), shingles(b, ngram)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def is_cjk(text: str) -> bool:
    return len(CJK_RE.findall(text)) > 0.3 * max(1, len(text.replace(" ", "")))


def pieces(text: str, target_chars: int = 1000, min_chars: int = 300) -> Iterable[str]:
    """Cut a document at paragraph boundaries into pieces of about `target_chars` (CJK: a third)."""
    target = target_chars // 3 if is_cjk(text) else target_chars
    buf: list[str] = []
    size = 0
    for para in text.split("\n\n"):
        buf.append(para)
        size += len(para)
        if size >= target:
            piece = "\n\n".join(buf).strip()
            if len(piece) >= (min_chars // 3 if is_cjk(piece) else min_chars):
                yield piece[: 2 * target]
            buf, size = [], 0


def read_corpus(name: str, root: str = CORPORA) -> Iterable[str]:
    with gzip.open(os.path.join(root, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)["text"]


def distinct_pool(texts: list[str], max_jaccard: float = 0.5) -> list[str]:
    """Drop every piece that has an earlier piece with true Jaccard ≥ max_jaccard (exact check on LSH candidates)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=max_jaccard * 0.8, num_perm=128)
    out = []
    sets = [shingles(t, 5) for t in texts]
    for i, mh in enumerate(MinHash.generator(sets, num_perm=128)):
        if not sets[i]:
            continue
        near = [j for j in lsh.query(mh) if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= max_jaccard]
        if near:
            continue
        lsh.insert(i, mh)
        out.append(texts[i])
    return out


def _units(text: str) -> tuple[list[str], str]:
    """Edit units: characters for CJK text, whitespace-separated words otherwise."""
    return (list(text), "") if is_cjk(text) else (text.split(" "), " ")


def edit_to(text: str, target: float, donor: str, rng: random.Random, max_steps: int = 400) -> tuple[str, float]:
    """Apply random edits until Jaccard(text, edited) ≤ target; returns (edited, measured Jaccard)."""
    units, sep = _units(text)
    donor_units, _ = _units(donor)
    donor_units = [u for u in donor_units if u.strip()] or ["x"]
    edited = list(units)
    sim = 1.0
    for _ in range(max_steps):
        op = rng.random()
        pos = rng.randrange(len(edited)) if edited else 0
        if op < 0.45 and edited:
            edited[pos] = rng.choice(donor_units)
        elif op < 0.7 and len(edited) > 5:
            del edited[pos]
        elif op < 0.95:
            edited.insert(pos, rng.choice(donor_units))
        else:  # append a run of donor text (a footer, a signature line)
            k = rng.randrange(len(donor_units))
            edited.extend(["\n"] + donor_units[k:k + 8])
        candidate = sep.join(edited)
        sim = jaccard(text, candidate)
        if sim <= target:
            return candidate, sim
    return sep.join(edited), sim


def build_set(pool: list[str], groups: int, distinct: int, seed: int = 0,
              copies: tuple[int, int] = (1, 4), exact_share: float = 0.25, low: float = 0.5) -> list[dict]:
    """Records in input order: originals first, then copies and distinct documents interleaved.

    Each record: id, text, kind (original | exact | edited | distinct), group, jaccard (with the original).
    """
    rng = random.Random(seed)
    if groups + distinct + groups > len(pool):
        raise ValueError(f"pool of {len(pool)} pieces is too small for {groups} groups + {distinct} distinct")
    order = list(range(len(pool)))
    rng.shuffle(order)
    originals = [pool[i] for i in order[:groups]]
    donors = [pool[i] for i in order[groups:2 * groups]]
    distinct_texts = [pool[i] for i in order[2 * groups:2 * groups + distinct]]
    records = [{"id": f"g{g:05d}-orig", "text": t, "kind": "original", "group": g, "jaccard": 1.0}
               for g, t in enumerate(originals)]
    tail = [{"id": f"d{k:06d}", "text": t, "kind": "distinct", "group": -1, "jaccard": 0.0}
            for k, t in enumerate(distinct_texts)]
    for g, orig in enumerate(originals):
        for c in range(rng.randint(*copies)):
            if rng.random() < exact_share:
                tail.append({"id": f"g{g:05d}-c{c}", "text": orig, "kind": "exact", "group": g, "jaccard": 1.0})
            else:
                text, sim = edit_to(orig, rng.uniform(low, 1.0), donors[g], rng)
                tail.append({"id": f"g{g:05d}-c{c}", "text": text, "kind": "edited", "group": g,
                             "jaccard": round(sim, 4)})
    rng.shuffle(tail)
    return records + tail


def evaluate(records: list[dict], kept_ids: set[str], threshold: float = 0.85) -> dict:
    """Recall on copies with Jaccard ≥ threshold, loss of distinct documents, recall per Jaccard bin."""
    copies = [r for r in records if r["kind"] in ("exact", "edited")]
    high = [r for r in copies if r["jaccard"] >= threshold]
    distinct = [r for r in records if r["kind"] in ("distinct", "original")]
    bins: dict[str, list[int]] = {}
    for r in copies:
        lo = min(int(r["jaccard"] * 20) / 20, 0.95)
        key = f"{lo:.2f}-{lo + 0.05:.2f}" if r["kind"] == "edited" else "exact"
        b = bins.setdefault(key, [0, 0])
        b[0] += 1
        b[1] += r["id"] not in kept_ids
    return {
        "copies": len(copies),
        "copies_high": len(high),
        "recall_high": sum(r["id"] not in kept_ids for r in high) / max(1, len(high)),
        "distinct": len(distinct),
        "distinct_lost": sum(r["id"] not in kept_ids for r in distinct),
        "distinct_loss_rate": sum(r["id"] not in kept_ids for r in distinct) / max(1, len(distinct)),
        "removed_by_bin": {k: {"n": v[0], "removed": v[1], "rate": round(v[1] / v[0], 3)} for k, v in sorted(bins.items())},
    }


def make_pool(sources: Iterable[str] = DEFAULT_SOURCES, per_source: int = 2000, seed: int = 0,
              root: str = CORPORA) -> list[str]:
    rng = random.Random(seed)
    texts: list[str] = []
    for name in sources:
        ps = [p for t in read_corpus(name, root) for p in pieces(t)]
        rng.shuffle(ps)
        texts.extend(ps[:per_source])
    return distinct_pool(texts)


def vocabulary(sources: Iterable[str] = ("en_linux_doc_rst", "en_python_doc_rst", "en_dict_foldoc"),
               size: int = 30000, root: str = CORPORA) -> tuple[list[str], list[float]]:
    """The most frequent words of real English corpora with their frequencies (Zipf-like)."""
    from collections import Counter

    counts: Counter = Counter()
    for name in sources:
        for text in read_corpus(name, root):
            counts.update(w for w in text.split() if w.isalpha())
    words, freq = zip(*counts.most_common(size))
    total = sum(freq)
    return list(words), [f / total for f in freq]


def synthetic_corpus(path: str, n_docs: int, seed: int = 0, dup_share: float = 0.25, words_per_doc: int = 160,
                     root: str = CORPORA) -> dict:
    """Write `n_docs` ~1 KB documents with web-like duplicate structure; returns counts by kind.

    Unique documents are Zipf word samples. A `dup_share` of documents copy an earlier one:
    40 % exact copies, 60 % near copies with 1–8 % of words replaced. Copy sources are drawn
    from a fixed set of popular documents (big clusters: templates, mirrors) a fifth of the
    time and from recent documents otherwise (pairs and small clusters). Memory is bounded:
    only a window of recent documents is kept.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab, freq = vocabulary(root=root)
    vocab_arr = np.array(vocab, dtype=object)
    freq = np.asarray(freq, dtype=np.float64)
    window: list[np.ndarray] = []
    popular: list[np.ndarray] = []
    counts = {"unique": 0, "exact": 0, "near": 0}
    chunk = 10000
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        for lo in range(0, n_docs, chunk):
            n = min(chunk, n_docs - lo)
            lengths = np.clip(rng.normal(words_per_doc, words_per_doc / 5, n).astype(int), 20, None)
            pool = rng.choice(len(vocab), size=int(lengths.sum()), p=freq)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            is_copy = rng.random(n) < dup_share
            lines = []
            for k in range(n):
                i = lo + k
                if is_copy[k] and window:
                    src_list = popular if popular and rng.random() < 0.2 else window
                    ids = src_list[int(rng.integers(len(src_list)))].copy()
                    if rng.random() < 0.4:
                        counts["exact"] += 1
                    else:
                        m = max(1, int(len(ids) * rng.uniform(0.01, 0.08)))
                        ids[rng.integers(0, len(ids), m)] = pool[rng.integers(0, len(pool), m)]
                        counts["near"] += 1
                else:
                    ids = pool[offsets[k]:offsets[k + 1]]
                    counts["unique"] += 1
                    if len(popular) < 200:
                        popular.append(ids)
                    window.append(ids)
                    if len(window) > 20000:
                        window = window[-10000:]
                lines.append(json.dumps({"id": f"s{i:08d}", "text": " ".join(vocab_arr[ids])}) + "\n")
            fh.write("".join(lines))
    os.replace(path + ".tmp", path)
    return counts


def write_jsonl(path: str, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--groups", type=int, default=500)
    ap.add_argument("--distinct", type=int, default=3000)
    ap.add_argument("--per-source", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pool = make_pool(per_source=args.per_source, seed=args.seed)
    records = build_set(pool, args.groups, args.distinct, args.seed)
    write_jsonl(args.out, records)
    print(f"{len(pool)} distinct pieces → {len(records)} records in {args.out}")


if __name__ == "__main__":
    main()
