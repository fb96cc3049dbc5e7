"""Per-document statistics against values counted by hand (English and Chinese), and the sampler."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from garden.analysis.neardup import clusters
from garden.analysis.annotate import signature
from garden.analysis.sample import SampleMerger, plan_tasks, sample_task
from garden.analysis.stats import doc_stats, summarize, top_ngram_ratio

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "analysis")
EN = os.path.join(FIX, "en_fortunes_150.jsonl")
ZH = os.path.join(FIX, "zh_fortunes_100.jsonl")


def _doc(path: str, doc_id: str) -> str:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["id"] == doc_id:
                return d["text"]
    raise KeyError(doc_id)


def test_english_sentence_hand_checked():
    s = doc_stats(_doc(EN, "fortunes/art/2"))
    assert s["chars"] == 60
    assert s["words"] == 11
    assert s["lines"] == 1
    assert s["mean_word_len"] == pytest.approx(49 / 11)
    assert s["mean_line_len"] == pytest.approx(60)
    assert s["non_alnum_ratio"] == pytest.approx(2 / 50)
    assert s["symbol_ratio"] == 0 and s["digit_ratio"] == 0
    assert s["dup_line_ratio"] == 0 and s["top_2gram_ratio"] == 0


def test_english_two_lines_hand_checked():
    s = doc_stats(_doc(EN, "fortunes/art/93"))
    assert (s["chars"], s["lines"], s["words"]) == (41, 2, 7)
    assert s["mean_line_len"] == pytest.approx(20)
    assert s["mean_word_len"] == pytest.approx(26 / 7)
    assert s["non_alnum_ratio"] == pytest.approx(6 / 32)


def test_chinese_counts_each_character_as_a_word():
    s = doc_stats(_doc(ZH, "fortunes-zh/chinese/0"))
    assert s["chars"] == 131
    assert s["lines"] == 7
    assert s["mean_line_len"] == pytest.approx(125 / 7)
    assert s["words"] == 96
    assert s["mean_word_len"] is None  # every CJK character is a word: a mean word length says nothing
    assert s["sentences"] == 5  # the title line, three sentences closed by 。, the attribution line (hand-checked)
    assert s["non_alnum_ratio"] == pytest.approx(11 / 117)
    assert s["symbol_ratio"] == 0
    assert s["dup_line_ratio"] == 0
    assert s["top_2gram_ratio"] == pytest.approx(2 * 2 / 106)
    assert s["top_3gram_ratio"] == pytest.approx(2 * 3 / 106)
    assert s["top_4gram_ratio"] == 0


def test_repetition_of_real_lines():
    lines = _doc(EN, "fortunes/art/2"), _doc(EN, "fortunes/art/31")
    text = "\n".join([lines[0], lines[1], lines[0], lines[0]])
    s = doc_stats(text)
    assert s["dup_line_ratio"] == pytest.approx(2 / 4)       # two of four lines repeat an earlier one
    ws = ["a", "b", "a", "b", "a", "b"]
    assert top_ngram_ratio(ws, 2, 6) == pytest.approx(3 * 2 / 6)  # "a b" three times


def test_symbols_and_digits():
    s = doc_stats("Price: $5 + 10% = #15")
    assert s["digit_ratio"] == pytest.approx(5 / 16)   # 5,1,0,1,5 among 16 non-space characters
    assert s["symbol_ratio"] == pytest.approx(3 / 21)   # $ + = are symbols (Sc, Sm); % : # are punctuation


def test_summary_quantiles():
    s = summarize([1, 2, 3, 4, None, 5])
    assert s["count"] == 5 and s["median"] == 3 and s["mean"] == 3 and s["min"] == 1 and s["max"] == 5
    assert s["p10"] == pytest.approx(1.4)


def _sample(paths, n, seed=0, shard_size=32 << 20):
    merger = SampleMerger(n)
    for task in plan_tasks(paths, shard_size=shard_size):
        merger.add(sample_task(task, n, seed))
    return merger


def test_sample_is_deterministic_and_counts_everything():
    a = _sample([EN, ZH], 40)
    b = _sample([ZH, EN], 40, shard_size=8 << 10)   # other order, many small shards
    assert [d["id"] for d in a.sample()] == [d["id"] for d in b.sample()]
    assert len(a.sample()) == 40
    assert dict(a.docs) == {"en_fortunes_150": 150, "zh_fortunes_100": 100}
    with open(EN, encoding="utf-8") as fh:
        en_chars = sum(len(json.loads(line)["text"]) for line in fh)
    assert a.chars["en_fortunes_150"] == en_chars
    c = _sample([EN, ZH], 40, seed=1)
    assert [d["id"] for d in c.sample()] != [d["id"] for d in a.sample()]


def test_sample_larger_than_corpus_takes_everything():
    m = _sample([EN], 10_000)
    assert len(m.sample()) == 150


def test_minhash_finds_a_near_duplicate_pair():
    texts = [_doc(ZH, "fortunes-zh/chinese/0"), _doc(ZH, "fortunes-zh/chinese/1"), _doc(EN, "fortunes/art/0")]
    near = texts[0].replace("第一条", "第一条。")  # same text, one character more
    sigs = np.stack([signature(t) for t in texts + [near]])
    assert clusters(sigs, 0.8) == [[0, 3]]



def test_histogram_bins_keep_every_value_and_clip_outliers():
    from garden.analysis.svg import histogram_bins

    values = list(range(1000)) + [10**6]
    edges, counts = histogram_bins(values, 10, clip=0.005)
    assert sum(counts) == 1001 and edges[-1] < 1000        # the outlier sits in the last bar, not on the axis
    edges, counts = histogram_bins([1, 10, 100, 1000], 3, log=True)
    assert counts == [1, 1, 2] and edges[0] == pytest.approx(1) and edges[-1] == pytest.approx(1000)


def test_stop_word_share_uses_the_language_list_gopher_uses():
    """CJK: characters inside stop words over words (each character one word); English: Gopher's list."""
    from garden.analysis.annotate import add_stop_words
    from operators.quality import stop_words_re

    zh_text = _doc(ZH, "fortunes-zh/chinese/0")
    en_text = _doc(EN, "fortunes/art/2")
    docs = [{"text": zh_text}, {"text": en_text}, {"text": "Jó reggelt kívánok mindenkinek."}, {"text": "???"}]
    rows = [{"lang": "zh", "words": doc_stats(zh_text)["words"]}, {"lang": "en", "words": doc_stats(en_text)["words"]},
            {"lang": "xx-none", "words": 4}, {"lang": "unknown", "words": 0}]
    add_stop_words(docs, rows)
    zh_cover = sum(len(m) for m in stop_words_re("zh").findall(zh_text))
    assert rows[0]["stopword_share"] == pytest.approx(zh_cover / 96) and 0 < rows[0]["stopword_share"] < 0.5
    en_hits = [w.lower() for w in stop_words_re("en").findall(en_text)]
    assert set(en_hits) <= {"the", "be", "to", "of", "and", "that", "have", "with"}
    assert rows[1]["stopword_share"] == pytest.approx(len(en_hits) / 11)
    assert "stopword_share" not in rows[2] and "stopword_share" not in rows[3]  # no list / no language
