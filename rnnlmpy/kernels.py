"""Numba kernels of the recurrent network: pure functions on arrays, no Python objects.

Array conventions (``H`` hidden units, ``V`` input rows, ``C`` classes, ``Y`` output rows):

- ``input_weights``  (V, H): row ``v`` is the input column of sparse feature ``v``
  (a word, for the LM). A position's input is the sum of the rows of its
  features, never a dense one-hot product.
- ``recurrent``      (H, H): ``recurrent[i, j]`` feeds previous hidden unit ``j``
  into hidden unit ``i``.
- ``class_weights``  (C, H) and ``output_weights`` (Y, H): rows of the class and
  output layers. The output rows of class ``c`` are ``class_start[c] <=
  y < class_end[c]``, and ``P(y | h) = P(class(y) | h) * P(y | class(y), h)``.
  With one class spanning all rows this is an ordinary full softmax.

A token stream is given in compressed-row form: the features of position ``t``
are ``feature_ids[feature_ptr[t]:feature_ptr[t + 1]]`` (empty for an unknown
input), its target is ``targets[t]`` (-1: unscored), and ``boundaries[t]`` marks
the end of a sentence (where an ``independent`` model resets its state). The LM
feeds the previous word as the single feature; the POS tagger feeds a word's
sparse features and predicts its tag, with the same kernels.

Training state carried between calls (so training can stop and resume
anywhere) lives in arrays: the hidden state, a ring buffer of the last
``bptt + bptt_block + 1`` steps, the accumulated recurrent update, and
``counters`` = [ring head, ring fill, words done in the epoch].
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SIGMOID, TANH, RELU, ELU = 0, 1, 2, 3
ACTIVATIONS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "elu": ELU}

# counters[] slots of the training state
RING_HEAD, RING_FILL, EPOCH_WORDS = 0, 1, 2

LOG10_E = 1.0 / math.log(10.0)


@njit(cache=True, fastmath=True)
def activate(values, activation):
    """Apply the hidden activation to ``values`` (shape (H,)) in place."""
    one = values.dtype.type(1.0)
    limit = values.dtype.type(50.0)
    if activation == SIGMOID:
        for i in range(values.shape[0]):
            v = min(max(values[i], -limit), limit)
            values[i] = one / (one + math.exp(-v))
    elif activation == TANH:
        two = values.dtype.type(2.0)
        for i in range(values.shape[0]):  # tanh(v) = 2 / (1 + exp(-2v)) - 1: exp is much cheaper than libm's tanh
            v = min(max(values[i], -limit), limit)
            values[i] = two / (one + math.exp(-two * v)) - one
    elif activation == RELU:
        for i in range(values.shape[0]):
            values[i] = max(values[i], values.dtype.type(0.0))
    else:
        for i in range(values.shape[0]):
            v = values[i]
            if v < 0:
                values[i] = math.exp(max(v, -limit)) - one
    return values


@njit(cache=True, fastmath=True)
def multiply_by_derivative(error, hidden, activation):
    """Multiply ``error`` in place by the activation's derivative, given the outputs ``hidden``."""
    one = error.dtype.type(1.0)
    zero = error.dtype.type(0.0)
    if activation == SIGMOID:
        for i in range(error.shape[0]):
            error[i] *= hidden[i] * (one - hidden[i])
    elif activation == TANH:
        for i in range(error.shape[0]):
            error[i] *= one - hidden[i] * hidden[i]
    elif activation == RELU:
        for i in range(error.shape[0]):
            if hidden[i] <= zero:
                error[i] = zero
    else:
        for i in range(error.shape[0]):
            if hidden[i] < zero:
                error[i] *= hidden[i] + one
    return error


@njit(cache=True, fastmath=True)
def clip(values, cutoff):
    """Clamp ``values`` in place to [-cutoff, cutoff]; a cutoff of 0 disables clipping."""
    if cutoff > 0:
        for i in range(values.shape[0]):
            values[i] = min(max(values[i], -cutoff), cutoff)


