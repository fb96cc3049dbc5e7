"""report.html of a run: where documents, characters and tokens went, and why.

`write_run_report(run_dir)` reads only what the run left on disk (stats.json, rejected/,
quarantine/, dedup/clusters.parquet, tokens.json, recipe.lock.yaml); every part is optional
except stats.json, so it also works on runs made before a feature existed.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict

from garden.analysis import svg
from garden.analysis.report_html import cards, doc_block, esc, page, pct, table, tag
from garden.analysis.run_files import find_texts, has_column, iter_rows, part_files
from garden.executor.stats import Stats, StepStats
from garden.io import fs
from garden.io.writer import atomic_write_bytes
from garden.summary import source_reasons

EXAMPLES_PER_REASON = 3
CLUSTERS_SHOWN = 4
MEMBERS_SHOWN = 4


def _read_json(path: str) -> dict | None:
    try:
        with fs.open(path, "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError):
        return None


def _op_labels(ops: list[StepStats]) -> list[str]:
    """Names as used for rejected/<label>/: the op name, suffixed with its index when it repeats."""
    counts = Counter(o.name for o in ops)
    return [o.name if counts[o.name] == 1 else f"{o.name}-{i}" for i, o in enumerate(ops)]


def _recipe_params(run_dir: str) -> list[dict]:
    """Each pipeline step's resolved parameters from recipe.lock.yaml (empty dicts if absent)."""
    try:
        import yaml

        with fs.open(fs.join(run_dir, "recipe.lock.yaml"), "rb") as fh:
            lock = yaml.safe_load(fh.read().decode("utf-8")) or {}
        return [next(iter(step.values())) or {} for step in lock.get("pipeline", [])]
    except (OSError, ValueError, AttributeError, StopIteration):
        return []


def _tokens_total(stats: Stats, tokens: dict | None) -> int | None:
    if tokens and isinstance(tokens.get("sources"), dict):
        total = sum(int(v.get("tokens", 0)) for v in tokens["sources"].values() if isinstance(v, dict))
        if total:
            return total
    for op in stats.ops:
        if isinstance(op.result.get("tokens"), (int, float)):
            return int(op.result["tokens"])
    return None


# -- sections ----------------------------------------------------------------------------------
def _summary(stats: Stats, tokens_total: int | None) -> str:
    ok = stats.accounting_ok
    items = [("input documents", stats.input_docs), ("kept", stats.kept_docs),
             ("rejected", stats.rejected_docs), ("quarantined", stats.quarantined_docs),
             ("kept share", pct(stats.kept_docs / stats.input_docs) if stats.input_docs else "–"),
             ("input bytes", stats.input_bytes), ("seconds", stats.seconds),
             ("workers", stats.workers)]
    if tokens_total:
        items.append(("tokens", tokens_total))
    check = ("<p class='ok'>✓ input = kept + rejected + quarantined</p>" if ok else
             "<p class='warn'>✗ documents unaccounted for: input ≠ kept + rejected + quarantined</p>")
    if stats.stopped:  # the run stopped before a global step: no documents were left for it
        check += f"<p class='warn'>✗ the run stopped: {esc(stats.stopped.message)}</p>"
    return cards(items) + check


def funnel_steps(stats: Stats | dict) -> list[dict]:
    """(step, docs, chars) after the input and after each operator that sees documents (from a
    run's Stats, or stats.json's content).

    With per-source counts (stats.json's `by_source`) each source is
    followed on its own: a step scoped to some sources leaves the others as they were, so the
    totals are right whatever a step applies to; each entry's `sources` holds, per source, its
    documents and characters after the step and whether the step applies to it."""
    if not isinstance(stats, Stats):
        stats = Stats.from_dict(stats)
    if not any(o.by_source for o in stats.ops) or any(o.n_in and not o.by_source for o in stats.ops):
        return _funnel_steps_totals(stats)  # an older run, or one resumed from markers without them
    names = list(stats.sources)
    docs = {s: stats.sources[s].input for s in names}
    chars: dict[str, int | None] = {s: _input_chars(stats, s) for s in names}

    def entry(step: str, kind: str, applies: dict[str, bool]) -> dict:
        known = all(chars[s] is not None for s in names)
        return {"step": step, "docs": sum(docs.values()), "chars": sum(chars.values()) if known else None,  # type: ignore[arg-type]
                "kind": kind, "sources": {s: {"docs": docs[s], "chars": chars[s], "applies": applies[s]} for s in names}}

    steps = [entry("input", "", {s: True for s in names})]
    for label, op in zip(_op_labels(stats.ops), stats.ops):
        applies = {s: op.applies(s) for s in names}
        for s in names:
            if applies[s] and not op.not_run:
                counts = op.by_source.get(s)  # absent: none of its documents reached the step
                docs[s] = counts.n_out if counts else 0
                chars[s] = counts.chars_out if counts else 0
        steps.append({**entry(label, op.kind, applies), "dropped": op.dropped_total, "errors": op.errors})
    return steps


