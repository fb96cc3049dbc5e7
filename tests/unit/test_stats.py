"""Accounting: task results add up to the run's Stats, the invariant catches a lost document,
and stats.json keeps its published layout through a write/read round trip."""
from __future__ import annotations

import json

import pytest

from garden.executor.empty import Stop
from garden.executor.stats import (AccountingError, FinalizeResult, GlobalStep, Ledger, OpStats, Phase,
                                   SourceCounts, SourceStepCounts, Stats, StreamResult)
from garden.recipe import recipe_from_dict

STATS_KEYS = ["recipe", "input_docs", "kept_docs", "rejected_docs", "quarantined_docs", "blank_lines", "input_shards",
              "input_bytes", "ops", "sources", "duplicate_ids", "artifacts", "workers", "executor", "seconds",
              "accounting_ok"]


@pytest.fixture
def recipe(tmp_path):
    pipeline = [{"length_filter": {"min_chars": 5}}, {"exact_dedup": {}}, {"normalize": {}}]
    return recipe_from_dict({"name": "acc", "inputs": [{"path": str(tmp_path / "in.jsonl"), "source": "a"}],
                             "output": str(tmp_path / "out"), "pipeline": pipeline}, check_inputs=False)


def _shard(shard, n_in, kept, dropped, quarantined=0, source="a"):
    """A first-stage shard result: length_filter drops `dropped`, the reader quarantines `quarantined`."""
    read = n_in - quarantined
    return StreamResult(shard=shard, n_in=n_in, read_quarantined=quarantined, op_quarantined=0, blank_lines=1,
                        n_out=kept, ops={"0:length_filter": OpStats(read, kept, {"length_filter:min_chars": dropped}
                                                                     if dropped else {}, 0, 0.5, 10 * read, 10 * kept)},
                        sources={source: SourceCounts(n_in, kept, dropped, quarantined)}, seconds=1.0)


def _final(shard, n_in, kept, dups, source="a"):
    """A shard of the stage after exact_dedup: its apply drops `dups`, normalize keeps the rest."""
    return StreamResult(shard=shard, n_in=n_in, read_quarantined=0, op_quarantined=0, blank_lines=0, n_out=kept,
                        ops={"1:exact_dedup": OpStats(n_in, n_in - dups, {"exact_dedup:duplicate": dups} if dups else {},
                                                      0, 0.25),
                             "2:normalize": OpStats(n_in - dups, kept, {}, 0, 0.25)},
                        sources={source: SourceCounts(n_in, kept, dups, 0)}, seconds=1.0)


def _ledger(final_out=None) -> Ledger:
    ledger = Ledger()
    ledger.add_stream(0, [_shard(1, 10, 6, 3, quarantined=1, source="b"), _shard(0, 20, 18, 2)])
    ledger.global_steps["1:exact_dedup"] = GlobalStep({"scan": Phase(0.5, 24), "finalize": Phase(0.25)},
                                                      {"duplicates": 4})
    ledger.add_stream(2, [_final(0, 18, 15 if final_out is None else final_out, 3), _final(1, 6, 5, 1, "b")])
    return ledger


def test_counts_add_up_per_step_per_source_and_in_total(recipe):
    stats = _ledger().stats(recipe, input_shards=2, input_bytes=300, workers=2, executor="local", seconds=3.14159)
    assert (stats.input_docs, stats.kept_docs, stats.rejected_docs, stats.quarantined_docs) == (30, 20, 9, 1)
    assert stats.accounting_ok and stats.blank_lines == 2 and stats.seconds == 3.142
    length, dedup, normalize = stats.ops
    assert (length.n_in, length.n_out, length.dropped, length.seconds) == (29, 24, {"length_filter:min_chars": 5}, 1.0)
    assert (dedup.n_in, dedup.n_out, dedup.dropped_total) == (24, 20, 4)
    assert dedup.result == {"duplicates": 4} and dedup.seconds == 0.5 + 0.75  # stream seconds + its phases
    assert normalize.n_out == 20 and not any(s.not_run for s in stats.ops)
    assert {k: v.to_dict() for k, v in stats.sources.items()} == {
        "a": {"input": 20, "kept": 15, "rejected": 5, "quarantined": 0},
        "b": {"input": 10, "kept": 5, "rejected": 4, "quarantined": 1}}
    stats.check()