@njit(cache=True, fastmath=True)
def hidden_forward(input_weights, recurrent, feature_ids, feature_begin, feature_end, hidden_prev, hidden_out, activation):
    """One recurrent step: ``hidden_out = act(recurrent @ hidden_prev + sum of feature rows)``."""
    size = hidden_out.shape[0]
    for i in range(size):
        row = recurrent[i]
        acc = hidden_out.dtype.type(0.0)
        for j in range(size):
            acc += row[j] * hidden_prev[j]
        hidden_out[i] = acc
    for k in range(feature_begin, feature_end):
        row = input_weights[feature_ids[k]]
        for i in range(size):
            hidden_out[i] += row[i]
    activate(hidden_out, activation)


@njit(cache=True, fastmath=True)
def row_scores(weights, row_begin, row_end, hidden, scores):
    """``scores[r] = weights[row_begin + r] @ hidden`` for the rows ``row_begin..row_end-1``."""
    size = hidden.shape[0]
    for r in range(row_end - row_begin):
        row = weights[row_begin + r]
        acc = hidden.dtype.type(0.0)
        for j in range(size):
            acc += row[j] * hidden[j]
        scores[r] = acc


@njit(cache=True, fastmath=True)
def softmax_in_place(values, count):
    """Softmax of ``values[:count]`` in place (maximum subtracted, normaliser summed in float64)."""
    highest = -np.inf
    for r in range(count):
        if values[r] > highest:
            highest = values[r]
    total = 0.0
    for r in range(count):
        value = math.exp(values[r] - highest)
        values[r] = value
        total += value
    scale = 1.0 / total
    for r in range(count):
        values[r] *= scale


@njit(cache=True, fastmath=True)
def softmax_rows(weights, row_begin, row_end, hidden, probabilities):
    """Softmax of ``weights[row_begin:row_end] @ hidden`` into ``probabilities[:row_end-row_begin]``."""
    row_scores(weights, row_begin, row_end, hidden, probabilities)
    softmax_in_place(probabilities, row_end - row_begin)


# Direct connections (rnnlm's "-direct", a hashed maximum-entropy n-gram model feeding the class and
# word scores). The hash is the C++ rnnlm's, so its models' direct weights can be read: for order n
# (0 = bias, 1 = previous word, ...), key = K + sum over b = 1..n of
# PRIMES[((n * PRIMES[b]) mod 2^32 + b) mod 36] * (history[b-1] + 1), in wrapping 64-bit arithmetic,
# where K is PRIMES[0] * PRIMES[1] (wrapped to 32 bits) for the classes and that times (class + 1)
# for the words of a class. Class c reads weight key % (D/2) + c; the k-th word of the class reads
# (key % (D/2) + D/2 + k) % D. An order stops the sum where the history holds an unknown word.
DIRECT_PRIMES = np.array([
    108641969, 116049371, 125925907, 133333309, 145678979, 175308587, 197530793, 234567803, 251851741,
    264197411, 330864029, 399999781, 407407183, 459258997, 479012069, 545678687, 560493491, 607407037,
    629629243, 656789717, 716048933, 718518067, 725925469, 733332871, 753085943, 755555077, 782715551,
    790122953, 812345159, 814814293, 893826581, 923456189, 940740127, 953085797, 985184539, 990122807,
], dtype=np.uint64)
DIRECT_CLASS_KEY = np.uint64((108641969 * 116049371) % 2**32)
MAX_DIRECT_ORDER = 20


@njit(cache=True)
def direct_history(targets, boundaries, t, independent, order, history):
    """The words before position t, most recent first (``history[b]`` = word t-1-b; 0 = ``</s>`` before the
    stream or, for an independent model, before the sentence; -1 = unknown)."""
    crossed = False
    for b in range(order):
        position = t - 1 - b
        if position < 0 or crossed:
            history[b] = 0
        else:
            history[b] = targets[position]
            if independent and boundaries[position]:
                crossed = True  # this word is the previous sentence's </s>; older words are cut off


