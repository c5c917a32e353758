"""The recurrent cell: activations, one hidden step, and truncated BPTT with a block update.

Array conventions (``H`` hidden units, ``V`` input rows):

- ``input_weights`` (V, H): row ``v`` is the input column of sparse feature ``v``
  (a word, for the LM). A position's input is the sum of the rows of its
  features, never a dense one-hot product.
- ``recurrent`` (H, H): ``recurrent[i, j]`` feeds previous hidden unit ``j``
  into hidden unit ``i``.

A token stream is given in compressed-row form: the features of position ``t``
are ``feature_ids[feature_ptr[t]:feature_ptr[t + 1]]`` (empty for an unknown
input); an empty ``feature_ptr`` means one feature per position,
``feature_ids[t]`` (none where it is negative), as the language model reads
its previous word (see ``feature_range``). BPTT reads a ring buffer of the
last steps (position, the state fed in, the hidden state, the output error)
and ``counters`` = [ring head, ring fill, words done in the epoch].
"""

from __future__ import annotations

from typing import NamedTuple

from numba import njit, types
from numba.extending import overload

from .exponential import EXACT_FASTMATH, exponential
from .options import WITHOUT_REFCOUNTS

SIGMOID, TANH, RELU, ELU, RELU_TRUNCATED = 0, 1, 2, 3, 4
ACTIVATIONS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "elu": ELU, "relu-trunc": RELU_TRUNCATED}
RELU_TRUNCATION = 20.0  # relu-trunc: min(max(x, 0), 20), as faster-rnnlm
TANH_LIMIT = 40.0  # tanh's input is clamped to +-40 (tanh is +-1 there in float64, and exp(80) stays finite)

# counters[] slots of the training state
RING_HEAD, RING_FILL, EPOCH_WORDS = 0, 1, 2


class Sigmoid(NamedTuple):
    """The logistic activation, as a marker whose Numba type picks the compiled code (``apply_activation``)."""

    code: int = SIGMOID


class Tanh(NamedTuple):
    """The tanh activation, as a marker (see ``Sigmoid``)."""

    code: int = TANH


class Relu(NamedTuple):
    """The rectifier max(x, 0), as a marker (see ``Sigmoid``)."""

    code: int = RELU


class Elu(NamedTuple):
    """The exponential linear unit, as a marker (see ``Sigmoid``)."""

    code: int = ELU


class TruncatedRelu(NamedTuple):
    """The rectifier truncated at RELU_TRUNCATION, as a marker (see ``Sigmoid``)."""

    code: int = RELU_TRUNCATED


# -hidden-type name -> its marker, the value a language-model cell's bundle carries so that each compiled kernel
# holds its own activation only (the tagger passes the int codes of ACTIVATIONS and branches per call)
ACTIVATION_MARKERS = {"sigmoid": Sigmoid(), "tanh": Tanh(), "relu": Relu(), "elu": Elu(),
                      "relu-trunc": TruncatedRelu()}


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def sigmoid_in_place(values):
    """``values`` (H,) = 1 / (1 + exp(-v)) in place, v clamped to +-50 (a float32 layer's loop is vectorised: see
    ``exponential``)."""
    one = values.dtype.type(1.0)
    limit = values.dtype.type(50.0)
    for i in range(values.shape[0]):
        v = min(max(values[i], -limit), limit)
        values[i] = one / (one + exponential(-v))


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def tanh_in_place(values):
    """``values`` (H,) = tanh(v) in place, as 2 / (1 + exp(-2v)) - 1 (exp is much cheaper than libm's tanh), v
    clamped to +-TANH_LIMIT."""
    one = values.dtype.type(1.0)
    two = values.dtype.type(2.0)
    flat = values.dtype.type(TANH_LIMIT)
    for i in range(values.shape[0]):
        v = min(max(values[i], -flat), flat)
        values[i] = two / (one + exponential(-two * v)) - one


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def relu_in_place(values):
    """``values`` (H,) = max(v, 0) in place."""
    for i in range(values.shape[0]):
        values[i] = max(values[i], values.dtype.type(0.0))


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def truncated_relu_in_place(values):
    """``values`` (H,) = min(max(v, 0), RELU_TRUNCATION) in place."""
    top = values.dtype.type(RELU_TRUNCATION)
    for i in range(values.shape[0]):
        values[i] = min(max(values[i], values.dtype.type(0.0)), top)


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def elu_in_place(values):
    """``values`` (H,) = exp(v) - 1 where v < 0 (v clamped at -50) in place, else v."""
    one = values.dtype.type(1.0)
    limit = values.dtype.type(50.0)
    for i in range(values.shape[0]):
        v = values[i]
        if v < 0:
            values[i] = exponential(max(v, -limit)) - one


