"""The archive's Merkle tree hash against published RFC 6962 / RFC 9162 vectors.

Source: transparency-dev/merkle, testonly/constants.go (LeafInputs, RootHashes; commit 77f1b57),
the reference data of the Go implementation behind Certificate Transparency and Trillian. The tree
hash is the one of RFC 9162 §2.1, unchanged from RFC 6962 §2.1.
"""

from __future__ import annotations

import pytest

from collector.merkle import TreeHasher, tree_hash

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
# RootHashes()[n]: the root of the tree of the first n leaves.
ROOT_HASHES = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(len(ROOT_HASHES)))
def test_root_of_each_prefix_matches_the_published_vector(size: int) -> None:
    assert tree_hash(LEAF_INPUTS[:size]).hex() == ROOT_HASHES[size]


def test_incremental_root_after_each_leaf_matches_the_published_vectors() -> None:
    # The archive reads a prefix root (an earlier manifest revision) while hashing on.
    hasher = TreeHasher()
    seen = [hasher.root().hex()]
    for leaf in LEAF_INPUTS:
        hasher.add(leaf)
        seen.append(hasher.root().hex())
    assert seen == ROOT_HASHES
    assert hasher.size == len(LEAF_INPUTS)


def test_order_matters() -> None:
    assert tree_hash(LEAF_INPUTS[:3]) != tree_hash([LEAF_INPUTS[1], LEAF_INPUTS[0], LEAF_INPUTS[2]])
