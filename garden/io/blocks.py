"""The fast path of the JSONL reader: a block of whole lines parsed by pyarrow's JSON reader.

pyarrow parses a block in C++ on all cores, but it is not Python's `json`: it infers types
(a date string becomes a timestamp, `1` and `1.5` share a double column), it loses each line's
key order and whether a null key was written or absent, and it accepts a UTF-8 BOM on any
line. The per-line reader (garden.io.reader) is the reference: `parse_block` returns the
documents only when they are provably the ones the per-line reader would give, byte for byte,
and None otherwise; the caller then reads that block line by line. So a block falls back when
any line is blank but not empty, starts with something other than `{`, is longer than
max_record_bytes or holds a control byte; when pyarrow fails (bad JSON, a lone surrogate, a
duplicate key, two objects on a line); when the text is not a string on every line, an id is
neither a string nor an integer, or a field other than text and id holds a float, an object or
an array; when a key is written in another form than Python writes it (escapes, a space before
the colon), or when the lines order their keys in more than MAX_ORDERS ways.

`meta` (the record's other fields as Python's `json.dumps(..., ensure_ascii=False)` writes them)
is built from the parsed columns in the lines' key order, which the raw bytes give: a key's
`"name":` is found in each line, and a match is genuine unless its quote is escaped (pyarrow
has already proved the line is JSON, so `"name":` elsewhere can only be inside a string, after
a backslash).
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

DOC_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("meta", pa.string())])
PARSE_BLOCK = 1 << 20  # pyarrow's own chunk: a block of several MB is parsed by several threads
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'  # what json.dumps escapes in a string with ensure_ascii=False
_SIMPLE = (pa.string(), pa.int64(), pa.bool_())
MAX_ORDERS = 16  # key orders in one block (several corpora written by different tools)


@dataclasses.dataclass(frozen=True)
class ParsedBlock:
    """The documents of a block (DOC_SCHEMA) and the file line number of each."""

    table: pa.Table
    ids: pa.Array       # the table's id column, as one array
    n_lines: int        # lines in the block, blank ones included
    lines: np.ndarray   # file line number of each document
    starts: np.ndarray  # where each document's line starts in the block
    ends: np.ndarray    # where it ends (its newline)


@dataclasses.dataclass
class Fields:
    """What one shard's blocks share: the fields and their types that pyarrow must not infer."""

    text_field: str
    id_field: str
    strings: set[str] = dataclasses.field(default_factory=set)  # fields read as strings (no timestamps)

    def parse_options(self) -> pj.ParseOptions:
        fields = [(self.text_field, pa.string())] + [(f, pa.string()) for f in sorted(self.strings - {self.text_field})]
        return pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="infer",
                               newlines_in_values=False)


def _line_spans(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length without the newline) of every line of a block that ends with a newline."""
    ends = np.flatnonzero(arr == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    return starts, ends - starts


_QUOTE_COLON = np.frombuffer(b'":', dtype="<u2")[0]


def _key_ends(arr: np.ndarray) -> np.ndarray:
    """Where a quote followed by a colon (`":`, the end of every key) is in the block: the
    candidates every key's search starts from. Two bytes are compared at once, as 16-bit words
    at even offsets and then at odd ones."""
    even = np.flatnonzero(arr[:len(arr) & ~1].view("<u2") == _QUOTE_COLON) * 2
    odd = np.flatnonzero(arr[1:1 + ((len(arr) - 1) & ~1)].view("<u2") == _QUOTE_COLON) * 2 + 1
    return np.sort(np.concatenate([even, odd]))


def _key_positions(arr: np.ndarray, key_ends: np.ndarray, key: str, starts: np.ndarray) -> np.ndarray | None:
    """Per line (row), where `"key":` starts in it, -1 where the key is absent; None when a
    match is not provably the key (an escaped quote) or a line has it twice.

    Vectorised: the block's `":` are the candidates, kept while the bytes before them match."""
    pat = np.frombuffer(json.dumps(key, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)  # "key"
    pos = key_ends[key_ends >= len(pat)] - (len(pat) - 1)  # where "key" would start
    for j in range(len(pat) - 1):
        pos = pos[arr[pos + j] == pat[j]]
        if not len(pos):
            break
    out = np.full(len(starts), -1, dtype=np.int64)
    if not len(pos):
        return out
    if np.any(arr[pos - 1] == 92):  # preceded by a backslash: inside a string (pos >= 1: lines start with '{')
        return None
    rows = np.searchsorted(starts, pos, side="right") - 1
    if len(rows) > 1 and np.any(rows[1:] == rows[:-1]):
        return None
    out[rows] = pos - starts[rows]
    return out


def _json_values(col: pa.Array) -> pa.Array:
    """The values of a string, int64 or bool column as json.dumps writes them (null stays null)."""
    if col.type == pa.int64():
        return pc.cast(col, pa.string())
    if col.type == pa.bool_():
        return pc.if_else(col, "true", "false")
    if pc.any(pc.match_substring_regex(col, _NEEDS_ESCAPE)).as_py():
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in col.to_pylist()],
                        pa.string())
    return pc.binary_join_element_wise('"', col, '"', "")


