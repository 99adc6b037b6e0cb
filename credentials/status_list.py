"""Bitstring Status List (W3C BSL 1.0): the bitstring, its ``encodedList`` form, allocation."""

from __future__ import annotations

import gzip
import random
import secrets
import zlib
from collections.abc import Callable, Container
from typing import TypeAlias

from credentials._encoding import EncodingError, b64url_decode, b64url_encode
from credentials.errors import MisuseError, StatusListError, StatusListFullError

__all__ = ["MIN_STATUS_LIST_ENTRIES", "StatusList", "allocate_random_free_index"]

MIN_STATUS_LIST_ENTRIES = 131_072
"""BSL minimum list size: 16 KiB of bits, for herd privacy."""

MAX_DECODED_BYTES = 16 * 1024 * 1024
"""Refuse encodedLists that inflate beyond this (gzip-bomb guard)."""

UsedIndexes: TypeAlias = Container[int] | Callable[[int], bool]


class StatusList:
    """A mutable bitstring of status bits; index 0 is the most significant bit of byte 0.

    Args:
        size: number of entries; a multiple of 8, at least `MIN_STATUS_LIST_ENTRIES`.
    """

    __slots__ = ("_bits",)

    def __init__(self, size: int = MIN_STATUS_LIST_ENTRIES) -> None:
        if size < MIN_STATUS_LIST_ENTRIES or size % 8:
            raise MisuseError(
                f"a status list needs a multiple of 8 entries, at least {MIN_STATUS_LIST_ENTRIES}"
            )
        self._bits = bytearray(size // 8)

    @classmethod
    def from_bytes(cls, data: bytes, *, min_entries: int = MIN_STATUS_LIST_ENTRIES) -> StatusList:
        """Wrap raw bitstring bytes (copied).

        Raises:
            StatusListError: fewer than ``min_entries`` bits.
        """
        if len(data) * 8 < min_entries:
            raise StatusListError(
                f"status list has {len(data) * 8} entries, fewer than {min_entries}"
            )
        out = cls.__new__(cls)
        out._bits = bytearray(data)
        return out

    def __len__(self) -> int:
        return len(self._bits) * 8

    def _check(self, index: int) -> None:
        if type(index) is not int or not 0 <= index < len(self._bits) * 8:
            raise MisuseError(f"status index {index!r} out of range 0..{len(self) - 1}")

    def get(self, index: int) -> bool:
        """Return whether the bit at ``index`` is set."""
        self._check(index)
        return bool((self._bits[index >> 3] >> (7 - (index & 7))) & 1)

    def set(self, index: int, value: bool = True) -> None:
        """Set (or with ``value=False`` clear) the bit at ``index``."""
        self._check(index)
        mask = 1 << (7 - (index & 7))
        if value:
            self._bits[index >> 3] |= mask
        else:
            self._bits[index >> 3] &= ~mask & 0xFF

    def set_indexes(self) -> list[int]:
        """Return the indexes of all set bits, ascending."""
        out: list[int] = []
        for byte_no, byte in enumerate(self._bits):
            if byte:
                out.extend(byte_no * 8 + bit for bit in range(8) if byte & (0x80 >> bit))
        return out

    def to_bytes(self) -> bytes:
        """Return the raw bitstring."""
        return bytes(self._bits)

    def encode(self) -> str:
        """Return the ``encodedList``: ``"u"`` + base64url (no padding) of the GZIP'd bits."""
        return "u" + b64url_encode(gzip.compress(bytes(self._bits), mtime=0))

    @classmethod
    def decode(
        cls,
        encoded: str,
        *,
        min_entries: int = MIN_STATUS_LIST_ENTRIES,
        max_bytes: int = MAX_DECODED_BYTES,
    ) -> StatusList:
        """Parse an ``encodedList``.

        Raises:
            StatusListError: missing ``u`` prefix, bad base64url, bad GZIP, trailing data,
                more than ``max_bytes`` once inflated, or fewer than ``min_entries`` bits.
        """
        if not isinstance(encoded, str) or not encoded.startswith("u"):
            raise StatusListError("encodedList must be a string starting with 'u' (base64url)")
        try:
            compressed = b64url_decode(encoded[1:])
        except (EncodingError, UnicodeEncodeError):
            raise StatusListError("encodedList is not valid base64url (no padding)") from None
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(compressed, max_bytes)
        except zlib.error as exc:
            raise StatusListError(f"encodedList is not valid GZIP: {exc}") from None
        if inflater.unconsumed_tail:
            raise StatusListError(f"encodedList inflates beyond {max_bytes} bytes")
        if not inflater.eof or inflater.unused_data:
            raise StatusListError("encodedList GZIP stream is truncated or has trailing data")
        return cls.from_bytes(data, min_entries=min_entries)


def allocate_random_free_index(
    size: int,
    used: UsedIndexes,
    *,
    rng: random.Random | None = None,
    attempts: int = 64,
) -> int:
    """Pick a random index in ``0..size-1`` that is not used.

    Random probes first (indexes are assigned at random for herd privacy); if ``attempts``
    probes all hit used slots, scan from a random start so a nearly full list still works.

    Args:
        size: number of entries in the list.
        used: a container of used indexes, or a predicate ``used(index) -> bool``.
        rng: randomness source; `secrets.SystemRandom` by default.
        attempts: random probes before scanning.

    Raises:
        StatusListFullError: every index is used.
    """
    if size <= 0:
        raise MisuseError("size must be positive")
    rand = rng if rng is not None else secrets.SystemRandom()
    is_used: Callable[[int], bool] = used if callable(used) else used.__contains__
    for _ in range(attempts):
        index = rand.randrange(size)
        if not is_used(index):
            return index
    start = rand.randrange(size)
    for offset in range(size):
        index = (start + offset) % size
        if not is_used(index):
            return index
    raise StatusListFullError(f"all {size} status list entries are in use")