@njit(cache=True)
def direct_keys(history, order, base_key, half, offset, keys):
    """Start index of each usable order's run of weights; returns how many orders are usable."""
    size = DIRECT_PRIMES.shape[0]
    for n in range(order):
        if n > 0 and history[n - 1] < 0:
            return n
        key = base_key
        for b in range(1, n + 1):
            mixed = (np.uint64(n) * DIRECT_PRIMES[b]) % np.uint64(4294967296)
            key += DIRECT_PRIMES[(mixed + np.uint64(b)) % np.uint64(size)] * np.uint64(history[b - 1] + 1)
        index = key % np.uint64(half) + np.uint64(offset)
        if index == 0:
            return n
        keys[n] = np.int64(index)
    return order


@njit(cache=True, fastmath=True)
def add_direct_scores(direct, keys, usable, count, wrap, scores):
    """``scores[k] += sum over usable orders of direct[keys[n] + k]`` (modulo D for word runs)."""
    size = direct.shape[0]
    for n in range(usable):
        start = keys[n]
        for k in range(count):
            index = start + k
            if wrap:
                index %= size
            scores[k] += direct[index]


@njit(cache=True, fastmath=True)
def direct_backward(direct, keys, usable, count, wrap, probabilities, target_row, alpha, decay):
    """SGD on the direct weights of a softmax: error [k = target] - P(k), decay every word (as rnnlm)."""
    size = direct.shape[0]
    for k in range(count):
        error = -probabilities[k]
        if k == target_row:
            error += 1.0
        for n in range(usable):
            index = keys[n] + k
            if wrap:
                index %= size
            direct[index] += alpha * error - decay * direct[index]


@njit(cache=True, fastmath=True)
def output_backward(weights, row_begin, row_end, probabilities, target_row, hidden, hidden_error, alpha, decay):
    """Cross-entropy error of a softmax over ``weights[row_begin:row_end]``; SGD update.

    Adds ``weights_rowsᵀ @ e`` (with ``e = onehot(target_row) - probabilities``,
    computed with the rows before their update) to ``hidden_error`` and then
    moves each row by ``alpha * e * hidden`` minus ``decay * row`` (L2).
    """
    size = hidden.shape[0]
    one = hidden.dtype.type(1.0)
    for r in range(row_end - row_begin):
        error = -probabilities[r]
        if row_begin + r == target_row:
            error += one
        row = weights[row_begin + r]
        step = alpha * error
        if decay != 0:
            keep = one - decay
            for j in range(size):
                hidden_error[j] += error * row[j]
                row[j] = keep * row[j] + step * hidden[j]
        else:
            for j in range(size):
                hidden_error[j] += error * row[j]
                row[j] += step * hidden[j]


@njit(cache=True, fastmath=True)
def target_probability(class_weights, output_weights, output_class, class_start, class_end, hidden, target,
                       class_probabilities, word_probabilities, direct, class_keys, class_usable, word_keys,
                       word_usable):
    """P(target | hidden) under the class-factored softmax (plus direct weights); fills both buffers."""
    target_class = output_class[target]
    class_count = class_weights.shape[0]
    row_scores(class_weights, 0, class_count, hidden, class_probabilities)
    add_direct_scores(direct, class_keys, class_usable, class_count, False, class_probabilities)
    softmax_in_place(class_probabilities, class_count)
    begin = class_start[target_class]
    members = class_end[target_class] - begin
    row_scores(output_weights, begin, class_end[target_class], hidden, word_probabilities)
    add_direct_scores(direct, word_keys, word_usable, members, True, word_probabilities)
    softmax_in_place(word_probabilities, members)
    return float(class_probabilities[target_class]) * float(word_probabilities[target - begin])


