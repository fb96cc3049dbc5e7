"""How recipes/data/classifier/*.jsonl.gz were made (kept for provenance; needs /work/shared/corpora).

positive.jsonl.gz  clean prose: paragraphs of the Python 3.11 docs, Linux kernel docs (en, zh_CN) and
                   the Debian Administrator's Handbook (en, zh), grouped into ~1,200-character documents.
negative.jsonl.gz  raw markup and non-prose: Wikipedia wikitext, raw HTML of handbook pages, Python
                   stdlib code, cut into ~1,000-character windows.
demo_input.jsonl.gz  a held-out mix of both kinds (other source documents), input of recipes/classifier-demo.yaml.
Selection is by a hash of the source document id, so re-running gives the same files.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys

import regex

CORPORA = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/corpora"
HERE = os.path.dirname(os.path.abspath(__file__))
LETTER = regex.compile(r"\p{L}")


def read(name):
    with gzip.open(os.path.join(CORPORA, name + ".jsonl.gz"), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def bucket(key: str) -> float:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64


def is_prose(par: str, zh: bool) -> bool:
    chars = [c for c in par if not c.isspace()]
    if len(par) < (60 if zh else 150) or not chars:
        return False
    if any(line.startswith((" ", "\t", "..", "|", "+", "=", "-", "*", ":")) for line in par.split("\n")):
        return False
    return "::" not in par and len(LETTER.findall(par)) / len(chars) > 0.8


def prose_docs(rows, zh=False, size=1200):
    for row in rows:
        pars = [p.strip() for p in row["text"].split("\n\n")]
        buf = []
        for par in pars:
            if is_prose(par, zh):
                buf.append(par)
                if sum(map(len, buf)) >= (size // 3 if zh else size):
                    yield row, "\n\n".join(buf)
                    buf = []
            elif buf:
                yield row, "\n\n".join(buf)
                buf = []


def windows(rows, size=1000, per_doc=6):
    for row in rows:
        text = row["text"]
        step = max(size, len(text) // per_doc)
        for start in range(0, max(len(text) - size, 1), step):
            cut = text.find("\n", start)
            cut = start if cut < 0 or cut > start + 200 else cut + 1
            yield row, text[cut:cut + size]


def handbook_docs(rows, lang, n_par=4):
    pars = [r for r in rows if r["lang"] == lang]
    for i in range(0, len(pars) - n_par, n_par):
        group = pars[i:i + n_par]
        yield group[0], "\n\n".join(r["text"] for r in group)


def take(pairs, n, side, demo_n, demo):
    out = []
    for row, text in pairs:
        b = bucket(row["id"])
        item = {"id": f"{row['id']}#{len(out) + len(demo)}", "text": text, "source": row["source"],
                "license": row.get("license", ""), "label": side}
        if b < 0.15 and sum(d["label"] == side and d["source"] == row["source"] for d in demo) < demo_n:
            demo.append(item)
        elif b >= 0.15 and len(out) < n:
            out.append(item)
    return out


def main() -> None:
    demo: list[dict] = []
    handbook = read("multi_debian_handbook_paragraphs")
    positive = (take(prose_docs(read("en_python_doc_rst")), 180, "positive", 8, demo)
                + take(prose_docs(read("en_linux_doc_rst")), 150, "positive", 8, demo)
                + take(prose_docs(read("zh_linux_doc_rst"), zh=True), 100, "positive", 8, demo)
                + take(handbook_docs(handbook, "en"), 100, "positive", 6, demo)
                + take(handbook_docs(handbook, "zh"), 100, "positive", 6, demo))
    negative = (take(windows(read("web_enwiki_wikitext_sample")), 250, "negative", 10, demo)
                + take(windows(read("web_raw_html_debian_handbook"), per_doc=2), 250, "negative", 10, demo)
                + take(windows(read("code_python_stdlib"), per_doc=2), 130, "negative", 8, demo))
    for name, rows in (("positive", positive), ("negative", negative), ("demo_input", demo)):
        with gzip.open(os.path.join(HERE, name + ".jsonl.gz"), "wt", encoding="utf-8", compresslevel=9) as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows), sum(len(r["text"]) for r in rows))


if __name__ == "__main__":
    main()
