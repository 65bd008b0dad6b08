"""The one digest of a search space, recorded by checkpoints, measurement files and latency predictors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autogtkd.space._base import SearchSpace

__all__ = ["LEGACY_HASH_DIGITS", "space_hash", "space_hash_matches"]

#: Measurement files and latency predictors written before the two digests were merged recorded the
#: first 16 hex digits of the same SHA-256; :func:`space_hash_matches` still accepts them.
LEGACY_HASH_DIGITS = 16


def space_hash(space: SearchSpace | Mapping[str, Any]) -> str:
    """SHA-256 (64 hex digits) of a space's ``to_dict()`` (or of that dict) as canonical JSON: sorted
    keys, no spaces, UTF-8; values JSON cannot hold are written with ``str``."""
    data = space if isinstance(space, Mapping) else space.to_dict()
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def space_hash_matches(recorded: object, space: SearchSpace | Mapping[str, Any]) -> bool:
    """Whether a digest read from a file is ``space``'s: its :func:`space_hash`, or the 16-digit
    prefix that measurement files and latency predictors recorded before (still readable)."""
    if not isinstance(recorded, str):
        return False
    want = space_hash(space)
    return recorded == want or (len(recorded) == LEGACY_HASH_DIGITS and want.startswith(recorded))
