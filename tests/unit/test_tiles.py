"""Inclusion proofs from cached complete subtrees (docctl.audit.tiles) equal the plain RFC 6962 ones."""

from __future__ import annotations

import json
import random
from hashlib import sha256
from pathlib import Path

import pytest

from docctl.audit import merkle, tiles

pytestmark = pytest.mark.req("P11-10e.4")


def make_leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(n)]


class Checked:
    """A cache and a leaf reader over `all_leaves` that check every put is a complete aligned subtree of the tree
    being proved (size `n`, set by the test) at a cached level, with its true hash, and every read is short."""

    def __init__(self, all_leaves: list[bytes], tile: int) -> None:
        self.all = all_leaves
        self.tile = tile
        self.n = len(all_leaves)
        self.cache = tiles.MemoryCache()
        self.reads: list[tuple[int, int]] = []

    def leaves(self, lo: int, hi: int) -> list[bytes]:
        assert 0 <= lo < hi <= self.n
        assert hi - lo <= 1 << self.tile
        self.reads.append((lo, hi))
        return self.all[lo:hi]

    def get(self, level: int, index: int) -> bytes | None:
        assert level >= self.tile
        return self.cache.get(level, index)

    def put(self, level: int, index: int, value: bytes) -> None:
        assert level >= self.tile
        lo, hi = index << level, (index + 1) << level
        assert hi <= self.n, (level, index, self.n)
        assert (level, index) not in self.cache.hashes
        assert value == merkle.subtree_root(self.all[lo:hi])
        self.cache.put(level, index, value)

    def tiles(self) -> tiles.Tiles:
        return tiles.Tiles(self.leaves, self, self.tile)


@pytest.mark.parametrize("tile", [0, 1, 2, 3])
def test_every_index_of_every_small_tree(tile: int) -> None:
    all_leaves = make_leaves(70)
    checked = Checked(all_leaves, tile)
    for n in range(1, 71):  # one cache across growing sizes: complete subtrees never change
        checked.n = n
        t = checked.tiles()
        assert t.mth(0, n) == merkle.subtree_root(all_leaves[:n])
        for index in range(n):
            assert t.path(index, n) == merkle.inclusion_proof(all_leaves[:n], index), (n, index)


@pytest.mark.parametrize("tile", [2, tiles.TILE])
def test_sizes_up_to_600(tile: int) -> None:
    rng = random.Random(6962 + tile)
    all_leaves = make_leaves(600)
    checked = Checked(all_leaves, tile)
    for n in range(1, 601):
        checked.n = n
        t = checked.tiles()
        assert t.mth(0, n) == merkle.subtree_root(all_leaves[:n]), n
        for index in {0, n - 1, rng.randrange(n)}:
            assert t.path(index, n) == merkle.inclusion_proof(all_leaves[:n], index), (n, index)


def test_random_larger_trees_with_a_small_tile() -> None:
    rng = random.Random(10)
    all_leaves = make_leaves(5000)
    for _ in range(6):
        n = rng.randrange(601, 5001)
        checked = Checked(all_leaves[:n], tile=3)
        t = checked.tiles()
        if rng.random() < 0.5:
            t.fill(n)
        assert t.mth(0, n) == merkle.subtree_root(all_leaves[:n]), n
        for index in [rng.randrange(n) for _ in range(8)]:
            assert t.path(index, n) == merkle.inclusion_proof(all_leaves[:n], index), (n, index)


def test_a_filled_cache_reads_at_most_two_runs_of_leaves() -> None:
    n = 3000
    checked = Checked(make_leaves(n), tile=4)
    t = checked.tiles()
    t.fill(n)
    assert len(checked.cache.hashes) == sum(n >> level for level in range(4, n.bit_length()))
    puts = dict(checked.cache.hashes)
    for index in (0, 1234, 2047, 2048, 2999):
        checked.reads.clear()
        path = t.path(index, n)
        assert len(checked.reads) <= 2 and sum(hi - lo for lo, hi in checked.reads) <= 2 * 16
        assert merkle.root_from_inclusion_proof(checked.all[index], index, n, path) == merkle.subtree_root(checked.all)
    assert checked.cache.hashes == puts  # nothing new to cache once filled


def test_a_wrong_cache_entry_gives_a_path_that_does_not_verify() -> None:
    n = 1000
    checked = Checked(make_leaves(n), tile=3)
    t = checked.tiles()
    t.fill(n)
    checked.cache.hashes[(9, 0)] = sha256(b"not it").digest()
    path = t.path(700, n)
    with pytest.raises(ValueError):
        merkle.verify_inclusion(checked.all[700], 700, n, path, merkle.subtree_root(checked.all))


def test_refusals() -> None:
    t = tiles.Tiles(lambda lo, hi: make_leaves(10)[lo:hi], tiles.MemoryCache(), 2)
    for index, n in [(-1, 3), (3, 3), (0, 0)]:
        with pytest.raises(ValueError):
            t.path(index, n)
    with pytest.raises(LookupError):  # a leaf reader that comes back short
        t.path(0, 11)
    assert t.mth(4, 4) == merkle.EMPTY_ROOT


# --- known answers ------------------------------------------------------------------------------------------


@pytest.fixture
def vectors(shared_dir: Path) -> dict:
    return json.loads((shared_dir / "vectors" / "rfc6962.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("tile", [0, 1, 2, tiles.TILE])
def test_rfc6962_vectors(vectors: dict, tile: int) -> None:
    leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h in vectors["leaves_hex"]]
    cache = tiles.MemoryCache()
    t = tiles.Tiles(lambda lo, hi: leaves[lo:hi], cache, tile)
    for size, expected in vectors["roots"].items():
        assert t.mth(0, int(size)) == bytes.fromhex(expected), size
    assert len(vectors["inclusion"]) >= 20
    for case in vectors["inclusion"]:
        index, size = case["index"], case["size"]
        assert t.path(index, size) == [bytes.fromhex(h) for h in case["path"]], case
    assert len(vectors["consistency"]) >= 8
    for case in vectors["consistency"]:
        proof = t.consistency(case["old_size"], case["new_size"])
        assert proof == [bytes.fromhex(h) for h in case["proof"]], case


@pytest.mark.parametrize("tile", [0, 1, 2, 3])
def test_consistency_proofs_equal_the_plain_ones(tile: int) -> None:
    all_leaves = make_leaves(70)
    checked = Checked(all_leaves, tile)
    for n in range(1, 71):
        checked.n = n
        t = checked.tiles()
        for old in range(n + 1):
            proof = t.consistency(old, n)
            assert proof == merkle.consistency_proof(all_leaves[:n], old), (old, n)
            if old:
                merkle.verify_consistency(old, n, merkle.subtree_root(all_leaves[:old]),
                                          merkle.subtree_root(all_leaves[:n]), proof)


def test_consistency_proofs_of_larger_trees_from_a_filled_cache() -> None:
    rng = random.Random(62)
    n = 5000
    checked = Checked(make_leaves(n), tile=4)
    t = checked.tiles()
    t.fill(n)
    for old in [1, 16, 17, 2048, 2049, 4999, *(rng.randrange(1, n) for _ in range(10))]:
        checked.reads.clear()
        proof = t.consistency(old, n)
        assert proof == merkle.consistency_proof(checked.all, old), old
        # cached subtrees above the tile; below it, short runs of leaves (never more than a few tiles' worth)
        assert len(checked.reads) <= 4 + 3 and sum(hi - lo for lo, hi in checked.reads) <= 4 * 16
    with pytest.raises(ValueError):
        t.consistency(n + 1, n)