def _input_chars(stats: Stats, source: str) -> int | None:
    """Characters of a source's input: counted when read, else where the first step saw them."""
    known = stats.sources[source].chars_in
    if known is not None:
        return known
    return next((o.by_source[source].chars_in for o in stats.ops if source in o.by_source), None)


def _funnel_steps_totals(stats: Stats) -> list[dict]:
    """The funnel of a stats.json without per-source counts (older runs): from the step totals."""
    ops = stats.ops
    first_chars = next((o.chars_in for o in ops if o.n_in), None)
    steps = [{"step": "input", "docs": stats.input_docs, "chars": first_chars, "kind": ""}]
    for label, op in zip(_op_labels(ops), ops):
        if op.n_in == 0 and op.n_out == 0 and op.kind == "global" and steps[-1]["docs"]:
            continue  # a global op with no apply phase (e.g. tokenizer training) passes documents on
        steps.append({"step": label, "docs": op.n_out, "chars": op.chars_out,
                      "kind": op.kind, "dropped": op.dropped_total, "errors": op.errors})
    return steps


NOT_APPLIED = "—"  # a step scoped to other sources: it does not touch this source's documents


def _funnel(stats: Stats, tokens_total: int | None) -> str:
    steps = funnel_steps(stats)
    body = svg.hbars([(s["step"], s["docs"]) for s in steps], "documents after each step",
                     colors=[svg.PALETTE[0]])
    if all(s["chars"] is not None for s in steps):
        body += svg.hbars([(s["step"], s["chars"]) for s in steps], "characters after each step",
                          colors=[svg.PALETTE[1]])
    else:
        body += "<p class='note'>No per-operator character counts in this stats.json (run made by an older Garden).</p>"
    n0, c0 = steps[0]["docs"] or 1, steps[0]["chars"] or 0
    rows = [[s["step"], s["kind"], s["docs"], pct(s["docs"] / n0), s["chars"],
             pct(s["chars"] / c0) if s["chars"] is not None and c0 else "–", s.get("dropped", 0), s.get("errors", 0)]
            for s in steps]
    if tokens_total:
        body += f"<p>Tokens written: <b>{tokens_total:,}</b> (tokens.json)</p>"
    body += table(["step", "kind", "documents", "of input", "characters", "of input chars", "dropped", "errors"], rows,
                  numeric=[False, False, True, True, True, True, True, True])
    if "sources" in steps[0]:
        body += _funnel_by_source(steps)
    return body


def _funnel_by_source(steps: list[dict]) -> str:
    """Per source: documents and characters after each step, as shares of that source's input;
    `—` where the step does not apply to the source (it passes its documents on untouched)."""
    names = list(steps[0]["sources"])
    first = steps[0]["sources"]

    def cell(s: dict, name: str, key: str) -> str:
        c = s["sources"][name]
        if not c["applies"]:
            return NOT_APPLIED
        value, base = c[key], first[name][key]
        if value is None:
            return "–"
        return f"{value:,} ({pct(value / base) if base else '–'})"

    body = ("<h3>Per source</h3><p class='note'>Documents and characters of each source after each step, with "
            f"the share of that source's input; {NOT_APPLIED} where the step is scoped to other sources "
            "(their documents pass it untouched).</p>")
    for key, title in (("docs", "documents"), ("chars", "characters")):
        rows = [[s["step"], *(cell(s, n, key) if i else f"{s['sources'][n][key] or 0:,}" for n in names)]
                for i, s in enumerate(steps)]
        body += f"<h4>{title}</h4>" + table(["step", *names], rows, numeric=[False] + [True] * len(names))
    return body


