"""What an n-gram model counts: UTF-8 bytes, a Garden tokenizer's ids, or whitespace words.

Bytes need no tokenizer and no word segmenter (Chinese works as is). A tokenizer's JSON is
stored inside the model so a model file is self-contained. `words` exists to read word-level
ARPA files written by other tools. Ids 0..V-1 are the vocabulary; V, V+1, V+2 are <s>, </s>,
<unk>.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Sequence

import numpy as np

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_BYTE_PIECE = re.compile(r"^<0x([0-9A-F]{2})>$")


@dataclasses.dataclass
class TokenSpec:
    kind: str  # bytes | tokenizer | words
    tokenizer_json: str = ""  # the whole tokenizer.json (kind tokenizer)
    words: list[str] = dataclasses.field(default_factory=list)  # vocabulary (kind words)

    def __post_init__(self) -> None:
        if self.kind not in ("bytes", "tokenizer", "words"):
            raise ValueError(f"token kind must be bytes, tokenizer or words, got {self.kind!r}")
        self._tok = None
        self._word_ids = {w: i for i, w in enumerate(self.words)} if self.kind == "words" else {}

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_option(cls, value: str | None) -> "TokenSpec":
        """`bytes` (or empty) or a path to a tokenizer.json / a directory holding one."""
        if not value or value == "bytes":
            return cls("bytes")
        path = os.path.join(value, "tokenizer.json") if os.path.isdir(value) else value
        if not os.path.isfile(path):
            raise FileNotFoundError(f"tokenizer not found: {value} (give a tokenizer.json, its directory, or 'bytes')")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        spec = cls("tokenizer", tokenizer_json=text)
        spec.tokenizer()  # fail now on a file that is not a tokenizer
        return spec

    # -- vocabulary --------------------------------------------------------------------
    def tokenizer(self):
        if self._tok is None and self.kind == "tokenizer":
            from tokenizers import Tokenizer

            try:
                self._tok = Tokenizer.from_str(self.tokenizer_json)
            except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
                raise ValueError(f"not a tokenizers tokenizer.json: {exc}") from None
        return self._tok

    @property
    def vocab_size(self) -> int:
        if self.kind == "bytes":
            return 256
        if self.kind == "words":
            return len(self.words)
        return self.tokenizer().get_vocab_size(with_added_tokens=True)

    @property
    def bos(self) -> int:
        return self.vocab_size

    @property
    def eos(self) -> int:
        return self.vocab_size + 1

    @property
    def unk(self) -> int:
        return self.vocab_size + 2

    def encode(self, lines: Sequence[str]) -> list[np.ndarray]:
        """Token ids of already-normalised lines (no <s>/</s>)."""
        if self.kind == "bytes":
            return [np.frombuffer(line.encode("utf-8"), dtype=np.uint8).astype(np.int64) for line in lines]
        if self.kind == "words":
            unk = self.unk
            return [np.array([self._word_ids.get(w, unk) for w in line.split()], dtype=np.int64) for line in lines]
        encs = self.tokenizer().encode_batch(list(lines), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encs]

    def piece(self, token_id: int) -> str:
        """A printable, space-free name of a token, as written in ARPA files."""
        if token_id == self.bos:
            return BOS
        if token_id == self.eos:
            return EOS
        if token_id == self.unk:
            return UNK
        if self.kind == "bytes":
            return f"<0x{token_id:02X}>"
        if self.kind == "words":
            return self.words[token_id]
        piece = self.tokenizer().id_to_token(int(token_id))
        return piece if piece and not any(c.isspace() for c in piece) else f"<id:{token_id}>"

    def piece_ids(self) -> dict[str, int]:
        """Inverse of `piece` for every id (used when reading ARPA)."""
        return {self.piece(i): i for i in range(self.vocab_size + 3)}

    def to_meta(self) -> dict:
        return {"kind": self.kind, "words": len(self.words)}

    @classmethod
    def from_pieces(cls, pieces: Sequence[str]) -> "TokenSpec":
        """Guess the tokens of an ARPA file without a sidecar: byte pieces, else words."""
        plain = [p for p in pieces if p not in (BOS, EOS, UNK)]
        if plain and all(_BYTE_PIECE.match(p) for p in plain):
            return cls("bytes")
        return cls("words", words=sorted(set(plain)))


def spec_to_json(spec: TokenSpec) -> str:
    return json.dumps({"kind": spec.kind, "tokenizer_json": spec.tokenizer_json, "words": spec.words})


def spec_from_json(text: str) -> TokenSpec:
    data = json.loads(text)
    return TokenSpec(data["kind"], data.get("tokenizer_json", ""), data.get("words", []))
