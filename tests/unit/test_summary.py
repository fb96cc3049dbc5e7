"""The end-of-run summary and the report's headline numbers, rendered from a Stats object."""
from __future__ import annotations

import io

from rich.console import Console

from garden.executor.empty import Stop
from garden.executor.stats import OpStats, Phase, SourceTotals, Stats, StepStats
from garden.run_report import _summary, funnel_steps
from garden.summary import print_summary


def _stats(**kw) -> Stats:
    ops = [StepStats("length_filter", "filter", 100, 90, {"length_filter:min_chars": 7, "length_filter:max_chars": 3},
                     seconds=1.25, chars_in=5000, chars_out=4000),
           StepStats("minhash_dedup", "global", 90, 85, {"minhash_dedup:near_duplicate": 5}, seconds=2.5,
                     chars_in=4000, chars_out=3800, timing={"scan": Phase(1.0, 900)}, result={"duplicates": 5}),
           StepStats("train_tokenizer", "global", timing={"finalize": Phase(0.5)}),
           StepStats("tokenize", "global", not_run=kw.pop("tokenize_not_run", False))]
    base = dict(recipe="web", input_docs=100, kept_docs=85, rejected_docs=15, quarantined_docs=0, ops=ops,
                sources={"web": SourceTotals(60, 50, 10, 0), "books": SourceTotals(40, 35, 5, 0)},
                workers=4, seconds=12.34)
    base.update(kw)
    return Stats(**base)


def _render(stats: Stats) -> str:
    out = io.StringIO()
    print_summary(stats, "out/web", Console(file=out, width=160, color_system=None))
    return out.getvalue()


def test_summary_shows_each_step_its_top_reasons_and_the_accounting():
    text = _render(_stats())
    assert "web: 12.3s, 4 workers" in text
    line = next(row for row in text.splitlines() if "length_filter" in row)
    assert "100" in line and "90" in line and "min_chars=7, max_chars=3" in line and "1.25" in line
    assert "input 100 = kept 85 + rejected 15 + quarantined 0  ✓ accounted" in text
    books = next(row for row in text.splitlines() if "books" in row)
    assert books.split("│")[1:6] == [" books  ", "    40 ", "   35 ", "        5 ", "           0 "]
    assert "output: out/web/" in text


def test_summary_flags_a_mismatch_and_a_step_that_did_not_run():
    text = _render(_stats(kept_docs=84, tokenize_not_run=True))
    assert "✗ MISMATCH" in text
    assert "not run" in next(row for row in text.splitlines() if "tokenize " in row)


def test_report_funnel_and_headline_read_the_same_stats():
    stats = _stats(stopped=Stop(0, "length_filter", 3, {}, 1, "tokenize", "recipe.yaml:3: nothing left"))
    steps = funnel_steps(stats)
    assert [(s["step"], s["docs"], s["chars"]) for s in steps] == [
        ("input", 100, 5000), ("length_filter", 90, 4000), ("minhash_dedup", 85, 3800)]  # no apply: left out
    assert funnel_steps(stats.to_dict()) == steps  # stats.json's content reads the same
    html = _summary(stats, 1234)
    assert "<div class='v'>85</div><div class='k'>kept</div>" in html and "✓ input = kept + rejected + quarantined" in html
    assert "the run stopped: recipe.yaml:3: nothing left" in html


def test_op_stats_of_a_shard_serialise_like_a_marker():
    st = OpStats(3, 2, {"b": 1}, 0, 0.1234, 30, 20)
    assert st.to_dict() == {"in": 3, "out": 2, "dropped": {"b": 1}, "errors": 0, "seconds": 0.1234,
                            "chars_in": 30, "chars_out": 20}


def test_reasons_are_not_cut_mid_word_at_80_columns():
    """Long reasons wrap between `reason=count` items, never inside one; nothing is cut with '…'."""
    ops = [StepStats("gopher_repetition", "filter", 6072, 5716,
                     {"gopher_repetition:dup_line_char_frac": 1290, "gopher_repetition:top_4_gram_char_frac": 1058,
                      "gopher_repetition:dup_10_gram_char_frac": 9}, seconds=10.57),
           StepStats("minhash_dedup", "global", 5716, 4432, {"minhash_dedup:near_duplicate": 1284}, seconds=9.2),
           StepStats("train_tokenizer", "global", 4432, 4432, seconds=5.19)]
    stats = Stats(recipe="demo", input_docs=6072, kept_docs=4432, rejected_docs=1640, quarantined_docs=0, ops=ops,
                  sources={"web": SourceTotals(6072, 4432, 1640, 0)}, workers=2, seconds=31.1)
    out = io.StringIO()
    print_summary(stats, "out/demo", Console(file=out, width=80, color_system=None))
    text = out.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    for item in ("dup_line_char_frac=1,290", "top_4_gram_char_frac=1,058", "dup_10_gram_char_frac=9",
                 "near_duplicate=1,284"):
        assert any(item in line for line in lines), item  # whole, on one line
    assert any("gopher_repetition" in line and "10.57" in line for line in lines)