@njit(cache=True)
def prepare_direct(direct, direct_order, targets, boundaries, t, independent, target_class, history, class_keys,
                   word_keys, usable):
    """Hash the history of position t: ``usable`` = [class orders, word orders] (both 0 without direct weights)."""
    usable[0] = 0
    usable[1] = 0
    if direct.shape[0] == 0 or direct_order == 0:
        return
    half = direct.shape[0] // 2
    direct_history(targets, boundaries, t, independent, direct_order, history)
    usable[0] = direct_keys(history, direct_order, DIRECT_CLASS_KEY, half, 0, class_keys)
    if target_class >= 0:
        usable[1] = direct_keys(history, direct_order, DIRECT_CLASS_KEY * np.uint64(target_class + 1), half, half,
                                word_keys)


@njit(cache=True, fastmath=True)
def add_feature_update(input_weights, feature_ids, feature_begin, feature_end, delta, alpha, decay):
    """``input_weights[f] += alpha * delta`` (minus ``decay * row``) for each feature ``f`` of a position."""
    size = delta.shape[0]
    for k in range(feature_begin, feature_end):
        row = input_weights[feature_ids[k]]
        if decay != 0:
            keep = delta.dtype.type(1.0) - decay
            for i in range(size):
                row[i] = keep * row[i] + alpha * delta[i]
        else:
            for i in range(size):
                row[i] += alpha * delta[i]


@njit(cache=True, fastmath=True)
def add_outer(matrix, left, right, scale):
    """``matrix += scale * outer(left, right)``."""
    for i in range(left.shape[0]):
        step = scale * left[i]
        row = matrix[i]
        for j in range(right.shape[0]):
            row[j] += step * right[j]


@njit(cache=True, fastmath=True)
def backpropagate_through_time(input_weights, recurrent, recurrent_update, feature_ptr, feature_ids,
                               ring_position, ring_input, ring_hidden, ring_error, counters,
                               steps_back, alpha, decay, cutoff, activation, delta, carry):
    """Truncated BPTT over the ring buffer, ending with the block update of ``recurrent``.

    The newest stored step's output error is propagated back ``steps_back``
    steps (fewer if the ring holds fewer); older errors of the block join on
    the way. Feature rows are updated as their step is reached; the recurrent
    matrix gets the accumulated update once, at the end (the block update).
    Stored errors are then cleared so they are not propagated twice.
    """
    capacity = ring_hidden.shape[0]
    head = counters[RING_HEAD]
    steps = min(counters[RING_FILL], steps_back)
    size = delta.shape[0]
    slot = head
    delta[:] = ring_error[slot]
    for s in range(steps):
        slot = (head - s) % capacity
        multiply_by_derivative(delta, ring_hidden[slot], activation)
        position = ring_position[slot]
        add_feature_update(input_weights, feature_ids, feature_ptr[position], feature_ptr[position + 1],
                           delta, alpha, decay)
        # carry = recurrentᵀ @ delta, clipped: the error reaching the previous hidden state
        carry[:] = 0
        for i in range(size):
            row = recurrent[i]
            d = delta[i]
            for j in range(size):
                carry[j] += row[j] * d
        clip(carry, cutoff)
        add_outer(recurrent_update, delta, ring_input[slot], alpha)
        if s + 1 < steps:
            previous = (slot - 1) % capacity
            for j in range(size):
                delta[j] = carry[j] + ring_error[previous, j]
    if decay != 0:
        keep = delta.dtype.type(1.0) - decay
        for i in range(size):
            for j in range(size):
                recurrent[i, j] = keep * recurrent[i, j] + recurrent_update[i, j]
    else:
        for i in range(size):
            for j in range(size):
                recurrent[i, j] += recurrent_update[i, j]
    recurrent_update[:] = 0
    ring_error[:] = 0