def parse_block(block: bytes | memoryview, first_line: int, source: str, id_prefix: str, fields: Fields,
                max_record_bytes: int) -> ParsedBlock | None:
    """The documents of `block` (whole lines, ending with a newline) exactly as the per-line
    reader would make them, or None when that cannot be proved (the caller reads it line by line).

    `id_prefix` + line number is the id of a record without one. Duplicate ids are the caller's
    to find: it knows the ids of the blocks before."""
    arr = np.frombuffer(block, dtype=np.uint8)
    starts, lengths = _line_spans(arr)
    if int(lengths.max()) > max_record_bytes:
        return None
    ctrl = np.count_nonzero(arr < 32)  # the newlines, and tabs and CRs (whitespace to both parsers)
    if ctrl != len(starts) and ctrl != len(starts) + np.count_nonzero((arr == 9) | (arr == 13)):
        return None  # a control byte other than tab, CR and the newlines
    keep = lengths > 0
    heads = arr[starts[keep]]
    if np.any((heads != 123) & ~((heads == 13) & (lengths[keep] == 1))):  # '{', or a lone CR (a blank line)
        return None
    keep &= ~((lengths == 1) & (arr[starts] == 13))
    rows = np.flatnonzero(keep)
    if not len(rows):
        return None
    starts = starts[rows]
    try:
        whole = pa.py_buffer(np.array([0, len(block)], dtype=np.int32))
        pa.StringArray.from_buffers(1, whole, pa.py_buffer(block)).validate(full=True)  # raises on invalid UTF-8
        table = _read(block, fields)
    except Exception:  # invalid UTF-8, JSON that pyarrow refuses: line by line
        return None
    if table is None or table.num_rows != len(rows):
        return None
    text = table.column(fields.text_field) if fields.text_field in table.column_names else None
    if text is None or text.null_count or fields.id_field == fields.text_field:
        return None
    line_nos = first_line + rows
    ids = ids_column(table, fields.id_field, id_prefix, line_nos)
    if ids is None:
        return None
    meta = _meta(block, arr, table, fields, starts)
    if meta is None:
        return None
    n = table.num_rows
    # text stays in pyarrow's chunks: the writer makes one array of a whole batch anyway
    out = pa.Table.from_arrays([ids, text, pa.repeat(pa.scalar(source, pa.string()), n), meta], schema=DOC_SCHEMA)
    return ParsedBlock(out, ids, len(lengths), line_nos, starts, starts + lengths[rows])


def _read(block: bytes | memoryview, fields: Fields) -> pa.Table | None:
    """pyarrow's parse of the block; a field inferred as a timestamp is read again as a string."""
    opts = pj.ReadOptions(use_threads=True, block_size=PARSE_BLOCK)
    table = pj.read_json(pa.BufferReader(block), read_options=opts, parse_options=fields.parse_options())
    stamps = {f.name for f in table.schema if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)}
    if stamps:
        fields.strings |= stamps
        table = pj.read_json(pa.BufferReader(block), read_options=opts, parse_options=fields.parse_options())
    return table


def _column(table: pa.Table, name: str) -> pa.Array:
    """One column as one array (the small ones: ids and meta fields)."""
    col = table.column(name)
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def ids_column(table: pa.Table, id_field: str, prefix: str, numbers: np.ndarray) -> pa.Array | None:
    """The ids (strings) of a parsed JSONL block or a parquet batch: the id column, integers as
    text, and `prefix` + line (row) number where a record has none; None where the per-record
    reader must decide (an id of another type, or a prefix from a file name that is not UTF-8,
    which Arrow cannot hold)."""
    made = None  # the ids a record without one gets
    if id_field not in table.column_names or table.column(id_field).null_count:
        try:
            made = pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")
        except (UnicodeEncodeError, pa.ArrowException):
            return None
    if id_field not in table.column_names:
        return made
    col = _column(table, id_field)
    if col.type == pa.int64():
        col = pc.cast(col, pa.string())
    elif col.type == pa.null():
        return made
    elif col.type != pa.string():
        return None  # a float, a bool, an object...: the per-line reader quarantines it
    return pc.coalesce(col, made) if col.null_count else col


