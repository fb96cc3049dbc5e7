"""The trainer's part of blend.json: where each source's held-out documents are.

Reading and checking blend.json (docs/blend-format.md) is garden.blend's, shared with `mix` and
`curriculum`; its names are re-exported here for the trainer's callers.
"""

from __future__ import annotations

from dataclasses import dataclass

from garden.blend import MEGATRON_URL_SCHEMES, Blend, BlendError, check_splits, load_blend

__all__ = ["MEGATRON_URL_SCHEMES", "Blend", "BlendError", "HeldOut", "check_splits", "held_out", "load_blend"]


@dataclass
class HeldOut:
    """Where a source's held-out documents are: documents [begin, end) of a Megatron dataset."""
    prefix: str
    begin: int
    end: int
    origin: str  # "valid shards" (tokenize's <source>_valid) or "blend split" (blend.json's split)

    def to_dict(self) -> dict:
        return {"prefix": self.prefix, "begin": self.begin, "end": self.end, "origin": self.origin}


def held_out(blend: Blend, names: list[str]) -> tuple[dict[str, HeldOut], dict[str, str]]:
    """Held-out data of each named source, never training data: tokenize's `<source>_valid`
    shards, else the valid part of blend.json's split (documents megatron leaves out of training).
    Returns (found, {source: why it has none})."""
    from garden.megatron_format import read_lengths, split_ranges

    found, missing = {}, {}
    for name in names:
        src = blend.sources[name]
        if "://" in src["prefix"]:
            missing[name] = "its shards are not local (validation reads local shards only)"
            continue
        valid = src.get("valid")
        if valid:
            n = len(read_lengths(valid["prefix"])[1])
            if n:
                found[name] = HeldOut(valid["prefix"], 0, n, "valid shards")
                continue
        begin, end = split_ranges(blend.split, len(read_lengths(src["prefix"])[1]))["valid"]
        if end > begin:
            found[name] = HeldOut(src["prefix"], begin, end, "blend split")
        else:
            missing[name] = (f"no {name}_valid shards (tokenize valid_fraction) and blend split "
                             f"{blend.split!r} holds nothing out")
    return found, missing
