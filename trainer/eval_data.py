"""Held-out documents for `garden eval`: text files, token shards, or a blend.json's valid split.

Every input becomes one `EvalInput` (a named source) and yields `EvalDoc`s: the document's
token ids with the end-of-document token appended as in training, and its size in UTF-8 bytes.

- Text (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`, `.parquet`: one document per record, field `text`;
  any other file: the whole file is one document) is encoded with the run's tokenizer exactly as
  `tokenize` does (`encode_flat`, no special tokens, EOD after each document).
  Bytes are the UTF-8 bytes of the text.
- Token shards (a Megatron prefix, `.bin` or `.idx`) are used as stored; bytes come from decoding
  each document's tokens (without its trailing EOD) with the run's tokenizer.
- A `blend.json` gives one source per blend source: its `<source>_valid` shard when `tokenize`
  held documents out (`--split test`: `_test`), else the documents megatron's `split` assigns to
  valid (test), which training never reads. A source with neither is skipped with a warning.

Source names: the file stem (`web.jsonl.gz` -> `web`, prefix `tokens/web_valid` -> `web_valid`)
unless given as `NAME=PATH`; several inputs with one name form one source.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from garden.io.inputs import InputShard, file_format
from garden.io.reader import ReadResult, read_shard

TEXT_RECORD_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst", ".parquet")
SHARD_SUFFIXES = (".bin", ".idx")
NAME_RE = re.compile(r"^[\w.-]+$")
READ_BATCH = 256


class EvalInputError(ValueError):
    """An input that cannot be read; the message names it."""


@dataclasses.dataclass(frozen=True)
class EvalDoc:
    id: str
    tokens: np.ndarray  # token ids, ending with EOD when the data has one
    bytes: int | None   # UTF-8 bytes of the document's text (None: no tokenizer to decode with)


@dataclasses.dataclass(frozen=True)
class EvalPart:
    """One file or shard of a source; `docs` limits a shard to a [begin, end) document range."""
    kind: str  # "text" | "tokens"
    path: str  # a file, or a shard prefix
    docs: tuple[int, int] | None = None


@dataclasses.dataclass
class EvalInput:
    name: str
    parts: list[EvalPart]


@dataclasses.dataclass(frozen=True)
class Codec:
    """What turning text into scored tokens needs: the run's tokenizer and its EOD id."""
    tokenizer: object | None  # tokenizers.Tokenizer; None: token shards only, bytes unknown
    eod_id: int