def _meta(block: bytes | memoryview, arr: np.ndarray, table: pa.Table, fields: Fields, starts: np.ndarray) -> pa.Array | None:
    """json.dumps of every record without its text and id fields, or None when not provable."""
    names = [n for n in table.column_names if n not in (fields.text_field, fields.id_field)]
    n = table.num_rows
    if not names:
        return pa.repeat(pa.scalar("{}", pa.string()), n)
    where: dict[str, np.ndarray] = {}
    key_ends = _key_ends(arr)
    for name in names:
        col = _column(table, name)
        if col.type not in _SIMPLE and col.type != pa.null():
            return None  # float (1 and 1.0 are both 1.0 here), object, array: Python's own text is lost
        pos = _key_positions(arr, key_ends, name, starts)
        if pos is None:
            return None
        present = pos >= 0
        if np.any(~present & ~np.asarray(col.is_null())):
            return None  # a value pyarrow found under another spelling of the key
        where[name] = pos
    orders, group = _key_orders(names, where)
    if len(orders) > MAX_ORDERS:
        return None
    if len(orders) == 1 and all(np.all(where[name] >= 0) for name in names):
        return meta_uniform([names[k] for k in orders[0]], table)
    members = []  # per key: `, "key": value` where the line has the key, "" where it has not
    for name in names:
        col = _column(table, name)
        present = pa.array(where[name] >= 0)
        values = _json_values(col) if col.type != pa.null() else pa.nulls(n, pa.string())
        values = pc.if_else(pc.and_(present, pc.is_null(values)), "null", values)  # an explicit null
        key = ", " + json.dumps(name, ensure_ascii=False) + ": "
        members.append(pc.fill_null(pc.binary_join_element_wise(key, values, ""), ""))
    # (binary_join_element_wise's null_handling="skip" drops a row whose values are all null: not used)
    metas = []
    for order in orders:
        joined = pc.binary_join_element_wise(*[members[k] for k in order], "")
        metas.append(pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 2), "}", ""))  # no first ", "
    return metas[0] if len(metas) == 1 else pc.choose(pa.array(group, pa.int8()), *metas)


def meta_uniform(order: list[str], table: pa.Table) -> pa.Array:
    """meta when every line has every key, in one order (most files): the key texts are constant
    pieces between the values, so one join builds it."""
    pieces: list = []
    text = "{"
    for name in order:
        col = _column(table, name)
        text += ("" if text == "{" else ", ") + json.dumps(name, ensure_ascii=False) + ": "
        if col.type == pa.null():
            text += "null"
            continue
        values = _json_values(col)
        if values.null_count:  # an explicit null on some lines
            values = pc.fill_null(values, "null")
        pieces += [text, values]
        text = ""
    pieces.append(text + "}")
    pieces = [p for p in pieces if not isinstance(p, str) or p]
    if len(pieces) == 1:
        return pa.repeat(pa.scalar(pieces[0], pa.string()), table.num_rows)
    return pc.binary_join_element_wise(*pieces, "")


def _key_orders(names: list[str], where: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct key orders of the lines (key indices by position, absent keys last) and,
    per line, which of them it follows."""
    last = np.full(len(where[names[0]]), -1, dtype=np.int64)
    for name in names:  # most blocks: every line has its keys in the columns' order
        p = where[name]
        if np.any((p >= 0) & (p <= last)):
            break
        last = np.maximum(last, p)
    else:
        return np.arange(len(names))[None, :], np.zeros(len(last), dtype=np.int64)
    pos = np.stack([where[n] for n in names], axis=1)  # rows x keys, -1 = absent
    by_pos = np.argsort(np.where(pos >= 0, pos, np.iinfo(np.int64).max), axis=1, kind="stable")
    orders, group = np.unique(by_pos, axis=0, return_inverse=True)
    return orders, group.reshape(-1)