def test_a_scoped_step_names_its_sources_and_a_lost_source_is_warned_about():
    from garden.executor.stats import SourceStepCounts

    ops = [StepStats("html_to_text", "filter", 24, 4, {"html_to_text:no_text": 20}, applies_to=["web"],
                     by_source={"web": SourceStepCounts(24, 4, {"html_to_text:no_text": 20})}),
           StepStats("length_filter", "filter", 104, 101, {"length_filter:min_chars": 3},
                     by_source={"web": SourceStepCounts(4, 3, {"length_filter:min_chars": 1}),
                                "books": SourceStepCounts(100, 98, {"length_filter:min_chars": 2})})]
    stats = Stats(recipe="r", input_docs=124, kept_docs=101, rejected_docs=23, quarantined_docs=0, ops=ops,
                  sources={"books": SourceTotals(100, 98, 2, 0), "web": SourceTotals(24, 3, 21, 0)})
    out = io.StringIO()
    print_summary(stats, "o", Console(file=out, width=80, color_system=None))
    text = " ".join(out.getvalue().split())
    assert "html_to_text filter 24 4 20 no_text=20" in text and "(only web)" in text
    assert ("warning: source web lost 21 of 24 documents (87.5%, more than 50%): top reasons "
            "html_to_text:no_text=20, length_filter:min_chars=1") in text
    assert "source books lost" not in text
    out = io.StringIO()
    print_summary(stats, "o", Console(file=out, width=80, color_system=None), warn_source_loss=0.9)
    assert "warning" not in out.getvalue()
    out = io.StringIO()
    print_summary(stats, "o", Console(file=out, width=80, color_system=None), warn_source_loss=0.01)
    assert "source books lost 2 of 100" in " ".join(out.getvalue().split())
    ops[1].counts = {"email": 3, "phone": 12}
    out = io.StringIO()
    print_summary(stats, "o", Console(file=out, width=80, color_system=None))
    assert "length_filter: phone=12, email=3" in out.getvalue()


def test_report_funnel_follows_each_source_through_a_scoped_step():
    from garden.executor.stats import SourceStepCounts

    ops = [StepStats("html_to_text", "filter", 24, 20, {"html_to_text:no_text": 4}, chars_in=10_000, chars_out=3_000,
                     applies_to=["web"], by_source={"web": SourceStepCounts(24, 20, {"html_to_text:no_text": 4}, 0,
                                                                             10_000, 3_000)}),
           StepStats("length_filter", "filter", 120, 110, {"length_filter:min_chars": 10}, chars_in=8_000,
                     chars_out=7_500, by_source={"web": SourceStepCounts(20, 18, {"length_filter:min_chars": 2}, 0,
                                                                         3_000, 2_900),
                                                 "books": SourceStepCounts(100, 92, {"length_filter:min_chars": 8}, 0,
                                                                           5_000, 4_600)})]
    stats = Stats(recipe="r", input_docs=124, kept_docs=110, rejected_docs=14, quarantined_docs=0, ops=ops,
                  sources={"books": SourceTotals(100, 92, 8, 0, 5_000, 4_600), "web": SourceTotals(24, 18, 6, 0,
                                                                                                10_000, 2_900)})
    steps = funnel_steps(stats)
    assert [(s["step"], s["docs"], s["chars"]) for s in steps] == [
        ("input", 124, 15_000), ("html_to_text", 120, 8_000), ("length_filter", 110, 7_500)]  # not 20 of 124
    assert steps[1]["sources"]["books"] == {"docs": 100, "chars": 5_000, "applies": False}
    assert funnel_steps(stats.to_dict()) == steps
    ops[1].by_source = {}  # resumed from markers without per-source counts: no per-source funnel, no guess
    assert all("sources" not in s for s in funnel_steps(stats))