@njit(cache=True)
def largest_class_size(class_start, class_end):
    """Number of output rows in the largest class (at least 1)."""
    largest = 1
    for c in range(class_start.shape[0]):
        largest = max(largest, class_end[c] - class_start[c])
    return largest


@njit(cache=True)
def output_buffers(class_weights, class_start, class_end):
    """Work arrays of the class-factored output: class and word probabilities, direct-connection hashing."""
    class_probabilities = np.empty(class_weights.shape[0], dtype=class_weights.dtype)
    word_probabilities = np.empty(largest_class_size(class_start, class_end), dtype=class_weights.dtype)
    history = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    class_keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    word_keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    usable = np.zeros(2, dtype=np.int64)
    return class_probabilities, word_probabilities, history, class_keys, word_keys, usable


@njit(cache=True, fastmath=True)
def train_span(input_weights, recurrent, class_weights, output_weights, output_class, class_start, class_end,
               feature_ptr, feature_ids, targets, boundaries, begin, end,
               hidden_prev, recurrent_update, ring_position, ring_input, ring_hidden, ring_error, counters,
               alpha, beta, cutoff, bptt, bptt_block, activation, independent, reset_value, direct, direct_order,
               probabilities):
    """Train on positions ``begin <= t < end`` of a stream with SGD and truncated BPTT.

    Output and class rows are updated every position; the input rows and the
    recurrent matrix are updated by BPTT every ``bptt_block`` positions (and at
    sentence ends of an ``independent`` model), each error travelling at least
    ``bptt`` steps back. With ``bptt == 0`` it is plain backprop every position.
    L2 decay ``alpha * beta`` applies on every 10th position, as in rnnlm.
    ``direct`` (empty: none) holds direct-connection weights over ``direct_order``
    history words, trained every position with their decay every position.
    If ``probabilities`` is not empty, P(target) of position t (before its update)
    is written to ``probabilities[t]``.

    Returns (sum of log10 P over scored targets, number of scored targets).
    """
    dtype_one = hidden_prev.dtype.type(1.0)
    alpha = hidden_prev.dtype.type(alpha)
    cutoff = hidden_prev.dtype.type(cutoff)
    decay_value = hidden_prev.dtype.type(alpha * beta)
    reset_value = hidden_prev.dtype.type(reset_value)
    size = hidden_prev.shape[0]
    capacity = ring_hidden.shape[0]
    hidden = np.empty(size, dtype=hidden_prev.dtype)
    hidden_error = np.empty(size, dtype=hidden_prev.dtype)
    delta = np.empty(size, dtype=hidden_prev.dtype)
    carry = np.empty(size, dtype=hidden_prev.dtype)
    class_probabilities, word_probabilities, history, class_keys, word_keys, usable = output_buffers(
        class_weights, class_start, class_end)
    direct_decay = direct.dtype.type(alpha * beta)
    direct_alpha = direct.dtype.type(alpha)
    log10_sum = 0.0
    scored = 0
    for t in range(begin, end):
        counters[EPOCH_WORDS] += 1
        decay = decay_value if counters[EPOCH_WORDS] % 10 == 0 else hidden_prev.dtype.type(0.0)
        feature_begin = feature_ptr[t]
        feature_end = feature_ptr[t + 1]
        hidden_forward(input_weights, recurrent, feature_ids, feature_begin, feature_end, hidden_prev, hidden,
                       activation)
        hidden_error[:] = 0
        target = targets[t]
        if target >= 0:
            target_class = output_class[target]
            prepare_direct(direct, direct_order, targets, boundaries, t, independent, target_class, history,
                           class_keys, word_keys, usable)
            probability = target_probability(class_weights, output_weights, output_class, class_start, class_end,
                                             hidden, target, class_probabilities, word_probabilities, direct,
                                             class_keys, usable[0], word_keys, usable[1])
            if probabilities.shape[0] > 0:
                probabilities[t] = probability
            log10_sum += math.log10(max(probability, 1e-300))
            scored += 1
            if usable[0] > 0:
                first_word = class_start[target_class]
                direct_backward(direct, word_keys, usable[1], class_end[target_class] - first_word, True,
                                word_probabilities, target - first_word, direct_alpha, direct_decay)
                direct_backward(direct, class_keys, usable[0], class_weights.shape[0], False, class_probabilities,
                                target_class, direct_alpha, direct_decay)
            output_backward(output_weights, class_start[target_class], class_end[target_class], word_probabilities,
                            target, hidden, hidden_error, alpha, decay)
            clip(hidden_error, cutoff)
            output_backward(class_weights, 0, class_weights.shape[0], class_probabilities, target_class, hidden,
                            hidden_error, alpha, decay)
            clip(hidden_error, cutoff)
        elif probabilities.shape[0] > 0:
            probabilities[t] = 0.0
        sentence_end = independent and boundaries[t]
        if bptt == 0:
            multiply_by_derivative(hidden_error, hidden, activation)
            add_feature_update(input_weights, feature_ids, feature_begin, feature_end, hidden_error, alpha, decay)
            if decay != 0:
                for i in range(size):
                    for j in range(size):
                        recurrent[i, j] *= dtype_one - decay
            add_outer(recurrent, hidden_error, hidden_prev, alpha)
        else:
            head = (counters[RING_HEAD] + 1) % capacity
            counters[RING_HEAD] = head
            counters[RING_FILL] = min(counters[RING_FILL] + 1, capacity)
            ring_position[head] = t
            ring_input[head] = hidden_prev
            ring_hidden[head] = hidden
            ring_error[head] = hidden_error
            if counters[EPOCH_WORDS] % bptt_block == 0 or sentence_end:
                backpropagate_through_time(input_weights, recurrent, recurrent_update, feature_ptr, feature_ids,
                                           ring_position, ring_input, ring_hidden, ring_error, counters,
                                           bptt + bptt_block - 1, alpha, decay, cutoff, activation, delta, carry)
        if sentence_end:
            hidden_prev[:] = reset_value
            counters[RING_FILL] = 0
        else:
            hidden_prev[:] = hidden
    return log10_sum, scored