@njit(cache=True, fastmath=True)
def sigmoid_derivative(error, hidden):
    """``error`` (H,) *= the logistic's derivative at outputs ``hidden`` (H,): h (1 - h)."""
    one = error.dtype.type(1.0)
    for i in range(error.shape[0]):
        error[i] *= hidden[i] * (one - hidden[i])


@njit(cache=True, fastmath=True)
def tanh_derivative(error, hidden):
    """``error`` (H,) *= tanh's derivative at outputs ``hidden`` (H,): 1 - h^2."""
    one = error.dtype.type(1.0)
    for i in range(error.shape[0]):
        error[i] *= one - hidden[i] * hidden[i]


@njit(cache=True, fastmath=True)
def relu_derivative(error, hidden):
    """``error`` (H,) = 0 where the rectifier's output ``hidden`` (H,) is 0."""
    zero = error.dtype.type(0.0)
    for i in range(error.shape[0]):
        if hidden[i] <= zero:
            error[i] = zero


@njit(cache=True, fastmath=True)
def truncated_relu_derivative(error, hidden):
    """``error`` (H,) = 0 where the truncated rectifier's output ``hidden`` (H,) is 0 or at its top."""
    zero = error.dtype.type(0.0)
    top = error.dtype.type(RELU_TRUNCATION)
    for i in range(error.shape[0]):
        if hidden[i] <= zero or hidden[i] >= top:
            error[i] = zero


@njit(cache=True, fastmath=True)
def elu_derivative(error, hidden):
    """``error`` (H,) *= the ELU's derivative at outputs ``hidden`` (H,): h + 1 where h < 0, else 1."""
    one = error.dtype.type(1.0)
    zero = error.dtype.type(0.0)
    for i in range(error.shape[0]):
        if hidden[i] < zero:
            error[i] *= hidden[i] + one


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def activate(values, activation):
    """Apply the hidden activation of code ``activation`` (``ACTIVATIONS``) to ``values`` (H,) in place."""
    if activation == SIGMOID:
        sigmoid_in_place(values)
    elif activation == TANH:
        tanh_in_place(values)
    elif activation == RELU:
        relu_in_place(values)
    elif activation == RELU_TRUNCATED:
        truncated_relu_in_place(values)
    else:
        elu_in_place(values)


@njit(cache=True, fastmath=True)
def multiply_by_derivative(error, hidden, activation):
    """Multiply ``error`` in place by the derivative of the activation of code ``activation`` (``ACTIVATIONS``),
    given its outputs ``hidden``."""
    if activation == SIGMOID:
        sigmoid_derivative(error, hidden)
    elif activation == TANH:
        tanh_derivative(error, hidden)
    elif activation == RELU:
        relu_derivative(error, hidden)
    elif activation == RELU_TRUNCATED:
        truncated_relu_derivative(error, hidden)
    else:
        elu_derivative(error, hidden)


# marker class -> (in place, derivative): the code ``apply_activation`` and ``apply_derivative`` compile for it
ACTIVATION_CODE = {Sigmoid: (sigmoid_in_place, sigmoid_derivative), Tanh: (tanh_in_place, tanh_derivative),
                   Relu: (relu_in_place, relu_derivative), Elu: (elu_in_place, elu_derivative),
                   TruncatedRelu: (truncated_relu_in_place, truncated_relu_derivative)}


