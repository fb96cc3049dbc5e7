"""The per-run report.html: funnel, drop reasons with examples, dedup clusters, sources, quarantine."""
from __future__ import annotations

import html
import json
import os
import re

import pytest

from garden.analysis.run_files import iter_rows, part_files
from garden.run_report import funnel_steps, language_counts, sample_rejected, write_run_report
from report_helpers import EN, ZH, long_docs, make_run, read_docs

@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[str, dict, str]:
    """A real (small) pipeline run and its report: the tests that use it are marked slow."""
    out, stats = make_run(str(tmp_path_factory.mktemp("run")))
    path = write_run_report(out)
    with open(path, encoding="utf-8") as fh:
        return out, stats, fh.read()


@pytest.mark.slow
def test_sections_present(run):
    _, _, page = run
    for anchor in ("summary", "funnel", "drops", "rejected", "dedup", "sources", "timings", "quarantine"):
        assert f"<section id='{anchor}'>" in page
    assert "<section id='languages'>" in page


@pytest.mark.slow
def test_funnel_counts_docs_and_characters(run):
    out, stats, _ = run
    steps = funnel_steps(stats)
    assert steps[0]["docs"] == stats["input_docs"] == 263
    assert steps[-1]["docs"] == stats["kept_docs"]
    kept_chars = sum(len(r["text"]) for f in part_files(os.path.join(out, "data")) for r in iter_rows(f, ["text"]))
    assert steps[-1]["chars"] == kept_chars
    raw_chars = sum(len(d["text"]) for d in read_docs(EN) + read_docs(ZH)) + sum(
        len(d["text"]) + len(" Indeed.") for d in long_docs())
    assert steps[0]["chars"] == raw_chars
    assert [s["docs"] for s in steps] == sorted((s["docs"] for s in steps), reverse=True)


@pytest.mark.slow
def test_drop_reasons_and_examples(run):
    out, stats, page = run
    samples = sample_rejected(out)
    short = samples["length_filter-2"]["length_filter:min_chars"]
    assert len(short) == 3 and all(len(r["text"]) < 60 for r in short)
    assert html.escape(short[0]["text"], quote=True) in page
    n_short = next(o for o in stats["ops"] if o["name"] == "length_filter")["dropped"]["length_filter:min_chars"]
    assert re.search(rf"length_filter:min_chars</td><td class='n' data-v='{n_short}'>", page)


@pytest.mark.slow
def test_dedup_clusters_side_by_side(run):
    out, stats, page = run
    dedup = next(o for o in stats["ops"] if o["name"] == "minhash_dedup")
    assert dedup["duplicates"] >= 12
    assert "LSH S-curve" in page and f"b={dedup['bands']} r={dedup['rows']}" in page
    section = page[page.index("<section id='dedup'>"):page.index("<section id='sources'>")]
    assert section.count("<h3>Cluster of") == 4 and "(text not found)" not in section
    assert "Indeed." in section and "keeper" in section


@pytest.mark.slow
def test_sources_and_quarantine(run):
    _, stats, page = run
    sources = page[page.index("<section id='sources'>"):page.index("<section id='timings'>")]
    for name, c in stats["sources"].items():
        assert f"<td>{name}</td><td class='n' data-v='{c['input']}'>" in sources
    quarantine = page[page.index("<section id='quarantine'>"):]
    assert "invalid JSON" in quarantine and "this line is not JSON" in quarantine


def test_report_on_a_run_without_optional_files(tmp_path):
    """Only stats.json (e.g. an older run): the report still builds and says what is missing."""
    stats = {"recipe": "old", "input_docs": 3, "kept_docs": 2, "rejected_docs": 1, "quarantined_docs": 0,
             "ops": [{"name": "length_filter", "kind": "filter", "in": 3, "out": 2, "dropped": {"length_filter:min_chars": 1},
                      "errors": 0, "seconds": 0.1}],
             "sources": {"a": {"input": 3, "kept": 2, "rejected": 1, "quarantined": 0}}, "accounting_ok": True}
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    page = open(write_run_report(str(tmp_path)), encoding="utf-8").read()
    assert "No per-operator character counts" in page and "<section id='dedup'>" not in page
    assert "<section id='languages'>" not in page  # no language column: no languages section
    assert "No rejected/ directory." in page


@pytest.mark.slow
def test_no_network_references(run):
    page = run[2]
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page


@pytest.mark.slow
def test_languages_before_and_after(run):
    out, stats, page = run
    counts = language_counts(out)
    assert sum(counts["after"].values()) == stats["kept_docs"]
    assert sum(counts["rejected"].values()) == stats["rejected_docs"]
    assert counts["after"]["en"] > 50 and counts["after"]["zh"] > 20
    section = page[page.index("<section id='languages'>"):page.index("<section id='timings'>")]
    zh = counts["after"]["zh"] + counts["rejected"]["zh"]
    assert f"<td>zh</td><td class='n' data-v='{zh}'>" in section
