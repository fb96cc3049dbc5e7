"""Accounting: task results add up to the run's Stats, the invariant catches a lost document,
and stats.json keeps its published layout through a write/read round trip."""
from __future__ import annotations

import json

import pytest

from garden.executor.empty import Stop
from garden.executor.stats import (AccountingError, FinalizeResult, GlobalStep, Ledger, OpStats, Phase,
                                   SourceCounts, Stats, StreamResult)
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
