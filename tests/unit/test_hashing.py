"""garden.hashing and every call site that decides with it, pinned to exact values.

Each value below was computed by the code before the hashes moved into garden.hashing. A change
that alters one changes which documents a sample keeps, which copy dedup keeps, which documents
are held out, or the keys stored in minhash signatures and LM tables: it must be a deliberate,
documented break, never a side effect of a refactor.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from garden.analysis.sample import priority
from garden.hashing import (digest64, hash64, murmur3_fmix64, rows_keys, seeded_fraction, seeded_hash64, seeded_hashes64,
                            seeded_text, sequence_keys, splitmix64_mix, token_hashes, values_hash64, window_hashes)
from garden.lm.hashed_features import feature_bins
from garden.text import match_words
from operators.clean.basic import stable_fraction
from operators.dedup import band_hashes, ngram_hashes, shingle_hashes, signatures
from operators.dedup import decontaminate
from operators.dedup.exact import text_hash
from operators.dedup.lines import unit_hash
from operators.quality.classifier import pareto_keep
from operators.selection.dsir import gumbel
from operators.tokens import doc_keys

S = ["doc-1", "Hello, World!", "数据清洗很重要。", "naïve café — ok", "😀 emoji", ""]
T = ["The quick brown fox jumps over the lazy dog's back.", "数据清洗很重要，质量第一。", "short"]
BAD_ID = "bad\udcff"  # an id made from a file name that is not UTF-8


def test_seeded_fraction_sample_and_held_out_splits():
    want = [0.13009388605149977, 0.5600408017355559, 0.16485967402738289, 0.8469568420013869,
            0.10855841454097732, 0.46798790616805563]
    assert [seeded_fraction(7, s) for s in S] == want
    assert [stable_fraction(7, s) for s in S] == want  # `sample` and tokenize's held-out split
    # the classifier's held-out split (operators/quality/_clf.is_held_out) is fraction < 0.5 at seed 3
    assert [seeded_fraction(3, s) < 0.5 for s in S] == [True, True, True, False, False, False]


def test_seeded_orders_with_and_without_separator():
    # classifier training order: seed and line glued, no separator
    assert sorted(S, key=lambda s: digest64(seeded_text(5, s, sep=""))) == \
        ["naïve café — ok", "Hello, World!", "doc-1", "😀 emoji", "", "数据清洗很重要。"]
    # `garden classifier` picking max_docs documents: "\x00" separator
    assert sorted(S, key=lambda s: digest64(seeded_text(5, s))) == \
        ["😀 emoji", "Hello, World!", "doc-1", "naïve café — ok", "", "数据清洗很重要。"]
    assert seeded_text(5, "a", "b") == "5\x00a\x00b" and seeded_text(5, "a", sep="") == "5a"


def test_pareto_draws_are_seeded_by_id_little_endian():
    assert seeded_hash64(1, "doc-1", byteorder="little") == 0xcd4fb6ca69a463e9
    assert [pareto_keep(s, 0.9, 9.0, 1) for s in S] == [True, False, False, True, False, True]
    assert [pareto_keep(s, 0.99, 9.0, 1) for s in S] == [True, False, True, True, True, True]


def test_dsir_gumbel_noise():
    assert gumbel(S, 11).tolist() == [3.1768639459803127, -0.7611707824394738, -0.7445788230306652,
                                      0.9364243305468869, 0.09518748159794775, 2.633217569199391]


def test_tokenizer_sample_keys_big_endian():
    want = [0x214dd53a0030a2e2, 0x8f5ed57fe13cb4fb, 0x2a343e5c6077ef07, 0xd8d229e184f71c71,
            0x1bca7bf828bb549b, 0x77ce0e2fea521fa9]
    assert doc_keys(S, 7).tolist() == want
    assert [seeded_hash64(7, s, byteorder="big") for s in S] == want
    assert seeded_hashes64(7, S, byteorder="big") == want


def test_analysis_sample_priority_two_parts_surrogatepass():
    want = [0x49b51a2e09c6f620, 0x8d36cd74d943bbaa, 0xb5b141151bedae08, 0x2c2202517e13cf60,
            0x84e1e1f43ad78af5, 0xb191f30c1cdbf5ad, 0xcca3297af9adc818]
    assert [priority(3, "src", s) for s in S + [BAD_ID]] == want


def test_dedup_and_id_keys_unseeded_little_endian():
    want = [0x41f5345f287af456, 0xc4f3d7627e09543, 0x65805746dafc5ab5, 0x65222abda0e99056,
            0x9e0106776dcdecd9, 0xb4b2797457a0a6e4]
    assert [text_hash(s) for s in S] == want  # exact_dedup (S is already normalised)
    assert [unit_hash(s, 3) for s in S] == want[:5] + [None]  # line_dedup; "" is too short
    assert text_hash("  Hello,   WORLD! ") == text_hash("hello, world!")
    assert hash64(BAD_ID, byteorder="little", errors="surrogatepass") == 0xb6e94cf2e1f43912


def test_id_check_hashes_whole_columns():
    # The cross-shard id check hashes columns with values_hash64 (it used hash64 per id until the
    # I/O work of issue 14). Its hashes live only in a run's _work/ids files and decide nothing:
    # they find ids to report.
    want = [0x31643f8df59d8374, 0x74549270cdd7da47, 0x3e398a43a96f3079, 0xbdc3ded1c2a6c363,
            0x7ada763eb648b01a, 0x7a4995d94cd33faf]
    assert values_hash64(S).tolist() == want
    assert values_hash64([BAD_ID]).tolist() == [0x2b63fec37e069bbc]  # its surrogatepass bytes, as hash64 encodes it
    column = pa.array(S)
    for k in range(len(S)):  # a slice, a chunk, large offsets and binary: the same bytes, the same hash
        assert values_hash64(column.slice(k)).tolist() == want[k:]
        assert values_hash64(pa.chunked_array([column.slice(0, k), column.slice(k)])).tolist() == want
    assert values_hash64(column.cast(pa.large_string())).tolist() == want
    assert values_hash64(pa.array([s.encode() for s in S], pa.binary())).tolist() == want


def test_values_hash64_tells_apart_what_padding_could_merge():
    # the last word is zero-padded and the words are summed: the length and each word's position
    # must keep these apart
    tricky = ["a", "a\x00", "a\x00\x00\x00\x00\x00\x00\x00", "abcdefgh", "abcdefgh\x00", "abcdefghabcdefgh",
              "ijklmnopabcdefgh", "abcdefghijklmnop", "", "x" * 10_000, "x" * 10_001]
    assert len(set(values_hash64(tricky).tolist())) == len(tricky)
    many = [f"doc-{i}" for i in range(200_000)]
    assert len(np.unique(values_hash64(many))) == len(many)


def test_mixers():
    z = np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)
    assert splitmix64_mix(z).tolist() == [0x0, 0x5692161d100b05e5, 0x25c26ea579cea98a, 0xb4d055fcf2cbbd7b]
    assert murmur3_fmix64(z).tolist() == [0x0, 0xb456bcfc34c2cb2c, 0x8f780810af31a493, 0x64b5720b4b825f21]


def test_lm_keys_and_dsir_feature_bins():
    assert rows_keys(np.array([[1, 2, 3], [3, 2, 1]], dtype=np.int32)).tolist() == [0xb035af1b34e317b2,
                                                                                  0x3c2e1d1b2de82df7]
    keys = sequence_keys(np.array([5, 6, 7], dtype=np.int32), 2)
    assert keys[0].tolist() == [0x675c6625c2a9ca8, 0x9fa0c70d8643b887, 0x74365a5d464ef3ae]
    assert keys[1][:2].tolist() == [0xf92489905e4b7302, 0x75620f409c1d7c78]  # the last is past the end
    assert feature_bins("Hello world 数据", 1000).tolist() == [677, 544, 720, 735, 648, 943, 358]


def test_minhash_shingles_signatures_and_bands():
    assert ngram_hashes(T[0], 3)[:3].tolist() == [0xaa48f9387e03180b, 0x534c3dfd1ba75f1, 0xb0a545ee939fae7d]
    assert ngram_hashes(T[1], 3)[:3].tolist() == [0xaaaa5eac0c9c1d88, 0xdf6d4b164c6a5f85, 0xa81bb1b6cccd7a95]
    assert ngram_hashes(T[2], 3).tolist() == [0x94f46b185818a634]  # shorter than n: one shingle
    assert shingle_hashes(T[2], 5) == [0x94f46b185818a634]
    assert shingle_hashes(T[0], 5)[:2] == [0x3857f7cf48f30a2d, 0xb140c74981c2f288]
    sigs, has = signatures(T, 3, 8, 42)
    assert has.all()
    assert sigs[0][:3].tolist() == [0x1cf730a0a5ac20e5, 0x3ced40c9f3221586, 0x154681a17cc7c2d2]
    assert band_hashes(sigs, 2, 4).tolist() == [[0xfc146cfeb418edb4, 0x87377a58fb970dd2],
                                                [0xe8043d0539e3c82f, 0x33fdea428e72ff8a],
                                                [0xd7373a1a0690de1c, 0x4dc399f53149fc49]]


def test_decontamination_ngrams_put_the_length_first():
    got = [decontaminate.ngram_hashes(match_words(t), 3, {}).tolist() for t in T]
    assert got[0][:3] == [0xba8440f418e077e1, 0xd67a1ae7d410c219, 0x1e2fee46c68ebc95]
    assert got[1][:3] == [0x9ac2902b67922fa9, 0x8a1e29c576f12fe3, 0xad456f31fc2bedaf]
    assert got[2] == []  # shorter than n: no window


def test_window_hashes_length_position_is_what_separates_the_two_schemes():
    cache: dict[str, int] = {}
    th = token_hashes(match_words(T[0]), cache, cache_max=4)
    assert len(cache) == 4 and th[0] == hash64("the", byteorder="little")
    end, start = window_hashes(th, 3, length_at="end"), window_hashes(th, 3, length_at="start")
    assert end.tolist() == ngram_hashes(T[0], 3).tolist()
    assert len(end) == len(start) == 9 and not set(end.tolist()) & set(start.tolist())
    assert window_hashes(th, 20, length_at="end").tolist() == []