def test_the_invariant_catches_a_lost_document(recipe, tmp_path):
    stats = _ledger(final_out=14).stats(recipe, 2, 300, 2, "local", 1.0)  # one document neither kept nor dropped
    assert not stats.accounting_ok
    with pytest.raises(AccountingError, match=r"input 30 != kept 19 \+ rejected 9 \+ quarantined 1"):
        stats.check()
    stats.write(str(tmp_path / "stats.json"))
    assert json.loads((tmp_path / "stats.json").read_text())["accounting_ok"] is False


def test_a_step_the_run_stopped_before_is_marked_not_run(recipe):
    ledger = Ledger()
    ledger.add_stream(0, [_shard(0, 4, 0, 4)])
    ledger.stopped = Stop(0, "length_filter", 3, {"length_filter:min_chars": 4}, 1, "exact_dedup", "no documents")
    stats = ledger.stats(recipe, 1, 10, 1, "local", 0.1)
    assert [s.not_run for s in stats.ops] == [False, True, True]
    assert stats.accounting_ok and stats.to_dict()["stopped"]["before_name"] == "exact_dedup"


def test_stats_json_round_trip_is_byte_identical_and_keeps_the_published_order(recipe, tmp_path):
    ledger = _ledger()
    ledger.artifacts = {"tokenizer": "/run/tokenizer/tokenizer.json"}
    stats = ledger.stats(recipe, 2, 300, 2, "ray", 2.0)
    path = str(tmp_path / "stats.json")
    stats.write(path)
    raw = (tmp_path / "stats.json").read_bytes()
    data = json.loads(raw)
    assert list(data) == STATS_KEYS
    assert list(data["ops"][1]) == ["name", "kind", "in", "out", "dropped", "errors", "seconds", "chars_in",
                                    "chars_out", "duplicates", "timing"]
    assert data["ops"][1]["timing"] == {"scan": {"seconds": 0.5, "rows": 24}, "finalize": {"seconds": 0.25}}
    again = Stats.load(path)
    assert again == stats
    again.write(str(tmp_path / "again.json"))
    assert (tmp_path / "again.json").read_bytes() == raw


def test_stats_json_of_an_older_run_loads_with_defaults():
    old = {"recipe": "old", "input_docs": 3, "kept_docs": 2, "rejected_docs": 1, "quarantined_docs": 0,
           "ops": [{"name": "length_filter", "kind": "filter", "in": 3, "out": 2,
                    "dropped": {"length_filter:min_chars": 1}, "errors": 0, "seconds": 0.1}],
           "sources": {"a": {"input": 3, "kept": 2, "rejected": 1, "quarantined": 0}}, "accounting_ok": True}
    stats = Stats.from_dict(old)
    assert stats.accounting_ok and stats.workers == 1 and stats.duplicate_ids.count == 0
    assert stats.ops[0].chars_in is None  # no character counts then: the report says so
    assert "chars_in" not in stats.to_dict()["ops"][0]


def test_task_results_round_trip_through_their_markers():
    result = _shard(3, 10, 6, 3, quarantined=1)
    assert StreamResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    marker = {"documents": 9, "artifacts": {"tokens": "t.json"}, "clusters": 2, "seconds": 0.5}
    final = FinalizeResult.from_dict(marker)
    assert list(final.figures) == ["documents", "clusters"] and final.artifacts == {"tokens": "t.json"}
    older = {"shard": 0, "in": 1, "read_quarantined": 0, "op_quarantined": 0, "blank_lines": 0, "out": 1,
             "ops": {"0:x": {"in": 1, "out": 1, "dropped": {}, "errors": 0, "seconds": 0.1}},
             "sources": {"a": {"in": 1, "kept": 1}}, "seconds": 0.1}
    assert StreamResult.from_dict(older).ops["0:x"].chars_in == 0  # markers before character counts


# -- per source, counters, global steps without apply ------------------------------------------

def _scoped_recipe(tmp_path):
    """html_to_text sees only source `web`; train_tokenizer is a global step without apply."""
    pipeline = [{"html_to_text": {"min_chars": 5}, "sources": ["web"]}, {"length_filter": {"min_chars": 5}},
                {"train_tokenizer": {"vocab_size": 300}}]
    return recipe_from_dict({"name": "scoped", "output": str(tmp_path / "out"), "pipeline": pipeline,
                             "inputs": [{"path": str(tmp_path / "w.jsonl"), "source": "web"},
                                        {"path": str(tmp_path / "b.jsonl"), "source": "books"}]}, check_inputs=False)


