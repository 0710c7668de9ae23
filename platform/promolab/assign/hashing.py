"""XXH64 vectorised over arrays of ids, and the uniform draws assignment is built on.

Why XXH64: assignment must be a pure function of its inputs, identical in every service
replica and in every SDK, and cheap enough to assign millions of users per call. XXH64
(xxHash, Yann Collet) is a fast non-cryptographic 64-bit hash with full avalanche (it
passes SMHasher), it has a public spec and a library in every language, and it needs
only 64-bit multiply/rotate/xor, which numpy runs over whole arrays. Cryptographic hashes
(MD5, SHA) add nothing here (nobody attacks a promo split) and cost far more.

This is a bit-exact port of the reference algorithm (``xxhash.xxh64_intdigest``, which
the scalar path for one user in ``promolab.assign.scalar`` calls directly), vectorised: ids are encoded once as UTF-8 into
zero-padded 64-bit words, grouped by byte length, and for each length the XXH64 rounds
run on all ids of that length at once, in cache-sized blocks (numpy uint64 arithmetic
wraps modulo 2**64, as the algorithm requires). A salt is not copied in front of every
id: its bytes are shifted into the id words, and stripes made only of salt bytes are
hashed once. One code path serves arrays and single ids (a batch of one).

Byte layout (what another SDK must reproduce):

- ``xxh64(ids, seed)`` hashes exactly ``UTF-8(str(id))`` with ``seed``.
- ``hash_uniform(ids, salt)`` hashes ``UTF-8(salt) + b":" + UTF-8(str(id))`` with seed 0
  and maps the 64-bit digest ``h`` to ``(h >> 11) / 2**53``: the top 53 bits, a float
  in [0, 1) with every value exactly representable.

For example ``hash_uniform(["user-1"], "promo:promo:variant")`` is
``(xxh64(b"promo:promo:variant:user-1", seed=0) >> 11) / 2**53``.

Assignment (``allocate``) draws, for user ``u`` of an experiment with key ``k`` and
``salt = experiment.hash_salt`` (the spec's salt, else ``k``), in a layer with key ``L``:

- layer position: ``"{L}:layer:{u}"``
- coverage:       ``"{salt}:{k}:coverage:{u}"``
- variant:        ``"{salt}:{k}:variant:{u}"``

Ids are ``str(id)`` (ints in decimal). A numpy unicode array cannot hold trailing NUL
characters (numpy strips them), so such ids are hashed as the array holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from promolab.errors import InputError

_MASK = (1 << 64) - 1
_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261
_U1, _U2, _U3, _U5 = (np.uint64(p) for p in (_P1, _P2, _P3, _P5))
_LOW32 = np.uint64(0xFFFFFFFF)
_BYTE = np.uint64(0xFF)
_TO_UNIT = 2.0**-53

# Rows hashed per block: small enough that the uint64 temporaries stay in cache.
_BLOCK = 1 << 14

Ids = Sequence[str] | Sequence[int] | np.ndarray


# --- XXH64 on a block of equal-length messages ------------------------------------------

# A message word: one uint64 per row, or a scalar when all rows share it (salt bytes).
Word = np.ndarray | np.uint64


def _rotl(x: np.ndarray, r: int, tmp: np.ndarray) -> None:
    """x = rotl64(x, r), in place."""
    np.left_shift(x, r, out=tmp)
    x >>= 64 - r
    x |= tmp


def _round(acc: np.ndarray, lane: Word, tmp: np.ndarray) -> None:
    """XXH64_round: acc = rotl(acc + lane * P2, 31) * P1, in place."""
    np.multiply(lane, _U2, out=tmp)
    acc += tmp
    _rotl(acc, 31, tmp)
    acc *= _U1


def _xxh64_block(words: list[Word], length: int, seed: int, m: int) -> np.ndarray:
    """XXH64 of ``m`` messages of ``length`` bytes given as little-endian 64-bit words
    (bytes past ``length`` in the last word are zero)."""
    tmp = np.empty(m, np.uint64)
    k = np.empty(m, np.uint64)
    stripes = length // 32
    if stripes:
        # An accumulator stays a 1-element array while it has only seen scalar words
        # (a salt's leading bytes): computed once, not once per row.
        v = [
            np.array([x & _MASK], np.uint64)
            for x in (seed + _P1 + _P2, seed + _P2, seed, seed - _P1)
        ]
        for s in range(stripes):
            for i in range(4):
                lane = words[4 * s + i]
                if isinstance(lane, np.ndarray) and len(v[i]) == 1:
                    v[i] = np.repeat(v[i], m)
                _round(v[i], lane, tmp[: len(v[i])])
        h = np.zeros(m, np.uint64)
        for vi, r in zip(v, (1, 7, 12, 18)):
            np.copyto(k, vi)
            _rotl(k, r, tmp)
            h += k
        for vi in v:  # XXH64_mergeRound
            k.fill(0)
            _round(k, vi, tmp)
            h ^= k
            h *= _U1
            h += _P4
    else:
        h = np.full(m, (seed + _P5) & _MASK, np.uint64)
    h += length

    pos = stripes * 32
    while length - pos >= 8:
        k.fill(0)
        _round(k, words[pos // 8], tmp)
        h ^= k
        _rotl(h, 27, tmp)
        h *= _U1
        h += _P4
        pos += 8
    if length - pos >= 4:
        np.bitwise_and(words[pos // 8], _LOW32, out=k)  # 32-bit read
        k *= _U1
        h ^= k
        _rotl(h, 23, tmp)
        h *= _U2
        h += _P3
        pos += 4
    while pos < length:
        np.right_shift(words[pos // 8], 8 * (pos % 8), out=k)  # one byte
        k &= _BYTE
        k *= _U5
        h ^= k
        _rotl(h, 11, tmp)
        h *= _U1
        pos += 1

    # avalanche
    np.right_shift(h, 33, out=tmp)
    h ^= tmp
    h *= _U2
    np.right_shift(h, 29, out=tmp)
    h ^= tmp
    h *= _U3
    np.right_shift(h, 32, out=tmp)
    h ^= tmp
    return h


def _message_words(prefix: bytes, ids: np.ndarray, length: int) -> list[Word]:
    """Words of ``prefix + id`` from the ids' own zero-padded words (uint64 (m, K)):
    words wholly inside the prefix are scalars, the rest shift id words into place."""
    q, r = divmod(len(prefix), 8)
    n_words = -(-(len(prefix) + length) // 8)
    n_id = ids.shape[1]
    tail = np.uint64(int.from_bytes(prefix[8 * q :], "little"))
    out: list[Word] = []
    for j in range(n_words):
        if j < q:
            out.append(np.uint64(int.from_bytes(prefix[8 * j : 8 * j + 8], "little")))
            continue
        i = j - q
        if r == 0:
            out.append(ids[:, i])
            continue
        w = np.zeros(ids.shape[0], np.uint64)
        if i < n_id:
            np.left_shift(ids[:, i], 8 * r, out=w)
        if i >= 1:
            w |= ids[:, i - 1] >> np.uint64(64 - 8 * r)
        if i == 0:
            w |= tail
        out.append(w)
    return out


# --- encoding ids ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """Ids sharing one byte length. ``table``: uint64 (N, K) little-endian words of ids,
    zero-padded past ``length`` bytes; the group's k-th id is ``table[take[k]]`` (``take``
    None: ``table[k]``) and sits at output position ``rows[k]`` (``rows`` None: ``k``)."""

    length: int
    table: np.ndarray
    take: np.ndarray | None = None
    rows: np.ndarray | None = None

    @property
    def size(self) -> int:
        return self.table.shape[0] if self.take is None else len(self.take)

    def fetch(self, lo: int, hi: int) -> np.ndarray:
        return self.table[lo:hi] if self.take is None else self.table[self.take[lo:hi]]


class EncodedIds:
    """Ids encoded once as UTF-8 and grouped by byte length, ready to hash under any
    number of salts (assignment draws two or three hashes per user)."""

    def __init__(self, ids: Ids | EncodedIds):
        if isinstance(ids, EncodedIds):
            self.n, self._groups = ids.n, ids._groups
            return
        if isinstance(ids, (pa.Array, pa.ChunkedArray)):
            self.n, self._groups = _from_arrow(ids)
            return
        arrow = getattr(getattr(ids, "array", None), "_pa_array", None)  # pandas string[pyarrow] / ArrowDtype
        if isinstance(arrow, (pa.Array, pa.ChunkedArray)) and not pa.types.is_dictionary(arrow.type):
            self.n, self._groups = _from_arrow(arrow)
            return
        if hasattr(ids, "to_numpy") and not isinstance(ids, np.ndarray):  # other pandas
            ids = ids.to_numpy()
        if isinstance(ids, (str, bytes)):
            raise InputError("user_ids", ids, "a sequence of ids, not a single string")
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise InputError("user_ids", f"array of shape {ids.shape}", "a 1-D array")
            if ids.dtype.kind in "iub":
                ids = ids.astype(str)
            if ids.dtype.kind == "U":
                groups = _from_unicode_array(ids)
                if groups is not None:
                    self.n, self._groups = len(ids), groups
                    return
            elif ids.dtype.kind != "O":
                raise InputError("user_ids", f"array of dtype {ids.dtype}", "strings or integers")
        self.n, self._groups = _from_strings(ids)

    def subset(self, index: np.ndarray) -> EncodedIds:
        """The ids at positions ``index`` (any order, repeats allowed), not re-encoded:
        later draws then hash only the users still in play."""
        index = np.asarray(index, dtype=np.int64)
        sub = EncodedIds(self)
        sub.n = len(index)
        if len(self._groups) == 1 and self._groups[0].rows is None:
            g = self._groups[0]
            sub._groups = [_Group(g.length, g.table, index if g.take is None else g.take[index])]
            return sub
        group_of = np.empty(self.n, np.int64)
        slot = np.empty(self.n, np.int64)  # position of each id within its group
        for gi, g in enumerate(self._groups):
            group_of[g.rows] = gi
            slot[g.rows] = np.arange(g.size)
        picked_group, picked_slot = group_of[index], slot[index]
        sub._groups = []
        for gi, g in enumerate(self._groups):
            rows = np.flatnonzero(picked_group == gi)
            if len(rows):
                take = picked_slot[rows] if g.take is None else g.take[picked_slot[rows]]
                sub._groups.append(_Group(g.length, g.table, take, rows))
        return sub

    def xxh64(self, prefix: bytes = b"", seed: int = 0) -> np.ndarray:
        """XXH64 of ``prefix + UTF-8(id)`` for every id, as uint64."""
        if not 0 <= seed <= _MASK:
            raise InputError("seed", seed, "an integer in [0, 2**64)")
        out = np.empty(self.n, np.uint64)
        with np.errstate(over="ignore"):
            for g in self._groups:
                for lo in range(0, g.size, _BLOCK):
                    hi = min(lo + _BLOCK, g.size)
                    words = _message_words(prefix, g.fetch(lo, hi), g.length)
                    h = _xxh64_block(words, len(prefix) + g.length, seed, hi - lo)
                    if g.rows is None:
                        out[lo:hi] = h
                    else:
                        out[g.rows[lo:hi]] = h
        return out

    def uniform(self, salt: str) -> np.ndarray:
        """Uniform [0, 1) draw per id from ``UTF-8(salt) + b":" + UTF-8(id)``."""
        h = self.xxh64(salt.encode("utf-8") + b":")
        h >>= np.uint64(11)
        u = h.astype(np.float64)
        u *= _TO_UNIT
        return u


def _padded_words(byte_rows: np.ndarray) -> np.ndarray:
    """uint8/code-point (m, L) -> uint64 (m, ceil(L / 8)) little-endian words, zero-padded."""
    m, length = byte_rows.shape
    padded = np.zeros((m, max(8, -(-length // 8) * 8)), np.uint8)
    padded[:, :length] = byte_rows
    return padded.view("<u8")


def _by_length(lengths: np.ndarray) -> list[tuple[int, np.ndarray | None]]:
    """(length, rows) per distinct length; rows None when every id has that length."""
    if len(lengths) == 0:
        return []
    counts = np.bincount(lengths)
    present = np.flatnonzero(counts)
    if len(present) == 1:
        return [(int(present[0]), None)]
    key = lengths.astype(np.uint16) if present[-1] < 1 << 16 else lengths
    order = np.argsort(key, kind="stable")  # radix sort for small integer keys
    bounds = np.cumsum(counts[present])
    return [
        (int(length), order[hi - counts[length] : hi]) for length, hi in zip(present, bounds)
    ]


def _from_unicode_array(arr: np.ndarray) -> list[_Group] | None:
    """Groups straight from a numpy unicode array's code points; None if not all ASCII.
    (numpy pads shorter strings with NULs, so every row is already zero-padded.)"""
    arr = np.ascontiguousarray(arr)
    n = len(arr)
    codes = arr.view(np.uint32).reshape(n, arr.dtype.itemsize // 4)
    if codes.size and codes.max() >= 128:
        return None
    table = _padded_words(codes)
    return [
        _Group(length, table, rows, rows)
        for length, rows in _by_length(np.strings.str_len(arr).astype(np.int64))
    ]


def _as_str(x: object) -> str:
    if isinstance(x, str):
        return x
    if x is None or isinstance(x, (bytes, float)):
        raise InputError("user_ids", x, "string or integer ids")
    return str(x)


def _from_buffer(data: np.ndarray, offsets: np.ndarray) -> tuple[int, list[_Group]]:
    """Groups from UTF-8 bytes ``data`` and int64 ``offsets`` (n + 1 of them, Arrow's layout):
    one padded word table per byte length, gathered in blocks to bound the index arrays."""
    n = len(offsets) - 1
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    groups = []
    for length, rows in _by_length(lengths):
        at = starts if rows is None else starts[rows]
        cols = np.arange(length)
        table = np.concatenate([_padded_words(data[at[lo : lo + _BLOCK, None] + cols])
                                for lo in range(0, len(at), _BLOCK)]) if len(at) else np.zeros((0, 1), np.uint64)
        groups.append(_Group(length, table, None, rows))
    return n, groups


def _from_arrow(column: pa.Array | pa.ChunkedArray) -> tuple[int, list[_Group]]:
    """Groups straight from an Arrow string column's buffers (no Python objects)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.large_string())
    if column.null_count:
        raise InputError("user_ids", None, "string or integer ids (the column has missing values)")
    if pa.types.is_integer(column.type):
        column = column.cast(pa.string())
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InputError("user_ids", f"Arrow column of type {column.type}", "strings or integers")
    if pa.types.is_string(column.type):
        column = column.cast(pa.large_string())
    _, offsets, data = column.buffers()
    offsets = np.frombuffer(offsets, np.int64, len(column) + 1, column.offset * 8)
    return _from_buffer(np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8), offsets)


