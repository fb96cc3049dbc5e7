"""Turn an input shard into documents, and every unreadable record into a quarantine entry.

Nothing is lost: a record is either a document or a quarantine entry naming file, line,
byte offset, error and a snippet of the raw bytes.
"""
from __future__ import annotations

import json
from typing import Iterator

from garden.io import fs
from garden.io.inputs import InputShard, iter_lines

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
    return {"id": doc_id, "text": text, "source": shard.source, "meta": meta}


def read_shard(shard: InputShard, result: ReadResult, batch_size: int) -> Iterator[list[dict]]:
    """Yield batches of documents; quarantine entries accumulate in `result`."""
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
        for line, offset, raw in iter_lines(shard):
            if line == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            if not raw.strip():
                result.blank_lines += 1
                continue
            try:
                obj = json.loads(raw)
            except UnicodeDecodeError as exc:
                _quarantine(result, shard, line, offset, f"invalid UTF-8: {exc.reason} at byte {exc.start}", raw)
                continue
            except ValueError as exc:
                _quarantine(result, shard, line, offset, f"invalid JSON: {exc}", raw)
                continue
            if not isinstance(obj, dict):
                _quarantine(result, shard, line, offset, f"JSON value is {type(obj).__name__}, not an object", raw)
                continue
            doc = make_doc(obj, shard, line)
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


def _read_parquet(shard: InputShard, result: ReadResult, batch_size: int) -> Iterator[list[dict]]:
    row = shard.first_line
    try:
        pf = fs.parquet_file(shard.path)
        groups = list(range(shard.start, shard.end))
        if not groups:
            return
        for table in pf.iter_batches(batch_size=batch_size, row_groups=groups):
            batch = []
            for obj in table.to_pylist():
                doc = make_doc(obj, shard, row)
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