def _op_run(key, op, sources=None):
    from garden.executor.fused import OpRun

    return OpRun(key, key.split(":", 1)[1], op, sources=sources)


def test_a_scoped_step_counts_only_its_sources_and_per_source_counts_add_up():
    from garden.registry import get

    html = _op_run("0:html_to_text", get("html_to_text")(min_chars=5), sources=["web"])
    length = _op_run("1:length_filter", get("length_filter")(min_chars=5))
    docs = [{"id": "w1", "source": "web", "text": "<p>hello world</p>"},
            {"id": "w2", "source": "web", "text": "<p>hi</p>"},
            {"id": "b1", "source": "books", "text": "a long enough text"},
            {"id": "b2", "source": "books", "text": "tiny"}]
    rejected, quarantined = [], []
    out = length.run(html.run(docs, lambda label, d, r: rejected.append(r), lambda d, e: quarantined.append(e)),
                     lambda label, d, r: rejected.append(r), lambda d, e: quarantined.append(e))
    assert [d["id"] for d in out] == ["w1", "b1"]
    h, n = html.stats(), length.stats()
    assert (h.n_in, h.n_out, list(h.sources)) == (2, 1, ["web"])  # books passed through, not counted
    assert h.sources["web"].to_dict() == {"in": 2, "out": 1, "dropped": {"html_to_text:no_text": 1}, "errors": 0,
                                          "chars_in": len("<p>hello world</p>") + len("<p>hi</p>"),
                                          "chars_out": len("hello world")}
    assert {s: (c.n_in, c.n_out, c.dropped) for s, c in n.sources.items()} == {
        "books": (2, 1, {"length_filter:min_chars": 1}), "web": (1, 1, {})}
    for st in (h, n):
        assert sum(c.n_in for c in st.sources.values()) == st.n_in
        assert sum(c.chars_out for c in st.sources.values()) == st.chars_out
        for reason, count in st.dropped.items():
            assert sum(c.dropped.get(reason, 0) for c in st.sources.values()) == count
    assert OpStats.from_dict(json.loads(json.dumps(n.to_dict()))) == n  # a marker keeps them


def test_operator_counters_are_summed_over_batches():
    from garden.registry import get

    pii = _op_run("0:pii", get("pii")())
    for batch in (["mail a@example.com or b@example.org", "nothing here"], ["call +1 415 555 0100, c@example.net"]):
        pii.run([{"id": str(i), "source": "s", "text": t} for i, t in enumerate(batch)], lambda *a: None,
                lambda *a: None)
    assert pii.stats().counts == {"email": 3, "phone": 1}
    assert _op_run("0:length_filter", get("length_filter")()).stats().counts == {}  # no hook: no counts


def test_zh_convert_counts_the_documents_it_converted():
    pytest.importorskip("opencc")
    from garden.registry import get

    conv = _op_run("0:zh_convert", get("zh_convert")(to="hans"))
    texts = ["這是繁體中文的句子", "这是简体中文的句子", "An English sentence."]
    out = conv.run([{"id": str(i), "source": "s", "text": t} for i, t in enumerate(texts)], lambda *a: None,
                   lambda *a: None)
    assert [d["zh_converted"] for d in out] == [True, False, None]
    assert conv.stats().counts == {"converted": 1}


def _scoped_shard(shard, web_in, web_kept, books_in, books_kept):
    html = OpStats(web_in, web_in - 1, {"html_to_text:no_text": 1}, 0, 0.1, 100 * web_in, 10 * web_in,
                   sources={"web": SourceStepCounts(web_in, web_in - 1, {"html_to_text:no_text": 1}, 0,
                                                    100 * web_in, 10 * web_in)})
    length = OpStats(web_in - 1 + books_in, web_kept + books_kept, {"length_filter:min_chars": 1}, 0, 0.1,
                     sources={"web": SourceStepCounts(web_in - 1, web_kept, {}, 0, 10 * web_in, 10 * web_in),
                              "books": SourceStepCounts(books_in, books_kept, {"length_filter:min_chars": 1})},
                     counts={"x": 2})
    return StreamResult(shard=shard, n_in=web_in + books_in, read_quarantined=0, op_quarantined=0, blank_lines=0,
                        n_out=web_kept + books_kept, ops={"0:html_to_text": html, "1:length_filter": length},
                        sources={"web": SourceCounts(web_in, web_kept, web_in - web_kept, 0, 100 * web_in,
                                                     10 * web_in),
                                 "books": SourceCounts(books_in, books_kept, 1, 0, 7 * books_in, 7 * books_kept)},
                        seconds=0.5)


