"""Write and read ARPA back-off language models, the format KenLM and SRILM exchange.

Tokens are written as printable pieces: `<0x41>` for a byte, the tokenizer's own piece
(`Ġthe`) for a tokenizer id. ARPA has no room for Garden's settings (KenLM refuses text
before `\\data\\`), so they go to a sidecar `<file>.garden.json` (token kind, tokenizer,
normalisation); without it the tokens are guessed (byte pieces, else whitespace words).
"""
from __future__ import annotations

import gzip
import json
import os
from typing import IO, Iterator

import numpy as np

from garden.io import fs
from garden.hashing import rows_keys
from garden.lm.model import NgramModel, OrderTable
from garden.lm.normalize import Normalizer
from garden.lm.tokens import UNK, TokenSpec, spec_from_json, spec_to_json

SIDECAR = ".garden.json"


def write_arpa(model: NgramModel, path: str) -> None:
    """Write `path` and its sidecar, each atomically (Garden's one temp-file rule: fs.StagedFile)."""
    fs.atomic_write_bytes(path + SIDECAR, json.dumps(sidecar(model)).encode())
    with fs.StagedFile(path) as staged, open(staged.local, "w", encoding="utf-8") as fh:
        write_arpa_stream(model, fh)


def sidecar(model: NgramModel) -> dict:
    """What ARPA cannot hold: the token kind (and tokenizer) and the normalisation."""
    return {"token_spec": json.loads(spec_to_json(model.spec)), "normalize": model.normalizer.to_dict()}


def write_arpa_stream(model: NgramModel, fh: IO[str]) -> None:
    spec = model.spec
    sizes = model.num_ngrams()
    has_unk = not np.any(model.tables[0].tokens[:, 0] == spec.unk)
    fh.write("\\data\\\n")
    for n, k in enumerate(sizes, 1):
        fh.write(f"ngram {n}={k + (1 if n == 1 and has_unk else 0)}\n")
    pieces = _piece_cache(spec)
    for n, t in enumerate(model.tables, 1):
        fh.write(f"\n\\{n}-grams:\n")
        if n == 1 and has_unk:
            fh.write(f"{model.unk_logp:.6f}\t{UNK}\t0\n" if model.order > 1 else f"{model.unk_logp:.6f}\t{UNK}\n")
        for row, lp, bo in zip(t.tokens, t.logp, t.backoff):
            words = " ".join(pieces(int(x)) for x in row)
            if n < model.order:
                fh.write(f"{lp:.6f}\t{words}\t{bo:.6f}\n")
            else:
                fh.write(f"{lp:.6f}\t{words}\n")
    fh.write("\n\\end\\\n")


def _piece_cache(spec: TokenSpec):
    cache: dict[int, str] = {}

    def piece(i: int) -> str:
        if i not in cache:
            cache[i] = spec.piece(i)
        return cache[i]
    return piece


def _open_text(path: str) -> IO[str]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_arpa(path: str) -> NgramModel:
    """Parse an ARPA file (plain or .gz); ValueError naming the line on malformed input."""
    sidecar = path + SIDECAR
    spec = normalizer = None
    if os.path.exists(sidecar):
        with open(sidecar, encoding="utf-8") as fh:
            side = json.load(fh)
        spec = spec_from_json(json.dumps(side["token_spec"]))
        normalizer = Normalizer.from_dict(side.get("normalize"))
    with _open_text(path) as fh:
        sections = _parse(fh, path)
    if spec is None:
        spec = TokenSpec.from_pieces([entry[1][0] for entry in sections[0]])
        normalizer = Normalizer()
    ids = spec.piece_ids()
    unk_logp = -100.0
    tables = []
    for n, entries in enumerate(sections, 1):
        rows, logp, bo = [], [], []
        for lp, words, b in entries:
            if n == 1 and words[0] == UNK:
                unk_logp = lp
                continue
            row = [ids.get(w, spec.unk) for w in words]
            rows.append(row)
            logp.append(lp)
            bo.append(b)
        tokens = np.array(rows, dtype=np.int64).reshape(len(rows), n)
        keys = rows_keys(tokens)
        order = np.argsort(keys, kind="stable")
        tables.append(OrderTable(keys[order], np.array(logp, np.float32)[order], np.array(bo, np.float32)[order],
                                 tokens[order]))
    return NgramModel(tables, spec, normalizer or Normalizer(), unk_logp, {"source": "arpa"})


def _parse(fh: IO[str], path: str) -> list[list[tuple[float, list[str], float]]]:
    lines = _numbered(fh)
    declared: list[int] = []
    for no, line in lines:
        if line == "\\data\\":
            break
        if line:
            raise ValueError(f"{path}:{no}: not an ARPA file (expected \\data\\, got {line[:40]!r})")
    else:
        raise ValueError(f"{path}: not an ARPA file (no \\data\\ line)")
    sections: list[list] = []
    current: list | None = None
    order = 0
    for no, line in lines:
        if not line:
            continue
        if line.startswith("ngram ") and current is None:
            try:
                declared.append(int(line.split("=", 1)[1]))
            except (IndexError, ValueError):
                raise ValueError(f"{path}:{no}: bad count line {line!r}") from None
        elif line == "\\end\\":
            break
        elif line.startswith("\\") and line.endswith("-grams:"):
            order += 1
            if line != f"\\{order}-grams:":
                raise ValueError(f"{path}:{no}: expected \\{order}-grams:, got {line!r}")
            current = []
            sections.append(current)
        elif current is not None:
            parts = line.split("\t") if "\t" in line else line.split()
            if "\t" in line:
                words = parts[1].split()
                rest = parts[2:]
            else:
                words, rest = parts[1:1 + order], parts[1 + order:]
            try:
                lp = float(parts[0])
                b = float(rest[0]) if rest else 0.0
            except ValueError:
                raise ValueError(f"{path}:{no}: bad n-gram line {line[:60]!r}") from None
            if len(words) != order:
                raise ValueError(f"{path}:{no}: expected {order} tokens, got {len(words)}")
            current.append((lp, words, b))
        else:
            raise ValueError(f"{path}:{no}: unexpected line {line[:60]!r}")
    if not sections or len(sections) != len(declared):
        raise ValueError(f"{path}: ARPA header declares {len(declared)} orders, found {len(sections)}")
    for n, (want, got) in enumerate(zip(declared, sections), 1):
        if want != len(got):
            raise ValueError(f"{path}: {n}-grams: header says {want}, found {len(got)}")
    return sections


def _numbered(fh: IO[str]) -> Iterator[tuple[int, str]]:
    for no, line in enumerate(fh, 1):
        yield no, line.strip()
