"""Read back what a run wrote (data/, rejected/, quarantine/, dedup/), streaming and by column.

The run report must stay cheap on a big run: it reads only the columns it shows, stops as
soon as it has enough examples, and never holds a whole shard's texts.
"""
from __future__ import annotations


from garden.io import fs
from garden.io.outputs import iter_rows
from garden.run_folder import is_part_name

SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst")


def part_files(directory: str) -> list[str]:
    """Garden's completed shard files (`part-NNNNN.*`) of an output directory: temp files of a
    killed run and files a user put there are not part of the output."""
    files = []
    for suffix in SUFFIXES:
        files += fs.glob(fs.join(directory, f"*{suffix}"))
    return sorted(f for f in files if is_part_name(f.rsplit("/", 1)[-1]))


def has_column(path: str, column: str) -> bool:
    """Whether an output file has `column` (parquet: from the schema; jsonl: from its first row)."""
    if path.endswith(".parquet"):
        return column in fs.parquet_file(path).schema_arrow.names
    for row in iter_rows(path):
        return column in row
    return False


def find_texts(paths: list[str], ids: set[str], limit_files: int = 200) -> dict[str, dict]:
    """Rows (id, text, source, ...) for the given ids, scanning files until all are found."""
    found: dict[str, dict] = {}
    for k, path in enumerate(paths):
        if k >= limit_files or len(found) == len(ids):
            break
        if path.endswith(".parquet"):
            import pyarrow.dataset as ds

            names = fs.parquet_file(path).schema_arrow.names
            cols = [c for c in ("id", "text", "source", "lang", "reason", "duplicate_of", "similarity") if c in names]
            sources, filesystem = fs.arrow_many([path])
            table = ds.dataset(sources, format="parquet", filesystem=filesystem).to_table(columns=cols, filter=ds.field("id").isin(list(ids)))
            for row in table.to_pylist():
                found.setdefault(row["id"], row)
        else:
            for row in iter_rows(path):
                if row.get("id") in ids:
                    found.setdefault(row["id"], row)
    return found
