"""Per-language parameter values: which keys a map may use, and which value a document gets.

Why a framework module: every heuristic filter must look a threshold up the same way (the
document's `lang` → its script group → `default`), and the recipe checker must accept the same
keys the lookup understands, or a typo in a recipe would silently fall back to `default`.

A per-language value is a mapping such as ``{"zh": 80, "Latn": 60, "default": 50}``. Keys are
language codes as the `language` operator writes them (ISO 639-1 where one exists, lid.176's
codes otherwise), the script groups ``Latn`` and ``Cyrl`` (ISO 15924) for languages without an
entry of their own, and ``default`` for every other document, including documents without a
`lang` column.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
from typing import Any, Mapping

DEFAULT = "default"

# The codes lid.176 (the `language` operator's model) predicts; a `lang` column holds these.
_LID176 = """af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb ckb co cs
cv cy da de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu gv he hi hif hr hsb ht
hu hy ia id ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la lb lez li lmo lo lrc lt lv mai mg
mhr min mk ml mn mr mrj ms mt mwl my myv mzn nah nap nds ne new nl nn no oc or os pa pam pfl pl pms pnb ps
pt qu rm ro ru rue sa sah sc scn sco sd sh si sk sl so sq sr su sv sw ta te tg th tk tl tr tt tyv ug uk
ur uz vec vep vi vls vo wa war wuu xal xmf yi yo yue zh"""
# Codes the `language` operator writes for some lid.176 labels (macrolanguages, Bokmål).
ALIASES = {"no": "nb", "wuu": "zh", "yue": "zh", "arz": "ar", "azb": "az", "pnb": "pa"}
LANGUAGE_CODES = frozenset(_LID176.split()) | {"nb"}

# Languages written in Latin or Cyrillic script: the fallback groups of a per-language table.
# (Serbian is written in both; its Cyrillic form is the one with a group of its own here.)
SCRIPT_GROUPS: dict[str, frozenset[str]] = {
    "Latn": frozenset("""af als an ast bar bcl br bs ca cbk ceb co cs cy da de diq dsb eml en eo es et eu fi fr
        frr fy ga gd gl gn gv hif hr hsb ht hu ia id ie ilo io is it jbo jv kw la lb li lmo lt lv mg min ms mt
        mwl nah nap nb nds nl nn oc pam pfl pl pms pt qu rm ro sc scn sco sh sk sl so sq su sv sw tk tl tr uz
        vec vep vi vls vo wa war yo""".split()),
    "Cyrl": frozenset("av ba be bg bxr ce cv kk kv ky krc lez mhr mk mn mrj myv os ru rue sah sr tg tt tyv uk xal".split()),
}
_GROUP_OF = {lang: group for group, langs in SCRIPT_GROUPS.items() for lang in langs}
_UNDETERMINED = ("", "und", "unknown", "xx")

# Names people write instead of codes.
_NAMES = {"english": "en", "chinese": "zh", "mandarin": "zh", "cantonese": "zh", "japanese": "ja",
          "korean": "ko", "german": "de", "french": "fr", "spanish": "es", "russian": "ru",
          "italian": "it", "portuguese": "pt", "dutch": "nl", "polish": "pl", "arabic": "ar",
          "ukrainian": "uk", "latin": "Latn", "cyrillic": "Cyrl", "*": DEFAULT, "other": DEFAULT, "others": DEFAULT}


@functools.lru_cache(maxsize=4096)
def language_code(lang: str) -> str:
    """A `lang` value as a lookup key: `zh-Hant` → zh, `EN_us` → en, `yue` → zh; '' when undetermined."""
    code = lang.replace("_", "-").split("-")[0].strip().lower()
    if code in _UNDETERMINED:
        return ""
    return ALIASES.get(code, code)


def document_language(doc: Mapping[str, Any]) -> str:
    """The document's language code from its `lang` column, '' without one (or when undetermined)."""
    lang = doc.get("lang")
    return language_code(lang) if isinstance(lang, str) and lang else ""


def script_group(lang: str) -> str:
    """`Latn`, `Cyrl` or '' for a language code."""
    return _GROUP_OF.get(lang, "")


def is_language_key(key: Any) -> bool:
    """Whether `key` looks like a key of a per-language map (letters, `default`), not e.g. an n-gram size."""
    return isinstance(key, str) and key.replace("-", "").replace("_", "").isalpha()


def language_key(key: Any) -> str:
    """The canonical form of a per-language map's key; raises ValueError with a suggestion."""
    text = str(key).strip()
    if text.lower() == DEFAULT:
        return DEFAULT
    for group in SCRIPT_GROUPS:
        if text.lower() == group.lower():
            return group
    code = language_code(text) if is_language_key(text) else ""
    if code in LANGUAGE_CODES:
        return code
    hint = _NAMES.get(text.lower()) or next(iter(difflib.get_close_matches(text.lower(), sorted(LANGUAGE_CODES), 1, 0.8)), None)
    suggestion = f" (did you mean '{hint}'?)" if hint else ""
    raise ValueError(f"'{key}' is not a language code{suggestion}; keys are language codes as `language` "
                     f"writes them (en, zh, ja, de, ...), the scripts Latn and Cyrl, or default")


@dataclasses.dataclass(frozen=True)
class LanguageValues:
    """One parameter's values by language; `default` is always present."""

    values: Mapping[str, Any]

    def get(self, lang: str) -> Any:
        """The value for a language code ('' = no language): its own, its script group's, else default."""
        values = self.values
        if lang in values:
            return values[lang]
        group = _GROUP_OF.get(lang)
        if group in values:
            return values[group]
        return values[DEFAULT]

    def __str__(self) -> str:
        return ", ".join(f"{k}: {v!r}" for k, v in self.values.items())
