"""Turn an input shard into documents, and every unreadable record into a quarantine entry.

Nothing is lost: a record is either a document or a quarantine entry naming file, line,
byte offset, error and a snippet of the raw bytes.
"""
from __future__ import annotations

import json
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from garden.hashing import values_hash64
from garden.io import fs
from garden.io.blocks import DOC_SCHEMA, Fields, ParsedBlock, ids_column, meta_uniform, parse_block
from garden.io.inputs import InputShard, iter_lines
from garden.io.lines import DEFAULT_MAX_RECORD_BYTES, HEAD, LongLine, bounded_lines, readable_lines

SNIPPET = 200
BOM = b"\xef\xbb\xbf"
BLOCK = 8 << 20   # bytes of whole lines the block reader hands to pyarrow at once
LINE_PART = 2000  # documents the per-line reader gathers before handing them on


class ReadResult:
    """Counts of one shard's reading, filled while iterating."""

    def __init__(self) -> None:
        self.records = 0        # documents + quarantined records
        self.blank_lines = 0
        self.quarantine: list[dict] = []
        self.ids: list[str] = []  # ids of the documents read, for the cross-shard uniqueness check,
        self.id_hashes: list[np.ndarray] = []  # and the values_hash64 of whole blocks' ids
        self.fast_blocks = 0    # blocks of plain JSONL read by pyarrow
        self.line_blocks = 0    # blocks read line by line (pyarrow could not be proved identical)


def _quarantine(result: ReadResult, shard: InputShard, line: int, offset: int, error: str, raw: bytes = b"") -> None:
    result.records += 1
    result.quarantine.append({
        "file": shard.path, "line": line, "offset": offset, "source": shard.source,
        "error": error, "snippet": raw[:SNIPPET].decode("utf-8", errors="replace"),
    })


def make_doc(obj: dict, shard: InputShard, line: int) -> dict | str:
    """A document from a parsed record, or an error message."""
    text = obj.pop(shard.text_field, None)
    if text is None:
        return f"missing text field '{shard.text_field}'"
    if not isinstance(text, str):
        return f"text field '{shard.text_field}' is {type(text).__name__}, not a string"
    doc_id = obj.pop(shard.id_field, None)
    if doc_id is None:
        doc_id = f"{shard.source}/{shard.rel}:{line}"
    elif isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    else:
        return f"id field '{shard.id_field}' is {type(doc_id).__name__}, not a string or integer"
    meta = json.dumps(obj, ensure_ascii=False, default=str) if obj else "{}"
    doc = {"id": doc_id, "text": text, "source": shard.source, "meta": meta}
    return unencodable(doc, shard, obj) or doc


def lone_surrogate(value: str) -> int:
    """Index of the first character UTF-8 cannot encode (a lone surrogate such as \\ud800), or -1."""
    if value.isascii():
        return -1
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return -1


def unencodable(doc: dict, shard: InputShard, meta: dict) -> str:
    """Why a document cannot be written as UTF-8 (JSON allows "\\ud800"; UTF-8 has no such
    character, and one would abort the shard's writer), or ''."""
    for field, name in (("text", shard.text_field), ("id", shard.id_field)):
        at = lone_surrogate(doc[field])
        if at >= 0:
            return f"lone surrogate {ascii(doc[field][at])} in field '{name}' at character {at}"
    if lone_surrogate(doc["meta"]) >= 0:
        bad = [k for k, v in meta.items()
               if lone_surrogate(json.dumps({k: v}, ensure_ascii=False, default=str)) >= 0]
        name = ascii(bad[0]) if bad else "meta"
        return f"lone surrogate in meta field {name}"
    return ""


def _cause(exc: BaseException) -> str:
    """One line naming what went wrong with one record, whatever it was."""
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8: {exc.reason} at byte {exc.start}"
    if isinstance(exc, RecursionError):
        return f"JSON nested too deep: {exc}"
    if isinstance(exc, ValueError):
        return f"invalid JSON: {exc}"
    return f"{type(exc).__name__}: {exc}".encode("utf-8", "backslashreplace").decode("utf-8")