@njit(cache=True, fastmath=True)
def score_span(input_weights, recurrent, class_weights, output_weights, output_class, class_start, class_end,
               feature_ptr, feature_ids, targets, boundaries, begin, end, hidden_prev, activation, independent,
               reset_value, direct, direct_order, probabilities):
    """Forward pass over ``begin <= t < end``: ``probabilities[t] = P(targets[t] | history)``.

    Unscored targets (-1) get probability 0. ``hidden_prev`` (shape (H,)) is the
    state before ``begin`` and holds the state after ``end - 1`` on return.
    """
    size = hidden_prev.shape[0]
    hidden = np.empty(size, dtype=hidden_prev.dtype)
    class_probabilities, word_probabilities, history, class_keys, word_keys, usable = output_buffers(
        class_weights, class_start, class_end)
    for t in range(begin, end):
        hidden_forward(input_weights, recurrent, feature_ids, feature_ptr[t], feature_ptr[t + 1], hidden_prev,
                       hidden, activation)
        target = targets[t]
        if target >= 0:
            prepare_direct(direct, direct_order, targets, boundaries, t, independent, output_class[target], history,
                           class_keys, word_keys, usable)
            probabilities[t] = target_probability(class_weights, output_weights, output_class, class_start,
                                                  class_end, hidden, target, class_probabilities, word_probabilities,
                                                  direct, class_keys, usable[0], word_keys, usable[1])
        else:
            probabilities[t] = 0.0
        if independent and boundaries[t]:
            hidden_prev[:] = hidden_prev.dtype.type(reset_value)
        else:
            hidden_prev[:] = hidden