def _from_strings(ids: Iterable[object]) -> tuple[int, list[_Group]]:
    """Groups from any iterable of str/int: Arrow encodes the UTF-8 buffer and its offsets in
    one pass (ints become decimal text); anything else is refused, naming the first such id."""
    # a numpy unicode array goes through Python strings: Arrow would end each at its first NUL
    strs = ids.tolist() if isinstance(ids, np.ndarray) else ids if isinstance(ids, (list, tuple)) else list(ids)
    try:
        column = pa.array(strs, from_pandas=False)
    except (pa.ArrowException, UnicodeEncodeError, OverflowError):
        column = None
    if column is not None and (pa.types.is_null(column.type) and len(column) == 0):
        column = pa.array([], pa.large_string())
    if column is None or column.null_count or not (
            pa.types.is_string(column.type) or pa.types.is_integer(column.type)):
        for x in strs:
            text = _as_str(x)  # refuses None, bytes and floats
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InputError("user_ids", e.object[e.start : e.end], "valid Unicode text") from None
        column = pa.array([_as_str(x) for x in strs], pa.large_string())  # mixed str and int
    return _from_arrow(column)


# --- public functions --------------------------------------------------------------------


def xxh64(ids: Ids | EncodedIds, seed: int = 0) -> np.ndarray:
    """XXH64 (uint64) of ``UTF-8(str(id))`` for every id; equals ``xxhash.xxh64_intdigest``."""
    return EncodedIds(ids).xxh64(b"", seed)


def hash_uniform(ids: Ids | EncodedIds, salt: str) -> np.ndarray:
    """Float64 in [0, 1) per id: top 53 bits of XXH64(``salt + ":" + id``), seed 0."""
    return EncodedIds(ids).uniform(salt)


def xxh64_one(user_id: str | int, seed: int = 0) -> int:
    """XXH64 of one id (same code path as :func:`xxh64`)."""
    return int(xxh64([user_id], seed)[0])


def hash_uniform_one(user_id: str | int, salt: str) -> float:
    """Uniform [0, 1) draw for one id (same code path as :func:`hash_uniform`)."""
    return float(hash_uniform([user_id], salt)[0])
