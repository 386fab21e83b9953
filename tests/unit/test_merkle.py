"""RFC 6962 Merkle tree: known answers from /work/shared/vectors/rfc6962.json, computed independently, and
properties (hypothesis) for what the vectors do not reach."""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docctl.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    prefix_roots,
    root_from_inclusion_proof,
    root_of,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.req("P11-10e.4")


@pytest.fixture
def vectors(shared_dir: Path) -> dict:
    return json.loads((shared_dir / "vectors" / "rfc6962.json").read_text(encoding="utf-8"))


@pytest.fixture
def leaves(vectors: dict) -> list[bytes]:
    return [leaf_hash(bytes.fromhex(h)) for h in vectors["leaves_hex"]]


def root(vectors: dict, size: int) -> bytes:
    return bytes.fromhex(vectors["roots"][str(size)])


def flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


# --- known answers ------------------------------------------------------------------------------------------


def test_hash_definitions() -> None:
    assert sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"abc") == sha256(b"\x00abc").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()


def test_roots_for_every_size_0_to_17(vectors: dict, leaves: list[bytes]) -> None:
    raw = [bytes.fromhex(h) for h in vectors["leaves_hex"]]
    assert sorted(int(n) for n in vectors["roots"]) == list(range(18))
    for size in range(18):
        expected = root(vectors, size)
        assert subtree_root(leaves[:size]) == expected, size
        assert root_of(raw[:size]) == expected, size
        frontier = Frontier()
        for leaf in leaves[:size]:
            frontier.append_leaf_hash(leaf)
        assert frontier.root() == expected, size
        assert Frontier.from_bytes(size, frontier.to_bytes()).root() == expected, size


def test_prefix_roots_give_every_vector_root(vectors: dict, leaves: list[bytes]) -> None:
    for start in range(18):
        frontier = Frontier()
        for leaf in leaves[:start]:
            frontier.append_leaf_hash(leaf)
        roots = prefix_roots(frontier, leaves[start:])
        assert roots == [root(vectors, n) for n in range(start + 1, 18)], start
        assert frontier.size == 17 and frontier.root() == root(vectors, 17)


def test_inclusion_proofs(vectors: dict, leaves: list[bytes]) -> None:
    assert len(vectors["inclusion"]) >= 20
    for case in vectors["inclusion"]:
        index, size = case["index"], case["size"]
        path = [bytes.fromhex(h) for h in case["path"]]
        assert inclusion_proof(leaves[:size], index) == path, case
        assert root_from_inclusion_proof(leaves[index], index, size, path) == root(vectors, size), case
        verify_inclusion(leaves[index], index, size, path, root(vectors, size))


def test_consistency_proofs(vectors: dict, leaves: list[bytes]) -> None:
    assert vectors["consistency"]
    for case in vectors["consistency"]:
        old, new = case["old_size"], case["new_size"]
        proof = [bytes.fromhex(h) for h in case["proof"]]
        assert consistency_proof(leaves[:new], old) == proof, case
        verify_consistency(old, new, root(vectors, old), root(vectors, new), proof)


def test_every_generated_proof_up_to_17_verifies_against_the_vector_roots(
    vectors: dict, leaves: list[bytes]
) -> None:
    for size in range(1, 18):
        for index in range(size):
            path = inclusion_proof(leaves[:size], index)
            verify_inclusion(leaves[index], index, size, path, root(vectors, size))
    for new in range(18):
        for old in range(new + 1):
            proof = consistency_proof(leaves[:new], old)
            verify_consistency(old, new, root(vectors, old), root(vectors, new), proof)


# --- refusals -----------------------------------------------------------------------------------------------


def test_inclusion_refusals(vectors: dict, leaves: list[bytes]) -> None:
    size, index = 13, 6
    path = inclusion_proof(leaves[:size], index)
    good = root(vectors, size)
    for i in range(len(path)):  # every sibling matters
        bad = path[:i] + [flip(path[i], i)] + path[i + 1 :]
        with pytest.raises(ValueError):
            verify_inclusion(leaves[index], index, size, bad, good)
    with pytest.raises(ValueError):
        verify_inclusion(flip(leaves[index]), index, size, path, good)
    with pytest.raises(ValueError):
        verify_inclusion(leaves[index], index + 1, size, path, good)
    with pytest.raises(ValueError, match="too short"):
        root_from_inclusion_proof(leaves[index], index, size, path[:-1])
    with pytest.raises(ValueError, match="too long"):
        root_from_inclusion_proof(leaves[index], index, size, [*path, path[0]])
    for index, size in [(-1, 3), (3, 3), (0, 0)]:
        with pytest.raises(ValueError):
            root_from_inclusion_proof(leaves[0], index, size, [])
        with pytest.raises(ValueError):
            inclusion_proof(leaves[:size], index)


