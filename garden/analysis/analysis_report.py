"""report.html of `garden analyze`: the analysis.json figures as tables, SVG charts and examples."""
from __future__ import annotations

from garden.analysis import svg
from garden.analysis.report_html import cards, doc_block, esc, num, page, pct, table, tag
from garden.analysis.stats import stat_info

SUMMARY_COLS = ("mean", "p10", "median", "p90", "min", "max")


def _overview(a: dict) -> str:
    tot, smp, near = a["totals"], a["sample"], a["near_duplicates"]
    items = [("documents", tot["docs"]), ("characters", tot["chars"]), ("sources", len(tot["sources"])),
             ("sampled documents", smp["docs"]), ("sample share", pct(smp["fraction"])),
             ("languages in sample", len(a["languages"]["counts"])), ("quarantined records", tot["quarantined"]),
             ("near-dup docs (est.)", pct(near["corpus_dup_rate_estimate"]))]
    if a.get("tokens"):
        items.append(("tokens (est.)", a["tokens"]["estimated_total_tokens"]))
    body = cards(items)
    body += (f"<p class='note'>Inputs: {esc(', '.join(a['inputs']))}. Sample: {esc(smp['method'])}, seed {smp['seed']}. "
             f"Workers: {a['workers']}. Time: {a['seconds'].get('total', 0):.1f}s.</p>")
    if a["notes"]:
        body += "<ul>" + "".join(f"<li class='note'>{esc(v)}</li>" for v in a["notes"].values()) + "</ul>"
    return body


def _sources(a: dict) -> str:
    srcs = a["totals"]["sources"]
    body = svg.hbars([(s, v["docs"]) for s, v in srcs.items()], "documents per source")
    by = a["by_source"]
    rows = []
    for s, v in srcs.items():
        st = by.get(s, {}).get("stats", {})
        rows.append([s, v["docs"], v["chars"], v["quarantined"], v["sample_docs"],
                     st.get("chars", {}).get("median"), st.get("words", {}).get("median"),
                     st.get("mean_word_len", {}).get("mean"), st.get("dup_line_ratio", {}).get("mean")])
    body += table(["source", "documents", "characters", "quarantined", "in sample", "median chars",
                   "median words", "mean word length", "mean dup-line ratio"], rows)
    body += "<h3>Median of every statistic per source (sample)</h3>" + _median_table(by, a["stat_names"], "source")
    return body


def _median_table(groups: dict, names: list[str], what: str) -> str:
    headers = [what, "docs"] + [stat_info(n)[0] for n in names]
    rows = [[g, v["docs"]] + [v["stats"].get(n, {}).get("median") for n in names] for g, v in groups.items()]
    return table(headers, rows)


def _languages(a: dict) -> str:
    langs = a["languages"]
    top = list(langs["shares"].items())[:25]
    body = svg.hbars(top, "share of sampled documents per language", value_fmt=lambda v: pct(v))
    body += (f"<p class='note'>Label source: {esc(', '.join(f'{k}: {v:,}' for k, v in langs['label_from'].items()))} "
             "(column = the data's lang column, meta = the input record's lang field, "
             "language operator = detected here).</p>")
    vs = langs.get("input_vs_detected")
    if vs:
        body += (f"<p>Language ID disagrees with the input's own label on {vs['disagree']:,} of {vs['docs']:,} sampled "
                 f"documents ({pct(vs['share'])}).</p>")
        body += table(["input label", "detected", "docs"], [[p["input"], p["detected"], p["docs"]] for p in vs["pairs"][:20]],
                      numeric=[False, False, True])
    by = a["by_language"]
    rows = [[lang, v["docs"], pct(v["share"]), v["stats"].get("chars", {}).get("median"),
             v["stats"].get("words", {}).get("median"), v["stats"].get("sentences", {}).get("median"),
             v["stats"].get("mean_word_len", {}).get("mean"),
             v["stats"].get("lang_score", {}).get("mean")] for lang, v in by.items()]
    body += table(["language", "docs", "share", "median chars", "median words", "median sentences", "mean word length",
                   "mean language score"], rows, numeric=[False, True, True, True, True, True, True, True])
    body += "<h3>Median of every statistic per language (sample)</h3>" + _median_table(by, a["stat_names"], "language")
    return body


