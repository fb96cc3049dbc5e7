"""A report that tells the truth: a step scoped to one source, drop reasons per source, operator
counters (PII per kind), the tokenizer's compression and the blend's epochs, global steps' real
in/out, and the end-of-run warning for a source that lost most of its documents — on a real run
through the CLI, with the summary at 80 columns."""
from __future__ import annotations

import html
import json
import os
import re

import pytest
from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe

from garden.executor.stats import Stats
from garden.run_report import funnel_steps

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "analysis")
EN = os.path.join(FIX, "en_fortunes_150.jsonl")
ZH = os.path.join(FIX, "zh_fortunes_100.jsonl")
ENV80 = {**os.environ, "COLUMNS": "80", "LINES": "50"}


def _docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _corpus(tmp) -> list[dict]:
    """web: HTML pages, some with almost no text; contacts: mostly too short, some with PII."""
    en = _docs(EN)
    long_en = [d["text"] for d in en if len(d["text"]) > 300][:8]
    pages = [{"id": f"page{i}", "text": f"<html><head><title>t</title></head><body><h1>Page {i}</h1><p>{t}</p></body></html>"}
             for i, t in enumerate(long_en)]
    pages += [{"id": f"stub{i}", "text": "<html><body><p>Menu</p></body></html>"} for i in range(3)]
    contacts = [{"id": f"c{i}", "text": f"call {i}"} for i in range(7)]
    contacts += [{"id": "c-mail", "text": "Write to ada@example.com or grace@example.org; our office at "
                                          "192.0.2.17 answers within a day, and so does bob@example.net."},
                 {"id": "c-phone", "text": "Questions about the order? Call +1 415 555 0100 during the week or "
                                           "mail help@example.com any time, we answer every message."},
                 {"id": "c-none", "text": "Nothing private in this one, only a sentence long enough to be kept."}]
    dup = dict(en[0], id="en-dup")  # exact_dedup drops it: the global step's apply has a drop
    return [{"path": write_jsonl(tmp / "web.jsonl", pages), "source": "web"},
            {"path": write_jsonl(tmp / "en.jsonl", en + [dup]), "source": "en"},
            {"path": ZH, "source": "zh"},
            {"path": write_jsonl(tmp / "contacts.jsonl", contacts), "source": "contacts"}]


PIPELINE = [
    {"html_to_text": {"min_chars": 200}, "sources": ["web"]},
    {"normalize": {}},
    {"length_filter": {"min_chars": 40}},
    {"pii": {"mode": "replace"}},
    {"exact_dedup": {}},
    {"train_tokenizer": {"vocab_size": 400, "check_docs": 20}},
    {"tokenize": {}},
    {"mix": {"weights": {"web": 0.2, "en": 0.4, "zh": 0.3, "contacts": 0.1}, "split": "100,0,0"}},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("truth")
    recipe = write_recipe(tmp, PIPELINE, _corpus(tmp), workers=2)
    proc = run_garden("run", recipe, env=ENV80)
    out = tmp / "out"
    with open(out / "report.html", encoding="utf-8") as fh:
        page = fh.read()
    return {"recipe": recipe, "out": out, "stderr": proc.stderr, "stats": read_stats(out), "page": page}


def _section(page: str, anchor: str) -> str:
    start = page.index(f"<section id='{anchor}'>")
    return page[start:page.index("</section>", start)]


def _step(stats: dict, name: str) -> dict:
    return next(o for o in stats["ops"] if o["name"] == name)


def test_a_step_scoped_to_one_source_leaves_the_others_in_the_funnel(run):
    stats = run["stats"]
    html_step = _step(stats, "html_to_text")
    assert html_step["applies_to"] == ["web"] and list(html_step["by_source"]) == ["web"]
    assert (html_step["in"], html_step["out"]) == (11, 8)  # only web's documents
    steps = funnel_steps(stats)
    first, after_html = steps[0], steps[1]
    assert after_html["step"] == "html_to_text"
    assert after_html["docs"] == first["docs"] - 3  # the whole corpus minus the 3 stub pages
    assert all(s["docs"] <= first["docs"] and s["chars"] <= first["chars"] for s in steps)  # no share above 100 %
    for name in ("en", "zh", "contacts"):  # not touched by html_to_text
        src = after_html["sources"][name]
        assert not src["applies"] and (src["docs"], src["chars"]) == (first["sources"][name]["docs"],
                                                                      first["sources"][name]["chars"])
    assert after_html["sources"]["web"]["docs"] == 8
    assert after_html["sources"]["web"]["chars"] < first["sources"]["web"]["chars"]  # the markup is gone
    assert steps[-1]["docs"] == stats["kept_docs"]
    assert steps[-1]["chars"] == sum(len(r["text"]) for r in read_data(run["out"]))
    for s in steps:
        assert s["docs"] == sum(v["docs"] for v in s["sources"].values())
    funnel = html.unescape(_section(run["page"], "funnel"))
    shares = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)%", funnel)]
    assert shares and max(shares) <= 100.0
    row = re.search(r"<tr><td>html_to_text</td>(.*?)</tr>", funnel.split("<h3>Per source</h3>")[1]).group(1)
    assert row.count("—") == 3 and "8 (72.7%)" in row  # en, zh, contacts: not applied; web: 8 of 11


