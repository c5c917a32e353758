"""Tokens: turning corpus bytes into int32 type ids with an open-addressing hash table, and counting them.

The vocabulary being built lives in plain arrays the caller owns and grows:

- ``table`` int32 (S,), S a power of two: type number or EMPTY_SLOT, probed
  linearly from ``slot_of(hash)``;
- ``type_starts`` int64, ``type_lengths`` int64 and ``type_hashes`` uint64
  (capacity,): where type t's bytes start in ``pool``, how many there are, and
  their 64-bit FNV-1a hash;
- ``pool`` uint8: every type's bytes in type order, each followed by one LF
  byte, so ``pool[:pool_used]`` is the types' text, one per line.

Types are numbered in order of first appearance. ``tokenize_bytes`` splits on
ASCII space and tab; each LF emits SENTENCE_END_TYPE (type 0, which the caller
seeds as ``</s>``). It stops early, saying why, when ``ids`` is full, when the
type arrays are full (``type_limit``; keep it at most half the table), or when
the pool has no room for a new type; the caller grows what ran out and calls
again from the position returned. The caller removes CR bytes beforehand.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SPACE = 0x20
TAB = 0x09
NEWLINE = 0x0A
SENTENCE_END_TYPE = 0
EMPTY_SLOT = -1

# Why tokenize_bytes returned.
DONE = 0  # every byte up to ``end`` is tokenised
IDS_FULL = 1  # ``ids`` has no room for the next token
TYPES_FULL = 2  # a new type would pass ``type_limit``
POOL_FULL = 3  # a new type's bytes (and their LF) do not fit in ``pool``

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
HIGH_HALF = np.uint64(32)


@njit(cache=True, nogil=True)
def slot_of(hash_value, mask):
    """The first table slot (0..mask) probed for a 64-bit hash; ``mask`` = table size - 1."""
    return np.int64((hash_value ^ (hash_value >> HIGH_HALF)) & np.uint64(mask))


@njit(cache=True, nogil=True)
def tokenize_bytes(data, position, end, table, type_starts, type_lengths, type_hashes, type_limit, pool, pool_used,
                   type_count, ids, id_count):
    """Tokenise ``data[position:end]`` (uint8) into ``ids`` (int32) from ``ids[id_count]`` on, adding new types.

    Returns ``(status, position, pool_used, type_count, id_count)``: status DONE
    (position == end) or why it stopped (IDS_FULL, TYPES_FULL, POOL_FULL), with
    ``position`` at the first byte not yet consumed (the start of the token that
    did not fit), so that a call with the grown arrays and these values goes on.
    Table and type arrays as in the module docstring; ``type_limit`` <=
    ``type_starts.shape[0]``.
    """
    mask = table.shape[0] - 1
    id_capacity = ids.shape[0]
    pool_capacity = pool.shape[0]
    while position < end:
        byte = data[position]
        if byte == SPACE or byte == TAB:
            position += 1
            continue
        if id_count == id_capacity:
            return IDS_FULL, position, pool_used, type_count, id_count
        if byte == NEWLINE:
            ids[id_count] = SENTENCE_END_TYPE
            id_count += 1
            position += 1
            continue
        start = position
        hash_value = FNV_OFFSET
        while position < end:
            byte = data[position]
            if byte == SPACE or byte == TAB or byte == NEWLINE:
                break
            hash_value = (hash_value ^ np.uint64(byte)) * FNV_PRIME
            position += 1
        length = position - start
        slot = slot_of(hash_value, mask)
        found = EMPTY_SLOT
        while True:
            candidate = table[slot]
            if candidate == EMPTY_SLOT:
                break
            if type_hashes[candidate] == hash_value and type_lengths[candidate] == length:
                offset = type_starts[candidate]
                same = True
                for k in range(length):
                    if pool[offset + k] != data[start + k]:
                        same = False
                        break
                if same:
                    found = candidate
                    break
            slot = (slot + 1) & mask
        if found == EMPTY_SLOT:
            if type_count >= type_limit:
                return TYPES_FULL, start, pool_used, type_count, id_count
            if pool_used + length + 1 > pool_capacity:
                return POOL_FULL, start, pool_used, type_count, id_count
            for k in range(length):
                pool[pool_used + k] = data[start + k]
            pool[pool_used + length] = NEWLINE
            type_starts[type_count] = pool_used
            type_lengths[type_count] = length
            type_hashes[type_count] = hash_value
            table[slot] = type_count
            found = type_count
            type_count += 1
            pool_used += length + 1
        ids[id_count] = found
        id_count += 1
    return DONE, position, pool_used, type_count, id_count


@njit(cache=True, nogil=True)
def build_table(type_hashes, type_count, table_size):
    """A fresh hash table (int32 (table_size,), a power of two > type_count) holding types 0..type_count-1."""
    table = np.full(table_size, EMPTY_SLOT, dtype=np.int32)
    mask = table_size - 1
    for type_number in range(type_count):
        slot = slot_of(type_hashes[type_number], mask)
        while table[slot] != EMPTY_SLOT:
            slot = (slot + 1) & mask
        table[slot] = type_number
    return table


@njit(cache=True, nogil=True)
def type_counts(type_ids, begin, end, type_count):
    """How often each type occurs in ``type_ids[begin:end]`` and where first.

    Returns ``(counts, first_position)``, both int64 (type_count,):
    ``first_position[t]`` is the smallest index i (into ``type_ids``, begin <= i
    < end) with ``type_ids[i] == t``, or -1 where t does not occur. Raises
    ValueError for an id outside 0..type_count-1.
    """
    counts = np.zeros(type_count, dtype=np.int64)
    first_position = np.full(type_count, -1, dtype=np.int64)
    for i in range(begin, end):
        type_number = type_ids[i]
        if type_number < 0 or type_number >= type_count:
            raise ValueError("type id out of range")
        if counts[type_number] == 0:
            first_position[type_number] = i
        counts[type_number] += 1
    return counts, first_position
