"""Unicode scripts of a text: shares of Han, kana and Hangul, and the decisions that rest on them.

Language-ID models are weak where scripts are decisive: lid.176 calls a short all-Han Chinese
sentence Korean, Japanese or Vietnamese, but a text whose letters are all Han characters is
Chinese-script text whatever the model says, kana mark Japanese and Hangul Korean. This module
holds only those script facts (no model), so that language ID, quality filters and analysis
read them the same way:

- `count_scripts`: letters by script (Han, hiragana, katakana, Hangul, other);
- `is_han_only`: every letter is a Han character;
- `cjk_language`: zh, ja or ko from the scripts of the CJK letters, ignoring short quoted
  spans (a quoted katakana word in Chinese text does not make it Japanese);
- `han_variant`: Hans, Hant or Hani from characters that exist in one written form only,
  derived from OpenCC's simplified <-> traditional dictionaries (`python -m garden.script`
  regenerates the table from the installed `opencc` package).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Literal, Optional

import regex

from garden._han_variants import HANS_ONLY, HANT_ONLY, OPENCC_VERSION

__all__ = ["CJK_WEIGHT", "KANA_SHARE", "KATAKANA_ONLY_SHARE", "HANGUL_SHARE", "ScriptCounts", "count_scripts",
           "is_han_only", "cjk_language", "han_variant", "HANS_ONLY", "HANT_ONLY", "OPENCC_VERSION"]

# English letters per Han character in parallel text (Debian handbook en vs zh: about 3.8-4.4):
# a CJK character carries about as much text as four Latin letters.
CJK_WEIGHT = 4.0
# Share of the CJK letters (outside quoted spans) that makes a text Japanese: kana with at least
# one hiragana (Japanese prose writes particles in hiragana), or katakana alone when it is half.
KANA_SHARE = 0.1
KATAKANA_ONLY_SHARE = 0.5
# Share of the CJK letters (outside quoted spans) in Hangul that makes a text Korean.
HANGUL_SHARE = 0.3

_HAN = regex.compile(r"\p{Han}")
_HIRAGANA = regex.compile(r"\p{Hiragana}")
_KATAKANA = regex.compile(r"[\p{Katakana}\u30fc\uff70]")  # with the prolonged sound mark ー (script Common)
_HANGUL = regex.compile(r"\p{Hangul}")
_LETTER = regex.compile(r"\p{L}")
# Short quoted spans: a foreign word quoted in Chinese text (「ラーメン」, 《にちじょう》). Not
# parentheses: Japanese text explains in them, in hiragana.
_QUOTED = regex.compile(
    r"「[^「」\n]{1,40}」|『[^『』\n]{1,40}』|“[^“”\n]{1,40}”|‘[^‘’\n]{1,40}’|\"[^\"\n]{1,40}\""
    r"|《[^《》\n]{1,40}》|〈[^〈〉\n]{1,40}〉|【[^【】\n]{1,40}】")
_HANS = frozenset(HANS_ONLY)  # a set: a regex class of 3,000+ characters is 20x slower here
_HANT = frozenset(HANT_ONLY)


@dataclass(frozen=True)
class ScriptCounts:
    """How many letters (Unicode category L) of a text are in each script."""

    letters: int = 0
    han: int = 0
    hiragana: int = 0
    katakana: int = 0
    hangul: int = 0

    @property
    def kana(self) -> int:
        return self.hiragana + self.katakana

    @property
    def cjk(self) -> int:
        return self.han + self.kana + self.hangul

    @property
    def other(self) -> int:
        """Letters of other scripts (Latin, Cyrillic, ...)."""
        return self.letters - self.cjk

    def cjk_weight_share(self, scripts: str = "cjk") -> float:
        """Share of the text's weight (a CJK letter weighs CJK_WEIGHT, any other letter 1) in `scripts`:
        "cjk", "han", "ja" (Han + kana) or "ko" (Hangul + Han)."""
        part = {"cjk": self.cjk, "han": self.han, "zh": self.han, "ja": self.han + self.kana,
                "ko": self.hangul + self.han}[scripts]
        total = self.other + CJK_WEIGHT * self.cjk
        return CJK_WEIGHT * part / total if total else 0.0


def count_scripts(text: str) -> ScriptCounts:
    """Letters of `text` by script."""
    return ScriptCounts(letters=len(_LETTER.findall(text)), han=len(_HAN.findall(text)),
                        hiragana=len(_HIRAGANA.findall(text)), katakana=len(_KATAKANA.findall(text)),
                        hangul=len(_HANGUL.findall(text)))


def is_han_only(text: str) -> bool:
    """True when the text has letters and every one is a Han character (digits, punctuation,
    spaces and symbols do not count): such text is Chinese-script, never a Latin-script language."""
    counts = count_scripts(text)
    return counts.letters > 0 and counts.han == counts.letters


def cjk_language(text: str, counts: Optional[ScriptCounts] = None) -> Optional[str]:
    """`ja`, `ko` or `zh` as the scripts of the text's CJK letters say; None without CJK letters.

    Counted outside short quoted spans (「」, 『』, 《》, “”, 【】...) unless nothing CJK is left
    outside them: a Chinese sentence quoting a Japanese title stays Chinese. Japanese needs a
    kana share of KANA_SHARE with some hiragana, or KATAKANA_ONLY_SHARE of katakana alone;
    Korean a Hangul share of HANGUL_SHARE. Everything else CJK (Han) is Chinese.
    """
    counts = counts if counts is not None else count_scripts(text)
    if not counts.cjk:
        return None
    outside = _QUOTED.sub(" ", text)
    if outside != text:
        inner = count_scripts(outside)
        counts = inner if inner.cjk else counts
    kana_share, hangul_share = counts.kana / counts.cjk, counts.hangul / counts.cjk
    japanese = (counts.hiragana and kana_share >= KANA_SHARE) or counts.katakana / counts.cjk >= KATAKANA_ONLY_SHARE
    korean = hangul_share >= HANGUL_SHARE
    if japanese and korean:
        return "ja" if kana_share >= hangul_share else "ko"
    if japanese:
        return "ja"
    if korean:
        return "ko"
    return "zh"


def han_variant(text: str) -> Literal["Hans", "Hant", "Hani"]:
    """`Hans` (Simplified) or `Hant` (Traditional) by which form's distinctive characters the text
    has more of (characters that OpenCC's dictionaries give in one form only, such as 发/發, 为/為);
    `Hani` when it has none of either, or as many of each. ISO 15924 codes."""
    hans, hant = sum(map(_HANS.__contains__, text)), sum(map(_HANT.__contains__, text))
    if hans > hant:
        return "Hans"
    if hant > hans:
        return "Hant"
    return "Hani"


# -- the table of distinctive characters, derived from OpenCC's dictionaries -------------------

def _opencc_dict(name: str) -> dict[str, list[str]]:
    """One of OpenCC's character dictionaries as {key: [candidates]}, dumped with the
    `opencc_dict` tool that the opencc wheel ships next to its .ocd2 files."""
    import opencc

    base = os.path.join(os.path.dirname(opencc.__file__), "clib")
    tool = os.path.join(base, "bin", "opencc_dict")
    source = os.path.join(base, "share", "opencc", f"{name}.ocd2")
    if not (os.path.exists(tool) and os.path.exists(source)):
        raise FileNotFoundError(f"this opencc install has no {tool} or {source} to read its dictionaries with")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, f"{name}.txt")
        subprocess.run([tool, "-i", source, "-o", out, "-f", "ocd2", "-t", "text"], check=True)
        with open(out, encoding="utf-8") as fh:
            pairs = (line.rstrip("\n").split("\t", 1) for line in fh if "\t" in line)
            return {key: value.split(" ") for key, value in pairs}


def variant_tables_from_opencc() -> tuple[str, str, str]:
    """(Hans-only characters, Hant-only characters, OpenCC version) from the installed opencc.

    Hans-only: a simplified character that OpenCC converts to traditional, that is not one of its
    own traditional candidates and that no traditional text uses (not a traditional candidate of
    another character, not a traditional key, not a Taiwan or Hong Kong variant form): 发, 为.
    Hant-only: the same the other way: 發, 為, 爲. Characters both forms share (后, 干, 台, 著)
    are in neither.
    """
    import opencc

    st, ts = _opencc_dict("STCharacters"), _opencc_dict("TSCharacters")
    regional = [_opencc_dict(n) for n in ("TWVariants", "HKVariants", "TWVariantsRev", "HKVariantsRev")]
    in_traditional = {c for v in st.values() for c in v} | set(ts)
    in_traditional |= {c for d in regional for k, v in d.items() for c in [k, *v]}
    in_simplified = {c for v in ts.values() for c in v} | set(st)
    hans = sorted(c for c, v in st.items() if len(c) == 1 and c not in v and c not in in_traditional)
    hant = sorted(c for c, v in ts.items() if len(c) == 1 and c not in v and c not in in_simplified)
    return "".join(hans), "".join(hant), opencc.__version__


def _write_tables(path: str) -> None:
    hans, hant, version = variant_tables_from_opencc()
    lines = ['"""Characters that exist in one written form of Chinese only. Generated by `python -m garden.script`',
             f'from the dictionaries of opencc {version} (STCharacters, TSCharacters, TW/HK variants); do not edit."""',
             "", f"OPENCC_VERSION = {version!r}", f"HANS_ONLY = {hans!r}", f"HANT_ONLY = {hant!r}", ""]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    os.replace(tmp, path)


if __name__ == "__main__":  # regenerate garden/_han_variants.py after bumping the opencc pin
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_han_variants.py")
    _write_tables(target)
    print(f"wrote {target}", file=sys.stderr)
