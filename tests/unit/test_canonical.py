"""Canonical JSON (DESIGN.md "Formats that must stay stable") against the independent vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docctl.audit.canonical import canonical_json
from docctl.audit.merkle import leaf_hash

pytestmark = pytest.mark.req("P11-10e.4")


@pytest.fixture
def vectors(shared_dir: Path) -> dict:
    return json.loads((shared_dir / "vectors" / "rfc6962.json").read_text(encoding="utf-8"))


def test_vectors_bytes_and_leaf_hashes(vectors: dict) -> None:
    assert vectors["canonical_json"], "no canonical JSON vectors"
    for case in vectors["canonical_json"]:
        data = canonical_json(case["value"])
        assert data.hex() == case["bytes_hex"]
        assert leaf_hash(data).hex() == case["leaf_hash"]


def test_format_rules() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "x"]}) == b'{"a":[true,null,"x"],"b":1}'
    assert canonical_json({"z": {"y": 1, "x": 2}}) == b'{"z":{"x":2,"y":1}}'  # nested keys sorted too
    assert canonical_json("é\u2028😀") == '"é\u2028😀"'.encode()  # UTF-8 as is, not \u escapes
    assert canonical_json('q"\\\n\x01') == b'"q\\"\\\\\\n\\u0001"'  # only quote, backslash, controls escaped
    assert canonical_json(10**30) == b"1000000000000000000000000000000"
    assert canonical_json((1, 2)) == b"[1,2]"


@pytest.mark.parametrize("value", [1.0, {"a": 0.5}, [float("nan")], {1: "a"}, {"a": b"x"}, {"a": {1, 2}}])
def test_outside_the_format_is_refused(value: object) -> None:
    with pytest.raises(TypeError):
        canonical_json(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_and_fixed_point(value: object) -> None:
    data = canonical_json(value)
    parsed = json.loads(data)
    assert parsed == value
    assert canonical_json(parsed) == data  # canonical bytes are a fixed point
    assert b"\n" not in data and b": " not in data  # no insignificant whitespace


@given(st.dictionaries(st.text(), st.integers(), min_size=2, max_size=6))
def test_key_order_does_not_matter(value: dict) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_json(reordered) == canonical_json(value)
