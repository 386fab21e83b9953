"""RFC 6962 inclusion and consistency proofs in O(log n) reads, from a cache of complete aligned subtree hashes.

Every node of the RFC 6962 recursion over D[0:n] is a range [lo, hi) whose left child [lo, lo + k) (k the largest
power of two below hi - lo) is complete and aligned: exactly 2**level leaves starting at a multiple of 2**level.
Such a subtree's hash never changes once the log holds its leaves, so it can be cached forever, by
(level, index) with index = lo >> level. Only the subtrees on the tree's right edge are incomplete; they are split
the same way, down to a run short enough to hash from its leaves.

The cache holds levels >= `tile` only (2**8 = 256 leaves by default): below that a subtree is hashed from its
leaves, read at once (at most 2**tile of them). A missing cached subtree is computed from its two children,
recursively filling the cache; a level-`tile` subtree from its leaves.

Pure: the caller supplies `leaves(lo, hi)` (the leaf hashes of leaf indexes lo..hi-1, 0-based half-open) and the
cache (`get(level, index)`, `put(level, index, hash)`). The result is checked by the caller against a signed
root, so a wrong cache entry yields a proof that fails verification, never a wrong proof that passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from docctl.audit import merkle

TILE = 8

Leaves = Callable[[int, int], Sequence[bytes]]


class SubtreeCache(Protocol):
    def get(self, level: int, index: int) -> bytes | None: ...

    def put(self, level: int, index: int, value: bytes) -> None: ...


class MemoryCache:
    """A dict-backed cache, for tests and for computing without persisting."""

    def __init__(self) -> None:
        self.hashes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes | None:
        return self.hashes.get((level, index))

    def put(self, level: int, index: int, value: bytes) -> None:
        self.hashes[(level, index)] = value


def _complete_level(lo: int, hi: int) -> int | None:
    """The level of [lo, hi) when it is a complete aligned subtree, else None."""
    n = hi - lo
    if n <= 0 or n & (n - 1) or lo & (n - 1):
        return None
    return n.bit_length() - 1


class Tiles:
    def __init__(self, leaves: Leaves, cache: SubtreeCache, tile: int = TILE) -> None:
        if tile < 0:
            raise ValueError("tile must be >= 0")
        self.leaves = leaves
        self.cache = cache
        self.tile = tile

    def _read(self, lo: int, hi: int) -> Sequence[bytes]:
        got = self.leaves(lo, hi)
        if len(got) != hi - lo:
            raise LookupError(f"expected {hi - lo} leaves in [{lo}, {hi}), got {len(got)}")
        return got

    def _complete(self, level: int, index: int) -> bytes:
        """The hash of the complete aligned subtree (level, index)."""
        lo = index << level
        if level < self.tile:
            return merkle.subtree_root(self._read(lo, lo + (1 << level)))
        cached = self.cache.get(level, index)
        if cached is not None:
            return cached
        if level == self.tile:
            value = merkle.subtree_root(self._read(lo, lo + (1 << level)))
        else:
            value = merkle.node_hash(self._complete(level - 1, 2 * index), self._complete(level - 1, 2 * index + 1))
        self.cache.put(level, index, value)
        return value

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range of the RFC 6962 recursion (or any range, split the same way)."""
        if not 0 <= lo <= hi:
            raise ValueError("invalid range")
        if lo == hi:
            return merkle.EMPTY_ROOT
        level = _complete_level(lo, hi)
        if level is not None:
            return self._complete(level, lo >> level)
        if hi - lo <= 1 << self.tile:
            return merkle.subtree_root(self._read(lo, hi))
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        return merkle.node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def path(self, index: int, n: int) -> list[bytes]:
        """The audit path of leaf `index` in the tree of size n, equal to merkle.inclusion_proof(D[0:n], index)."""
        if not 0 <= index < n:
            raise ValueError("index outside the tree")
        path: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1 << self.tile:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if index < lo + k:
                path.append(self.mth(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.mth(lo, lo + k))
                lo = lo + k
        # the rest of the path lies within D[lo:hi], at most 2**tile leaves: one read
        local = merkle.inclusion_proof(self._read(lo, hi), index - lo)
        path.reverse()
        return local + path

    def consistency(self, old_size: int, n: int) -> list[bytes]:
        """The RFC 6962 consistency proof PROOF(old_size, D[0:n]), equal to merkle.consistency_proof(D[0:n],
        old_size), from O(log n) subtree hashes."""
        if not 0 <= old_size <= n:
            raise ValueError("old size outside the tree")
        if old_size in (0, n):
            return []
        proof: list[bytes] = []
        m, lo, hi, complete = old_size, 0, n, True
        while m != hi - lo:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if m <= k:
                proof.append(self.mth(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.mth(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        if not complete:
            proof.append(self.mth(lo, hi))
        proof.reverse()
        return proof

    def fill(self, n: int) -> None:
        """Cache every complete aligned subtree (level >= tile) of the first n leaves: the perfect subtrees of n's
        binary decomposition, each from its children."""
        lo = 0
        for level in range(n.bit_length() - 1, self.tile - 1, -1):
            if n & (1 << level):
                self._complete(level, lo >> level)
                lo += 1 << level


def path(leaves: Leaves, cache: SubtreeCache, index: int, n: int, tile: int = TILE) -> list[bytes]:
    return Tiles(leaves, cache, tile).path(index, n)


def mth(leaves: Leaves, cache: SubtreeCache, lo: int, hi: int, tile: int = TILE) -> bytes:
    return Tiles(leaves, cache, tile).mth(lo, hi)
