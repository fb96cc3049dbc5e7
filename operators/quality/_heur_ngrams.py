"""Exact n-gram repetition statistics (Gopher, Rae et al. 2021, table A1) without n-gram strings.

Why: building every 2..10-gram as a joined string is what makes repetition filters slow. Here
words become integer ids and each n-gram a dense integer id (pairs re-densified with
numpy.unique), so equal n-grams are equal word sequences, exactly, with no hashing collisions.
"""
from __future__ import annotations

import numpy as np


def duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in the repeats): every occurrence after the first counts."""
    seen: set[str] = set()
    n_dup = chars = 0
    for item in items:
        if item in seen:
            n_dup += 1
            chars += len(item)
        else:
            seen.add(item)
    return n_dup, chars


class NgramIds:
    """Dense ids of the word n-grams of one document, built up n by n."""

    def __init__(self, words: list[str], sep: int) -> None:
        index = {w: i for i, w in enumerate(dict.fromkeys(words))}
        self.n_words = len(words)
        self.ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))
        self.vocab_size = max(len(index), 1)
        lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self.cum = np.concatenate(([0], np.cumsum(lens)))  # cum[j] - cum[i] = letters of words[i:j]
        self.sep = sep  # characters between words in an n-gram (1 for spaced scripts, 0 for CJK)
        self.n = 1
        self.grams = self.ids  # grams[i] = id of the n-gram starting at word i
        self.n_grams = self.vocab_size
        self._first: np.ndarray | None = None  # positions of each n-gram's first occurrence (lazy)

    def advance_to(self, n: int) -> np.ndarray:
        """Ids of the n-grams (n >= current n), exact: (id of (n-1)-gram, id of next word) → dense id.

        Once every n-gram is distinct, every longer one is too: ids are then just positions.
        """
        while self.n < n and len(self.grams) > 1:
            if self.n_grams == len(self.grams):
                self.grams = np.arange(len(self.grams) - 1, dtype=np.int64)
                self.n_grams = len(self.grams)
                self._first = self.grams
            else:
                pair = self.grams[:-1] * self.vocab_size + self.ids[self.n:]
                _, self._first, inverse = np.unique(pair, return_index=True, return_inverse=True)
                self.grams = inverse.astype(np.int64)
                self.n_grams = len(self._first)
            self.n += 1
        if self.n < n:
            self.grams = self.grams[:0]
            self.n = n
        return self.grams

    def gram_chars(self, start: np.ndarray | int, n: int) -> np.ndarray | int:
        return self.cum[start + n] - self.cum[start] + (n - 1) * self.sep

    def top_chars(self, n: int, min_count: int = 1) -> int:
        """Characters covered by the most frequent n-gram (count × length; ties: the first seen).

        As published, a count of 1 counts too (min_count=1): in a short document one n-gram can be
        a large share. With min_count=2 only an n-gram that repeats counts.
        """
        grams = self.advance_to(n)
        if len(grams) == 0:
            return 0
        counts = np.bincount(grams, minlength=self.n_grams)
        best = counts.max()
        if best < min_count:
            return 0
        first = int(np.argmax(counts[grams] == best))
        return int(best) * int(self.gram_chars(first, n))

    def duplicate_chars(self, n: int) -> int:
        """Letters in repeated n-grams, counted greedily left to right without overlap (Gopher's rule).

        A repeat at i counts its n words and the scan jumps to i + n; skipped n-grams are not
        remembered. Positions holding an n-gram's first occurrence are never repeats, so the scan
        only stops at the other positions and adds the stretches between them in one go.
        """
        grams = self.advance_to(n)
        if len(grams) < 2 or self.n_grams == len(grams):
            return 0
        first_idx = self._first if self._first is not None else np.unique(grams, return_index=True)[1]
        is_first = np.zeros(len(grams), dtype=bool)
        is_first[first_idx] = True
        cum = self.cum.tolist()
        g = grams.tolist()
        seen: set[int] = set()
        total = i = 0
        for j in np.flatnonzero(~is_first).tolist():
            if j < i:
                continue  # inside a counted repeat
            seen.update(g[i:j])
            if g[j] in seen:
                total += cum[j + n] - cum[j]
                i = j + n
            else:
                seen.add(g[j])
                i = j + 1
        return total