def _drops(stats: Stats) -> str:
    rows, bars = [], []
    n0 = stats.input_docs or 1
    for label, op in zip(_op_labels(stats.ops), stats.ops):
        for reason, n in sorted(op.dropped.items(), key=lambda kv: -kv[1]):
            rows.append([label, reason, n, pct(n / n0, 2)])
            bars.append((reason if reason.startswith(op.name) else f"{label}:{reason}", n))
    if not rows:
        return "<p>No document was dropped.</p>"
    return (svg.hbars(sorted(bars, key=lambda kv: -kv[1])[:30], "dropped documents by reason", colors=[svg.PALETTE[3]])
            + table(["operator", "reason", "documents", "of input"], rows, numeric=[False, False, True, True])
            + _drops_by_source(stats))


def _drops_by_source(stats: Stats) -> str:
    """Drop reasons per source: each row adds up to the step's count for that reason."""
    if not any(o.by_source for o in stats.ops) or any(o.dropped and not o.by_source for o in stats.ops):
        return ""
    names = list(stats.sources)
    rows = []
    for label, op in zip(_op_labels(stats.ops), stats.ops):
        for reason, n in sorted(op.dropped.items(), key=lambda kv: -kv[1]):
            cells: list[object] = []
            for name in names:
                if not op.applies(name):
                    cells.append(NOT_APPLIED)
                else:
                    counts = op.by_source.get(name)
                    cells.append(counts.dropped.get(reason, 0) if counts else 0)
            rows.append([label, reason, *cells, n])
    lost = [[name, c.input, c.lost, pct(c.lost / c.input) if c.input else "–",
             ", ".join(f"{r}={n:,}" for r, n in source_reasons(stats, name).most_common(3))]
            for name, c in stats.sources.items()]
    return ("<h3>Per source</h3><p class='note'>Dropped documents per source and reason; " + NOT_APPLIED
            + " where the step is scoped to other sources.</p>"
            + table(["operator", "reason", *names, "all"], rows, numeric=[False, False] + [True] * (len(names) + 1))
            + table(["source", "input", "lost", "lost share", "top reasons"], lost,
                    numeric=[False, True, True, True, False]))


def sample_rejected(run_dir: str, per_reason: int = EXAMPLES_PER_REASON,
                    expected: dict[str, set[str]] | None = None) -> dict[str, dict[str, list[dict]]]:
    """{label: {reason: [first rows]}} from rejected/<label>/, in file order.

    Reading stops as soon as every reason in `expected[label]` (from stats.json) has enough
    examples, so a run that dropped millions of documents costs a few batches, not a full scan.
    """
    out: dict[str, dict[str, list[dict]]] = {}
    cols = ["id", "text", "source", "reason", "duplicate_of", "similarity", "lang"]
    for label_dir in fs.glob(fs.join(run_dir, "rejected", "*")):
        label = label_dir.rstrip("/").rsplit("/", 1)[-1]
        want = (expected or {}).get(label)
        by_reason: dict[str, list[dict]] = defaultdict(list)

        def satisfied(want: set[str] | None = want, by_reason: dict = by_reason) -> bool:
            return bool(want) and all(len(by_reason.get(r, ())) >= per_reason for r in want)

        for path in part_files(label_dir):
            for row in iter_rows(path, cols, batch_size=512):
                bucket = by_reason[row.get("reason") or "?"]
                if len(bucket) < per_reason:
                    bucket.append(row)
                    if satisfied():
                        break
            if satisfied():
                break
        out[label] = dict(by_reason)
    return out


def expected_reasons(stats: Stats) -> dict[str, set[str]]:
    return {label: set(op.dropped) for label, op in zip(_op_labels(stats.ops), stats.ops) if op.dropped}


def _rejected_examples(run_dir: str, stats: Stats) -> str:
    samples = sample_rejected(run_dir, expected=expected_reasons(stats))
    if not samples:
        return "<p>No rejected/ directory.</p>"
    parts = ["<p class='note'>The first dropped documents of each reason, in shard order (text cut at 600 characters).</p>"]
    for label, reasons in samples.items():
        for reason, rows in sorted(reasons.items()):
            blocks = []
            for r in rows:
                meta = tag(r.get("source")) + tag(r.get("id"))
                if r.get("duplicate_of"):
                    meta += tag(f"duplicate of {r['duplicate_of']}")
                if r.get("lang"):
                    meta += tag(f"lang {r['lang']}")
                blocks.append(doc_block(r.get("text") or "", 600, meta))
            parts.append(f"<details><summary>{esc(label)} — {esc(reason)} ({len(rows)} shown)</summary>{''.join(blocks)}</details>")
    return "".join(parts)