def stem(path: str) -> str:
    base = os.path.basename(path.rstrip("/"))
    for suffix in TEXT_RECORD_SUFFIXES + SHARD_SUFFIXES + (".txt", ".md"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return os.path.splitext(base)[0] or base


def _split_name(arg: str) -> tuple[str | None, str]:
    """`NAME=PATH` -> (NAME, PATH); a plain path (even one containing '=') -> (None, path)."""
    if "=" in arg and not os.path.exists(arg):
        name, path = arg.split("=", 1)
        if NAME_RE.match(name):
            return name, path
    return None, arg


def _shard_prefix(path: str) -> str | None:
    for suffix in SHARD_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return path if os.path.isfile(path + ".bin") and os.path.isfile(path + ".idx") else None


def parse_inputs(args: list[str], split: str = "valid",
                 warn: Callable[[str], None] = print) -> list[EvalInput]:
    """INPUTS arguments -> named sources (in order of first appearance)."""
    if split not in ("valid", "test"):
        raise EvalInputError(f"--split must be valid or test, not {split!r}")
    sources: dict[str, EvalInput] = {}

    def add(name: str, part: EvalPart) -> None:
        sources.setdefault(name, EvalInput(name, [])).parts.append(part)

    for arg in args:
        name, path = _split_name(arg)
        if os.path.basename(path) == "blend.json" or (path.endswith(".json") and _is_blend(path)):
            for src, part in blend_parts(path, split, warn):
                add(f"{name}.{src}" if name else src, part)
            continue
        prefix = _shard_prefix(path)
        if prefix is not None:
            add(name or stem(prefix), EvalPart("tokens", prefix))
        elif os.path.isfile(path):
            add(name or stem(path), EvalPart("text", path))
        elif path.endswith(SHARD_SUFFIXES) or os.path.isfile(path + ".bin") or os.path.isfile(path + ".idx"):
            raise EvalInputError(f"{path}: a token shard needs both {stem(path)}.bin and .idx")
        else:
            raise EvalInputError(f"{path}: no such file (nor a token shard prefix with .bin/.idx)")
    return list(sources.values())


def _is_blend(path: str) -> bool:
    try:
        with open(path) as fh:
            raw = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and "sources" in raw and "phases" in raw


def blend_parts(path: str, split: str, warn: Callable[[str], None]) -> list[tuple[str, EvalPart]]:
    """(source, part) for the held-out `split` of every source of a blend.json."""
    try:
        with open(path) as fh:
            raw = json.load(fh)
        sources = raw["sources"]
    except OSError as e:
        raise EvalInputError(f"{path}: cannot read: {e.strerror}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise EvalInputError(f"{path}: not a blend.json ({type(e).__name__}: {e})") from None
    base = Path(path).resolve().parent
    out = []
    for src, entry in sorted(sources.items()):
        held = entry.get(split)
        if held and held.get("prefix"):
            out.append((src, EvalPart("tokens", _resolve(base, held["prefix"]))))
            continue
        prefix = _resolve(base, entry["prefix"])
        docs = split_range(str(raw.get("split", "100,0,0")), split, _document_count(prefix))
        if docs is None:
            warn(f"warning: {path}: source {src!r} has no held-out {split} data (no {src}_{split} "
                 f"shard and split {raw.get('split', '100,0,0')!r} gives it no {split} documents); skipped")
            continue
        out.append((src, EvalPart("tokens", prefix, docs)))
    return out


def _resolve(base: Path, prefix: str) -> str:
    p = Path(prefix)
    return str(p if p.is_absolute() else base / p)


def _document_count(prefix: str) -> int:
    from garden.megatron_format import read_lengths

    try:
        return len(read_lengths(prefix)[1])
    except (OSError, ValueError) as e:
        raise EvalInputError(f"{prefix}.idx: unreadable ({e})") from None


def split_range(split: str, which: str, n_docs: int) -> tuple[int, int] | None:
    """The [begin, end) documents megatron assigns to `which` under `split` (its own rounding)."""
    from megatron.core.datasets.blended_megatron_dataset_config import (
        convert_split_vector_to_split_matrix, parse_and_normalize_split)

    bounds = convert_split_vector_to_split_matrix(parse_and_normalize_split(split))[
        ("train", "valid", "test").index(which)]
    if bounds is None:
        return None
    begin, end = int(round(bounds[0] * n_docs)), int(round(bounds[1] * n_docs))
    return (begin, end) if end > begin else None


def iter_documents(inp: EvalInput, codec: Codec) -> Iterator[EvalDoc]:
    for part in inp.parts:
        if part.kind == "tokens":
            yield from _shard_documents(part, codec)
        elif file_format(part.path) != "jsonl" or part.path.endswith((".jsonl", ".json")):
            yield from _record_documents(inp.name, part.path, codec)
        else:
            yield from _whole_file_document(part.path, codec)


def _encode(texts: list[str], codec: Codec) -> list[np.ndarray]:
    from operators.tokens import encode_flat

    if codec.tokenizer is None:
        raise EvalInputError("text inputs need the run's tokenizer, which was not found (see above)")
    flat, lengths = encode_flat(codec.tokenizer, texts, np.dtype(np.int64), codec.eod_id)
    return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []


def _record_documents(source: str, path: str, codec: Codec) -> Iterator[EvalDoc]:
    """jsonl / jsonl.gz / jsonl.zst / parquet records through Garden's own reader."""
    try:
        fmt = file_format(path)
        size = os.path.getsize(path)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            end = pq.ParquetFile(path).metadata.num_row_groups
            start = 0
        else:
            start, end = (0, size) if fmt == "jsonl" else (1, -1)
    except Exception as e:  # noqa: BLE001 - any unreadable file becomes one line naming it
        raise EvalInputError(f"{path}: unreadable: {type(e).__name__}: {e}") from None
    shard = InputShard(index=0, path=path, source=source, rel=os.path.basename(path), format=fmt,
                       start=start, end=end, first_line=1, size=size)
    result = ReadResult()
    for batch in read_shard(shard, result, READ_BATCH):
        _fail_on_quarantine(result)
        for doc, ids in zip(batch, _encode([d["text"] for d in batch], codec)):
            yield EvalDoc(doc["id"], ids, len(doc["text"].encode("utf-8")))
    _fail_on_quarantine(result)


def _fail_on_quarantine(result: ReadResult) -> None:
    if result.quarantine:
        q = result.quarantine[0]
        more = f" (and {len(result.quarantine) - 1} more)" if len(result.quarantine) > 1 else ""
        raise EvalInputError(f"{q['file']}:{q['line']}: {q['error']}{more}")


def _whole_file_document(path: str, codec: Codec) -> Iterator[EvalDoc]:
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise EvalInputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise EvalInputError(f"{path}: cannot read: {e.strerror}") from None
    yield EvalDoc(path, _encode([text], codec)[0], len(text.encode("utf-8")))


def _shard_documents(part: EvalPart, codec: Codec) -> Iterator[EvalDoc]:
    from garden.megatron_format import IndexedDatasetReader

    try:
        ds = IndexedDatasetReader(part.path)
    except (OSError, ValueError, KeyError) as e:
        raise EvalInputError(f"{part.path}.idx: unreadable token shard ({e})") from None
    expected = int(ds.sequence_pointers[-1]) + int(ds.sequence_lengths[-1]) * ds.dtype.itemsize if len(ds) else 0
    if os.path.getsize(part.path + ".bin") < expected:
        raise EvalInputError(f"{part.path}.bin: truncated ({os.path.getsize(part.path + '.bin')} bytes, "
                             f"the .idx needs {expected})")
    begin, end = part.docs or (0, len(ds))
    name = os.path.basename(part.path)
    for i in range(begin, end):
        ids = ds[i].astype(np.int64)
        n_bytes = None
        if codec.tokenizer is not None:
            text_ids = ids[:-1] if len(ids) and ids[-1] == codec.eod_id else ids
            n_bytes = len(codec.tokenizer.decode(text_ids.tolist(), skip_special_tokens=False).encode("utf-8"))
        yield EvalDoc(f"{name}:{i}", ids, n_bytes)
