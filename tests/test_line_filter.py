"""line_filter: C4-style line cleanup rewrites the text, counts removed lines, keeps good lines intact."""
from __future__ import annotations

import json
import os

import pytest

from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe
from operators.quality.line_filter import LineFilter

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "cleaning_b")
with open(os.path.join(FIX, "paragraphs.jsonl"), encoding="utf-8") as fh:
    PARAS = [json.loads(line) for line in fh]
EN = [p["text"].strip() for p in PARAS if p["lang"] == "en" and p["text"].strip().endswith(".")][:6]
ZH = [p["text"].strip() for p in PARAS if p["lang"] == "zh" and p["text"].strip().endswith("。")][:4]

BOILER = {
    "javascript": "Please enable JavaScript in your browser to see this page.",
    "policy": "This website uses cookies to improve your experience, see our privacy policy.",
    "lorem": "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
    "short": "Read more.",
    "symbols": "* * * * * * * *",
    "no_punct": "Home About Contact Blog Archive Subscribe",
    "ellipsis": "Continue reading the full article on our site...",
}


def run(text: str, **params) -> dict:
    return LineFilter(**params).map({"id": "t", "text": text, "source": "s", "meta": "{}"})


def test_each_rule_removes_its_line_and_keeps_real_prose():
    for name, line in BOILER.items():
        text = "\n".join([EN[0], line, EN[1]])
        out = run(text)
        assert out["text"] == f"{EN[0]}\n{EN[1]}", name
        assert out["lines_removed"] == 1, name


def test_each_rule_can_be_switched_off():
    switches = {"javascript": {"javascript": False}, "policy": {"policy": False}, "lorem": {"lorem_ipsum": False},
                "short": {"min_words": 0}, "no_punct": {"terminal_punct": False}, "ellipsis": {"terminal_punct": False}}
    for name, params in switches.items():
        out = run("\n".join([EN[0], BOILER[name], EN[1]]), **params)
        assert BOILER[name] in out["text"] and out["lines_removed"] == 0, name
    symbols = run("\n".join([EN[0], BOILER["symbols"], EN[1]]), symbols_only=False, terminal_punct=False, min_words=0)
    assert BOILER["symbols"] in symbols["text"]


def test_untouched_document_is_byte_identical_and_paragraphs_survive():
    text = "\n\n".join(EN[:3])
    out = run(text)
    assert out["text"] == text and out["lines_removed"] == 0
    messy = "\n\n".join([EN[0], BOILER["policy"], "", "", EN[1], BOILER["symbols"]])
    out = run(messy)
    assert out["text"] == f"{EN[0]}\n\n{EN[1]}" and out["lines_removed"] == 2


def test_chinese_terminal_punctuation_and_short_lines():
    text = "\n".join([ZH[0], "首页 关于我们 联系方式", ZH[1], "好。", "这是一个完整的句子！", "真的吗？"])
    out = run(text)
    kept = out["text"].split("\n")
    assert kept == [ZH[0], ZH[1], "这是一个完整的句子！", "真的吗？"]  # 3+ CJK characters count as 3+ words
    assert out["lines_removed"] == 2
    mixed = "Linux 内核的文档在这里。\nThe kernel documentation is here。"
    assert run(mixed)["lines_removed"] == 0


def test_edges_empty_whitespace_emoji_long_line():
    assert run("")["text"] == "" and run("")["lines_removed"] == 0
    out = run("   \n \t \n")
    assert out["lines_removed"] == 0
    out = run("😀😀😀 🎉🎉\nI love this so much 😀.")
    assert out["text"] == "I love this so much 😀." and out["lines_removed"] == 1
    long_line = " ".join(EN) * 20
    assert run(long_line)["text"] == long_line
    assert run("x" * 1500 + " ends here.")["lines_removed"] == 1  # a 1500-character token
    everything = run("\n".join(BOILER.values()))
    assert everything["text"] == "" and everything["lines_removed"] == len(BOILER)


def test_citations_only_when_asked():
    line = "The kernel was first released in 1991.[1] It grew quickly.[citation needed]"
    assert run(line)["text"] == ""  # ends in "]": no terminal punctuation
    assert run(line, terminal_punct=False)["text"] == line
    assert run(line, remove_citations=True)["text"] == "The kernel was first released in 1991. It grew quickly."


@pytest.mark.slow
def test_line_filter_in_a_recipe_writes_lines_removed(tmp_path):
    rows = [{"id": "a", "text": "\n".join([EN[0], BOILER["javascript"], EN[1], BOILER["policy"]])},
            {"id": "b", "text": "\n".join(ZH[:2])},
            {"id": "c", "text": "\n".join(BOILER.values())}]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = write_recipe(tmp_path, [{"line_filter": {}}, {"length_filter": {"min_chars": 1}}],
                          [{"path": inp, "source": "web"}])
    run_garden("run", recipe, "-q")
    out = {r["id"]: r for r in read_data(tmp_path / "out")}
    assert out["a"]["text"] == f"{EN[0]}\n{EN[1]}" and out["a"]["lines_removed"] == 2
    assert out["b"]["lines_removed"] == 0
    assert "c" not in out  # emptied by line_filter, dropped (and traced) by length_filter
    stats = read_stats(tmp_path / "out")
    assert "length_filter:min_chars" in json.dumps(stats)