def _cluster_texts(run_dir: str, members: list[dict], dedup_label: str) -> list[dict]:
    """Rows (id, text, source) aligned with `members`: from the dedup stage's input shard by
    (shard, row) — exact even when two sources share an id — else looked up by id."""
    found: dict[int, dict] = {}
    stage_dirs = fs.glob(fs.join(run_dir, "_work", "s*-minhash_dedup"))
    if stage_dirs:
        k = int(stage_dirs[0].rstrip("/").rsplit("/", 1)[-1][1:3])
        in_dir = fs.join(run_dir, "_work", f"s{k - 1:02d}-stream", "data")
        by_shard: dict[int, list[int]] = defaultdict(list)
        for i, m in enumerate(members):
            if m.get("shard") is not None and m.get("row") is not None:
                by_shard[int(m["shard"])].append(i)
        for shard, idx in by_shard.items():
            path = fs.join(in_dir, f"part-{shard:05d}.parquet")
            if not fs.exists(path):
                continue
            pf = fs.parquet_file(path)
            cols = [c for c in ("id", "text", "source") if c in pf.schema_arrow.names]
            starts, acc = [], 0
            for g in range(pf.metadata.num_row_groups):
                starts.append(acc)
                acc += pf.metadata.row_group(g).num_rows
            for i in idx:
                row = int(members[i]["row"])
                if not starts or row >= acc:
                    continue
                g = max(j for j, s in enumerate(starts) if s <= row)
                rec = pf.read_row_group(g, columns=cols).slice(row - starts[g], 1).to_pylist()
                if rec and rec[0].get("id") == members[i]["id"]:
                    found[i] = rec[0]
    missing = {m["id"] for i, m in enumerate(members) if i not in found}
    by_id: dict[str, dict] = {}
    if missing:
        files = part_files(fs.join(run_dir, "rejected", dedup_label)) + part_files(fs.join(run_dir, "data"))
        by_id = find_texts(files, missing)
    return [found.get(i) or by_id.get(m["id"], {}) for i, m in enumerate(members)]


def _dedup(run_dir: str, stats: Stats, params: list[dict]) -> str | None:
    labels = _op_labels(stats.ops)
    idx = next((i for i, o in enumerate(stats.ops) if o.name == "minhash_dedup"), None)
    path = fs.join(run_dir, "dedup", "clusters.parquet")
    if idx is None and not fs.exists(path):
        return None
    op = stats.ops[idx].result if idx is not None else {}  # the step's own figures (clusters, bands...)
    body = ""
    facts = [(k.replace("_", " "), op[k]) for k in ("documents", "candidate_pairs", "merged_pairs", "clusters",
                                                      "documents_in_clusters", "duplicates", "largest_cluster",
                                                      "bands", "rows") if isinstance(op.get(k), (int, float))]
    if facts:
        body += cards(facts)
    threshold = (params[idx].get("threshold") if idx is not None and idx < len(params) else None)
    if op.get("bands") and op.get("rows"):
        b, r = int(op["bands"]), int(op["rows"])
        xs = [i / 50 for i in range(51)]
        series = [(f"P(candidate), b={b} r={r}", xs, [1 - (1 - s ** r) ** b for s in xs])]
        marks = [(float(threshold), f"threshold {threshold}")] if threshold is not None else []
        body += svg.lines(series, f"LSH S-curve (b={b} r={r}): probability that a pair becomes a candidate",
                          "Jaccard similarity",
                          "probability", width=520, height=260, y_range=(0, 1), marks=marks, points=False)
    if isinstance(op.get("s_curve"), dict):
        body += table(["Jaccard", "P(candidate)"], [[k, float(v)] for k, v in op["s_curve"].items()],
                      numeric=[False, True])
    if isinstance(op.get("cluster_sizes"), dict):
        body += svg.hbars([(f"size {k}{'+' if k == '10' else ''}", v) for k, v in op["cluster_sizes"].items()],
                          "clusters by size")
    if not fs.exists(path):
        return body + "<p class='note'>No dedup/clusters.parquet in this run.</p>"
    table_ = fs.parquet_file(path).read()
    if table_.num_rows == 0 or "cluster" not in table_.column_names:
        return body + "<p>No near-duplicate clusters.</p>"
    rows = table_.to_pylist()
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["cluster"]].append(r)
    biggest = sorted(groups.values(), key=lambda g: (-len(g), g[0]["cluster"]))[:CLUSTERS_SHOWN]
    shown = [sorted(g, key=lambda m: (not m.get("keeper"), str(m["id"])))[:MEMBERS_SHOWN] for g in biggest]
    flat = [m for g in shown for m in g]
    texts = iter(_cluster_texts(run_dir, flat, labels[idx] if idx is not None else "minhash_dedup"))
    body += f"<p class='note'>{len(groups):,} clusters; the {len(shown)} largest, keeper first (green).</p>"
    for full, g in zip(biggest, shown):
        blocks = []
        for m in g:
            t = next(texts)
            meta = tag("keeper" if m.get("keeper") else f"similarity {m.get('similarity', 0):.2f}") + tag(m["id"])
            if t.get("source"):
                meta += tag(t["source"])
            blocks.append(doc_block(t.get("text") or "(text not found)", 700, meta, "keeper" if m.get("keeper") else ""))
        body += f"<h3>Cluster of {len(full)} documents</h3><div class='side'>{''.join(blocks)}</div>"
    return body


