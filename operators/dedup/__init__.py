"""Deduplication: exact, MinHash-LSH near-dedup, repeated lines, and test-set decontamination.

This `__init__` is the family's public face: code outside `operators/dedup/` imports only
from here (or from its public operator modules), never from its private `_*` modules."""

from operators.dedup._lsh import UnionFind, candidate_edges, choose_bands
from operators.dedup._signature import SCHEME, band_hashes, estimated_jaccard, ngram_hashes, prehashed, shingle_hashes, shingles, signatures
from operators.dedup._store import SignatureReader, SignatureWriter, count_signatures, node_ids, refuse_older_signatures

__all__ = ['SCHEME', 'SignatureReader', 'SignatureWriter', 'UnionFind', 'band_hashes', 'candidate_edges', 'choose_bands', 'count_signatures', 'estimated_jaccard', 'ngram_hashes', 'node_ids', 'prehashed', 'refuse_older_signatures', 'shingle_hashes', 'shingles', 'signatures']