def apply_activation(values, activation):
    """The activation ``activation`` on ``values`` (H,) in place, inside a kernel: a marker of
    ``ACTIVATION_MARKERS`` compiles to that activation's code alone, an int code of ``ACTIVATIONS`` to
    ``activate`` (chosen per call)."""


def apply_derivative(error, hidden, activation):
    """``error`` (H,) times the derivative of ``activation`` at its outputs ``hidden`` (H,), inside a kernel;
    ``activation`` as for ``apply_activation``."""


@overload(apply_activation, inline="always")
def _apply_activation(values, activation):
    if isinstance(activation, types.Integer):
        return lambda values, activation: activate(values, activation)
    code = ACTIVATION_CODE.get(getattr(activation, "instance_class", None))
    if code is not None:
        in_place = code[0]
        return lambda values, activation: in_place(values)
    return None


@overload(apply_derivative, inline="always")
def _apply_derivative(error, hidden, activation):
    if isinstance(activation, types.Integer):
        return lambda error, hidden, activation: multiply_by_derivative(error, hidden, activation)
    code = ACTIVATION_CODE.get(getattr(activation, "instance_class", None))
    if code is not None:
        derivative = code[1]
        return lambda error, hidden, activation: derivative(error, hidden)
    return None


@njit(cache=True)
def copy_into(target, source):
    """``target[:] = source`` (1-d, same length) as a plain loop: an array assignment may copy ``source`` to a
    temporary first (if the two could overlap), which needs reference counting, and the loops of a span are
    compiled without it (see ``lm``)."""
    for i in range(target.shape[0]):
        target[i] = source[i]


@njit(cache=True, fastmath=True)
def clip(values, cutoff):
    """Clamp ``values`` in place to [-cutoff, cutoff]; a cutoff of 0 disables clipping."""
    if cutoff > 0:
        for i in range(values.shape[0]):
            values[i] = min(max(values[i], -cutoff), cutoff)


@njit(cache=True, fastmath=True)
def add_matrix_vector(matrix, vector, out):
    """``out += matrix @ vector`` (shapes (R, C), (C,), (R,)).

    Four rows at a time: one pass over ``vector`` feeds four dot products, each
    summed on its own before it is added to ``out``.
    """
    rows, columns = matrix.shape
    zero = out.dtype.type(0.0)
    i = 0
    while i + 4 <= rows:
        row0, row1, row2, row3 = matrix[i], matrix[i + 1], matrix[i + 2], matrix[i + 3]
        acc0, acc1, acc2, acc3 = zero, zero, zero, zero
        for j in range(columns):
            x = vector[j]
            acc0 += row0[j] * x
            acc1 += row1[j] * x
            acc2 += row2[j] * x
            acc3 += row3[j] * x
        out[i] += acc0
        out[i + 1] += acc1
        out[i + 2] += acc2
        out[i + 3] += acc3
        i += 4
    while i < rows:
        row = matrix[i]
        acc = zero
        for j in range(columns):
            acc += row[j] * vector[j]
        out[i] += acc
        i += 1


@njit(cache=True, fastmath=True)
def add_transposed_matrix_vector(matrix, vector, out):
    """``out += matrixᵀ @ vector`` (shapes (R, C), (R,), (C,)).

    Four rows at a time: one read and write of ``out`` takes four rows' terms.
    """
    rows, columns = matrix.shape
    i = 0
    while i + 4 <= rows:
        row0, row1, row2, row3 = matrix[i], matrix[i + 1], matrix[i + 2], matrix[i + 3]
        x0, x1, x2, x3 = vector[i], vector[i + 1], vector[i + 2], vector[i + 3]
        for j in range(columns):
            out[j] += row0[j] * x0 + row1[j] * x1 + row2[j] * x2 + row3[j] * x3
        i += 4
    while i < rows:
        row = matrix[i]
        x = vector[i]
        for j in range(columns):
            out[j] += row[j] * x
        i += 1


