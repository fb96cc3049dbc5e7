"""Garden's built-in per-language thresholds for the heuristic filters, each with its source.

Why one table: a threshold published for English web text (Gopher, C4, FineWeb) means
something else for a language whose "words" are characters, or whose words are longer. These
values apply while a parameter is left at its default (the `default` value is the operator's
class attribute, the published English figure). Lookup: the document's `lang`, then its script
group (`Latn`, `Cyrl`), then `default`; `en` is listed so that it never falls to `Latn`.

Sources (README "Per-language thresholds" has the same table):
- FW2: FineWeb-2's per-language filter configs, configs/<lang_script>.yml of
  https://github.com/huggingface/fineweb-2 (commit d0defb2, Apache-2.0): cmn_Hani for zh,
  jpn_Jpan for ja, kor_Hang for ko. `Latn` and `Cyrl` are the medians of the configs of de fr es
  it pt nl pl sv nb ca id vi cs tr hr ro da fi hu (Latn) and ru uk bg sr mk be kk (Cyrl).
  FineWeb-2 counts words with a segmenter for CJK; Garden counts CJK characters, so n-gram
  shares are over character n-grams here (bench/results/zh_filters.md measures the effect).
- FW2-all: FineWeb-2 set char_duplicates_ratio to 0.1 for every language (0.01 in FineWeb).
- PAR: own measurement on the parallel Debian handbook paragraphs (corpora
  multi_debian_handbook_paragraphs, paragraphs with ≥ 20 English words and ≥ 60 % CJK letters):
  Garden words (CJK characters count one each) per English word of the same paragraph are
  zh 1.44, ja 2.80, ko 2.13 (Hangul syllables count one each). Word-count thresholds are the
  English figure times that ratio, rounded.
- SENT: own measurement (bench/bench_zh_filters.py): clean Chinese paragraphs of ≥ 200
  characters hold 4 sentences (median; 5th percentile 3), as do their English translations
  (same sentence count in the parallel handbook, ratio 1.00), so C4's 5 sentences would drop most
  paragraph-sized documents; 3 is used for zh, ja and ko (ja and ko not measured separately).
- SPACE: Chinese and Japanese put no spaces between words, so a whitespace "token" is a
  clause or a whole paragraph: the longest-token rule (1,000 characters) is off (0).
"""
from __future__ import annotations

_EN_GRAMS_TOP = {2: 0.2, 3: 0.18, 4: 0.16}
_EN_GRAMS_DUP = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}

GOPHER_QUALITY: dict[str, dict] = {
    "min_doc_words": {"zh": 70, "ja": 140, "ko": 105},                       # PAR: 50 × ratio
    "max_doc_words": {"zh": 140_000, "ja": 280_000, "ko": 210_000},          # PAR: 100,000 × ratio
    "min_mean_word_length": {"en": 3, "Latn": 3, "Cyrl": 3},                 # FW2 (CJK: rule skipped)
    "max_mean_word_length": {"en": 10, "Latn": 12, "Cyrl": 11},              # FW2
    "min_alpha_words_ratio": {"en": 0.8, "Latn": 0.798, "Cyrl": 0.72},       # FW2 (CJK: 0.8 kept, see README)
}

GOPHER_REPETITION: dict[str, dict] = {
    "dup_line_frac": {"en": 0.3, "zh": 0.287, "ja": 0.328, "ko": 0.374, "Latn": 0.292, "Cyrl": 0.3},  # FW2
    "top_ngram_char_frac": {                                                                          # FW2
        "en": _EN_GRAMS_TOP,
        "zh": {2: 0.256, 3: 0.201, 4: 0.171},
        "ja": {2: 0.239, 3: 0.196, 4: 0.172},
        "ko": {2: 0.282, 3: 0.228, 4: 0.185},
        "Latn": {2: 0.214, 3: 0.183, 4: 0.163},
        "Cyrl": {2: 0.184, 3: 0.158, 4: 0.141},
    },
    "dup_ngram_char_frac": {                                                                          # FW2
        "en": _EN_GRAMS_DUP,
        "zh": {5: 0.198, 6: 0.182, 7: 0.167, 8: 0.154, 9: 0.14, 10: 0.127},
        "ja": {5: 0.243, 6: 0.225, 7: 0.207, 8: 0.19, 9: 0.175, 10: 0.159},
        "ko": {5: 0.201, 6: 0.184, 7: 0.168, 8: 0.154, 9: 0.14, 10: 0.127},
        "Latn": {5: 0.159, 6: 0.149, 7: 0.137, 8: 0.126, 9: 0.116, 10: 0.105},
        "Cyrl": {5: 0.159, 6: 0.148, 7: 0.136, 8: 0.124, 9: 0.113, 10: 0.102},
    },
}

C4_QUALITY: dict[str, dict] = {
    "min_num_sentences": {"zh": 3, "ja": 3, "ko": 3},                        # SENT
    "min_words_per_line": {"zh": 4, "ja": 8, "ko": 6},                       # PAR: 3 × ratio
    "max_word_length": {"zh": 0, "ja": 0},                                   # SPACE
}

FINEWEB_QUALITY: dict[str, dict] = {
    "line_punct_thr": {"en": 0.12, "zh": 0.106, "ja": 0.096, "ko": 0.062, "Latn": 0.1, "Cyrl": 0.156},  # FW2
    "char_duplicates_ratio": {"en": 0.01, "zh": 0.1, "ja": 0.1, "ko": 0.1, "Latn": 0.1, "Cyrl": 0.1},   # FW2-all
    "new_line_ratio": {"en": 0.3, "zh": 0.178, "ja": 0.13, "ko": 0.196, "Latn": 0.167, "Cyrl": 0.175},  # FW2
}

LINE_FILTER: dict[str, dict] = {
    "min_words": {"zh": 4, "ja": 8, "ko": 6},                                # PAR: 3 × ratio
    "max_word_length": {"zh": 0, "ja": 0},                                   # SPACE
}


def table(values: dict[str, dict], *also: str) -> dict[str, dict]:
    """An operator's `per_language`: these built-in values, plus parameters `also` that take maps but have none."""
    return {**{name: dict(by_lang) for name, by_lang in values.items()}, **{name: {} for name in also if name not in values}}
