"""garden.io.fs: the one temp-file rule (hidden `.name.garden-tmp-<pid>` beside the target, renamed
into place) and atomic writes, locally and to a URL (fsspec's memory filesystem stands in for a
store: staged in GARDEN_TMPDIR, uploaded in one call)."""
from __future__ import annotations

import os

import pytest

from garden.io import fs


@pytest.fixture
def staging(tmp_path, monkeypatch):
    folder = tmp_path / "staging"
    folder.mkdir()
    monkeypatch.setenv("GARDEN_TMPDIR", str(folder))
    return folder


@pytest.fixture
def mem():
    fsspec = pytest.importorskip("fsspec")
    store = fsspec.filesystem("memory")
    yield store
    if store.exists("/garden-fs-test"):
        store.rm("/garden-fs-test", recursive=True)


# -- temp names --------------------------------------------------------------------------------
def test_temp_path_is_hidden_beside_the_target_and_names_the_process(tmp_path):
    target = str(tmp_path / "data" / "part-00000.parquet")
    tmp = fs.temp_path(target)
    assert os.path.dirname(tmp) == os.path.dirname(target)  # same folder: the rename is atomic
    assert os.path.basename(tmp) == f".part-00000.parquet.garden-tmp-{os.getpid()}"
    assert fs.is_temp_name(os.path.basename(tmp))


@pytest.mark.parametrize("name", ["part-00000.parquet", "part.garden-tmp-12", ".part.garden-tmp-", ".part.garden-tmp-12x",
                                  ".garden-tmp-12", ".notes.txt", ".part.tmp-12"])
def test_no_user_file_name_is_a_temp_name(name):
    assert not fs.is_temp_name(name)


# -- local atomic writes -----------------------------------------------------------------------
def test_staged_file_appears_only_on_commit(tmp_path):
    target = tmp_path / "deep" / "new" / "shard.bin"
    staged = fs.StagedFile(str(target))
    assert staged.local == fs.temp_path(str(target))
    with open(staged.local, "wb") as fh:
        fh.write(b"whole")
    assert not target.exists()  # a reader sees nothing until the rename
    staged.commit()
    assert target.read_bytes() == b"whole"
    assert os.listdir(target.parent) == ["shard.bin"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "stats.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with fs.StagedFile(str(target)) as staged:
            with open(staged.local, "wb") as fh:
                fh.write(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["stats.json"]
    staged = fs.StagedFile(str(target))
    staged.abort()  # aborting before anything was written is fine too
    assert os.listdir(tmp_path) == ["stats.json"]


def test_atomic_write_bytes_replaces_the_whole_file(tmp_path):
    target = tmp_path / "a.json"
    target.write_bytes(b"a much longer old content")
    fs.atomic_write_bytes(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["a.json"]


# -- URLs: staged locally, uploaded whole ------------------------------------------------------
def test_write_to_a_url_is_staged_in_garden_tmpdir_and_uploaded_on_commit(staging, mem):
    url = "memory://garden-fs-test/run/data/part-00000.parquet"
    staged = fs.StagedFile(url)
    assert os.path.dirname(staged.local) == str(staging)
    assert os.path.basename(staged.local).startswith("garden-")
    with open(staged.local, "wb") as fh:
        fh.write(b"payload")
    assert not fs.exists(url)
    staged.commit()
    assert fs.read_bytes(url) == b"payload"
    assert os.listdir(staging) == []  # the staged copy is removed after the upload


def test_failed_write_to_a_url_uploads_nothing(staging, mem):
    url = "memory://garden-fs-test/run/stats.json"
    with pytest.raises(ValueError):
        with fs.StagedFile(url) as staged:
            with open(staged.local, "wb") as fh:
                fh.write(b"half")
            raise ValueError("task died")
    assert not fs.exists(url)
    assert os.listdir(staging) == []


def test_url_helpers(staging, mem):
    fs.atomic_write_bytes("memory://garden-fs-test/d/b.txt", b"b")
    fs.atomic_write_bytes("memory://garden-fs-test/d/a.txt", b"a")
    assert fs.listdir("memory://garden-fs-test/d") == ["a.txt", "b.txt"]
    assert fs.listdir("memory://garden-fs-test/none") == []
    assert fs.isfile("memory://garden-fs-test/d/a.txt") and not fs.isfile("memory://garden-fs-test/d")
    fs.remove("memory://garden-fs-test/d/a.txt")
    fs.remove("memory://garden-fs-test/d/a.txt")  # removing what is gone is no error
    assert fs.listdir("memory://garden-fs-test/d") == ["b.txt"]
    assert fs.join("s3://b/run", "data", "x") == "s3://b/run/data/x"
    assert fs.dirname("s3://b/run/data/") == "s3://b/run"
    assert fs.abspath("s3://b/x") == "s3://b/x"


def test_staging_dir_defaults_to_the_system_temp_dir(monkeypatch):
    import tempfile

    monkeypatch.delenv("GARDEN_TMPDIR", raising=False)
    assert fs.staging_dir() == tempfile.gettempdir()


# -- reading -----------------------------------------------------------------------------------
RANGES = [(500_000, 500_512), (0, 10), (10, 600), (300_000, 300_100), (5, 7), (511_999, 512_000), (42, 42)]


def test_read_ranges_returns_each_range_in_the_order_asked(tmp_path, staging, mem):
    data = bytes(range(256)) * 2000
    (tmp_path / "blob").write_bytes(data)
    want = [data[a:b] for a, b in RANGES]
    assert fs.read_ranges(str(tmp_path / "blob"), RANGES) == want
    fs.atomic_write_bytes("memory://garden-fs-test/blob", data)
    for gap in (0, 1 << 16, 1 << 30):  # coalesced into fewer requests or not: the same bytes
        assert fs.read_ranges("memory://garden-fs-test/blob", RANGES, gap=gap) == want
    assert fs.read_ranges(str(tmp_path / "blob"), []) == []


def test_prefetched_and_local_copies_keep_order(tmp_path, staging, mem):
    urls = [f"memory://garden-fs-test/p/f{k}" for k in range(5)]
    for k, u in enumerate(urls):
        fs.atomic_write_bytes(u, bytes([k]) * (k + 1))
    assert list(fs.prefetched(urls, window=2)) == [(u, bytes([k]) * (k + 1)) for k, u in enumerate(urls)]
    with fs.local_copies(urls, window=2) as paths:
        assert [open(p, "rb").read() for p in paths] == [bytes([k]) * (k + 1) for k in range(5)]
        assert all(p.startswith(str(staging)) for p in paths)
    assert os.listdir(staging) == []  # the downloads are removed afterwards
    local = [str(tmp_path / "x")]
    with fs.local_copies(local) as paths:
        assert paths == local  # local files are used where they are


def test_local_listing_helpers(tmp_path):
    assert fs.listdir(str(tmp_path / "missing")) == []
    (tmp_path / "b").write_text("b")
    (tmp_path / "a").mkdir()
    assert fs.listdir(str(tmp_path)) == ["a", "b"]
    fs.makedirs(str(tmp_path / "x" / "y"))
    assert (tmp_path / "x" / "y").is_dir()
    fs.rmtree(str(tmp_path / "x"))
    fs.rmtree(str(tmp_path / "x"))  # twice: no error
    assert fs.listdir(str(tmp_path)) == ["a", "b"]
