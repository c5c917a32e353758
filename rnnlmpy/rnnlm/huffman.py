"""The binary Huffman tree of a hierarchical softmax (``-hs``): each word's path of inner nodes and branch codes.

A vocabulary of V words has V - 1 inner nodes, each with one weight row in the
output layer. Word ``w``'s path runs from the root down to ``w``:
``path_nodes[path_ptr[w]:path_ptr[w + 1]]`` are the inner nodes it passes and
``path_codes[...]`` the branch taken at each (0 = left, 1 = right). The
probability of a word is the product of the branch probabilities along its path
(see ``rnnlmpy.kernels.hsoftmax``), so a frequent word, with a short path, costs
few dot products.

Construction is the two-queue Huffman method: the words sorted by ascending count
(ties by ascending index, a stable sort) form one queue, the merged nodes (made
in order of non-decreasing weight) the other; each step merges the two lightest
heads, a word winning a tie against a merged node. The lighter of the pair (the
first taken) becomes the left child (code 0), the other the right child (code 1).
Inner nodes are numbered from the root down: the root is node 0 and the node
made by the k-th merge is ``V - 2 - k``, so the nodes near the root, used by
most words, have the lowest ids (their rows sit together in memory). Everything
is deterministic: the same counts give the same tree. O(V log V) for the sort,
then O(V) merges and O(total path length) vectorised path filling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base.errors import RnnlmpyError


@dataclass
class HuffmanTree:
    """Paths of the V words through the V - 1 inner nodes of a binary Huffman tree.

    ``path_ptr`` (int64, shape (V + 1,)): word ``w``'s path is positions
    ``path_ptr[w] <= i < path_ptr[w + 1]`` of the two arrays below (its length is
    the word's code length; 0 for the only word of a one-word vocabulary).
    ``path_nodes`` (int32, shape (path_ptr[V],)): inner node ids in ``0..V-2``,
    root (node 0) first. ``path_codes`` (int8, same shape): the branch taken at
    that node, 0 = left, 1 = right.
    """

    path_ptr: np.ndarray
    path_nodes: np.ndarray
    path_codes: np.ndarray

    def __repr__(self) -> str:
        return f"HuffmanTree({self.size:,} words, longest path {self.max_depth})"

    @property
    def size(self) -> int:
        """Number of words V."""
        return len(self.path_ptr) - 1

    @property
    def inner_count(self) -> int:
        """Number of inner nodes (weight rows of the output layer): V - 1."""
        return max(self.size - 1, 0)

    @property
    def lengths(self) -> np.ndarray:
        """Path (code) length of every word (int64, shape (V,))."""
        return np.diff(self.path_ptr)

    @property
    def max_depth(self) -> int:
        """Length of the longest path (0 for a one-word vocabulary)."""
        return int(self.lengths.max()) if self.size else 0

    def path(self, word: int) -> tuple[np.ndarray, np.ndarray]:
        """(inner nodes, codes) on the path of ``word``, root first."""
        begin, end = self.path_ptr[word], self.path_ptr[word + 1]
        return self.path_nodes[begin:end], self.path_codes[begin:end]

    def average_path_length(self, counts: np.ndarray) -> float:
        """Expected code length under the distribution proportional to ``counts`` (shape (V,))."""
        weights = np.asarray(counts, dtype=np.float64)
        total = weights.sum()
        return float((weights * self.lengths).sum() / total) if total > 0 else float(self.lengths.mean())


def build_huffman_tree(counts: np.ndarray) -> HuffmanTree:
    """The Huffman tree of word counts (shape (V,), non-negative, V >= 1); see the module docstring.

    A word's path length is its code length in an optimal prefix code for the
    counts: about log2(V) for equal counts, within one bit of the entropy on
    average. V = 1 gives an empty path (probability 1); V = 2 one node.
    """
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.shape[0] < 1:
        raise RnnlmpyError("a Huffman tree needs a one-dimensional array of at least one word count")
    if counts.dtype.kind not in "iuf" or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise RnnlmpyError("Huffman tree word counts must be finite non-negative numbers")
    size = counts.shape[0]
    merges = size - 1
    # Nodes 0..V-1 are the words, V + k the node of the k-th merge; parent[] and code[] of every non-root node.
    parent = np.full(2 * size - 1, -1, dtype=np.int64)
    code = np.zeros(2 * size - 1, dtype=np.int8)
    leaf_order = np.argsort(counts, kind="stable")
    leaf_weight = counts[leaf_order].tolist()
    leaf_node = leaf_order.tolist()
    merged_weight = []
    parent_list = [0] * (2 * size - 1)
    right_child = []
    heads = [0, 0]  # next word (in count order), next merged node (in merge order)

    def take_lightest(k: int) -> tuple[int, float]:
        """(node, weight) of the lighter queue head before merge k; a word wins ties (keeps paths short)."""
        leaf_head, merged_head = heads
        if leaf_head < size and (merged_head >= k or leaf_weight[leaf_head] <= merged_weight[merged_head]):
            heads[0] += 1
            return leaf_node[leaf_head], leaf_weight[leaf_head]
        heads[1] += 1
        return size + merged_head, merged_weight[merged_head]

    for k in range(merges):
        left, left_weight = take_lightest(k)
        right, right_weight = take_lightest(k)
        merged_weight.append(left_weight + right_weight)
        parent_list[left] = parent_list[right] = size + k
        right_child.append(right)
    if merges:
        parent[:] = parent_list
        parent[-1] = -1
        code[np.asarray(right_child, dtype=np.int64)] = 1
    return _paths(parent, code, size)


def _paths(parent: np.ndarray, code: np.ndarray, size: int) -> HuffmanTree:
    """Fill every word's path from the parent links, all words a level at a time (from the leaves up)."""
    root = 2 * size - 2
    # depths: climb from every word to the root
    lengths = np.zeros(size, dtype=np.int64)
    current = np.arange(size, dtype=np.int64)
    active = np.arange(size, dtype=np.int64)
    while active.size:
        keep = current[active] != root
        active = active[keep]
        current[active] = parent[current[active]]
        lengths[active] += 1
    path_ptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(lengths, out=path_ptr[1:])
    path_nodes = np.empty(path_ptr[-1], dtype=np.int32)
    path_codes = np.empty(path_ptr[-1], dtype=np.int8)
    # fill from each path's end (the word) back to its start (the root)
    current = np.arange(size, dtype=np.int64)
    position = path_ptr[1:] - 1
    active = np.flatnonzero(lengths > 0)
    while active.size:
        nodes = current[active]
        above = parent[nodes]
        path_nodes[position[active]] = root - above  # merge k (node V + k) is inner node V - 2 - k
        path_codes[position[active]] = code[nodes]
        position[active] -= 1
        current[active] = above
        active = active[above != root]
    return HuffmanTree(path_ptr=path_ptr, path_nodes=path_nodes, path_codes=path_codes)