def _parse(raw: bytes, shard: InputShard, line: int) -> dict | str:
    """A document from one line, or why not; any exception is the caller's to quarantine."""
    obj = json.loads(raw)
    if not isinstance(obj, dict):
        return f"JSON value is {type(obj).__name__}, not an object"
    return make_doc(obj, shard, line)


class DocBatch:
    """A batch of documents as read: an Arrow table (DOC_SCHEMA) from the block reader, or the
    per-line reader's dicts; either form is made from the other only when asked for."""

    def __init__(self, table: pa.Table | None = None, rows: list[dict] | None = None) -> None:
        self._table = table
        self._rows = rows

    def __len__(self) -> int:
        return self._table.num_rows if self._table is not None else len(self._rows or [])

    def rows(self) -> list[dict]:
        """The documents as dicts (id, text, source, meta), as operators take them."""
        if self._rows is None:
            self._rows = self._table.to_pylist() if self._table is not None else []
        return self._rows

    def table(self) -> pa.Table:
        """The documents as an Arrow table of DOC_SCHEMA (maybe in several chunks)."""
        if self._table is None:
            self._table = pa.Table.from_pylist(self.rows(), schema=DOC_SCHEMA)
        return self._table

    def text_chars(self) -> int:
        """Characters of text (what progress counts as the bytes of a batch)."""
        if self._rows is not None:
            return sum(len(d["text"]) for d in self._rows)
        return int(pc.sum(pc.utf8_length(self._table.column("text"))).as_py() or 0)


