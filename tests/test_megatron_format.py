"""garden.megatron_format writes exactly what megatron-core writes and reads (MMIDIDX)."""
from __future__ import annotations

import numpy as np
import pytest

from garden.megatron_format import IndexedDatasetReader, IndexedDatasetWriter, merge, token_dtype

indexed_dataset = pytest.importorskip("megatron.core.datasets.indexed_dataset")

pytestmark = pytest.mark.train


def _docs(seed: int, n: int, hi: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    docs = [rng.integers(0, hi, size=int(rng.integers(1, 50))) for _ in range(n)]
    docs.append(np.zeros(0, dtype=np.int64))  # an empty document is still a sequence
    return docs


@pytest.mark.parametrize("dtype,hi", [(np.uint16, 65_499), (np.int32, 200_000)])
def test_bytes_identical_to_megatron_builder(tmp_path, dtype, hi):
    docs = _docs(1, 40, hi)
    ours = IndexedDatasetWriter(str(tmp_path / "ours"), dtype)
    for d in docs[:10]:
        ours.add_document(d)
    rest = docs[10:]
    ours.add_flat(np.concatenate(rest), [len(d) for d in rest])
    ours.finalize()
    ref = indexed_dataset.IndexedDatasetBuilder(str(tmp_path / "ref.bin"), dtype=dtype)
    for d in docs:
        ref.add_document(np.asarray(d, dtype=dtype), [len(d)])
    ref.finalize(str(tmp_path / "ref.idx"))
    for ext in (".bin", ".idx"):
        assert (tmp_path / f"ours{ext}").read_bytes() == (tmp_path / f"ref{ext}").read_bytes()
    ds = indexed_dataset.IndexedDataset(str(tmp_path / "ours"))
    assert len(ds) == len(docs)
    for i, d in enumerate(docs):
        assert ds[i].dtype == np.dtype(dtype)
        assert ds[i].tolist() == list(map(int, d))


def test_merge_keeps_order_and_reader_matches_megatron(tmp_path):
    parts = []
    expected = []
    for k in range(3):
        docs = _docs(10 + k, 7, 1000)
        w = IndexedDatasetWriter(str(tmp_path / f"p{k}"), np.uint16)
        for d in docs:
            w.add_document(d)
        assert w.finalize() == {"documents": len(docs), "tokens": sum(len(d) for d in docs)}
        parts.append(str(tmp_path / f"p{k}"))
        expected += [list(map(int, d)) for d in docs]
    stats = merge(parts, str(tmp_path / "all"), np.uint16)
    assert stats["documents"] == len(expected)
    ds = indexed_dataset.IndexedDataset(str(tmp_path / "all"))
    ours = IndexedDatasetReader(str(tmp_path / "all"))
    assert [ds[i].tolist() for i in range(len(ds))] == expected
    assert [ours[i].tolist() for i in range(len(ours))] == expected
    assert ours.num_tokens == sum(map(len, expected))


def test_merge_rejects_mixed_dtypes(tmp_path):
    for name, dt in (("a", np.uint16), ("b", np.int32)):
        w = IndexedDatasetWriter(str(tmp_path / name), dt)
        w.add_document([1, 2])
        w.finalize()
    with pytest.raises(ValueError, match="dtype"):
        merge([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "m"), np.uint16)


def test_dtype_follows_megatron_threshold():
    assert token_dtype(65_499) == np.uint16
    assert token_dtype(65_500) == np.int32
    assert token_dtype(50_257) == np.dtype(indexed_dataset.DType.optimal_dtype(50_257))
    assert token_dtype(100_000) == np.dtype(indexed_dataset.DType.optimal_dtype(100_000))


def test_add_flat_checks_lengths(tmp_path):
    w = IndexedDatasetWriter(str(tmp_path / "x"), np.uint16)
    with pytest.raises(ValueError, match="lengths"):
        w.add_flat(np.arange(5), [2, 2])
    w.abort()
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_data_side_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, garden.megatron_format, operators.tokens.tokenize, operators.mix.mix, operators.tokens.train_tokenizer;"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('torch','megatron')]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