def _sources(stats: Stats, tokens: dict | None) -> str:
    rows = []
    tok_sources = (tokens or {}).get("sources") or {}
    for src, c in stats.sources.items():
        tk = tok_sources.get(src, {}).get("tokens") if isinstance(tok_sources.get(src), dict) else None
        rows.append([src, c.input, c.kept, c.rejected, c.quarantined,
                     pct(c.kept / c.input) if c.input else "–", tk])
    body = svg.hbars([(s, c.kept) for s, c in stats.sources.items()], "kept documents per source")
    return body + table(["source", "input", "kept", "rejected", "quarantined", "kept share", "tokens"], rows,
                        numeric=[False, True, True, True, True, True, True])


def language_counts(run_dir: str, max_rows: int = 5_000_000) -> dict | None:
    """{'after': lang → kept docs, 'rejected': lang → dropped docs} from the lang column, if the run has one.

    Reads only the lang column; stops after `max_rows` rows per side ('partial' then says so).
    """
    data = part_files(fs.join(run_dir, "data"))
    if not data or not has_column(data[0], "lang"):
        return None
    after, rejected = Counter(), Counter()
    partial = False
    for counter, files, missing in ((after, data, "unknown"),
                                    (rejected, part_files(fs.join(run_dir, "rejected", "*")), "(before language id)")):
        n = 0
        for path in files:
            for row in iter_rows(path, ["lang"]):
                counter[row.get("lang") or missing] += 1
                n += 1
            if n >= max_rows:
                partial = True
                break
    return {"after": after, "rejected": rejected, "partial": partial}


def _languages(run_dir: str) -> str | None:
    counts = language_counts(run_dir)
    if counts is None:
        return None
    after, rejected = counts["after"], counts["rejected"]
    langs = sorted(set(after) | set(rejected), key=lambda k: -(after[k] + rejected[k]))
    rows = [[lang, after[lang] + rejected[lang], after[lang], rejected[lang],
             pct(after[lang] / (after[lang] + rejected[lang])) if after[lang] + rejected[lang] else "–"] for lang in langs]
    body = svg.hbars([(lang, after[lang]) for lang in langs[:25]], "kept documents per language")
    body += ("<p class='note'>Before = kept + rejected with that label; documents dropped before language "
             "identification have no label. Quarantined records are not included."
             + (" Counted on the first files only (large run)." if counts.get("partial") else "") + "</p>")
    return body + table(["language", "before", "after (kept)", "rejected", "kept share"], rows,
                        numeric=[False, True, True, True, True])


def _timings(stats: Stats) -> str:
    labels = _op_labels(stats.ops)
    body = svg.hbars([(lab, float(o.seconds)) for lab, o in zip(labels, stats.ops)],
                     "seconds per operator (summed over workers)", value_fmt=lambda v: f"{v:.2f}s",
                     colors=[svg.PALETTE[2]])
    rows = []
    for lab, o in zip(labels, stats.ops):
        phases = ", ".join(f"{k} {v.seconds:.2f}s" for k, v in (o.timing or {}).items())
        rate = o.n_in / o.seconds if o.seconds and o.n_in else None
        rows.append([lab, o.kind, o.seconds, rate, phases])
    body += table(["operator", "kind", "seconds", "docs/s", "global phases"], rows,
                  numeric=[False, False, True, True, False])
    return body + f"<p class='note'>Wall time of the run: {stats.seconds:.2f}s with {stats.workers} workers.</p>"