def test_drop_reasons_per_source_add_up_to_each_step(run):
    stats = run["stats"]
    for op in stats["ops"]:
        by_source = op.get("by_source", {})
        if op["in"]:
            assert by_source, op["name"]
        assert sum(c["in"] for c in by_source.values()) == op["in"]
        assert sum(c["out"] for c in by_source.values()) == op["out"]
        for reason, n in op["dropped"].items():
            assert sum(c["dropped"].get(reason, 0) for c in by_source.values()) == n
    for name, totals in stats["sources"].items():
        dropped = sum(sum(op.get("by_source", {}).get(name, {}).get("dropped", {}).values()) for op in stats["ops"])
        assert dropped == totals["rejected"]
    length = _step(stats, "length_filter")["by_source"]
    assert length["contacts"]["dropped"] == {"length_filter:min_chars": 7}
    assert _step(stats, "exact_dedup")["by_source"]["en"]["dropped"] == {"exact_dedup:duplicate": 1}
    drops = _section(run["page"], "drops")
    # columns in source order (contacts, en, web, zh), then all
    assert "<td>length_filter:min_chars</td><td class='n' data-v='7'>7</td>" in drops
    assert re.search(r"<td>html_to_text:no_text</td><td class='n'>—</td><td class='n'>—</td>"
                     r"<td class='n' data-v='3'>3</td><td class='n'>—</td><td class='n' data-v='3'>3</td>", drops)


def test_pii_counts_per_kind_sum_to_the_documents_counts(run):
    stats = run["stats"]
    counts = _step(stats, "pii")["counts"]
    kept = read_data(run["out"])
    per_kind: dict[str, int] = {}
    for row in kept:
        for kind, n in json.loads(row["pii"]).items():
            per_kind[kind] = per_kind.get(kind, 0) + n
    assert counts == per_kind and sum(counts.values()) == sum(r["pii_count"] for r in kept)
    mail = next(r for r in kept if r["id"] == "c-mail")
    assert json.loads(mail["pii"]) == {"email": 3, "ipv4": 1} and "<EMAIL>" in mail["text"]
    assert counts["email"] >= 4 and counts["phone"] >= 1
    section = _section(run["page"], "counts")
    assert f"<td>email</td><td class='n' data-v='{counts['email']}'>{counts['email']}</td>" in section


def test_tokenizer_compression_and_blend_epochs_are_in_the_report(run):
    stats = run["stats"]
    tok = _section(run["page"], "tokenizer")
    for row in _step(stats, "train_tokenizer")["compression"]:
        assert f"<td>{row['source']}</td><td>{row['lang']}</td><td class='n' data-v='{row['documents']}'>" in tok
    assert "bytes/token" in tok
    blend = _section(run["page"], "blend")
    epochs = _step(stats, "mix")["epochs"]
    assert set(epochs) == {"web", "en", "zh", "contacts"} and "epochs in all" in blend
    for source, value in epochs.items():
        assert re.search(rf"<tr><td>{source}</td>.*data-v='{value}'>[^<]*</td></tr>", blend)


def test_global_steps_show_what_reaches_them(run):
    stats = run["stats"]
    names = [o["name"] for o in stats["ops"]]
    pii, dedup = _step(stats, "pii"), _step(stats, "exact_dedup")
    assert dedup["in"] == pii["out"] and dedup["out"] == pii["out"] - 1
    for name in ("train_tokenizer", "tokenize", "mix"):
        op = _step(stats, name)
        assert op["in"] == op["out"] == stats["kept_docs"] > 0, name
        assert op["chars_in"] == op["chars_out"] == sum(len(r["text"]) for r in read_data(run["out"]))
        row = next(line for line in run["stderr"].splitlines() if line.strip().startswith(name))
        assert f"{stats['kept_docs']:,}" in row
    assert names.index("mix") == len(names) - 1


def test_summary_at_80_columns_warns_about_a_lost_source_and_cuts_no_reason(run):
    err = run["stderr"]
    assert max(len(line) for line in err.splitlines() if "│" in line or "─" in line) <= 80
    assert "…" not in err
    n_short = _step(run["stats"], "length_filter")["dropped"]["length_filter:min_chars"]
    row = next(line for line in err.splitlines() if line.strip().startswith("length_filter"))
    assert f"min_chars={n_short:,}" in row  # whole, on the step's own line
    warning = re.search(r"warning: source contacts lost 7 of 10 documents \(70\.0%, more than 50%\): top\s+"
                        r"reasons\s+length_filter:min_chars=7", err)
    assert warning, err
    assert "source en lost" not in err and "source web lost" not in err
    counts = _step(run["stats"], "pii")["counts"]
    assert f"pii: email={counts['email']}" in err  # the operators' counters, after the table


def test_the_warning_threshold_is_an_option(run):
    again = run_garden("run", run["recipe"], "--warn-source-loss", "0.2", env=ENV80)
    assert "already complete" in again.stderr or "resumed" in again.stderr
    assert "warning: source contacts lost" in again.stderr and re.search(r"warning: source web lost 3 of 11", again.stderr)
    quiet = run_garden("run", run["recipe"], "--warn-source-loss", "1", env=ENV80)
    assert "warning: source" not in quiet.stderr
    bad = run_garden("run", run["recipe"], "--warn-source-loss", "1.5", check=False)
    assert bad.returncode == 2 and "--warn-source-loss" in bad.stderr and "Traceback" not in bad.stderr


def test_the_report_reads_back_through_stats(run):
    stats = Stats.load(os.path.join(run["out"], "stats.json"))
    assert stats.step("html_to_text").applies_to == ["web"]
    assert stats.step("pii").counts == run["stats"]["ops"][3]["counts"]
    assert stats.step("mix").result["epochs"] == run["stats"]["ops"][-1]["epochs"]