@njit(cache=True, fastmath=True)
def hidden_forward(input_weights, recurrent, feature_ids, feature_begin, feature_end, hidden_prev, hidden_out, activation):
    """One recurrent step: ``hidden_out = act(recurrent @ hidden_prev + sum of feature rows)``; ``activation`` a
    marker (compiled for it alone) or an int code (see ``apply_activation``)."""
    size = hidden_out.shape[0]
    hidden_out[:] = 0
    add_matrix_vector(recurrent, hidden_prev, hidden_out)
    for k in range(feature_begin, feature_end):
        row = input_weights[feature_ids[k]]
        for i in range(size):
            hidden_out[i] += row[i]
    apply_activation(hidden_out, activation)


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


@njit(cache=True)
def feature_range(feature_ptr, feature_ids, position):
    """(begin, end) of position's features in ``feature_ids``: compressed rows, or with an empty
    ``feature_ptr`` the single feature ``feature_ids[position]`` (none where it is negative)."""
    if feature_ptr.shape[0] == 0:
        return position, (position + 1 if feature_ids[position] >= 0 else position)
    return feature_ptr[position], feature_ptr[position + 1]


@njit(cache=True, inline="always")
def four_slots(head, first, capacity):
    """Ring slots of steps ``first`` to ``first + 3`` back from ``head`` (step s is in slot ``(head - s) % R``)."""
    return ((head - first + capacity) % capacity, (head - first - 1 + capacity) % capacity,
            (head - first - 2 + capacity) % capacity, (head - first - 3 + capacity) % capacity)


@njit(cache=True, fastmath=True)
def add_row_pair_steps(row0, row1, errors, inputs, column0, column1, head, steps, scale):
    """``row0 += scale * sum over s < steps of errors[k_s, column0] * inputs[k_s]`` and the same for ``row1``
    with ``column1``, ring slots ``k_s = (head - s) % R``: four steps per pass over the two rows, so each read
    of an input serves two rows."""
    capacity = errors.shape[0]
    size = row0.shape[0]
    s = 0
    while s + 4 <= steps:
        k0, k1, k2, k3 = four_slots(head, s, capacity)
        a0, a1, a2, a3 = scale * errors[k0, column0], scale * errors[k1, column0], scale * errors[k2, column0], \
            scale * errors[k3, column0]
        b0, b1, b2, b3 = scale * errors[k0, column1], scale * errors[k1, column1], scale * errors[k2, column1], \
            scale * errors[k3, column1]
        x0, x1, x2, x3 = inputs[k0], inputs[k1], inputs[k2], inputs[k3]
        for j in range(size):
            v0, v1, v2, v3 = x0[j], x1[j], x2[j], x3[j]
            row0[j] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
            row1[j] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
        s += 4
    while s < steps:
        k = (head - s + capacity) % capacity
        a, b = scale * errors[k, column0], scale * errors[k, column1]
        x = inputs[k]
        for j in range(size):
            row0[j] += a * x[j]
            row1[j] += b * x[j]
        s += 1


@njit(cache=True, fastmath=True)
def add_row_steps(row, errors, inputs, column, head, steps, scale):
    """``row += scale * sum over s < steps of errors[k_s, column] * inputs[k_s]`` (slots as in
    ``add_row_pair_steps``), four steps per pass."""
    capacity = errors.shape[0]
    s = 0
    while s + 4 <= steps:
        k0, k1, k2, k3 = four_slots(head, s, capacity)
        a0, a1, a2, a3 = scale * errors[k0, column], scale * errors[k1, column], scale * errors[k2, column], \
            scale * errors[k3, column]
        x0, x1, x2, x3 = inputs[k0], inputs[k1], inputs[k2], inputs[k3]
        for j in range(row.shape[0]):
            row[j] += a0 * x0[j] + a1 * x1[j] + a2 * x2[j] + a3 * x3[j]
        s += 4
    while s < steps:
        k = (head - s + capacity) % capacity
        a = scale * errors[k, column]
        x = inputs[k]
        for j in range(row.shape[0]):
            row[j] += a * x[j]
        s += 1


