"""One digest of a search space (``autogtkd.space.space_hash``), shared by checkpoints, measurement
files and latency predictors; the 16-digit digests older measurement files and predictors recorded
are still accepted on read."""

from __future__ import annotations

import hashlib
import json

from autogtkd.hw import latency
from autogtkd.space import ChoiceSpace, create_space, space_hash, space_hash_matches
from autogtkd.train import checkpoint


def test_the_digest_is_sha256_of_the_canonical_definition() -> None:
    space = create_space("resnet-cifar")
    text = json.dumps(space.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
    assert space_hash(space) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert space_hash(space.to_dict()) == space_hash(space)
    assert space_hash(create_space("mbv3-cifar")) != space_hash(space)


def test_one_function_behind_every_name() -> None:
    assert checkpoint.space_hash is space_hash and latency.space_hash is space_hash


def test_legacy_16_digit_digests_still_match() -> None:
    space = ChoiceSpace("toy", {"depth": [1, 2], "width": [8, 16]})
    full = space_hash(space)
    assert space_hash_matches(full, space) and space_hash_matches(full[:16], space)
    other = ChoiceSpace("toy", {"depth": [1, 2, 3], "width": [8, 16]})
    assert not space_hash_matches(space_hash(other), space)
    assert not space_hash_matches(space_hash(other)[:16], space)
    assert not space_hash_matches(full[:12], space)  # only the one legacy length, not any prefix
    assert not space_hash_matches(None, space) and not space_hash_matches("", space)