def _perplexity(stats: Stats) -> str | None:
    """Per-language perplexity cut-offs of `perplexity` steps (computed from the corpus in its global pass)."""
    rows = []
    for lab, o in zip(_op_labels(stats.ops), stats.ops):
        if o.name != "perplexity" or not o.result.get("languages"):
            continue
        for lang, e in sorted(o.result["languages"].items()):
            scored = e.get("scored_documents", e.get("scored_lines", 0))
            above = e.get("above_cutoff_documents", e.get("above_cutoff_lines"))
            rows.append([lab, lang, scored, e.get("unscored_no_model", 0), e.get("empty", 0), e.get("median"),
                         e.get("cutoff"), above, ", ".join(str(b) for b in e.get("bucket_cutoffs", []))])
    if not rows:
        return None
    return ("<p class='note'>Cut-offs per language: max_perplexity, or the max_percentile of the scored "
            "documents (lines with per: line) of that language; bucket cut-offs separate head | middle | tail.</p>"
            + table(["step", "language", "scored", "no model", "empty", "median", "cut-off", "above cut-off",
                     "bucket cut-offs"], rows, numeric=[False, False, True, True, True, True, True, True, False]))


COUNT_TITLES = {"pii": "personal data found per kind, in kept and dropped documents (mode replace: each one replaced by its placeholder)",
                "zh_convert": "documents whose text was converted"}


def _counts(stats: Stats) -> str | None:
    """Operators' own counters (`Operator.counters`), e.g. PII found per kind."""
    parts = []
    for label, op in zip(_op_labels(stats.ops), stats.ops):
        if op.name == "pii" and not op.counts and not op.not_run and op.by_source:
            parts.append(f"<h3>{esc(label)}</h3><p>No personal data found.</p>")
            continue
        if not op.counts:
            continue
        note = COUNT_TITLES.get(op.name, "the operator's counts")
        parts.append(f"<h3>{esc(label)}</h3><p class='note'>{esc(note)}; {sum(op.counts.values()):,} in all.</p>"
                     + svg.hbars(sorted(op.counts.items(), key=lambda kv: -kv[1]), f"{label}: counts")
                     + table(["count", "value"], sorted(op.counts.items(), key=lambda kv: -kv[1]),
                             numeric=[False, True]))
    return "".join(parts) or None


COMPRESSION_COLUMNS = {"source": "source", "lang": "language", "documents": "documents", "chars": "characters",
                       "bytes": "bytes", "tokens": "tokens", "bytes_per_token": "bytes/token",
                       "chars_per_token": "chars/token", "unk_tokens": "unknown tokens", "unk_rate": "unknown rate"}


def _tokenizer(stats: Stats) -> str | None:
    """The trained tokenizer's compression per source and language (train_tokenizer's held-out check)."""
    parts = []
    for label, op in zip(_op_labels(stats.ops), stats.ops):
        rows = op.result.get("compression")
        if op.name != "train_tokenizer" or not isinstance(rows, list) or not rows:
            continue
        keys: list[str] = []
        for r in rows:
            keys.extend(k for k in r if k not in keys)
        facts = [(k.replace("_", " "), op.result[k]) for k in ("vocab_size", "documents_checked", "round_trip_failures")
                 if isinstance(op.result.get(k), (int, float))]
        trained = op.result.get("trained_on")
        if isinstance(trained, dict):
            facts += [(f"trained on {k}", v) for k, v in trained.items() if isinstance(v, (int, float))]
        parts.append(f"<h3>{esc(label)}</h3>" + cards(facts)
                     + "<p class='note'>Compression on held-out documents of each source and language: more bytes "
                       "per token is better.</p>"
                     + table([COMPRESSION_COLUMNS.get(k, k) for k in keys], [[r.get(k) for k in keys] for r in rows]))
    return "".join(parts) or None