def _distributions(a: dict, rows: list[dict]) -> str:
    charts = []
    for k, name in enumerate(a["stat_names"]):
        label, _, log = stat_info(name)
        vals = [r[name] for r in rows if r.get(name) is not None]
        charts.append(svg.histogram(vals, label, log=log, color=svg.PALETTE[k % 4]))
    body = "<div class='grid'>" + "".join(charts) + "</div>"
    trows = []
    for name in a["stat_names"]:
        label, desc, _ = stat_info(name)
        s = a["stats"][name]
        trows.append([label] + [s.get(c) for c in SUMMARY_COLS] + [desc])
    body += table(["statistic"] + list(SUMMARY_COLS) + ["definition"], trows,
                  numeric=[False] + [True] * len(SUMMARY_COLS) + [False])
    return body


def _near_dups(a: dict, rows: list[dict], sample: list[dict], groups: list[list[int]]) -> str:
    n = a["near_duplicates"]
    body = cards([("clusters in sample", n["clusters"]), ("docs in clusters", n["docs_in_clusters"]),
                  ("in-sample dup rate", pct(n["sample_dup_rate"])), ("in-sample drop rate", pct(n["sample_drop_rate"])),
                  ("corpus dup rate (est.)", pct(n["corpus_dup_rate_estimate"])),
                  ("corpus drop rate (est.)", pct(n["corpus_drop_rate_estimate"]))])
    body += (f"<p class='note'>MinHash ({n['num_perm']} permutations, {esc(n['shingle'])}), LSH candidates kept when "
             f"estimated Jaccard ≥ {n['threshold']}. Corpus estimate: {esc(n['estimate_note'])}.</p>")
    for g in groups[:3]:
        members = "".join(doc_block(sample[i].get("text") or "", 500,
                                    tag(rows[i]["source"]) + tag(rows[i]["id"])) for i in g[:4])
        more = f"<p class='note'>… and {len(g) - 4} more</p>" if len(g) > 4 else ""
        body += f"<h3>Cluster of {len(g)} documents</h3><div class='side'>{members}</div>{more}"
    return body


def _tokens(a: dict) -> str:
    t = a["tokens"]
    rows = [[s, v["sample_tokens"], v["chars_per_token"], v["estimated_total_tokens"]] for s, v in t["by_source"].items()]
    body = cards([("sample tokens", t["sample_tokens"]), ("chars per token", num(t["chars_per_token"])),
                  ("estimated corpus tokens", t["estimated_total_tokens"])])
    body += f"<p class='note'>Tokenizer: {esc(a['tokenizer'])}; corpus tokens = characters per source / characters per token in the sample.</p>"
    return body + table(["source", "sample tokens", "chars per token", "estimated tokens"], rows)


def _pii(a: dict) -> str:
    p = a["pii"]
    body = cards([("docs checked", p["docs"]), ("docs with PII", p["docs_with_pii"]), ("matches", p["matches"])])
    if p["kinds"]:
        body += svg.hbars(sorted(p["kinds"].items(), key=lambda kv: -kv[1]), "matches by kind")
    rows = [[s, v["docs"], v["docs_with_pii"], pct(v["docs_with_pii"] / v["docs"] if v["docs"] else 0), v["matches"]]
            for s, v in p["by_source"].items()]
    return body + table(["source", "docs", "docs with PII", "share", "matches"], rows,
                        numeric=[False, True, True, True, True])


