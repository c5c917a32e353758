"""The gated tagger's glue between its sparse features and the window cells (contract: ``window``).

A batch of sentences is a window of ``T`` steps (the longest sentence's length)
by ``B`` streams (one sentence each, padded at its end). ``positions`` (T, B)
int64 names the token read at each step (an index into the tokens' compressed
features ``feature_ptr`` (tokens+1,) / ``feature_ids``), -1 for padding. The
forward direction reads stream b's tokens in order, the backward direction in
reverse order, both from step 0: so both directions' windows are padded at their
ends and the same cell kernels read both.

- ``gather_inputs``: a token's dense input is the sum of its features' rows of the
  embedding (F, E); padding reads zeros;
- ``scatter_input_grads``: that sum's gradient, added to the embedding's rows;
- ``join_directions``: the output layer's input, ``[h_forward(t), h_backward(t)]`` per
  token in reading order (the backward state of step t of stream b was computed at
  step ``lengths[b] - 1 - t`` of its window); ``split_joined_grads`` its gradient.

No bounds checks: the caller (``rnnlmpy.tagger.gated``) builds the positions and feature ids itself.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, fastmath=True)
def gather_inputs(embedding, feature_ptr, feature_ids, positions, out):
    """``out[t, b]`` (T,B,E) = the sum of ``embedding`` (F,E) rows ``feature_ids[feature_ptr[p]:feature_ptr[p+1]]``
    for the token ``p = positions[t, b]``; zeros where ``p`` is -1 (padding)."""
    steps, streams, width = out.shape
    for t in range(steps):
        for b in range(streams):
            row = out[t, b]
            for j in range(width):
                row[j] = 0.0
            p = positions[t, b]
            if p < 0:
                continue
            for k in range(feature_ptr[p], feature_ptr[p + 1]):
                source = embedding[feature_ids[k]]
                for j in range(width):
                    row[j] += source[j]


@njit(cache=True, fastmath=True)
def scatter_input_grads(grad_embedding, feature_ptr, feature_ids, positions, grads):
    """``grad_embedding`` (F,E) += ``grads[t, b]`` (T,B,E) at every feature row of the token ``positions[t, b]``
    (skipping padding, -1): the gradient of ``gather_inputs``."""
    steps, streams, width = grads.shape
    for t in range(steps):
        for b in range(streams):
            p = positions[t, b]
            if p < 0:
                continue
            source = grads[t, b]
            for k in range(feature_ptr[p], feature_ptr[p + 1]):
                row = grad_embedding[feature_ids[k]]
                for j in range(width):
                    row[j] += source[j]


@njit(cache=True, fastmath=True)
def join_directions(forward, backward, lengths, joined):
    """``joined[t, b]`` (T,B,D*H) = ``[forward[t, b], backward[lengths[b] - 1 - t, b]]`` (each (T,B,H)) for the
    steps ``t < lengths[b]``, zeros on padding; only the forward half when ``joined`` is H wide (one direction)."""
    steps, streams, size = forward.shape
    both = joined.shape[2] > size
    for t in range(steps):
        for b in range(streams):
            row = joined[t, b]
            if t >= lengths[b]:
                for j in range(joined.shape[2]):
                    row[j] = 0.0
                continue
            ahead = forward[t, b]
            for j in range(size):
                row[j] = ahead[j]
            if both:
                behind = backward[lengths[b] - 1 - t, b]
                for j in range(size):
                    row[size + j] = behind[j]


@njit(cache=True, fastmath=True)
def split_joined_grads(grad_joined, lengths, grad_forward, grad_backward):
    """The gradient of ``join_directions``: ``grad_forward`` and ``grad_backward`` (T,B,H) WRITTEN from
    ``grad_joined`` (T,B,D*H), zeros on padding (``grad_backward`` is not touched when ``grad_joined`` is H
    wide)."""
    steps, streams, size = grad_forward.shape
    both = grad_joined.shape[2] > size
    for t in range(steps):
        for b in range(streams):
            ahead = grad_forward[t, b]
            if both:
                behind = grad_backward[t, b]
                for j in range(size):
                    behind[j] = 0.0
            for j in range(size):
                ahead[j] = 0.0
    for b in range(streams):
        for t in range(lengths[b]):
            row = grad_joined[t, b]
            ahead = grad_forward[t, b]
            for j in range(size):
                ahead[j] = row[j]
            if both:
                behind = grad_backward[lengths[b] - 1 - t, b]
                for j in range(size):
                    behind[j] = row[size + j]