def _blend(stats: Stats) -> str | None:
    """The blend of mix/curriculum: each phase's weights and epochs per source, and the total epochs."""
    parts = []
    for label, op in zip(_op_labels(stats.ops), stats.ops):
        phases = op.result.get("phases")
        if not isinstance(phases, list) or not phases or not all(isinstance(p, dict) for p in phases):
            continue
        epochs = op.result.get("epochs") if isinstance(op.result.get("epochs"), dict) else {}
        names: list[str] = []
        for ph in phases:
            names.extend(k for k in (ph.get("weights") or {}) if k not in names)
        names.extend(k for k in epochs if k not in names)
        headers = ["source"]
        for i, ph in enumerate(phases):
            title = ph.get("name") or f"phase {i}"
            headers += [f"{title}: weight", f"{title}: epochs"]
        headers.append("epochs in all")
        rows = []
        for name in names:
            row: list[object] = [name]
            for ph in phases:
                row += [(ph.get("weights") or {}).get(name), (ph.get("epochs") or {}).get(name)]
            row.append(epochs.get(name))
            rows.append(row)
        tokens = [(f"{ph.get('name') or i}: tokens", ph["tokens"]) for i, ph in enumerate(phases)
                  if isinstance(ph.get("tokens"), (int, float))]
        warn = "".join(f"<p class='warn'>{esc(w)}</p>" for w in op.result.get("warnings") or [])
        parts.append(f"<h3>{esc(label)}</h3>" + cards(tokens)
                     + "<p class='note'>Epochs: how many times a source's tokens are seen (above 1: repeated).</p>"
                     + table(headers, rows, numeric=[False] + [True] * (len(headers) - 1)) + warn)
    return "".join(parts) or None


def _quarantine(run_dir: str, stats: Stats) -> str:
    files = fs.glob(fs.join(run_dir, "quarantine", "*.jsonl"))
    entries = []
    for path in files:
        for row in iter_rows(path):
            entries.append(row)
            if len(entries) >= 5000:
                break
    if not entries:
        return f"<p>Nothing quarantined ({stats.quarantined_docs} records).</p>"
    kinds = Counter((e.get("error") or "?").split(":")[0][:60] for e in entries)
    by_file = Counter(e.get("file") or f"stage {e.get('stage')} ({e.get('source')})" for e in entries)
    body = cards([("quarantined records", stats.quarantined_docs), ("files", len(files))])
    body += svg.hbars(kinds.most_common(15), "quarantined records by error", colors=[svg.PALETTE[5]])
    body += table(["where", "records"], by_file.most_common(20), numeric=[False, True])
    rows = [[e.get("file") or e.get("id"), e.get("line"), e.get("error"), (e.get("snippet") or "")[:160]] for e in entries[:20]]
    return body + table(["file / id", "line", "error", "snippet"], rows, numeric=[False, True, False, False])


def render_run_report(run_dir: str) -> str:
    raw = _read_json(fs.join(run_dir, "stats.json"))
    if raw is None:
        raise FileNotFoundError(f"{run_dir}: no stats.json (has the run finished?)")
    stats = Stats.from_dict(raw)
    tokens = _read_json(fs.join(run_dir, "tokens.json"))
    tokens_total = _tokens_total(stats, tokens)
    params = _recipe_params(run_dir)
    sections = [("summary", "Summary", _summary(stats, tokens_total)),
                ("funnel", "Funnel", _funnel(stats, tokens_total)),
                ("drops", "Drops by reason", _drops(stats)),
                ("rejected", "Dropped documents", _rejected_examples(run_dir, stats))]
    dedup = _dedup(run_dir, stats, params)
    if dedup is not None:
        sections.append(("dedup", "Near-duplicate clusters", dedup))
    sections.append(("sources", "Sources", _sources(stats, tokens)))
    for anchor, title, part in (("counts", "Operator counts", _counts(stats)),
                                ("tokenizer", "Tokenizer", _tokenizer(stats)),
                                ("blend", "Blend", _blend(stats))):
        if part is not None:
            sections.append((anchor, title, part))
    perplexity = _perplexity(stats)
    if perplexity is not None:
        sections.append(("perplexity", "Perplexity", perplexity))
    langs = _languages(run_dir)
    if langs is not None:
        sections.append(("languages", "Languages", langs))
    sections += [("timings", "Timings", _timings(stats)), ("quarantine", "Quarantine", _quarantine(run_dir, stats))]
    return page(f"Garden run: {stats.recipe}", fs.abspath(run_dir), sections)


def write_run_report(run_dir: str) -> str:
    """Write <run_dir>/report.html from the run's files; returns its path."""
    html = render_run_report(run_dir)
    path = fs.join(run_dir, "report.html")
    atomic_write_bytes(path, html.encode("utf-8"))
    return path