def _calibration(a: dict) -> str:
    c = a["calibration"]
    body = f"<p class='note'>Recipe {esc(c.get('recipe'))}; {c['docs']:,} sampled documents. Each filter sees the whole sample " \
           "annotated by the operators before it, nothing dropped; one parameter varies, the others keep their recipe values.</p>"
    charts, rows = [], []
    for cv in c["curves"]:
        marks = []
        if cv["current"] is not None:
            marks.append((cv["current"], "recipe"))
        if cv.get("suggested") is not None:
            marks.append((cv["suggested"], "suggested"))
        charts.append(svg.lines([(cv["param"], cv["grid"], cv["drop"])], f"{cv['op']}.{cv['param']}",
                                x_label=cv["param"], y_label="share dropped", y_range=(0, 1), marks=marks))
        rows.append([f"{cv['op']}.{cv['param']}", str(cv["current"]), pct(cv["current_drop"]),
                     str(cv.get("target", "")) and pct(cv.get("target")),
                     "" if cv.get("suggested") is None else str(cv["suggested"]),
                     (pct(cv.get("suggested_drop")) + ("" if cv.get("reachable") else " (target not reachable)"))
                     if cv.get("suggested") is not None else "",
                     ", ".join(f"{svg.fmt(g)}→{pct(d, 0)}" for g, d in zip(cv["grid"], cv["drop"]))])
    body += table(["parameter", "recipe value", "drops", "target", "suggested", "suggested drops", "grid → share dropped"],
                  rows, numeric=[False, True, True, True, True, True, False])
    body += "<div class='grid'>" + "".join(charts) + "</div>"
    if c.get("rules"):
        rule_rows = [[r["op"], f"{r['dropped']:,} of {r['docs']:,}", pct(r["dropped"] / r["docs"] if r["docs"] else 0),
                      ", ".join(f"{reason} {pct(k / r['docs'])}" for reason, k in r["reasons"].items()) or "—"]
                     for r in c["rules"]]
        body += "<h3>Which rule drops what (recipe values)</h3>" + table(
            ["filter", "dropped", "share", "by rule"], rule_rows, numeric=[False, True, True, False])
    if c.get("written"):
        body += f"<p>Wrote <code>{esc(c['written']['path'])}</code>: " + esc("; ".join(c["written"]["changes"]) or "no change") + "</p>"
    if c["skipped"]:
        body += "<ul>" + "".join(f"<li class='note'>{esc(s)}</li>" for s in c["skipped"]) + "</ul>"
    return body


def _examples(a: dict, rows: list[dict], sample: list[dict]) -> str:
    index = {r["id"]: i for i, r in enumerate(rows)}
    out = ["<p class='note'>The sampled documents at both ends of each distribution (text cut at 800 characters).</p>"]
    for name, ends in a["examples"].items():
        label = stat_info(name)[0]
        parts = []
        for end, title in (("low", "lowest"), ("high", "highest")):
            for doc_id in ends[end]:
                i = index[doc_id]
                meta = tag(f"{title} {label} = {num(rows[i][name])}") + tag(rows[i]["source"]) + tag(rows[i].get("lang")) + tag(doc_id)
                parts.append(doc_block(sample[i].get("text") or "", 800, meta))
        out.append(f"<details><summary>{esc(label)}</summary>{''.join(parts)}</details>")
    return "".join(out)


def _quarantine(a: dict) -> str:
    ex = a["totals"]["quarantine_examples"]
    rows = [[q.get("file"), q.get("line"), q.get("error"), q.get("snippet", "")[:120]] for q in ex]
    return (f"<p>{a['totals']['quarantined']:,} records could not be read as documents; examples:</p>"
            + table(["file", "line", "error", "snippet"], rows, numeric=[False, True, False, False]))


def render_analysis(a: dict, rows: list[dict], sample: list[dict], groups: list[list[int]] = ()) -> str:
    """The page; `groups` are near-duplicate clusters as indices into rows/sample."""
    sections = [("overview", "Overview", _overview(a)), ("sources", "Sources", _sources(a)),
                ("languages", "Languages", _languages(a)), ("distributions", "Distributions", _distributions(a, rows)),
                ("near-duplicates", "Near-duplicates", _near_dups(a, rows, sample, list(groups)))]
    if a.get("tokens"):
        sections.append(("tokens", "Tokens", _tokens(a)))
    if a.get("pii"):
        sections.append(("pii", "PII", _pii(a)))
    if a.get("calibration"):
        sections.append(("calibration", "Threshold calibration", _calibration(a)))
    sections.append(("examples", "Examples from both tails", _examples(a, rows, sample)))
    if a["totals"]["quarantined"]:
        sections.append(("quarantine", "Quarantine", _quarantine(a)))
    return page("Garden analysis", ", ".join(a["inputs"]), sections)