def test_consistency_refusals(vectors: dict, leaves: list[bytes]) -> None:
    old, new = 3, 17
    proof = consistency_proof(leaves[:new], old)
    r_old, r_new = root(vectors, old), root(vectors, new)
    for i in range(len(proof)):
        bad = proof[:i] + [flip(proof[i], 31)] + proof[i + 1 :]
        with pytest.raises(ValueError):
            verify_consistency(old, new, r_old, r_new, bad)
    with pytest.raises(ValueError):
        verify_consistency(old, new, flip(r_old), r_new, proof)
    with pytest.raises(ValueError):
        verify_consistency(old, new, r_old, flip(r_new), proof)
    with pytest.raises(ValueError):
        verify_consistency(old, new - 1, r_old, root(vectors, new - 1), proof)
    with pytest.raises(ValueError):
        verify_consistency(old, new, r_old, r_new, proof[:-1])
    with pytest.raises(ValueError):
        verify_consistency(old, new, r_old, r_new, [*proof, proof[0]])
    with pytest.raises(ValueError):
        verify_consistency(old, new, r_old, r_new, [])
    with pytest.raises(ValueError):  # a tree is not a prefix of a smaller one
        verify_consistency(new, old, r_new, r_old, [])
    with pytest.raises(ValueError):  # equal sizes: equal roots, empty proof
        verify_consistency(5, 5, root(vectors, 5), root(vectors, 6), [])
    with pytest.raises(ValueError):
        verify_consistency(5, 5, root(vectors, 5), root(vectors, 5), [root(vectors, 5)])
    with pytest.raises(ValueError):  # the empty tree's root is fixed
        verify_consistency(0, 5, flip(EMPTY_ROOT), root(vectors, 5), [])
    with pytest.raises(ValueError):
        consistency_proof(leaves[:5], 6)


def test_frontier_refuses_a_mismatched_shape() -> None:
    with pytest.raises(ValueError):
        Frontier(3, [b"x" * 32])
    with pytest.raises(ValueError):
        Frontier.from_bytes(3, b"x" * 32)
    with pytest.raises(ValueError):
        Frontier(1, [b"x" * 32]).append_subtree(b"y" * 32, 1)


# --- properties ---------------------------------------------------------------------------------------------

leaf_lists = st.lists(st.binary(min_size=32, max_size=32), max_size=300)


@settings(max_examples=60, deadline=None)
@given(leaf_lists)
def test_frontier_root_is_the_recursive_mth(hashes: list[bytes]) -> None:
    frontier = Frontier()
    assert frontier.root() == subtree_root([]) == EMPTY_ROOT
    for n, leaf in enumerate(hashes, start=1):
        frontier.append_leaf_hash(leaf)
        assert frontier.size == n
        if n % 7 == 0 or n == len(hashes):
            assert frontier.root() == subtree_root(hashes[:n])
    assert Frontier.from_bytes(frontier.size, frontier.to_bytes()) == frontier


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.data())
def test_prefix_roots_equal_one_append_at_a_time(hashes: list[bytes], data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(hashes)))
    expected, frontier = [], Frontier()
    for leaf in hashes:
        frontier.append_leaf_hash(leaf)
        expected.append(frontier.root())
    batched = Frontier()
    for leaf in hashes[:start]:
        batched.append_leaf_hash(leaf)
    # in pieces of random lengths, as verification reads chunks
    at = start
    while at < len(hashes):
        step = data.draw(st.integers(1, len(hashes) - at))
        assert prefix_roots(batched, hashes[at : at + step]) == expected[at : at + step]
        at += step
    assert batched == frontier


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=200), st.data())
def test_inclusion_proofs_verify_and_a_wrong_sibling_fails(hashes: list[bytes], data: st.DataObject) -> None:
    size = len(hashes)
    index = data.draw(st.integers(0, size - 1))
    path = inclusion_proof(hashes, index)
    tree_root = subtree_root(hashes)
    verify_inclusion(hashes[index], index, size, path, tree_root)
    if path:
        i = data.draw(st.integers(0, len(path) - 1))
        byte = data.draw(st.integers(0, 31))
        wrong = path[:i] + [flip(path[i], byte)] + path[i + 1 :]
        with pytest.raises(ValueError):
            verify_inclusion(hashes[index], index, size, wrong, tree_root)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=200), st.data())
def test_consistency_proofs_verify_and_a_wrong_node_fails(hashes: list[bytes], data: st.DataObject) -> None:
    new = len(hashes)
    old = data.draw(st.integers(0, new))
    proof = consistency_proof(hashes, old)
    old_root, new_root = subtree_root(hashes[:old]), subtree_root(hashes)
    verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        wrong = proof[:i] + [flip(proof[i], data.draw(st.integers(0, 31)))] + proof[i + 1 :]
        with pytest.raises(ValueError):
            verify_consistency(old, new, old_root, new_root, wrong)
    if 0 < old < new:  # a different old tree is not a prefix
        other = [*hashes[: old - 1], flip(hashes[old - 1])]
        with pytest.raises(ValueError):
            verify_consistency(old, new, subtree_root(other), new_root, proof)
