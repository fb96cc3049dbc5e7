"""html_to_text on real Debian handbook pages (en, zh) and synthetic boilerplate; through `garden run`."""
from __future__ import annotations

import gzip
import json
import os

import pytest

from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe
from operators.clean.html import HtmlToText, html_to_text

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "cleaning_a")


def _pages() -> dict[str, dict]:
    with gzip.open(os.path.join(FIXTURES, "handbook_html.jsonl.gz"), "rt", encoding="utf-8") as fh:
        return {row["id"].split("/", 1)[1]: row for row in map(json.loads, fh)}


BOILERPLATE_PAGE = """<!DOCTYPE html><html><head><title>T</title>
<style>body { color: red; } .secret-style {}</style>
<script>var trackingCode = "do-not-keep";</script></head>
<body>
<header><a href="/">Home</a> <a href="/news">News</a> <a href="/about">About</a></header>
<nav><ul><li><a href="/a">Section A</a></li><li><a href="/b">Section B</a></li><li><a href="/c">Section C</a></li></ul></nav>
<main><article>
<h1>How rivers carve canyons</h1>
<p>Over millions of years, a river cuts downward through rock layers, and the walls of the valley
are shaped by rain, frost and wind.</p>
<h2>河流如何切割峡谷</h2>
<p>经过数百万年，河流向下切割岩层，而山谷两侧的岩壁则由雨水、霜冻和风塑造。</p>
</article></main>
<footer><p>© 2024 Example Corp. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
<script>document.write("late script")</script>
</body></html>"""


def test_drops_scripts_styles_navigation_keeps_headings_and_paragraphs():
    text = html_to_text(BOILERPLATE_PAGE)
    for gone in ("trackingCode", "color: red", "late script", "Section A", "Privacy", "All rights reserved", "News"):
        assert gone not in text
    lines = text.split("\n")
    assert lines[0] == "How rivers carve canyons"
    assert "河流如何切割峡谷" in lines
    assert any(line.startswith("经过数百万年，河流向下切割岩层") for line in lines)
    assert "\n\n" in text and "<" not in text


def test_english_handbook_page():
    text = html_to_text(_pages()["en-US/debian-packaging.html"]["text"])
    assert text.startswith("Chapter 15. Creating a Debian Package\n\nIt is quite common")
    assert "\n15.1. Rebuilding a Package from its Sources\n" in text and "\u00a0" not in text
    assert "Download the ebook" not in text and "Prev" not in text.split("\n")
    # the table of contents (a list that is all links) is gone: its entries appear once, as headings
    assert text.count("Getting the Sources") == 1
    assert "Rebuilding a Debian package starts with getting its source code." in text
    assert 8_000 < len(text) < 12_000


def test_chinese_handbook_page():
    text = html_to_text(_pages()["zh-CN/debian-packaging.html"]["text"])
    assert text.split("\n")[0] == "第 15 章 创建 Debian 软件包"
    assert "上一页" not in text and "下一页" not in text
    assert text.count("获取源代码") == 1  # heading kept, table of contents dropped
    assert "在几种情况下需要重新构建二进制包。" in text


def test_keeping_link_lists_when_asked():
    page = _pages()["en-US/debian-packaging.html"]["text"]
    assert html_to_text(page, max_link_density=1.0).count("Getting the Sources") == 2


@pytest.mark.parametrize("html", ["", "   ", "<html><body></body></html>",
                                  "<html><script>only()</script><style>p{}</style></html>"])
def test_pages_without_text_are_dropped(html):
    op = HtmlToText()
    doc = {"id": "x", "text": html, "source": "s", "meta": "{}"}
    assert op.keep(doc) == "no_text" and doc["text"] == ""


def test_plain_text_and_emoji_pass_through():
    op = HtmlToText()
    doc = {"id": "x", "text": "Just text 😀 and 中文", "source": "s", "meta": "{}"}
    assert op.keep(doc) is True and doc["text"] == "Just text 😀 and 中文"


@pytest.mark.slow
def test_html_pipeline_through_garden_run(tmp_path):
    rows = list(_pages().values()) + [{"id": "blank", "text": "<html><body><nav><a href=x>x</a></nav></body></html>"},
                                       {"id": "synthetic", "text": BOILERPLATE_PAGE}]
    inp = write_jsonl(tmp_path / "pages.jsonl", rows)
    recipe = write_recipe(tmp_path, [{"html_to_text": {"min_chars": 20}}, {"language": {}}],
                          [{"path": inp, "source": "web"}], workers=2)
    run_garden("run", recipe, "-q")
    kept = {r["id"]: r for r in read_data(tmp_path / "out")}
    assert set(kept) == {r["id"] for r in rows} - {"blank"}
    assert kept["debian-handbook/zh-CN/sect.regular-upgrades.html"]["lang"] == "zh"
    assert kept["debian-handbook/en-US/debian-packaging.html"]["lang"] == "en"
    assert kept["debian-handbook/zh-CN/sect.tails.html"]["lang"] == "en"  # this "translation" is English
    # half translated (Chinese intro and headings, English sections, commands): the score says so
    assert kept["debian-handbook/zh-CN/debian-packaging.html"]["lang_score"] < 0.8
    assert all("<div" not in r["text"] and "<script" not in r["text"] for r in kept.values())
    stats = read_stats(tmp_path / "out")
    op = next(o for o in stats["ops"] if o["name"] == "html_to_text")
    assert op["dropped"] == {"html_to_text:no_text": 1}
    assert op["chars_out"] < op["chars_in"] / 2  # markup and boilerplate are most of a page