@njit(cache=True, fastmath=True)
def add_step_outer_products(matrix, errors, inputs, head, steps, scale, decay):
    """The block update in one pass over ``matrix`` (M, N): ``matrix = (1 - decay) * matrix + scale * sum over
    s < steps of outer(errors[k_s], inputs[k_s])``, ring slots ``k_s = (head - s) % R`` of ``errors`` (R, M) and
    ``inputs`` (R, N); decay 0: no shrinking.

    Two rows and four steps at a time (``add_row_pair_steps``): the matrix is read and written once per block,
    not once per step.
    """
    rows, columns = matrix.shape
    keep = matrix.dtype.type(1.0) - decay
    for i in range(0, rows, 2):
        if decay != 0:  # shrink the rows while they are in cache
            for k in range(i, min(i + 2, rows)):
                for j in range(columns):
                    matrix[k, j] *= keep
        if i + 1 < rows:
            add_row_pair_steps(matrix[i], matrix[i + 1], errors, inputs, i, i + 1, head, steps, scale)
        else:
            add_row_steps(matrix[i], errors, inputs, i, head, steps, scale)


@njit(cache=True, fastmath=True)
def backpropagate_through_time(input_weights, recurrent, feature_ptr, feature_ids,
                               ring_position, ring_input, ring_hidden, ring_error, counters,
                               steps_back, alpha, decay, cutoff, activation, delta, carry):
    """Truncated BPTT over the ring buffer, ending with the block update of ``recurrent``.

    The newest stored step's output error is propagated back ``steps_back``
    steps (fewer if the ring holds fewer); older errors of the block join on
    the way. Feature rows are updated as their step is reached; the recurrent
    matrix gets the accumulated update once, at the end (the block update),
    from each step's error (kept in its ring slot once read) and input state.
    Stored errors are then cleared so they are not propagated twice.
    """
    capacity = ring_hidden.shape[0]
    head = counters[RING_HEAD]
    steps = min(counters[RING_FILL], steps_back)
    size = delta.shape[0]
    slot = head
    copy_into(delta, ring_error[slot])
    for s in range(steps):
        slot = (head - s) % capacity
        apply_derivative(delta, ring_hidden[slot], activation)
        feature_begin, feature_end = feature_range(feature_ptr, feature_ids, ring_position[slot])
        add_feature_update(input_weights, feature_ids, feature_begin, feature_end, delta, alpha, decay)
        copy_into(ring_error[slot], delta)  # its output error has been read: the slot now holds the step's error
        if s + 1 < steps:
            # carry = recurrentᵀ @ delta, clipped: the error reaching the previous hidden state
            carry[:] = 0
            add_transposed_matrix_vector(recurrent, delta, carry)
            clip(carry, cutoff)
            previous = (slot - 1) % capacity
            for j in range(size):
                delta[j] = carry[j] + ring_error[previous, j]
    add_step_outer_products(recurrent, ring_error, ring_input, head, steps, alpha, decay)
    ring_error[:] = 0


@njit(cache=True, inline="always", **WITHOUT_REFCOUNTS)
def store_step(state, t, hidden_error):
    """Push position ``t`` into the training ring of ``state`` (``lm.TrainingState``): its input state
    ``state.hidden_prev`` and output error ``hidden_error``; returns the new head slot (the cell stores the
    rest of the step there)."""
    capacity = state.ring_position.shape[0]
    counters = state.counters
    head = (counters[RING_HEAD] + 1) % capacity
    counters[RING_HEAD] = head
    counters[RING_FILL] = min(counters[RING_FILL] + 1, capacity)
    state.ring_position[head] = t
    copy_into(state.ring_input[head], state.hidden_prev)
    copy_into(state.ring_error[head], hidden_error)
    return head
