"""Backoff n-gram scoring on a trie of sorted arrays (``rnnlmpy.ngram.binary``'s layout); called only by that module.

Every n-gram has one global entry number: the unigrams first (entry = word id), then the bigrams, and so on;
``first_entry[n - 1]`` is the first entry of order n and ``first_entry[order]`` the number of entries. Within
an order the entries are sorted by (context entry, last word), so the children of an entry (the n-grams that
extend it by one word) are one run, ``children[child_start[n - 1] + j]`` to ``children[child_start[n - 1] + j + 1]``
for the j-th entry of order n (counted within the order next above), their last words in ``last_word``
increasing. Bigrams are found through ``bigram_table`` instead (linear probing from the slot the hash of
(context word, word) gives; ``rnnlmpy.ngram.binary`` builds and checks it). ``prob`` and ``backoff`` hold log10 values times ``scale`` (integers when the values are decimals,
``scale`` 1 for float64 values); the arrays must have been checked (sizes, ranges, order) before a call.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def child_entry(first_entry, child_start, children, last_word, context, context_order, word):
    """The entry of the n-gram (``context`` entry of order ``context_order``, ``word``), -1 if absent: a binary
    search among the context's children."""
    local = context - first_entry[context_order - 1]
    run = child_start[context_order - 1] + local
    base = first_entry[context_order]
    low = base + np.int64(children[run])
    high = base + np.int64(children[run + 1])
    while low < high:
        middle = (low + high) >> 1
        found = last_word[middle]
        if found < word:
            low = middle + 1
        elif found > word:
            high = middle
        else:
            return middle
    return -1


@njit(cache=True)
def bigram_entry(first_entry, children, last_word, bigram_table, bigram_bits, context, word):
    """The entry of the bigram (``context`` word, ``word``), -1 if absent: probe the table from the hash's slot
    until the bigram (a child of ``context`` ending in ``word``) or an empty slot."""
    vocab_size = first_entry[1]
    low = vocab_size + np.int64(children[context])
    high = vocab_size + np.int64(children[context + 1])
    key = np.uint64(context) * np.uint64(vocab_size) + np.uint64(word)
    slot = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bigram_bits))
    while slot < bigram_table.shape[0]:
        number = bigram_table[slot]
        if number == np.uint32(0xFFFFFFFF):
            return -1
        entry = vocab_size + np.int64(number)
        if low <= entry < high and last_word[entry] == word:
            return entry
        slot += 1
    return -1


@njit(cache=True)
def score_trie(ids, position, first_entry, child_start, children, last_word, prob, backoff, scale, bigram_table,
               bigram_bits, log10_prob, matched):
    """log10 P (``log10_prob``, float64 (T,)) and the order of the longest n-gram found (``matched``, int64 (T,))
    of every token of a stream of word ids (int32 (T,), -1 unknown; ``position`` in its sentence, 0 = ``<s>``).

    A token takes its longest n-gram present, plus the backoff weights of the longer contexts present that did
    not continue with it, added longest first; the n-gram of order n ending at a token extends the (n-1)-gram
    that ended at the token before (none before position n - 1). A token with no unigram stays NaN, order 0.
    """
    order = first_entry.shape[0] - 1
    vocab_size = first_entry[1]
    before = np.full(order + 1, -1, dtype=np.int64)  # before[n]: entry of the n-gram ending at the previous token
    here = np.full(order + 1, -1, dtype=np.int64)
    for i in range(ids.shape[0]):
        word = np.int64(ids[i])
        place = np.int64(position[i])
        for n in range(order + 1):
            here[n] = -1
        if 0 <= word < vocab_size:
            here[1] = word
            if order >= 2 and place >= 1 and before[1] >= 0:
                here[2] = bigram_entry(first_entry, children, last_word, bigram_table, bigram_bits, before[1], word)
            for n in range(3, min(order, place + 1) + 1):
                if before[n - 1] >= 0:
                    here[n] = child_entry(first_entry, child_start, children, last_word, before[n - 1], n - 1, word)
        result = np.nan
        found_order = 0
        backoff_sum = 0.0
        for n in range(order, 0, -1):
            entry = here[n]
            if entry >= 0:
                result = prob[entry] / scale + backoff_sum
                found_order = n
                break
            if n > 1 and place >= n - 1 and before[n - 1] >= 0:
                backoff_sum += backoff[before[n - 1]] / scale
        log10_prob[i] = result
        matched[i] = found_order
        before, here = here, before