def test_the_run_sums_per_source_counts_and_a_global_step_without_apply_sees_what_reaches_it(tmp_path):
    recipe = _scoped_recipe(tmp_path)
    ledger = Ledger()
    ledger.add_stream(0, [_scoped_shard(0, 3, 2, 5, 4), _scoped_shard(1, 2, 1, 4, 3)])
    ledger.global_steps["2:train_tokenizer"] = GlobalStep({"finalize": Phase(0.1)}, {"vocab_size": 300}, stage=1)
    stats = ledger.stats(recipe, 2, 100, 1, "local", 1.0)
    html, length, tok = stats.ops
    assert html.applies_to == ["web"] and length.applies_to is None
    assert html.applies("web") and not html.applies("books") and length.applies("books")
    assert {s: c.n_in for s, c in html.by_source.items()} == {"web": 5}
    assert length.by_source["books"].dropped == {"length_filter:min_chars": 2} and length.counts == {"x": 4}
    assert (tok.n_in, tok.n_out) == (stats.kept_docs, stats.kept_docs) == (10, 10)  # not 0 / 0
    assert {s: (c.n_in, c.n_out) for s, c in tok.by_source.items()} == {"books": (7, 7), "web": (3, 3)}
    assert tok.chars_in == tok.chars_out == sum(c.chars_out for c in stats.sources.values())
    assert stats.sources["books"].to_dict() == {"input": 9, "kept": 7, "rejected": 2, "quarantined": 0,
                                                "chars_in": 63, "chars_out": 49}
    stats.check()


def test_new_fields_are_added_keys_and_round_trip(tmp_path):
    recipe = _scoped_recipe(tmp_path)
    ledger = Ledger()
    ledger.add_stream(0, [_scoped_shard(0, 3, 2, 5, 4)])
    ledger.global_steps["2:train_tokenizer"] = GlobalStep({"finalize": Phase(0.1)}, {"vocab_size": 300}, stage=1)
    stats = ledger.stats(recipe, 1, 100, 1, "local", 1.0)
    path = str(tmp_path / "stats.json")
    stats.write(path)
    data = json.loads((tmp_path / "stats.json").read_text())
    assert list(data) == STATS_KEYS  # no new top-level key
    assert list(data["ops"][0]) == ["name", "kind", "in", "out", "dropped", "errors", "seconds", "chars_in",
                                    "chars_out", "applies_to", "by_source"]
    assert list(data["ops"][1])[-2:] == ["counts", "by_source"]
    assert list(data["ops"][2])[:9] == ["name", "kind", "in", "out", "dropped", "errors", "seconds", "chars_in",
                                        "chars_out"]
    assert data["ops"][2]["vocab_size"] == 300 and "by_source" in data["ops"][2]
    again = Stats.load(path)
    assert again == stats and again.ops[2].result == {"vocab_size": 300}  # new keys are not taken for figures


def test_source_step_counts_add_and_markers_of_older_runs():
    a = SourceStepCounts(3, 2, {"r": 1}, 0, 30, 20)
    a.add(SourceStepCounts(1, 0, {"r": 1, "q": 0}, 1, 10, 0))
    assert a.to_dict() == {"in": 4, "out": 2, "dropped": {"q": 0, "r": 2}, "errors": 1, "chars_in": 40, "chars_out": 20}
    assert SourceStepCounts.from_dict(a.to_dict()) == a
    counts = SourceCounts(2, 1, 1, 0, 50, 20)
    assert counts.to_dict() == {"in": 2, "kept": 1, "rejected": 1, "chars_in": 50, "chars_out": 20}
    assert SourceCounts.from_dict({"in": 1, "kept": 1}).chars_in is None  # a marker before character counts
