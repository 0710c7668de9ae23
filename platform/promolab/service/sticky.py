"""First-exposure maps: each user keeps the variant of their first exposure.

Assignment hashes a user into the *current* weights, so when a bandit's weights change
(or an A/B test is ramped down, paused and resumed) a pure function would move some
users to another variant than the one stored for them in ``exposures``. The service
therefore holds, per experiment, the variant of every user it knows to be exposed
(loaded from ``exposures`` at startup and when an experiment is created or launched,
updated on every tracked assign before the exposure is queued to the writer, and on
every exposure ingested through ``POST /v1/events``), and consults it before hashing.
This gives the answers of ``promolab.adaptive.sticky_assign`` (the CLI/library path,
one database lookup per call) without a database round trip.

Memory, per user and experiment (:class:`StickyMap`):

- compacted part: a sorted ``int64`` array of 64-bit key hashes plus a ``uint8`` variant
  index (``uint16`` past 255 variants): **9 bytes per user** (1 M users: 9 MB);
- recent part: a dict of the users added since the last compaction, ~100 bytes per
  user, merged into the arrays once it holds ``max(32768, n/32)`` users (the merge is
  one O(n) ``np.insert``: ~10-40 ms at 10 M users, once per 300 k new users there).

Keys are ``hash(user_id)`` (CPython's 64-bit SipHash of the string, keyed per process, so
nothing is persisted or comparable across processes and collisions cannot be
engineered). Two users of one experiment share a key with probability about
n**2 / 2**65 (10 M users: 3e-6); the later one would then get the earlier one's stored
variant - still a random variant - and its exposure would not be queued again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

log = logging.getLogger("promolab.service")

MIN_COMPACT = 32_768


class StickyMap:
    """user id → variant index of the first exposure, for one experiment.

    Not thread-safe for writers: the service mutates it on the event loop only (the
    client under its own lock). ``get`` is safe from any thread.
    """

    __slots__ = ("n_variants", "_keys", "_values", "_recent", "_dtype")

    def __init__(self, n_variants: int):
        self.n_variants = n_variants
        self._dtype = np.uint8 if n_variants <= 255 else np.uint16
        self._keys = np.empty(0, np.int64)
        self._values = np.empty(0, self._dtype)
        self._recent: dict[int, int] = {}

    @classmethod
    def from_pairs(cls, n_variants: int, user_ids: Sequence[str], indices: Sequence[int]) -> "StickyMap":
        """A map from (user, variant index) pairs; the first pair of a user wins."""
        m = cls(n_variants)
        if len(user_ids):
            keys = np.fromiter(map(hash, user_ids), np.int64, len(user_ids))
            values = np.asarray(indices, m._dtype)
            keys, first = np.unique(keys, return_index=True)  # sorted; first occurrence per key
            m._keys, m._values = keys, values[first]
        return m

    def __len__(self) -> int:
        return len(self._keys) + len(self._recent)

    @property
    def nbytes(self) -> int:
        """Approximate memory held (arrays + ~100 bytes per recent entry)."""
        return self._keys.nbytes + self._values.nbytes + 100 * len(self._recent)

    def _find(self, h: int) -> int | None:
        v = self._recent.get(h)
        if v is not None:
            return v
        keys = self._keys
        if len(keys):
            i = int(keys.searchsorted(h))
            if i < len(keys) and keys[i] == h:
                return int(self._values[i])
        return None

    def get(self, user_id: str) -> int | None:
        """The stored variant index, or None for a user not exposed yet."""
        return self._find(hash(user_id))

    def setdefault(self, user_id: str, index: int) -> int:
        """Store ``index`` unless the user has a variant already; return the user's variant."""
        h = hash(user_id)
        known = self._find(h)
        if known is not None:
            return known
        self._recent[h] = index
        if len(self._recent) >= max(MIN_COMPACT, len(self._keys) >> 5):
            self.compact()
        return index

    def discard(self, user_id: str) -> None:
        """Forget a user (an exposure that was not stored after all)."""
        h = hash(user_id)
        if self._recent.pop(h, None) is not None:
            return
        keys = self._keys
        i = int(keys.searchsorted(h)) if len(keys) else 0
        if i < len(keys) and keys[i] == h:
            self._keys = np.delete(keys, i)
            self._values = np.delete(self._values, i)

    def compact(self) -> None:
        """Merge the recent entries into the sorted arrays."""
        if not self._recent:
            return
        keys = np.fromiter(self._recent.keys(), np.int64, len(self._recent))
        values = np.fromiter(self._recent.values(), self._dtype, len(self._recent))
        order = np.argsort(keys)
        keys, values = keys[order], values[order]
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._values = np.insert(self._values, at, values)
        self._recent = {}


class StickyMaps:
    """The maps of every experiment that is a draft, running or paused (stopped: dropped)."""

    def __init__(self) -> None:
        self._maps: dict[str, StickyMap] = {}

    def get(self, key: str) -> StickyMap | None:
        return self._maps.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._maps

    def keys(self) -> Iterable[str]:
        return list(self._maps)

    def install(self, key: str, m: StickyMap) -> None:
        self._maps[key] = m

    def drop(self, key: str) -> None:
        self._maps.pop(key, None)

    @property
    def users(self) -> int:
        return sum(len(m) for m in list(self._maps.values()))

    @property
    def nbytes(self) -> int:
        return sum(m.nbytes for m in list(self._maps.values()))


def load_map(registry, key: str, variant_keys: Sequence[str]) -> StickyMap:
    """The first-exposure map of ``key`` from the ``exposures`` table."""
    rows = registry.query("SELECT user_id, variant_key FROM exposures WHERE experiment_key = ?", [key])
    index = {v: i for i, v in enumerate(variant_keys)}
    users = rows.user_id.astype(object).tolist()
    variants = rows.variant_key.astype(object).tolist()
    keep = [i for i, v in enumerate(variants) if v in index]
    if len(keep) != len(variants):
        log.warning("experiment %s: %d stored exposures name a variant the spec does not have; ignored",
                    key, len(variants) - len(keep))
        users = [users[i] for i in keep]
        variants = [variants[i] for i in keep]
    return StickyMap.from_pairs(len(variant_keys), users, [index[v] for v in variants])