class _SortedHashes:
    """A growing set of uint64 hashes, as a few sorted arrays (merged as in a binary counter, so
    adding n hashes costs O(n log n) in all and a lookup searches O(log n) arrays)."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def add(self, sorted_hashes: np.ndarray) -> None:
        if not len(sorted_hashes):
            return
        self._runs.append(sorted_hashes)
        while len(self._runs) > 1 and len(self._runs[-1]) >= len(self._runs[-2]):
            last = self._runs.pop()
            self._runs[-1] = np.sort(np.concatenate([self._runs[-1], last]))

    def intersects(self, sorted_hashes: np.ndarray) -> bool:
        for run in self._runs:
            at = np.searchsorted(run, sorted_hashes).clip(max=len(run) - 1)
            if np.any(run[at] == sorted_hashes):
                return True
        return False


class _Lines:
    """The per-line reader of one shard: every record becomes a document or a quarantine entry.

    Duplicate ids are found exactly with `seen` (id → first line). Blocks read by pyarrow skip it
    while their ids' hashes are all new: distinct hashes are distinct ids. Their ids join `seen`
    only when some hash repeats (a duplicate, or two ids sharing a hash) or a line is read one by
    one; from then on the shard is checked with `seen` alone."""

    def __init__(self, shard: InputShard, result: ReadResult, max_record_bytes: int) -> None:
        self.shard = shard
        self.result = result
        self.limit = max_record_bytes
        self.seen: dict[str, int] = {}
        self._hashed: list[tuple[pa.Array, np.ndarray]] = []  # (ids, their lines) of blocks not in `seen`
        self._hashes: _SortedHashes | None = _SortedHashes()  # theirs; None once everything is in `seen`

    def _exact(self) -> None:
        """From now on every id is in `seen`: add those of the hashed blocks."""
        for ids, lines in self._hashed:
            self.seen.update(zip(ids.to_pylist(), lines.tolist()))
        self._hashed, self._hashes = [], None

    def take(self, line: int, offset: int, raw: bytes | LongLine) -> dict | None:
        """The document of one line, or None (blank, or quarantined into the result)."""
        if self._hashes is not None:
            self._exact()
        shard, result = self.shard, self.result
        if isinstance(raw, LongLine):
            _quarantine(result, shard, line, offset, f"record of {raw.record_bytes} bytes is longer than "
                        f"max_record_bytes ({self.limit}): skipped unread", raw.head)
            return None
        if line == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        if not raw.strip():
            result.blank_lines += 1
            return None
        try:
            doc = _parse(raw, shard, line)
        except Exception as exc:  # RecursionError, MemoryError, ...: this record only
            doc = _cause(exc)
        if isinstance(doc, str):
            _quarantine(result, shard, line, offset, doc, raw)
            return None
        first = self.seen.get(doc["id"])
        if first is not None:
            _quarantine(result, shard, line, offset, f"duplicate id '{doc['id']}' (first at line {first})", raw)
            return None
        self.seen[doc["id"]] = line
        result.ids.append(doc["id"])
        result.records += 1
        return doc

    def unique(self, parsed: ParsedBlock, block: bytes, offset: int) -> pa.Table:
        """A parsed block's documents whose id is new in the shard; the others are quarantined
        as the per-line reader does (the first one with an id is kept). `block` starts with the
        parsed lines (it may hold more after them)."""
        result = self.result
        if self._hashes is not None:
            hashes = values_hash64(parsed.ids)
            ordered = np.sort(hashes)
            if not np.any(ordered[1:] == ordered[:-1]) and not self._hashes.intersects(ordered):
                self._hashes.add(ordered)
                self._hashed.append((parsed.ids, parsed.lines))
                result.id_hashes.append(ordered)
                result.records += len(hashes)
                return parsed.table
            self._exact()
        ids, lines, seen = parsed.ids.to_pylist(), parsed.lines.tolist(), self.seen
        if len(set(ids)) == len(ids) and seen.keys().isdisjoint(ids):
            seen.update(zip(ids, lines))
            result.ids.extend(ids)
            result.records += len(ids)
            return parsed.table
        keep = []
        for k, (doc_id, line) in enumerate(zip(ids, lines)):
            first = seen.get(doc_id)
            if first is None:
                seen[doc_id] = line
                result.ids.append(doc_id)
                result.records += 1
                keep.append(True)
                continue
            start, end = int(parsed.starts[k]), int(parsed.ends[k])
            _quarantine(result, self.shard, line, offset + start, f"duplicate id '{doc_id}' (first at line {first})",
                        block[start:end + 1])
            keep.append(False)
        return parsed.table.filter(pa.array(keep))

    def in_memory(self, block: bytes, offset: int, line: int) -> list[dict]:
        """The documents of a block of whole lines held in memory, line by line; a line longer
        than the limit is quarantined exactly as bounded_lines would have cut it."""
        docs = []
        for raw in _split_lines(block):
            body = len(raw) - 1 if raw.endswith(b"\n") else len(raw)
            item: bytes | LongLine = raw
            if body > self.limit:
                item = LongLine(size=len(raw), head=raw[:min(HEAD, self.limit + 1)], terminated=raw.endswith(b"\n"))
            doc = self.take(line, offset, item)
            if doc is not None:
                docs.append(doc)
            offset += len(raw)
            line += 1
        return docs


def _split_lines(block: bytes) -> Iterator[bytes]:
    """The lines of a block, each with its newline (only b"\\n" ends a line, as in readline)."""
    start = 0
    find = block.find
    while start < len(block):
        end = find(b"\n", start) + 1 or len(block)
        yield block[start:end]
        start = end


def read_shard(shard: InputShard, result: ReadResult, batch_size: int,
               max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[list[dict]]:
    """Yield batches of documents as dicts; quarantine entries accumulate in `result`.

    Whatever one record holds (bad JSON, nesting 100,000 deep, a lone surrogate, more bytes than
    max_record_bytes) it becomes a quarantine entry and reading goes on with the next line."""
    for batch in read_batches(shard, result, batch_size, max_record_bytes):
        yield batch.rows()


def read_batches(shard: InputShard, result: ReadResult, batch_size: int,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, blocks: bool = True) -> Iterator[DocBatch]:
    """read_shard's batches as DocBatch: plain JSONL goes through the block reader (pyarrow on
    blocks of whole lines, line by line where a block cannot be proved identical), so a batch
    that nobody needs as dicts is never turned into dicts. `blocks=False`: line by line only.

    The batches hold batch_size documents each (the last one fewer), the same documents and the
    same quarantine entries whichever path read them."""
    if shard.format == "broken":
        _quarantine(result, shard, 0, 0, f"unreadable parquet file: {shard.error}")
        return
    if shard.format == "parquet":
        for docs in _read_parquet(shard, result, batch_size, arrow=blocks):
            yield DocBatch(rows=docs) if isinstance(docs, list) else DocBatch(table=docs)
        return
    reader = _Lines(shard, result, max_record_bytes)
    if shard.format == "jsonl" and blocks:
        parts = _block_parts(reader)
    else:
        parts = _line_parts(reader)
    pending: list[pa.Table | list[dict]] = []
    count = 0
    for part in parts:
        pending.append(part)
        count += len(part) if isinstance(part, list) else part.num_rows
        while count >= batch_size:
            batch, pending, count = _cut(pending, batch_size), _rest(pending, batch_size), count - batch_size
            yield batch
    if count:
        yield _cut(pending, count)


def _cut(parts: list, n: int) -> DocBatch:
    """The first n documents of `parts` (tables and lists of dicts) as one batch."""
    taken: list = []
    need = n
    for part in parts:
        size = len(part) if isinstance(part, list) else part.num_rows
        taken.append(part[:need] if isinstance(part, list) else part.slice(0, need))
        need -= min(size, need)
        if not need:
            break
    if all(isinstance(p, list) for p in taken):
        return DocBatch(rows=[d for p in taken for d in p])
    tables = [p if not isinstance(p, list) else pa.Table.from_pylist(p, schema=DOC_SCHEMA) for p in taken]
    return DocBatch(table=pa.concat_tables(tables) if len(tables) > 1 else tables[0])


def _rest(parts: list, n: int) -> list:
    """`parts` without their first n documents."""
    out: list = []
    for part in parts:
        size = len(part) if isinstance(part, list) else part.num_rows
        if n >= size:
            n -= size
            continue
        out.append(part[n:] if isinstance(part, list) else part.slice(n))
        n = 0
    return out


def _line_parts(reader: _Lines) -> Iterator[list[dict]]:
    """The per-line reader over a shard's stream (plain or compressed), in lists of documents."""
    shard, result = reader.shard, reader.result
    docs: list[dict] = []
    line, offset = shard.first_line, shard.start if shard.format == "jsonl" else 0
    try:
        for line, offset, raw in iter_lines(shard, reader.limit):
            doc = reader.take(line, offset, raw)
            if doc is not None:
                docs.append(doc)
                if len(docs) >= LINE_PART:
                    yield docs
                    docs = []
    except Exception as exc:  # truncated/corrupt stream (EOFError, OSError, zstd errors): prefix kept above
        _quarantine(result, shard, line + 1, offset, f"read error after line {line}: {type(exc).__name__}: {exc}")
    if docs:
        yield docs


