"""HTML building blocks shared by the analysis report and the per-run report.

One self-contained page: inline CSS, inline SVG charts, one small inline script (click a table
header to sort). Nothing is fetched from the network. Every user-supplied string is escaped.
"""
from __future__ import annotations

import datetime
import html
from typing import Iterable, Sequence

from garden.analysis.svg import fmt

CSS = """
:root{--fg:#1d232b;--muted:#667;--line:#dde2e8;--bg:#f7f8fa;--accent:#3b6ea5}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","WenQuanYi Micro Hei","PingFang SC","Microsoft YaHei",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#24364b;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header .sub{opacity:.8;font-size:12px}
nav{padding:6px 24px;background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
nav a{margin-right:14px;color:var(--accent);text-decoration:none;font-size:13px}
main{padding:8px 24px 40px;max-width:1400px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:14px 0}
h2{font-size:17px;margin:2px 0 10px}
h3{font-size:14px;margin:12px 0 6px}
table{border-collapse:collapse;margin:6px 0;font-size:12.5px}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;cursor:pointer;user-select:none;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:130px;background:#fbfcfd}
.card .v{font-size:20px;font-weight:600}
.card .k{color:var(--muted);font-size:12px}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.note{color:var(--muted);font-size:12.5px}
.warn{color:#a33;font-weight:600}
.ok{color:#2a7a3a;font-weight:600}
details{margin:4px 0}
summary{cursor:pointer;color:var(--accent)}
pre.doc{white-space:pre-wrap;word-break:break-word;background:#f4f5f7;border:1px solid var(--line);border-radius:4px;padding:6px 8px;margin:4px 0;max-height:240px;overflow:auto;font-size:12px}
.side{display:flex;gap:8px;align-items:stretch;overflow-x:auto}
.side>div{flex:1 1 0;min-width:260px}
.tag{display:inline-block;background:#eef1f5;border-radius:3px;padding:0 5px;margin-right:4px;font-size:11.5px}
.keeper{border-color:#4f9d69}
.scroll{overflow-x:auto}
"""

# Click-to-sort tables; sets data-ready on <body> so a headless browser test can tell that the
# page's script ran to the end without an error.
JS = """
(function(){
  function key(td){var t=td.getAttribute('data-v');if(t===null)t=td.textContent.trim();
    var n=parseFloat(t.replace(/[,%]/g,''));return isNaN(n)?t.toLowerCase():n;}
  document.querySelectorAll('table.sortable').forEach(function(tbl){
    tbl.querySelectorAll('th').forEach(function(th,col){
      th.addEventListener('click',function(){
        var body=tbl.tBodies[0];if(!body)return;
        var rows=Array.prototype.slice.call(body.rows);var asc=th.getAttribute('data-asc')!=='1';
        rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
          if(typeof x!==typeof y){x=String(x);y=String(y);}return (x<y?-1:x>y?1:0)*(asc?1:-1);});
        rows.forEach(function(r){body.appendChild(r);});th.setAttribute('data-asc',asc?'1':'0');
      });
    });
  });
  document.body.setAttribute('data-ready','1');
})();
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def num(value: object, digits: int = 3) -> str:
    """A table cell's number: integers with thousands separators, floats to `digits` significant digits."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "–"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return esc(value)


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool] | None = None,
          cls: str = "sortable", raw: bool = False) -> str:
    """An HTML table; cells are escaped unless `raw` (then they are trusted HTML snippets)."""
    rows = list(rows)
    if numeric is None:
        numeric = [bool(rows) and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)
                   for i in range(len(headers))]
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if numeric[i]:
                sort = f" data-v='{v}'" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
                cells.append(f"<td class='n'{sort}>{num(v) if not isinstance(v, str) else (v if raw else esc(v))}</td>")
            else:
                cells.append(f"<td>{v if raw else esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='scroll'><table class='{cls}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def cards(items: Sequence[tuple[str, object]]) -> str:
    out = []
    for label, value in items:
        shown = fmt(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else esc(value)
        out.append(f"<div class='card'><div class='v'>{shown}</div><div class='k'>{esc(label)}</div></div>")
    return "<div class='cards'>" + "".join(out) + "</div>"


def doc_block(text: str, limit: int = 1200, meta: str = "", cls: str = "") -> str:
    """A document's text, cut at `limit` characters, with a one-line header of tags."""
    shown = text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit:,} more characters]"
    head = f"<div>{meta}</div>" if meta else ""
    return f"<div class='{cls}'>{head}<pre class='doc'>{esc(shown)}</pre></div>"


def tag(text: object) -> str:
    return f"<span class='tag'>{esc(text)}</span>"


def section(anchor: str, title: str, body: str) -> str:
    return f"<section id='{esc(anchor)}'><h2>{esc(title)}</h2>{body}</section>"


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document: header, a nav bar linking every section, the sections, the script."""
    nav = "".join(f"<a href='#{esc(a)}'>{esc(t)}</a>" for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><div class='sub'>{esc(subtitle)} · generated {stamp}</div></header>"
            f"<nav>{nav}</nav><main>{body}</main><script>{JS}</script></body></html>")
