"""Turn an input shard into documents, and every unreadable record into a quarantine entry.

Nothing is lost: a record is either a document or a quarantine entry naming file, line,
byte offset, error and a snippet of the raw bytes.
"""
from __future__ import annotations

import json
from typing import Iterator

from garden.io import fs
from garden.io.inputs import InputShard, iter_lines
from garden.io.lines import DEFAULT_MAX_RECORD_BYTES, LongLine

SNIPPET = 200
BOM = b"\xef\xbb\xbf"


class ReadResult:
    """Counts of one shard's reading, filled while iterating."""

    def __init__(self) -> None:
        self.records = 0        # documents + quarantined records
        self.blank_lines = 0
        self.quarantine: list[dict] = []
        self.ids: list[str] = []  # ids of the documents read, for the cross-shard uniqueness check


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


def read_shard(shard: InputShard, result: ReadResult, batch_size: int,
               max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[list[dict]]:
    """Yield batches of documents; quarantine entries accumulate in `result`.

    Whatever one record holds (bad JSON, nesting 100,000 deep, a lone surrogate, more bytes than
    max_record_bytes) it becomes a quarantine entry and reading goes on with the next line."""
    if shard.format == "broken":
        _quarantine(result, shard, 0, 0, f"unreadable parquet file: {shard.error}")
        return
    if shard.format == "parquet":
        yield from _read_parquet(shard, result, batch_size)
        return
    seen: dict[str, int] = {}
    batch: list[dict] = []
    line, offset = shard.first_line, shard.start if shard.format == "jsonl" else 0
    try:
        for line, offset, raw in iter_lines(shard, max_record_bytes):
            if isinstance(raw, LongLine):
                _quarantine(result, shard, line, offset, f"record of {raw.record_bytes} bytes is longer than "
                            f"max_record_bytes ({max_record_bytes}): skipped unread", raw.head)
                continue
            if line == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            if not raw.strip():
                result.blank_lines += 1
                continue
            try:
                doc = _parse(raw, shard, line)
            except Exception as exc:  # RecursionError, MemoryError, ...: this record only
                doc = _cause(exc)
            if isinstance(doc, str):
                _quarantine(result, shard, line, offset, doc, raw)
                continue
            first = seen.get(doc["id"])
            if first is not None:
                _quarantine(result, shard, line, offset, f"duplicate id '{doc['id']}' (first at line {first})", raw)
                continue
            seen[doc["id"]] = line
            result.ids.append(doc["id"])
            result.records += 1
            batch.append(doc)
            if len(batch) >= batch_size:
                yield batch
                batch = []
    except Exception as exc:  # truncated/corrupt stream (EOFError, OSError, zstd errors): prefix kept above
        _quarantine(result, shard, line + 1, offset, f"read error after line {line}: {type(exc).__name__}: {exc}")
    if batch:
        yield batch


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


def _read_parquet(shard: InputShard, result: ReadResult, batch_size: int) -> Iterator[list[dict]]:
    row = shard.first_line
    try:
        pf = fs.parquet_file(shard.path)
        groups = list(range(shard.start, shard.end))
        if not groups:
            return
        for table in pf.iter_batches(batch_size=batch_size, row_groups=groups):
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