@njit(cache=True, fastmath=True)
def output_distribution(class_weights, output_weights, class_start, class_end, hidden, direct, direct_order, history,
                        temperature, distribution):
    """Full distribution over all output rows given ``hidden``: ``distribution[y] = P(y | hidden)``.

    ``history`` (most recent word first) feeds the direct weights; scores are
    divided by ``temperature`` (1: the model's own distribution).
    """
    class_count = class_weights.shape[0]
    class_probabilities = np.empty(class_count, dtype=hidden.dtype)
    keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    use_direct = direct.shape[0] > 0 and direct_order > 0
    half = direct.shape[0] // 2
    row_scores(class_weights, 0, class_count, hidden, class_probabilities)
    if use_direct:
        usable = direct_keys(history, direct_order, DIRECT_CLASS_KEY, half, 0, keys)
        add_direct_scores(direct, keys, usable, class_count, False, class_probabilities)
    for c in range(class_count):
        class_probabilities[c] /= temperature
    softmax_in_place(class_probabilities, class_count)
    for c in range(class_start.shape[0]):
        begin = class_start[c]
        end = class_end[c]
        if end > begin:
            word_probabilities = np.empty(end - begin, dtype=hidden.dtype)
            row_scores(output_weights, begin, end, hidden, word_probabilities)
            if use_direct:
                usable = direct_keys(history, direct_order, DIRECT_CLASS_KEY * np.uint64(c + 1), half, half, keys)
                add_direct_scores(direct, keys, usable, end - begin, True, word_probabilities)
            for r in range(end - begin):
                word_probabilities[r] /= temperature
            softmax_in_place(word_probabilities, end - begin)
            for r in range(end - begin):
                distribution[begin + r] = class_probabilities[c] * word_probabilities[r]


# ---------------------------------------------------------------- sequence labelling (the POS tagger)
#
# A tagger reads the same compressed-row features, one position per token, and
# predicts a tag per position from the forward state, or from the forward and
# backward states side by side (bidirectional), plus a constant bias unit:
# ``joined = [h_forward(t), h_backward(t), 1]`` and P(tag | sentence) =
# softmax(output_weights @ joined). Training runs full-sentence BPTT in each
# direction with the LM's ``backpropagate_through_time``: the ring buffer simply
# holds the whole sentence, in reading order for that direction.


@njit(cache=True, fastmath=True)
def run_direction(input_weights, recurrent, feature_ptr, feature_ids, begin, end, reverse, activation,
                  ring_position, ring_input, ring_hidden):
    """Recurrent states of one direction over positions ``begin..end-1`` (from a zero state).

    Slot k of the ring arrays holds the k-th position read (``end-1-k`` when
    ``reverse``): its position, the state fed into it and its hidden state.
    """
    length = end - begin
    for k in range(length):
        position = end - 1 - k if reverse else begin + k
        ring_position[k] = position
        if k == 0:
            ring_input[0, :] = 0
        else:
            ring_input[k, :] = ring_hidden[k - 1]
        hidden_forward(input_weights, recurrent, feature_ids, feature_ptr[position], feature_ptr[position + 1],
                       ring_input[k], ring_hidden[k], activation)


@njit(cache=True, fastmath=True)
def join_states(forward_hidden, backward_hidden, bidirectional, joined):
    """``joined = [forward, backward (if bidirectional), 1]``: the output layer's input."""
    size = forward_hidden.shape[0]
    joined[:size] = forward_hidden
    if bidirectional:
        joined[size:2 * size] = backward_hidden
    joined[joined.shape[0] - 1] = 1