def _block_parts(reader: _Lines) -> Iterator[pa.Table | list[dict]]:
    """A plain JSONL shard in blocks of whole lines: pyarrow where the block is provably read as
    the per-line reader reads it, the per-line reader elsewhere (and for a line longer than a block)."""
    shard, result = reader.shard, reader.result
    fields = Fields(shard.text_field, shard.id_field)
    id_prefix = f"{shard.source}/{shard.rel}:"
    pos, line = shard.start, shard.first_line
    last_line, last_offset = line, pos  # where a read error is reported, as the per-line reader does
    try:
        with readable_lines(fs.open(shard.path, "rb")) as fh:
            while pos < shard.end:
                fh.seek(pos)
                data = fh.read(min(BLOCK, shard.end - pos))
                if not data:
                    break
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # no whole line in a block (a long line, or the last one without a newline)
                    fh.seek(pos)
                    raw = next(bounded_lines(fh, reader.limit), None)
                    if raw is None:
                        break
                    last_line, last_offset = line, pos
                    doc = reader.take(line, pos, raw)
                    if doc is not None:
                        yield [doc]
                    pos += raw.size if isinstance(raw, LongLine) else len(raw)
                    line += 1
                    continue
                block = memoryview(data)[:cut]  # the whole lines, not copied
                try:
                    parsed = parse_block(block, line, shard.source, id_prefix, fields, reader.limit)
                except Exception:  # whatever pyarrow makes of a block, the per-line reader is the reference
                    parsed = None
                del block
                lines = parsed.n_lines if parsed is not None else data.count(b"\n", 0, cut)
                if parsed is not None:
                    result.blank_lines += lines - parsed.table.num_rows
                    result.fast_blocks += 1
                    table = reader.unique(parsed, data, pos)
                    if table.num_rows:
                        yield table
                else:
                    result.line_blocks += 1
                    docs = reader.in_memory(data[:cut], pos, line)
                    if docs:
                        yield docs
                last_line = line + lines - 1
                last_offset = pos + data.rfind(b"\n", 0, cut - 1) + 1
                del data
                pos += cut
                line += lines
    except Exception as exc:  # an I/O error: what came before is kept, as the per-line reader does
        _quarantine(result, shard, last_line + 1, last_offset, f"read error after line {last_line}: "
                    f"{type(exc).__name__}: {exc}")


