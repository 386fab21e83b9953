"""RFC 6962 Merkle tree hash: leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || left || right).

`Frontier` keeps the roots of the perfect subtrees on the tree's right edge, so appending a leaf and computing
the new root cost O(log n) hashes and O(log n) memory whatever the size of the log.

`prefix_roots` computes the root after every one of a run of appended leaves (what each audit row stores) in
batches: the same number of hashes as appending one leaf at a time, but with the per-hash work in list
comprehensions over whole levels instead of a Python loop per node, which is what makes verifying a log of a
million events fast.

Proofs follow RFC 6962 section 2.1.1 (audit paths) and 2.1.2 (consistency), verified as in RFC 9162 sections
2.1.3.2 and 2.1.4.2.
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
        if size < 0 or len(hashes) != size.bit_count():
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

    def append_subtree(self, root: bytes, height: int) -> None:
        """Append a perfect subtree of 2**height leaves; the size must be a multiple of 2**height."""
        if self.size & ((1 << height) - 1):
            raise ValueError("subtree is not aligned with the frontier")
        hashes = self.hashes
        hashes.append(root)
        size = self.size >> height
        while size & 1:
            right = hashes.pop()
            hashes[-1] = sha256(b"\x01" + hashes[-1] + right).digest()
            size >>= 1
        self.size += 1 << height

    def root(self) -> bytes:
        hashes = self.hashes
        if not hashes:
            return EMPTY_ROOT
        acc = hashes[-1]
        for left in reversed(hashes[:-1]):
            acc = sha256(b"\x01" + left + acc).digest()
        return acc

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        if len(data) != 32 * size.bit_count():
            raise ValueError("frontier does not match its size")
        return cls(size, [data[i : i + 32] for i in range(0, len(data), 32)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frontier) and self.size == other.size and self.hashes == other.hashes

    def __repr__(self) -> str:
        return f"Frontier(size={self.size}, hashes=[{', '.join(h.hex()[:12] for h in self.hashes)}])"


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The tree head over raw leaf data (not leaf hashes)."""
    frontier = Frontier()
    for data in leaves:
        frontier.append_leaf_hash(leaf_hash(data))
    return frontier.root()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH over leaf_hashes[lo:hi], without copying the list."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[lo]
    k = _largest_power_of_two_below(n)
    return sha256(b"\x01" + _mth(leaf_hashes, lo, lo + k) + _mth(leaf_hashes, lo + k, hi)).digest()


def subtree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, the recursive definition of RFC 6962 section 2.1."""
    return _mth(leaf_hashes, 0, len(leaf_hashes))


# --- batched roots ------------------------------------------------------------------------------------------


def _local_prefix_roots(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """r[k] = MTH(leaf_hashes[:k + 1]) for every k, for a run of leaves starting at tree index 0.

    Level by level: after the level with blocks of B = 2**j leaves, r[i] is the MTH of the leaves from the
    start of i's aligned block up to i. For i in the right half of its block that is node(left half, r[i] of
    the level below), because the largest power of two below the prefix length is the half, B/2. Each level's
    hashes are done strided across all blocks (few, long comprehensions while blocks are small) or block by
    block.
    """
    r = list(leaf_hashes)
    m = len(r)
    half = 1
    while half < m:
        block = half * 2
        if half <= (m + block - 1) // block:
            anchors = [b"\x01" + a for a in r[half - 1 :: block]]
            for t in range(half):
                # the last block may have its anchor but not this element: zip stops at the shorter
                targets = zip(anchors, r[half + t :: block], strict=False)
                r[half + t :: block] = [sha256(p + x).digest() for p, x in targets]
        else:
            for lo in range(half, m, block):
                hi = min(lo + half, m)
                p = b"\x01" + r[lo - 1]
                r[lo:hi] = [sha256(p + x).digest() for x in r[lo:hi]]
        half = block
    return r


def prefix_roots(frontier: Frontier, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Append `leaf_hashes` to `frontier` (in place) and return the tree root after each of them.

    Equal to appending one leaf at a time and calling `root()` after each, with the same hashes.
    The leaves are taken in runs that start at a multiple of the frontier's smallest subtree and are no longer
    than it: within such a run the root after leaf s + k is the frontier folded over the MTH of the run's
    first k leaves, so each fold step is one comprehension over the whole run.
    """
    out: list[bytes] = []
    i, m = 0, len(leaf_hashes)
    while i < m:
        size = frontier.size
        low = size & -size if size else 1 << 62
        take = min(low, m - i)
        run = leaf_hashes[i : i + take]
        roots = _local_prefix_roots(run)
        # a run of a power of two leaves is a perfect subtree, appended whole
        run_root = roots[-1] if take & (take - 1) == 0 else b""
        for left in reversed(frontier.hashes):
            p = b"\x01" + left
            roots = [sha256(p + x).digest() for x in roots]
        out.extend(roots)
        if run_root:
            frontier.append_subtree(run_root, take.bit_length() - 1)
        else:
            _append_perfect_parts(frontier, run)
        i += take
    return out


def _append_perfect_parts(frontier: Frontier, run: Sequence[bytes]) -> None:
    """Append a run (aligned as in `prefix_roots`) by its perfect subtrees, largest first."""
    lo, n = 0, len(run)
    while lo < n:
        height = (n - lo).bit_length() - 1
        hi = lo + (1 << height)
        frontier.append_subtree(_mth(run, lo, hi), height)
        lo = hi


# --- proofs -------------------------------------------------------------------------------------------------


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path for leaf `index` in the tree over `leaf_hashes` (RFC 6962 section 2.1.1)."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError("index outside the tree")
    path: list[bytes] = []
    lo, hi = 0, n
    # walk down from the root, collecting siblings; the path lists them from the leaf upwards
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            path.append(_mth(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(_mth(leaf_hashes, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


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


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> None:
    """Raise ValueError unless `path` proves the leaf hash `leaf` is at `index` in the tree (size, root)."""
    if root_from_inclusion_proof(leaf, index, size, path) != root:
        raise ValueError("inclusion proof does not lead to the root")


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the tree over leaf_hashes[:old_size] is a prefix of the tree over `leaf_hashes`
    (RFC 6962 section 2.1.2, PROOF(m, D[n])). Empty when old_size is 0 or the whole tree."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError("old size outside the tree")
    if old_size in (0, n):
        return []
    proof: list[bytes] = []
    # SUBPROOF(m, D[lo:hi], b), unrolled; the proof lists nodes from the bottom up
    m, lo, hi, complete = old_size, 0, n, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            proof.append(_mth(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_mth(leaf_hashes, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(_mth(leaf_hashes, lo, hi))
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ValueError unless `proof` shows tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 section 2.1.4.2; equal sizes need an empty proof and equal roots, and the empty tree (whose root
    is SHA-256 of nothing) is a prefix of every tree, with an empty proof.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError("old size must be between 0 and the new size")
    if old_size == 0:
        if proof:
            raise ValueError("a proof from the empty tree is empty")
        if old_root != EMPTY_ROOT:
            raise ValueError("the empty tree's root is SHA-256 of nothing")
        return
    if old_size == new_size:
        if proof:
            raise ValueError("a proof between equal sizes is empty")
        if old_root != new_root:
            raise ValueError("roots of the same size differ")
        return
    if not proof:
        raise ValueError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # exact power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ValueError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr).digest()
            sr = sha256(b"\x01" + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("consistency proof too short")
    if fr != old_root:
        raise ValueError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ValueError("consistency proof does not lead to the new root")
