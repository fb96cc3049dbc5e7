"""Input fingerprints (garden.io.identity): size + mtime + a hash of sampled bytes by default,
SHA-256 of every byte with --verify-inputs; resume and the reader use them to notice a changed
input."""
from __future__ import annotations

import hashlib
import os

import pytest

from garden.io import identity
from garden.io.identity import (BLOCK, BLOCKS, EDGE, InputChangedError, check_unchanged, content_hash, identify,
                                sampled_fingerprint)

BIG = 8 << 20  # bigger than 2 edges + 16 blocks: sampled, not hashed whole


def big_file(path, size: int = BIG) -> str:
    data = bytearray(hashlib.shake_256(b"garden").digest(size))
    path.write_bytes(bytes(data))
    return str(path)


def rewrite_keeping_stat(path: str, offset: int) -> None:
    """Flip one byte in place and put size and mtime back, as rsync -t or cp -p would."""
    st = os.stat(path)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        old = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([old ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns


def test_sample_ranges_cover_a_small_file_whole_and_a_big_one_in_edges_and_blocks():
    small = 2 * EDGE + BLOCKS * BLOCK
    assert identity._sample_ranges(small) == [(0, small)]
    ranges = identity._sample_ranges(BIG)
    assert len(ranges) == BLOCKS + 2
    assert ranges[0] == (0, EDGE) and ranges[-1] == (BIG - EDGE, BIG)
    middle = ranges[1:-1]
    assert all(end - start == BLOCK for start, end in middle)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))  # sorted, not overlapping
    assert sum(end - start for start, end in ranges) == 2 * EDGE + BLOCKS * BLOCK  # ~3 MiB, whatever the size


def test_fingerprint_is_size_mtime_and_sampled_hash(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "hello"}\n')
    fp = sampled_fingerprint(str(path))
    kind, size, mtime, digest = fp.split(":")
    assert kind == "sampled" and int(size) == 18 and int(mtime) == os.stat(path).st_mtime_ns
    assert digest == hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    assert sampled_fingerprint(str(path)) == fp  # stable


def test_a_touched_file_gets_a_new_fingerprint(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"x" * 100)
    before = sampled_fingerprint(str(path))
    os.utime(path, ns=(10**18, 10**18))
    assert sampled_fingerprint(str(path)) != before


def test_same_size_and_mtime_but_other_content_is_detected_in_a_small_file(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "hello"}\n')
    before = sampled_fingerprint(str(path))
    rewrite_keeping_stat(str(path), 11)
    assert sampled_fingerprint(str(path)) != before


@pytest.mark.parametrize("where", ["head", "tail", "block"])
def test_a_change_in_a_sampled_region_of_a_big_file_is_detected(tmp_path, where):
    path = big_file(tmp_path / "big.jsonl")
    before = sampled_fingerprint(path)
    offset = {"head": 5, "tail": BIG - 5, "block": identity._sample_ranges(BIG)[7][0] + 100}[where]
    rewrite_keeping_stat(path, offset)
    assert sampled_fingerprint(path) != before


def test_only_verify_inputs_catches_a_change_between_the_samples(tmp_path):
    path = big_file(tmp_path / "big.jsonl")
    ranges = identity._sample_ranges(BIG)
    offset = (ranges[3][1] + ranges[4][0]) // 2  # between two sampled blocks
    assert not any(start <= offset < end for start, end in ranges)
    plain, verified = identify(path), identify(path, verify=True)
    assert plain.full == "" and verified.sampled == plain.sampled
    rewrite_keeping_stat(path, offset)
    assert sampled_fingerprint(path) == plain.sampled  # the documented blind spot of sampling
    assert identify(path, verify=True).full != verified.full


def test_content_hash_is_sha256_of_every_byte(tmp_path):
    path = big_file(tmp_path / "big.jsonl", size=(3 << 20) + 7)
    data = open(path, "rb").read()
    assert content_hash(path) == f"sha256:{len(data)}:{hashlib.sha256(data).hexdigest()}"
    assert content_hash(path, chunk=1000) == content_hash(path)  # chunking changes nothing
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert content_hash(str(empty)) == f"sha256:0:{hashlib.sha256(b'').hexdigest()}"


def test_check_unchanged_names_the_file_and_both_sizes(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"x" * 10)
    planned = sampled_fingerprint(str(path))
    check_unchanged(str(path), planned)  # unchanged: no error
    check_unchanged(str(path), "")  # nothing recorded (an older plan): nothing to compare
    path.write_bytes(b"x" * 25)
    with pytest.raises(InputChangedError) as err:
        check_unchanged(str(path), planned)
    assert str(err.value) == f"input {path} changed while the run was reading it (planned as 10 bytes, now 25)"
    os.remove(path)
    with pytest.raises(InputChangedError, match=f"input {path} disappeared while the run was reading it"):
        check_unchanged(str(path), planned)


def test_a_url_without_an_etag_is_sampled_like_a_local_file(tmp_path):
    """fsspec's memory filesystem gives no ETag: size and the sampled hash still tell contents apart."""
    fsspec = pytest.importorskip("fsspec")
    mem = fsspec.filesystem("memory")
    mem.pipe("/garden-identity/a.jsonl", b"one\n")
    first = sampled_fingerprint("memory://garden-identity/a.jsonl")
    assert first.startswith("sampled:4::")
    mem.pipe("/garden-identity/a.jsonl", b"two\n")
    assert sampled_fingerprint("memory://garden-identity/a.jsonl") != first
    mem.rm("/garden-identity", recursive=True)