def _parquet_rows(table) -> Iterator[dict | str]:
    """The rows of a record batch as dicts; a row that cannot be converted (invalid UTF-8 in a
    string column, ...) as the reason, found row by row when the whole batch fails."""
    try:
        yield from table.to_pylist()
        return
    except Exception:
        pass
    for k in range(table.num_rows):
        try:
            yield table.slice(k, 1).to_pylist()[0]
        except Exception as exc:
            yield _cause(exc)


_META_TYPES = (pa.types.is_string, pa.types.is_integer, pa.types.is_boolean, pa.types.is_null)


def _parquet_documents(batch: pa.RecordBatch, shard: InputShard, first_row: int) -> pa.Table | None:
    """A parquet batch's documents (DOC_SCHEMA) made by Arrow kernels, or None when they might
    differ from what make_doc makes of each row (the caller then goes row by row): the text must
    be a string on every row, the id a string or an integer, and the other columns strings,
    integers or booleans (json.dumps writes a float or a date its own way)."""
    names = batch.schema.names
    text_field, id_field = shard.text_field, shard.id_field
    if text_field not in names or text_field == id_field or len(set(names)) != len(names):
        return None
    text = batch.column(text_field)
    if text.type != pa.string() or text.null_count:
        return None
    others = [n for n in names if n not in (text_field, id_field)]
    if not all(any(ok(batch.schema.field(n).type) for ok in _META_TYPES) for n in others):
        return None
    try:
        batch.validate(full=True)  # invalid UTF-8: row by row, where it is quarantined
        table = pa.Table.from_batches([batch])
        table = table.cast(pa.schema([f.with_type(pa.int64()) if pa.types.is_integer(f.type) else f
                                      for f in table.schema]))  # an unsigned value past int64: row by row
        ids = ids_column(table, id_field, f"{shard.source}/{shard.rel}:",
                         np.arange(first_row, first_row + table.num_rows))
    except (pa.ArrowException, UnicodeEncodeError):
        return None
    if ids is None:
        return None
    meta = meta_uniform(others, table) if others else pa.repeat(pa.scalar("{}", pa.string()), len(text))
    return pa.Table.from_arrays([ids, table.column(text_field), pa.repeat(pa.scalar(shard.source, pa.string()),
                                 len(text)), meta], schema=DOC_SCHEMA)


def _read_parquet(shard: InputShard, result: ReadResult, batch_size: int,
                  arrow: bool = True) -> Iterator[list[dict] | pa.Table]:
    """The documents of a parquet shard, batch by batch: a table where Arrow kernels provably make
    them as make_doc does (`arrow`), else dicts, row by row."""
    row = shard.first_line
    try:
        pf = fs.parquet_file(shard.path)
        groups = list(range(shard.start, shard.end))
        if not groups:
            return
        for table in pf.iter_batches(batch_size=batch_size, row_groups=groups):
            docs = _parquet_documents(table, shard, row) if arrow else None
            if docs is not None:
                result.records += docs.num_rows
                result.id_hashes.append(values_hash64(docs.column("id")))
                row += table.num_rows
                if docs.num_rows:
                    yield docs
                continue
            batch = []
            for obj in _parquet_rows(table):
                try:
                    doc = obj if isinstance(obj, str) else make_doc(obj, shard, row)
                except Exception as exc:
                    doc = _cause(exc)
                if isinstance(doc, str):
                    _quarantine(result, shard, row, 0, f"row {row}: {doc}")
                else:
                    result.records += 1
                    result.ids.append(doc["id"])
                    batch.append(doc)
                row += 1
            if batch:
                yield batch
    except Exception as exc:
        _quarantine(result, shard, row, 0, f"parquet read error at row {row}: {type(exc).__name__}: {exc}")