@njit(cache=True, fastmath=True)
def train_tagger_sentences(forward_input, forward_recurrent, backward_input, backward_recurrent, output_weights,
                           feature_ptr, feature_ids, targets, sentence_start, sentence_order, alpha, cutoff,
                           activation, bidirectional, forward_ring_position, forward_ring_input, forward_ring_hidden,
                           forward_ring_error, backward_ring_position, backward_ring_input, backward_ring_hidden,
                           backward_ring_error, forward_update, backward_update):
    """SGD over the sentences ``sentence_order`` (indices into ``sentence_start``), full-sentence BPTT.

    Output weights are updated at every token, each direction's input rows and
    recurrent matrix once per sentence. Ring arrays need a slot per token of the
    longest sentence. Returns (sum of log10 P(gold tag), tokens).
    """
    dtype = forward_ring_hidden.dtype
    alpha = dtype.type(alpha)
    cutoff = dtype.type(cutoff)
    size = forward_ring_hidden.shape[1]
    tag_count = output_weights.shape[0]
    joined = np.empty(output_weights.shape[1], dtype=dtype)
    joined_error = np.empty(output_weights.shape[1], dtype=dtype)
    probabilities = np.empty(tag_count, dtype=dtype)
    delta = np.empty(size, dtype=dtype)
    carry = np.empty(size, dtype=dtype)
    counters = np.zeros(3, dtype=np.int64)
    log10_sum = 0.0
    tokens = 0
    zero = dtype.type(0.0)
    for s in sentence_order:
        begin = sentence_start[s]
        end = sentence_start[s + 1]
        length = end - begin
        run_direction(forward_input, forward_recurrent, feature_ptr, feature_ids, begin, end, False, activation,
                      forward_ring_position, forward_ring_input, forward_ring_hidden)
        if bidirectional:
            run_direction(backward_input, backward_recurrent, feature_ptr, feature_ids, begin, end, True, activation,
                          backward_ring_position, backward_ring_input, backward_ring_hidden)
        for k in range(length):
            position = begin + k
            join_states(forward_ring_hidden[k], backward_ring_hidden[length - 1 - k], bidirectional, joined)
            softmax_rows(output_weights, 0, tag_count, joined, probabilities)
            target = targets[position]
            log10_sum += math.log10(max(float(probabilities[target]), 1e-300))
            tokens += 1
            joined_error[:] = 0
            output_backward(output_weights, 0, tag_count, probabilities, target, joined, joined_error, alpha, zero)
            clip(joined_error, cutoff)
            forward_ring_error[k] = joined_error[:size]
            if bidirectional:
                backward_ring_error[length - 1 - k] = joined_error[size:2 * size]
        counters[RING_HEAD] = length - 1
        counters[RING_FILL] = length
        backpropagate_through_time(forward_input, forward_recurrent, forward_update, feature_ptr, feature_ids,
                                   forward_ring_position, forward_ring_input, forward_ring_hidden, forward_ring_error,
                                   counters, length, alpha, zero, cutoff, activation, delta, carry)
        if bidirectional:
            backpropagate_through_time(backward_input, backward_recurrent, backward_update, feature_ptr, feature_ids,
                                       backward_ring_position, backward_ring_input, backward_ring_hidden,
                                       backward_ring_error, counters, length, alpha, zero, cutoff, activation, delta,
                                       carry)
    return log10_sum, tokens


@njit(cache=True, fastmath=True)
def tagger_hidden_states(input_weights, recurrent, feature_ptr, feature_ids, sentence_start, reverse, activation,
                         longest, states):
    """Hidden state of one direction at every token: ``states[position]`` (shape (tokens, H)).

    Each sentence starts from a zero state; ``reverse`` reads it right to left.
    The output layer is then one matrix product over all tokens (tagger.py).
    """
    size = recurrent.shape[0]
    positions = np.empty(longest, dtype=np.int64)
    inputs = np.empty((longest, size), dtype=states.dtype)
    hidden = np.empty((longest, size), dtype=states.dtype)
    for s in range(sentence_start.shape[0] - 1):
        begin = sentence_start[s]
        end = sentence_start[s + 1]
        run_direction(input_weights, recurrent, feature_ptr, feature_ids, begin, end, reverse, activation,
                      positions, inputs, hidden)
        for k in range(end - begin):
            states[positions[k], :] = hidden[k]
