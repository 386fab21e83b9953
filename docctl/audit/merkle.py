"""RFC 6962 Merkle tree hash: leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || left || right).

`Frontier` keeps the roots of the perfect subtrees on the tree's right edge, so appending a leaf and computing the
new root cost O(log n) hashes and O(log n) memory whatever the size of the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


class Frontier:
    """The compact range [0, size) of a growing RFC 6962 tree.

    `hashes[i]` is the root of a perfect subtree; their sizes are the set bits of `size`, largest first.
    """

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError("frontier does not match its size")
        self.size = size
        self.hashes = list(hashes)

    def append_leaf_hash(self, leaf: bytes) -> None:
        hashes = self.hashes
        hashes.append(leaf)
        size = self.size
        # each trailing 1 bit of the old size is a perfect subtree that merges with the new one
        while size & 1:
            right = hashes.pop()
            hashes[-1] = sha256(b"\x01" + hashes[-1] + right).digest()
            size >>= 1
        self.size += 1

    def root(self) -> bytes:
        hashes = self.hashes
        if not hashes:
            return EMPTY_ROOT
        acc = hashes[-1]
        for left in reversed(hashes[:-1]):
            acc = sha256(b"\x01" + left + acc).digest()
        return acc

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        return cls(size, [data[i : i + 32] for i in range(0, len(data), 32)])


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The tree head over raw leaf data (not leaf hashes)."""
    frontier = Frontier()
    for data in leaves:
        frontier.append_leaf_hash(leaf_hash(data))
    return frontier.root()


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def subtree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, the recursive definition of RFC 6962 section 2.1."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _largest_power_of_two_below(n)
    return node_hash(subtree_root(leaf_hashes[:k]), subtree_root(leaf_hashes[k:]))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path for leaf `index` in the tree over `leaf_hashes` (RFC 6962 section 2.1.1)."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError("index outside the tree")
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if index < k:
        return inclusion_proof(leaf_hashes[:k], index) + [subtree_root(leaf_hashes[k:])]
    return inclusion_proof(leaf_hashes[k:], index - k) + [subtree_root(leaf_hashes[:k])]


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """Recompute the root from a leaf hash and its audit path (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    fn, sn = index, size - 1
    acc = leaf
    for sibling in path:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            acc = node_hash(sibling, acc)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            acc = node_hash(acc, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return acc
